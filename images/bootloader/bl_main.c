/*
 * bl_main.c - the reference STM32C071 system bootloader (clean-room): clocks for
 * USB, the timebase, the main loop serving USB DFU (dfu.c) and, when present, the
 * USART AN3155 protocol (an3155.c), IWDG refresh, leaving to the application.
 * Every register it writes, and every reset value it relies on instead, is listed
 * in README.md "Resources" with its source; the design switches of bl.h (README.md
 * "Variants") choose between the plausible ways a ROM does each of these.
 */
#include "bl.h"
#include "bl_flash.h"
#include "usb_device.h"

/* The Makefile defines BL_HAVE_AN3155 once bootloader/an3155.c exists (USART side). */
#ifdef BL_HAVE_AN3155
#include "an3155.h"
#endif

volatile uint32_t bl_ticks;              /* milliseconds (at the assumed clock) */
volatile uint32_t bl_hardware_watchdog;  /* OPTR.IWDG_SW = 0: refreshed in the main loop */

#if BL_USB_IRQ
#define BL_USB_IRQ_NAME "irq"
#else
#define BL_USB_IRQ_NAME "polled"
#endif
#if BL_CPSIE
#define BL_CPSIE_NAME "cpsie"
#else
#define BL_CPSIE_NAME "as-found"
#endif
#if BL_FLASH_CHECKED
#define BL_FLASH_NAME "checked"
#else
#define BL_FLASH_NAME "keys-blind"
#endif
#if BL_SET_CLOCK
#define BL_CLOCK_NAME "48mhz-set"
#else
#define BL_CLOCK_NAME "reset"
#endif
#if BL_RAM_BOTTOM
#define BL_RAM_NAME "bottom"
#else
#define BL_RAM_NAME "top"
#endif
#if BL_TIGHT_TIMEOUTS
#define BL_TIMEOUT_NAME "tight"
#define BL_USB_CLOCK_TIMEOUT_MS 2u       /* HSIUSB48 start-up: a few microseconds (RM0490 §6.2.3) */
#else
#define BL_TIMEOUT_NAME "loose"
#define BL_USB_CLOCK_TIMEOUT_MS 100u
#endif

/* The design this image was built with (bl.h switches), for reports (c071emu diagnose
   --bootloader-variants reads it by its symbol). */
#if BL_VECTORS == BL_VECTORS_VTOR
#define BL_D_VECTORS "vectors=vtor"
#elif BL_VECTORS == BL_VECTORS_REMAP
#define BL_D_VECTORS "vectors=remap"
#else
#define BL_D_VECTORS "vectors=alias"
#endif
#if BL_TIMEBASE == BL_TIMEBASE_SYSTICK_IRQ
#define BL_D_TIMEBASE "timebase=systick-irq"
#elif BL_TIMEBASE == BL_TIMEBASE_SYSTICK_POLL
#define BL_D_TIMEBASE "timebase=countflag"
#else
#define BL_D_TIMEBASE "timebase=none"
#endif
__attribute__((used)) const char bl_design[] =
    BL_D_VECTORS " usb=" BL_USB_IRQ_NAME " " BL_D_TIMEBASE " primask=" BL_CPSIE_NAME " flash=" BL_FLASH_NAME
    " clock=" BL_CLOCK_NAME " timeouts=" BL_TIMEOUT_NAME " ram=" BL_RAM_NAME;

void SysTick_Handler(void)
{
    bl_ticks++;
}

#if BL_TIMEBASE == BL_TIMEBASE_SYSTICK_POLL
/* SysTick runs without its interrupt; every wrap sets COUNTFLAG, which a read clears
   (ARMv6-M B3.3.3): one millisecond per flag seen. */
uint32_t bl_now(void)
{
    if (SYST_CTRL & SYST_CTRL_COUNTFLAG)
        bl_ticks++;
    return bl_ticks;
}
#elif BL_TIMEBASE == BL_TIMEBASE_NONE
/* No timer: a wait loop calls this about once per 12 cycles at the assumed 12 MHz, so a
   thousand calls make a millisecond (a loop count, as timer-less ROM code bounds waits). */
