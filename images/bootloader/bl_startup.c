/*
 * bl_startup.c - vector table and reset code of the reference system bootloader
 * (clean-room; vector layout per RM0490 §13.3 Table 55 / ARMv6-M B1.5.3).
 *
 * The table sits at 0x1FFF0000.  How the core comes to use it is a design switch
 * (bl.h BL_VECTORS, README.md "Variants"): write VTOR = 0x1FFF0000 first thing (the
 * default), set SYSCFG_CFGR1.MEM_MODE = 01 itself, or rely on what a BOOT0 /
 * option-byte boot gives - VTOR = 0 and MEM_MODE = 01, so that 0x00000000 shows
 * system memory (RM0490 §3.1, §9.1.1; README.md "Resources").  Unexpected
 * exceptions park the core in a loop, as mask ROMs do; the host then sees a device
 * that stops answering.
 */
#include <stdint.h>
#include "bl.h"

extern uint32_t _estack[], _sidata[], _sdata[], _edata[], _sbss[], _ebss[];
extern void bl_main(void) __attribute__((noreturn));
void SysTick_Handler(void);
#if BL_USB_IRQ
void USB_IRQHandler(void);
#define BL_IRQ8 USB_IRQHandler
#else
#define BL_IRQ8 bl_unexpected_exception
#endif

void Reset_Handler(void);

void bl_unexpected_exception(void)
{
    for (;;)
        ;
}

typedef void (*vector_t)(void);

__attribute__((section(".vectors"), used))
const vector_t bl_vectors[48] = {
    (vector_t)_estack,            /* the end of the bootloader's RAM (bootloader*.ld) */
    Reset_Handler,
    bl_unexpected_exception,      /* NMI */
    bl_unexpected_exception,      /* HardFault */
    0, 0, 0, 0, 0, 0, 0,
    bl_unexpected_exception,      /* SVCall */
    0, 0,
    bl_unexpected_exception,      /* PendSV */
    SysTick_Handler,
    /* IRQ 0-31: only USB (IRQ 8) when it is interrupt-driven; USART is polled */
    bl_unexpected_exception, bl_unexpected_exception, bl_unexpected_exception, bl_unexpected_exception,
    bl_unexpected_exception, bl_unexpected_exception, bl_unexpected_exception, bl_unexpected_exception,
    BL_IRQ8, bl_unexpected_exception, bl_unexpected_exception, bl_unexpected_exception,
    bl_unexpected_exception, bl_unexpected_exception, bl_unexpected_exception, bl_unexpected_exception,
    bl_unexpected_exception, bl_unexpected_exception, bl_unexpected_exception, bl_unexpected_exception,
    bl_unexpected_exception, bl_unexpected_exception, bl_unexpected_exception, bl_unexpected_exception,
    bl_unexpected_exception, bl_unexpected_exception, bl_unexpected_exception, bl_unexpected_exception,
    bl_unexpected_exception, bl_unexpected_exception, bl_unexpected_exception, bl_unexpected_exception,
};

void Reset_Handler(void)
{
#if BL_VECTORS == BL_VECTORS_VTOR
    SCB_VTOR = BL_SYSMEM_BASE;                    /* own table, whatever the entry left */
#elif BL_VECTORS == BL_VECTORS_REMAP
    RCC_APBENR2 |= RCC_APBENR2_SYSCFGEN;          /* SYSCFG needs its clock (RM0490 §6.2.15) */
    SYSCFG_CFGR1 = (SYSCFG_CFGR1 & ~SYSCFG_MEM_MODE_MASK) | SYSCFG_MEM_MODE_SYSMEM;
#endif
    /* volatile pointers keep GCC from turning the loops into library calls */
    volatile uint32_t *src = _sidata, *dst = _sdata;
    while (dst < _edata)
        *dst++ = *src++;
    for (dst = _sbss; dst < _ebss;)
        *dst++ = 0;
    bl_main();
}
