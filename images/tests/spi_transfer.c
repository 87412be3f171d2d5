/*
 * spi_transfer - a 4-byte full-duplex SPI1 master transfer with nothing attached
 * (RM0490 SPI chapter).  The register sequence is the vendor HAL's for 8-bit frames:
 * init (SPE off, CR1 = MSTR | SSI | SSM | BR, CR2 = DS 8 bit | FRXTH), then
 * TransmitReceive: FRXTH cleared for a multi-byte reception, SPE on, and a loop that
 * writes DR 16 bits at a time while two or more bytes remain (data packing) when TXE,
 * and reads DR 16 bits at a time when RXNE (setting FRXTH again for the last byte);
 * finally wait FTLVL empty and BSY clear.  MISO idles high, so the command 0x9F
 * 0x00 0x00 0x00 must read back ff ff ff ff: print "spi rx=ffffffff\n" and exit 0.
 */
#include "c071_bus.h"
#include "semihost.h"

#define POLL_LIMIT 100000u

int main(void)
{
    static const uint8_t tx[4] = {0x9F, 0x00, 0x00, 0x00};
    static uint8_t rx[4];
    uint32_t base = SPI1_BASE, sent = 0, received = 0, n = 0, tx_allowed = 1;

    RCC_APBENR2 |= RCC_APBENR2_SPI1EN;
    /* init */
    SPI_CR1(base) &= ~SPI_CR1_SPE;
    SPI_CR1(base) = SPI_CR1_MSTR | SPI_CR1_SSI | SPI_CR1_SSM | (3u << SPI_CR1_BR_SHIFT);   /* PCLK / 16 */
    SPI_CR2(base) = SPI_CR2_DS_8BIT | SPI_CR2_FRXTH;

    /* transmit-receive */
    SPI_CR2(base) &= ~SPI_CR2_FRXTH;            /* 16-bit threshold for a multi-byte reception */
    if (!(SPI_CR1(base) & SPI_CR1_SPE))
        SPI_CR1(base) |= SPI_CR1_SPE;
    while (sent < sizeof tx || received < sizeof rx) {
        if (tx_allowed && sent < sizeof tx && (SPI_SR(base) & SPI_SR_TXE)) {
            if (sizeof tx - sent > 1) {
                *(volatile uint16_t *)(uintptr_t)(base + 0x0C) = (uint16_t)(tx[sent] | tx[sent + 1] << 8);
                sent += 2;
            } else {
                SPI_DR8(base) = tx[sent];
                sent += 1;
            }
            tx_allowed = 0;
        }
        if (received < sizeof rx && (SPI_SR(base) & SPI_SR_RXNE)) {
            if (sizeof rx - received > 1) {
                uint16_t v = *(volatile uint16_t *)(uintptr_t)(base + 0x0C);
                rx[received] = (uint8_t)v;
                rx[received + 1] = (uint8_t)(v >> 8);
                received += 2;
                if (sizeof rx - received <= 1)
                    SPI_CR2(base) |= SPI_CR2_FRXTH;
            } else {
                rx[received++] = SPI_DR8(base);
            }
            tx_allowed = 1;
        }
        if (++n == POLL_LIMIT)
            sh_fail("transfer completes");
    }
    while (SPI_SR(base) & SPI_SR_FTLVL_MASK)
        ;
    while (SPI_SR(base) & SPI_SR_BSY)
        ;
    sh_write0("spi rx=");
    sh_puthex((uint32_t)rx[0] << 24 | (uint32_t)rx[1] << 16 | (uint32_t)rx[2] << 8 | rx[3]);
    sh_write0("\n");
    return 0;
}
