/*
 * bus_fault - a load from a reserved peripheral address (0x40008000 lies between
 * PWR and the USB packet memory, RM0490 Table 7) must be a bus error that the
 * core turns into HardFault.  HardFault_Handler checks that the stacked PC is the
 * faulting load (global label `reserved_load`), prints "HardFault at the reserved
 * load\n" and exits 43.  If the load returns, prints "no fault\n" and exits 1.
 */
#include "c071.h"
#include "semihost.h"

extern const char reserved_load[];

__attribute__((naked)) void HardFault_Handler(void)
{
    __asm__ volatile(
        "mrs r0, msp\n\t"
        "ldr r0, [r0, #24]\n\t"      /* stacked PC */
        "b hardfault_report\n\t");
}

__attribute__((used)) void hardfault_report(uint32_t stacked_pc)
{
    if (stacked_pc == ((uint32_t)(uintptr_t)reserved_load & ~1u)) {
        sh_write0("HardFault at the reserved load\n");
        sh_exit(43);
    }
    sh_write0("HardFault at an unexpected PC\n");
    sh_exit(1);
}

int main(void)
{
    uint32_t value;
    __asm__ volatile(
        "ldr r1, =0x40008000\n\t"
        ".global reserved_load\n"
        "reserved_load:\n\t"
        "ldr %0, [r1]\n\t"
        : "=r"(value) : : "r1", "memory");
    (void)value;
    sh_write0("no fault\n");
    return 1;
}
