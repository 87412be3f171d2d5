/*
 * bench_idle - the idle main loop of a HAL + TinyUSB device. At 48 MHz SysTick
 * interrupts at 1 kHz (LOAD = 47999) and counts milliseconds, as HAL_IncTick does.
 * The USB clock is on and the USB line (IRQ 8) enabled in the NVIC; the peripheral
 * itself stays idle (no host). Every pass of the main loop does what tud_task() does
 * around its event queue - disable the USB interrupt in the NVIC (ICER), look at the
 * queue, enable it again (ISER) - then blinks PA5 every 250 ms as the examples'
 * board task does, and sleeps with WFI until the next interrupt. After 2000 ms it
 * prints "idle 2000 ms\n" and exits 0.
 */
#include "bench.h"
#include "semihost.h"

#define RUN_MS 2000u

volatile uint32_t ms_ticks;
volatile uint32_t usb_queue_count;       /* filled by the USB interrupt handler (never here) */
uint32_t passes;

void SysTick_Handler(void)
{
    ms_ticks++;
}

void IRQ8_Handler(void)
{
    usb_queue_count++;
}

int main(void)
{
    clock_48mhz();
    RCC_IOPENR |= RCC_IOPENR_GPIOAEN;
    RCC_APBENR1 |= RCC_APBENR1_USBEN;
    GPIOA_MODER = (GPIOA_MODER & ~(3u << 10)) | (1u << 10);   /* PA5 output */
    SYST_LOAD = 47999;
    SYST_VAL = 0;
    SYST_CTRL = SYST_CTRL_HCLK | SYST_CTRL_TICKINT | SYST_CTRL_ENABLE;
    NVIC_ISER = 1u << IRQ_USB;
    uint32_t led_at = 0, led = 0;
    while (ms_ticks < RUN_MS) {
        NVIC_ICER = 1u << IRQ_USB;           /* dcd_int_disable */
        uint32_t events = usb_queue_count;
        if (events)
            usb_queue_count = 0;
        NVIC_ISER = 1u << IRQ_USB;           /* dcd_int_enable */
        if (ms_ticks - led_at >= 250u) {
            led_at += 250u;
            led ^= 1u;
            GPIOA_BSRR = led ? 1u << 5 : 1u << (5 + 16);
        }
        passes++;
        __asm__ volatile("wfi");
    }
    SYST_CTRL = 0;
    sh_write0("idle 2000 ms\n");
    return 0;
}
