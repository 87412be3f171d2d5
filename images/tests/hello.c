/*
 * hello - smallest flash image: boots from main flash through the reset
 * vector, runs the startup code (data copy, bss clear, VTOR write) and prints
 * "hello from flash\n" over semihosting SYS_WRITE0, then exits with status 0
 * (SYS_EXIT, ADP_Stopped_ApplicationExit).
 */
#include "semihost.h"

int main(void)
{
    sh_write0("hello from flash\n");
    return 0;
}
