"""Power control (PWR) - RM0490 §5, register map §5.4.

Reset values are ST's SVD (STM32C071.svd v1.3): CR1 0x208 (FPD_STOP = 1, reserved
bit 9 reads 1), CR2 0x100, CR3 0x8000 (EIWUL = 1).

* CR1.LPMS picks the mode a deep sleep (WFI/WFE with SCB_SCR.SLEEPDEEP) enters
  (RM0490 §5.3, SVD LPMS: "1XX: Shutdown"): 000 Stop, 011 Standby, 1xx Shutdown, as
  the C0/G0 HAL's PWR_LOWPOWERMODE_STOP0 / _STANDBY / _SHUTDOWN encode them; 001 and
  010 are not C071 modes and are reported.  ``deep_sleep_mode`` answers; the machine's
  low-power logic (emulator/power.py) acts on it.
* Wake-up pins (RM0490 §5.3.6): WKUPx is enabled by CR3.EWUPx; CR4.WPx picks the
  active edge (0 rising, 1 falling, SVD CR3/CR4 descriptions).  An active edge sets
  SR1.WUFx and, in Standby or Shutdown, wakes the device through a reset.  Pin
  mapping WKUP1 PA0, WKUP2 PC13, WKUP4 PA2, WKUP5 PC5, WKUP6 PB5: INFERENCE from
  the STM32G0 (same PWR design) - the C071 datasheet (DS14693) was not retrieved;
  WKUP3 has no known pin here, so enabling it is reported.
* SR1.SBF is set on entering Standby and is not cleared by a system reset, only by
  CSBF or a power-on reset (SVD SR1 description); WUFx likewise survive the Standby
  exit, so the woken firmware can see why it woke.
* SR2.FLASH_RDY reads 1: the emulated flash is always ready (its stored reset
  value stays 0 as in the SVD; the bit only matters after a low-power exit).
* SCR clears SR1 flags (write 1 to clear, RM0490 §5.4.7).
* BKP0R-BKP3R (16-bit) keep their content through a system reset and are
  cleared by a power-on reset.  INFERENCE from their purpose (backup
  registers); the RM0490 reset-domain wording was not verified.
* Not modelled: the SRAM retention in Standby - the C071 has no PWR_CR3.RRS in the
  SVD, so SRAM is always lost there; APC (pull configuration applied in
  Standby/Shutdown) is stored and reported when changed; FPD_STOP/FPD_SLP (flash
  power-down) only change wake-up latencies.
* The internal wake-up line (EIWUL, WUFI) has an entry point, ``internal_wakeup``,
  for an RTC/TAMP model to drive.
"""
from __future__ import annotations

from typing import Callable, Optional

from .regs import Access, BusKind, Peripheral, reg, ro, rw, todo, wo
from .services import ChipServices

_FLASH_RDY = 1 << 7
_SBF = 1 << 8
LPMS_STOP, LPMS_STANDBY = 0b000, 0b011
# WKUPx -> (port, pin); see the module docstring for the source
WAKEUP_PINS = {1: ("GPIOA", 0), 2: ("GPIOC", 13), 4: ("GPIOA", 2), 5: ("GPIOC", 5), 6: ("GPIOB", 5)}


def _pull_fields(prefix: str, pins) -> list:
    return [rw(f"{prefix}{i}", i) for i in pins]


