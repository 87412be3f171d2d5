/*
 * usb_echo.c - USB test device (clean-room): a vendor-class full-speed device
 * whose bulk OUT endpoint 0x01 feeds a 4 KiB ring buffer that the bulk IN
 * endpoint 0x81 sends back.  The OUT endpoint NAKs while fewer than 64 bytes
 * are free (flow control by NAK).  Built twice from this source:
 *   usb_echo.elf      polls the peripheral in the main loop;
 *   usb_echo_irq.elf  (-DUSB_IRQ) handles it in the USB interrupt (IRQ 8) and
 *                     sleeps in WFI otherwise.
 * Vendor requests: 0x01 IN  -> 4-byte little-endian count of echoed bytes;
 *                  0x02 OUT -> store up to 256 bytes; 0x03 IN -> read them back;
 *                  anything else STALLs.
 * Console: "usb echo ready" once the device is connected (DPPU set).
 * Symbols for tests: echo_bytes, crs_synced, usb_resets, usb_setups, usb_sofs,
 * usb_configuration.
 */
#include "semihost.h"
#include "usb_device.h"
#include "usb_regs.h"

#define EP1_RX 0xC0u
#define EP1_TX 0x100u
#define PACKET 64u
#define RING   4096u

volatile uint32_t echo_bytes;
volatile uint32_t crs_synced;

static uint8_t ring[RING];
static unsigned head, tail;                 /* head: write index, tail: read index (mod 2*RING) */
static int tx_busy, rx_blocked;
static uint8_t stored[256];
static unsigned stored_len;
static uint8_t packet[PACKET];

/* -- descriptors (USB 2.0 §9.6) ----------------------------------------------- */
const uint8_t usb_device_descriptor[18] = {
    18, 1, 0x00, 0x02,          /* bLength, DEVICE, bcdUSB 2.00 */
    0xFF, 0x00, 0x00, 64,       /* vendor class, bMaxPacketSize0 64 */
    0x83, 0x04, 0x71, 0xC0,     /* idVendor 0x0483, idProduct 0xC071 */
    0x00, 0x01, 1, 2, 3, 1      /* bcdDevice 1.00, strings 1/2/3, one configuration */
};

const uint8_t usb_config_descriptor[] = {
    9, 2, 32, 0, 1, 1, 0, 0x80, 50,        /* CONFIGURATION: total 32, 1 interface, value 1, 100 mA */
    9, 4, 0, 0, 2, 0xFF, 0x00, 0x00, 4,    /* INTERFACE 0 alt 0, 2 endpoints, vendor, string 4 */
    7, 5, 0x01, 0x02, PACKET, 0, 0,        /* ENDPOINT 0x01 bulk OUT 64 */
    7, 5, 0x81, 0x02, PACKET, 0, 0,        /* ENDPOINT 0x81 bulk IN 64 */
};
const uint16_t usb_config_descriptor_length = sizeof usb_config_descriptor;

static const uint8_t lang[] = {4, 3, 0x09, 0x04};
static const uint8_t manufacturer[] = {16, 3, 'c', 0, '0', 0, '7', 0, '1', 0, 'e', 0, 'm', 0, 'u', 0};
static const uint8_t product[] = {18, 3, 'U', 0, 'S', 0, 'B', 0, ' ', 0, 'e', 0, 'c', 0, 'h', 0, 'o', 0};
static const uint8_t serial[] = {10, 3, '0', 0, '0', 0, '0', 0, '1', 0};
static const uint8_t interface_name[] = {10, 3, 'e', 0, 'c', 0, 'h', 0, 'o', 0};

const uint8_t *usb_string_descriptor(unsigned index)
{
    switch (index) {
    case 0: return lang;
    case 1: return manufacturer;
    case 2: return product;
    case 3: return serial;
    case 4: return interface_name;
    }
    return 0;
}

