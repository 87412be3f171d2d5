/*
 * cdc_acm.c - the CDC ACM function (see cdc_acm.h): a composite device (class
 * 0xEF/0x02/0x01, IAD) with a communication interface (CDC 0x02, ACM 0x02, AT 0x01;
 * header, call management, ACM and union functional descriptors; interrupt IN
 * notification endpoint) and a data interface (0x0A) with bulk OUT and IN.
 *
 * Endpoint register n answers endpoint n: CHEP1 = bulk 0x01/0x81, CHEP2 = interrupt
 * 0x82.  Packet memory after the stack's EP0 buffers: 0xC0 EP1 RX, 0x100 EP1 TX,
 * 0x140 EP2 TX.  Each bulk OUT packet is handed to cdc_on_receive and the endpoint
 * re-armed at once, as a HAL CDC receive callback that copies the packet and calls
 * the "receive next packet" function does.
 */
#include "cdc_acm.h"
#include "usb_device.h"
#include "usb_regs.h"

#define EP1_RX   0xC0u
#define EP1_TX   0x100u
#define EP2_TX   0x140u
#define PACKET   64u

#define SET_LINE_CODING         0x20u
#define GET_LINE_CODING         0x21u
#define SET_CONTROL_LINE_STATE  0x22u
#define SEND_BREAK              0x23u
#define LINE_CODING_SIZE        7u

struct cdc_line_coding cdc_line_coding = {115200u, 0, 0, 8};
volatile uint32_t cdc_control_line_state;
static uint8_t packet[PACKET];

const uint8_t usb_device_descriptor[18] = {
    18, 1, 0x00, 0x02,          /* bLength, DEVICE, bcdUSB 2.00 */
    0xEF, 0x02, 0x01, 64,       /* miscellaneous / common / IAD, bMaxPacketSize0 64 */
    0x83, 0x04, 0x72, 0xA0,     /* idVendor 0x0483, idProduct 0xA072 (CDC trigger application) */
    0x00, 0x01, 1, 2, 0, 1      /* bcdDevice 1.00, strings 1/2, one configuration */
};

#define CONFIG_TOTAL 75
const uint8_t usb_config_descriptor[CONFIG_TOTAL] = {
    9, 2, CONFIG_TOTAL, 0, 2, 1, 0, 0x80, 50,   /* CONFIGURATION: 2 interfaces, value 1, 100 mA */
    8, 0x0B, 0, 2, 0x02, 0x02, 0x01, 0,          /* IAD: interfaces 0-1, CDC / ACM / AT commands */
    9, 4, CDC_COMM_INTERFACE, 0, 1, 0x02, 0x02, 0x01, 0,   /* communication interface, 1 endpoint */
    5, 0x24, 0x00, 0x10, 0x01,                  /* header functional: bcdCDC 1.10 */
    5, 0x24, 0x01, 0x00, CDC_DATA_INTERFACE,    /* call management: none, data interface 1 */
    4, 0x24, 0x02, 0x02,                        /* ACM: line coding + control line state + serial state */
    5, 0x24, 0x06, CDC_COMM_INTERFACE, CDC_DATA_INTERFACE,   /* union: control 0, subordinate 1 */
    7, 5, CDC_NOTIFY_EP, 0x03, 8, 0, 16,        /* interrupt IN 0x82, 8 bytes, every 16 ms */
    9, 4, CDC_DATA_INTERFACE, 0, 2, 0x0A, 0x00, 0x00, 0,   /* data interface, 2 endpoints */
    7, 5, CDC_DATA_OUT_EP, 0x02, PACKET, 0, 0,  /* bulk OUT 0x01 */
    7, 5, CDC_DATA_IN_EP, 0x02, PACKET, 0, 0,   /* bulk IN 0x81 */
};
const uint16_t usb_config_descriptor_length = sizeof usb_config_descriptor;

