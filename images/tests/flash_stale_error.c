/*
 * flash_stale_error - programs a double word that is not erased (PROGERR) and then,
 * without clearing the flags, starts a page erase the way code that skips the
 * "wait and clear errors" step does.  RM0490 §4.3.6: the erase must not start and
 * PGSERR must be set.  Prints "stale PROGERR made the erase fail with PGSERR\n" and
 * exits 0; the page must still hold its data.
 */
#include "flash_driver.h"
#include "semihost.h"

#define PAGE     50u
#define ADDRESS  (FLASH_MEM_BASE + PAGE * FLASH_PAGE_SIZE)

int main(void)
{
    flash_unlock();
    flash_erase_page(PAGE);
    flash_program_dword(ADDRESS, 0x11111111u, 0x22222222u);
    /* program the same, non-erased double word again without the driver: PROGERR */
    FLASH_CR |= FLASH_CR_PG;
    REG32(ADDRESS) = 0x33333333u;
    REG32(ADDRESS + 4u) = 0x44444444u;
    while (FLASH_SR & FLASH_SR_CFGBSY) {
    }
    FLASH_CR &= ~FLASH_CR_PG;
    if (!(FLASH_SR & FLASH_SR_PROGERR)) {
        sh_write0("FAIL: no PROGERR\n");
        return 1;
    }
    /* erase without clearing the flags first */
    FLASH_CR = (FLASH_CR & ~FLASH_CR_PNB_MASK) | FLASH_CR_PER | (PAGE << FLASH_CR_PNB_SHIFT);
    FLASH_CR |= FLASH_CR_STRT;
    while (FLASH_SR & FLASH_SR_BSY1) {
    }
    if (!(FLASH_SR & FLASH_SR_PGSERR) || REG32(ADDRESS) != 0x11111111u) {
        sh_write0("FAIL: erase was not refused with PGSERR\n");
        return 1;
    }
    sh_write0("stale PROGERR made the erase fail with PGSERR\n");
    return 0;
}
