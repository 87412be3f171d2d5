/*
 * iwdg - independent watchdog reset (RM0490 §24). If RCC_CSR2.IWDGRSTF is
 * set, print "reset by IWDG\n" and exit 0. Otherwise start the watchdog
 * (KR = 0xCCCC), unlock PR/RLR (KR = 0x5555), PR = 0 (LSI/4), RLR = 99, wait
 * until SR reads 0 (updates done), reload (KR = 0xAAAA), print
 * "watchdog started\n" and sleep in wfi forever: the IWDG must reset the chip
 * after (99+1)*4/32 kHz = 12.5 ms, and the second boot then exits 0.
 */
#include "c071.h"
#include "semihost.h"

int main(void)
{
    if (RCC_CSR2 & RCC_CSR2_IWDGRSTF) {
        sh_write0("reset by IWDG\n");
        return 0;
    }
    IWDG_KR = IWDG_KEY_START;
    IWDG_KR = IWDG_KEY_UNLOCK;
    IWDG_PR = 0;
    IWDG_RLR = 99;
    while (IWDG_SR != 0)
        ;
    IWDG_KR = IWDG_KEY_RELOAD;
    sh_write0("watchdog started\n");
    for (;;)
        __asm__ volatile("wfi");
}
