/*
 * tim3_timebase - the HAL timebase on TIM3, as CubeMX generates it when SysTick is
 * left to an RTOS (the HAL_InitTick override of the "timebase TIM" template): TIM3
 * clock enabled, prescaler from the timer clock for a 1 MHz count, period 999 (1 ms),
 * HAL_TIM_Base_Init's register sequence (CR1, ARR, PSC, EGR.UG, UIF cleared), then
 * HAL_TIM_Base_Start_IT's (UIE, SMCR slave mode checked, CEN) and the NVIC.  The TIM3
 * handler does what HAL_TIM_IRQHandler does for the update flag and HAL_IncTick.
 *
 * main: HAL_Delay(10) at the 12 MHz reset clock; then the clock goes to 48 MHz with
 * the APB prescaler at /2 (PCLK 24 MHz, timer clock 48 MHz: HAL_RCC_GetPCLK1Freq x 2)
 * and the tick is re-initialised as HAL_RCC_ClockConfig does; HAL_Delay(10) again.
 * Each delay runs between the calls delay_start()/delay_end() (the test breaks there
 * and measures simulated time).  Last, an idle loop sleeps with wfi for 1000 ticks.
 * Prints the ticks each delay and the idle loop took ("tick 11 11 1000\n": HAL_Delay
 * waits one tick more than asked) and exits 0.
 */
#include "c071.h"
#include "tim.h"
#include "semihost.h"

#define TICK_PRIORITY 3u

volatile uint32_t uw_tick;
uint32_t system_core_clock = 12000000u;
uint32_t apb_divider = 1u;

void __attribute__((noinline)) delay_start(void) { __asm__ volatile("" ::: "memory"); }
void __attribute__((noinline)) delay_end(void) { __asm__ volatile("" ::: "memory"); }

static uint32_t hal_get_tick(void) { return uw_tick; }

/* HAL_Delay: one extra tick guarantees at least the requested time */
static void hal_delay(uint32_t delay)
{
    uint32_t start = hal_get_tick();
    uint32_t wait = delay + 1u;
    while ((hal_get_tick() - start) < wait) {
    }
}

static void nvic_enable(unsigned irq) { NVIC_ISER = 1u << irq; }

static int hal_init_tick(uint32_t priority)
{
    RCC_APBENR1 |= RCC_APBENR1_TIM3EN;
    (void)RCC_APBENR1;                           /* the HAL reads the bit back after enabling */
    uint32_t pclk = system_core_clock / apb_divider;
    uint32_t timclk = apb_divider == 1u ? pclk : 2u * pclk;
    uint32_t prescaler = timclk / 1000000u - 1u;

    /* HAL_TIM_Base_Init -> TIM_Base_SetConfig */
    uint32_t cr1 = TIM3->CR1;
    cr1 &= ~(TIM_CR1_DIR | TIM_CR1_CMS);          /* counter mode up */
    cr1 &= ~TIM_CR1_CKD;
    cr1 &= ~TIM_CR1_ARPE;                         /* auto-reload preload disabled */
    TIM3->CR1 = cr1;
    TIM3->ARR = 1000000u / 1000u - 1u;
    TIM3->PSC = prescaler;
    TIM3->EGR = TIM_EGR_UG;
    if (TIM3->SR & TIM_SR_UIF)
        TIM3->SR = ~TIM_SR_UIF;

    /* HAL_TIM_Base_Start_IT */
    TIM3->DIER |= TIM_DIER_UIE;
    uint32_t sms = TIM3->SMCR & TIM_SMCR_SMS;
    if (sms != 6u)                                /* not trigger mode: the HAL enables the counter */
        TIM3->CR1 |= TIM_CR1_CEN;

    nvic_set_prio(IRQ_TIM3, priority << 6);
    nvic_enable(IRQ_TIM3);
    return 0;
}

/* HAL_TIM_IRQHandler, update part, with HAL_TIM_PeriodElapsedCallback -> HAL_IncTick */
void IRQ16_Handler(void)
{
    if ((TIM3->SR & TIM_SR_UIF) && (TIM3->DIER & TIM_DIER_UIE)) {
        TIM3->SR = ~TIM_SR_UIF;
        uw_tick += 1u;
    }
}

/* HAL_RCC_ClockConfig to 48 MHz HSISYS, APB /2: latency first, HSIDIV, PPRE, then the tick */
static void clock_48mhz_apb_div2(void)
{
    FLASH_ACR = (FLASH_ACR & ~FLASH_ACR_LATENCY_MASK) | 1u;
    while ((FLASH_ACR & FLASH_ACR_LATENCY_MASK) != 1u) {
    }
    RCC_CR &= ~RCC_CR_HSIDIV_MASK;
    while (!(RCC_CR & RCC_CR_HSIRDY)) {
    }
    RCC_CFGR = (RCC_CFGR & ~RCC_CFGR_PPRE_MASK) | RCC_CFGR_PPRE_DIV2;
    system_core_clock = 48000000u;
    apb_divider = 2u;
    hal_init_tick(TICK_PRIORITY);
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
    hal_init_tick(TICK_PRIORITY);

    delay_start();
    uint32_t t0 = hal_get_tick();
    hal_delay(10);
    uint32_t d1 = hal_get_tick() - t0;
    delay_end();

    clock_48mhz_apb_div2();
    delay_start();
    t0 = hal_get_tick();
    hal_delay(10);
    uint32_t d2 = hal_get_tick() - t0;
    delay_end();

    t0 = hal_get_tick();
    while (hal_get_tick() - t0 < 1000u)
        __asm__ volatile("wfi");
    uint32_t idle = hal_get_tick() - t0;
    TIM3->CR1 &= ~TIM_CR1_CEN;

    sh_write0("tick ");
    put_dec(d1);
    sh_write0(" ");
    put_dec(d2);
    sh_write0(" ");
    put_dec(idle);
    sh_write0("\n");
    return 0;
}
