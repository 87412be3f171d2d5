/*
 * standby_wkup - Standby woken by the WKUP2 pin (PC13, active low), as the
 * HAL's PWR_STANDBY example does it: PWR clock on; if PWR_SR1.SBF is set the
 * chip has come back from Standby: print "woke from Standby (WUF2=w)\n",
 * check that SRAM was not retained (a .noinit marker written before Standby
 * is gone), clear SBF and the wake-up flags with PWR_SCR and exit 0.
 * Otherwise: write the marker, disable the wake-up pins, clear their flags,
 * HAL_PWR_EnableWakeUpPin(PWR_WAKEUP_PIN2_LOW) (CR3.EWUP2, then CR4.WP2),
 * HAL_PWR_EnterSTANDBYMode (LPMS = 011, SLEEPDEEP, wfi). Code after that wfi
 * must never run: it prints "ran after the wfi\n" and exits 1.
 */
#include "c071_lowpower.h"
#include "semihost.h"

#define MARKER 0x5AFEC0DEu

uint32_t marker __attribute__((section(".noinit")));

int main(void)
{
    RCC_APBENR1 |= RCC_APBENR1_PWREN;
    (void)RCC_APBENR1;

    if (PWR_SR1 & PWR_SR1_SBF) {
        sh_write0("woke from Standby (WUF2=");
        sh_puthex((PWR_SR1 & PWR_SR1_WUF2) ? 1 : 0);
        sh_write0(")\n");
        if (marker == MARKER)
            sh_fail("SRAM kept its content through Standby");
        PWR_SCR = PWR_SCR_CSBF | PWR_SCR_CWUF_ALL;
        if (PWR_SR1 & (PWR_SR1_SBF | PWR_SR1_WUF2))
            sh_fail("PWR_SCR did not clear the flags");
        return 0;
    }

    marker = MARKER;
    PWR_CR3 &= ~0x3Fu;                        /* HAL_PWR_DisableWakeUpPin */
    PWR_SCR = PWR_SCR_CWUF_ALL;               /* __HAL_PWR_CLEAR_FLAG(PWR_FLAG_WU) */
    PWR_CR3 |= PWR_CR3_EWUP2;                 /* HAL_PWR_EnableWakeUpPin(PWR_WAKEUP_PIN2_LOW) */
    PWR_CR4 |= PWR_CR4_WP2;
    sh_write0("entering Standby\n");

    PWR_CR1 = (PWR_CR1 & ~PWR_CR1_LPMS_MASK) | PWR_LPMS_STANDBY;
    SCB_SCR |= SCB_SCR_SLEEPDEEP;
    __asm__ volatile("wfi");

    sh_write0("ran after the wfi\n");
    return 1;
}
