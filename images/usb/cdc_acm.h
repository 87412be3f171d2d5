/*
 * cdc_acm.h - a USB CDC ACM (virtual serial port) function on the images/usb device
 * stack (built with -DUSB_CLASS_REQUESTS): descriptors, the class requests and the
 * data endpoints.  The application supplies the three callbacks below.
 *
 * Facts: USB CDC 1.20 and PSTN 1.20 (class codes, functional descriptors, requests
 * SET_LINE_CODING 0x20, GET_LINE_CODING 0x21, SET_CONTROL_LINE_STATE 0x22,
 * SEND_BREAK 0x23, line coding layout), USB ECN "Interface Association Descriptor".
 */
#ifndef CDC_ACM_H
#define CDC_ACM_H

#include <stdint.h>

#define CDC_DATA_OUT_EP     0x01u       /* bulk OUT, 64 bytes */
#define CDC_DATA_IN_EP      0x81u       /* bulk IN, 64 bytes */
#define CDC_NOTIFY_EP       0x82u       /* interrupt IN, 8 bytes */
#define CDC_COMM_INTERFACE  0u
#define CDC_DATA_INTERFACE  1u

struct cdc_line_coding {
    uint32_t baud;                      /* dwDTERate */
    uint8_t stop_bits;                  /* bCharFormat: 0 = 1, 1 = 1.5, 2 = 2 */
    uint8_t parity;                     /* bParityType: 0 none, 1 odd, 2 even, 3 mark, 4 space */
    uint8_t data_bits;                  /* bDataBits */
};

extern struct cdc_line_coding cdc_line_coding;
extern volatile uint32_t cdc_control_line_state;     /* bit 0 DTR, bit 1 RTS */

/* Callbacks (interrupt context): a new line coding, a new DTR/RTS state, bytes on bulk OUT. */
void cdc_on_line_coding(const struct cdc_line_coding *coding);
void cdc_on_control_line_state(unsigned dtr, unsigned rts);
void cdc_on_receive(const uint8_t *data, unsigned count);

#endif
