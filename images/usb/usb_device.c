/*
 * usb_device.c - minimal USB device stack (clean-room) on the USB_DRD_FS
 * peripheral, written from the register rules in FACTS §5.2-5.3 and the
 * USB 2.0 specification chapter 9 (standard requests) and §8.5.3 (control
 * transfers).
 *
 * Packet memory layout (PMA offsets): 0x00 buffer descriptor table,
 * 0x40 EP0 TX, 0x80 EP0 RX, then the application's endpoints from 0xC0.
 *
 * CHEPnR writes follow FACTS §5.2: read, keep the normal bits, XOR the toggle
 * fields to reach the target, write 1 to VTRX/VTTX to leave them alone.
 */
#include "usb_device.h"
#include "usb_regs.h"

#define EP0_TX 0x40u
#define EP0_RX 0x80u
#define EP0_SIZE 64u

enum ep0_stage { EP0_IDLE, EP0_DATA_IN, EP0_DATA_OUT, EP0_STATUS_IN, EP0_STATUS_OUT };

volatile uint32_t usb_resets, usb_setups, usb_sofs;
volatile uint32_t usb_configuration;

static enum ep0_stage stage;
static struct usb_setup req;
static const uint8_t *in_ptr;
static unsigned in_left;
static int in_zlp;
#ifndef USB_CTL_BUF_SIZE
#define USB_CTL_BUF_SIZE 256u        /* largest OUT data stage of a control request */
#endif
static uint8_t ctl_buf[USB_CTL_BUF_SIZE];
static unsigned out_got;
static uint8_t pending_address;
static uint8_t halted[8];

__attribute__((weak)) void usb_on_bus_reset(void) {}
__attribute__((weak)) void usb_on_request_complete(const struct usb_setup *s) { (void)s; }

/* -- CHEPnR helpers ------------------------------------------------------------ */
void usb_set_stat_rx(unsigned ep, unsigned stat)
{
    uint32_t v = USB_CHEP(ep);
    uint32_t w = (v & CHEP_KEEP_MASK) | CHEP_VTRX | CHEP_VTTX;
    w |= (v & CHEP_STATRX_MASK) ^ (stat << CHEP_STATRX_SHIFT);
    USB_CHEP(ep) = w;
}

void usb_set_stat_tx(unsigned ep, unsigned stat)
{
    uint32_t v = USB_CHEP(ep);
    uint32_t w = (v & CHEP_KEEP_MASK) | CHEP_VTRX | CHEP_VTTX;
    w |= (v & CHEP_STATTX_MASK) ^ (stat << CHEP_STATTX_SHIFT);
    USB_CHEP(ep) = w;
}

void usb_clear_vtrx(unsigned ep)
{
    USB_CHEP(ep) = (USB_CHEP(ep) & CHEP_KEEP_MASK & ~CHEP_VTRX) | CHEP_VTTX;
}

void usb_clear_vttx(unsigned ep)
{
    USB_CHEP(ep) = (USB_CHEP(ep) & CHEP_KEEP_MASK & ~CHEP_VTTX) | CHEP_VTRX;
}

/* Endpoint n answers address n; both data toggles back to DATA0. */
void usb_open_endpoint(unsigned ep, unsigned type, unsigned stat_rx, unsigned stat_tx)
{
    uint32_t v = USB_CHEP(ep);
    uint32_t w = ep | (type << CHEP_UTYPE_SHIFT) | CHEP_VTRX | CHEP_VTTX;
    w |= (v & CHEP_STATRX_MASK) ^ (stat_rx << CHEP_STATRX_SHIFT);
    w |= (v & CHEP_STATTX_MASK) ^ (stat_tx << CHEP_STATTX_SHIFT);
    w |= v & (CHEP_DTOGRX | CHEP_DTOGTX);          /* toggling a 1 clears it */
    USB_CHEP(ep) = w;
    halted[ep] = 0;
}

