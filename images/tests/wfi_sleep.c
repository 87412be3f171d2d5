/*
 * wfi_sleep - sleeping through SysTick interrupts at the 12 MHz reset clock:
 * LOAD = 11999 (1 ms), CTRL = 7 (processor clock, TICKINT, ENABLE); main
 * waits with wfi until SysTick_Handler has counted 100 ticks, disables
 * SysTick, prints "slept 100 ms\n" and exits 0. Exercises wfi wake-up and
 * idle fast-forwarding (100 ms of simulated time = 1.2 M cycles).
 */
#include "c071.h"
#include "semihost.h"

volatile uint32_t ticks;

void SysTick_Handler(void)
{
    ticks++;
}

int main(void)
{
    SYST_LOAD = 11999;
    SYST_VAL = 0;
    SYST_CTRL = SYST_CTRL_HCLK | SYST_CTRL_TICKINT | SYST_CTRL_ENABLE;
    while (ticks < 100)
        __asm__ volatile("wfi");
    SYST_CTRL = 0;
    sh_write0("slept 100 ms\n");
    return 0;
}
