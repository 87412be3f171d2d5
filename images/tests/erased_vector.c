/*
 * erased_vector - the vector-table entry for IRQ 9 holds 0xFFFFFFFF, as if
 * that flash word were erased (IRQ9_Handler is defined here as an absolute
 * symbol, overriding the weak alias in startup.c). main enables and pends
 * IRQ 9; fetching from 0xFFFFFFFE must fault, escalating to HardFault.
 * HardFault_Handler prints "HardFault after erased vector\n" and exits 42.
 * If execution continues past the pend, prints "no fault\n" and exits 1.
 */
#include "c071.h"
#include "semihost.h"

__asm__(".global IRQ9_Handler\n"
        ".set IRQ9_Handler, 0xFFFFFFFF\n");

void HardFault_Handler(void)
{
    sh_write0("HardFault after erased vector\n");
    sh_exit(42);
}

int main(void)
{
    NVIC_ISER = 1u << 9;
    NVIC_ISPR = 1u << 9;
    barrier();
    __asm__ volatile("nop\n\tnop\n\tnop\n\tnop" ::: "memory");
    sh_write0("no fault\n");
    return 1;
}
