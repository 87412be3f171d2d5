/*
 * crc - the CRC unit driven the way the vendor HAL does it (clean-room): clock enable
 * with a read-back, then "init" writes POL, POLYSIZE, INIT, REV_IN, REV_OUT in that
 * order, and "calculate" sets CR.RESET and feeds a byte buffer four bytes at a time as
 * big-endian words, the tail as a half-word and/or a byte.  Five catalogue CRCs of
 * "123456789" are printed as "name=XXXXXXXX" lines (the test compares them with the
 * catalogue check values), then the image exits 0:
 *   crc32       CRC-32: REV_IN byte, REV_OUT, final XOR in software
 *   crc32w      CRC-32 again: REV_IN word on little-endian word loads of the buffer,
 *               the ninth byte fed under REV_IN byte (as LL code switches it)
 *   mpeg2       CRC-32/MPEG-2: no reversal, no final XOR
 *   ccitt       CRC-16/CCITT-FALSE: 16-bit polynomial 0x1021, INIT 0xFFFF
 *   crc8        CRC-8: 8-bit polynomial 0x07, INIT 0
 */
#include "c071_crc.h"
#include "semihost.h"

struct crc_config {
    uint32_t poly;
    uint32_t polysize;
    uint32_t init;
    uint32_t rev_in;
    uint32_t rev_out;
};

static const union {
    char text[12];
    uint32_t words[3];
} check = { "123456789" };

static void crc_clock_enable(void)
{
    RCC_AHBENR |= RCC_AHBENR_CRCEN;
    (void)RCC_AHBENR;                     /* the read-back delay the HAL inserts after a clock enable */
}

static void crc_init(const struct crc_config *c)
{
    CRC_POL = c->poly;
    CRC_CR = (CRC_CR & ~CRC_CR_POLYSIZE_MASK) | c->polysize;
    CRC_INIT = c->init;
    CRC_CR = (CRC_CR & ~CRC_CR_REV_IN_MASK) | c->rev_in;
    CRC_CR = (CRC_CR & ~CRC_CR_REV_OUT) | c->rev_out;
}

static uint32_t crc_calculate_bytes(const uint8_t *p, uint32_t n)
{
    uint32_t i;
    CRC_CR |= CRC_CR_RESET;
    for (i = 0; i < n / 4u; i++)
        CRC_DR = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    p += 4 * i;
    if (n % 4u >= 2u) {
        CRC_DR16 = (uint16_t)(p[0] << 8 | p[1]);
        p += 2;
    }
    if (n % 2u)
        CRC_DR8 = p[0];
    return CRC_DR;
}

static void report(const char *name, uint32_t value)
{
    sh_write0(name);
    sh_writec('=');
    sh_puthex(value);
    sh_writec('\n');
}

int main(void)
{
    const uint8_t *bytes = (const uint8_t *)check.text;
    const struct crc_config crc32 = { CRC32_DEFAULT_POLY, CRC_CR_POLYSIZE_32, CRC32_DEFAULT_INIT,
                                      CRC_CR_REV_IN_BYTE, CRC_CR_REV_OUT };
    const struct crc_config crc32w = { CRC32_DEFAULT_POLY, CRC_CR_POLYSIZE_32, CRC32_DEFAULT_INIT,
                                       CRC_CR_REV_IN_WORD, CRC_CR_REV_OUT };
    const struct crc_config mpeg2 = { CRC32_DEFAULT_POLY, CRC_CR_POLYSIZE_32, CRC32_DEFAULT_INIT,
                                      CRC_CR_REV_IN_NONE, 0 };
    const struct crc_config ccitt = { 0x1021u, CRC_CR_POLYSIZE_16, 0xFFFFu, CRC_CR_REV_IN_NONE, 0 };
    const struct crc_config crc8 = { 0x07u, CRC_CR_POLYSIZE_8, 0u, CRC_CR_REV_IN_NONE, 0 };

    crc_clock_enable();

    crc_init(&crc32);
    report("crc32", ~crc_calculate_bytes(bytes, 9));

    crc_init(&crc32w);
    CRC_CR |= CRC_CR_RESET;
    CRC_DR = check.words[0];
    CRC_DR = check.words[1];
    CRC_CR = (CRC_CR & ~CRC_CR_REV_IN_MASK) | CRC_CR_REV_IN_BYTE;
    CRC_DR8 = bytes[8];
    report("crc32w", ~CRC_DR);

    crc_init(&mpeg2);
    report("mpeg2", crc_calculate_bytes(bytes, 9));

    crc_init(&ccitt);
    report("ccitt", crc_calculate_bytes(bytes, 9) & 0xFFFFu);

    crc_init(&crc8);
    report("crc8", crc_calculate_bytes(bytes, 9) & 0xFFu);
    return 0;
}
