/*
 * trigger_button_exti - the user button (B1 on PC13, pressed = low, pull-up) through
 * EXTI line 13, as HAL_GPIO_Init configures GPIO_MODE_IT_FALLING: PUPDR, MODER input,
 * then EXTICR4.EXTI13 = port C, RTSR1 bit cleared, FTSR1 bit set, IMR1 bit set; the
 * EXTI4_15 interrupt (IRQ 7) enabled in the NVIC.  The handler clears FPR1 (write 1)
 * as HAL_GPIO_EXTI_IRQHandler does; the main loop sleeps in WFI and, after a falling
 * edge, jumps if the button is still held DEBOUNCE_MS later.
 */
#include "trigger.h"
#include "semihost.h"

#define BUTTON_PIN   13u
#define DEBOUNCE_MS  20u

static volatile uint32_t falling_edges;

static void button_init(void)
{
    RCC_IOPENR |= RCC_IOPENR_GPIOCEN;
    (void)RCC_IOPENR;
    GPIO_PUPDR(GPIOC_BASE) = (GPIO_PUPDR(GPIOC_BASE) & ~(3u << (2u * BUTTON_PIN))) |
                             (GPIO_PULL_UP << (2u * BUTTON_PIN));
    GPIO_MODER(GPIOC_BASE) = (GPIO_MODER(GPIOC_BASE) & ~(3u << (2u * BUTTON_PIN))) |
                             (GPIO_MODE_INPUT << (2u * BUTTON_PIN));
    unsigned shift = 8u * (BUTTON_PIN & 3u);   /* EXTICR4 holds lines 12..15, 8 bits each */
    EXTI_EXTICR(4) = (EXTI_EXTICR(4) & ~(0xFFu << shift)) | (EXTICR_PORT_C << shift);
    EXTI_RTSR1 &= ~(1u << BUTTON_PIN);
    EXTI_FTSR1 |= 1u << BUTTON_PIN;
    EXTI_IMR1 |= 1u << BUTTON_PIN;
    nvic_set_priority(IRQ_EXTI4_15, 0);
    nvic_enable(IRQ_EXTI4_15);
}

void IRQ7_Handler(void)                         /* EXTI4_15 */
{
    if (EXTI_RPR1 & (1u << BUTTON_PIN))
        EXTI_RPR1 = 1u << BUTTON_PIN;
    if (EXTI_FPR1 & (1u << BUTTON_PIN)) {
        EXTI_FPR1 = 1u << BUTTON_PIN;
        falling_edges++;
    }
}

int main(void)
{
    trigger_system_init();
    button_init();
    sh_write0("trigger_button_exti: waiting for B1\n");
    uint32_t seen = 0;
    for (;;) {
        while (falling_edges == seen) {
            __asm__ volatile("wfi");
        }
        seen = falling_edges;
        hal_delay_ms(DEBOUNCE_MS);
        if (!(GPIO_IDR(GPIOC_BASE) & (1u << BUTTON_PIN)))
            break;
    }
    sh_write0("trigger_button_exti: B1 pressed, jumping\n");
    jump_to_bootloader();
    sh_write0("trigger_button_exti: the bootloader returned\n");
    return 1;
}
