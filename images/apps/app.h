/*
 * app.h - what every scenario application shares: a USB device application at
 * 48 MHz (interrupt-driven, as vendor-HAL applications are) that jumps to the system
 * bootloader when the host sends vendor request 0x42 ("enter DFU").  A scenario file
 * provides jump_to_bootloader(), and may provide scenario_early() (first thing in
 * main, before any initialisation) and scenario_prepare() (just before the jump).
 */
#ifndef APP_H
#define APP_H

#include "minihal.h"

#define APP_REQUEST_ENTER_BOOTLOADER 0x42u

void jump_to_bootloader(void);
void scenario_early(void);
void scenario_prepare(void);

/* clean_jump(): restore what the bootloader assumes after a reset, then branch to it.
 * Each SKIP_ bit leaves one piece of application state in place. */
#define SKIP_FLASH_LOCK      (1u << 0)   /* FLASH_CR left as it is (not locked) */
#define SKIP_FLASH_SR_CLEAR  (1u << 1)   /* FLASH_SR error flags left set */
#define SKIP_NVIC_CLEAR      (1u << 2)   /* NVIC enables and pendings left */
#define SKIP_CLOCK_RESTORE   (1u << 3)   /* 48 MHz HSISYS and 1 wait state left */
#define SKIP_USB_RESET       (1u << 4)   /* USB registers (DPPU, address, endpoints) left */
#define SKIP_VECTOR_RESTORE  (1u << 5)   /* VTOR and MEM_MODE left pointing at the application */
#define SKIP_PRIMASK_CLEAR   (1u << 6)   /* interrupts left masked, as __disable_irq() left them */
void clean_jump(uint32_t skip);

/* the bootloader's entry as the thread's code computes it */
#define BOOTLOADER_STACK  (REG32(HAL_BOOTLOADER_BASE))
#define BOOTLOADER_ENTRY  (REG32(HAL_BOOTLOADER_BASE + 4u))

/* load MSP and branch: written in assembly so nothing uses the old stack in between */
static inline __attribute__((noreturn)) void branch_with_msp(uint32_t msp, uint32_t entry)
{
    __asm__ volatile("msr msp, %0\n\tbx %1" :: "r"(msp), "r"(entry) : "memory");
    __builtin_unreachable();
}

#endif
