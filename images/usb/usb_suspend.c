/*
 * usb_suspend.c - USB test device (clean-room) for suspend, resume and remote
 * wake-up, handled the way ST's HAL PCD driver does (RM0490 §31.5
 * "Suspend/resume events"; USB 2.0 §7.1.7.6-7):
 *
 *   ISTR.SUSP  (3 ms without SOF): CNTR.SUSPEN = 1, then clear SUSP, then wait for
 *              CNTR.SUSPRDY (the suspend is effective) before idling;
 *   ISTR.WKUP  (resume from the host): CNTR.SUSPEN = 0, clear WKUP;
 *   ISTR.ESOF  (a missing SOF): counted and cleared.
 *
 * Remote wake-up: vendor request 0x30 OUT arms it.  Once suspended for 5 ms with
 * the request armed, the device drives resume signalling: CNTR.L2RES = 1 for 5 ms
 * (SysTick, 1 ms ticks; USB 2.0 asks for 1 to 15 ms), then L2RES = 0.
 * Vendor request 0x31 IN: suspends, wake-ups, ESOFs, remote wake-ups, SUSPRDY seen
 * (5 x uint32 little-endian).
 * Symbols for tests: suspends, wakeups, esofs, remote_wakeups, suspend_ready_seen.
 */
#include "semihost.h"
#include "usb_device.h"
#include "usb_ext_regs.h"

volatile uint32_t suspends, wakeups, esofs, remote_wakeups, suspend_ready_seen;
volatile uint32_t ticks;
static volatile int suspended, wake_armed;
static uint32_t suspended_at;

const uint8_t usb_device_descriptor[18] = {
    18, 1, 0x00, 0x02, 0xFF, 0x00, 0x00, 64,
    0x83, 0x04, 0x73, 0xC0,     /* idVendor 0x0483, idProduct 0xC073 */
    0x00, 0x01, 0, 0, 0, 1
};

const uint8_t usb_config_descriptor[] = {
    9, 2, 18, 0, 1, 1, 0, 0xA0, 50,        /* bmAttributes: bus powered, remote wake-up */
    9, 4, 0, 0, 0, 0xFF, 0x00, 0x00, 0,
};
const uint16_t usb_config_descriptor_length = sizeof usb_config_descriptor;

const uint8_t *usb_string_descriptor(unsigned index)
{
    (void)index;
    return 0;
}

int usb_vendor_request(const struct usb_setup *s, uint8_t *data)
{
    if (s->bRequest == 0x30 && !(s->bmRequestType & 0x80u)) {
        wake_armed = 1;
        return 0;
    }
    if (s->bRequest == 0x31 && (s->bmRequestType & 0x80u)) {
        const uint32_t v[5] = {suspends, wakeups, esofs, remote_wakeups, suspend_ready_seen};
        for (unsigned i = 0; i < 20; i++)
            data[i] = (uint8_t)(v[i / 4] >> (8u * (i % 4)));
        return 20;
    }
    return -1;
}

void usb_configured(unsigned configuration) { (void)configuration; }
void usb_endpoint_event(unsigned ep, int rx) { (void)ep; (void)rx; }

void SysTick_Handler(void)
{
    ticks++;
}

static void delay_ms(uint32_t ms)
{
    uint32_t start = ticks;
    while (ticks - start < ms)
        ;
}

static void bus_events(void)
{
    uint32_t istr = USB_ISTR;
    if (istr & ISTR_ESOF) {
        USB_ISTR = ~ISTR_ESOF;
        esofs++;
    }
    if (istr & ISTR_SUSP) {
        USB_CNTR |= CNTR_SUSPEN;                   /* first the suspend request ... */
        USB_ISTR = ~ISTR_SUSP;                     /* ... then the flag (HAL order) */
        while (!(USB_CNTR & CNTR_SUSPRDY))
            ;
        suspend_ready_seen++;
        suspends++;
        suspended = 1;
        suspended_at = ticks;
    }
    if (istr & ISTR_WKUP) {
        USB_CNTR &= ~CNTR_SUSPEN;
        USB_ISTR = ~ISTR_WKUP;
        wakeups++;
        suspended = 0;
    }
}

static void remote_wakeup(void)
{
    wake_armed = 0;
    remote_wakeups++;
    USB_CNTR |= CNTR_L2RES;                        /* K state to the host ... */
    delay_ms(5);
    USB_CNTR &= ~CNTR_L2RES;                       /* ... for 5 ms */
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
    SYST_LOAD = 48000u - 1u;                       /* 1 ms at 48 MHz */
    SYST_VAL = 0;
    SYST_CTRL = SYST_CTRL_ENABLE | SYST_CTRL_TICKINT | SYST_CTRL_HCLK;
    usb_start();
    sh_write0("usb suspend ready\n");
    for (;;) {
        usb_poll();
        bus_events();
        if (suspended && wake_armed && ticks - suspended_at >= 5)
            remote_wakeup();
    }
}
