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
#define BL_RAM_START      0x20005000u       /* the bootloader's own RAM (bootloader.ld) */
#define BL_SRAM_END       0x20006000u
#define BL_UID_BASE       0x1FFF7550u       /* 96-bit unique ID (FACTS §1) */

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

/* SysTick timebase: 1 ms at the assumed 12 MHz HSISYS (RM0490 §6.2, FACTS §4.1) */
#define BL_ASSUMED_HCLK_HZ 12000000u
extern volatile uint32_t bl_ticks;

/* Leave the bootloader: detach from USB, return what it started to reset
   values, load MSP from [address] and jump to [address + 4] (AN3156 §5.6,
   FACTS §8.2 "Leave DFU"); an unusable vector pair resets the device instead. */
void bl_leave(uint32_t address) __attribute__((noreturn));
void bl_system_reset(void) __attribute__((noreturn));

/* DfuSe (dfu.c) */
void dfu_poll(void);

#endif
