/*
 * unmodelled_access - writes I2C1_TIMINGR (0x40005410), a register of a block the
 * emulator does not model yet.  Without --strict the access is reported and the
 * image prints "after I2C1 write\n" and exits 0; with --strict the run must stop
 * at that store with exit status 5.
 */
#include "c071.h"
#include "semihost.h"

int main(void)
{
    REG32(0x40005410u) = 0x1A1u;
    sh_write0("after I2C1 write\n");
    return 0;
}
