/*
 * flash_pcrop - PCROP zone A covers subpages 16-17 (0x08002000-0x080023FF; the test
 * sets the option bytes).  A data read there must read 0 and set FLASH_SR.RDERR; the
 * next subpage (0x08002400, holding 0xC0DEC0DE written by the test) reads normally;
 * erasing page 4, which holds the zone, must fail with WRPERR.  Prints
 * "PCROP: read 0 with RDERR, erase refused\n" and exits 0.
 */
#include "flash_driver.h"
#include "semihost.h"

#define FLASH_SR_RDERR (1u << 14)

int main(void)
{
    uint32_t protected_word = REG32(0x08002000u);
    if (protected_word != 0 || !(FLASH_SR & FLASH_SR_RDERR)) {
        sh_write0("FAIL: PCROP read was not refused\n");
        return 1;
    }
    FLASH_SR = FLASH_SR_RDERR;
    if (REG32(0x08002400u) != 0xC0DEC0DEu) {
        sh_write0("FAIL: unprotected neighbour unreadable\n");
        return 1;
    }
    flash_unlock();
    if (!(flash_erase_page(4) & FLASH_SR_WRPERR)) {
        sh_write0("FAIL: erase of a PCROP page was not refused\n");
        return 1;
    }
    sh_write0("PCROP: read 0 with RDERR, erase refused\n");
    return 0;
}
