/*
 * usb_stream.c - USB test device (clean-room) for the endpoint kinds beyond plain
 * bulk: isochronous IN and OUT and double-buffered bulk IN and OUT, written the way
 * ST's HAL PCD driver programs them (RM0490 §31.5 "Double-buffered endpoints",
 * "Isochronous transfers"):
 *
 *   CHEP1R  EA 1  iso OUT 0x01   buffers RX0 0x100 / RX1 0x140 (DTOG_RX picks)
 *   CHEP2R  EA 1  iso IN  0x81   buffers TX0 0x180 / TX1 0x1C0 (DTOG_TX picks)
 *   CHEP3R  EA 2  bulk OUT 0x02  double-buffered, RX0 0x200 / RX1 0x240, SW_BUF = DTOG_TX
 *   CHEP4R  EA 2  bulk IN  0x82  double-buffered, TX0 0x280 / TX1 0x2C0, SW_BUF = DTOG_RX
 *
 * EP1 OUT and EP1 IN (and EP2 OUT / IN) are separate registers with the same EA:
 * the peripheral routes each token by its direction.
 *
 * Iso OUT: each packet is logged (length, first byte, byte sum, frame number).
 * Iso IN: packet k (16 bytes) is k, then (k * 3 + i) & 0xFF; the buffer the engine
 * has just sent is refilled with the packet after the one it holds next.
 * Bulk OUT: every byte goes into a running hash (h = h * 31 + byte) and a count;
 * the buffer is released (SW_BUF toggled) before it is read, as HAL does.
 * Bulk IN: an endless stream, byte j = (j * 7 + 3) & 0xFF, in 64-byte packets; a
 * filled buffer is released when the engine waits for one (DTOG_TX = SW_BUF).
 * Vendor request 0x20 IN: bulk OUT count, hash, iso OUT packets, iso IN packets
 * (4 x uint32 little-endian).
 * Symbols for tests: iso_out_log, iso_out_packets, iso_in_packets, bulk_out_bytes,
 * bulk_out_hash, bulk_in_bytes.
 */
#include "semihost.h"
#include "usb_device.h"
#include "usb_ext_regs.h"

#define ISO_RX0 0x100u
#define ISO_RX1 0x140u
#define ISO_TX0 0x180u
#define ISO_TX1 0x1C0u
#define BLK_RX0 0x200u
#define BLK_RX1 0x240u
#define BLK_TX0 0x280u
#define BLK_TX1 0x2C0u
#define PACKET 64u
#define ISO_IN_SIZE 16u
#define LOG 32u

struct iso_record { uint32_t length, first, sum, frame; };

volatile struct iso_record iso_out_log[LOG];
volatile uint32_t iso_out_packets, iso_in_packets;
volatile uint32_t bulk_out_bytes, bulk_out_hash, bulk_in_bytes;

static uint32_t iso_in_next;
static uint8_t blk_filled[2];
static uint8_t packet[PACKET];

/* -- descriptors (USB 2.0 §9.6) ----------------------------------------------- */
const uint8_t usb_device_descriptor[18] = {
    18, 1, 0x00, 0x02, 0xFF, 0x00, 0x00, 64,
    0x83, 0x04, 0x72, 0xC0,     /* idVendor 0x0483, idProduct 0xC072 */
    0x00, 0x01, 1, 2, 0, 1
};

const uint8_t usb_config_descriptor[] = {
    9, 2, 46, 0, 1, 1, 0, 0x80, 50,
    9, 4, 0, 0, 4, 0xFF, 0x00, 0x00, 0,
    7, 5, 0x01, 0x01, PACKET, 0, 1,        /* iso OUT, 1 ms */
    7, 5, 0x81, 0x01, PACKET, 0, 1,        /* iso IN, 1 ms */
    7, 5, 0x02, 0x02, PACKET, 0, 0,        /* bulk OUT */
    7, 5, 0x82, 0x02, PACKET, 0, 0,        /* bulk IN */
};
const uint16_t usb_config_descriptor_length = sizeof usb_config_descriptor;

static const uint8_t lang[] = {4, 3, 0x09, 0x04};
static const uint8_t manufacturer[] = {16, 3, 'c', 0, '0', 0, '7', 0, '1', 0, 'e', 0, 'm', 0, 'u', 0};
static const uint8_t product[] = {22, 3, 'U', 0, 'S', 0, 'B', 0, ' ', 0, 's', 0, 't', 0, 'r', 0, 'e', 0,
                                  'a', 0, 'm', 0};

