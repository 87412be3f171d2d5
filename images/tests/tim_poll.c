/*
 * tim_poll - timers polled without interrupts, as LL code waits on them: TIM14 counts 1 ms
 * periods (PSC 11, ARR 999 at the 12 MHz reset clock) and main waits for SR.UIF three times,
 * clearing it each time (period_done() follows each wait); then TIM2 counts at 10 kHz
 * (PSC 1199) and main waits until CNT reaches 50, i.e. 5 ms (counter_done() follows).
 * Prints "polled\n" and exits 0.
 */
#include "c071.h"
#include "tim.h"
#include "semihost.h"

void __attribute__((noinline)) period_done(void) { __asm__ volatile("" ::: "memory"); }
void __attribute__((noinline)) counter_started(void) { __asm__ volatile("" ::: "memory"); }
void __attribute__((noinline)) counter_done(void) { __asm__ volatile("" ::: "memory"); }

int main(void)
{
    RCC_APBENR2 |= RCC_APBENR2_TIM14EN;
    RCC_APBENR1 |= RCC_APBENR1_TIM2EN;

    TIM14->PSC = 11u;
    TIM14->ARR = 999u;
    TIM14->EGR = TIM_EGR_UG;
    TIM14->SR = ~TIM_SR_UIF;
    TIM14->CR1 = TIM_CR1_CEN;
    for (int i = 0; i < 3; i++) {
        while (!(TIM14->SR & TIM_SR_UIF)) {
        }
        TIM14->SR = ~TIM_SR_UIF;
        period_done();
    }
    TIM14->CR1 = 0;

    TIM2->PSC = 1199u;
    TIM2->EGR = TIM_EGR_UG;
    TIM2->CR1 = TIM_CR1_CEN;
    counter_started();
    while (TIM2->CNT < 50u) {
    }
    counter_done();
    sh_write0("polled\n");
    return 0;
}
