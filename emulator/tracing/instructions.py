"""``--trace insn``: one line per executed instruction.

The only per-instruction Python on any path of the emulator, so it exists only while
asked for: a ``UC_HOOK_CODE`` over the whole address space, added when the trace is
attached (STYLE.md §4, UNICORN.md: ~1.8 M hooked instructions/s before any work).

The hook observes and never steers: it reads the instruction counter and the
instruction's bytes, and writes a line.  Unicorn's own counter hook (``count=``) is
always first in the hook list and stops a slice *before* later hooks run, so the hook
sees exactly the instructions the run loop counts; slices, cycles and registers are
the same with and without the trace (pinned by tests/test_trace.py).

Line format (columns separated by spaces)::

    <cycle:12> I 0x<pc:08X> <symbol+0xoff:28> <halfwords:9>  <mnemonic> <operands>

``cycle`` is the HCLK cycle the instruction executes in (one cycle per instruction,
emulator/core/clock.py); the symbol comes from whichever loaded image owns the address
(through the 0x0 alias too); halfwords are printed as objdump prints Thumb code.
When simulated time passes without instructions (WFI/WFE sleep, a flash stall, a
fast-forwarded poll loop, a spin on `b .`) a line ``<cycle> - (N cycles without instructions: ...)``
says so, so that the cycle column never jumps silently.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Optional, TextIO

from capstone import Cs, CS_ARCH_ARM, CS_MODE_MCLASS, CS_MODE_THUMB
from unicorn import UC_HOOK_CODE

from peripherals import c071

if TYPE_CHECKING:
    from ..machine import Machine

SYMBOL_WIDTH = 28


class InstructionTrace:
    def __init__(self, machine: "Machine", out: TextIO) -> None:
        self.m = machine
        self.out = out
        self._capstone = Cs(CS_ARCH_ARM, CS_MODE_THUMB | CS_MODE_MCLASS)
        # (address, bytes[, memory behind the 0x0 alias]) -> the line after the cycle column.
        # Keyed by the bytes themselves, so flash programming, erasing and code written to
        # SRAM can never show a stale disassembly; no invalidation is needed.
        self._decoded: dict[tuple, str] = {}
        self._next_cycle: Optional[int] = None
        self._last: tuple[int, int] = (-1, -1)
        self._hook: Optional[int] = None

    def attach(self) -> None:
        uc = self.m.cpu.uc
        self._hook = uc.hook_add(UC_HOOK_CODE, self._on_instruction)     # begin > end: every address
        uc.ctl_flush_tb()          # code translated before the hook existed would not call it
        # before the exception log's line, so that a sleep ended by an interrupt is told first
        self.m.trace.exception_observers.insert(0, self._before_exception)

    def detach(self) -> None:
        if self._hook is not None:
            uc = self.m.cpu.uc
            uc.hook_del(self._hook)
            uc.ctl_flush_tb()
            self._hook = None
        if self._before_exception in self.m.trace.exception_observers:
            self.m.trace.exception_observers.remove(self._before_exception)

    def _time_passed(self, cycle: int) -> None:
        expected = self._next_cycle
        if expected is not None and cycle > expected:
            self.out.write(f"{expected:>12} - ({cycle - expected} cycles without instructions: "
                           "sleep, flash stall, poll fast-forward or a spin on b .)\n")
            self._next_cycle = cycle

    def _before_exception(self, record) -> None:
        self._time_passed(record.cycle)

    def _on_instruction(self, uc, address: int, size: int, user_data) -> None:
        cycle = self.m.loop.instruction_cycle()
        if (cycle, address) == self._last:
            return        # a stop hook (--at, a gdb breakpoint) halted before it ran: now it runs, once
        self._last = (cycle, address)
        if self._next_cycle is not None and cycle > self._next_cycle:
            self._time_passed(cycle)
        self._next_cycle = cycle + 1
        raw = bytes(uc.mem_read(address, size))
        key = (address, raw, self.m.memory_behind(address)) if address < c071.ALIAS_WINDOW else (address, raw)
        text = self._decoded.get(key)
        if text is None:
            text = self._decoded[key] = self._describe(address, raw)
        self.out.write(f"{cycle:>12} I {text}\n")

    def _describe(self, address: int, raw: bytes) -> str:
        halfwords = " ".join(f"{int.from_bytes(raw[i:i + 2], 'little'):04x}" for i in range(0, len(raw), 2))
        decoded = next(self._capstone.disasm_lite(raw, address, 1), None)
        text = f"{decoded[2]} {decoded[3]}".rstrip() if decoded else "(not a v6-M instruction)"
        symbol = self.m.describe(address) or ""
        return f"0x{address:08X} {symbol:<{SYMBOL_WIDTH}} {halfwords:<9}  {text}"
