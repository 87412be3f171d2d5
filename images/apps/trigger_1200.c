/*
 * trigger_1200 - the Arduino "1200-baud touch" on a USB CDC ACM port (usb/cdc_acm.c):
 * a host tool opens the port at 1200 baud and closes it, i.e. SET_LINE_CODING with
 * dwDTERate = 1200 followed by SET_CONTROL_LINE_STATE with DTR dropped.  The touch is
 * armed by that request and taken when its status stage has completed (so the host
 * sees the request succeed); the main loop then jumps.
 */
#include "trigger.h"
#include "cdc_acm.h"
#include "semihost.h"
#include "usb_device.h"

#define TOUCH_BAUD 1200u

static volatile int touch_armed;
static volatile int jump_requested;

void cdc_on_line_coding(const struct cdc_line_coding *coding) { (void)coding; }
void cdc_on_receive(const uint8_t *data, unsigned count) { (void)data; (void)count; }

void cdc_on_control_line_state(unsigned dtr, unsigned rts)
{
    (void)rts;
    touch_armed = !dtr && cdc_line_coding.baud == TOUCH_BAUD;
}

void usb_on_request_complete(const struct usb_setup *s)
{
    if (touch_armed && s->bmRequestType == 0x21u && s->bRequest == 0x22u)
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
    sh_write0("trigger_1200: waiting for the 1200-baud touch\n");
    while (!jump_requested) {
        __asm__ volatile("wfi");
    }
    sh_write0("trigger_1200: 1200-baud touch, jumping\n");
    jump_to_bootloader();
    sh_write0("trigger_1200: the bootloader returned\n");
    return 1;
}
