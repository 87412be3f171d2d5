"""System control block at 0xE000ED00 (ARMv6-M B3.2; CMSIS core_cm0plus.h bit positions)."""
from __future__ import annotations

from . import c071
from .nvic import ExceptionBook, PRIORITY_MASK
from .regs import Access, BusKind, Peripheral, reg, ro, rw, todo

# CPUID: implementer 0x41, architecture 0xC, part 0xC60 (Cortex-M0+), r0p0 as the
# CMSIS device header's __CM0PLUS_REV 0 says; the silicon value is unverified (FACTS §6.2).
CPUID = 0x410C_C600
VECTKEY = 0x05FA
VECTKEYSTAT = 0xFA05


class SystemControlBlock(Peripheral):
    name = "SCB"
    bus = BusKind.PPB_WORD
    size = 0x40
    manual = "ARMv6-M ARM B3.2"

    def __init__(self, base: int = 0xE000_ED00, services=None, book: ExceptionBook | None = None) -> None:
        self.book = book or ExceptionBook()
        registers = [
            reg("CPUID", 0x00, CPUID, ro("REVISION", 0, 4), ro("PARTNO", 4, 12), ro("ARCHITECTURE", 16, 4),
                ro("VARIANT", 20, 4), ro("IMPLEMENTER", 24, 8)),
            reg("ICSR", 0x04, 0, ro("VECTACTIVE", 0, 9), ro("VECTPENDING", 12, 9), ro("ISRPENDING", 22),
                todo("ISRPREEMPT", 23, access=Access.RO), rw("PENDSTCLR", 25), rw("PENDSTSET", 26),
                rw("PENDSVCLR", 27), rw("PENDSVSET", 28), rw("NMIPENDSET", 31),
                on_read=self._icsr_value, on_write=self._icsr_write),
            reg("VTOR", 0x08, 0, rw("TBLOFF", 8, 24)),
            reg("AIRCR", 0x0C, VECTKEYSTAT << 16, todo("VECTCLRACTIVE", 1), rw("SYSRESETREQ", 2),
                ro("ENDIANNESS", 15), ro("VECTKEY", 16, 16), on_write=self._aircr_write),
            reg("SCR", 0x10, 0, rw("SLEEPONEXIT", 1), rw("SLEEPDEEP", 2), rw("SEVONPEND", 4)),
            reg("CCR", 0x14, 0x0000_0208, ro("UNALIGN_TRP", 3), ro("STKALIGN", 9)),
            reg("SHPR2", 0x1C, 0, rw("PRI_11", 30, 2), on_write=self._shpr_write),
            reg("SHPR3", 0x20, 0, rw("PRI_14", 22, 2), rw("PRI_15", 30, 2), on_write=self._shpr_write),
            reg("SHCSR", 0x24, 0, todo("SVCALLPENDED", 15)),
        ]
        super().__init__(base, services, registers)

    @property
    def vtor(self) -> int:
        return self.reg["VTOR"].value

    def _icsr_value(self, stored: int) -> int:
        b = self.book
        pending = b.highest_pending() or 0
        irq_pending = bool(b.pending >> c071.IRQ_BASE)
        return ((b.current() & 0x1FF) | (pending & 0x1FF) << 12 | irq_pending << 22
                | b.is_pending(c071.SYSTICK) << 26 | b.is_pending(c071.PENDSV) << 28
                | b.is_pending(c071.NMI) << 31)

    def _icsr_write(self, old: int, new: int) -> None:
        w = self.reg["ICSR"].last_written
        b = self.book
        if w >> 31 & 1:
            b.pend(c071.NMI)
        if w >> 28 & 1:
            b.pend(c071.PENDSV)
        elif w >> 27 & 1:
            b.unpend(c071.PENDSV)
        if w >> 26 & 1:
            b.pend(c071.SYSTICK)
        elif w >> 25 & 1:
            b.unpend(c071.SYSTICK)
        self.reg["ICSR"].value = 0

    def _aircr_write(self, old: int, new: int) -> None:
        w = self.reg["AIRCR"].last_written
        self.reg["AIRCR"].value = VECTKEYSTAT << 16
        if w >> 16 != VECTKEY:
            self.services.event("scb.aircr_ignored", f"AIRCR write 0x{w:08X} ignored: VECTKEY is not 0x05FA")
            return
        if w >> 2 & 1:
            self.services.event("scb.sysresetreq", "AIRCR.SYSRESETREQ: system reset requested")
            self.services.request_reset("software")

    def _shpr_write(self, old: int, new: int) -> None:
        sp = self.book.system_priority
        sp[c071.SVCALL] = self.reg["SHPR2"].value >> 24 & PRIORITY_MASK
        sp[c071.PENDSV] = self.reg["SHPR3"].value >> 16 & PRIORITY_MASK
        sp[c071.SYSTICK] = self.reg["SHPR3"].value >> 24 & PRIORITY_MASK
        self.book.on_change()