const uint8_t *usb_string_descriptor(unsigned index)
{
    switch (index) {
    case 0: return lang;
    case 1: return manufacturer;
    case 2: return product;
    }
    return 0;
}

static void put32(uint8_t *p, uint32_t v)
{
    for (unsigned i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8u * i));
}

int usb_vendor_request(const struct usb_setup *s, uint8_t *data)
{
    if (s->bRequest == 0x20 && (s->bmRequestType & 0x80u)) {
        put32(data, bulk_out_bytes);
        put32(data + 4, bulk_out_hash);
        put32(data + 8, iso_out_packets);
        put32(data + 12, iso_in_packets);
        return 16;
    }
    return -1;
}

/* -- CHEPnR: fixed fields written as values, toggle fields reached by XOR -------- */
static void chep_type(unsigned n, unsigned ea, unsigned utype, unsigned kind)
{
    uint32_t v = USB_CHEP(n);
    USB_CHEP(n) = (v & CHEP_KEEP_MASK & ~(CHEP_EA_MASK | (3u << CHEP_UTYPE_SHIFT) | CHEP_EPKIND))
                  | ea | (utype << CHEP_UTYPE_SHIFT) | (kind ? CHEP_EPKIND : 0) | CHEP_VTRX | CHEP_VTTX;
}

static void chep_clear_dtogs(unsigned n)
{
    uint32_t v = USB_CHEP(n);
    USB_CHEP(n) = (v & CHEP_KEEP_MASK) | CHEP_VTRX | CHEP_VTTX | (v & (CHEP_DTOGRX | CHEP_DTOGTX));
}

static void chep_toggle(unsigned n, uint32_t bits)     /* DTOG / SW_BUF: a written 1 toggles */
{
    USB_CHEP(n) = (USB_CHEP(n) & CHEP_KEEP_MASK) | CHEP_VTRX | CHEP_VTTX | bits;
}

/* -- isochronous ------------------------------------------------------------------ */
static void iso_in_fill(unsigned buffer)
{
    uint8_t p[ISO_IN_SIZE];
    p[0] = (uint8_t)iso_in_next;
    for (unsigned i = 1; i < ISO_IN_SIZE; i++)
        p[i] = (uint8_t)(iso_in_next * 3u + i);
    usb_write_packet(buffer ? ISO_TX1 : ISO_TX0, p, ISO_IN_SIZE);
    DBUF(2, buffer) = (buffer ? ISO_TX1 : ISO_TX0) | (ISO_IN_SIZE << BD_COUNT_SHIFT);
    iso_in_next++;
}

static void iso_out_event(void)
{
    unsigned filled = (USB_CHEP(1) & CHEP_DTOGRX) ? 0u : 1u;   /* the engine has moved to the other */
    usb_clear_vtrx(1);
    unsigned count = (DBUF(1, filled) & BD_COUNT_MASK) >> BD_COUNT_SHIFT;
    usb_read_packet(filled ? ISO_RX1 : ISO_RX0, packet, count);
    if (iso_out_packets < LOG) {
        uint32_t sum = 0;
        for (unsigned i = 0; i < count; i++)
            sum += packet[i];
        volatile struct iso_record *r = &iso_out_log[iso_out_packets];
        r->length = count;
        r->first = count ? packet[0] : 0xFFFFFFFFu;
        r->sum = sum;
        r->frame = USB_FNR & FNR_FN_MASK;
    }
    iso_out_packets++;
}

static void iso_in_event(void)
{
    unsigned sent = (USB_CHEP(2) & CHEP_DTOGTX) ? 0u : 1u;
    usb_clear_vttx(2);
    iso_in_packets++;
    iso_in_fill(sent);
}

/* -- double-buffered bulk ------------------------------------------------------------ */
static void bulk_out_event(void)
{
    unsigned filled = (USB_CHEP(3) & CHEP_DTOGRX) ? 0u : 1u;
    usb_clear_vtrx(3);
    chep_toggle(3, CHEP_DTOGTX);                   /* release it first: the engine fills the other */
    unsigned count = (DBUF(3, filled) & BD_COUNT_MASK) >> BD_COUNT_SHIFT;
    usb_read_packet(filled ? BLK_RX1 : BLK_RX0, packet, count);
    for (unsigned i = 0; i < count; i++)
        bulk_out_hash = bulk_out_hash * 31u + packet[i];
    bulk_out_bytes += count;
}

