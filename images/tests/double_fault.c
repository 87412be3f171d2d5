/*
 * double_fault - main executes an undefined instruction (udf #0, 0xDE00),
 * which raises HardFault. HardFault_Handler prints "in HardFault\n" and then
 * executes another udf: a fault at HardFault priority, which on ARMv6-M puts
 * the core into lockup. The emulator must report the lockup; no semihosting
 * exit is ever reached.
 */
#include "semihost.h"

void HardFault_Handler(void)
{
    sh_write0("in HardFault\n");
    __asm__ volatile(".short 0xde00" ::: "memory");   /* udf #0 */
    for (;;)
        ;
}

int main(void)
{
    __asm__ volatile(".short 0xde00" ::: "memory");   /* udf #0 */
    sh_write0("udf did not fault\n");
    return 1;
}
