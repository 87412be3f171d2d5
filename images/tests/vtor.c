/*
 * vtor - checks that exceptions are vectored through SCB_VTOR. Copies the
 * 48-word flash vector table into a 256-byte-aligned RAM array, replaces the
 * SysTick entry (index 15) with relocated_systick_handler, writes VTOR = the
 * RAM array and pends SysTick with ICSR.PENDSTSET. Passes (exit 0, prints
 * "relocated SysTick taken\n") if relocated_systick_handler ran and the flash
 * SysTick_Handler did not; otherwise prints the failed check and exits 1.
 */
#include "c071.h"
#include "semihost.h"

extern const uint32_t vector_table[48];     /* common/startup.c */

uint32_t ram_vectors[48] __attribute__((aligned(256)));
volatile uint32_t relocated_hits;
volatile uint32_t flash_hits;

void relocated_systick_handler(void)
{
    relocated_hits++;
}

void SysTick_Handler(void)
{
    flash_hits++;
}

int main(void)
{
    if (SCB_VTOR != FLASH_MEM_BASE)
        sh_fail("VTOR == 0x08000000 after startup");
    for (int i = 0; i < 48; i++) {
        volatile uint32_t *src = (volatile uint32_t *)&vector_table[i];
        ram_vectors[i] = *src;
    }
    ram_vectors[15] = (uint32_t)(uintptr_t)relocated_systick_handler;
    barrier();
    SCB_VTOR = (uint32_t)(uintptr_t)ram_vectors;
    barrier();
    if (SCB_VTOR != (uint32_t)(uintptr_t)ram_vectors)
        sh_fail("VTOR reads back the RAM table address");

    SCB_ICSR = SCB_ICSR_PENDSTSET;
    barrier();
    __asm__ volatile("nop\n\tnop" ::: "memory");

    if (flash_hits != 0)
        sh_fail("flash SysTick_Handler must not run");
    if (relocated_hits != 1)
        sh_fail("relocated_systick_handler ran once");
    sh_write0("relocated SysTick taken\n");
    return 0;
}