/* -- packet memory (32-bit accesses only, FACTS §5.1) ------------------------- */
unsigned usb_read_packet(unsigned off, uint8_t *dst, unsigned count)
{
    unsigned i = 0;
    while (i < count) {
        uint32_t w = PMA_WORD(off + i);
        for (unsigned b = 0; b < 4 && i < count; b++, i++)
            dst[i] = (uint8_t)(w >> (8u * b));
    }
    return count;
}

void usb_write_packet(unsigned off, const uint8_t *src, unsigned count)
{
    for (unsigned i = 0; i < count; i += 4) {
        uint32_t w = 0;
        for (unsigned b = 0; b < 4 && i + b < count; b++)
            w |= (uint32_t)src[i + b] << (8u * b);
        PMA_WORD(off + i) = w;
    }
}

/* -- EP0 ------------------------------------------------------------------------ */
static void ep0_stall(void)
{
    usb_set_stat_tx(0, STAT_STALL);
    usb_set_stat_rx(0, STAT_STALL);
    stage = EP0_IDLE;
}

static void ep0_send_chunk(void)
{
    unsigned n = in_left < EP0_SIZE ? in_left : EP0_SIZE;
    usb_write_packet(EP0_TX, in_ptr, n);
    TXBD(0) = EP0_TX | (n << BD_COUNT_SHIFT);
    in_ptr += n;
    in_left -= n;
    if (n < EP0_SIZE)
        in_zlp = 0;                               /* a short packet ends the stage */
    usb_set_stat_tx(0, STAT_VALID);
}

static void ep0_reply(const uint8_t *data, unsigned len)
{
    if (len > req.wLength)
        len = req.wLength;
    in_ptr = data;
    in_left = len;
    in_zlp = (len < req.wLength) && (len % EP0_SIZE == 0);
    stage = EP0_DATA_IN;
    ep0_send_chunk();
    usb_set_stat_rx(0, STAT_VALID);               /* the host may start the status stage */
}

static void ep0_status_in(void)
{
    TXBD(0) = EP0_TX;                              /* zero-length packet */
    stage = EP0_STATUS_IN;
    usb_set_stat_tx(0, STAT_VALID);
}

static const uint8_t *descriptor(unsigned type, unsigned index, unsigned *len)
{
    const uint8_t *d = 0;
    if (type == 1) {
        d = usb_device_descriptor;
        *len = sizeof usb_device_descriptor;
    } else if (type == 2 && index == 0) {
        d = usb_config_descriptor;
        *len = usb_config_descriptor_length;
    } else if (type == 3) {
        d = usb_string_descriptor(index);
        if (d)
            *len = d[0];
    }
    return d;
}

