/*
 * unmodelled_access - sets I2C1_CR1.SMBHEN (SMBus host mode), a field the I2C model
 * declares but does not implement, after enabling the I2C1 clock.  Without --strict
 * the access is reported and the image prints "after I2C1 write\n" and exits 0; with
 * --strict the run must stop at that store with exit status 5.
 */
#include "c071.h"
#include "semihost.h"

int main(void)
{
    RCC_APBENR1 |= 1u << 21;                  /* I2C1EN */
    REG32(0x40005400u) = 1u << 20;            /* I2C1_CR1.SMBHEN */
    sh_write0("after I2C1 write\n");
    return 0;
}
