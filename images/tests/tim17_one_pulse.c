/*
 * tim17_one_pulse - a one-shot timeout on TIM17 in one-pulse mode, as LL code arms it:
 * clock on, PSC 11 (1 MHz at the 12 MHz reset clock), ARR 4999 (5 ms), OPM, EGR.UG to load
 * the prescaler, UIF cleared, UIE, NVIC, then CEN (the call timeout_armed() follows the
 * enable).  main then waits for a reply that never comes (a flag only the handler sets)
 * and the TIM17 update interrupt ends the wait.  After it, the counter must have stopped
 * by itself: CEN cleared, CNT 0, and no second interrupt while main idles another 20 ms
 * measured by polling TIM3 (free-running at 1 MHz).  Prints "timeout 1 cen 0 cnt 0\n"
 * (interrupt count, CR1.CEN, CNT) and exits 0.
 */
#include "c071.h"
#include "tim.h"
#include "semihost.h"

volatile uint32_t timeouts;

void __attribute__((noinline)) timeout_armed(void) { __asm__ volatile("" ::: "memory"); }

void IRQ22_Handler(void)
{
    if ((TIM17->SR & TIM_SR_UIF) && (TIM17->DIER & TIM_DIER_UIE)) {
        TIM17->SR = ~TIM_SR_UIF;
        timeouts += 1u;
    }
}

static void put(const char *label, uint32_t v)
{
    sh_write0(label);
    sh_writec((char)('0' + (v > 9u ? 9u : v)));
}

int main(void)
{
    RCC_APBENR2 |= RCC_APBENR2_TIM17EN;
    RCC_APBENR1 |= RCC_APBENR1_TIM3EN;
    TIM3->PSC = 11u;
    TIM3->EGR = TIM_EGR_UG;
    TIM3->CR1 = TIM_CR1_CEN;

    TIM17->PSC = 11u;
    TIM17->ARR = 4999u;
    TIM17->CR1 = TIM_CR1_OPM;
    TIM17->EGR = TIM_EGR_UG;
    TIM17->SR = ~TIM_SR_UIF;
    TIM17->DIER = TIM_DIER_UIE;
    NVIC_ISER = 1u << IRQ_TIM17;
    TIM17->CR1 |= TIM_CR1_CEN;
    timeout_armed();

    while (timeouts == 0u)
        __asm__ volatile("wfi");

    uint32_t t0 = TIM3->CNT;
    while (((TIM3->CNT - t0) & 0xFFFFu) < 20000u) {
    }
    put("timeout ", timeouts);
    put(" cen ", TIM17->CR1 & TIM_CR1_CEN);
    put(" cnt ", TIM17->CNT);
    sh_write0("\n");
    return 0;
}
