/*
 * jump_cfgbsy - a clean jump, except that the application made one stray 32-bit
 * store into locked flash (a wild pointer), which leaves CFGBSY set until a whole
 * double word has been sent (RM0490 §4.7.4; FACTS §9 row 3).  The jump must not
 * touch FLASH_CR itself, which would fault while CFGBSY is set.
 */
#include "app.h"
#include "flash_driver.h"

void jump_to_bootloader(void)
{
    REG32(FLASH_MEM_BASE + 63u * FLASH_PAGE_SIZE) = 0x12345678u;
    clean_jump(SKIP_FLASH_SR_CLEAR | SKIP_FLASH_LOCK);
}
