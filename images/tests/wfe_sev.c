/*
 * wfe_sev - the event register (ARMv6-M B1.5.18): after `sev`, one `wfe` returns
 * at once and clears it; a second `wfe` sleeps until an exception entry sets it
 * again - here the SysTick interrupt 1 ms later (12 MHz, LOAD = 11999).  Prints
 * "wfe woke by SysTick\n" and exits 0 when the handler ran before main resumed.
 */
#include "c071.h"
#include "semihost.h"

static volatile uint32_t ticks;

void SysTick_Handler(void)
{
    ticks++;
    SYST_CTRL = 0;
}

int main(void)
{
    __asm__ volatile("sev\n\twfe" ::: "memory");     /* must not sleep */
    SYST_LOAD = 11999;
    SYST_VAL = 0;
    SYST_CTRL = SYST_CTRL_HCLK | SYST_CTRL_TICKINT | SYST_CTRL_ENABLE;
    __asm__ volatile("wfe" ::: "memory");            /* sleeps until the SysTick exception */
    if (ticks != 1) {
        sh_write0("FAIL: wfe returned before SysTick\n");
        return 1;
    }
    sh_write0("wfe woke by SysTick\n");
    return 0;
}
