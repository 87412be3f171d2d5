/*
 * jump_forum_v2 - the thread's second jump function, re-created: as v1 but
 * interrupts are disabled first, every NVIC enable and pending bit is cleared, and
 * interrupts are enabled again before the branch (the change a forum reply
 * suggested; the author reports it did not help).
 */
#include "app.h"
#include "usb_regs.h"

void jump_to_bootloader(void)
{
    uint32_t entry = BOOTLOADER_ENTRY;
    hal_disable_irq();
    hal_rcc_deinit();
    SYST_CTRL = 0;
    SYST_LOAD = 0;
    SYST_VAL = 0;
    uint32_t msp = BOOTLOADER_STACK;
    RCC_APBENR1 &= ~RCC_APBENR1_USBEN;
    NVIC_ICER = 0xFFFFFFFFu;                   /* one register on a 32-interrupt M0+ */
    NVIC_ICPR = 0xFFFFFFFFu;
    hal_enable_irq();
    branch_with_msp(msp, entry);
}
