/*
 * jump_reset_first - the reliable pattern: store a request flag in RAM that the
 * startup code does not clear, reset the chip (AIRCR.SYSRESETREQ), and at the very
 * top of main - before any clock, peripheral or interrupt is set up - branch to the
 * bootloader.  Every register is then in its reset state except the vector table:
 * the startup code pointed VTOR at the application (as CMSIS SystemInit can) and a
 * flash boot aliases main flash at 0x0, so both are put back to what a system-memory
 * boot gives (VTOR = 0, MEM_MODE = 01), as ST-style jump code does.
 * Seen in MicroPython/CircuitPython and C071 projects (FACTS §9 rows 5 and 12).
 */
#include "app.h"

#define REQUEST_MAGIC 0xB007104Du

static uint32_t bootloader_request __attribute__((section(".noinit")));

void scenario_early(void)
{
    if (bootloader_request == REQUEST_MAGIC) {
        bootloader_request = 0;
        RCC_APBENR2 |= RCC_APBENR2_SYSCFGEN;
        SYSCFG_CFGR1 = (SYSCFG_CFGR1 & ~SYSCFG_MEM_MODE_MASK) | SYSCFG_MEM_MODE_SYSMEM;
        RCC_APBENR2 &= ~RCC_APBENR2_SYSCFGEN;
        SCB_VTOR = 0;
        branch_with_msp(BOOTLOADER_STACK, BOOTLOADER_ENTRY);
    }
}

void jump_to_bootloader(void)
{
    bootloader_request = REQUEST_MAGIC;
    hal_system_reset();
}
