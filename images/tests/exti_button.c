/*
 * exti_button - the user button on PC13 toggles the LED on PA5 through
 * EXTI line 13 (EXTI4_15, IRQ 7), configured the way HAL_GPIO_Init does it
 * for GPIO_MODE_IT_FALLING / GPIO_NOPULL: port clock on, pin mode, then
 * EXTICR4 port selection and read-modify-write of RTSR1, FTSR1, EMR1, IMR1.
 * The handler does what HAL_GPIO_EXTI_IRQHandler does: test RPR1 and FPR1,
 * clear the flag by writing 1, then call the callback, which toggles the LED
 * as HAL_GPIO_TogglePin does (one BSRR write). The board drives PC13 (the
 * NUCLEO button pulls it up; pressed = 0). After three presses main prints
 * "3 presses\n" and exits 0; it sleeps in wfi between presses.
 */
#include "c071_lowpower.h"
#include "semihost.h"

#define BUTTON_PIN 13u
#define LED_PIN    5u

volatile uint32_t presses;
volatile uint32_t rising_seen;

static void led_toggle(void)
{
    uint32_t odr = GPIO_ODR(GPIOA_BASE);
    GPIO_BSRR(GPIOA_BASE) = ((odr & (1u << LED_PIN)) << 16) | (~odr & (1u << LED_PIN));
}

void IRQ7_Handler(void)                       /* EXTI4_15 */
{
    uint32_t pin = 1u << BUTTON_PIN;
    if (EXTI_RPR1 & pin) {
        EXTI_RPR1 = pin;
        rising_seen++;
    }
    if (EXTI_FPR1 & pin) {
        EXTI_FPR1 = pin;
        led_toggle();
        presses++;
    }
}

int main(void)
{
    RCC_IOPENR |= RCC_IOPENR_GPIOAEN | RCC_IOPENR_GPIOCEN;
    (void)RCC_IOPENR;                          /* the HAL reads back after a clock enable */

    /* PA5: output push-pull, low speed, no pull */
    GPIO_OSPEEDR(GPIOA_BASE) &= ~(3u << (2 * LED_PIN));
    GPIO_OTYPER(GPIOA_BASE) &= ~(1u << LED_PIN);
    GPIO_PUPDR(GPIOA_BASE) &= ~(3u << (2 * LED_PIN));
    GPIO_MODER(GPIOA_BASE) = (GPIO_MODER(GPIOA_BASE) & ~(3u << (2 * LED_PIN))) | (GPIO_MODE_OUTPUT << (2 * LED_PIN));

    /* PC13: input, no pull, interrupt on the falling edge */
    GPIO_PUPDR(GPIOC_BASE) &= ~(3u << (2 * BUTTON_PIN));
    GPIO_MODER(GPIOC_BASE) &= ~(3u << (2 * BUTTON_PIN));
    uint32_t cr = EXTI_EXTICR(BUTTON_PIN >> 2);
    cr &= ~(0xFFu << (8 * (BUTTON_PIN & 3)));
    cr |= EXTI_PORT_C << (8 * (BUTTON_PIN & 3));
    EXTI_EXTICR(BUTTON_PIN >> 2) = cr;
    EXTI_RTSR1 &= ~(1u << BUTTON_PIN);
    EXTI_FTSR1 |= 1u << BUTTON_PIN;
    EXTI_EMR1 &= ~(1u << BUTTON_PIN);
    EXTI_IMR1 |= 1u << BUTTON_PIN;

    nvic_set_prio(IRQ_EXTI4_15, 0xC0);
    NVIC_ISER = 1u << IRQ_EXTI4_15;

    while (presses < 3)
        __asm__ volatile("wfi");
    if (rising_seen)
        sh_fail("rising edge flagged with only the falling trigger selected");
    sh_write0("3 presses\n");
    return 0;
}
