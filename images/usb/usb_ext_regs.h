/*
 * usb_ext_regs.h - USB_DRD_FS bits beyond usb_regs.h that the stream and suspend
 * test devices use (clean-room; names are our own).
 *
 * Sources: FACTS §5.2 (CNTR, ISTR, FNR bit positions), RM0490 §31.6 (CHEPnR UTYPE,
 * EPKIND = DBL_BUF on bulk endpoints), RM0490 §31.5 "Double-buffered endpoints" and
 * "Isochronous transfers" (buffer 0 in the TXBD slot, buffer 1 in the RXBD slot;
 * DTOG of the endpoint's direction = the USB engine's buffer, the other DTOG = SW_BUF).
 */
#ifndef USB_EXT_REGS_H
#define USB_EXT_REGS_H

#include "usb_regs.h"

#define UTYPE_ISO           2u
#define CHEP_EPKIND         (1u << 8)          /* DBL_BUF on a bulk endpoint */

#define CNTR_SUSPRDY        (1u << 2)
#define CNTR_SUSPEN         (1u << 3)
#define CNTR_L2RES          (1u << 4)
#define CNTR_ESOFM          (1u << 8)
#define CNTR_SUSPM          (1u << 11)
#define CNTR_WKUPM          (1u << 12)

#define ISTR_ESOF           (1u << 8)
#define ISTR_SUSP           (1u << 11)
#define ISTR_WKUP           (1u << 12)
#define ISTR_ERR            (1u << 13)

#define FNR_FN_MASK         0x7FFu

/* double-buffered endpoints: buffer b's descriptor word */
#define DBUF(n, b)          PMA_WORD(8u * (n) + 4u * (b))
#define RX_BD_32x2          ((1u << 31) | (1u << 26))   /* RX-format size field: 64 bytes */

#endif
