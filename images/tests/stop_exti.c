/*
 * stop_exti - Stop mode woken by the button on PC13 (EXTI line 13, falling
 * edge, IRQ 7), the sequence of HAL_PWR_EnterSTOPMode(.., PWR_STOPENTRY_WFI)
 * on the C0: PWR_CR1.LPMS = 000, SCB_SCR.SLEEPDEEP = 1, wfi, SLEEPDEEP = 0.
 * Before: a 1 ms SysTick with its interrupt left running (ticks counts them)
 * and SYSCLK switched to HSIUSB48. In Stop HCLK stops, so SysTick must not
 * count however long the chip sleeps; after the wake-up SYSCLK must be
 * HSISYS again (RCC_CFGR.SWS = 000). Prints "woke from Stop: ticks +N, SWS=S\n"
 * and exits 0 when N <= 1, S = 0 and the EXTI handler ran; 1 otherwise.
 */
#include "c071_lowpower.h"
#include "semihost.h"

#define BUTTON_PIN 13u

volatile uint32_t ticks;
volatile uint32_t button;

void SysTick_Handler(void)
{
    ticks++;
}

void IRQ7_Handler(void)                       /* EXTI4_15 */
{
    if (EXTI_FPR1 & (1u << BUTTON_PIN)) {
        EXTI_FPR1 = 1u << BUTTON_PIN;
        button++;
    }
}

static void sysclk_hsiusb48(void)
{
    RCC_CR |= RCC_CR_HSIUSB48ON;
    while (!(RCC_CR & RCC_CR_HSIUSB48RDY))
        ;
    FLASH_ACR = (FLASH_ACR & ~FLASH_ACR_LATENCY_MASK) | 1u;       /* 1 wait state for 48 MHz */
    while ((FLASH_ACR & FLASH_ACR_LATENCY_MASK) != 1u)
        ;
    RCC_CFGR = (RCC_CFGR & ~RCC_CFGR_SW_MASK) | RCC_CFGR_SW_HSIUSB48;
    while (((RCC_CFGR & RCC_CFGR_SWS_MASK) >> RCC_CFGR_SWS_SHIFT) != RCC_CFGR_SW_HSIUSB48)
        ;
}

int main(void)
{
    RCC_IOPENR |= RCC_IOPENR_GPIOCEN;
    RCC_APBENR1 |= RCC_APBENR1_PWREN;
    sysclk_hsiusb48();

    SYST_LOAD = 48000 - 1;                     /* 1 ms at 48 MHz */
    SYST_VAL = 0;
    SYST_CTRL = SYST_CTRL_HCLK | SYST_CTRL_TICKINT | SYST_CTRL_ENABLE;

    GPIO_PUPDR(GPIOC_BASE) &= ~(3u << (2 * BUTTON_PIN));
    GPIO_MODER(GPIOC_BASE) &= ~(3u << (2 * BUTTON_PIN));
    uint32_t cr = EXTI_EXTICR(BUTTON_PIN >> 2);
    cr &= ~(0xFFu << (8 * (BUTTON_PIN & 3)));
    EXTI_EXTICR(BUTTON_PIN >> 2) = cr | EXTI_PORT_C << (8 * (BUTTON_PIN & 3));
    EXTI_FTSR1 |= 1u << BUTTON_PIN;
    EXTI_IMR1 |= 1u << BUTTON_PIN;
    NVIC_ISER = 1u << IRQ_EXTI4_15;

    while (ticks < 5)                          /* let SysTick show it runs */
        __asm__ volatile("wfi");

    uint32_t before = ticks;
    PWR_CR1 = (PWR_CR1 & ~PWR_CR1_LPMS_MASK) | PWR_LPMS_STOP;
    SCB_SCR |= SCB_SCR_SLEEPDEEP;
    __asm__ volatile("wfi");
    SCB_SCR &= ~SCB_SCR_SLEEPDEEP;
    uint32_t after = ticks;
    uint32_t sws = (RCC_CFGR & RCC_CFGR_SWS_MASK) >> RCC_CFGR_SWS_SHIFT;

    SYST_CTRL = 0;
    sh_write0("woke from Stop: ticks +");
    sh_puthex(after - before);
    sh_write0(", SWS=");
    sh_puthex(sws);
    sh_write0("\n");
    if (!button)
        sh_fail("EXTI handler did not run");
    if (after - before > 1)
        sh_fail("SysTick counted in Stop");
    if (sws != 0)
        sh_fail("SYSCLK is not HSISYS after Stop");
    return 0;
}
