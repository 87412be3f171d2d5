/*
 * flash_options - option-byte programming: on the first boot it unlocks FLASH_CR and
 * the options, clears nBOOT_SEL in FLASH_OPTR, starts OPTSTRT, waits, and sets
 * OBL_LAUNCH, which reloads the option bytes and resets the chip (RM0490 §4.4).  On
 * the boot after that reset RCC_CSR2.OBLRSTF is set and OPTR shows nBOOT_SEL = 0:
 * prints "option bytes reloaded by OBL_LAUNCH\n" and exits 0.
 */
#include "flash_driver.h"
#include "semihost.h"

#define RCC_CSR2_OBLRSTF (1u << 25)
#define OPTR_NBOOT_SEL   (1u << 24)

int main(void)
{
    if (RCC_CSR2 & RCC_CSR2_OBLRSTF) {
        if (FLASH_OPTR & OPTR_NBOOT_SEL) {
            sh_write0("FAIL: nBOOT_SEL still set after OBL_LAUNCH\n");
            return 1;
        }
        sh_write0("option bytes reloaded by OBL_LAUNCH\n");
        return 0;
    }
    if (flash_unlock() || flash_unlock_options()) {
        sh_write0("FAIL: unlock\n");
        return 1;
    }
    FLASH_OPTR &= ~OPTR_NBOOT_SEL;
    FLASH_CR |= FLASH_CR_OPTSTRT;
    if (flash_wait()) {
        sh_write0("FAIL: option programming error\n");
        return 1;
    }
    sh_write0("option bytes programmed, launching\n");
    FLASH_CR |= FLASH_CR_OBL_LAUNCH;
    for (;;) {
    }
}
