/*
 * jump_iwdg - a clean jump, except that the application started the independent
 * watchdog (it cannot be stopped once started, RM0490 §21) with a period of
 * 250 ms (FACTS §9 row 9).
 */
#include "app.h"

void jump_to_bootloader(void)
{
    IWDG_KR = IWDG_KEY_START;
    IWDG_KR = IWDG_KEY_UNLOCK;
    IWDG_PR = 2;                               /* /16: 0.5 ms per count at 32 kHz */
    IWDG_RLR = 499;                            /* 250 ms */
    while (IWDG_SR) {
    }
    IWDG_KR = IWDG_KEY_RELOAD;
    clean_jump(0);
}