static int standard_request(void)
{
    static uint8_t reply[2];
    unsigned recipient = req.bmRequestType & 0x1Fu;
    unsigned len;
    const uint8_t *d;

    switch (req.bRequest) {
    case 6:                                        /* GET_DESCRIPTOR */
        d = descriptor(req.wValue >> 8, req.wValue & 0xFFu, &len);
        if (!d || !(req.bmRequestType & 0x80u))
            return -1;
        ep0_reply(d, len);
        return 0;
    case 5:                                        /* SET_ADDRESS: applied after the status stage */
        pending_address = req.wValue & 0x7Fu;
        ep0_status_in();
        return 0;
    case 9:                                        /* SET_CONFIGURATION */
        if (req.wValue > 1)
            return -1;
        usb_configuration = req.wValue;
        usb_configured(req.wValue);
        ep0_status_in();
        return 0;
    case 8:                                        /* GET_CONFIGURATION */
        reply[0] = (uint8_t)usb_configuration;
        ep0_reply(reply, 1);
        return 0;
#ifdef USB_CLASS_REQUESTS
    case 11:                                       /* SET_INTERFACE: the application picks the alternate */
        if (!usb_configuration || usb_set_interface(req.wIndex, req.wValue) < 0)
            return -1;
        ep0_status_in();
        return 0;
    case 10:                                       /* GET_INTERFACE */
        if (!usb_configuration || usb_get_interface(req.wIndex) < 0)
            return -1;
        reply[0] = (uint8_t)usb_get_interface(req.wIndex);
        ep0_reply(reply, 1);
        return 0;
#else
    case 11:                                       /* SET_INTERFACE: one interface, alternate 0 */
        if (!usb_configuration || req.wIndex != 0 || req.wValue != 0)
            return -1;
        usb_configured(usb_configuration);
        ep0_status_in();
        return 0;
    case 10:                                       /* GET_INTERFACE */
        if (!usb_configuration || req.wIndex != 0)
            return -1;
        reply[0] = 0;
        ep0_reply(reply, 1);
        return 0;
#endif
    case 0:                                        /* GET_STATUS */
        reply[0] = recipient == 2 ? halted[req.wIndex & 7u] : 0;
        reply[1] = 0;
        ep0_reply(reply, 2);
        return 0;
    case 1:                                        /* CLEAR_FEATURE(ENDPOINT_HALT) */
    case 3:                                        /* SET_FEATURE(ENDPOINT_HALT) */
        if (recipient != 2 || req.wValue != 0 || (req.wIndex & 0x7Fu) == 0 || (req.wIndex & 0x7Fu) > 7)
            return -1;
        {
            unsigned ep = req.wIndex & 7u, in = req.wIndex & 0x80u;
            if (req.bRequest == 3) {
                halted[ep] = 1;
                in ? usb_set_stat_tx(ep, STAT_STALL) : usb_set_stat_rx(ep, STAT_STALL);
            } else {
                uint32_t v = USB_CHEP(ep);
                uint32_t w = (v & CHEP_KEEP_MASK) | CHEP_VTRX | CHEP_VTTX;
                w |= v & (in ? CHEP_DTOGTX : CHEP_DTOGRX);     /* data toggle back to DATA0 */
                USB_CHEP(ep) = w;
                halted[ep] = 0;
                usb_configured(usb_configuration);
            }
        }
        ep0_status_in();
        return 0;
    }
    return -1;
}

/* Vendor requests go to usb_vendor_request; with USB_CLASS_REQUESTS, class
   requests (bmRequestType type = 01, USB 2.0 §9.3.1) go to usb_class_request. */
static int request_handler(const struct usb_setup *s, uint8_t *data)
{
#ifdef USB_CLASS_REQUESTS
    if ((s->bmRequestType & 0x60u) == 0x20u)
        return usb_class_request(s, data);
#endif
    return usb_vendor_request(s, data);
}

#ifdef USB_CLASS_REQUESTS
int usb_control_idle(void)
{
    return stage == EP0_IDLE;
}
#endif

