"""STM32C071 facts as data: memory map, peripheral bases, interrupt numbers.

Sources: RM0490 Rev 5 Table 4 (memory map), Table 7 (peripheral boundaries),
Table 55 (vector table); values cross-checked with ST's SVD in the tests.
"""
from __future__ import annotations

from dataclasses import dataclass

KIB = 1024

# -- memories (RM0490 Table 4, Table 12) ----------------------------------------
FLASH_BASE = 0x0800_0000
FLASH_SIZE = 128 * KIB
FLASH_PAGE_SIZE = 2 * KIB
FLASH_PAGES = FLASH_SIZE // FLASH_PAGE_SIZE
SYSMEM_BASE = 0x1FFF_0000
SYSMEM_SIZE = 28 * KIB
OTP_BASE = 0x1FFF_7000
OTP_SIZE = 1 * KIB
ENGINEERING_BASE = 0x1FFF_7400          # 0x7400-0x74FF reserved, engineering bytes from 0x7500
ENGINEERING_SIZE = 1 * KIB
OPTION_BYTES_BASE = 0x1FFF_7800
OPTION_BYTES_SIZE = 2 * KIB
SRAM_BASE = 0x2000_0000
SRAM_SIZE = 24 * KIB
ALIAS_BASE = 0x0000_0000
ALIAS_WINDOW = 128 * KIB

# engineering bytes (RM0490 Table 4; CMSIS device header PACKAGE/UID/FLASHSIZE bases)
PACKAGE_ADDR = 0x1FFF_7500
UID_ADDR = 0x1FFF_7550
FLASH_SIZE_ADDR = 0x1FFF_75A0

# option-byte words: low word value, high word complement (RM0490 Table 18)
OPTION_WORDS = {
    "OPTR": 0x1FFF_7800, "PCROP1ASR": 0x1FFF_7808, "PCROP1AER": 0x1FFF_7810,
    "WRP1AR": 0x1FFF_7818, "WRP1BR": 0x1FFF_7820, "PCROP1BSR": 0x1FFF_7828,
    "PCROP1BER": 0x1FFF_7830, "SECR": 0x1FFF_7870,
}
# Factory option bytes.  OPTR per RM0490 Table 18 factory row, reserved bit 20 = 0
# (a C031 readout showed bits 31:30/20 reading 1 - FACTS §2.1 CONFLICT; the low 30
# bits, which are all the boot logic reads, agree).  WRP "no protection" encodes as
# STRT > END; PCROP "no protection" likewise (RM0490 §4.5.2/§4.5.3).
FACTORY_OPTION_BYTES = {
    "OPTR": 0x3FEF_FEAA, "PCROP1ASR": 0x0000_00FF, "PCROP1AER": 0x0000_0000,
    "WRP1AR": 0x0000_003F, "WRP1BR": 0x0000_003F, "PCROP1BSR": 0x0000_00FF,
    "PCROP1BER": 0x0000_0000, "SECR": 0x0000_0000,
}

# -- peripheral bases (RM0490 Table 7) -----------------------------------------
TIM2, TIM3, TIM14, RTC, WWDG, IWDG = 0x4000_0000, 0x4000_0400, 0x4000_2000, 0x4000_2800, 0x4000_2C00, 0x4000_3000
SPI2, USART2, I2C1, I2C2, USB, CRS, PWR = 0x4000_3800, 0x4000_4400, 0x4000_5400, 0x4000_5800, 0x4000_5C00, 0x4000_6C00, 0x4000_7000
USB_PMA = 0x4000_9800
SYSCFG, ADC, TIM1, SPI1, USART1, TIM16, TIM17, DBG = (
    0x4001_0000, 0x4001_2400, 0x4001_2C00, 0x4001_3000, 0x4001_3800, 0x4001_4400, 0x4001_4800, 0x4001_5800)
DMA1, DMAMUX1, RCC, EXTI, FLASH_REGS, CRC = 0x4002_0000, 0x4002_0800, 0x4002_1000, 0x4002_1800, 0x4002_2000, 0x4002_3000
GPIOA, GPIOB, GPIOC, GPIOD, GPIOF = 0x5000_0000, 0x5000_0400, 0x5000_0800, 0x5000_0C00, 0x5000_1400
PPB_SCS = 0xE000_E000


@dataclass(frozen=True)
class Block:
    """A peripheral on the silicon that c071emu does not model (yet): accesses are reported."""
    name: str
    base: int
    size: int = 0x400


# Every block of RM0490 Table 7 now has a model; a block added here is mapped as a named gap
# whose every access is reported (peripherals/unmodelled.py).
UNMODELLED_BLOCKS: tuple[Block, ...] = ()

# -- exceptions (RM0490 Table 55, ARMv6-M B1.5.2) --------------------------------
RESET, NMI, HARDFAULT, SVCALL, PENDSV, SYSTICK = 1, 2, 3, 11, 14, 15
IRQ_BASE = 16
NUM_IRQS = 32
IRQ_WWDG, IRQ_FLASH, IRQ_RCC_CRS, IRQ_USB = 0, 3, 4, 8
IRQ_EXTI0_1, IRQ_EXTI2_3, IRQ_EXTI4_15 = 5, 6, 7
IRQ_DMA1_CH1, IRQ_DMA1_CH2_3, IRQ_DMAMUX1_DMA1_CH4_5 = 9, 10, 11
IRQ_USART1, IRQ_USART2 = 27, 28
IRQ_RTC, IRQ_ADC = 2, 12
IRQ_I2C1, IRQ_I2C2, IRQ_SPI1, IRQ_SPI2 = 23, 24, 25, 26
IRQ_TIM1_BRK_UP_TRG_COM, IRQ_TIM1_CC, IRQ_TIM2, IRQ_TIM3, IRQ_TIM14, IRQ_TIM16, IRQ_TIM17 = 13, 14, 15, 16, 19, 21, 22
EXCEPTION_NAMES = {1: "Reset", 2: "NMI", 3: "HardFault", 11: "SVCall", 14: "PendSV", 15: "SysTick"}
IRQ_NAMES = {
    0: "WWDG", 1: "PVM_VDDIO2", 2: "RTC", 3: "FLASH", 4: "RCC_CRS", 5: "EXTI0_1", 6: "EXTI2_3",
    7: "EXTI4_15", 8: "USB", 9: "DMA1_Channel1", 10: "DMA1_Channel2_3", 11: "DMAMUX1_DMA1_CH4_5",
    12: "ADC1", 13: "TIM1_BRK_UP_TRG_COM", 14: "TIM1_CC", 15: "TIM2", 16: "TIM3", 19: "TIM14",
    21: "TIM16", 22: "TIM17", 23: "I2C1", 24: "I2C2", 25: "SPI1", 26: "SPI2", 27: "USART1", 28: "USART2",
}


def exception_name(number: int) -> str:
    if number >= IRQ_BASE:
        return IRQ_NAMES.get(number - IRQ_BASE, f"IRQ{number - IRQ_BASE}")
    return EXCEPTION_NAMES.get(number, f"exception {number}")


# -- clocks (RM0490 §6.2) --------------------------------------------------------
HSI48_HZ = 48_000_000
HSIUSB48_HZ = 48_000_000
LSI_HZ = 32_000
LSE_HZ = 32_768
RESET_SYSCLK_HZ = HSI48_HZ // 4
DEV_ID = 0x493
