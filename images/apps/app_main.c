/*
 * app_main.c - the scenario application: 48 MHz, SysTick tick, USB device with
 * interrupts; waits for the host's "enter bootloader" request, then calls the
 * scenario's jump_to_bootloader().  See app.h.
 */
#include "app.h"
#include "semihost.h"
#include "usb_device.h"
#include "usb_regs.h"

static volatile uint32_t jump_requested;

__attribute__((weak)) void scenario_early(void) {}
__attribute__((weak)) void scenario_prepare(void) {}

const uint8_t usb_device_descriptor[18] = {
    18, 1, 0x00, 0x02,          /* bLength, DEVICE, bcdUSB 2.00 */
    0xFF, 0x00, 0x00, 64,       /* vendor class, bMaxPacketSize0 64 */
    0x83, 0x04, 0x71, 0xA0,     /* idVendor 0x0483, idProduct 0xA071 (the application) */
    0x00, 0x01, 1, 2, 0, 1      /* bcdDevice 1.00, strings 1/2, one configuration */
};

const uint8_t usb_config_descriptor[] = {
    9, 2, 18, 0, 1, 1, 0, 0x80, 50,        /* CONFIGURATION: total 18, 1 interface, value 1 */
    9, 4, 0, 0, 0, 0xFF, 0x00, 0x00, 0,    /* INTERFACE 0: vendor, no endpoints */
};
const uint16_t usb_config_descriptor_length = sizeof usb_config_descriptor;

static const uint8_t lang[] = {4, 3, 0x09, 0x04};
static const uint8_t manufacturer[] = {16, 3, 'c', 0, '0', 0, '7', 0, '1', 0, 'e', 0, 'm', 0, 'u', 0};
static const uint8_t product[] = {8, 3, 'a', 0, 'p', 0, 'p', 0};

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
    (void)data;
    if (s->bRequest == APP_REQUEST_ENTER_BOOTLOADER && !(s->bmRequestType & 0x80u)) {
        jump_requested = 1;
        return 0;
    }
    return -1;
}

void usb_configured(unsigned configuration) { (void)configuration; }
void usb_endpoint_event(unsigned ep, int rx) { (void)ep; (void)rx; }

void IRQ8_Handler(void)
{
    usb_poll();
}

int main(void)
{
    scenario_early();
    hal_init();
    hal_clock_48mhz();
    usb_start();
    NVIC_ISER = 1u << 8;                       /* USB interrupt */
    while (!jump_requested) {
        __asm__ volatile("wfi");
    }
    hal_delay_ms(2);                           /* let the request's status stage complete */
    scenario_prepare();
    sh_write0("app: jumping to the system bootloader\n");
    jump_to_bootloader();
    sh_write0("app: the bootloader returned\n");
    return 1;
}
