/*
 * tim16_pwm - TIM16 channel 1 as PWM with a compare interrupt, in the register order of
 * HAL_TIM_PWM_Init (TIM_Base_SetConfig: CR1, ARR, PSC, RCR, EGR.UG), HAL_TIM_PWM_ConfigChannel
 * (TIM_OC1_SetConfig: CC1E off, CCMR1 mode PWM1, CCER polarity, CR2 idle states, CCR1; then
 * OC1PE set and OC1FE cleared), HAL_TIMEx_ConfigBreakDeadTime (BDTR, all off) and
 * HAL_TIM_PWM_Start_IT (CC1IE, CC1E, MOE, CEN).
 *
 * At the 12 MHz reset clock: PSC 11 (1 MHz), ARR 999 (1 kHz), CCR1 250 (25 % duty).  The
 * TIM16 handler does what HAL_TIM_IRQHandler does for CC1 and counts pulses; main sleeps
 * until 5 compare interrupts, then stops (HAL_TIM_PWM_Stop_IT) and prints the registers
 * read back: "CCMR1 CCER CCR1 BDTR ARR PSC count\n" in hex, then exits 0.
 */
#include "c071.h"
#include "tim.h"
#include "semihost.h"

volatile uint32_t pulses;

void IRQ21_Handler(void)
{
    if ((TIM16->SR & TIM_SR_CC1IF) && (TIM16->DIER & TIM_DIER_CC1IE)) {
        TIM16->SR = ~TIM_SR_CC1IF;
        if ((TIM16->CCMR1 & TIM_CCMR1_CC1S) == 0u)     /* output compare: PWM pulse finished */
            pulses += 1u;
    }
    if ((TIM16->SR & TIM_SR_UIF) && (TIM16->DIER & TIM_DIER_UIE))
        TIM16->SR = ~TIM_SR_UIF;
}

static void pwm_init(void)
{
    RCC_APBENR2 |= RCC_APBENR2_TIM16EN;
    (void)RCC_APBENR2;

    /* TIM_Base_SetConfig: TIM16 has no counter mode bits */
    uint32_t cr1 = TIM16->CR1;
    cr1 &= ~TIM_CR1_CKD;
    cr1 &= ~TIM_CR1_ARPE;
    TIM16->CR1 = cr1;
    TIM16->ARR = 999u;
    TIM16->PSC = 11u;
    TIM16->RCR = 0u;
    TIM16->EGR = TIM_EGR_UG;
    if (TIM16->SR & TIM_SR_UIF)
        TIM16->SR = ~TIM_SR_UIF;

    /* TIM_OC1_SetConfig */
    TIM16->CCER &= ~TIM_CCER_CC1E;
    uint32_t ccer = TIM16->CCER;
    uint32_t cr2 = TIM16->CR2;
    uint32_t ccmr1 = TIM16->CCMR1;
    ccmr1 &= ~TIM_CCMR1_OC1M;
    ccmr1 &= ~TIM_CCMR1_CC1S;
    ccmr1 |= TIM_OCMODE_PWM1;
    ccer &= ~TIM_CCER_CC1P;                 /* polarity high */
    ccer &= ~TIM_CCER_CC1NP;
    ccer &= ~TIM_CCER_CC1NE;
    cr2 &= ~(TIM_CR2_OIS1 | TIM_CR2_OIS1N); /* idle states reset */
    TIM16->CR2 = cr2;
    TIM16->CCMR1 = ccmr1;
    TIM16->CCR1 = 250u;
    TIM16->CCER = ccer;
    TIM16->CCMR1 |= TIM_CCMR1_OC1PE;
    TIM16->CCMR1 &= ~TIM_CCMR1_OC1FE;

    /* HAL_TIMEx_ConfigBreakDeadTime with dead time, lock, break and automatic output off */
    TIM16->BDTR = 0u;
}

static void pwm_start_it(void)
{
    TIM16->DIER |= TIM_DIER_CC1IE;
    TIM16->CCER &= ~TIM_CCER_CC1E;
    TIM16->CCER |= TIM_CCER_CC1E;
    TIM16->BDTR |= TIM_BDTR_MOE;
    TIM16->CR1 |= TIM_CR1_CEN;
}

static void pwm_stop_it(void)
{
    TIM16->DIER &= ~TIM_DIER_CC1IE;
    TIM16->CCER &= ~TIM_CCER_CC1E;
    TIM16->BDTR &= ~TIM_BDTR_MOE;
    TIM16->CR1 &= ~TIM_CR1_CEN;
}

static void put(uint32_t v, const char *sep)
{
    sh_puthex(v);
    sh_write0(sep);
}

int main(void)
{
    pwm_init();
    NVIC_ISER = 1u << IRQ_TIM16;
    pwm_start_it();
    while (pulses < 5u)
        __asm__ volatile("wfi");
    uint32_t ccmr1 = TIM16->CCMR1, ccer = TIM16->CCER, ccr1 = TIM16->CCR1, bdtr = TIM16->BDTR;
    uint32_t arr = TIM16->ARR, psc = TIM16->PSC;
    pwm_stop_it();
    put(ccmr1, " ");
    put(ccer, " ");
    put(ccr1, " ");
    put(bdtr, " ");
    put(arr, " ");
    put(psc, " ");
    put(pulses, "\n");
    return 0;
}