int usb_vendor_request(const struct usb_setup *s, uint8_t *data)
{
    if (s->bRequest == 0x01 && (s->bmRequestType & 0x80u)) {
        uint32_t n = echo_bytes;
        for (unsigned i = 0; i < 4; i++)
            data[i] = (uint8_t)(n >> (8u * i));
        return 4;
    }
    if (s->bRequest == 0x02 && !(s->bmRequestType & 0x80u)) {
        stored_len = s->wLength;
        for (unsigned i = 0; i < stored_len; i++)
            stored[i] = data[i];
        return 0;
    }
    if (s->bRequest == 0x03 && (s->bmRequestType & 0x80u)) {
        for (unsigned i = 0; i < stored_len; i++)
            data[i] = stored[i];
        return (int)stored_len;
    }
    return -1;
}

/* -- echo ------------------------------------------------------------------------ */
static unsigned used(void) { return (head - tail) & (2 * RING - 1); }

static void try_send(void)
{
    unsigned n = used();
    if (tx_busy || n == 0)
        return;
    if (n > PACKET)
        n = PACKET;
    for (unsigned i = 0; i < n; i++)
        packet[i] = ring[(tail + i) & (RING - 1)];
    tail = (tail + n) & (2 * RING - 1);
    usb_write_packet(EP1_TX, packet, n);
    TXBD(1) = EP1_TX | (n << BD_COUNT_SHIFT);
    tx_busy = 1;
    echo_bytes += n;
    usb_set_stat_tx(1, STAT_VALID);
}

void usb_configured(unsigned configuration)
{
    head = tail = 0;
    tx_busy = rx_blocked = 0;
    if (!configuration)
        return;
    TXBD(1) = EP1_TX;
    RXBD(1) = EP1_RX | RXBD_64_BYTES;
    usb_open_endpoint(1, UTYPE_BULK, STAT_VALID, STAT_NAK);
}

void usb_endpoint_event(unsigned ep, int rx)
{
    if (ep != 1)
        return;
    if (rx) {
        unsigned count = (RXBD(1) & BD_COUNT_MASK) >> BD_COUNT_SHIFT;
        usb_read_packet(EP1_RX, packet, count);
        usb_clear_vtrx(1);
        for (unsigned i = 0; i < count; i++)
            ring[(head + i) & (RING - 1)] = packet[i];
        head = (head + count) & (2 * RING - 1);
        if (RING - used() >= PACKET)
            usb_set_stat_rx(1, STAT_VALID);
        else
            rx_blocked = 1;
    } else {
        usb_clear_vttx(1);
        tx_busy = 0;
    }
    try_send();
    if (rx_blocked && RING - used() >= PACKET) {
        rx_blocked = 0;
        usb_set_stat_rx(1, STAT_VALID);
    }
}

/* -- clocks and main loop -------------------------------------------------------- */
static void clock_48mhz(void)
{
    FLASH_ACR = (FLASH_ACR & ~FLASH_ACR_LATENCY_MASK) | 1u;   /* one wait state above 24 MHz */
    while ((FLASH_ACR & FLASH_ACR_LATENCY_MASK) != 1u)
        ;
    RCC_CR = RCC_CR & ~RCC_CR_HSIDIV_MASK;                    /* HSIDIV = 1: SYSCLK 48 MHz */
    while (!(RCC_CR & RCC_CR_HSIRDY))
        ;
}

static void watch_crs(void)
{
    if (!crs_synced && (CRS_ISR & CRS_ISR_SYNCOKF)) {
        crs_synced = 1;
        CRS_ICR = CRS_ISR_SYNCOKF;
    }
}

#ifdef USB_IRQ
void IRQ8_Handler(void)
{
    usb_poll();
    watch_crs();
}
#endif

int main(void)
{
    clock_48mhz();
    usb_start();
    sh_write0("usb echo ready\n");
#ifdef USB_IRQ
    NVIC_ISER = 1u << 8;
    for (;;)
        __asm__ volatile("wfi");
#else
    for (;;) {
        /* one status register polled alone: the emulator sees a fixed point and skips ahead */
        while (!(USB_ISTR & (ISTR_CTR | ISTR_RESET | ISTR_SOF)))
            ;
        usb_poll();
        watch_crs();
    }
#endif
}
