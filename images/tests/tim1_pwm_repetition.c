/*
 * tim1_pwm_repetition - the advanced timer TIM1: channel 1 PWM with the repetition counter,
 * in the register order of HAL_TIM_PWM_Init (TIM_Base_SetConfig with RCR), HAL_TIM_PWM_
 * ConfigChannel (TIM_OC1_SetConfig: CR2 idle states, CCER polarities, complementary output
 * off), HAL_TIMEx_ConfigBreakDeadTime (BDTR, dead time and breaks off), HAL_TIMEx_Master
 * ConfigSynchronization (CR2.MMS, SMCR.MSM reset), then HAL_TIM_Base_Start_IT (UIE) and
 * HAL_TIM_PWM_Start_IT (CC1IE, CC1E, MOE, SMCR checked, CEN).
 *
 * 12 MHz reset clock: PSC 11 (1 MHz), ARR 999 (1 ms period), RCR 2 (an update event every
 * third period), CCR1 500.  TIM1_BRK_UP_TRG_COM (IRQ 13) counts update events, TIM1_CC
 * (IRQ 14) counts compare matches, as HAL_TIM_IRQHandler dispatches them.  main sleeps until
 * 3 update events (9 ms), stops, and prints "updates 3 compares 9\n"; exit 0.
 */
#include "c071.h"
#include "tim.h"
#include "semihost.h"


volatile uint32_t updates, compares;

void IRQ13_Handler(void)
{
    if ((TIM1->SR & TIM_SR_UIF) && (TIM1->DIER & TIM_DIER_UIE)) {
        TIM1->SR = ~TIM_SR_UIF;
        updates += 1u;
    }
}

void IRQ14_Handler(void)
{
    if ((TIM1->SR & TIM_SR_CC1IF) && (TIM1->DIER & TIM_DIER_CC1IE)) {
        TIM1->SR = ~TIM_SR_CC1IF;
        compares += 1u;
    }
}

static void put_dec(uint32_t v)
{
    char buf[11];
    int i = 10;
    buf[i] = 0;
    do {
        buf[--i] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v);
    sh_write0(&buf[i]);
}

int main(void)
{
    RCC_APBENR2 |= RCC_APBENR2_TIM1EN;
    (void)RCC_APBENR2;

    /* TIM_Base_SetConfig */
    uint32_t cr1 = TIM1->CR1;
    cr1 &= ~(TIM_CR1_DIR | TIM_CR1_CMS);
    cr1 &= ~TIM_CR1_CKD;
    cr1 |= TIM_CR1_ARPE;
    TIM1->CR1 = cr1;
    TIM1->ARR = 999u;
    TIM1->PSC = 11u;
    TIM1->RCR = 2u;
    TIM1->EGR = TIM_EGR_UG;
    if (TIM1->SR & TIM_SR_UIF)
        TIM1->SR = ~TIM_SR_UIF;

    /* TIM_OC1_SetConfig */
    TIM1->CCER &= ~TIM_CCER_CC1E;
    uint32_t ccer = TIM1->CCER, cr2 = TIM1->CR2, ccmr1 = TIM1->CCMR1;
    ccmr1 &= ~(TIM_CCMR1_OC1M | TIM_CCMR1_CC1S);
    ccmr1 |= TIM_OCMODE_PWM1;
    ccer &= ~(TIM_CCER_CC1P | TIM_CCER_CC1NP | TIM_CCER_CC1NE);
    cr2 &= ~(TIM_CR2_OIS1 | TIM_CR2_OIS1N);
    TIM1->CR2 = cr2;
    TIM1->CCMR1 = ccmr1;
    TIM1->CCR1 = 500u;
    TIM1->CCER = ccer;
    TIM1->CCMR1 |= TIM_CCMR1_OC1PE;
    TIM1->CCMR1 &= ~TIM_CCMR1_OC1FE;

    /* HAL_TIMEx_ConfigBreakDeadTime: everything off; HAL_TIMEx_MasterConfigSynchronization: reset */
    TIM1->BDTR = 0u;
    TIM1->CR2 &= ~(TIM_CR2_MMS | (15u << 20));
    TIM1->SMCR &= ~TIM_SMCR_MSM;

    NVIC_ISER = (1u << IRQ_TIM1_BRK_UP_TRG_COM) | (1u << IRQ_TIM1_CC);
    TIM1->DIER |= TIM_DIER_UIE;                     /* HAL_TIM_Base_Start_IT (counter enabled below) */
    TIM1->DIER |= TIM_DIER_CC1IE;                   /* HAL_TIM_PWM_Start_IT */
    TIM1->CCER |= TIM_CCER_CC1E;
    TIM1->BDTR |= TIM_BDTR_MOE;
    if ((TIM1->SMCR & TIM_SMCR_SMS) != 6u)
        TIM1->CR1 |= TIM_CR1_CEN;

    while (updates < 3u)
        __asm__ volatile("wfi");
    TIM1->CR1 &= ~TIM_CR1_CEN;

    sh_write0("updates ");
    put_dec(updates);
    sh_write0(" compares ");
    put_dec(compares);
    sh_write0("\n");
    return 0;
}
