/*
 * trigger_cdc - a USB CDC ACM virtual serial port (usb/cdc_acm.c) that jumps when the
 * line "DFU" arrives on its bulk OUT endpoint: the USB interrupt hands each packet to
 * cdc_on_receive, which queues the bytes (as a CDC receive callback fills an
 * application FIFO); the main loop sleeps in WFI and reads the queue after each
 * interrupt.  SET_LINE_CODING, GET_LINE_CODING and SET_CONTROL_LINE_STATE are served
 * by the CDC function; the line settings do not matter to a USB serial port.
 */
#include "trigger.h"
#include "cdc_acm.h"
#include "semihost.h"
#include "usb_device.h"

#define RX_FIFO 256u

static volatile uint8_t rx_fifo[RX_FIFO];
static volatile uint32_t rx_head;               /* written by the USB interrupt */
static uint32_t rx_tail;                        /* read by the main loop */
static struct line_matcher line;

void cdc_on_line_coding(const struct cdc_line_coding *coding) { (void)coding; }
void cdc_on_control_line_state(unsigned dtr, unsigned rts) { (void)dtr; (void)rts; }

void cdc_on_receive(const uint8_t *data, unsigned count)
{
    for (unsigned i = 0; i < count && rx_head - rx_tail < RX_FIFO; i++) {
        rx_fifo[rx_head % RX_FIFO] = data[i];
        rx_head++;
    }
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
    sh_write0("trigger_cdc: waiting for DFU on the CDC port\n");
    for (;;) {
        while (rx_tail == rx_head) {
            __asm__ volatile("wfi");
        }
        char c = (char)rx_fifo[rx_tail % RX_FIFO];
        rx_tail++;
        if (line_matches(&line, c, "DFU"))
            break;
    }
    sh_write0("trigger_cdc: DFU received, jumping\n");
    jump_to_bootloader();
    sh_write0("trigger_cdc: the bootloader returned\n");
    return 1;
}
