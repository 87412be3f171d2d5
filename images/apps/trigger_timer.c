/*
 * trigger_timer - jumps to the system bootloader by itself, 50 ms after boot: HAL-style
 * init, then HAL_Delay(50) on the SysTick tick (a busy wait on the tick counter, one
 * tick added so that at least 50 full ticks pass, as HAL_Delay does), then the forum's
 * v1 jump.  The firmware of a "wait a moment for a host, else enter DFU" pattern.
 */
#include "trigger.h"
#include "semihost.h"

#define JUMP_AFTER_MS 50u

static void delay_on_tick(uint32_t ms)
{
    uint32_t start = hal_ticks;
    ms += 1u;                                   /* a minimum wait: the current tick is partial */
    while (hal_ticks - start < ms) {
    }
}

int main(void)
{
    trigger_system_init();
    sh_write0("trigger_timer: jumping in 50 ms\n");
    delay_on_tick(JUMP_AFTER_MS);
    jump_to_bootloader();
    sh_write0("trigger_timer: the bootloader returned\n");
    return 1;
}
