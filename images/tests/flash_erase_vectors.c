/*
 * flash_erase_vectors - code running from SRAM erases page 0, which holds the vector
 * table (VTOR = 0x08000000), then lets SysTick fire.  The SysTick vector now reads
 * 0xFFFFFFFF: the fetch from 0xFFFFFFFE faults, the HardFault vector is erased too,
 * and the core locks up.  This is the mechanism by which a bootloader entered with
 * the application's VTOR loses itself when page 0 is erased.  No exit is expected:
 * the emulator must report a lockup.
 */
#include "flash_driver.h"
#include "semihost.h"

RAMFUNC void erase_page0_then_tick(void)
{
    flash_unlock();
    flash_erase_page(0);
    SYST_LOAD = 99;
    SYST_VAL = 0;
    SYST_CTRL = SYST_CTRL_HCLK | SYST_CTRL_TICKINT | SYST_CTRL_ENABLE;
    for (;;) {
    }
}

int main(void)
{
    void (*volatile in_sram)(void) = erase_page0_then_tick;
    in_sram();
    return 1;
}
