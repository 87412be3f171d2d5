/*
 * jump_stale_flash_error - a clean jump, except that FLASH_SR still holds PROGERR
 * from a failed write of the application's own (a double word programmed twice in a
 * settings page), with the flags not cleared before the jump (FACTS §9 row 2).
 */
#include "app.h"
#include "flash_driver.h"

#define SETTINGS (FLASH_MEM_BASE + 63u * FLASH_PAGE_SIZE)

void jump_to_bootloader(void)
{
    flash_unlock();
    flash_erase_page(63);
    flash_program_dword(SETTINGS, 0x5E771465u, 0x00000001u);
    FLASH_CR |= FLASH_CR_PG;                  /* the same double word again, without the driver: PROGERR */
    REG32(SETTINGS) = 0x5E771465u;
    REG32(SETTINGS + 4u) = 0x00000002u;
    while (FLASH_SR & FLASH_SR_CFGBSY) {
    }
    FLASH_CR &= ~FLASH_CR_PG;
    clean_jump(SKIP_FLASH_SR_CLEAR);
}
