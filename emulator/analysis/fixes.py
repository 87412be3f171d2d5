"""Application-side fixes in the user's terms: CMSIS device-header names by default
(``SCB->VTOR = 0;``), or the STM32Cube HAL or LL macros (``--fix-style hal|ll``).

Each item key of ``items.py`` maps to one snippet per style; a style without its own
idiom for an item falls back to CMSIS (every Cube project has the CMSIS header).  The
names are the public API names of those headers (facts: register and bit names from
RM0490 §4.7, §6.4, §9.1; ARMv6-M B3.2 for SCB/SysTick/NVIC); tests/fix_header/
stm32c0_standin.h is a clean-room stand-in declaring them, and a test compiles every
snippet a diagnosis produces against it with arm-none-eabi-gcc.

Snippets are statements for the jump function, before the branch; a fix that cannot be
made there (a running watchdog) is a comment saying what to do instead.
"""
from __future__ import annotations

from peripherals import c071

STYLES = ("cmsis", "hal", "ll")

FLASH_SR_ERRORS = ("FLASH_SR_OPERR | FLASH_SR_PROGERR | FLASH_SR_WRPERR | FLASH_SR_PGAERR | FLASH_SR_SIZERR |\n"
                   "            FLASH_SR_PGSERR | FLASH_SR_MISSERR | FLASH_SR_FASTERR")

CMSIS = {
    "VTOR": "SCB->VTOR = 0;                 /* vectors from 0x0, as after a system-memory boot */",
    "MEM_MODE": ("RCC->APBENR2 |= RCC_APBENR2_SYSCFGEN;   /* SYSCFG needs its clock: __HAL_RCC_SYSCFG_CLK_ENABLE() */\n"
                 "SYSCFG->CFGR1 = (SYSCFG->CFGR1 & ~SYSCFG_CFGR1_MEM_MODE_Msk) | (1U << SYSCFG_CFGR1_MEM_MODE_Pos);"
                 "  /* 0x0 = system flash */"),
    "PRIMASK": "__enable_irq();                /* or leave PRIMASK as reset left it: 0 */",
    "CONTROL.SPSEL+PSP": "__set_CONTROL(0U);             /* back to MSP before the branch */\n__ISB();",
    "IPSR": ("/* do not jump from an interrupt handler: set a flag there and jump from main(),\n"
             "   or better, set a RAM flag and reset (NVIC_SystemReset()), then jump first thing */"),
    "FLASH_CR.LOCK": "FLASH->CR |= FLASH_CR_LOCK;    /* lock the flash before the jump */",
    "FLASH_SR errors": f"FLASH->SR = {FLASH_SR_ERRORS};   /* rc_w1: clear stale error flags */",
    "FLASH_SR.CFGBSY": ("/* a stray store into locked flash left a half-written double word: find the wild write;\n"
                        "   only a reset clears CFGBSY - jump through a reset (NVIC_SystemReset()) */"),
    "SysTick": "SysTick->CTRL = 0U;\nSysTick->LOAD = 0U;\nSysTick->VAL = 0U;",
    "USB": ("RCC->APBRSTR1 |= RCC_APBRSTR1_USBRST | RCC_APBRSTR1_CRSRST;     /* reset USB and CRS */\n"
            "RCC->APBRSTR1 &= ~(RCC_APBRSTR1_USBRST | RCC_APBRSTR1_CRSRST);"),
    "CRS": "RCC->APBRSTR1 |= RCC_APBRSTR1_CRSRST;\nRCC->APBRSTR1 &= ~RCC_APBRSTR1_CRSRST;",
    "IWDG": ("/* the IWDG cannot be stopped once started: jump through a reset (a RAM flag, then\n"
             "   NVIC_SystemReset()); the watchdog is off again after the reset */"),
    "FLASH.ACR": "FLASH->ACR &= ~FLASH_ACR_LATENCY_Msk;   /* after lowering the clock */",
    "RCC.CR": "RCC->CR = 0x00001540U;         /* HSISYS = 12 MHz, HSIUSB48 off (reset value) */",
    "RCC.CFGR": "RCC->CFGR = 0U;\nwhile ((RCC->CFGR & RCC_CFGR_SWS_Msk) != 0U) {}",
}

