/*
 * flash_erase_all - erases all 64 pages from SRAM, polling BSY1 as a ROM bootloader
 * does while it runs from system memory.  Semihosting is done inline from SRAM
 * because the flash copy of the library is erased.  Exits 0 when every page reads
 * back erased, 1 otherwise.  Used by the benchmark: 64 x 22 ms of simulated erase
 * must cost wall time in proportion to the polling, not to the erase time.
 */
#include "flash_driver.h"

RAMFUNC void erase_everything(void)
{
    uint32_t status = 0;
    flash_unlock();
    for (unsigned page = 0; page < 64u; page++) {
        status |= flash_erase_page(page);
    }
    for (uint32_t a = FLASH_MEM_BASE; a < FLASH_MEM_BASE + 64u * FLASH_PAGE_SIZE; a += 4u) {
        if (REG32(a) != 0xFFFFFFFFu) {
            status |= 1u;
        }
    }
    register uint32_t op __asm__("r0") = 0x18;                           /* SYS_EXIT */
    register uint32_t reason __asm__("r1") = status ? 0x20024u : 0x20026u;
    __asm__ volatile("bkpt 0xAB" : : "r"(op), "r"(reason) : "memory");
    for (;;) {
    }
}

int main(void)
{
    void (*volatile in_sram)(void) = erase_everything;
    in_sram();
    return 1;
}
