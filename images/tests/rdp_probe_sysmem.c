/*
 * rdp_probe_sysmem - a system-memory image that reads main flash.  With RDP level 1
 * and a boot from system memory, main flash is inaccessible (RM0490 §4.5.1): the
 * read is a bus error.  HardFault_Handler prints "flash read refused under RDP1\n"
 * and exits 45; with RDP level 0 the read succeeds, prints "flash readable\n" and
 * exits 0.
 */
#include "c071.h"
#include "semihost.h"

void HardFault_Handler(void)
{
    sh_write0("flash read refused under RDP1\n");
    sh_exit(45);
}

int main(void)
{
    volatile uint32_t word = REG32(FLASH_MEM_BASE);
    (void)word;
    sh_write0("flash readable\n");
    return 0;
}
