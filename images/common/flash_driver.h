/*
 * flash_driver.h - a minimal, clean-room STM32C071 flash driver in the style of a
 * vendor HAL: unlock, wait, erase page, mass erase, program double word, program a
 * 256-byte row (fast), lock.  Every function is always inlined so that code placed
 * in SRAM (RAMFUNC) can use it without a long call back into flash.
 *
 * Register map and sequences: RM0490 §4.3.4-§4.3.6 and §4.7 (FLASH at 0x40022000:
 * KEYR +0x08, OPTKEYR +0x0C, SR +0x10, CR +0x14, OPTR +0x20).  Like a HAL, the wait
 * routine polls BSY1, then reads the error flags, clears them (rc_w1) and reports
 * them, then polls CFGBSY; unlock writes the keys only when LOCK is set.
 */
#ifndef FLASH_DRIVER_H
#define FLASH_DRIVER_H

#include "c071.h"

#define FLASH_KEYR     REG32(FLASHIF_BASE + 0x08)
#define FLASH_OPTKEYR  REG32(FLASHIF_BASE + 0x0C)
#define FLASH_SR       REG32(FLASHIF_BASE + 0x10)
#define FLASH_CR       REG32(FLASHIF_BASE + 0x14)
#define FLASH_OPTR     REG32(FLASHIF_BASE + 0x20)

#define FLASH_KEY1     0x45670123u
#define FLASH_KEY2     0xCDEF89ABu
#define FLASH_OPTKEY1  0x08192A3Bu
#define FLASH_OPTKEY2  0x4C5D6E7Fu

#define FLASH_SR_EOP      (1u << 0)
#define FLASH_SR_OPERR    (1u << 1)
#define FLASH_SR_PROGERR  (1u << 3)
#define FLASH_SR_WRPERR   (1u << 4)
#define FLASH_SR_PGAERR   (1u << 5)
#define FLASH_SR_SIZERR   (1u << 6)
#define FLASH_SR_PGSERR   (1u << 7)
#define FLASH_SR_MISSERR  (1u << 8)
#define FLASH_SR_FASTERR  (1u << 9)
#define FLASH_SR_OPTVERR  (1u << 15)
#define FLASH_SR_BSY1     (1u << 16)
#define FLASH_SR_CFGBSY   (1u << 18)
#define FLASH_SR_ERRORS   (FLASH_SR_OPERR | FLASH_SR_PROGERR | FLASH_SR_WRPERR | FLASH_SR_PGAERR | \
                           FLASH_SR_SIZERR | FLASH_SR_PGSERR | FLASH_SR_MISSERR | FLASH_SR_FASTERR)

#define FLASH_CR_PG         (1u << 0)
#define FLASH_CR_PER        (1u << 1)
#define FLASH_CR_MER1       (1u << 2)
#define FLASH_CR_PNB_SHIFT  3
#define FLASH_CR_PNB_MASK   (0x3Fu << 3)
#define FLASH_CR_STRT       (1u << 16)
#define FLASH_CR_OPTSTRT    (1u << 17)
#define FLASH_CR_FSTPG      (1u << 18)
#define FLASH_CR_EOPIE      (1u << 24)
#define FLASH_CR_OBL_LAUNCH (1u << 27)
#define FLASH_CR_OPTLOCK    (1u << 30)
#define FLASH_CR_LOCK       (1u << 31)

#define FLASH_PAGE_SIZE  2048u
#define FLASH_ROW_SIZE   256u

#define FLASH_INLINE static inline __attribute__((always_inline))
#define RAMFUNC __attribute__((section(".ramfunc"), noinline, used))

FLASH_INLINE int flash_unlock(void)
{
    if (FLASH_CR & FLASH_CR_LOCK) {
        FLASH_KEYR = FLASH_KEY1;
        FLASH_KEYR = FLASH_KEY2;
    }
    return (FLASH_CR & FLASH_CR_LOCK) ? -1 : 0;
}

FLASH_INLINE void flash_lock(void)
{
    FLASH_CR |= FLASH_CR_LOCK;
}

FLASH_INLINE int flash_unlock_options(void)
{
    if (FLASH_CR & FLASH_CR_OPTLOCK) {
        FLASH_OPTKEYR = FLASH_OPTKEY1;
        FLASH_OPTKEYR = FLASH_OPTKEY2;
    }
    return (FLASH_CR & FLASH_CR_OPTLOCK) ? -1 : 0;
}

/* Wait for the last operation; returns (and clears) the error flags it left. */
FLASH_INLINE uint32_t flash_wait(void)
{
    while (FLASH_SR & FLASH_SR_BSY1) {
    }
    uint32_t errors = FLASH_SR & FLASH_SR_ERRORS;
    if (errors) {
        FLASH_SR = errors;
    }
    while (FLASH_SR & FLASH_SR_CFGBSY) {
    }
    return errors;
}

FLASH_INLINE uint32_t flash_erase_page(unsigned page)
{
    uint32_t errors = flash_wait();
    if (errors) {
        return errors;
    }
    FLASH_CR = (FLASH_CR & ~(FLASH_CR_PNB_MASK | FLASH_CR_PG | FLASH_CR_MER1 | FLASH_CR_FSTPG))
               | FLASH_CR_PER | (page << FLASH_CR_PNB_SHIFT);
    FLASH_CR |= FLASH_CR_STRT;
    errors = flash_wait();
    FLASH_CR &= ~(FLASH_CR_PER | FLASH_CR_PNB_MASK);
    return errors;
}

FLASH_INLINE uint32_t flash_mass_erase(void)
{
    uint32_t errors = flash_wait();
    if (errors) {
        return errors;
    }
    FLASH_CR |= FLASH_CR_MER1 | FLASH_CR_STRT;
    errors = flash_wait();
    FLASH_CR &= ~FLASH_CR_MER1;
    return errors;
}

FLASH_INLINE uint32_t flash_program_dword(uint32_t address, uint32_t lo, uint32_t hi)
{
    uint32_t errors = flash_wait();
    if (errors) {
        return errors;
    }
    FLASH_CR |= FLASH_CR_PG;
    REG32(address) = lo;
    __asm__ volatile("isb" ::: "memory");
    REG32(address + 4u) = hi;
    errors = flash_wait();
    FLASH_CR &= ~FLASH_CR_PG;
    return errors;
}

/* Fast programming of one 256-byte row (64 words) that was erased before. */
FLASH_INLINE uint32_t flash_program_row(uint32_t address, const uint32_t *words)
{
    uint32_t errors = flash_wait();
    if (errors) {
        return errors;
    }
    FLASH_CR |= FLASH_CR_FSTPG;
    for (unsigned i = 0; i < FLASH_ROW_SIZE / 4u; i++) {
        REG32(address + 4u * i) = words[i];
    }
    errors = flash_wait();
    FLASH_CR &= ~FLASH_CR_FSTPG;
    return errors;
}

#endif