#define BL_CALLS_PER_MS (BL_ASSUMED_HCLK_HZ / 12000u)
static uint32_t bl_calls;
uint32_t bl_now(void)
{
    return ++bl_calls / BL_CALLS_PER_MS;
}
#endif

#if BL_USB_IRQ
void USB_IRQHandler(void)
{
    usb_poll();
}
#endif

/* SYSCLK: as found (12 MHz HSISYS after reset, FACTS §4.1), or 48 MHz set here: one flash
   wait state first (RM0490 §4.3.2), HSISYS selected with no prescaler, then HSIDIV /1. */
static void sysclk_init(void)
{
#if BL_SET_CLOCK
    RCC_CR |= RCC_CR_HSION;
    while (!(RCC_CR & RCC_CR_HSIRDY))
        ;
    FLASH_ACR = (FLASH_ACR & ~FLASH_ACR_LATENCY_MASK) | 1u;
    while ((FLASH_ACR & FLASH_ACR_LATENCY_MASK) != 1u)
        ;
    RCC_CFGR = 0;                                    /* SW = HSISYS, HPRE = PPRE = /1 */
    while (RCC_CFGR & RCC_CFGR_SWS_MASK)
        ;
    RCC_CR &= ~(RCC_CR_HSIDIV_MASK | RCC_CR_SYSDIV_MASK);
#endif
}

/* HSIUSB48 for the USB kernel clock, CRS synchronised on USB SOF (FACTS §5.1, §5.4). */
static void clocks_init(void)
{
    RCC_APBENR1 |= RCC_APBENR1_CRSEN;
    CRS_CFGR = (CRS_CFGR & ~CRS_CFGR_SYNCSRC_MASK) | CRS_CFGR_SYNCSRC_USB;  /* writable while CEN = 0 */
    RCC_CR |= RCC_CR_HSIUSB48ON;                     /* bounded wait: no USB clock -> start again */
    uint32_t start = bl_now();
    while (!(RCC_CR & RCC_CR_HSIUSB48RDY))
        if (bl_now() - start > BL_USB_CLOCK_TIMEOUT_MS)
            bl_system_reset();
    /* usb_start (images/usb/usb_device.c): CCIPR2.USBSEL = 0, HSIUSB48ON + wait HSIUSB48RDY,
       USBEN + CRSEN, CRS AUTOTRIMEN + CEN, CNTR = USBRST then 0, ISTR = 0, DPPU. */
}

static void timebase_init(void)
{
#if BL_TIMEBASE != BL_TIMEBASE_NONE
    SYST_LOAD = BL_ASSUMED_HCLK_HZ / 1000u - 1u;
    SYST_VAL = 0;
#if BL_TIMEBASE == BL_TIMEBASE_SYSTICK_IRQ
    SYST_CTRL = SYST_CTRL_HCLK | SYST_CTRL_TICKINT | SYST_CTRL_ENABLE;
#else
    SYST_CTRL = SYST_CTRL_HCLK | SYST_CTRL_ENABLE;
#endif
#endif
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
    BL_USB_IRQ_OFF();
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
    __asm__ volatile("" : : "r"(bl_design));     /* keeps the design string in the image */
#if BL_CPSIE
    __asm__ volatile("cpsie i" ::: "memory");    /* at start (README decision 3) */
#endif
    sysclk_init();
    timebase_init();
    clocks_init();
    bl_hardware_watchdog = !(FLASH_OPTR_REG & OPTR_IWDG_SW);
    usb_start();
#if BL_USB_IRQ
    BL_USB_IRQ_ON();
#endif
#ifdef BL_HAVE_AN3155
    an3155_init();
#endif

    uint32_t refreshed = bl_now();
    for (;;) {
#if !BL_USB_IRQ
        if (USB_ISTR & (ISTR_CTR | ISTR_RESET))
            usb_poll();
#endif
        dfu_poll();
#ifdef BL_HAVE_AN3155
        an3155_poll();
#endif
        if (bl_hardware_watchdog) {
            uint32_t now = bl_now();
            if (now != refreshed) {
                IWDG_KR = IWDG_KEY_RELOAD;
                refreshed = now;
            }
        }
    }
}
