/*
 * jump_flash_unlocked - a clean jump, except that FLASH_CR is left unlocked (an
 * application that updates a settings page unlocks the flash and jumps before
 * locking it again).  A bootloader that writes the keys without checking LOCK meets
 * an already-unlocked interface (FACTS §3.2, §9 row 1).
 */
#include "app.h"
#include "flash_driver.h"

void jump_to_bootloader(void)
{
    flash_unlock();
    clean_jump(SKIP_FLASH_LOCK);
}
