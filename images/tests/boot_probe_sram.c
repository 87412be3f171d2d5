/*
 * boot_probe_sram - image linked entirely into SRAM at 0x20000000 (sram.ld),
 * vector table included. The emulator preloads SRAM with it and resets with
 * the SRAM boot mode; the image prints "hello from SRAM\n" and exits 0. It
 * does not write VTOR.
 */
#include "semihost.h"

int main(void)
{
    sh_write0("hello from SRAM\n");
    return 0;
}
