/*
 * bl_main.c - the reference STM32C071 system bootloader (clean-room): clocks for
 * USB, SysTick timebase, the polled main loop serving USB DFU (dfu.c) and, when
 * present, the USART AN3155 protocol (an3155.c), IWDG refresh, leaving to the
 * application.  Every register it writes, and every reset value it relies on
 * instead, is listed in README.md "Resources" with its source.
 */
#include "bl.h"
#include "bl_flash.h"
#include "usb_device.h"

/* The Makefile defines BL_HAVE_AN3155 once bootloader/an3155.c exists (USART side). */
#ifdef BL_HAVE_AN3155
#include "an3155.h"
#endif

volatile uint32_t bl_ticks;              /* SysTick milliseconds (at the assumed 12 MHz) */
volatile uint32_t bl_hardware_watchdog;  /* OPTR.IWDG_SW = 0: refreshed in the main loop */

void SysTick_Handler(void)
{
    bl_ticks++;
}

/* HSIUSB48 for the USB kernel clock, CRS synchronised on USB SOF (FACTS §5.1, §5.4).
   SYSCLK is left as found: 12 MHz HSISYS after reset (FACTS §4.1). */
static void clocks_init(void)
{
    RCC_APBENR1 |= RCC_APBENR1_CRSEN;
    CRS_CFGR = (CRS_CFGR & ~CRS_CFGR_SYNCSRC_MASK) | CRS_CFGR_SYNCSRC_USB;  /* writable while CEN = 0 */
    /* usb_start (images/usb/usb_device.c): CCIPR2.USBSEL = 0, HSIUSB48ON + wait HSIUSB48RDY,
       USBEN + CRSEN, CRS AUTOTRIMEN + CEN, CNTR = USBRST then 0, ISTR = 0, DPPU. */
}

static void systick_init(void)
{
    SYST_LOAD = BL_ASSUMED_HCLK_HZ / 1000u - 1u;
    SYST_VAL = 0;
    SYST_CTRL = SYST_CTRL_HCLK | SYST_CTRL_TICKINT | SYST_CTRL_ENABLE;
}

void bl_system_reset(void)
{
    SCB_AIRCR = SCB_AIRCR_RESET_REQ;
    for (;;)
        ;
}

/* Can the vector pair at [address] be read from here?  It must be word-aligned and lie whole
   in SRAM or main flash, and main flash is unreadable from system memory under RDP level 1
   (RM0490 §4.5.1): reading anything else would fault inside the bootloader. */
static int vectors_readable(uint32_t address)
{
    if (address & 3u)
        return 0;
    if (address >= BL_SRAM_BASE && address <= BL_SRAM_END - 8u)
        return 1;
    return address >= BL_FLASH_BASE && address <= BL_FLASH_BASE + BL_FLASH_SIZE - 8u &&
           (FLASH_OPTR_REG & OPTR_RDP_MASK) == OPTR_RDP_LEVEL0;
}

void bl_leave(uint32_t address)
{
    USB_BCDR &= ~BCDR_DPPU;                          /* detach: the host sees the device leave */
    USB_CNTR = CNTR_USBRST | CNTR_PDWN;              /* CNTR reset value (FACTS §5.2) */
    CRS_CR &= ~(CRS_CR_CEN | CRS_CR_AUTOTRIMEN);
    RCC_APBENR1 &= ~RCC_APBENR1_USBEN_CRSEN;
    RCC_CR &= ~RCC_CR_HSIUSB48ON;
    SYST_CTRL = 0;                                   /* SysTick back to its reset state */
    SYST_LOAD = 0;
    SYST_VAL = 0;
    SCB_ICSR = SCB_ICSR_PENDSTCLR;
    /* AN3156/AN3155: with no valid code to jump to, the bootloader resets the device */
    if (!vectors_readable(address))
        bl_system_reset();
    uint32_t sp = REG32(address), pc = REG32(address + 4u);
    if (sp <= BL_SRAM_BASE || sp > BL_SRAM_END || !(pc & 1u) ||
        !((pc >= BL_FLASH_BASE && pc < BL_FLASH_BASE + BL_FLASH_SIZE) ||
          (pc >= BL_SRAM_BASE && pc < BL_SRAM_END)))
        bl_system_reset();
    __asm__ volatile("msr msp, %0\n\tbx %1" : : "r"(sp), "r"(pc) : "memory");
    for (;;)
        ;
}

void bl_main(void) __attribute__((noreturn));
void bl_main(void)
{
    clocks_init();
    systick_init();
    bl_hardware_watchdog = !(FLASH_OPTR_REG & OPTR_IWDG_SW);
    usb_start();
#ifdef BL_HAVE_AN3155
    an3155_init();
#endif
    __asm__ volatile("cpsie i" ::: "memory");    /* once, after initialisation (README decision 3) */

    uint32_t refreshed = bl_ticks;
    for (;;) {
        if (USB_ISTR & (ISTR_CTR | ISTR_RESET))
            usb_poll();
        dfu_poll();
#ifdef BL_HAVE_AN3155
        an3155_poll();
#endif
        if (bl_hardware_watchdog && bl_ticks != refreshed) {
            IWDG_KR = IWDG_KEY_RELOAD;
            refreshed = bl_ticks;
        }
    }
}
