/*
 * sysreset - software reset through AIRCR.SYSRESETREQ (ARMv6-M B3.2.6).
 * First boot (RCC_CSR2.SFTRSTF clear): store 0xB0070001 in boot_count (a
 * .noinit word that the startup code does not clear), print
 * "requesting reset\n", write AIRCR = 0x05FA0004, dsb, spin. After the reset
 * SFTRSTF is set (RM0490 §6.4.26, flags survive a system reset): check that
 * boot_count kept 0xB0070001 (SRAM is not cleared by a system reset), print
 * "rebooted by SYSRESETREQ\n" and exit 0; otherwise exit 1.
 */
#include "c071.h"
#include "semihost.h"

uint32_t boot_count __attribute__((section(".noinit")));

int main(void)
{
    if (RCC_CSR2 & RCC_CSR2_SFTRSTF) {
        if (*(volatile uint32_t *)&boot_count != 0xB0070001u) {
            sh_write0("boot_count=");
            sh_puthex(boot_count);
            sh_write0("\n");
            sh_fail("boot_count survives SYSRESETREQ");
        }
        sh_write0("rebooted by SYSRESETREQ\n");
        return 0;
    }
    *(volatile uint32_t *)&boot_count = 0xB0070001u;
    sh_write0("requesting reset\n");
    barrier();
    SCB_AIRCR = SCB_AIRCR_RESET_REQ;
    __asm__ volatile("dsb" ::: "memory");
    for (;;)
        ;
}
