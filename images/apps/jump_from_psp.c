/*
 * jump_from_psp - a clean jump made from thread mode running on the process stack
 * (an RTOS task), so the bootloader starts with CONTROL.SPSEL = 1 and its stack
 * pointer is the task's PSP, not the MSP it loads from its table.
 */
#include "app.h"

static uint32_t task_stack[256] __attribute__((aligned(8)));

void jump_to_bootloader(void)
{
    hal_set_psp((uint32_t)(uintptr_t)&task_stack[256]);
    hal_set_control(2);                       /* thread mode on PSP, as an RTOS task runs */
    clean_jump(0);
}
