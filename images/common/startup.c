/*
 * startup.c - vector table and reset code for the c071emu test images
 * (own code; vector layout per RM0490 §13.3 Table 55 / ARMv6-M B1.5.3).
 *
 * Every handler is a weak alias of Default_Handler, so an image overrides a
 * vector simply by defining a function with the same name (IRQ<n>_Handler
 * for external interrupt n). An image may also define the name as an
 * absolute symbol (".set IRQ9_Handler, 0xFFFFFFFF") to place a raw value in
 * the table; see tests/erased_vector.c.
 */
#include <stdint.h>
#include "c071.h"
#include "semihost.h"

extern uint32_t _estack[];                    /* linker script: top of RAM */
extern uint32_t _sidata[], _sdata[], _edata[]; /* .data load / run range */
extern uint32_t _sbss[], _ebss[];
extern int main(void);

void Reset_Handler(void);

void Default_Handler(void)
{
    sh_write0("unexpected exception\n");
    sh_exit(99);
}

#define WEAK_ALIAS __attribute__((weak, alias("Default_Handler")))
void NMI_Handler(void) WEAK_ALIAS;
void HardFault_Handler(void) WEAK_ALIAS;
void SVC_Handler(void) WEAK_ALIAS;
void PendSV_Handler(void) WEAK_ALIAS;
void SysTick_Handler(void) WEAK_ALIAS;
#define IRQ_DECL(n) void IRQ##n##_Handler(void) WEAK_ALIAS;
IRQ_DECL(0)  IRQ_DECL(1)  IRQ_DECL(2)  IRQ_DECL(3)  IRQ_DECL(4)  IRQ_DECL(5)
IRQ_DECL(6)  IRQ_DECL(7)  IRQ_DECL(8)  IRQ_DECL(9)  IRQ_DECL(10) IRQ_DECL(11)
IRQ_DECL(12) IRQ_DECL(13) IRQ_DECL(14) IRQ_DECL(15) IRQ_DECL(16) IRQ_DECL(17)
IRQ_DECL(18) IRQ_DECL(19) IRQ_DECL(20) IRQ_DECL(21) IRQ_DECL(22) IRQ_DECL(23)
IRQ_DECL(24) IRQ_DECL(25) IRQ_DECL(26) IRQ_DECL(27) IRQ_DECL(28) IRQ_DECL(29)
IRQ_DECL(30) IRQ_DECL(31)

typedef void (*vector_t)(void);

/* 16 system entries + 32 external interrupts = 48 words. */
__attribute__((section(".vectors"), used))
const vector_t vector_table[48] = {
    (vector_t)_estack,      /*  0 initial MSP */
    Reset_Handler,          /*  1 */
    NMI_Handler,            /*  2 */
    HardFault_Handler,      /*  3 */
    0, 0, 0, 0, 0, 0, 0,    /*  4-10 reserved on ARMv6-M */
    SVC_Handler,            /* 11 */
    0, 0,                   /* 12-13 reserved */
    PendSV_Handler,         /* 14 */
    SysTick_Handler,        /* 15 */
    IRQ0_Handler,  IRQ1_Handler,  IRQ2_Handler,  IRQ3_Handler,
    IRQ4_Handler,  IRQ5_Handler,  IRQ6_Handler,  IRQ7_Handler,
    IRQ8_Handler,  IRQ9_Handler,  IRQ10_Handler, IRQ11_Handler,
    IRQ12_Handler, IRQ13_Handler, IRQ14_Handler, IRQ15_Handler,
    IRQ16_Handler, IRQ17_Handler, IRQ18_Handler, IRQ19_Handler,
    IRQ20_Handler, IRQ21_Handler, IRQ22_Handler, IRQ23_Handler,
    IRQ24_Handler, IRQ25_Handler, IRQ26_Handler, IRQ27_Handler,
    IRQ28_Handler, IRQ29_Handler, IRQ30_Handler, IRQ31_Handler,
};

void Reset_Handler(void)
{
    /* Copy initialised data to RAM (skipped when already in place, i.e. for
     * the SRAM-linked image), then clear .bss. .noinit is left untouched.
     * Volatile pointers keep GCC from turning the loops into memcpy/memset. */
    volatile uint32_t *src = _sidata;
    volatile uint32_t *dst = _sdata;
    if (src != dst)
        while (dst < _edata)
            *dst++ = *src++;
    for (dst = _sbss; dst < _ebss; )
        *dst++ = 0;

    /* Imitate what a vendor SystemInit does for a flash application: point
     * the vector table base register at the start of main flash (FACTS §2.5).
     * Only when this image's own table lives in main flash; the system-memory
     * and SRAM stand-ins leave VTOR alone. */
    uintptr_t table = (uintptr_t)vector_table;
    if (table >= FLASH_MEM_BASE && table < FLASH_MEM_BASE + 0x20000u)
        SCB_VTOR = FLASH_MEM_BASE;

    sh_exit(main());
}
