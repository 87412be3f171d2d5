/*
 * tim.h - timer registers for the c071emu test images (clean-room, names our own).
 *
 * Offsets and bits: RM0490 Rev 5, TIM1 / TIM2-TIM3 / TIM14 / TIM16-TIM17 register
 * maps; bases RM0490 Table 7; enable bits RM0490 §6.4 (RCC_APBENR1/2).
 */
#ifndef TIM_H
#define TIM_H

#include "c071.h"

typedef struct {
    volatile uint32_t CR1, CR2, SMCR, DIER, SR, EGR, CCMR1, CCMR2;   /* 0x00-0x1C */
    volatile uint32_t CCER, CNT, PSC, ARR, RCR, CCR1, CCR2, CCR3;    /* 0x20-0x3C */
    volatile uint32_t CCR4, BDTR, DCR, DMAR;                        /* 0x40-0x4C */
} tim_regs;

#define TIM1   ((tim_regs *)0x40012C00u)
#define TIM2   ((tim_regs *)0x40000000u)
#define TIM3   ((tim_regs *)0x40000400u)
#define TIM14  ((tim_regs *)0x40002000u)
#define TIM16  ((tim_regs *)0x40014400u)
#define TIM17  ((tim_regs *)0x40014800u)

/* IRQ numbers (RM0490 Table 55) */
#define IRQ_TIM1_BRK_UP_TRG_COM 13u
#define IRQ_TIM1_CC   14u
#define IRQ_TIM2      15u
#define IRQ_TIM3      16u
#define IRQ_TIM14     19u
#define IRQ_TIM16     21u
#define IRQ_TIM17     22u

/* RCC enable bits */
#define RCC_APBENR1_TIM2EN  (1u << 0)
#define RCC_APBENR1_TIM3EN  (1u << 1)
#define RCC_APBENR2_TIM1EN  (1u << 11)
#define RCC_APBENR2_TIM14EN (1u << 15)
#define RCC_APBENR2_TIM16EN (1u << 17)
#define RCC_APBENR2_TIM17EN (1u << 18)

/* CR1 */
#define TIM_CR1_CEN   (1u << 0)
#define TIM_CR1_UDIS  (1u << 1)
#define TIM_CR1_URS   (1u << 2)
#define TIM_CR1_OPM   (1u << 3)
#define TIM_CR1_DIR   (1u << 4)
#define TIM_CR1_CMS   (3u << 5)
#define TIM_CR1_ARPE  (1u << 7)
#define TIM_CR1_CKD   (3u << 8)
/* CR2 */
#define TIM_CR2_MMS   (7u << 4)
#define TIM_CR2_OIS1  (1u << 8)
#define TIM_CR2_OIS1N (1u << 9)
/* SMCR */
#define TIM_SMCR_SMS  ((7u << 0) | (1u << 16))
#define TIM_SMCR_MSM  (1u << 7)
/* DIER / SR */
#define TIM_DIER_UIE   (1u << 0)
#define TIM_DIER_CC1IE (1u << 1)
#define TIM_SR_UIF     (1u << 0)
#define TIM_SR_CC1IF   (1u << 1)
/* EGR */
#define TIM_EGR_UG    (1u << 0)
/* CCMR1 (output compare view) */
#define TIM_CCMR1_CC1S  (3u << 0)
#define TIM_CCMR1_OC1FE (1u << 2)
#define TIM_CCMR1_OC1PE (1u << 3)
#define TIM_CCMR1_OC1M  ((7u << 4) | (1u << 16))
#define TIM_OCMODE_PWM1 (6u << 4)
/* CCER */
#define TIM_CCER_CC1E  (1u << 0)
#define TIM_CCER_CC1P  (1u << 1)
#define TIM_CCER_CC1NE (1u << 2)
#define TIM_CCER_CC1NP (1u << 3)
/* BDTR */
#define TIM_BDTR_MOE   (1u << 15)

/* RCC_CFGR.PPRE[14:12]: 0xx = /1, 100 = /2 ... (RM0490 §6.4.3) */
#define RCC_CFGR_PPRE_MASK (7u << 12)
#define RCC_CFGR_PPRE_DIV2 (4u << 12)

#endif
