/*
 * dma_m2m - memory-to-memory DMA the way the HAL's "flash to RAM" example does it: a
 * 32-word constant table in flash copied to an SRAM buffer by DMA1 channel 1 (MEM2MEM,
 * PINC, MINC, 32-bit sizes, high priority, DMAMUX request 0) with half-transfer and
 * transfer-complete interrupts (IRQ 9).  Main records CNDTR right after the enabling
 * store (cndtr_after_enable), sleeps with WFI until the complete callback has run,
 * compares the buffers and prints "copied 32 words\n" (exit 0) or "FAIL: ..." (exit 1).
 * The callbacks count themselves (half_callbacks, done_callbacks) and note CNDTR when
 * the half-transfer one runs (cndtr_at_half).
 */
#include "dma_driver.h"
#include "semihost.h"

#define WORDS 32u

const uint32_t source[WORDS] = {
    0x01020304, 0x05060708, 0x090A0B0C, 0x0D0E0F10, 0x11121314, 0x15161718, 0x191A1B1C, 0x1D1E1F20,
    0x21222324, 0x25262728, 0x292A2B2C, 0x2D2E2F30, 0x31323334, 0x35363738, 0x393A3B3C, 0x3D3E3F40,
    0x41424344, 0x45464748, 0x494A4B4C, 0x4D4E4F50, 0x51525354, 0x55565758, 0x595A5B5C, 0x5D5E5F60,
    0x61626364, 0x65666768, 0x696A6B6C, 0x6D6E6F70, 0x71727374, 0x75767778, 0x797A7B7C, 0x7D7E7F80,
};
uint32_t destination[WORDS];

volatile uint32_t cndtr_after_enable;
volatile uint32_t cndtr_at_half;
volatile uint32_t half_callbacks;
volatile uint32_t done_callbacks;
volatile uint32_t error_callbacks;

static void on_half(struct dma_handle *h)
{
    cndtr_at_half = DMA1_CH(h->channel)->CNDTR;
    half_callbacks++;
}

static void on_done(struct dma_handle *h)
{
    (void)h;
    done_callbacks++;
}

static void on_error(struct dma_handle *h)
{
    (void)h;
    error_callbacks++;
}

static struct dma_handle hdma = {
    .channel = 1,
    .config = DMA_CCR_MEM2MEM | DMA_CCR_PINC | DMA_CCR_MINC | DMA_CCR_PSIZE_32 | DMA_CCR_MSIZE_32 | DMA_CCR_PL_HIGH,
    .half_done = on_half,
    .done = on_done,
    .error = on_error,
};

void IRQ9_Handler(void)                   /* DMA1_Channel1 */
{
    dma_irq_handler(&hdma);
}

int main(void)
{
    RCC_AHBENR |= RCC_AHBENR_DMA1EN;
    (void)RCC_AHBENR;
    nvic_enable(IRQ_DMA1_CH1, 0);

    dma_init(&hdma);
    dma_start_it(&hdma, (uint32_t)source, (uint32_t)destination, WORDS);
    cndtr_after_enable = DMA1_CH(1)->CNDTR;

    while (!done_callbacks && !error_callbacks)
        __asm__ volatile("wfi");

    if (error_callbacks)
        sh_fail("transfer error");
    for (unsigned i = 0; i < WORDS; i++)
        if (destination[i] != source[i])
            sh_fail("destination differs from source");
    sh_write0("copied 32 words\n");
    return 0;
}
