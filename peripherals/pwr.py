"""Power control (PWR) - RM0490 §5, register map §5.4.

Storage only: low-power modes, wakeup pins and the PVM are not modelled by
this block (the core decides what WFI does).  Reset values are ST's SVD
(STM32C071.svd v1.3): CR1 0x208 (FPD_STOP = 1, reserved bit 9 reads 1),
CR2 0x100, CR3 0x8000 (EIWUL = 1).

* SR2.FLASH_RDY reads 1: the emulated flash is always ready (its stored reset
  value stays 0 as in the SVD; the bit only matters after a low-power exit).
* SCR clears SR1 flags (write 1 to clear, RM0490 §5.4.7).
* BKP0R-BKP3R (16-bit) keep their content through a system reset and are
  cleared by a power-on reset.  INFERENCE from their purpose (backup
  registers); the RM0490 reset-domain wording was not verified.
"""
from __future__ import annotations

from .regs import Access, BusKind, Peripheral, reg, ro, rw, todo, wo
from .services import ChipServices

_FLASH_RDY = 1 << 7


def _pull_fields(prefix: str, pins) -> list:
    return [rw(f"{prefix}{i}", i) for i in pins]


class PowerControl(Peripheral):
    name = "PWR"
    bus = BusKind.APB
    manual = "RM0490 §5"

    BACKUP = ("BKP0R", "BKP1R", "BKP2R", "BKP3R")

    def __init__(self, base: int, services: ChipServices | None = None) -> None:
        all_pins, port_d, port_f = range(16), (0, 1, 2, 3, 4, 5, 6, 8, 9), range(4)
        super().__init__(base, services, registers=[
            reg("CR1", 0x00, 0x0000_0208, rw("LPMS", 0, 3), rw("FPD_STOP", 3), rw("FPD_SLP", 5)),
            reg("CR2", 0x04, 0x0000_0100, todo("PVM_VDDIO2", 8, 2)),
            reg("CR3", 0x08, 0x0000_8000, *[rw(f"EWUP{i + 1}", i) for i in range(6)],
                rw("APC", 10), rw("EIWUL", 15)),
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

    def reset(self) -> None:
        """System reset: everything except the backup registers."""
        kept = {name: self.reg[name].value for name in self.BACKUP}
        super().reset()
        self.restore(kept)

    def power_on_reset(self) -> None:
        super().reset()

    def _read_sr2(self, stored: int) -> int:
        return stored | _FLASH_RDY

    def _scr_written(self, old: int, new: int) -> None:
        """CWUFx clears WUFx, CSBF clears SBF (RM0490 §5.4.7)."""
        sr1 = self.reg["SR1"]
        sr1.value &= ~(new & 0x13F)
        self.reg["SCR"].value = 0
