/*
 * trigger_dfu_detach - a USB device with a DFU 1.1 run-time interface (class 0xFE,
 * subclass 0x01, protocol 0x01, DFU 1.1 §4.1) that enters the system bootloader on
 * DFU_DETACH.  Built twice:
 *   trigger_dfu_detach        (DFU_WILL_DETACH=1): bitWillDetach set - the device
 *                             detaches by itself: it jumps once the DETACH request's
 *                             status stage has completed;
 *   trigger_dfu_detach_reset  (DFU_WILL_DETACH=0): DETACH only arms the device
 *                             (appDETACH); the USB reset the host then sends within
 *                             wDetachTimeOut makes it jump (DFU 1.1 §5.1); after the
 *                             timeout it returns to appIDLE (dfu-util resets such a
 *                             device itself).
 * Run-time requests (DFU 1.1 §3, Table 3.2): DFU_DETACH (0x21/0x00, wValue = timeout
 * in ms), DFU_GETSTATUS (0xA1/0x03, 6 bytes), DFU_GETSTATE (0xA1/0x05, 1 byte); the
 * rest STALL.  Functional descriptor (§4.1.3): bmAttributes bitCanDnload |
 * bitCanUpload | (bitWillDetach), wDetachTimeOut 1000 ms, wTransferSize 1024,
 * bcdDFUVersion 0x011A (the DfuSe revision the bootloader reports).
 */
#include "trigger.h"
#include "semihost.h"
#include "usb_device.h"

#ifndef DFU_WILL_DETACH
#define DFU_WILL_DETACH 1
#endif

#define DFU_INTERFACE       0u
#define DFU_DETACH          0x00u
#define DFU_GETSTATUS       0x03u
#define DFU_GETSTATE        0x05u
#define APP_IDLE            0u
#define APP_DETACH          1u
#define STATUS_OK           0u
#define ATTR_CAN_DNLOAD     (1u << 0)
#define ATTR_CAN_UPLOAD     (1u << 1)
#define ATTR_WILL_DETACH    (1u << 3)
#define DETACH_TIMEOUT_MS   1000u
#define TRANSFER_SIZE       1024u

volatile uint8_t dfu_runtime_state = APP_IDLE;
static volatile uint32_t detach_armed_at, detach_window_ms;
static volatile int jump_requested;

const uint8_t usb_device_descriptor[18] = {
    18, 1, 0x00, 0x02,          /* bLength, DEVICE, bcdUSB 2.00 */
    0x00, 0x00, 0x00, 64,       /* class per interface, bMaxPacketSize0 64 */
    0x83, 0x04, 0x73, 0xA0,     /* idVendor 0x0483, idProduct 0xA073 (DFU run-time trigger application) */
    0x00, 0x01, 1, 2, 0, 1      /* bcdDevice 1.00, strings 1/2, one configuration */
};

const uint8_t usb_config_descriptor[] = {
    9, 2, 27, 0, 1, 1, 0, 0x80, 50,            /* CONFIGURATION: total 27, 1 interface, value 1 */
    9, 4, DFU_INTERFACE, 0, 0, 0xFE, 0x01, 0x01, 3,   /* DFU run-time interface, no endpoints */
    9, 0x21,                                    /* DFU FUNCTIONAL */
    ATTR_CAN_DNLOAD | ATTR_CAN_UPLOAD | (DFU_WILL_DETACH ? ATTR_WILL_DETACH : 0),
    DETACH_TIMEOUT_MS & 0xFF, DETACH_TIMEOUT_MS >> 8,
    TRANSFER_SIZE & 0xFF, TRANSFER_SIZE >> 8,
    0x1A, 0x01,                                 /* bcdDFUVersion 0x011A */
};
const uint16_t usb_config_descriptor_length = sizeof usb_config_descriptor;

