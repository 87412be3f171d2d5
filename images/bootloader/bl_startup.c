/*
 * bl_startup.c - vector table and reset code of the reference system bootloader
 * (clean-room; vector layout per RM0490 §13.3 Table 55 / ARMv6-M B1.5.3).
 *
 * The table sits at 0x1FFF0000.  VTOR is never written: after a BOOT0 /
 * option-byte boot VTOR = 0 and SYSCFG_CFGR1.MEM_MODE = 01, so 0x00000000 shows
 * system memory and this table is the one the core uses (RM0490 §3.1, §9.1.1;
 * README.md "Resources").  Unexpected exceptions park the core in a loop, as
 * mask ROMs do; the host then sees a device that stops answering.
 */
#include <stdint.h>
#include "bl.h"

extern uint32_t _estack[], _sidata[], _sdata[], _edata[], _sbss[], _ebss[];
extern void bl_main(void) __attribute__((noreturn));
void SysTick_Handler(void);

void Reset_Handler(void);

void bl_unexpected_exception(void)
{
    for (;;)
        ;
}

typedef void (*vector_t)(void);

__attribute__((section(".vectors"), used))
const vector_t bl_vectors[48] = {
    (vector_t)_estack,            /* 0x20006000 */
    Reset_Handler,
    bl_unexpected_exception,      /* NMI */
    bl_unexpected_exception,      /* HardFault */
    0, 0, 0, 0, 0, 0, 0,
    bl_unexpected_exception,      /* SVCall */
    0, 0,
    bl_unexpected_exception,      /* PendSV */
    SysTick_Handler,
    /* IRQ 0-31: none enabled by the bootloader (USB and USART are polled) */
    bl_unexpected_exception, bl_unexpected_exception, bl_unexpected_exception, bl_unexpected_exception,
    bl_unexpected_exception, bl_unexpected_exception, bl_unexpected_exception, bl_unexpected_exception,
    bl_unexpected_exception, bl_unexpected_exception, bl_unexpected_exception, bl_unexpected_exception,
    bl_unexpected_exception, bl_unexpected_exception, bl_unexpected_exception, bl_unexpected_exception,
    bl_unexpected_exception, bl_unexpected_exception, bl_unexpected_exception, bl_unexpected_exception,
    bl_unexpected_exception, bl_unexpected_exception, bl_unexpected_exception, bl_unexpected_exception,
    bl_unexpected_exception, bl_unexpected_exception, bl_unexpected_exception, bl_unexpected_exception,
    bl_unexpected_exception, bl_unexpected_exception, bl_unexpected_exception, bl_unexpected_exception,
};

void Reset_Handler(void)
{
    /* volatile pointers keep GCC from turning the loops into library calls */
    volatile uint32_t *src = _sidata, *dst = _sdata;
    while (dst < _edata)
        *dst++ = *src++;
    for (dst = _sbss; dst < _ebss;)
        *dst++ = 0;
    bl_main();
}
