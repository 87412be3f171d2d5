/*
 * adc_convert - ADC calibration and a two-channel conversion (RM0490 ADC chapter).
 *
 * The register sequence is the vendor HAL's: enable the ADC clock; init: voltage
 * regulator on (ADVREGEN) and a 20 us software delay, clock mode PCLK/2, CFGR1 (12 bits,
 * right aligned, single mode), common sampling time; calibration: eight runs of ADCAL
 * (each polled until it clears) whose CALFACT values are averaged, written back with
 * the ADC enabled, then the ADC disabled again; channel configuration: CHSELR bits
 * (channel 0 and VREFINT with CCR.VREFEN) then wait for CCRDY and clear it; start:
 * ADEN, wait ADRDY, clear EOC/EOS/OVR, ADSTART; then poll EOC and read DR per channel.
 * Prints "adc ch0=<hex> vrefint=<hex> calfact=<hex> vdda_mv=<hex>\n" (VDDA from
 * VREFINT_CAL measured at 3.0 V) and exits 0.
 */
#include "c071_bus.h"
#include "semihost.h"

#define POLL_LIMIT 100000u

static void cr_set(uint32_t bit)             /* a read-modify-write that keeps set-only bits at 0 */
{
    ADC_CR = (ADC_CR & ~ADC_CR_RS_BITS) | bit;
}

static void wait_set(volatile uint32_t *reg, uint32_t mask, const char *what)
{
    uint32_t n = 0;
    while (!(*reg & mask))
        if (++n == POLL_LIMIT)
            sh_fail(what);
}

static void wait_clear(volatile uint32_t *reg, uint32_t mask, const char *what)
{
    uint32_t n = 0;
    while (*reg & mask)
        if (++n == POLL_LIMIT)
            sh_fail(what);
}

static void delay_loop(uint32_t count)
{
    while (count--)
        __asm__ volatile("nop");
}

static void adc_disable(void)
{
    cr_set(ADC_CR_ADDIS);
    ADC_ISR = ADC_ISR_EOSMP | ADC_ISR_ADRDY;
    wait_clear(&ADC_CR, ADC_CR_ADEN, "ADEN clears after ADDIS");
}

static void adc_enable(void)
{
    if (ADC_CR & (ADC_CR_ADCAL | ADC_CR_ADSTP | ADC_CR_ADSTART | ADC_CR_ADDIS | ADC_CR_ADEN))
        sh_fail("ADC idle before enable");
    cr_set(ADC_CR_ADEN);
    wait_set(&ADC_ISR, ADC_ISR_ADRDY, "ADRDY");
}

static uint32_t calibrate(void)
{
    uint32_t sum = 0, i;
    for (i = 0; i < 8; i++) {
        cr_set(ADC_CR_ADCAL);
        wait_clear(&ADC_CR, ADC_CR_ADCAL, "ADCAL clears");
        sum += ADC_CALFACT & ADC_CALFACT_MASK;
    }
    sum /= 8;
    cr_set(ADC_CR_ADEN);
    ADC_CALFACT = (ADC_CALFACT & ~ADC_CALFACT_MASK) | sum;
    adc_disable();
    return sum;
}

static uint32_t next_conversion(void)
{
    wait_set(&ADC_ISR, ADC_ISR_EOC, "EOC");
    return ADC_DR;                             /* reading DR clears EOC */
}

int main(void)
{
    uint32_t calfact, ch0, vrefint, vdda_mv;

    RCC_APBENR2 |= RCC_APBENR2_ADCEN;
    /* init */
    cr_set(ADC_CR_ADVREGEN);
    delay_loop((20u / 10u) * ((12000000u / (100000u * 2u)) + 1u));
    ADC_CFGR2 = (ADC_CFGR2 & ~(3u << 30)) | ADC_CFGR2_CKMODE_PCLK_DIV2;
    ADC_CFGR1 &= ~((3u << 3) | (1u << 5) | (1u << 2) | ADC_CFGR1_CONT | ADC_CFGR1_OVRMOD);
    ADC_SMPR = (ADC_SMPR & ~0x77u) | 0u;       /* sampling time 1.5 cycles */

    calfact = calibrate();
    if (calfact == 0)
        sh_fail("calibration factor");

    /* channel configuration: channel 0 and VREFINT */
    ADC_CCR |= ADC_CCR_VREFEN;
    ADC_CHSELR |= (1u << 0) | (1u << ADC_CHANNEL_VREFINT);
    wait_set(&ADC_ISR, ADC_ISR_CCRDY, "CCRDY");
    ADC_ISR = ADC_ISR_CCRDY;

    /* start and poll */
    adc_enable();
    ADC_ISR = ADC_ISR_EOC | ADC_ISR_EOS | ADC_ISR_OVR;
    cr_set(ADC_CR_ADSTART);
    ch0 = next_conversion();
    vrefint = next_conversion();
    wait_set(&ADC_ISR, ADC_ISR_EOS, "EOS");
    wait_clear(&ADC_CR, ADC_CR_ADSTART, "ADSTART clears in single mode");
    if (ADC_ISR & ADC_ISR_OVR)
        sh_fail("no overrun");
    if (vrefint == 0)
        sh_fail("VREFINT reads");
    vdda_mv = 3000u * ADC_VREFINT_CAL / vrefint;

    sh_write0("adc ch0=");
    sh_puthex(ch0);
    sh_write0(" vrefint=");
    sh_puthex(vrefint);
    sh_write0(" calfact=");
    sh_puthex(calfact);
    sh_write0(" vdda_mv=");
    sh_puthex(vdda_mv);
    sh_write0("\n");
    return 0;
}
