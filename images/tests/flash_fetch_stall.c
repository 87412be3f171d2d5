/*
 * flash_fetch_stall - code in flash starts a page erase; the CPU's next instruction
 * fetch from flash stalls until the erase ends (RM0490 §4.3.4), so the instruction
 * at label `after_erase_start` executes about tERASE after the store that set STRT.
 * The test harness measures the cycles between the labels `erase_start` and
 * `after_erase_start`.  Prints "erase stalled the fetch\n" and exits 0.
 */
#include "flash_driver.h"
#include "semihost.h"

int main(void)
{
    flash_unlock();
    FLASH_CR = (FLASH_CR & ~FLASH_CR_PNB_MASK) | FLASH_CR_PER | (60u << FLASH_CR_PNB_SHIFT);
    __asm__ volatile(
        ".syntax unified\n\t"
        "ldr r0, =0x40022014\n\t"
        "ldr r1, [r0]\n\t"
        "ldr r2, =0x10000\n\t"
        "orrs r1, r2\n\t"
        ".global erase_start\n"
        "erase_start:\n\t"
        "str r1, [r0]\n\t"
        ".global after_erase_start\n"
        "after_erase_start:\n\t"
        "nop\n\t"
        ::: "r0", "r1", "r2", "memory");
    if (flash_wait()) {
        sh_write0("FAIL: erase error\n");
        return 1;
    }
    sh_write0("erase stalled the fetch\n");
    return 0;
}
