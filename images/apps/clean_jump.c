/*
 * clean_jump.c - a jump that restores what the reference bootloader assumes after a
 * reset (images/bootloader/README.md): interrupts masked while cleaning, SysTick off,
 * NVIC cleared, the peripherals the application used reset through RCC and their
 * clocks off, the clock tree back to 12 MHz HSISYS with 0 wait states, FLASH_SR
 * errors cleared and FLASH_CR locked, VTOR = 0 with system memory aliased at 0x0
 * (what a system-memory boot gives), MSP from the bootloader's table, PRIMASK clear.
 */
#include "app.h"
#include "usb_regs.h"
#include "flash_driver.h"

#define RCC_APBRSTR1  REG32(RCC_BASE + 0x2C)
#define RCC_APBRSTR2  REG32(RCC_BASE + 0x30)
#define RCC_CRSRST    (1u << 16)
#define RCC_USBRST    (1u << 13)
#define RCC_SYSCFGRST (1u << 0)
#define RCC_CR_RESET  0x00001540u             /* RM0490 §6.4.1: HSION, HSIRDY, HSIDIV = /4, HSIKERDIV = /3 */

void clean_jump(uint32_t skip)
{
    hal_disable_irq();
    SYST_CTRL = 0;
    SYST_LOAD = 0;
    SYST_VAL = 0;
    if (!(skip & SKIP_NVIC_CLEAR)) {
        NVIC_ICER = 0xFFFFFFFFu;
        NVIC_ICPR = 0xFFFFFFFFu;
    }
    if (!(skip & SKIP_USB_RESET)) {
        RCC_APBRSTR1 |= RCC_USBRST | RCC_CRSRST;
        RCC_APBRSTR1 &= ~(RCC_USBRST | RCC_CRSRST);
        RCC_APBENR1 &= ~(RCC_APBENR1_USBEN | RCC_APBENR1_CRSEN);
        RCC_CCIPR2 = 0;
    }
    if (!(skip & SKIP_CLOCK_RESTORE)) {
        RCC_CFGR = 0;
        while (RCC_CFGR & RCC_CFGR_SWS_MASK) {
        }
        RCC_CR = RCC_CR_RESET;                 /* HSISYS back to 12 MHz; HSIUSB48 off */
        FLASH_ACR &= ~FLASH_ACR_LATENCY_MASK;  /* lower the latency after the clock */
    }
    if (!(skip & SKIP_FLASH_SR_CLEAR)) {
        FLASH_SR = FLASH_SR_ERRORS;
    }
    if (!(skip & SKIP_FLASH_LOCK)) {
        FLASH_CR |= FLASH_CR_LOCK;
    }
    if (!(skip & SKIP_VECTOR_RESTORE)) {
        RCC_APBENR2 |= RCC_APBENR2_SYSCFGEN;
        SYSCFG_CFGR1 = (SYSCFG_CFGR1 & ~SYSCFG_MEM_MODE_MASK) | SYSCFG_MEM_MODE_SYSMEM;
        RCC_APBENR2 &= ~RCC_APBENR2_SYSCFGEN;
        SCB_VTOR = 0;
    }
    if (!(skip & SKIP_PRIMASK_CLEAR)) {
        hal_enable_irq();
    }
    branch_with_msp(BOOTLOADER_STACK, BOOTLOADER_ENTRY);
}
