/*
 * remap - checks the boot alias at 0x00000000 and SYSCFG_CFGR1.MEM_MODE
 * (RM0490 §3.1, §9.1.1). (a) After a flash boot the words at 0x0/0x4 equal
 * those at 0x08000000/0x08000004. (b) With RCC_APBENR2.SYSCFGEN still 0 a
 * write of MEM_MODE = 01 has no effect (RM0490 §6.2.15), so 0x4 still shows
 * flash. (c) With SYSCFGEN set, MEM_MODE = 01 maps system memory
 * (0x1FFF0000) at 0x0. (d) MEM_MODE = 11 maps SRAM: the marker word at
 * 0x20000000 (a .noinit variable, first in RAM) reads back at 0x0.
 * (e) MEM_MODE = 00 restores flash. Prints a line per step; exits 0 if all
 * pass, else prints the failing check and exits 1.
 * Built with -fno-delete-null-pointer-checks; reads also go through rd32(),
 * which hides the constant address from the optimiser.
 */
#include "c071.h"
#include "semihost.h"

volatile uint32_t ram_marker __attribute__((section(".noinit")));

static uint32_t rd32(uintptr_t addr)
{
    __asm__ volatile("" : "+r"(addr));
    return *(volatile uint32_t *)addr;
}

static void check(int ok, const char *what)
{
    if (!ok)
        sh_fail(what);
}

static void set_mem_mode(uint32_t mode)
{
    SYSCFG_CFGR1 = (SYSCFG_CFGR1 & ~SYSCFG_MEM_MODE_MASK) | mode;
    barrier();
}

int main(void)
{
    /* (a) booted from flash */
    check(rd32(0x0) == rd32(FLASH_MEM_BASE), "0x0 == 0x08000000 after boot");
    check(rd32(0x4) == rd32(FLASH_MEM_BASE + 4), "0x4 == 0x08000004 after boot");
    sh_write0("flash at 0x0\n");

    /* (b) SYSCFG clock off: the write is not effective */
    check((RCC_APBENR2 & RCC_APBENR2_SYSCFGEN) == 0, "SYSCFGEN clear at reset");
    SYSCFG_CFGR1 = SYSCFG_MEM_MODE_SYSMEM;
    barrier();
    check(rd32(0x4) == rd32(FLASH_MEM_BASE + 4), "remap ignored without SYSCFGEN");
    sh_write0("remap ignored without SYSCFGEN\n");

    /* (c) system memory at 0x0 */
    RCC_APBENR2 |= RCC_APBENR2_SYSCFGEN;
    (void)RCC_APBENR2;                 /* let the enable take effect */
    set_mem_mode(SYSCFG_MEM_MODE_SYSMEM);
    check((SYSCFG_CFGR1 & SYSCFG_MEM_MODE_MASK) == SYSCFG_MEM_MODE_SYSMEM,
          "MEM_MODE reads back 01");
    check(rd32(0x0) == rd32(SYSMEM_BASE), "0x0 == 0x1FFF0000");
    check(rd32(0x4) == rd32(SYSMEM_BASE + 4), "0x4 == 0x1FFF0004");
    sh_write0("system memory at 0x0\n");

    /* (d) SRAM at 0x0 */
    check((uintptr_t)&ram_marker == SRAM_BASE, "ram_marker at 0x20000000");
    ram_marker = 0xC071C071u;
    set_mem_mode(SYSCFG_MEM_MODE_SRAM);
    check(rd32(0x0) == 0xC071C071u, "0x0 == marker at 0x20000000");
    check(rd32(0x4) == rd32(SRAM_BASE + 4), "0x4 == 0x20000004");
    ram_marker = 0x5A5A1234u;
    check(rd32(0x0) == 0x5A5A1234u, "0x0 follows SRAM writes");
    sh_write0("SRAM at 0x0\n");

    /* (e) back to flash */
    set_mem_mode(SYSCFG_MEM_MODE_FLASH);
    check(rd32(0x0) == rd32(FLASH_MEM_BASE), "0x0 == 0x08000000 again");
    check(rd32(0x4) == rd32(FLASH_MEM_BASE + 4), "0x4 == 0x08000004 again");
    sh_write0("flash at 0x0 again\n");
    return 0;
}