static const uint8_t lang[] = {4, 3, 0x09, 0x04};
static const uint8_t manufacturer[] = {16, 3, 'c', 0, '0', 0, '7', 0, '1', 0, 'e', 0, 'm', 0, 'u', 0};
static const uint8_t product[] = {16, 3, 'C', 0, 'D', 0, 'C', 0, ' ', 0, 'A', 0, 'C', 0, 'M', 0};

const uint8_t *usb_string_descriptor(unsigned index)
{
    switch (index) {
    case 0: return lang;
    case 1: return manufacturer;
    case 2: return product;
    default: return 0;
    }
}

int usb_vendor_request(const struct usb_setup *s, uint8_t *data)
{
    (void)s;
    (void)data;
    return -1;
}

void usb_configured(unsigned configuration)
{
    if (!configuration) {                         /* back to the Address state: data endpoints off */
        usb_open_endpoint(1, UTYPE_BULK, STAT_DISABLED, STAT_DISABLED);
        usb_open_endpoint(2, UTYPE_INTERRUPT, STAT_DISABLED, STAT_DISABLED);
        return;
    }
    RXBD(1) = EP1_RX | RXBD_64_BYTES;
    TXBD(1) = EP1_TX;
    TXBD(2) = EP2_TX;
    usb_open_endpoint(1, UTYPE_BULK, STAT_VALID, STAT_NAK);
    usb_open_endpoint(2, UTYPE_INTERRUPT, STAT_DISABLED, STAT_NAK);
}

int usb_set_interface(unsigned interface, unsigned alternate)
{
    return interface <= CDC_DATA_INTERFACE && alternate == 0 ? 0 : -1;
}

int usb_get_interface(unsigned interface)
{
    return interface <= CDC_DATA_INTERFACE ? 0 : -1;
}

void usb_endpoint_event(unsigned ep, int rx)
{
    if (ep == 1 && rx) {
        unsigned count = (RXBD(1) & BD_COUNT_MASK) >> BD_COUNT_SHIFT;
        if (count > PACKET)
            count = PACKET;
        usb_read_packet(EP1_RX, packet, count);
        usb_clear_vtrx(1);
        cdc_on_receive(packet, count);
        usb_set_stat_rx(1, STAT_VALID);
    } else if (rx) {
        usb_clear_vtrx(ep);
    } else {
        usb_clear_vttx(ep);
    }
}

/* Class requests to the communication interface (PSTN 1.20 §6.3). */
int usb_class_request(const struct usb_setup *s, uint8_t *data)
{
    int in = s->bmRequestType & 0x80u;
    if ((s->bmRequestType & 0x1Fu) != 1 || s->wIndex != CDC_COMM_INTERFACE)
        return -1;
    switch (s->bRequest) {
    case SET_LINE_CODING:
        if (in || s->wLength != LINE_CODING_SIZE)
            return -1;
        cdc_line_coding.baud = data[0] | (uint32_t)data[1] << 8 | (uint32_t)data[2] << 16 | (uint32_t)data[3] << 24;
        cdc_line_coding.stop_bits = data[4];
        cdc_line_coding.parity = data[5];
        cdc_line_coding.data_bits = data[6];
        cdc_on_line_coding(&cdc_line_coding);
        return 0;
    case GET_LINE_CODING:
        if (!in)
            return -1;
        for (unsigned i = 0; i < 4; i++)
            data[i] = (uint8_t)(cdc_line_coding.baud >> (8u * i));
        data[4] = cdc_line_coding.stop_bits;
        data[5] = cdc_line_coding.parity;
        data[6] = cdc_line_coding.data_bits;
        return LINE_CODING_SIZE;
    case SET_CONTROL_LINE_STATE:
        if (in || s->wLength)
            return -1;
        cdc_control_line_state = s->wValue & 3u;
        cdc_on_control_line_state(s->wValue & 1u, (s->wValue >> 1) & 1u);
        return 0;
    case SEND_BREAK:
        return in || s->wLength ? -1 : 0;
    }
    return -1;
}
