/*
 * trigger_never - an application that contains the forum's jump function but never
 * calls it: HAL-style init, SysTick ticking at 1 kHz, the main loop sleeping in WFI.
 * The target of the `call:jump_to_bootloader` trigger, which makes the core call the
 * function as if a trigger had fired.  jump_to_bootloader is kept by the linker
 * (--require-defined) although nothing here refers to it.
 */
#include "trigger.h"
#include "semihost.h"

int main(void)
{
    trigger_system_init();
    sh_write0("trigger_never: running\n");
    for (;;) {
        __asm__ volatile("wfi");
    }
}