static void bulk_in_refill(void)
{
    for (unsigned n = 0; n < 2; n++) {
        /* the engine sends buffer DTOG_TX next: fill that one first */
        unsigned b = ((USB_CHEP(4) & CHEP_DTOGTX) ? 1u : 0u) ^ n;
        if (blk_filled[b])
            continue;
        for (unsigned i = 0; i < PACKET; i++)
            packet[i] = (uint8_t)((bulk_in_bytes + i) * 7u + 3u);
        usb_write_packet(b ? BLK_TX1 : BLK_TX0, packet, PACKET);
        DBUF(4, b) = (b ? BLK_TX1 : BLK_TX0) | (PACKET << BD_COUNT_SHIFT);
        bulk_in_bytes += PACKET;
        blk_filled[b] = 1;
    }
}

static void bulk_in_kick(void)
{
    uint32_t v = USB_CHEP(4);
    unsigned engine = (v & CHEP_DTOGTX) ? 1u : 0u, sw_buf = (v & CHEP_DTOGRX) ? 1u : 0u;
    if (engine == sw_buf && blk_filled[engine])
        chep_toggle(4, CHEP_DTOGRX);               /* the engine was waiting: hand it the buffer */
}

static void bulk_in_event(void)
{
    unsigned sent = (USB_CHEP(4) & CHEP_DTOGTX) ? 0u : 1u;
    usb_clear_vttx(4);
    blk_filled[sent] = 0;
    bulk_in_refill();
    bulk_in_kick();
}

/* -- configuration ---------------------------------------------------------------------- */
void usb_configured(unsigned configuration)
{
    if (!configuration)
        return;
    /* iso OUT: both buffers RX format, DTOG_RX = 0 (buffer 0 first), TX direction disabled */
    chep_type(1, 1, UTYPE_ISO, 0);
    DBUF(1, 0) = ISO_RX0 | RX_BD_32x2;
    DBUF(1, 1) = ISO_RX1 | RX_BD_32x2;
    chep_clear_dtogs(1);
    usb_set_stat_rx(1, STAT_VALID);
    usb_set_stat_tx(1, STAT_DISABLED);
    /* iso IN: two packets ready, DTOG_TX = 0 */
    chep_type(2, 1, UTYPE_ISO, 0);
    iso_in_next = 0;
    iso_in_fill(0);
    iso_in_fill(1);
    chep_clear_dtogs(2);
    usb_set_stat_tx(2, STAT_VALID);
    usb_set_stat_rx(2, STAT_DISABLED);
    /* bulk OUT double-buffered: DTOG_RX = 0, SW_BUF (DTOG_TX) = 1: the engine owns buffer 0 */
    chep_type(3, 2, UTYPE_BULK, 1);
    DBUF(3, 0) = BLK_RX0 | RX_BD_32x2;
    DBUF(3, 1) = BLK_RX1 | RX_BD_32x2;
    chep_clear_dtogs(3);
    chep_toggle(3, CHEP_DTOGTX);
    usb_set_stat_rx(3, STAT_VALID);
    usb_set_stat_tx(3, STAT_DISABLED);
    /* bulk IN double-buffered: DTOG_TX = SW_BUF = 0 (nothing to send yet), then fill and release */
    chep_type(4, 2, UTYPE_BULK, 1);
    chep_clear_dtogs(4);
    blk_filled[0] = blk_filled[1] = 0;
    bulk_in_bytes = 0;
    usb_set_stat_tx(4, STAT_VALID);
    usb_set_stat_rx(4, STAT_DISABLED);
    bulk_in_refill();
    bulk_in_kick();
}

void usb_endpoint_event(unsigned ep, int rx)
{
    switch (ep) {
    case 1: if (rx) iso_out_event(); break;
    case 2: if (!rx) iso_in_event(); break;
    case 3: if (rx) bulk_out_event(); break;
    case 4: if (!rx) bulk_in_event(); break;
    }
}

static void clock_48mhz(void)
{
    FLASH_ACR = (FLASH_ACR & ~FLASH_ACR_LATENCY_MASK) | 1u;
    while ((FLASH_ACR & FLASH_ACR_LATENCY_MASK) != 1u)
        ;
    RCC_CR = RCC_CR & ~RCC_CR_HSIDIV_MASK;
    while (!(RCC_CR & RCC_CR_HSIRDY))
        ;
}

int main(void)
{
    clock_48mhz();
    usb_start();
    sh_write0("usb stream ready\n");
    for (;;) {
        while (!(USB_ISTR & (ISTR_CTR | ISTR_RESET | ISTR_SOF)))
            ;
        usb_poll();
    }
}
