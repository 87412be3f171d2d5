/*
 * jump_clock_48mhz - a clean jump, except that the clock tree is left as the
 * application set it: HSISYS = 48 MHz (HSIDIV = /1) with one flash wait state, which
 * the RCC de-initialisation of a vendor HAL does not undo (FACTS §4.3, §9 row 7).
 */
#include "app.h"

void jump_to_bootloader(void)
{
    clean_jump(SKIP_CLOCK_RESTORE);
}