HAL = {
    "MEM_MODE": "__HAL_RCC_SYSCFG_CLK_ENABLE();\n__HAL_SYSCFG_REMAPMEMORY_SYSTEMFLASH();",
    "FLASH_CR.LOCK": "HAL_FLASH_Lock();",
    "FLASH_SR errors": "__HAL_FLASH_CLEAR_FLAG(FLASH_FLAG_ALL_ERRORS);",
    "SysTick": "HAL_SuspendTick();\nSysTick->CTRL = 0U;\nSysTick->LOAD = 0U;\nSysTick->VAL = 0U;",
    "USB": "__HAL_RCC_USB_FORCE_RESET();\n__HAL_RCC_CRS_FORCE_RESET();\n__HAL_RCC_USB_RELEASE_RESET();\n"
           "__HAL_RCC_CRS_RELEASE_RESET();",
    "CRS": "__HAL_RCC_CRS_FORCE_RESET();\n__HAL_RCC_CRS_RELEASE_RESET();",
    "RCC.CR": "HAL_RCC_DeInit();",
    "RCC.CFGR": "HAL_RCC_DeInit();",
    "FLASH.ACR": "__HAL_FLASH_SET_LATENCY(FLASH_LATENCY_0);",
}

LL = {
    "MEM_MODE": ("LL_APB2_GRP1_EnableClock(LL_APB2_GRP1_PERIPH_SYSCFG);\n"
                 "LL_SYSCFG_SetRemapMemory(LL_SYSCFG_REMAP_SYSTEMFLASH);"),
    "FLASH.ACR": "LL_FLASH_SetLatency(LL_FLASH_LATENCY_0);",
    "SysTick": "LL_SYSTICK_DisableIT();\nSysTick->CTRL = 0U;\nSysTick->LOAD = 0U;\nSysTick->VAL = 0U;",
    "USB": "LL_APB1_GRP1_ForceReset(LL_APB1_GRP1_PERIPH_USB | LL_APB1_GRP1_PERIPH_CRS);\n"
           "LL_APB1_GRP1_ReleaseReset(LL_APB1_GRP1_PERIPH_USB | LL_APB1_GRP1_PERIPH_CRS);",
    "CRS": "LL_APB1_GRP1_ForceReset(LL_APB1_GRP1_PERIPH_CRS);\nLL_APB1_GRP1_ReleaseReset(LL_APB1_GRP1_PERIPH_CRS);",
}

# Peripherals whose registers a generic fix may name (the stand-in header declares them all).
HEADER_PERIPHERALS = {"RCC", "FLASH", "SYSCFG", "PWR", "CRS", "IWDG", "GPIOA", "GPIOB", "GPIOC", "GPIOD",
                      "GPIOF", "USART1", "USART2"}
CMSIS_REGISTER_NAMES = {"GPIO.AFRL": "AFR[0]", "GPIO.AFRH": "AFR[1]"}


def irq_name(irq: int) -> str:
    return f"{c071.IRQ_NAMES.get(irq, f'IRQ{irq}')}_IRQn"


def nvic_fix(irq: int, style: str = "cmsis") -> str:
    name = irq_name(irq)
    if style == "hal":
        return f"HAL_NVIC_DisableIRQ({name});\nHAL_NVIC_ClearPendingIRQ({name});"
    return f"NVIC_DisableIRQ({name});\nNVIC_ClearPendingIRQ({name});"


def register_fix(key: str, value: int, style: str = "cmsis", writable: bool = True) -> str:
    """Put one register back to its value after a reset (the reference's value)."""
    if key in CMSIS:
        return fix_for(key, style)
    periph, reg = key.split(".", 1)
    if not writable:
        return f"/* {periph} {reg} is read-only: it follows other state (see the other items) */"
    if periph not in HEADER_PERIPHERALS:
        return f"/* put {periph} {reg} back to 0x{value:08X} (its value after a reset) */"
    family = "GPIO" if periph.startswith("GPIO") else periph
    reg = CMSIS_REGISTER_NAMES.get(f"{family}.{reg}", reg)
    return f"{periph}->{reg} = 0x{value:08X}U;   /* its value after a reset */"


def fix_for(key: str, style: str = "cmsis") -> str:
    """The snippet for an item key (not NVIC IRQn or a plain register: see above)."""
    if style not in STYLES:
        raise ValueError(f"unknown fix style {style!r} (cmsis, hal or ll)")
    own = {"hal": HAL, "ll": LL}.get(style, {})
    return own.get(key) or CMSIS[key]
