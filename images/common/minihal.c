/* minihal.c - see minihal.h. */
#include "minihal.h"

#define RCC_ICSCR     REG32(RCC_BASE + 0x04)
#define RCC_CIER      REG32(RCC_BASE + 0x18)
#define RCC_CICR      REG32(RCC_BASE + 0x20)
#define RCC_CR_HSEON  (1u << 16)
#define RCC_CR_HSERDY (1u << 17)
#define RCC_CR_HSEBYP (1u << 18)
#define HSI_TIMEOUT_MS      2u
#define CLOCK_SWITCH_MS     5000u
#define SHPR3_SYSTICK_LOWEST (3u << 30)

volatile uint32_t hal_ticks;
uint32_t system_core_clock = 12000000u;      /* SYSCLK after reset: HSI48 / 4 (RM0490 §6.2) */

void SysTick_Handler(void)
{
    hal_ticks++;
}

void hal_init_tick(void)
{
    SYST_LOAD = system_core_clock / 1000u - 1u;
    SYST_VAL = 0;
    SYST_CTRL = SYST_CTRL_HCLK | SYST_CTRL_TICKINT | SYST_CTRL_ENABLE;
}

void hal_init(void)
{
    SCB_SHPR3 = (SCB_SHPR3 & ~(3u << 30)) | SHPR3_SYSTICK_LOWEST;
    hal_init_tick();
}

void hal_delay_ms(uint32_t ms)
{
    uint32_t start = hal_ticks;
    while (hal_ticks - start < ms) {
        __asm__ volatile("wfi");
    }
}

void hal_clock_48mhz(void)
{
    FLASH_ACR = (FLASH_ACR & ~FLASH_ACR_LATENCY_MASK) | 1u;
    while ((FLASH_ACR & FLASH_ACR_LATENCY_MASK) != 1u) {
    }
    RCC_CR &= ~RCC_CR_HSIDIV_MASK;                 /* HSIDIV = /1: HSISYS = 48 MHz */
    while (!(RCC_CR & RCC_CR_HSIRDY)) {
    }
    system_core_clock = 48000000u;
    hal_init_tick();
}

/* The clock de-initialisation a vendor HAL performs (FACTS §4.3): HSI on, trim to
 * default, SYSCLK back to HSISYS with no prescalers, HSE off, clock interrupts off,
 * then the tick re-armed for a 48 MHz core clock.  HSIDIV, SYSDIV, peripheral
 * clocks, resets and FLASH latency are left as they are. */
int hal_rcc_deinit(void)
{
    uint32_t start = hal_ticks;
    RCC_CR |= RCC_CR_HSION;
    while (!(RCC_CR & RCC_CR_HSIRDY)) {
        if (hal_ticks - start > HSI_TIMEOUT_MS)
            return -1;
    }
    RCC_ICSCR = 0x00004000u;
    start = hal_ticks;
    RCC_CFGR = 0;
    while (RCC_CFGR & RCC_CFGR_SWS_MASK) {
        if (hal_ticks - start > CLOCK_SWITCH_MS)
            return -1;
    }
    RCC_CR &= ~RCC_CR_HSEON;
    while (RCC_CR & RCC_CR_HSERDY) {
    }
    RCC_CR &= ~RCC_CR_HSEBYP;
    RCC_CIER = 0;
    RCC_CICR = 0xFFFFFFFFu;
    system_core_clock = 48000000u;
    hal_init_tick();
    return 0;
}

void hal_system_reset(void)
{
    __asm__ volatile("dsb" ::: "memory");
    SCB_AIRCR = 0x05FA0004u;
    __asm__ volatile("dsb" ::: "memory");
    for (;;) {
    }
}
