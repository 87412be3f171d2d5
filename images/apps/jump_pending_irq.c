/*
 * jump_pending_irq - a clean jump, except that an application interrupt (EXTI0_1,
 * IRQ 5: a button) is left enabled and pending in the NVIC (FACTS §9 row 8).  The
 * jump keeps interrupts masked (as most jump code does with __disable_irq()), so the
 * interrupt is still pending when the bootloader unmasks them.
 */
#include "app.h"

void jump_to_bootloader(void)
{
    hal_disable_irq();
    NVIC_ISER = 1u << 5;
    NVIC_ISPR = 1u << 5;
    clean_jump(SKIP_NVIC_CLEAR | SKIP_PRIMASK_CLEAR);
}
