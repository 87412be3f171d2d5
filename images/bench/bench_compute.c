/*
 * bench_compute - CPU-bound benchmark. Switches SYSCLK to 48 MHz first
 * (FLASH_ACR.LATENCY = 1 read back until it sticks, then RCC_CR.HSIDIV = 000
 * keeping the other bits, then wait for HSIRDY; RM0490 §4.3.2, §6.4.1).
 * Then, over one 16 KiB SRAM work area filled by an LCG:
 *   - bitwise CRC-32 (reflected poly 0xEDB88320, no table), CRC_RUNS passes;
 *   - insertion sort of 512 uint32 (LCG data), SORT_RUNS times, checked;
 *   - 24x24 integer matrix multiply, MAT_RUNS times (each pass feeds back).
 * Prints "checksum <8 hex digits>\n" and exits 0 (exit 1 if the sort check
 * fails). About 62 million instructions in total (61.9 M counted with an
 * instruction-level model; see README.md).
 */
#include "c071.h"
#include "semihost.h"

#define CRC_RUNS  16
#define SORT_RUNS 8
#define MAT_RUNS  160
#define N         24
#define SORT_N    512

static uint32_t work[4096];               /* 16 KiB shared work area */
static uint32_t lcg_state = 12345u;

static uint32_t lcg(void)
{
    lcg_state = lcg_state * 1664525u + 1013904223u;
    return lcg_state;
}

static void clock_48mhz(void)
{
    FLASH_ACR = (FLASH_ACR & ~FLASH_ACR_LATENCY_MASK) | 1u;
    while ((FLASH_ACR & FLASH_ACR_LATENCY_MASK) != 1u)
        ;
    RCC_CR = RCC_CR & ~RCC_CR_HSIDIV_MASK;    /* HSIDIV = 000: HSI48 / 1 */
    while ((RCC_CR & RCC_CR_HSIRDY) == 0)
        ;
}

static uint32_t crc32(const uint8_t *p, uint32_t len, uint32_t crc)
{
    crc = ~crc;
    while (len--) {
        crc ^= *p++;
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
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
        work[r] ^= crc;                   /* each pass sees different data */
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
        }
        for (int i = 1; i < SORT_N; i++)
            if (a[i - 1] > a[i])
                sh_fail("insertion sort result is ordered");
        for (int i = 0; i < SORT_N; i += 7)
            sum = (sum << 3 | sum >> 29) ^ a[i];
    }
    return sum;
}

static uint32_t bench_matrix(void)
{
    uint32_t (*A)[N] = (uint32_t (*)[N])&work[0];
    uint32_t (*B)[N] = (uint32_t (*)[N])&work[N * N];
    uint32_t (*C)[N] = (uint32_t (*)[N])&work[2 * N * N];
    uint32_t sum = 0;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) {
            A[i][j] = lcg() & 0xFFu;
            B[i][j] = lcg() & 0xFFu;
        }
    for (int r = 0; r < MAT_RUNS; r++) {
        for (int i = 0; i < N; i++)
            for (int j = 0; j < N; j++) {
                uint32_t s = 0;
                for (int k = 0; k < N; k++)
                    s += A[i][k] * B[k][j];
                C[i][j] = s;
            }
        sum += C[r % N][(r * 7) % N];
        A[r % N][(r * 5) % N] = C[(r * 3) % N][r % N] & 0xFFu;
    }
    return sum;
}

int main(void)
{
    clock_48mhz();
    uint32_t c = bench_crc();
    uint32_t s = bench_sort();
    uint32_t m = bench_matrix();
    uint32_t total = c ^ (s * 31u) ^ (m * 131u);
    sh_write0("crc ");
    sh_puthex(c);
    sh_write0(" sort ");
    sh_puthex(s);
    sh_write0(" matrix ");
    sh_puthex(m);
    sh_write0("\nchecksum ");
    sh_puthex(total);
    sh_write0("\n");
    return 0;
}
