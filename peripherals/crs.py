"""Clock recovery system (CRS) at 0x4000_6C00 - RM0490 §7 (register map FACTS §5.4).

The CRS trims HSIUSB48 against a 1 kHz reference, by default the USB SOF
(CFGR.SYNCSRC = 10).  This model treats HSIUSB48 as exactly 48 MHz, so every sync
event finds the frequency error counter at zero: SYNCOKF (and ESYNCF, the
expected-sync flag) are set, FECAP = 0, FEDIR = 0, and TRIM is never changed.
That is what firmware waiting for SYNCOK and a trace showing the lock need.

Rules modelled:
* Sync events come from the USB SOF (machine wiring) when CR.CEN = 1 and
  SYNCSRC = USB SOF, or from CR.SWSYNC (a write-only action, RM0490 CRS_CR).
* CFGR is write-protected while CEN = 1 (RM0490 CRS_CFGR: "can be written only
  when CEN is 0").
* ICR: writing 1 clears the matching ISR flag (SYNCOKC, SYNCWARNC, ERRC, ESYNCC).
* The interrupt (IRQ 4, shared with RCC) is ISR[3:0] & CR[3:0].
Not modelled: GPIO/LSE sync sources, SYNCDIV prescaling, frequency error
measurement, SYNCWARN/ERR/SYNCMISS/TRIMOVF (they never occur with an ideal
oscillator) - fields are declared, never set.
"""
from __future__ import annotations

from typing import Callable

from . import c071
from .regs import BusKind, Peripheral, reg, ro, rw, todo, wo

SYNCSRC_USB_SOF = 0b10
SYNCOKF, ESYNCF = 1 << 0, 1 << 3


class ClockRecoverySystem(Peripheral):
    name = "CRS"
    bus = BusKind.APB
    manual = "RM0490 §7"

    def __init__(self, base: int = c071.CRS, services=None) -> None:
        self.irq_changed: Callable[[], None] = lambda: None     # RCC_CRS line is shared (machine wiring)
        self.syncs = 0
        super().__init__(base, services, registers=[
            reg("CR", 0x00, 0x0000_4000,
                rw("SYNCOKIE", 0), rw("SYNCWARNIE", 1), rw("ERRIE", 2), rw("ESYNCIE", 3), rw("CEN", 5),
                rw("AUTOTRIMEN", 6), wo("SWSYNC", 7), rw("TRIM", 8, 7), on_write=self._cr_written),
            reg("CFGR", 0x04, 0x2022_BB7F,
                rw("RELOAD", 0, 16), rw("FELIM", 16, 8), todo("SYNCDIV", 24, 3), rw("SYNCSRC", 28, 2),
                todo("SYNCPOL", 31), on_write=self._cfgr_written),
            reg("ISR", 0x08, 0,
                ro("SYNCOKF", 0), ro("SYNCWARNF", 1), ro("ERRF", 2), ro("ESYNCF", 3), ro("SYNCERR", 8),
                ro("SYNCMISS", 9), ro("TRIMOVF", 10), ro("FEDIR", 15), ro("FECAP", 16, 16)),
            reg("ICR", 0x0C, 0, wo("SYNCOKC", 0), wo("SYNCWARNC", 1), wo("ERRC", 2), wo("ESYNCC", 3),
                on_write=self._icr_written),
        ])

    def on_reset(self) -> None:
        self.syncs = 0
        self.irq_changed()

    def _cr_written(self, old: int, new: int) -> None:
        if self.reg["CR"].last_written >> 7 & 1:
            self._sync("SWSYNC")
        self.irq_changed()

    def _cfgr_written(self, old: int, new: int) -> None:
        if self.reg["CR"].get("CEN"):
            self.reg["CFGR"].value = old          # write-protected while the counter runs

    def _icr_written(self, old: int, new: int) -> None:
        self.reg["ISR"].value &= ~(self.reg["ICR"].last_written & 0xF)
        self.irq_changed()

    # -- sync events ---------------------------------------------------------------
    def usb_sof(self, frame: int) -> None:
        if self.clock_enabled() and not self.held_in_reset and self.reg["CFGR"].get("SYNCSRC") == SYNCSRC_USB_SOF:
            self._sync("USB SOF")

    def _sync(self, source: str) -> None:
        if not self.reg["CR"].get("CEN"):
            return
        isr = self.reg["ISR"]
        first = not isr.value & SYNCOKF and self.syncs == 0
        before = isr.value
        isr.value = (isr.value & 0x0000_7FFF & ~(1 << 15)) | SYNCOKF | ESYNCF     # FECAP = 0, FEDIR = 0
        isr.note_hardware_change(before)                  # provenance: "set by hardware (the SOF ...)"
        self.syncs += 1
        if first:
            self.services.event("crs.sync", f"CRS: first sync on {source}: SYNCOK (HSIUSB48 at 48 MHz)")
        self.irq_changed()

    def interrupt_pending(self) -> bool:
        return bool(self.reg["ISR"].value & self.reg["CR"].value & 0xF)
