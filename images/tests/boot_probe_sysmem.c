/*
 * boot_probe_sysmem - stand-in for the ROM bootloader, linked at the system
 * memory base 0x1FFF0000 (sysmem.ld). When the emulator boots from system
 * memory (boot option or empty-flash check), this image prints
 * "hello from system memory\n" and exits 0. It does not write VTOR.
 */
#include "semihost.h"

int main(void)
{
    sh_write0("hello from system memory\n");
    return 0;
}
