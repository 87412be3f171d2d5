/*
 * i2c_nack - an I2C master write to an address nobody answers (RM0490 I2C chapter).
 *
 * The register sequence is the one the vendor HAL uses: MSP init (GPIOB clock, PB6/PB7
 * alternate function 6 open drain, I2C1 clock), I2C init (PE = 0, TIMINGR, OAR1, CR2
 * AUTOEND | NACK, OAR2, CR1, PE = 1), analog filter configuration (PE off/on around
 * ANFOFF), then a master transmit: wait BUSY = 0, CR2 = SADD | NBYTES | AUTOEND | START,
 * and poll TXIS while checking for errors.  A NACK ends the poll: wait STOPF, clear
 * NACKF and STOPF, flush TXDR, reset CR2.  On a bare bus the address is never
 * acknowledged, so the transfer must end in NACKF then STOPF: print
 * "I2C1 NACK from 0x50\n" and exit 0; anything else fails.
 */
#include "c071_bus.h"
#include "semihost.h"

#define TIMING_100KHZ_12MHZ 0x20420F13u   /* PRESC 2, SCLDEL 4, SDADEL 2, SCLH 15, SCLL 19 */
#define DEVICE_ADDRESS      (0x50u << 1)
#define POLL_LIMIT          100000u

static void msp_init(void)
{
    RCC_IOPENR |= RCC_IOPENR_GPIOBEN;
    GPIOB_AFRL = (GPIOB_AFRL & ~(0xFFu << 24)) | (6u << 24) | (6u << 28);   /* PB6, PB7: AF6 */
    GPIOB_OTYPER |= (1u << 6) | (1u << 7);                                    /* open drain */
    GPIOB_MODER = (GPIOB_MODER & ~(0xFu << 12)) | (0xAu << 12);               /* alternate */
    RCC_APBENR1 |= RCC_APBENR1_I2C1EN;
}

static void i2c_init(uint32_t base)
{
    I2C_CR1(base) &= ~I2C_CR1_PE;
    I2C_TIMINGR(base) = TIMING_100KHZ_12MHZ & 0xF0FFFFFFu;
    I2C_OAR1(base) &= ~I2C_OAR1_OA1EN;
    I2C_OAR1(base) = I2C_OAR1_OA1EN | 0u;      /* own address 0, 7-bit */
    I2C_CR2(base) |= I2C_CR2_AUTOEND | I2C_CR2_NACK;
    I2C_OAR2(base) &= ~I2C_OAR2_OA2EN;
    I2C_OAR2(base) = 0;
    I2C_CR1(base) = 0;                         /* no general call, clock stretching on */
    I2C_CR1(base) |= I2C_CR1_PE;
    /* analog filter enabled, as the generated init does next */
    I2C_CR1(base) &= ~I2C_CR1_PE;
    I2C_CR1(base) &= ~I2C_CR1_ANFOFF;
    I2C_CR1(base) |= I2C_CR1_PE;
}

/* The error check done while waiting for TXIS: 1 when the transfer ended in a NACK. */
static int nack_received(uint32_t base)
{
    uint32_t n = 0;
    if (!(I2C_ISR(base) & I2C_ISR_NACKF))
        return 0;
    while (!(I2C_ISR(base) & I2C_ISR_STOPF))
        if (++n == POLL_LIMIT)
            sh_fail("STOPF after NACKF");
    I2C_ICR(base) = I2C_ISR_NACKF;
    I2C_ICR(base) = I2C_ISR_STOPF;
    if (I2C_ISR(base) & I2C_ISR_TXIS)          /* flush TXDR */
        I2C_TXDR(base) = 0;
    if (!(I2C_ISR(base) & I2C_ISR_TXE))
        I2C_ISR(base) |= I2C_ISR_TXE;
    I2C_CR2(base) &= ~(I2C_CR2_SADD_MASK | (1u << 12) | I2C_CR2_NBYTES_MASK | I2C_CR2_RELOAD | I2C_CR2_RD_WRN);
    return 1;
}

int main(void)
{
    static const uint8_t payload[2] = {0x00, 0x42};
    uint32_t base = I2C1_BASE, n = 0;

    msp_init();
    i2c_init(base);

    while (I2C_ISR(base) & I2C_ISR_BUSY)
        if (++n == POLL_LIMIT)
            sh_fail("bus free");
    I2C_CR2(base) = (I2C_CR2(base) & ~(I2C_CR2_SADD_MASK | I2C_CR2_NBYTES_MASK | I2C_CR2_RELOAD | I2C_CR2_AUTOEND
                                       | I2C_CR2_RD_WRN | I2C_CR2_START | I2C_CR2_STOP))
                    | DEVICE_ADDRESS | (sizeof payload << I2C_CR2_NBYTES_SHIFT) | I2C_CR2_AUTOEND | I2C_CR2_START;
    for (n = 0; !(I2C_ISR(base) & I2C_ISR_TXIS); n++) {
        if (nack_received(base)) {
            if (I2C_ISR(base) & (I2C_ISR_BUSY | I2C_ISR_NACKF | I2C_ISR_STOPF))
                sh_fail("flags cleared after the NACK");
            sh_write0("I2C1 NACK from 0x50\n");
            return 0;
        }
        if (I2C_ISR(base) & (I2C_ISR_BERR | I2C_ISR_ARLO | I2C_ISR_OVR))
            sh_fail("bus error");
        if (n == POLL_LIMIT)
            sh_fail("TXIS or NACKF");
    }
    I2C_TXDR(base) = payload[0];
    sh_fail("address acknowledged on a bare bus");
}
