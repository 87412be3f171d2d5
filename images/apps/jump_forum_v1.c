/*
 * jump_forum_v1 - the first jump function of the support thread (shared/seed),
 * re-created: clocks "to the default state" with the HAL's RCC de-initialisation,
 * SysTick stopped, the USB clock switched off, interrupts disabled, MSP loaded from
 * the bootloader's table, call through the bootloader's reset vector.  VTOR (set to
 * the application's table by its startup code), SYSCFG MEM_MODE (main flash after a
 * flash boot), HSIDIV (48 MHz), the USB registers and the NVIC are left as they are.
 * Pattern seen in many forum answers to "jump to the STM32 system bootloader".
 *
 * Shared: the scenario image jump_forum_v1 (with app_main.c) and every trigger
 * application (trigger_*.c, images/apps/README.md) link this file, so they all enter the
 * bootloader through this one function, exported as `jump_to_bootloader`.
 */
#include "app.h"
#include "usb_regs.h"

void jump_to_bootloader(void)
{
    uint32_t entry = BOOTLOADER_ENTRY;
    hal_rcc_deinit();
    SYST_CTRL = 0;
    SYST_LOAD = 0;
    SYST_VAL = 0;
    uint32_t msp = BOOTLOADER_STACK;
    RCC_APBENR1 &= ~RCC_APBENR1_USBEN;
    hal_disable_irq();
    branch_with_msp(msp, entry);
}
