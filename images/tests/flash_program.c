/*
 * flash_program - the mini flash driver end to end: unlock, erase page 40, program
 * eight double words, fast-program one 256-byte row of page 41 (after erasing it),
 * verify both by reading back, lock.  Prints "erase, program, fast program verified\n"
 * and exits 0; any error flag or mismatch prints what failed and exits 1.
 */
#include "flash_driver.h"
#include "semihost.h"

#define PAGE      40u
#define ADDRESS   (FLASH_MEM_BASE + PAGE * FLASH_PAGE_SIZE)
#define ROW       (FLASH_MEM_BASE + (PAGE + 1u) * FLASH_PAGE_SIZE)

static uint32_t row_words[FLASH_ROW_SIZE / 4u];

int main(void)
{
    if (flash_unlock() != 0) {
        sh_write0("FAIL: unlock\n");
        return 1;
    }
    if (flash_erase_page(PAGE) || flash_erase_page(PAGE + 1u)) {
        sh_write0("FAIL: erase\n");
        return 1;
    }
    for (uint32_t i = 0; i < 8; i++) {
        if (flash_program_dword(ADDRESS + 8u * i, 0xC0710000u + i, ~(0xC0710000u + i))) {
            sh_write0("FAIL: program\n");
            return 1;
        }
    }
    for (uint32_t i = 0; i < FLASH_ROW_SIZE / 4u; i++) {
        row_words[i] = 0xFA570000u + i;
    }
    if (flash_program_row(ROW, row_words)) {
        sh_write0("FAIL: fast program\n");
        return 1;
    }
    flash_lock();
    for (uint32_t i = 0; i < 8; i++) {
        if (REG32(ADDRESS + 8u * i) != 0xC0710000u + i || REG32(ADDRESS + 8u * i + 4u) != ~(0xC0710000u + i)) {
            sh_write0("FAIL: verify program\n");
            return 1;
        }
    }
    for (uint32_t i = 0; i < FLASH_ROW_SIZE / 4u; i++) {
        if (REG32(ROW + 4u * i) != 0xFA570000u + i) {
            sh_write0("FAIL: verify row\n");
            return 1;
        }
    }
    sh_write0("erase, program, fast program verified\n");
    return 0;
}
