"""NVIC and the exception bookkeeping it shares with SCB and SysTick.

ARMv6-M (ARM DDI 0419E B1.5, B3.4): 32 external interrupts, priority in the top two
bits of each IPR byte (RM0490 §13.1: 2 priority bits, 4 levels), registers accessed
by word only.  ``ExceptionBook`` is the state the exception engine reads and the
registers expose: enable, pending, active and priority of every exception number
(16 + n for IRQ n).  Interrupt lines are level-sensitive: a line held high pends its
interrupt again after the handler returns (B3.4.1).
"""
from __future__ import annotations

from typing import Callable

from . import c071
from .regs import BusKind, Peripheral, reg, rw

PRIORITY_MASK = 0xC0
LOWEST = 256                 # execution priority of thread mode with nothing active


class ExceptionBook:
    def __init__(self) -> None:
        self.on_change: Callable[[], None] = lambda: None   # the run loop re-evaluates at the next boundary
        # told when the pending bit of that exception is cleared (taken, or cleared by software)
        self.on_cleared: dict[int, Callable[[], None]] = {}
        self.reset()

    def reset(self) -> None:
        self.enabled = 0              # bit n = IRQ n enabled (ISER)
        self.pending = 0              # bit e = exception number e pending
        self.line_level = 0           # bit n = IRQ line n asserted by its peripheral
        self.active_stack: list[int] = []
        self.irq_priority = [0] * c071.NUM_IRQS
        self.system_priority = {c071.SVCALL: 0, c071.PENDSV: 0, c071.SYSTICK: 0}

    # -- priorities ------------------------------------------------------------
    def priority(self, number: int) -> int:
        if number == c071.NMI:
            return -2
        if number == c071.HARDFAULT:
            return -1
        if number >= c071.IRQ_BASE:
            return self.irq_priority[number - c071.IRQ_BASE]
        return self.system_priority.get(number, 0)

    def execution_priority(self, primask: int) -> int:
        """B1.5.4: the lowest priority value of the active exceptions, boosted by PRIMASK."""
        active = self.active_stack
        current = min([self.priority(n) for n in active]) if active else LOWEST
        return min(current, 0) if primask else current

    # -- pending ----------------------------------------------------------------
    def pend(self, number: int) -> None:
        self.pending |= 1 << number
        self.on_change()

    def unpend(self, number: int) -> None:
        was = self.pending
        self.pending &= ~(1 << number)
        if number >= c071.IRQ_BASE and self.line_level >> (number - c071.IRQ_BASE) & 1:
            self.pending |= 1 << number          # a held level re-pends at once
        self._cleared(number, was)
        self.on_change()

    def _cleared(self, number: int, was: int) -> None:
        if was >> number & 1 and not self.pending >> number & 1 and number in self.on_cleared:
            self.on_cleared[number]()

    def set_line(self, irq: int, level: bool) -> None:
        bit = 1 << irq
        if level:
            self.line_level |= bit
            self.pend(c071.IRQ_BASE + irq)
        else:
            self.line_level &= ~bit

    def is_pending(self, number: int) -> bool:
        return bool(self.pending >> number & 1)

    def is_active(self, number: int) -> bool:
        return number in self.active_stack

    def enabled_pending(self) -> int:
        """The pending exceptions that are not disabled IRQs (non-zero: one may be taken or masked)."""
        p = self.pending
        return p & ((1 << c071.IRQ_BASE) - 1) | p & (self.enabled << c071.IRQ_BASE)

    def _candidates(self):
        p = self.pending
        while p:
            low = p & -p
            n = low.bit_length() - 1
            p ^= low
            if n >= c071.IRQ_BASE and not self.enabled >> (n - c071.IRQ_BASE) & 1:
                continue
            yield n

    def highest_pending(self) -> int | None:
        """The pending, enabled exception that would be taken first (lowest priority value, then number)."""
        best = None
        for n in self._candidates():
            if best is None or self.priority(n) < self.priority(best):
                best = n
        return best

    def next_to_take(self, primask: int) -> int | None:
        n = self.highest_pending()
        if n is not None and self.priority(n) < self.execution_priority(primask):
            return n
        return None

    def has_wakeup(self) -> bool:
        """WFI wakes on a pending interrupt that would preempt were PRIMASK clear (B1.5.19)."""
        return self.next_to_take(primask=0) is not None

    # -- activation (used by the exception engine) ------------------------------
    def activate(self, number: int) -> None:
        was = self.pending
        self.pending &= ~(1 << number)
        self.active_stack.append(number)
        self._cleared(number, was)

    def deactivate(self) -> int:
        number = self.active_stack.pop()
        if number >= c071.IRQ_BASE and self.line_level >> (number - c071.IRQ_BASE) & 1:
            self.pending |= 1 << number
        return number

    def current(self) -> int:
        return self.active_stack[-1] if self.active_stack else 0


class Nvic(Peripheral):
    """NVIC registers at 0xE000E100 (ISER) … 0xE000E41F (IPR7); ARMv6-M B3.4."""

    name = "NVIC"
    bus = BusKind.PPB_WORD
    size = 0x320
    manual = "ARMv6-M ARM B3.4"

    def __init__(self, base: int = 0xE000_E100, services=None, book: ExceptionBook | None = None) -> None:
        self.book = book or ExceptionBook()
        b = self.book
        registers = [
            reg("ISER", 0x000, 0, rw("SETENA", 0, 32), on_read=lambda v: b.enabled,
                on_write=lambda old, new: self._set_enable(self.reg["ISER"].last_written, True)),
            reg("ICER", 0x080, 0, rw("CLRENA", 0, 32), on_read=lambda v: b.enabled,
                on_write=lambda old, new: self._set_enable(self.reg["ICER"].last_written, False)),
            reg("ISPR", 0x100, 0, rw("SETPEND", 0, 32), on_read=lambda v: b.pending >> c071.IRQ_BASE,
                on_write=lambda old, new: self._set_pending(self.reg["ISPR"].last_written, True)),
            reg("ICPR", 0x180, 0, rw("CLRPEND", 0, 32), on_read=lambda v: b.pending >> c071.IRQ_BASE,
                on_write=lambda old, new: self._set_pending(self.reg["ICPR"].last_written, False)),
        ]
        for i in range(8):
            registers.append(reg(
                f"IPR{i}", 0x300 + 4 * i, 0,
                *(rw(f"PRI_{4 * i + k}", 8 * k + 6, 2) for k in range(4)),
                on_write=lambda old, new, i=i: self._set_priorities(i, new)))
        super().__init__(base, services, registers)

    def on_reset(self) -> None:
        self.book.reset()

    def _set_enable(self, mask: int, enable: bool) -> None:
        if enable:
            self.book.enabled |= mask
        else:
            self.book.enabled &= ~mask
        self.book.on_change()

    def _set_pending(self, mask: int, pend: bool) -> None:
        for n in range(c071.NUM_IRQS):
            if mask >> n & 1:
                (self.book.pend if pend else self.book.unpend)(c071.IRQ_BASE + n)

    def _set_priorities(self, index: int, value: int) -> None:
        for k in range(4):
            self.book.irq_priority[4 * index + k] = (value >> (8 * k)) & PRIORITY_MASK
        self.book.on_change()
