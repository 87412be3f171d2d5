/*
 * usb_device.h - a minimal clean-room USB full-speed device stack for the
 * STM32C071 USB_DRD_FS peripheral: EP0 control transfers (standard requests)
 * plus hooks for the application's vendor requests and data endpoints.
 */
#ifndef USB_DEVICE_H
#define USB_DEVICE_H

#include <stdint.h>

struct usb_setup {
    uint8_t  bmRequestType;
    uint8_t  bRequest;
    uint16_t wValue;
    uint16_t wIndex;
    uint16_t wLength;
};

/* Supplied by the application */
extern const uint8_t usb_device_descriptor[18];
extern const uint8_t usb_config_descriptor[];
extern const uint16_t usb_config_descriptor_length;
const uint8_t *usb_string_descriptor(unsigned index);                /* NULL: none */
/* Vendor request: IN (device to host) returns data; OUT gets its data stage
   in `data` once complete. Return the IN length, or -1 to STALL. */
int  usb_vendor_request(const struct usb_setup *s, uint8_t *data);
void usb_configured(unsigned configuration);     /* SET_CONFIGURATION / SET_INTERFACE */
void usb_endpoint_event(unsigned ep, int rx);    /* VTRX (rx = 1) or VTTX on a data endpoint */

#ifdef USB_CLASS_REQUESTS
/* Built with -DUSB_CLASS_REQUESTS (and optionally -DUSB_CTL_BUF_SIZE=n for longer
   OUT data stages): class requests, same contract as usb_vendor_request; the
   application owns the alternate settings (return -1 to STALL). */
int  usb_class_request(const struct usb_setup *s, uint8_t *data);
int  usb_set_interface(unsigned interface, unsigned alternate);
int  usb_get_interface(unsigned interface);
int  usb_control_idle(void);           /* 1 when no control transfer is in progress on EP0 */
#endif

/* Optional (weak defaults do nothing): a USB bus reset was handled; a control
   request's status stage has completed (the host has seen it succeed). */
void usb_on_bus_reset(void);
void usb_on_request_complete(const struct usb_setup *s);

/* Stack entry points */
void usb_start(void);                  /* clock the peripheral, power up, connect (DPPU) */
void usb_poll(void);                   /* handle every pending event */
void usb_set_stat_rx(unsigned ep, unsigned stat);
void usb_set_stat_tx(unsigned ep, unsigned stat);
void usb_clear_vtrx(unsigned ep);
void usb_clear_vttx(unsigned ep);
void usb_open_endpoint(unsigned ep, unsigned type, unsigned stat_rx, unsigned stat_tx);
unsigned usb_read_packet(unsigned pma_offset, uint8_t *dst, unsigned count);
void usb_write_packet(unsigned pma_offset, const uint8_t *src, unsigned count);

extern volatile uint32_t usb_resets, usb_setups, usb_sofs;
extern volatile uint32_t usb_configuration;

#endif
