/*
 * usb_regs.h - USB_DRD_FS, CRS and USB clocking registers for the USB test
 * firmware (clean-room; names are our own).
 *
 * Sources (see /work/shared/c071/FACTS.md): USB register map and CHEPnR bits
 * FACTS §5.2, buffer descriptor table FACTS §5.3, CRS FACTS §5.4, RCC bits
 * FACTS §4.2 (RM0490 §6.4, §7, §31).
 */
#ifndef USB_REGS_H
#define USB_REGS_H

#include "c071.h"

/* RCC additions (RM0490 §6.4.1, §6.4.15, §6.4.21) */
#define RCC_CR_HSIUSB48ON   (1u << 22)
#define RCC_CR_HSIUSB48RDY  (1u << 23)
#define RCC_APBENR1_USBEN   (1u << 13)
#define RCC_APBENR1_CRSEN   (1u << 16)
#define RCC_CCIPR2          REG32(RCC_BASE + 0x58)
#define RCC_CCIPR2_USBSEL   (1u << 12)        /* 0 = HSIUSB48, 1 = HSE */

/* USB_DRD_FS, base 0x40005C00 (FACTS §5.2) */
#define USB_BASE            0x40005C00u
#define USB_CHEP(n)         REG32(USB_BASE + 4u * (n))
#define USB_CNTR            REG32(USB_BASE + 0x40)
#define USB_ISTR            REG32(USB_BASE + 0x44)
#define USB_FNR             REG32(USB_BASE + 0x48)
#define USB_DADDR           REG32(USB_BASE + 0x4C)
#define USB_BCDR            REG32(USB_BASE + 0x58)

#define CNTR_USBRST         (1u << 0)
#define CNTR_PDWN           (1u << 1)
#define CNTR_SOFM           (1u << 9)
#define CNTR_RESETM         (1u << 10)
#define CNTR_CTRM           (1u << 15)

#define ISTR_IDN_MASK       0xFu
#define ISTR_SOF            (1u << 9)
#define ISTR_RESET          (1u << 10)
#define ISTR_CTR            (1u << 15)

#define DADDR_EF            (1u << 7)
#define BCDR_DPPU           (1u << 15)

#define CHEP_EA_MASK        0xFu
#define CHEP_STATTX_SHIFT   4
#define CHEP_STATTX_MASK    (3u << 4)
#define CHEP_DTOGTX         (1u << 6)
#define CHEP_VTTX           (1u << 7)
#define CHEP_UTYPE_SHIFT    9
#define CHEP_SETUP          (1u << 11)
#define CHEP_STATRX_SHIFT   12
#define CHEP_STATRX_MASK    (3u << 12)
#define CHEP_DTOGRX         (1u << 14)
#define CHEP_VTRX           (1u << 15)
/* bits kept as read in a read-modify-write: everything but the toggle fields */
#define CHEP_KEEP_MASK      0x07FF8F8Fu

#define STAT_DISABLED 0u
#define STAT_STALL    1u
#define STAT_NAK      2u
#define STAT_VALID    3u
#define UTYPE_BULK    0u
#define UTYPE_CONTROL 1u
#define UTYPE_INTERRUPT 3u

/* Packet memory, 2 KiB at 0x40009800, 32-bit access; BD table at offset 0 (FACTS §5.3) */
#define PMA_BASE            0x40009800u
#define PMA_WORD(off)       REG32(PMA_BASE + (off))
#define TXBD(n)             PMA_WORD(8u * (n))
#define RXBD(n)             PMA_WORD(8u * (n) + 4u)
#define BD_COUNT_SHIFT      16
#define BD_COUNT_MASK       (0x3FFu << 16)
#define RXBD_64_BYTES       ((1u << 31) | (1u << 26))   /* BLSIZE = 1, NUM_BLOCK = 1: 2 x 32 bytes */

/* CRS, base 0x40006C00 (FACTS §5.4) */
#define CRS_BASE            0x40006C00u
#define CRS_CR              REG32(CRS_BASE + 0x00)
#define CRS_ISR             REG32(CRS_BASE + 0x08)
#define CRS_ICR             REG32(CRS_BASE + 0x0C)
#define CRS_CR_CEN          (1u << 5)
#define CRS_CR_AUTOTRIMEN   (1u << 6)
#define CRS_ISR_SYNCOKF     (1u << 0)

#endif
