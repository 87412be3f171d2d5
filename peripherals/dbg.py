"""Debug support (DBG, a.k.a. DBGMCU) - RM0490 §30.10.

* IDCODE: DEV_ID[11:0] = 0x493 for STM32C071 (RM0490 §30.10.1 Table 177),
  bits 15:12 read 0b0110, REV_ID[31:16] = 0x1000.  The REV_ID is a choice: the
  C071 revision codes (errata ES0618) were not verified (FACTS §2.4).  ST's SVD
  gives a reset value of 0, which the tests record as an SVD exception.
  IDCODE supports 32-bit accesses only; narrower ones are reported as
  unmodelled and read 0.
* IDCODE is readable whatever RCC_APBENR1.DBGEN says (and while DBGRST holds the
  block): it is a fixed identification value, read by firmware with the DBG clock
  off - ST's own HAL_GetDEVID()/HAL_GetREVID() and the LL "device ID" example read
  it without enabling DBGEN, and candleLight_fw checks DEV_ID at reset on the G0B1
  (same DBG design) - and the RM describes the ID code as readable by the debug
  port or by software at any time, even under system reset (RM0490 §30.10.1 as in
  the G0/F0 manuals' "MCU device ID code" section).
* CR, APB_FZ1, APB_FZ2 keep needing the clock: they are configuration registers of
  the APB block that DBGEN clocks (RM0490 §6.4.15 "DBGEN: debug support clock
  enable"; §30.10.2-§30.10.4 give no exception for them, unlike the ID code), and
  ST's examples enable DBGEN before __HAL_DBGMCU_FREEZE_*.  With DBGEN clear they
  read 0 and ignore writes, as every gated block here does.
* CR, APB_FZ1, APB_FZ2 are reset by a power-on reset only, not by a system
  reset (RM0490 §30.10.2-§30.10.4).  They are storage: the emulator has no
  halted-core state for the freeze bits to act on, and Stop/Standby debug
  behaviour is the core's business.
"""
from __future__ import annotations

from .c071 import DEV_ID
from .regs import BusKind, Peripheral, reg, ro, rw
from .services import ChipServices

REV_ID = 0x1000
IDCODE = REV_ID << 16 | 0x6 << 12 | DEV_ID


class DebugSupport(Peripheral):
    name = "DBG"
    bus = BusKind.APB
    manual = "RM0490 §30.10"

    POR_ONLY = ("CR", "APB_FZ1", "APB_FZ2")

    def __init__(self, base: int, services: ChipServices | None = None) -> None:
        super().__init__(base, services, registers=[
            reg("IDCODE", 0x00, IDCODE, ro("DEV_ID", 0, 12), ro("REV_ID", 16, 16)),
            reg("CR", 0x04, 0, rw("DBG_STOP", 1), rw("DBG_STANDBY", 2)),
            reg("APB_FZ1", 0x08, 0, rw("DBG_TIM2_STOP", 0), rw("DBG_TIM3_STOP", 1),
                rw("DBG_RTC_STOP", 10), rw("DBG_WWDG_STOP", 11), rw("DBG_IWDG_STOP", 12),
                rw("DBG_I2C1_SMBUS_TIMEOUT", 21)),
            reg("APB_FZ2", 0x0C, 0, rw("DBG_TIM1_STOP", 11), rw("DBG_TIM14_STOP", 15),
                rw("DBG_TIM16_STOP", 17), rw("DBG_TIM17_STOP", 18)),
        ])

    def reset(self) -> None:
        """System reset: CR and the freeze registers survive (RM0490 §30.10.2-4)."""
        kept = {name: self.reg[name].value for name in self.POR_ONLY}
        super().reset()
        self.restore(kept)

    def power_on_reset(self) -> None:
        super().reset()

    def read(self, offset: int, size: int) -> int:
        if offset & ~3 == 0:
            idcode = self.reg["IDCODE"]
            if size != 4:
                self.services.unmodelled(self, offset, size, is_write=False, value=None, reg=idcode)
                return 0
            self.services.mmio_read(self, idcode, idcode.value)     # no clock gate: see the docstring
            return idcode.value
        return super().read(offset, size)
