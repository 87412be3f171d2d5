/*
 * rtc_calendar - the RTC counts calendar time from the LSE (RM0490 RTC chapter, RCC CSR1).
 *
 * Register sequence as the vendor HAL's: RCC: LSEON, wait LSERDY, RTCSEL = LSE, RTCEN,
 * RTC APB clock.  HAL_RTC_Init: write-protection keys 0xCA 0x53, INIT and wait INITF,
 * CR hour format, PRER synchronous then asynchronous prescaler (255, 127: 1 Hz from
 * 32.768 kHz), INIT cleared, RSF cleared and awaited, protection back on (0xFF).
 * SetTime/SetDate: keys, INIT/INITF, TR = 23:59:58, DR = Thursday 2024-02-29, leave
 * INIT, wait RSF, protection on.  Then 2.5 s of SysTick COUNTFLAG polls, and GetTime
 * then GetDate (TR read first, DR after it: the shadow registers keep them
 * consistent).  Prints "rtc tr=<hex> dr=<hex>\n" and exits 0.
 */
#include "c071_bus.h"
#include "semihost.h"

static void rtc_unlock(void) { RTC_WPR = 0xCAu; RTC_WPR = 0x53u; }
static void rtc_lock(void) { RTC_WPR = 0xFFu; }

static void enter_init(void)
{
    if (!(RTC_ICSR & RTC_ICSR_INITF)) {
        RTC_ICSR |= RTC_ICSR_INIT;
        while (!(RTC_ICSR & RTC_ICSR_INITF))
            ;
    }
}

static void wait_for_synchro(void)
{
    RTC_ICSR &= ~(RTC_ICSR_RSF | RTC_ICSR_INIT);
    while (!(RTC_ICSR & RTC_ICSR_RSF))
        ;
}

static void exit_init(void)
{
    RTC_ICSR &= ~RTC_ICSR_INIT;
    wait_for_synchro();
}

static void delay_ms(uint32_t ms)
{
    SYST_LOAD = 12000u - 1u;                    /* 1 ms at the 12 MHz reset clock */
    SYST_VAL = 0;
    SYST_CTRL = SYST_CTRL_HCLK | SYST_CTRL_ENABLE;
    while (ms--)
        while (!(SYST_CTRL & SYST_CTRL_COUNTFLAG))
            ;
    SYST_CTRL = 0;
}

int main(void)
{
    uint32_t tr, dr;

    /* clocks */
    RCC_CSR1 |= RCC_CSR1_LSEON;
    while (!(RCC_CSR1 & RCC_CSR1_LSERDY))
        ;
    RCC_CSR1 |= RCC_CSR1_RTCSEL_LSE;
    RCC_CSR1 |= RCC_CSR1_RTCEN;
    RCC_APBENR1 |= RCC_APBENR1_RTCAPBEN;

    /* init: 24-hour format, 1 Hz */
    rtc_unlock();
    enter_init();
    RTC_CR &= ~RTC_CR_FMT;
    RTC_PRER = 255u;
    RTC_PRER |= 127u << 16;
    exit_init();
    rtc_lock();

    /* set time and date */
    rtc_unlock();
    enter_init();
    RTC_TR = 0x235958u;
    exit_init();
    rtc_lock();
    rtc_unlock();
    enter_init();
    RTC_DR = 0x248229u;                         /* year 24, Thursday (4), month 02, day 29 */
    exit_init();
    rtc_lock();

    delay_ms(2500);
    tr = RTC_TR;
    dr = RTC_DR;
    sh_write0("rtc tr=");
    sh_puthex(tr);
    sh_write0(" dr=");
    sh_puthex(dr);
    sh_write0("\n");
    return 0;
}
