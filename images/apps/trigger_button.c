/*
 * trigger_button - jumps when the user button (B1 on PC13, pressed = low, pull-up)
 * has been held for DEBOUNCE_MS: the button is read in the main loop as
 * HAL_GPIO_ReadPin does (IDR), the debounce counts HAL ticks.  GPIO set up in
 * HAL_GPIO_Init order: port clock on (with the read-back that makes the enable take
 * effect), PUPDR, then MODER.
 */
#include "trigger.h"
#include "semihost.h"

#define BUTTON_PIN   13u
#define DEBOUNCE_MS  20u

static void button_init(void)
{
    RCC_IOPENR |= RCC_IOPENR_GPIOCEN;
    (void)RCC_IOPENR;                          /* the clock-enable read-back of __HAL_RCC_GPIOx_CLK_ENABLE */
    GPIO_PUPDR(GPIOC_BASE) = (GPIO_PUPDR(GPIOC_BASE) & ~(3u << (2u * BUTTON_PIN))) |
                             (GPIO_PULL_UP << (2u * BUTTON_PIN));
    GPIO_MODER(GPIOC_BASE) = (GPIO_MODER(GPIOC_BASE) & ~(3u << (2u * BUTTON_PIN))) |
                             (GPIO_MODE_INPUT << (2u * BUTTON_PIN));
}

static int button_pressed(void)
{
    return !(GPIO_IDR(GPIOC_BASE) & (1u << BUTTON_PIN));
}

int main(void)
{
    trigger_system_init();
    button_init();
    sh_write0("trigger_button: waiting for B1\n");
    int held = 0;
    uint32_t since = 0;
    for (;;) {
        if (!button_pressed()) {
            held = 0;
        } else if (!held) {
            held = 1;
            since = hal_ticks;
        } else if (hal_ticks - since >= DEBOUNCE_MS) {
            break;
        }
    }
    sh_write0("trigger_button: B1 pressed, jumping\n");
    jump_to_bootloader();
    sh_write0("trigger_button: the bootloader returned\n");
    return 1;
}
