/*
 * c071_lowpower.h - GPIO, EXTI, PWR, WWDG and SCB_SCR definitions for the
 * interrupt and low-power test images (clean-room; extends c071.h).
 *
 * Sources: RM0490 Rev 5 (GPIO §7.4, EXTI chapter register map, PWR §5.4,
 * WWDG chapter register map, RCC §6.4), ST's STM32C071 SVD for offsets and
 * bit positions, ARMv6-M ARM B3.2.7 for SCB_SCR. Names are our own.
 */
#ifndef C071_LOWPOWER_H
#define C071_LOWPOWER_H

#include "c071.h"

/* RCC enables (RM0490 §6.4.15, §6.4.16) */
#ifndef RCC_IOPENR
#define RCC_IOPENR            REG32(RCC_BASE + 0x34)
#endif
#define RCC_IOPENR_GPIOAEN    (1u << 0)
#define RCC_IOPENR_GPIOCEN    (1u << 2)
#define RCC_APBENR1_WWDGEN    (1u << 11)
#define RCC_APBENR1_PWREN     (1u << 28)
#define RCC_CR_HSIUSB48ON     (1u << 22)
#define RCC_CR_HSIUSB48RDY    (1u << 23)
#define RCC_CFGR_SW_HSIUSB48  2u
#define RCC_CFGR_SWS_SHIFT    3
#define RCC_CSR2_WWDGRSTF     (1u << 30)

/* GPIO ports (RM0490 §7.4), register n of a port at its base */
#define GPIOA_BASE            0x50000000u
#define GPIOC_BASE            0x50000800u
#define GPIO_MODER(port)      REG32((port) + 0x00)
#define GPIO_OTYPER(port)     REG32((port) + 0x04)
#define GPIO_OSPEEDR(port)    REG32((port) + 0x08)
#define GPIO_PUPDR(port)      REG32((port) + 0x0C)
#define GPIO_IDR(port)        REG32((port) + 0x10)
#define GPIO_ODR(port)        REG32((port) + 0x14)
#define GPIO_BSRR(port)       REG32((port) + 0x18)
#define GPIO_MODE_INPUT       0u
#define GPIO_MODE_OUTPUT      1u

/* EXTI, base 0x40021800 */
#define EXTI_BASE             0x40021800u
#define EXTI_RTSR1            REG32(EXTI_BASE + 0x00)
#define EXTI_FTSR1            REG32(EXTI_BASE + 0x04)
#define EXTI_SWIER1           REG32(EXTI_BASE + 0x08)
#define EXTI_RPR1             REG32(EXTI_BASE + 0x0C)
#define EXTI_FPR1             REG32(EXTI_BASE + 0x10)
#define EXTI_EXTICR(n)        REG32(EXTI_BASE + 0x60 + 4u * (n))   /* n = 0..3: lines 4n..4n+3 */
#define EXTI_IMR1             REG32(EXTI_BASE + 0x80)
#define EXTI_EMR1             REG32(EXTI_BASE + 0x84)
#define EXTI_PORT_A           0u       /* EXTICR field values */
#define EXTI_PORT_C           2u
#define IRQ_EXTI4_15          7u

/* PWR, base 0x40007000 (RM0490 §5.4) */
#define PWR_BASE              0x40007000u
#define PWR_CR1               REG32(PWR_BASE + 0x00)
#define PWR_CR3               REG32(PWR_BASE + 0x08)
#define PWR_CR4               REG32(PWR_BASE + 0x0C)
#define PWR_SR1               REG32(PWR_BASE + 0x10)
#define PWR_SCR               REG32(PWR_BASE + 0x18)
#define PWR_CR1_LPMS_MASK     7u
#define PWR_LPMS_STOP         0u
#define PWR_LPMS_STANDBY      3u
#define PWR_CR3_EWUP2         (1u << 1)
#define PWR_CR4_WP2           (1u << 1)       /* 1: WKUP2 active on the falling edge */
#define PWR_SR1_WUF2          (1u << 1)
#define PWR_SR1_SBF           (1u << 8)
#define PWR_SCR_CWUF_ALL      0x3Fu
#define PWR_SCR_CSBF          (1u << 8)

/* WWDG, base 0x40002C00 */
#define WWDG_BASE             0x40002C00u
#define WWDG_CR               REG32(WWDG_BASE + 0x00)
#define WWDG_CFR              REG32(WWDG_BASE + 0x04)
#define WWDG_SR               REG32(WWDG_BASE + 0x08)
#define WWDG_CR_WDGA          (1u << 7)
#define WWDG_CR_T_MASK        0x7Fu
#define WWDG_CFR_EWI          (1u << 9)
#define WWDG_CFR_WDGTB_SHIFT  11
#define WWDG_SR_EWIF          (1u << 0)
#define IRQ_WWDG              0u

/* SCB system control register (ARMv6-M B3.2.7) */
#define SCB_SCR               REG32(0xE000ED10u)
#define SCB_SCR_SLEEPDEEP     (1u << 2)

#endif
