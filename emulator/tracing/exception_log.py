"""``--trace exc``: exception entry, return and fault lines.

One line per ``ExceptionRecord`` (emulator/core/exceptions.py), in the same file and
the same cycle column as the instruction and MMIO traces, so that with
``--trace insn,exc`` an entry line sits between the last instruction before the
exception and the handler's first one::

    <cycle:12> E <name> (exception N) vector 0x<addr> via VTOR=0x<vtor> (<memory>) -> <handler> (0x<pc>)
    <cycle:12> X <name> (exception N) EXC_RETURN 0x<value> -> <return symbol> (0x<pc>)
    <cycle:12> F HardFault: <why> at 0x<pc> (<symbol>)

The vector source names the memory that answered the vector read (ARMv6-M B1.5.6:
the word at VTOR + 4·N) - main flash, SRAM, system memory, or one of them through
the 0x0 alias (RM0490 §9.1.1) - which is what tells a jump that left VTOR or the
alias behind from one that did not.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, TextIO

from peripherals import c071

from ..core.exceptions import ExceptionRecord

if TYPE_CHECKING:
    from ..machine import Machine


def exception_label(number: int) -> str:
    name = c071.exception_name(number)
    if number >= c071.IRQ_BASE:
        return f"{name} (IRQ {number - c071.IRQ_BASE}, exception {number})"
    return f"{name} (exception {number})"


class ExceptionLog:
    def __init__(self, machine: "Machine", out: TextIO) -> None:
        self.m = machine
        self.out = out

    def attach(self) -> None:
        self.m.trace.exception_observers.append(self.record)

    def _where(self, address: int) -> str:
        return self.m.describe(address) or "no symbol"

    def line(self, r: ExceptionRecord) -> str:
        if r.kind == "entry":
            if r.vector_address is None:
                how = r.detail
            else:
                how = f"vector 0x{r.vector_address:08X} via VTOR=0x{r.vtor:08X} ({r.vector_source or 'unknown memory'})"
            if r.detail.startswith("vector fetch"):          # the vector itself could not be read
                return f"{r.cycle:>12} E {exception_label(r.number)} {how}: {r.detail}"
            return f"{r.cycle:>12} E {exception_label(r.number)} {how} -> {self._where(r.pc)} (0x{r.pc:08X})"
        if r.kind == "return":
            return f"{r.cycle:>12} X {exception_label(r.number)} {r.detail} -> {self._where(r.pc)} (0x{r.pc:08X})"
        return f"{r.cycle:>12} F {c071.exception_name(r.number)}: {r.detail} at 0x{r.pc:08X} ({self._where(r.pc)})"

    def record(self, r: ExceptionRecord) -> None:
        self.out.write(self.line(r) + "\n")
