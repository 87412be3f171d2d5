/*
 * i2c_nack_irq - the interrupt-driven I2C master write to an absent address
 * (RM0490 I2C chapter), the register sequence of the vendor HAL's _IT transmit:
 * init as i2c_nack; NVIC IRQ 23 enabled; CR1 |= ERRIE | TCIE | STOPIE | NACKIE | TXIE;
 * CR2 = SADD | NBYTES | AUTOEND | START; then wfi.  The handler: on NACKF clear it,
 * note the error and flush TXDR; on STOPF clear it, reset CR2, disable the I2C
 * interrupts and complete.  Expected: one interrupt with NACKF (STOPF follows one SCL
 * period later, in a second interrupt), no TXIS; prints "I2C1 IRQ: NACK then STOP\n"
 * and exits 0.
 */
#include "c071_bus.h"
#include "semihost.h"

#define TIMING_100KHZ_12MHZ 0x20420F13u
#define DEVICE_ADDRESS      (0x50u << 1)

static volatile uint32_t nacked, stopped, transmit_requests, done;

void IRQ23_Handler(void)
{
    uint32_t base = I2C1_BASE, isr = I2C_ISR(base);
    if (isr & I2C_ISR_NACKF) {
        I2C_ICR(base) = I2C_ISR_NACKF;
        nacked++;
        if (!(I2C_ISR(base) & I2C_ISR_TXE))
            I2C_ISR(base) |= I2C_ISR_TXE;
    }
    if (isr & I2C_ISR_TXIS) {
        transmit_requests++;
        I2C_TXDR(base) = 0;
    }
    if (isr & I2C_ISR_STOPF) {
        I2C_ICR(base) = I2C_ISR_STOPF;
        stopped++;
        I2C_CR2(base) &= ~(I2C_CR2_SADD_MASK | (1u << 12) | I2C_CR2_NBYTES_MASK | I2C_CR2_RELOAD | I2C_CR2_RD_WRN);
        I2C_CR1(base) &= ~I2C_IRQ_XFER_TX;
        done = 1;
    }
}

int main(void)
{
    uint32_t base = I2C1_BASE;

    RCC_APBENR1 |= RCC_APBENR1_I2C1EN;
    I2C_CR1(base) &= ~I2C_CR1_PE;
    I2C_TIMINGR(base) = TIMING_100KHZ_12MHZ & 0xF0FFFFFFu;
    I2C_OAR1(base) &= ~I2C_OAR1_OA1EN;
    I2C_OAR1(base) = I2C_OAR1_OA1EN;
    I2C_CR2(base) |= I2C_CR2_AUTOEND | I2C_CR2_NACK;
    I2C_CR1(base) = 0;
    I2C_CR1(base) |= I2C_CR1_PE;
    NVIC_ISER = 1u << IRQ_I2C1;

    while (I2C_ISR(base) & I2C_ISR_BUSY)
        ;
    I2C_CR2(base) = (I2C_CR2(base) & ~(I2C_CR2_SADD_MASK | I2C_CR2_NBYTES_MASK | I2C_CR2_RELOAD | I2C_CR2_AUTOEND
                                       | I2C_CR2_RD_WRN | I2C_CR2_START | I2C_CR2_STOP))
                    | DEVICE_ADDRESS | (2u << I2C_CR2_NBYTES_SHIFT) | I2C_CR2_AUTOEND | I2C_CR2_START;
    I2C_CR1(base) |= I2C_IRQ_XFER_TX;
    while (!done)
        __asm__ volatile("wfi");
    if (nacked != 1 || stopped != 1 || transmit_requests != 0)
        sh_fail("one NACK, one STOP, no transmit request");
    sh_write0("I2C1 IRQ: NACK then STOP\n");
    return 0;
}
