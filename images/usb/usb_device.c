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
 *
 * Control transfers: standard requests are checked against USB 2.0 §9.4 (request
 * type, wValue/wIndex/wLength, device state Default/Address/Configured) and STALLed
 * otherwise; SET_ADDRESS is applied at its own status stage; a SETUP abandons the
 * transfer in progress.  Class and vendor requests go to the application's hooks.
 * Optional weak hooks report a bus reset and the end of a request's status stage.
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
static uint8_t pending_address, address_pending;
static uint8_t halted[16];                  /* ENDPOINT_HALT per endpoint number | IN ? 8 : 0 */

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
    halted[ep & 7u] = halted[(ep & 7u) | 8u] = 0;
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

/* -- EP0 ------------------------------------------------------------------------
 *
 * Control transfers (USB 2.0 §8.5.3, §9.2.6.4): a SETUP always starts a new transfer and
 * abandons whatever was in progress (its data, its status stage and a SET_ADDRESS that
 * did not reach its status stage).  The peripheral NAKs both directions when it takes a
 * SETUP (RM0490 §31.5), so a SETUP that arrives while an earlier event is still being
 * handled makes the buffers armed for that event stale: ep0_drop_if_superseded puts both
 * directions back to NAK and the next pass of usb_poll serves the new SETUP.
 */
enum usb_state { STATE_DEFAULT, STATE_ADDRESS, STATE_CONFIGURED };    /* USB 2.0 §9.1.1 */

#define REQ_DIR_IN        0x80u
#define REQ_TYPE_MASK     0x60u
#define REQ_TYPE_STANDARD 0x00u
#define REQ_TYPE_CLASS    0x20u
#define REQ_TYPE_VENDOR   0x40u
#define RECIPIENT_MASK    0x1Fu
#define TO_DEVICE         0u
#define TO_INTERFACE      1u
#define TO_ENDPOINT       2u

/* standard request codes and feature selectors (USB 2.0 Tables 9-4, 9-6) */
enum { GET_STATUS = 0, CLEAR_FEATURE = 1, SET_FEATURE = 3, SET_ADDRESS = 5, GET_DESCRIPTOR = 6,
       SET_DESCRIPTOR = 7, GET_CONFIGURATION = 8, SET_CONFIGURATION = 9, GET_INTERFACE = 10,
       SET_INTERFACE = 11, SYNCH_FRAME = 12 };
#define FEATURE_ENDPOINT_HALT 0u

static enum usb_state device_state;

static int ep0_superseded(void)
{
    return (USB_CHEP(0) & (CHEP_VTRX | CHEP_SETUP)) == (CHEP_VTRX | CHEP_SETUP);
}

/* EP0 is armed (VALID or STALL) only while no newer SETUP is waiting: that SETUP's
   own handling decides what EP0 answers next. */
static void ep0_arm_tx(unsigned stat)
{
    if (!ep0_superseded())
        usb_set_stat_tx(0, stat);
}

static void ep0_arm_rx(unsigned stat)
{
    if (!ep0_superseded())
        usb_set_stat_rx(0, stat);
}

static void ep0_drop_if_superseded(void)
{
    if (!ep0_superseded())
        return;
    usb_set_stat_tx(0, STAT_NAK);
    usb_set_stat_rx(0, STAT_NAK);
    stage = EP0_IDLE;
}

static void ep0_stall(void)
{
    ep0_arm_tx(STAT_STALL);
    ep0_arm_rx(STAT_STALL);
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
    ep0_arm_tx(STAT_VALID);
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
    ep0_arm_rx(STAT_VALID);               /* the host may start the status stage */
}

