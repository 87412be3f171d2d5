/*
 * usart_dma - USART2 transmit and receive by DMA, in the vendor HAL's register order
 * (clean-room).  Init: USART2 and GPIOA clocks, PA2/PA3 to alternate function 1, DMA1
 * channel 1 = USART2_RX (DMAMUX request 52, peripheral-to-memory, MINC, bytes) and
 * channel 2 = USART2_TX (request 53, memory-to-peripheral, MINC, bytes), IRQs 9, 10 and
 * 28 enabled, then the UART: UE off, 8N1 at 115200 baud from the 12 MHz PCLK (BRR 104),
 * UE on, wait for TEACK and REACK.
 * Receive-by-DMA: channel 1 started from RDR to the buffer, CR3.EIE, then CR3.DMAR.
 * Transmit-by-DMA: channel 2 started from the buffer to TDR, ICR.TCCF, then CR3.DMAT; at
 * the DMA transfer-complete interrupt DMAT is cleared and CR1.TCIE set, and the USART's
 * TC interrupt ends the transmission (TCIE cleared) - the path HAL_UART_Transmit_DMA
 * takes.
 * The image starts an 8-byte reception, sends "hello from USART2 DMA\r\n", waits (WFI)
 * for both, sends the 8 received bytes back by DMA, prints "received <bytes>\n" over
 * semihosting and exits 0 (1 on a DMA or USART error).
 */
#include "dma_driver.h"
#include "semihost.h"

#define RX_LENGTH 8u

static const char greeting[] = "hello from USART2 DMA\r\n";
uint8_t rx_buffer[RX_LENGTH + 1];

volatile uint32_t tx_busy, rx_busy;
volatile uint32_t tx_completions, rx_completions, errors;

static void on_tx_dma_done(struct dma_handle *h)
{
    if (!(h->config & DMA_CCR_CIRC)) {
        USART2_CR3 &= ~USART_CR3_DMAT;
        USART2_CR1 |= USART_CR1_TCIE;        /* the end comes with the USART's TC */
    }
}

static void on_rx_dma_done(struct dma_handle *h)
{
    if (!(h->config & DMA_CCR_CIRC)) {
        USART2_CR1 &= ~USART_CR1_PEIE;
        USART2_CR3 &= ~USART_CR3_EIE;
        USART2_CR3 &= ~USART_CR3_DMAR;
        rx_busy = 0;
        rx_completions++;
    }
}

static void on_dma_error(struct dma_handle *h)
{
    (void)h;
    errors++;
}

static void on_half(struct dma_handle *h)
{
    (void)h;
}

static struct dma_handle hdma_rx = {
    .channel = 1,
    .request = DMAMUX_REQ_USART2_RX,
    .config = DMA_CCR_MINC | DMA_CCR_PSIZE_8 | DMA_CCR_MSIZE_8,
    .half_done = on_half,
    .done = on_rx_dma_done,
    .error = on_dma_error,
};

static struct dma_handle hdma_tx = {
    .channel = 2,
    .request = DMAMUX_REQ_USART2_TX,
    .config = DMA_CCR_DIR | DMA_CCR_MINC | DMA_CCR_PSIZE_8 | DMA_CCR_MSIZE_8,
    .half_done = on_half,
    .done = on_tx_dma_done,
    .error = on_dma_error,
};

void IRQ9_Handler(void)                   /* DMA1_Channel1 */
{
    dma_irq_handler(&hdma_rx);
}

void IRQ10_Handler(void)                  /* DMA1_Channel2_3 */
{
    dma_irq_handler(&hdma_tx);
}

void IRQ28_Handler(void)                  /* USART2 */
{
    uint32_t isr = USART2_ISR;
    if ((isr & 0xFu) && (USART2_CR3 & USART_CR3_EIE)) {     /* PE, FE, NE, ORE */
        USART2_ICR = isr & 0xFu;
        errors++;
    }
    if ((isr & USART_ISR_TC) && (USART2_CR1 & USART_CR1_TCIE)) {
        USART2_CR1 &= ~USART_CR1_TCIE;
        tx_busy = 0;
        tx_completions++;
    }
}

static void uart_msp_init(void)
{
    RCC_APBENR1 |= RCC_APBENR1_USART2EN;
    (void)RCC_APBENR1;
    RCC_IOPENR |= 1u;                                          /* GPIOAEN */
    (void)RCC_IOPENR;
    GPIOA_AFRL = (GPIOA_AFRL & ~(0xFFu << 8)) | (0x11u << 8);  /* PA2, PA3: AF1 */
    GPIOA_MODER = (GPIOA_MODER & ~(0xFu << 4)) | (0xAu << 4);  /* alternate function mode */
    RCC_AHBENR |= RCC_AHBENR_DMA1EN;
    (void)RCC_AHBENR;
    dma_init(&hdma_rx);
    dma_init(&hdma_tx);
    nvic_enable(IRQ_DMA1_CH1, 0);
    nvic_enable(IRQ_DMA1_CH2_3, 0);
    nvic_enable(IRQ_USART2, 0);
}

static void uart_init(void)
{
    uart_msp_init();
    USART2_CR1 &= ~USART_CR1_UE;
    USART2_CR1 = (USART2_CR1 & ~0x1000960Cu) | USART_CR1_TE | USART_CR1_RE;   /* M, PCE, PS, TE, RE, OVER8 */
    USART2_CR2 &= ~(3u << 12);                                                /* 1 stop bit */
    USART2_PRESC = 0;
    USART2_BRR = (12000000u + 115200u / 2u) / 115200u;
    USART2_CR2 &= ~((1u << 14) | (1u << 11));                                 /* LINEN, CLKEN */
    USART2_CR3 &= ~((1u << 5) | (1u << 3) | (1u << 1));                       /* SCEN, HDSEL, IREN */
    USART2_CR1 |= USART_CR1_UE;
    while ((USART2_ISR & (USART_ISR_TEACK | USART_ISR_REACK)) != (USART_ISR_TEACK | USART_ISR_REACK)) {
    }
}

static void uart_transmit_dma(const void *data, uint32_t length)
{
    tx_busy = 1;
    dma_start_it(&hdma_tx, (uint32_t)data, (uint32_t)&USART2_TDR, length);
    USART2_ICR = USART_ICR_TCCF;
    USART2_CR3 |= USART_CR3_DMAT;
}

static void uart_receive_dma(void *buffer, uint32_t length)
{
    rx_busy = 1;
    dma_start_it(&hdma_rx, (uint32_t)&USART2_RDR, (uint32_t)buffer, length);
    if (USART2_CR1 & USART_CR1_PCE)
        USART2_CR1 |= USART_CR1_PEIE;
    USART2_CR3 |= USART_CR3_EIE;
    USART2_CR3 |= USART_CR3_DMAR;
}

int main(void)
{
    uart_init();
    uart_receive_dma(rx_buffer, RX_LENGTH);
    uart_transmit_dma(greeting, sizeof greeting - 1u);
    while ((tx_busy || rx_busy) && !errors)
        __asm__ volatile("wfi");
    if (errors)
        sh_fail("DMA or USART error");

    uart_transmit_dma(rx_buffer, RX_LENGTH);
    while (tx_busy && !errors)
        __asm__ volatile("wfi");
    if (errors)
        sh_fail("DMA or USART error");

    rx_buffer[RX_LENGTH] = 0;
    sh_write0("received ");
    sh_write0((const char *)rx_buffer);
    sh_writec('\n');
    return 0;
}
