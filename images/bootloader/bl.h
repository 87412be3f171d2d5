/*
 * bl.h - shared definitions of the reference system bootloader (clean-room).
 * Register addresses and bits: FACTS §3-§6 (RM0490 §4.7, §6.4, §31; ARMv6-M B3).
 */
#ifndef BL_H
#define BL_H

#include <stdint.h>
#include "c071.h"
#include "usb_regs.h"

/* Memory map (RM0490 Table 4, FACTS §1) */
#define BL_FLASH_BASE     0x08000000u
#define BL_FLASH_SIZE     0x20000u          /* 128 KiB = 64 pages of 2 KiB */
#define BL_PAGE_SIZE      2048u
#define BL_PAGES          64u
#define BL_SYSMEM_BASE    0x1FFF0000u
#define BL_SYSMEM_SIZE    0x7000u
#define BL_OTP_BASE       0x1FFF7000u
#define BL_OTP_SIZE       0x400u
#define BL_OPTION_BASE    0x1FFF7800u
#define BL_OPTION_BLOCK   128u              /* the option words 0x1FFF7800-0x1FFF787F */
#define BL_SRAM_BASE      0x20000000u
#define BL_SRAM_END       0x20006000u
#define BL_UID_BASE       0x1FFF7550u       /* 96-bit unique ID (FACTS §1) */

/* -- Design switches (README.md "Variants"): each names one guess about how ST's ROM is
 *    written; the Makefile builds one image per named set (images/elf/bootloaders/).
 *    The defaults are the default image's choices: the design most consistent with the
 *    public facts (README.md "Assumptions and evidence"). */
#define BL_VECTORS_ALIAS 0        /* rely on VTOR = 0 and the 0x0 alias of a system-memory boot */
#define BL_VECTORS_VTOR  1        /* write VTOR = 0x1FFF0000 at start (G0B1 ROM evidence) */
#define BL_VECTORS_REMAP 2        /* set SYSCFG_CFGR1.MEM_MODE = 01 itself, VTOR not written */
#ifndef BL_VECTORS
#define BL_VECTORS BL_VECTORS_VTOR
#endif
#ifndef BL_USB_IRQ                /* 1: USB serviced in its interrupt (IRQ 8); 0: polled */
#define BL_USB_IRQ 1
#endif
#define BL_TIMEBASE_SYSTICK_IRQ 0 /* SysTick interrupt counts milliseconds */
#define BL_TIMEBASE_SYSTICK_POLL 1 /* SysTick runs, COUNTFLAG polled from the wait loops */
#define BL_TIMEBASE_NONE 2        /* no timer: waits bounded by loop counts sized for 12 MHz */
#ifndef BL_TIMEBASE
#define BL_TIMEBASE BL_TIMEBASE_SYSTICK_IRQ
#endif
#ifndef BL_CPSIE                  /* 1: `cpsie i` at start; 0: PRIMASK left as found */
#define BL_CPSIE 1
#endif
#ifndef BL_FLASH_CHECKED          /* 1: keys only when LOCK reads 1, SR errors cleared before each operation */
#define BL_FLASH_CHECKED 0
#endif
#ifndef BL_SET_CLOCK              /* 1: SYSCLK 48 MHz (HSIDIV /1) and LATENCY 1 set by the bootloader */
#define BL_SET_CLOCK 0
#endif
#ifndef BL_TIGHT_TIMEOUTS         /* 1: waits sized a small margin over the typical duration */
#define BL_TIGHT_TIMEOUTS 1
#endif
#ifndef BL_RAM_BOTTOM             /* 1: own RAM 0x20000000-0x200022FF (as stm32flash's table implies) */
#define BL_RAM_BOTTOM 1
#endif

/* The bootloader's own RAM (the linker script) and what a host may write */
#if BL_RAM_BOTTOM
#define BL_RAM_START      0x20000000u
#define BL_HOST_RAM_START 0x20002300u
#define BL_HOST_RAM_END   BL_SRAM_END
#else
#define BL_RAM_START      0x20005000u
#define BL_HOST_RAM_START BL_SRAM_BASE
#define BL_HOST_RAM_END   BL_RAM_START
#endif

/* Registers not in c071.h / usb_regs.h */
#define CRS_CFGR              REG32(CRS_BASE + 0x04)
#define CRS_CFGR_SYNCSRC_MASK (3u << 28)
#define CRS_CFGR_SYNCSRC_USB  (2u << 28)      /* USB SOF (FACTS §5.4) */
#define SCB_ICSR_PENDSTCLR    (1u << 25)
#define RCC_APBENR1_USBEN_CRSEN (RCC_APBENR1_USBEN | RCC_APBENR1_CRSEN)
#define FLASH_OPTR_REG        REG32(0x40022000u + 0x20)
#define OPTR_IWDG_SW          (1u << 16)    /* 0 = hardware watchdog (RM0490 §4.7.6) */
#define OPTR_RDP_MASK         0xFFu
#define OPTR_RDP_LEVEL0       0xAAu

/* Timebase: 1 ms at the clock the bootloader assumes (12 MHz HSISYS after reset, RM0490 §6.2,
   FACTS §4.1) or sets (48 MHz) */
#if BL_SET_CLOCK
#define BL_ASSUMED_HCLK_HZ 48000000u
#else
#define BL_ASSUMED_HCLK_HZ 12000000u
#endif
extern volatile uint32_t bl_ticks;
/* Milliseconds since start (wraps), whatever the timebase */
#if BL_TIMEBASE == BL_TIMEBASE_SYSTICK_IRQ
static inline uint32_t bl_now(void) { return bl_ticks; }
#else
uint32_t bl_now(void);
#endif
#if BL_USB_IRQ                    /* keep the USB interrupt out of a section of thread-mode code */
#define BL_USB_IRQ_NUMBER 8u
#define BL_USB_IRQ_OFF() (NVIC_ICER = 1u << BL_USB_IRQ_NUMBER)
#define BL_USB_IRQ_ON()  (NVIC_ISER = 1u << BL_USB_IRQ_NUMBER)
#else
#define BL_USB_IRQ_OFF() ((void)0)
#define BL_USB_IRQ_ON()  ((void)0)
#endif

/* Leave the bootloader: detach from USB, return what it started to reset
   values, load MSP from [address] and jump to [address + 4] (AN3156 §5.6,
   FACTS §8.2 "Leave DFU"); an unusable vector pair resets the device instead. */
void bl_leave(uint32_t address) __attribute__((noreturn));
void bl_system_reset(void) __attribute__((noreturn));

/* DfuSe (dfu.c) */
void dfu_poll(void);

#endif