class PowerControl(Peripheral):
    name = "PWR"
    bus = BusKind.APB
    manual = "RM0490 §5"

    BACKUP = ("BKP0R", "BKP1R", "BKP2R", "BKP3R")

    def __init__(self, base: int, services: ChipServices | None = None) -> None:
        all_pins, port_d, port_f = range(16), (0, 1, 2, 3, 4, 5, 6, 8, 9), range(4)
        # Told when the enabled WKUP pins may have changed (machine wiring, as EXTI.watch_changed).
        self.watch_changed: Callable[[], None] = lambda: None
        super().__init__(base, services, registers=[
            reg("CR1", 0x00, 0x0000_0208, rw("LPMS", 0, 3), rw("FPD_STOP", 3), rw("FPD_SLP", 5)),
            reg("CR2", 0x04, 0x0000_0100, todo("PVM_VDDIO2", 8, 2)),
            reg("CR3", 0x08, 0x0000_8000, *[rw(f"EWUP{i + 1}", i) for i in range(6) if i + 1 != 3],
                todo("EWUP3", 2, doc="no known WKUP3 pin on the C071"), todo("APC", 10), rw("EIWUL", 15),
                on_write=lambda old, new: self.watch_changed()),
            reg("CR4", 0x0C, 0, *[rw(f"WP{i + 1}", i) for i in range(6)]),
            reg("SR1", 0x10, 0, *[ro(f"WUF{i + 1}", i) for i in range(6)], ro("SBF", 8), ro("WUFI", 15)),
            reg("SR2", 0x14, 0, ro("FLASH_RDY", 7), todo("PVM_VDDIO2_OUT", 13, access=Access.RO),
                on_read=self._read_sr2),
            reg("SCR", 0x18, 0, *[wo(f"CWUF{i + 1}", i) for i in range(6)], wo("CSBF", 8),
                on_write=self._scr_written),
            reg("PUCRA", 0x20, 0, *_pull_fields("PU", all_pins)),
            reg("PDCRA", 0x24, 0, *_pull_fields("PD", all_pins)),
            reg("PUCRB", 0x28, 0, *_pull_fields("PU", all_pins)),
            reg("PDCRB", 0x2C, 0, *_pull_fields("PD", all_pins)),
            reg("PUCRC", 0x30, 0, *_pull_fields("PU", all_pins)),
            reg("PDCRC", 0x34, 0, *_pull_fields("PD", all_pins)),
            reg("PUCRD", 0x38, 0, *_pull_fields("PU", port_d)),
            reg("PDCRD", 0x3C, 0, *_pull_fields("PD", port_d)),
            reg("PUCRF", 0x48, 0, *_pull_fields("PU", port_f)),
            reg("PDCRF", 0x4C, 0, *_pull_fields("PD", port_f)),
            *[reg(name, 0x70 + 4 * i, 0, rw("BKP", 0, 16)) for i, name in enumerate(self.BACKUP)],
        ])
        self.on_reset()

    def on_reset(self) -> None:
        self.standby = False          # in Standby or Shutdown: a wake-up pin edge resets the device
        self._shutdown = False
        self.watch_changed()

    def watched_pins(self, port_name: str) -> int:
        """Pins of ``port_name`` whose level changes ``pin_changed`` acts on: enabled WKUP pins."""
        enabled = self.reg["CR3"].value
        return sum(1 << pin for number, (name, pin) in WAKEUP_PINS.items()
                   if name == port_name and enabled >> (number - 1) & 1)

    def reset(self) -> None:
        """System reset: everything except the backup registers and the SR1 flags."""
        kept = {name: self.reg[name].value for name in (*self.BACKUP, "SR1")}
        super().reset()
        self.restore(kept)

    # -- low-power modes (RM0490 §5.3) ------------------------------------------------------
    def deep_sleep_mode(self) -> Optional[str]:
        """The mode a deep sleep enters: "stop", "standby", "shutdown", or None (LPMS reserved)."""
        lpms = self.reg["CR1"].get("LPMS")
        if lpms & 0b100:
            return "shutdown"
        return {LPMS_STOP: "stop", LPMS_STANDBY: "standby"}.get(lpms)

    def enter_standby(self, shutdown: bool = False) -> bool:
        """The device powers down; True if a wake-up flag already pending wakes it at once."""
        self.standby = True
        self._shutdown = shutdown
        if not shutdown:
            self.reg["SR1"].value |= _SBF
        return bool(self.reg["SR1"].value & self.reg["CR3"].value & 0x3F)

    def pin_changed(self, port, pin: int, level: int) -> None:
        """A pin's level changed: a wake-up event if it is an enabled WKUP pin's active edge."""
        for number, (port_name, wkup_pin) in WAKEUP_PINS.items():
            if wkup_pin != pin or port_name != port.name:
                continue
            bit = 1 << (number - 1)
            falling = bool(self.reg["CR4"].value & bit)
            if self.reg["CR3"].value & bit and level != falling:
                self.reg["SR1"].value |= bit
                if self.standby:
                    mode = "Shutdown" if self._shutdown else "Standby"
                    self.services.event("pwr", f"WKUP{number} (P{port_name[-1]}{pin}) edge: wake-up from {mode}")
                    # leaving Shutdown is a power-on reset; leaving Standby keeps the PWR flags (§5.3)
                    self.services.request_reset("power" if self._shutdown else "standby")

    def internal_wakeup(self, active: bool) -> None:
        """The internal wake-up line (RTC/TAMP wake-up sources, RM0490 §5.3): WUFI follows it, and
        with CR3.EIWUL its rising edge wakes the device from Standby/Shutdown.  For the machine to
        wire to an RTC model; nothing drives it yet."""
        sr1 = self.reg["SR1"]
        rising = active and not sr1.get("WUFI")
        sr1.set("WUFI", int(active))
        if rising and self.standby and self.reg["CR3"].get("EIWUL"):
            self.services.event("pwr", "internal wake-up line (RTC/TAMP): wake-up from Standby/Shutdown")
            self.services.request_reset("power" if self._shutdown else "standby")

    def power_on_reset(self) -> None:
        super().reset()

    def _read_sr2(self, stored: int) -> int:
        return stored | _FLASH_RDY

    def _scr_written(self, old: int, new: int) -> None:
        """CWUFx clears WUFx, CSBF clears SBF (RM0490 §5.4.7)."""
        sr1 = self.reg["SR1"]
        sr1.value &= ~(new & 0x13F)
        self.reg["SCR"].value = 0
