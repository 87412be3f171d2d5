/*
 * jump_from_handler - a clean jump made from inside an interrupt handler (the USB
 * request handler calls the jump directly instead of setting a flag), so the
 * bootloader starts in handler mode with the exception still active (IPSR != 0).
 */
#include "app.h"

static volatile int jumping;

void PendSV_Handler(void)
{
    clean_jump(0);
}

void jump_to_bootloader(void)
{
    SCB_ICSR = 1u << 28;                      /* PENDSVSET: the jump happens in PendSV */
    jumping = 1;
    __asm__ volatile("dsb\n\tisb" ::: "memory");
}
