/*
 * usart_bl - a USART-only stand-in for the reference system bootloader: links the
 * AN3155 protocol (../bootloader/an3155.c) and the shared flash helpers
 * (../bootloader/bl_flash.c) with a minimal main, at 0x1FFF0000 like the real one.
 * Used by tests/test_an3155*.py while images/bootloader has no AN3155 build of its own.
 *
 * main: SysTick 1 ms at the 12 MHz reset clock (the bl_ticks timebase of bl_flash.c),
 * prints "an3155 ready" (semihosting, test image only), then polls an3155_poll()
 * for ever.  bl_leave() here returns USART1/USART2, GPIOA and SysTick to their
 * reset state, loads MSP from [address] and branches to [address + 4].
 */
#include "bl.h"
#include "an3155.h"
#include "semihost.h"

#define RCC_IOPRSTR  REG32(0x40021024u)
#define RCC_APBRSTR1 REG32(0x4002102Cu)
#define RCC_APBRSTR2 REG32(0x40021030u)
#define RCC_IOPENR_R REG32(0x40021034u)
#define USART2_BIT   (1u << 17)
#define USART1_BIT   (1u << 14)

volatile uint32_t bl_ticks;

void SysTick_Handler(void)
{
    bl_ticks++;
}

void bl_system_reset(void)
{
    barrier();
    SCB_AIRCR = SCB_AIRCR_RESET_REQ;
    for (;;)
        ;
}

void bl_leave(uint32_t address)
{
    uint32_t sp = REG32(address), pc = REG32(address + 4u);
    if (!(pc & 1u) || pc == 0xFFFFFFFFu)
        bl_system_reset();
    SYST_CTRL = 0;
    SCB_ICSR = SCB_ICSR_PENDSTCLR;
    RCC_APBRSTR1 = USART2_BIT;                     /* peripherals used back to reset values */
    RCC_APBRSTR1 = 0;
    RCC_APBRSTR2 = USART1_BIT;
    RCC_APBRSTR2 = 0;
    RCC_IOPRSTR = 1u;                              /* GPIOA */
    RCC_IOPRSTR = 0;
    RCC_APBENR1 &= ~USART2_BIT;
    RCC_APBENR2 &= ~USART1_BIT;
    RCC_IOPENR_R &= ~1u;
    __asm__ volatile("msr msp, %0\n\tbx %1" : : "r"(sp), "r"(pc) : "memory");
    for (;;)
        ;
}

int main(void)
{
    SYST_LOAD = BL_ASSUMED_HCLK_HZ / 1000u - 1u;
    SYST_VAL = 0;
    SYST_CTRL = SYST_CTRL_ENABLE | SYST_CTRL_TICKINT | SYST_CTRL_HCLK;
    an3155_init();
    sh_write0("an3155 ready\n");
    for (;;)
        an3155_poll();
}