static void ep0_setup(void)
{
    uint32_t w0 = PMA_WORD(EP0_RX), w1 = PMA_WORD(EP0_RX + 4);
    usb_clear_vtrx(0);
    usb_setups++;
    req.bmRequestType = (uint8_t)w0;
    req.bRequest = (uint8_t)(w0 >> 8);
    req.wValue = (uint16_t)(w0 >> 16);
    req.wIndex = (uint16_t)w1;
    req.wLength = (uint16_t)(w1 >> 16);
    in_left = 0;

    int r;
#ifdef USB_CLASS_REQUESTS
    if ((req.bmRequestType & 0x60u) == 0x40u || (req.bmRequestType & 0x60u) == 0x20u) {  /* vendor or class */
#else
    if ((req.bmRequestType & 0x60u) == 0x40u) {   /* vendor */
#endif
        if (!(req.bmRequestType & 0x80u) && req.wLength) {
            if (req.wLength > sizeof ctl_buf) {
                ep0_stall();
                return;
            }
            out_got = 0;
            stage = EP0_DATA_OUT;
            usb_set_stat_rx(0, STAT_VALID);
            return;
        }
        r = request_handler(&req, ctl_buf);
        if (r < 0)
            ep0_stall();
        else if (req.bmRequestType & 0x80u)
            ep0_reply(ctl_buf, (unsigned)r);
        else
            ep0_status_in();
        return;
    }
    if ((req.bmRequestType & 0x60u) != 0 || standard_request() < 0)
        ep0_stall();
}

static void ep0_out(void)
{
    unsigned count = (RXBD(0) & BD_COUNT_MASK) >> BD_COUNT_SHIFT;
    usb_clear_vtrx(0);
    if (stage == EP0_DATA_OUT) {
        if (out_got + count > req.wLength) {
            ep0_stall();
            return;
        }
        usb_read_packet(EP0_RX, ctl_buf + out_got, count);
        out_got += count;
        if (out_got < req.wLength && count == EP0_SIZE) {
            usb_set_stat_rx(0, STAT_VALID);
            return;
        }
        if (request_handler(&req, ctl_buf) < 0)
            ep0_stall();
        else
            ep0_status_in();
        return;
    }
    /* status stage of an IN transfer (or a stray OUT): back to idle */
    enum ep0_stage was = stage;
    stage = EP0_IDLE;
    usb_set_stat_tx(0, STAT_NAK);
    usb_set_stat_rx(0, STAT_VALID);
    if (was == EP0_STATUS_OUT || was == EP0_DATA_IN)
        usb_on_request_complete(&req);
}

static void ep0_in(void)
{
    usb_clear_vttx(0);
    if (stage == EP0_DATA_IN) {
        if (in_left || in_zlp) {
            if (!in_left)
                in_zlp = 0;
            ep0_send_chunk();
        } else {
            stage = EP0_STATUS_OUT;
        }
    } else if (stage == EP0_STATUS_IN) {
        if (pending_address) {
            USB_DADDR = DADDR_EF | pending_address;
            pending_address = 0;
        }
        stage = EP0_IDLE;
        usb_set_stat_rx(0, STAT_VALID);
        usb_on_request_complete(&req);
    }
}

/* -- bus events ----------------------------------------------------------------- */
static void usb_bus_reset(void)
{
    TXBD(0) = EP0_TX;
    RXBD(0) = EP0_RX | RXBD_64_BYTES;
    usb_open_endpoint(0, UTYPE_CONTROL, STAT_VALID, STAT_NAK);
    USB_DADDR = DADDR_EF;                          /* address 0, function enabled */
    usb_configuration = 0;
    stage = EP0_IDLE;
    pending_address = 0;
    usb_resets++;
    usb_on_bus_reset();
}

void usb_start(void)
{
    RCC_CCIPR2 &= ~RCC_CCIPR2_USBSEL;             /* kernel clock = HSIUSB48 */
    RCC_CR |= RCC_CR_HSIUSB48ON;
    while (!(RCC_CR & RCC_CR_HSIUSB48RDY))
        ;
    RCC_APBENR1 |= RCC_APBENR1_USBEN | RCC_APBENR1_CRSEN;
    CRS_CR |= CRS_CR_AUTOTRIMEN | CRS_CR_CEN;       /* sync on USB SOF (CFGR reset value) */

    USB_CNTR = CNTR_USBRST;                        /* power up, still in reset */
    USB_CNTR = 0;
    USB_ISTR = 0;
#ifndef USB_POLLED
    USB_CNTR = CNTR_CTRM | CNTR_RESETM | CNTR_SOFM;   /* interrupt sources (none when polled) */
#endif
    USB_BCDR |= BCDR_DPPU;                         /* connect */
}

void usb_poll(void)
{
    uint32_t istr = USB_ISTR;
    if (istr & ISTR_RESET) {
        USB_ISTR = ~ISTR_RESET;
        usb_bus_reset();
    }
    if (istr & ISTR_SOF) {
        USB_ISTR = ~ISTR_SOF;
        usb_sofs++;
    }
    while ((istr = USB_ISTR) & ISTR_CTR) {
        unsigned ep = istr & ISTR_IDN_MASK;
        uint32_t chep = USB_CHEP(ep);
        if (ep == 0) {
            if (chep & CHEP_VTRX) {
                if (chep & CHEP_SETUP)
                    ep0_setup();
                else
                    ep0_out();
            }
            if (USB_CHEP(0) & CHEP_VTTX)
                ep0_in();
        } else {
            if (chep & CHEP_VTRX)
                usb_endpoint_event(ep, 1);
            if (USB_CHEP(ep) & CHEP_VTTX)
                usb_endpoint_event(ep, 0);
        }
    }
}
