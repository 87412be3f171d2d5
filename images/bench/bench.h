/*
 * bench.h - the few registers and core intrinsics the benchmark images use
 * beyond common/c071.h (clean-room; RM0490 §6.4.13 RCC_IOPENR, §7.4 GPIO,
 * ARMv6-M B5.2 CPS/MRS/MSR).
 */
#ifndef BENCH_H
#define BENCH_H

#include "c071.h"

#define RCC_IOPENR       REG32(0x40021034u)
#define RCC_IOPENR_GPIOAEN (1u << 0)
#define RCC_APBENR1_USBEN  (1u << 13)

#define GPIOA_BASE       0x50000000u
#define GPIOA_MODER      REG32(GPIOA_BASE + 0x00)
#define GPIOA_ODR        REG32(GPIOA_BASE + 0x14)
#define GPIOA_BSRR       REG32(GPIOA_BASE + 0x18)

#define IRQ_USB          8u                  /* RM0490 Table 55 */

/* The CMSIS-style intrinsics HAL code uses around shared data */
static inline void irq_disable(void) { __asm__ volatile("cpsid i" ::: "memory"); }
static inline void irq_enable(void)  { __asm__ volatile("cpsie i" ::: "memory"); }
static inline uint32_t primask_get(void)
{
    uint32_t v;
    __asm__ volatile("mrs %0, primask" : "=r"(v) :: "memory");
    return v;
}
static inline void primask_set(uint32_t v) { __asm__ volatile("msr primask, %0" :: "r"(v) : "memory"); }

/* SYSCLK to 48 MHz: one flash wait state (read back until it sticks), then HSIDIV = 1
 * keeping the other RCC_CR bits, then wait for HSIRDY (RM0490 §4.3.2, §6.4.1). */
static inline void clock_48mhz(void)
{
    FLASH_ACR = (FLASH_ACR & ~FLASH_ACR_LATENCY_MASK) | 1u;
    while ((FLASH_ACR & FLASH_ACR_LATENCY_MASK) != 1u)
        ;
    RCC_CR = RCC_CR & ~RCC_CR_HSIDIV_MASK;
    while ((RCC_CR & RCC_CR_HSIRDY) == 0)
        ;
}

#endif