static void ep0_status_in(void)
{
    TXBD(0) = EP0_TX;                              /* zero-length packet */
    stage = EP0_STATUS_IN;
    ep0_arm_tx(STAT_VALID);
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

/* An interface of the configuration (bNumInterfaces, USB 2.0 §9.6.3). */
static int interface_exists(unsigned w_index)
{
    return usb_configuration && w_index < usb_config_descriptor[4];
}

/* An endpoint a request may name (USB 2.0 §9.4: wIndex = direction | number): EP0 in
   any state; another endpoint only when configured and listed in the configuration. */
static int endpoint_exists(unsigned w_index)
{
    if (w_index & ~0x8Fu)
        return 0;
    if ((w_index & 0x0Fu) == 0)
        return 1;
    if (device_state != STATE_CONFIGURED)
        return 0;
    for (unsigned off = 0; off + 2 < usb_config_descriptor_length && usb_config_descriptor[off] >= 2;
         off += usb_config_descriptor[off]) {
        if (usb_config_descriptor[off + 1] == 5 && usb_config_descriptor[off + 2] == w_index)
            return 1;
    }
    return 0;
}

static unsigned halt_index(unsigned w_index)
{
    return (w_index & 7u) | ((w_index & 0x80u) ? 8u : 0u);
}

static int set_endpoint_halt(unsigned w_index, int halt)
{
    unsigned ep = w_index & 7u, in = w_index & 0x80u;
    if (ep == 0 || !endpoint_exists(w_index))
        return -1;
    halted[halt_index(w_index)] = (uint8_t)halt;
    if (halt) {
        in ? usb_set_stat_tx(ep, STAT_STALL) : usb_set_stat_rx(ep, STAT_STALL);
    } else {
        uint32_t v = USB_CHEP(ep);
        uint32_t w = (v & CHEP_KEEP_MASK) | CHEP_VTRX | CHEP_VTTX;
        w |= v & (in ? CHEP_DTOGTX : CHEP_DTOGRX);     /* data toggle back to DATA0 */
        USB_CHEP(ep) = w;
        usb_configured(usb_configuration);
    }
    return 0;
}

/* Standard requests (USB 2.0 §9.4): the bmRequestType, wValue, wIndex and wLength each
   request defines, in the device states it is defined for; anything else is a request
   error, answered with STALL (§9.2.7). */
static int standard_request(void)
{
    static uint8_t reply[2];
    unsigned type = req.bmRequestType, recipient = type & RECIPIENT_MASK;
    unsigned len;
    const uint8_t *d;

    switch (req.bRequest) {
    case GET_STATUS:
        if (!(type & REQ_DIR_IN) || req.wValue != 0 || req.wLength != 2)
            return -1;
        if (recipient == TO_DEVICE && req.wIndex == 0)
            reply[0] = 0;                          /* bus powered, no remote wake-up */
        else if (recipient == TO_INTERFACE && interface_exists(req.wIndex))
            reply[0] = 0;
        else if (recipient == TO_ENDPOINT && endpoint_exists(req.wIndex))
            reply[0] = halted[halt_index(req.wIndex)];
        else
            return -1;
        reply[1] = 0;
        ep0_reply(reply, 2);
        return 0;
    case CLEAR_FEATURE:
    case SET_FEATURE:
        /* no device feature (no remote wake-up, no test modes at full speed), no interface
           feature: only ENDPOINT_HALT */
        if (type != (REQ_TYPE_STANDARD | TO_ENDPOINT) || req.wLength != 0 || req.wValue != FEATURE_ENDPOINT_HALT)
            return -1;
        if (set_endpoint_halt(req.wIndex, req.bRequest == SET_FEATURE) < 0)
            return -1;
        ep0_status_in();
        return 0;
    case SET_ADDRESS:                              /* takes effect after ITS status stage (§9.4.6) */
        if (type != (REQ_TYPE_STANDARD | TO_DEVICE) || req.wIndex != 0 || req.wLength != 0 || req.wValue > 127 ||
            device_state == STATE_CONFIGURED)
            return -1;
        pending_address = (uint8_t)req.wValue;
        address_pending = 1;
        ep0_status_in();
        return 0;
    case GET_DESCRIPTOR:
        if (type != (REQ_DIR_IN | REQ_TYPE_STANDARD | TO_DEVICE))
            return -1;
        d = descriptor(req.wValue >> 8, req.wValue & 0xFFu, &len);
        if (!d)
            return -1;
        ep0_reply(d, len);
        return 0;
    case GET_CONFIGURATION:
        if (type != (REQ_DIR_IN | REQ_TYPE_STANDARD | TO_DEVICE) || req.wValue != 0 || req.wIndex != 0 ||
            req.wLength != 1)
            return -1;
        reply[0] = (uint8_t)usb_configuration;
        ep0_reply(reply, 1);
        return 0;
    case SET_CONFIGURATION:
        if (type != (REQ_TYPE_STANDARD | TO_DEVICE) || req.wIndex != 0 || req.wLength != 0 ||
            device_state == STATE_DEFAULT ||
            (req.wValue != 0 && req.wValue != usb_config_descriptor[5]))
            return -1;
        usb_configuration = req.wValue;
        device_state = req.wValue ? STATE_CONFIGURED : STATE_ADDRESS;
        for (unsigned i = 0; i < sizeof halted; i++)
            halted[i] = 0;
        usb_configured(req.wValue);
        ep0_status_in();
        return 0;
    case GET_INTERFACE:
        if (type != (REQ_DIR_IN | REQ_TYPE_STANDARD | TO_INTERFACE) || req.wValue != 0 || req.wLength != 1 ||
            !interface_exists(req.wIndex))
            return -1;
#ifdef USB_CLASS_REQUESTS
        if (usb_get_interface(req.wIndex) < 0)
            return -1;
        reply[0] = (uint8_t)usb_get_interface(req.wIndex);
#else
        reply[0] = 0;                              /* one alternate setting per interface */
#endif
        ep0_reply(reply, 1);
        return 0;
    case SET_INTERFACE:
        if (type != (REQ_TYPE_STANDARD | TO_INTERFACE) || req.wLength != 0 || !interface_exists(req.wIndex))
            return -1;
#ifdef USB_CLASS_REQUESTS
        if (usb_set_interface(req.wIndex, req.wValue) < 0)     /* the application picks the alternate */
            return -1;
#else
        if (req.wValue != 0)
            return -1;
        usb_configured(usb_configuration);
#endif
        ep0_status_in();
        return 0;
    }
    return -1;                                     /* SET_DESCRIPTOR, SYNCH_FRAME, unknown */
}

/* Vendor requests go to usb_vendor_request; with USB_CLASS_REQUESTS, class
   requests (bmRequestType type = 01, USB 2.0 §9.3.1) go to usb_class_request. */
static int request_handler(const struct usb_setup *s, uint8_t *data)
{
#ifdef USB_CLASS_REQUESTS
    if ((s->bmRequestType & REQ_TYPE_MASK) == REQ_TYPE_CLASS)
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

static int handled_by_application(unsigned type)
{
#ifdef USB_CLASS_REQUESTS
    return (type & REQ_TYPE_MASK) == REQ_TYPE_VENDOR || (type & REQ_TYPE_MASK) == REQ_TYPE_CLASS;
#else
    return (type & REQ_TYPE_MASK) == REQ_TYPE_VENDOR;
#endif
}

static void ep0_setup(void)
{
    /* VTRX is cleared before the packet is read: a SETUP landing after this point sets it
       again and is seen by ep0_drop_if_superseded */
    usb_clear_vtrx(0);
    uint32_t w0 = PMA_WORD(EP0_RX), w1 = PMA_WORD(EP0_RX + 4);
    usb_setups++;
    req.bmRequestType = (uint8_t)w0;
    req.bRequest = (uint8_t)(w0 >> 8);
    req.wValue = (uint16_t)(w0 >> 16);
    req.wIndex = (uint16_t)w1;
    req.wLength = (uint16_t)(w1 >> 16);
    /* a new SETUP abandons the transfer in progress */
    stage = EP0_IDLE;
    in_left = 0;
    in_zlp = 0;
    out_got = 0;
    address_pending = 0;

    if (handled_by_application(req.bmRequestType)) {
        if (!(req.bmRequestType & REQ_DIR_IN) && req.wLength) {
            if (req.wLength > sizeof ctl_buf) {
                ep0_stall();
                return;
            }
            stage = EP0_DATA_OUT;
            ep0_arm_rx(STAT_VALID);
            return;
        }
        int r = request_handler(&req, ctl_buf);
        if (r < 0)
            ep0_stall();
        else if (req.bmRequestType & REQ_DIR_IN)
            ep0_reply(ctl_buf, (unsigned)r);
        else
            ep0_status_in();
        return;
    }
    if ((req.bmRequestType & REQ_TYPE_MASK) != REQ_TYPE_STANDARD || standard_request() < 0)
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
            ep0_arm_rx(STAT_VALID);
            return;
        }
        if (out_got < req.wLength || request_handler(&req, ctl_buf) < 0)   /* a short data stage fails */
            ep0_stall();
        else
            ep0_status_in();
        return;
    }
    /* status stage of an IN transfer (or a stray OUT): back to idle */
    enum ep0_stage was = stage;
    stage = EP0_IDLE;
    usb_set_stat_tx(0, STAT_NAK);
    ep0_arm_rx(STAT_VALID);
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
        if (address_pending) {                     /* the status stage of SET_ADDRESS itself */
            USB_DADDR = DADDR_EF | pending_address;
            device_state = pending_address ? STATE_ADDRESS : STATE_DEFAULT;
            address_pending = 0;
        }
        stage = EP0_IDLE;
        ep0_arm_rx(STAT_VALID);
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
    device_state = STATE_DEFAULT;
    stage = EP0_IDLE;
    address_pending = 0;
    for (unsigned i = 0; i < sizeof halted; i++)
        halted[i] = 0;
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
            /* an IN that completed before a SETUP arrived is older than the SETUP: first */
            if (chep & CHEP_VTTX) {
                ep0_in();
            } else if (chep & CHEP_VTRX) {
                if (chep & CHEP_SETUP)
                    ep0_setup();
                else
                    ep0_out();
            }
            ep0_drop_if_superseded();
        } else {
            if (chep & CHEP_VTRX)
                usb_endpoint_event(ep, 1);
            if (USB_CHEP(ep) & CHEP_VTTX)
                usb_endpoint_event(ep, 0);
        }
    }
}
