/*
 * systick - SysTick with interrupts: LOAD = 999, VAL = 0, then CTRL = 7
 * (processor clock, TICKINT, ENABLE) written by an inline-asm str that is
 * immediately followed by the global label systick_enabled_at. The test
 * harness breaks at SysTick_Handler and measures cycles since that label
 * (first tick expected 1000 cycles after the enable, period 1000 cycles).
 * SysTick_Handler increments tick_count; main sleeps with wfi until 10 ticks,
 * disables SysTick, prints "10 ticks\n" and exits 0.
 */
#include "c071.h"
#include "semihost.h"

volatile uint32_t tick_count;

void SysTick_Handler(void)
{
    tick_count++;
}

int main(void)
{
    SYST_LOAD = 999;
    SYST_VAL = 0;
    __asm__ volatile(
        "str %1, [%0]\n"
        ".global systick_enabled_at\n"
        "systick_enabled_at:\n"
        :
        : "l"(&SYST_CTRL),
          "l"(SYST_CTRL_HCLK | SYST_CTRL_TICKINT | SYST_CTRL_ENABLE)
        : "memory");
    while (tick_count < 10)
        __asm__ volatile("wfi");
    SYST_CTRL = 0;
    sh_write0("10 ticks\n");
    return 0;
}
