/*
 * trigger_usart - jumps when the line "DFU" arrives on USART2 (the NUCLEO's virtual COM
 * port: PA2 TX, PA3 RX, AF1), 115200 8N1.  Set up as HAL_UART_Init does it with the
 * MSP init of a CubeMX project: USART2 and GPIOA clocks, PA2/PA3 alternate function 1,
 * USART2 interrupt priority and enable; UE = 0, CR1 (TE, RE, 8 bits, no parity),
 * CR2 (1 stop bit), CR3, BRR = PCLK / 115200 rounded, UE = 1, wait for TEACK and REACK.
 * Reception is interrupt-driven like HAL_UART_Receive_IT: CR3.EIE and CR1.RXNEIE set,
 * the handler clears error flags through ICR and moves RDR into a buffer that the
 * main loop reads after each wake-up from WFI.
 */
#include "trigger.h"
#include "semihost.h"

#define BAUD        115200u
#define RX_PIN      3u
#define TX_PIN      2u
#define AF_USART2   1u
#define RX_BUFFER   64u

static volatile uint8_t rx_buffer[RX_BUFFER];
static volatile uint32_t rx_head;              /* written by the interrupt */
static uint32_t rx_tail;                        /* read by the main loop */
volatile uint32_t usart_errors;
static struct line_matcher line;

static void usart2_msp_init(void)
{
    RCC_APBENR1 |= RCC_APBENR1_USART2EN;
    (void)RCC_APBENR1;
    RCC_IOPENR |= RCC_IOPENR_GPIOAEN;
    (void)RCC_IOPENR;
    uint32_t pins2 = (3u << (2u * TX_PIN)) | (3u << (2u * RX_PIN));
    GPIO_OSPEEDR(GPIOA_BASE) &= ~pins2;         /* low speed */
    GPIO_OTYPER(GPIOA_BASE) &= ~((1u << TX_PIN) | (1u << RX_PIN));
    GPIO_PUPDR(GPIOA_BASE) &= ~pins2;           /* no pull */
    GPIO_AFRL(GPIOA_BASE) = (GPIO_AFRL(GPIOA_BASE) & ~((0xFu << (4u * TX_PIN)) | (0xFu << (4u * RX_PIN)))) |
                            (AF_USART2 << (4u * TX_PIN)) | (AF_USART2 << (4u * RX_PIN));
    GPIO_MODER(GPIOA_BASE) = (GPIO_MODER(GPIOA_BASE) & ~pins2) |
                             (GPIO_MODE_AF << (2u * TX_PIN)) | (GPIO_MODE_AF << (2u * RX_PIN));
    nvic_set_priority(IRQ_USART2, 0);
    nvic_enable(IRQ_USART2);
}

static void usart2_init(void)
{
    usart2_msp_init();
    USART_CR1(USART2_BASE) &= ~USART_CR1_UE;
    USART_CR1(USART2_BASE) = USART_CR1_TE | USART_CR1_RE;        /* 8 data bits, no parity, 16x */
    USART_CR2(USART2_BASE) = 0;                                  /* 1 stop bit */
    USART_CR3(USART2_BASE) = 0;
    USART_BRR(USART2_BASE) = (system_core_clock + BAUD / 2u) / BAUD;   /* PCLK = HCLK = SYSCLK */
    USART_CR1(USART2_BASE) |= USART_CR1_UE;
    uint32_t start = hal_ticks;
    while ((USART_ISR(USART2_BASE) & (USART_ISR_TEACK | USART_ISR_REACK)) !=
           (USART_ISR_TEACK | USART_ISR_REACK)) {
        if (hal_ticks - start > 2u)
            break;
    }
}

static void usart2_receive_it(void)
{
    USART_CR3(USART2_BASE) |= USART_CR3_EIE;
    USART_CR1(USART2_BASE) |= USART_CR1_RXNEIE;
}

void IRQ28_Handler(void)                        /* USART2 */
{
    uint32_t isr = USART_ISR(USART2_BASE);
    uint32_t errors = isr & (USART_ISR_PE | USART_ISR_FE | USART_ISR_NE | USART_ISR_ORE);
    if (errors) {
        USART_ICR(USART2_BASE) = errors;
        usart_errors++;
    }
    if (isr & USART_ISR_RXNE) {
        uint8_t c = (uint8_t)USART_RDR(USART2_BASE);
        if (rx_head - rx_tail < RX_BUFFER) {
            rx_buffer[rx_head % RX_BUFFER] = c;
            rx_head++;
        }
    }
}

int main(void)
{
    trigger_system_init();
    usart2_init();
    usart2_receive_it();
    sh_write0("trigger_usart: waiting for DFU on USART2\n");
    for (;;) {
        while (rx_tail == rx_head) {
            __asm__ volatile("wfi");
        }
        char c = (char)rx_buffer[rx_tail % RX_BUFFER];
        rx_tail++;
        if (line_matches(&line, c, "DFU"))
            break;
    }
    sh_write0("trigger_usart: DFU received, jumping\n");
    jump_to_bootloader();
    sh_write0("trigger_usart: the bootloader returned\n");
    return 1;
}
