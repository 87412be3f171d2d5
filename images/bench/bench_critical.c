/*
 * bench_critical - compute with critical sections, as HAL code has them. At 48 MHz
 * SysTick interrupts at 1 kHz (LOAD = 47999) and its handler adds to a counter that
 * main also updates. Main runs a bitwise CRC-32 over a 16 KiB LCG-filled work area
 * (CRC_RUNS passes) and an insertion sort (SORT_RUNS times); after every CRC byte and
 * every sorted element it updates the shared counters inside a critical section, in
 * both HAL forms: save PRIMASK, cpsid i, ..., msr primask (restore) and cpsid i, ...,
 * cpsie i. Prints "checksum <hex>\n" and exits 0. About 21 M instructions. Nothing
 * depends on the tick count, so the same instructions run on bare Unicorn (no SysTick)
 * up to the first semihosting call.
 */
#include "bench.h"
#include "semihost.h"

#define CRC_RUNS  10
#define SORT_RUNS 6
#define SORT_N    512

static uint32_t work[4096];
static uint32_t lcg_state = 12345u;
volatile uint32_t ticks;
volatile uint32_t shared_events;          /* written by the handler and by main */
volatile uint32_t shared_bytes;

void SysTick_Handler(void)
{
    ticks++;
    shared_events++;
}

static uint32_t lcg(void)
{
    lcg_state = lcg_state * 1664525u + 1013904223u;
    return lcg_state;
}

static void count_byte(void)              /* __get_PRIMASK / __disable_irq / __set_PRIMASK */
{
    uint32_t saved = primask_get();
    irq_disable();
    shared_bytes++;
    shared_events++;
    primask_set(saved);
}

static void count_element(uint32_t v)     /* __disable_irq / __enable_irq */
{
    irq_disable();
    shared_events += v & 1u;
    irq_enable();
}

static uint32_t crc32(const uint8_t *p, uint32_t len, uint32_t crc)
{
    crc = ~crc;
    while (len--) {
        crc ^= *p++;
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
        count_byte();
    }
    return ~crc;
}

static uint32_t bench_crc(void)
{
    uint32_t crc = 0;
    for (uint32_t i = 0; i < 4096; i++)
        work[i] = lcg();
    for (int r = 0; r < CRC_RUNS; r++) {
        crc = crc32((const uint8_t *)work, sizeof work, crc);
        work[r] ^= crc;
    }
    return crc;
}

static uint32_t bench_sort(void)
{
    uint32_t *a = work;
    uint32_t sum = 0;
    for (int r = 0; r < SORT_RUNS; r++) {
        for (int i = 0; i < SORT_N; i++)
            a[i] = lcg();
        for (int i = 1; i < SORT_N; i++) {
            uint32_t v = a[i];
            int j = i - 1;
            while (j >= 0 && a[j] > v) {
                a[j + 1] = a[j];
                j--;
            }
            a[j + 1] = v;
            count_element(v);
        }
        for (int i = 1; i < SORT_N; i++)
            if (a[i - 1] > a[i])
                sh_fail("insertion sort result is ordered");
        for (int i = 0; i < SORT_N; i += 7)
            sum = (sum << 3 | sum >> 29) ^ a[i];
    }
    return sum;
}

int main(void)
{
    clock_48mhz();
    SYST_LOAD = 47999;                    /* 1 ms at 48 MHz */
    SYST_VAL = 0;
    SYST_CTRL = SYST_CTRL_HCLK | SYST_CTRL_TICKINT | SYST_CTRL_ENABLE;
    uint32_t c = bench_crc();
    uint32_t s = bench_sort();
    SYST_CTRL = 0;
    if (shared_bytes != CRC_RUNS * sizeof work)
        sh_fail("every byte counted");
    sh_write0("checksum ");
    sh_puthex(c ^ (s * 31u));
    sh_write0("\n");
    return 0;
}
