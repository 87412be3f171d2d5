/*
 * bl_flash.c - flash erase / program / option-byte helpers of the reference
 * bootloader (clean-room; sequences from RM0490 §4.3.4-§4.3.6 and §4.4.2 as
 * summarised in FACTS §3).
 *
 * Deliberate ROM-like choices (README.md "Resources", decision 5), unless built with
 * BL_FLASH_CHECKED (the HAL's way: keys only when LOCK reads 1, error flags cleared
 * before each operation - the other plausible ROM design, README.md "Variants"):
 *  - unlock writes KEY1/KEY2 without looking at FLASH_CR.LOCK first;
 *  - FLASH_SR is not cleared before an operation (stale flags are the caller's
 *    problem - on silicon they make the operation fail with PGSERR, §4.3.6);
 *  - FLASH_CR is changed by read-modify-write, assuming its reset contents
 *    (PG/PER/MER1/FSTPG/PNB clear);
 *  - completion = BSY1 clear, polled against the bootloader's SysTick counter;
 *  - the error flags found after the operation are returned and cleared
 *    (write 1), so the next command starts clean;
 *  - FLASH_CR.LOCK is set again before returning.
 * The mini driver in common/flash_driver.h is HAL-like (LOCK check, flags
 * cleared before each operation), which is exactly what these choices are not,
 * so only its register definitions are used here.
 */
#include "bl.h"
#include "bl_flash.h"
#include "flash_driver.h"

const uint8_t bl_option_offsets[BL_OPTION_WORDS] = {0x00, 0x08, 0x10, 0x18, 0x20, 0x28, 0x30, 0x70};

/* Option registers in FLASH (RM0490 §4.7.6-§4.7.13), same order. */
static volatile uint32_t *const option_regs[BL_OPTION_WORDS] = {
    (volatile uint32_t *)0x40022020u, (volatile uint32_t *)0x40022024u, (volatile uint32_t *)0x40022028u,
    (volatile uint32_t *)0x4002202Cu, (volatile uint32_t *)0x40022030u, (volatile uint32_t *)0x40022034u,
    (volatile uint32_t *)0x40022038u, (volatile uint32_t *)0x40022080u,
};

#define SR_ERRORS (FLASH_SR_PROGERR | FLASH_SR_WRPERR | FLASH_SR_PGAERR | FLASH_SR_SIZERR | \
                   FLASH_SR_PGSERR | FLASH_SR_MISSERR | FLASH_SR_FASTERR | FLASH_SR_OPTVERR)

static void unlock(void)
{
#if BL_FLASH_CHECKED
    if (FLASH_CR & FLASH_CR_LOCK) {
        FLASH_KEYR = FLASH_KEY1;
        FLASH_KEYR = FLASH_KEY2;
    }
    FLASH_SR = SR_ERRORS;             /* stale error flags cleared (write 1) before the operation */
#else
    FLASH_KEYR = FLASH_KEY1;          /* unconditional: no LOCK check (decision 5) */
    FLASH_KEYR = FLASH_KEY2;
#endif
}

static void lock(void)
{
    FLASH_CR |= FLASH_CR_LOCK;        /* also sets OPTLOCK (RM0490 §4.4.2 note) */
}

/* Wait until BSY1 clears, at most limit_ms SysTick periods; then report and clear
   the error flags the operation left. */
static int finish(uint32_t limit_ms)
{
    uint32_t start = bl_now();
    while (FLASH_SR & FLASH_SR_BSY1) {
        if (bl_now() - start > limit_ms)
            return BL_FLASH_E_TIMEOUT;
    }
    uint32_t errors = FLASH_SR & SR_ERRORS;
    if (errors)
        FLASH_SR = errors;
    return (int)errors;
}

int bl_flash_readout_protected(void)
{
    return (FLASH_OPTR_REG & OPTR_RDP_MASK) != OPTR_RDP_LEVEL0;
}

