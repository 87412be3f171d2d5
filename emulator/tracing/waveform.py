"""``--vcd OUT.vcd``: peripheral registers and core state over simulated time, for GTKWave.

Time is the machine's simulated time (``SimClock``, exact across HCLK changes), in
picoseconds (``$timescale 1 ps``).  Only changes are recorded.  When each signal is
sampled:

- a chosen register: after every MMIO access to its peripheral (after a write's side
  effects have run), and at every run-loop slice boundary, both before and after the
  machine's between-slice work - hardware-driven changes (FLASH.SR.BSY1 clearing when
  an erase ends, a clock becoming ready) happen at scheduled events, which end slices;
- ``core.ipsr``/``core.exception``/``core.primask``/``core.sleeping``/``core.pc``: at
  slice boundaries and at every exception entry and return.  ``core.pc`` is therefore
  the PC *between slices* (where a slice stopped or an exception went), not a
  per-instruction PC - use ``--trace insn`` for that;
- ``core.hclk_hz``: at slice boundaries (a clock switch ends the slice).

Registers are sampled without bus side effects (``Register.peek``): what a read would
return, or the stored value where a read changes state.  Bits a model produces only by
a read with a side effect (SysTick CTRL.COUNTFLAG, which a read clears) do not appear.
Each register is a scope ``PERIPH.REG`` holding ``value`` (32 bits) and one signal per
field, named as in RM0490.

The waveform costs nothing when off: ``Trace.waveform`` is None and the MMIO path
tests it once per access, as it tests the MMIO log.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional

from vcd import VCDWriter

from peripherals import c071
from peripherals.regs import Peripheral, Register

from ..core.exceptions import ExceptionRecord

if TYPE_CHECKING:
    from ..machine import Machine

DEFAULT_REGISTERS = ("FLASH.SR", "FLASH.CR", "RCC.CR", "SYSCFG.CFGR1", "SCB.VTOR", "SysTick.CTRL",
                     "USB.CNTR", "USB.ISTR")
# ARMv6-M B3.3 names of the SysTick registers (the model uses CMSIS names)
ALIASES = {"SYSTICK.CSR": "SysTick.CTRL", "SYSTICK.RVR": "SysTick.LOAD", "SYSTICK.CVR": "SysTick.VAL"}


class SignalError(ValueError):
    """A ``--vcd-signals`` name that matches no register; the message lists the valid ones."""


def _blocks(machine: "Machine") -> list[Peripheral]:
    return [p for p in machine.peripherals if p.registers]


def select_registers(machine: "Machine", spec: Optional[str]) -> list[tuple[Peripheral, Register]]:
    """``PERIPH.REG[,PERIPH.REG…]`` (``PERIPH.*`` for a whole block; case-insensitive) -> registers."""
    blocks = {p.name.upper(): p for p in _blocks(machine)}
    names = DEFAULT_REGISTERS if spec is None else [n.strip() for n in spec.split(",") if n.strip()]
    if not names:
        raise SignalError("--vcd-signals: no register named; " + _valid_names(machine))
    chosen: list[tuple[Peripheral, Register]] = []
    for name in names:
        periph_name, _, reg_name = ALIASES.get(name.upper(), name).partition(".")
        block = blocks.get(periph_name.upper())
        if block is None or not reg_name:
            raise SignalError(f"--vcd-signals: {name!r} is not PERIPH.REG of a modelled block; "
                              + _valid_names(machine))
        if reg_name == "*":
            found = block.registers
        else:
            found = [r for r in block.registers if r.name.upper() == reg_name.upper()]
            if not found:
                raise SignalError(f"--vcd-signals: {block.name} has no register {reg_name!r}; valid: "
                                  + ", ".join(f"{block.name}.{r.name}" for r in block.registers))
        chosen += [(block, r) for r in found if not any(r is seen for _, seen in chosen)]
    return chosen


def _valid_names(machine: "Machine") -> str:
    lines = [f"  {p.name}: {' '.join(r.name for r in p.registers)}" for p in _blocks(machine)]
    return "valid names are PERIPH.REG (or PERIPH.* for a whole block) from:\n" + "\n".join(lines)


def _vcd_string(text: str) -> str:
    return text.replace(" ", "_")


@dataclass
class _RegisterSignals:
    block: Peripheral
    register: Register
    value_var: object
    field_vars: list[tuple[object, int, int]]        # (var, mask, lsb)
    last: Optional[int] = None


class Waveform:
    def __init__(self, machine: "Machine", path: str, registers: list[tuple[Peripheral, Register]]) -> None:
        self.m = machine
        self.path = path
        self._file = open(path, "w", buffering=1 << 20)
        self.writer = VCDWriter(self._file, timescale="1 ps", date="", version="c071emu",
                                comment="simulated time; see emulator/tracing/waveform.py for when signals are sampled")
        w = self.writer
        self._ipsr = w.register_var("core", "ipsr", "wire", size=6, init=0)
        self._exception = w.register_var("core", "exception", "string", init="Thread")
        self._primask = w.register_var("core", "primask", "wire", size=1, init=0)
        self._sleeping = w.register_var("core", "sleeping", "wire", size=1, init=0)
        self._pc = w.register_var("core", "pc", "wire", size=32, init=0)
        self._hclk = w.register_var("core", "hclk_hz", "integer", size=32, init=machine.clock.hz)
        self._registers: list[_RegisterSignals] = []
        self._by_block: dict[int, list[_RegisterSignals]] = {}
        for block, reg in registers:
            scope = f"{block.name}.{reg.name}"
            signals = _RegisterSignals(
                block, reg, w.register_var(scope, "value", "wire", size=32, init=reg.value),
                [(w.register_var(scope, f.name, "wire", size=f.width, init=f.extract(reg.value)), f.mask, f.lsb)
                 for f in reg.fields])
            self._registers.append(signals)
            self._by_block.setdefault(id(block), []).append(signals)
        self._last_ps = 0
        self._pending: Optional[tuple[list[_RegisterSignals], int]] = None     # a write's block, its time
        self._previous_housekeeping = None
        self.closed = False

    # -- attaching ---------------------------------------------------------------------
    def attach(self) -> None:
        m = self.m
        m.trace.waveform = self
        m.trace.exception_observers.append(self._on_exception)
        previous = self._previous_housekeeping = m.loop.housekeeping

        def between_slices() -> None:
            self._flush_pending()
            self.sample_all()                 # what scheduled events changed
            previous()
            self.sample_all()                 # what the machine's between-slice work changed (a flash stall)
        m.loop.housekeeping = between_slices

    def close(self) -> None:
        if self.closed:
            return
        self._flush_pending()
        self.sample_all()
        self.writer.close(self._time(self.m.clock.time_ps()))
        self._file.close()
        self.closed = True
        m = self.m
        if m.trace.waveform is self:
            m.trace.waveform = None
        if self._on_exception in m.trace.exception_observers:
            m.trace.exception_observers.remove(self._on_exception)

    # -- sampling ------------------------------------------------------------------------
    def _time(self, ps: int) -> int:
        self._last_ps = max(self._last_ps, ps)       # one clock, so this only guards rounding at a switch
        return self._last_ps

    def after_access(self, peripheral: Peripheral, is_write: bool) -> None:
        if self._pending is not None:
            self._flush_pending()
        watched = self._by_block.get(id(peripheral))
        if watched is None:
            return
        ps = self.m.clock.time_ps(self.m.loop.instruction_cycle())
        if is_write:
            self._pending = (watched, ps)      # sampled at the next access or boundary: after on_write
        else:
            self._sample_registers(watched, self._time(ps))

    def _flush_pending(self) -> None:
        if self._pending is not None:
            watched, ps = self._pending
            self._pending = None
            self._sample_registers(watched, self._time(ps))

    def _sample_registers(self, signals: list[_RegisterSignals], t: int) -> None:
        change = self.writer.change
        for s in signals:
            value = s.register.peek()
            if value == s.last:
                continue
            s.last = value
            change(s.value_var, t, value)
            for var, mask, lsb in s.field_vars:
                change(var, t, (value & mask) >> lsb)

    def _sample_core(self, t: int, pc: Optional[int] = None) -> None:
        m, change = self.m, self.writer.change
        ipsr = m.cpu.ipsr()
        change(self._ipsr, t, ipsr)
        change(self._exception, t, _vcd_string(c071.exception_name(ipsr)) if ipsr else "Thread")
        change(self._primask, t, m.cpu.primask())
        change(self._sleeping, t, int(m.loop.sleeping))
        change(self._pc, t, (m.cpu.pc() if pc is None else pc) & 0xFFFF_FFFE)
        change(self._hclk, t, m.clock.hz)

    def sample_all(self) -> None:
        t = self._time(self.m.clock.time_ps())
        self._sample_core(t)
        self._sample_registers(self._registers, t)

    def _on_exception(self, record: ExceptionRecord) -> None:
        if record.kind == "fault":
            return                       # the HardFault entry that follows is sampled
        self._flush_pending()
        # entry: the handler (PC is written just after the record); return: the return address
        self._sample_core(self._time(self.m.clock.time_ps(record.cycle)), pc=record.pc)
