/*
 * flash_key_twice - writes KEY1/KEY2 unconditionally twice, as jump-to-bootloader
 * code that does not check FLASH_CR.LOCK would.  The second KEY1 is written while
 * FLASH_CR is already unlocked: a bus error (HardFault) whose stacked PC is that
 * store (label `second_key1`), after which LOCK stays set until a system reset.
 * HardFault_Handler prints "HardFault at the second KEY1, LOCK latched\n" and
 * exits 44 when both hold.  Pattern seen in application code that "unlocks to be
 * safe" before jumping, and in bootloaders that unlock without checking LOCK.
 */
#include "flash_driver.h"
#include "semihost.h"

extern const char second_key1[];

__attribute__((naked)) void HardFault_Handler(void)
{
    __asm__ volatile("mrs r0, msp\n\tldr r0, [r0, #24]\n\tb key_fault_report");
}

__attribute__((used)) void key_fault_report(uint32_t stacked_pc)
{
    int at_store = stacked_pc == ((uint32_t)(uintptr_t)second_key1 & ~1u);
    int latched = (FLASH_CR & FLASH_CR_LOCK) != 0;
    if (at_store && latched) {
        sh_write0("HardFault at the second KEY1, LOCK latched\n");
        sh_exit(44);
    }
    sh_write0("FAIL: fault elsewhere or LOCK not latched\n");
    sh_exit(1);
}

int main(void)
{
    FLASH_KEYR = FLASH_KEY1;
    FLASH_KEYR = FLASH_KEY2;
    if (FLASH_CR & FLASH_CR_LOCK) {
        sh_write0("FAIL: first unlock\n");
        return 1;
    }
    __asm__ volatile(
        "ldr r0, =0x40022008\n\t"
        "ldr r1, =0x45670123\n\t"
        ".global second_key1\n"
        "second_key1:\n\t"
        "str r1, [r0]\n\t"
        ::: "r0", "r1", "memory");
    sh_write0("FAIL: no fault on the second unlock\n");
    return 1;
}
