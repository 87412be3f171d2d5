"""System configuration controller (SYSCFG) - RM0490 §9 (register map §9.1.x, ITLINE §9.1.4+).

* CFGR1.MEM_MODE[1:0] selects what the 0x0000_0000 alias shows: x0 main flash,
  01 system memory, 11 SRAM (RM0490 §9.1.1).  Its reset value is the memory
  the boot logic latched (RM0490 §9.1.1 "reset value depends on the boot
  mode"), read from ``boot_mem_mode()`` at every reset.  A write - or a reset -
  that changes MEM_MODE calls ``remap(new_mode)`` with the raw 2-bit value.
* PA11_RMP/PA12_RMP, IR_POL/IR_MOD and the I2C fast-mode-plus bits are storage
  (pin remapping and IR modulation are not modelled).
* CFGR2.LOCKUP_LOCK is set-only, cleared by reset (RM0490 §9.1.2); storage.
* CFGR3.PINMUXn select the function of multi-bonded package pins; storage.
* ITLINEn (read-only) show which sources drive NVIC line n; the value comes
  from ``irq_line_status(n)``.  Fields and the set of lines (0-16, 19, 21-28)
  follow ST's SVD (STM32C071.svd v1.3); RM0490 Table 55 has no IRQ 17, 18, 20,
  29-31.
"""
from __future__ import annotations

from functools import partial
from typing import Callable

from .regs import BusKind, Peripheral, reg, ro, rs, rw
from .services import ChipServices

# IRQ line -> (field name, bit) per SYSCFG_ITLINEn, from ST's SVD
ITLINE_SOURCES: dict[int, tuple[tuple[str, int], ...]] = {
    0: (("WWDG", 0),), 1: (("PVM_VDDIO2_OUT", 1),), 2: (("RTC", 1),), 3: (("FLASH_ITF", 1),),
    4: (("RCC", 0), ("CRS", 1)), 5: (("EXTI0", 0), ("EXTI1", 1)), 6: (("EXTI2", 0), ("EXTI3", 1)),
    7: tuple((f"EXTI{4 + i}", i) for i in range(12)), 8: (("USB", 0),), 9: (("DMA1_CH1", 0),),
    10: (("DMA1_CH2", 0), ("DMA1_CH3", 1)), 11: (("DMAMUX", 0), ("DMA_CH4", 1), ("DMA_CH5", 2)),
    12: (("ADC", 0),), 13: (("TIM1_CCU", 0), ("TIM1_TRG", 1), ("TIM1_UPD", 2), ("TIM1_BRK", 3)),
    14: (("TIM1_CC", 0),), 15: (("TIM2", 0),), 16: (("TIM3", 0),), 19: (("TIM14", 0),),
    21: (("TIM16", 0),), 22: (("TIM17", 0),), 23: (("I2C1", 0),), 24: (("I2C2", 0),),
    25: (("SPI1", 0),), 26: (("SPI2", 0),), 27: (("USART1", 0),), 28: (("USART2", 0),),
}

MEM_MODE_MASK = 0b11


class SystemConfig(Peripheral):
    name = "SYSCFG"
    bus = BusKind.APB
    manual = "RM0490 §9"

    def __init__(self, base: int, services: ChipServices | None = None,
                 boot_mem_mode: Callable[[], int] = lambda: 0,
                 remap: Callable[[int], None] = lambda mode: None,
                 irq_line_status: Callable[[int], int] = lambda line: 0) -> None:
        self.boot_mem_mode = boot_mem_mode
        self.remap = remap
        self.irq_line_status = irq_line_status
        super().__init__(base, services, registers=[
            reg("CFGR1", 0x00, 0, rw("MEM_MODE", 0, 2), rw("PA11_RMP", 3), rw("PA12_RMP", 4),
                rw("IR_POL", 5), rw("IR_MOD", 6, 2),
                rw("I2C_PB6_FMP", 16), rw("I2C_PB7_FMP", 17), rw("I2C_PB8_FMP", 18),
                rw("I2C_PB9_FMP", 19), rw("I2C1_FMP", 20), rw("I2C2_FMP", 21),
                rw("I2C_PA9_FMP", 22), rw("I2C_PA10_FMP", 23), rw("I2C_PC14_FMP", 24),
                on_write=self._cfgr1_written),
            reg("CFGR2", 0x18, 0, rs("LOCKUP_LOCK", 0)),
            reg("CFGR3", 0x3C, 0, *[rw(f"PINMUX{i}", 2 * i, 2) for i in range(6)]),
            *[reg(f"ITLINE{line}", 0x80 + 4 * line, 0, *[ro(n, bit) for n, bit in sources],
                  on_read=partial(self._read_itline, line))
              for line, sources in ITLINE_SOURCES.items()],
        ])
        self.reg["CFGR1"].set("MEM_MODE", self.boot_mem_mode() & MEM_MODE_MASK)

    def mem_mode(self) -> int:
        return self.reg["CFGR1"].get("MEM_MODE")

    def reset(self) -> None:
        before = self.mem_mode()
        super().reset()
        if self.mem_mode() != before:
            self.remap(self.mem_mode())

    def on_reset(self) -> None:
        """MEM_MODE comes back as the boot mode latched at reset (RM0490 §9.1.1)."""
        self.reg["CFGR1"].set("MEM_MODE", self.boot_mem_mode() & MEM_MODE_MASK)

    def _cfgr1_written(self, old: int, new: int) -> None:
        if (old ^ new) & MEM_MODE_MASK:
            self.remap(new & MEM_MODE_MASK)

    def _read_itline(self, line: int, stored: int) -> int:
        return self.irq_line_status(line) & 0xFFFF_FFFF
