"""What a peripheral model may ask of the machine it is part of (peripherals/services.py
defines the interface; the models know nothing else of the machine)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Optional

from peripherals.regs import Peripheral, Register

from .core.clock import delay_ps
from .core.runloop import EndReason, RunEnd
from .trace import UnmodelledAccess

if TYPE_CHECKING:
    from .machine import Machine


class MachineServices:
    """The ``ChipServices`` (peripherals/services.py) of one machine: its time, its events, its
    interrupt lines and its trace, as the models see them."""

    def __init__(self, machine: Machine) -> None:
        self.m = machine
        self._loop = machine.loop               # the per-access paths below avoid attribute chains
        self._polls = machine.loop.polls
        self._pc = machine.cpu.pc_cell          # ctypes view of the PC in the register file
        self._counter = machine.cpu.counter_cell
        self._slice_start = machine.loop.slice_start_cell
        self._trace = machine.trace

    def now_cycles(self) -> int:
        return self.m.loop.instruction_cycle()

    def now_seconds(self) -> float:
        return self.m.clock.seconds(self.now_cycles())

    def hclk_hz(self) -> int:
        return self.m.clock.hz

    def after_cycles(self, cycles: int, action: Callable[[], None], name: str):
        ev = self.m.scheduler.at_cycle(self.now_cycles() + max(int(cycles), 1), action, name)
        self.m.loop.event_scheduled(ev.cycle)
        return ev

    def after_seconds(self, seconds: float, action: Callable[[], None], name: str):
        m = self.m
        ev = m.scheduler.at_time_ps(m.clock.time_ps(self.now_cycles()) + delay_ps(seconds), action, name)
        m.loop.event_scheduled(ev.cycle)
        return ev

    def clock_tree_changed(self) -> None:
        self.m.loop.clock_dirty = True
        self.request_slice_end()

    def set_irq_line(self, irq: int, level: bool) -> None:
        self.m.book.set_line(irq, level)

    def pend_exception(self, number: int) -> None:
        self.m.book.pend(number)

    def request_slice_end(self) -> None:
        self.m.loop.end_slice()

    def request_reset(self, cause: str) -> None:
        self.m.loop.reset_request = cause
        self.m.loop.end_slice()

    def bus_error(self, reason: str) -> None:
        self.m.loop.bus_error(reason)

    def provenance(self):
        loop = self._loop
        if not loop.in_slice:
            return None
        executed = self._counter.value          # loop.instruction_cycle(), inlined: one load each
        return (self._pc.value, self._slice_start.value + (executed - 1 if executed else 0))

    def hardware_provenance(self):
        """Who a model's own change of a field is attributed to: the instruction whose
        access the model reacted to (a key write clearing LOCK, a stray store setting
        PGSERR), as ``provenance``; otherwise ("hardware", cycle, the scheduled event
        running) - a ready flag, a SETUP bit.  Runs only when a field changes."""
        loop = self.m.loop
        if loop.firing is None and loop.in_slice:
            return self.provenance()
        return ("hardware", self.now_cycles(), loop.firing or "")

    def mmio_read(self, peripheral: Peripheral, reg: Register, value: int) -> None:
        loop = self._loop
        if loop.in_slice and reg.varies_with_time:
            self._polls.forget()            # a counter read: the loop around it is not at a fixed point
        elif loop.in_slice and self._polls.observe_read(peripheral.base + reg.offset, value, self._pc.value):
            loop.poll_confirmed()
        trace = self._trace
        if trace.mmio_out:
            self._log_mmio("R", peripheral, reg, value)
        if trace.waveform:
            trace.waveform.after_access(peripheral, is_write=False)

    def mmio_write(self, peripheral: Peripheral, reg: Register, old: int, data: int) -> None:
        self._polls.forget()
        trace = self._trace
        if trace.mmio_out:
            self._log_mmio("W", peripheral, reg, data)
        if trace.waveform:
            trace.waveform.after_access(peripheral, is_write=True)   # sampled once the write's effects are done

    def _log_mmio(self, rw: str, peripheral: Peripheral, reg: Register, value: int) -> None:
        pc = self.m.cpu.pc() if self.m.loop.in_slice else None
        where = self.m.describe(pc) if pc is not None else ""
        fields = " ".join(f"{f.name}={v}" if f.width == 1 else f"{f.name}=0x{v:X}"
                          for f in reg.fields if (v := f.extract(value)))
        self.m.trace.mmio_out.write(
            f"{self.now_cycles():>12} {rw} {peripheral.name + '.' + reg.name:<16} 0x{value:08X} {fields}"
            f"  pc=0x{pc or 0:08X} {where or ''}\n")

    def unmodelled(self, peripheral: Peripheral, offset: int, size: int, is_write: bool,
                   value: Optional[int], reg: Optional[Register]) -> None:
        what = f"{peripheral.name}.{reg.name}" if reg else f"{peripheral.name}+0x{offset:03X}"
        if reg is not None and reg.unimplemented_mask:
            todo = [f.name for f in reg.fields if not f.implemented]
            what += f" ({', '.join(todo)} not modelled)"
        self.report_unmodelled(what, is_write, value)

    def report_unmodelled(self, what: str, is_write: bool, value: Optional[int]) -> None:
        m = self.m
        pc = m.cpu.pc() if m.loop.in_slice else None
        access = UnmodelledAccess(what, is_write, value, pc, m.describe(pc) if pc is not None else None)
        if m.trace.add_unmodelled(access):
            m.event("unmodelled", access.line())
        if m.config.strict and m.loop.in_slice:
            m.loop.end = RunEnd(EndReason.STRICT, f"strict mode: {access.line()}", pc=pc or 0)
            m.loop.end_slice()

    def trace_gated(self, peripheral: Peripheral, offset: int, is_write: bool, value: int = 0) -> None:
        if self.m.trace.mmio_out:
            self.m.trace.mmio_out.write(f"{self.now_cycles():>12} {'W' if is_write else 'R'} {peripheral.name}+0x{offset:03X} "
                                        f"ignored: peripheral clock off or held in reset\n")

    def event(self, kind: str, text: str, **data) -> None:
        self.m.event(kind, text)