static const uint8_t lang[] = {4, 3, 0x09, 0x04};
static const uint8_t manufacturer[] = {16, 3, 'c', 0, '0', 0, '7', 0, '1', 0, 'e', 0, 'm', 0, 'u', 0};
static const uint8_t product[] = {24, 3, 'D', 0, 'F', 0, 'U', 0, ' ', 0, 't', 0, 'r', 0, 'i', 0, 'g', 0, 'g', 0,
                                  'e', 0, 'r', 0};
static const uint8_t interface_name[] = {24, 3, 'D', 0, 'F', 0, 'U', 0, ' ', 0, 'r', 0, 'u', 0, 'n', 0, 't', 0,
                                         'i', 0, 'm', 0, 'e', 0};

const uint8_t *usb_string_descriptor(unsigned index)
{
    switch (index) {
    case 0: return lang;
    case 1: return manufacturer;
    case 2: return product;
    case 3: return interface_name;
    default: return 0;
    }
}

int usb_vendor_request(const struct usb_setup *s, uint8_t *data)
{
    (void)s;
    (void)data;
    return -1;
}

void usb_configured(unsigned configuration) { (void)configuration; }
void usb_endpoint_event(unsigned ep, int rx) { (void)ep; (void)rx; }
int usb_set_interface(unsigned interface, unsigned alternate)
{
    return interface == DFU_INTERFACE && alternate == 0 ? 0 : -1;
}
int usb_get_interface(unsigned interface) { return interface == DFU_INTERFACE ? 0 : -1; }

int usb_class_request(const struct usb_setup *s, uint8_t *data)
{
    int in = s->bmRequestType & 0x80u;
    if ((s->bmRequestType & 0x1Fu) != 1 || s->wIndex != DFU_INTERFACE)
        return -1;
    switch (s->bRequest) {
    case DFU_DETACH:
        if (in || s->wLength)
            return -1;
        dfu_runtime_state = APP_DETACH;
        detach_window_ms = s->wValue < DETACH_TIMEOUT_MS ? s->wValue : DETACH_TIMEOUT_MS;
        detach_armed_at = hal_ticks;
        return 0;
    case DFU_GETSTATUS:
        if (!in)
            return -1;
        data[0] = STATUS_OK;
        data[1] = data[2] = data[3] = 0;        /* bwPollTimeout */
        data[4] = dfu_runtime_state;
        data[5] = 0;
        return 6;
    case DFU_GETSTATE:
        if (!in)
            return -1;
        data[0] = dfu_runtime_state;
        return 1;
    }
    return -1;
}

/* bitWillDetach: the device leaves by itself once the host has seen DETACH succeed. */
void usb_on_request_complete(const struct usb_setup *s)
{
    if (DFU_WILL_DETACH && s->bmRequestType == 0x21u && s->bRequest == DFU_DETACH)
        jump_requested = 1;
}

/* Without bitWillDetach: the host's USB reset in appDETACH is the signal (DFU 1.1 §5.1). */
void usb_on_bus_reset(void)
{
    if (!DFU_WILL_DETACH && dfu_runtime_state == APP_DETACH)
        jump_requested = 1;
}

void IRQ8_Handler(void)                         /* USB */
{
    usb_poll();
}

int main(void)
{
    trigger_system_init();
    nvic_set_priority(IRQ_USB, 0);
    nvic_enable(IRQ_USB);
    usb_start();
    sh_write0("trigger_dfu_detach: DFU run-time interface up\n");
    while (!jump_requested) {
        __asm__ volatile("wfi");
        if (dfu_runtime_state == APP_DETACH && !jump_requested && hal_ticks - detach_armed_at > detach_window_ms)
            dfu_runtime_state = APP_IDLE;       /* no reset within wDetachTimeOut */
    }
    sh_write0("trigger_dfu_detach: detaching to the system bootloader\n");
    jump_to_bootloader();
    sh_write0("trigger_dfu_detach: the bootloader returned\n");
    return 1;
}