int bl_flash_erase_page(unsigned page)
{
    if (page >= BL_PAGES)
        return BL_FLASH_E_ADDRESS;
    unlock();
    FLASH_CR |= FLASH_CR_PER | (page << FLASH_CR_PNB_SHIFT);
    FLASH_CR |= FLASH_CR_STRT;
    int r = finish(BL_FLASH_ERASE_TIMEOUT_MS);
    FLASH_CR &= ~(FLASH_CR_PER | FLASH_CR_PNB_MASK);
    lock();
    return r;
}

int bl_flash_mass_erase(void)
{
    unlock();
    FLASH_CR |= FLASH_CR_MER1;
    FLASH_CR |= FLASH_CR_STRT;
    int r = finish(BL_FLASH_ERASE_TIMEOUT_MS);
    FLASH_CR &= ~FLASH_CR_MER1;
    lock();
    return r;
}

static uint32_t le32(const uint8_t *p, uint32_t avail)
{
    uint32_t w = 0;
    for (unsigned i = 0; i < 4; i++)
        w |= (uint32_t)(i < avail ? p[i] : 0xFFu) << (8u * i);
    return w;
}

int bl_flash_program(uint32_t addr, const uint8_t *data, uint32_t len)
{
    int in_flash = addr >= BL_FLASH_BASE && addr - BL_FLASH_BASE < BL_FLASH_SIZE &&
                   len <= BL_FLASH_SIZE - (addr - BL_FLASH_BASE);
    int in_otp = addr >= BL_OTP_BASE && addr - BL_OTP_BASE < BL_OTP_SIZE &&
                 len <= BL_OTP_SIZE - (addr - BL_OTP_BASE);
    if ((addr & 7u) || !(in_flash || in_otp))
        return BL_FLASH_E_ADDRESS;
    int r = 0;
    unlock();
    FLASH_CR |= FLASH_CR_PG;
    for (uint32_t off = 0; off < len; off += 8) {
        uint32_t left = len - off;
        uint32_t lo = le32(data + off, left);
        uint32_t hi = le32(data + off + 4, left > 4 ? left - 4 : 0);
        REG32(addr + off) = lo;                       /* double word: two word writes (§4.3.6) */
        REG32(addr + off + 4) = hi;
        r = finish(BL_FLASH_PROGRAM_TIMEOUT_MS);
        if (r)
            break;
    }
    FLASH_CR &= ~FLASH_CR_PG;
    lock();
    return r;
}

void bl_flash_read(uint32_t addr, uint8_t *dst, uint32_t len)
{
    const volatile uint8_t *src = (const volatile uint8_t *)(uintptr_t)addr;
    for (uint32_t i = 0; i < len; i++)
        dst[i] = src[i];
}

int bl_flash_program_options(const uint32_t values[BL_OPTION_WORDS])
{
    unlock();
#if BL_FLASH_CHECKED
    if (FLASH_CR & FLASH_CR_OPTLOCK) {
#endif
    FLASH_OPTKEYR = FLASH_OPTKEY1;                     /* RM0490 §4.4.2: LOCK must be clear first */
    FLASH_OPTKEYR = FLASH_OPTKEY2;
#if BL_FLASH_CHECKED
    }
#endif
    for (unsigned i = 0; i < BL_OPTION_WORDS; i++)
        *option_regs[i] = values[i];
    FLASH_CR |= FLASH_CR_OPTSTRT;
    int r = finish(BL_FLASH_ERASE_TIMEOUT_MS);
    if (r)
        lock();
    return r;                                          /* unlocked on success: OBL_LAUNCH follows */
}

void bl_flash_launch_options(void)
{
    /* called right after a successful bl_flash_program_options, options still unlocked */
    FLASH_CR |= FLASH_CR_OBL_LAUNCH;                   /* option reload + system reset (§4.4.2) */
    for (;;)
        ;
}
