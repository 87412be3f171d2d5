/*
 * trigger.h - what the trigger applications share (images/apps/README.md, "Trigger
 * applications"): each is written the way a CubeMX/HAL (or TinyUSB) project starts -
 * HAL init (1 kHz SysTick tick, lowest priority), SystemClock_Config (48 MHz HSISYS,
 * one flash wait state), then its peripherals - and reaches the system bootloader by
 * calling the support thread's first jump function, jump_to_bootloader() in
 * jump_forum_v1.c, once its own trigger fires.
 *
 * Board facts (NUCLEO-C071RB, UM3353): user button B1 on PC13, pressed = low;
 * virtual COM port on USART2, PA2 = TX, PA3 = RX, alternate function 1 (datasheet
 * DS14541 Table 14).  Register addresses and bits: RM0490 §6.4 (RCC), §7.4 (GPIO),
 * §15.5 (EXTI), §24.8 (USART), cross-checked with ST's SVD.
 */
#ifndef TRIGGER_H
#define TRIGGER_H

#include "minihal.h"

void jump_to_bootloader(void);               /* jump_forum_v1.c: the forum's v1 jump */

/* RCC (RM0490 §6.4.13, §6.4.15) */
#define RCC_IOPENR          REG32(RCC_BASE + 0x34)
#define RCC_IOPENR_GPIOAEN  (1u << 0)
#define RCC_IOPENR_GPIOCEN  (1u << 2)
#define RCC_APBENR1_USART2EN (1u << 17)

/* GPIO ports (RM0490 §7.4) */
#define GPIOA_BASE          0x50000000u
#define GPIOC_BASE          0x50000800u
#define GPIO_MODER(p)       REG32((p) + 0x00)
#define GPIO_OTYPER(p)      REG32((p) + 0x04)
#define GPIO_OSPEEDR(p)     REG32((p) + 0x08)
#define GPIO_PUPDR(p)       REG32((p) + 0x0C)
#define GPIO_IDR(p)         REG32((p) + 0x10)
#define GPIO_AFRL(p)        REG32((p) + 0x20)
#define GPIO_MODE_INPUT     0u
#define GPIO_MODE_AF        2u
#define GPIO_PULL_UP        1u

/* EXTI (RM0490 §15.5): base 0x40021800 */
#define EXTI_BASE           0x40021800u
#define EXTI_RTSR1          REG32(EXTI_BASE + 0x00)
#define EXTI_FTSR1          REG32(EXTI_BASE + 0x04)
#define EXTI_RPR1           REG32(EXTI_BASE + 0x0C)
#define EXTI_FPR1           REG32(EXTI_BASE + 0x10)
#define EXTI_EXTICR(n)      REG32(EXTI_BASE + 0x60 + 4u * ((n) - 1u))   /* n = 1..4 */
#define EXTI_IMR1           REG32(EXTI_BASE + 0x80)
#define EXTICR_PORT_C       0x02u
#define IRQ_EXTI4_15        7u

/* USART2 (RM0490 §24.8): base 0x40004400, IRQ 28 */
#define USART2_BASE         0x40004400u
#define USART_CR1(u)        REG32((u) + 0x00)
#define USART_CR2(u)        REG32((u) + 0x04)
#define USART_CR3(u)        REG32((u) + 0x08)
#define USART_BRR(u)        REG32((u) + 0x0C)
#define USART_ISR(u)        REG32((u) + 0x1C)
#define USART_ICR(u)        REG32((u) + 0x20)
#define USART_RDR(u)        REG32((u) + 0x24)
#define USART_TDR(u)        REG32((u) + 0x28)
#define USART_CR1_UE        (1u << 0)
#define USART_CR1_RE        (1u << 2)
#define USART_CR1_TE        (1u << 3)
#define USART_CR1_RXNEIE    (1u << 5)
#define USART_CR1_PEIE      (1u << 8)
#define USART_CR3_EIE       (1u << 0)
#define USART_ISR_PE        (1u << 0)
#define USART_ISR_FE        (1u << 1)
#define USART_ISR_NE        (1u << 2)
#define USART_ISR_ORE       (1u << 3)
#define USART_ISR_RXNE      (1u << 5)
#define USART_ISR_TEACK     (1u << 21)
#define USART_ISR_REACK     (1u << 22)
#define IRQ_USART2          28u

/* NVIC priority of one external interrupt (ARMv6-M: 2 bits, top of each byte) */
static inline void nvic_set_priority(unsigned irq, unsigned priority)
{
    unsigned shift = 8u * (irq & 3u) + 6u;
    NVIC_IPR(irq >> 2) = (NVIC_IPR(irq >> 2) & ~(3u << shift)) | ((priority & 3u) << shift);
}

static inline void nvic_enable(unsigned irq) { NVIC_ISER = 1u << irq; }

#define RCC_APBENR1_PWREN   (1u << 28)

/* The start every trigger application shares: HAL init (with the MSP init a CubeMX
   project generates: SYSCFG and PWR clocks on), then the system clock. */
static inline void trigger_system_init(void)
{
    hal_init();                 /* HAL_Init: 1 kHz SysTick at the reset clock, lowest priority */
    RCC_APBENR2 |= RCC_APBENR2_SYSCFGEN;
    (void)RCC_APBENR2;
    RCC_APBENR1 |= RCC_APBENR1_PWREN;
    (void)RCC_APBENR1;
    hal_clock_48mhz();          /* SystemClock_Config: HSIDIV = 1, LATENCY = 1, tick re-armed */
}

/* USB global interrupt (RM0490 Table 55); a USB application sets its NVIC priority and
   enables it before starting the device, as the HAL's PCD MSP init does. */
#define IRQ_USB             8u

/* A line of text received byte by byte (a command on a serial port): 1 when `c`
   completes `command` followed by '\n'. */
struct line_matcher {
    unsigned length;
    int overflow;
    char text[32];
};

static inline int line_matches(struct line_matcher *line, char c, const char *command)
{
    if (c == '\r')
        return 0;
    if (c != '\n') {
        if (line->length < sizeof line->text)
            line->text[line->length++] = c;
        else
            line->overflow = 1;
        return 0;
    }
    int match = !line->overflow;
    unsigned i = 0;
    for (; match && command[i]; i++)
        match = i < line->length && line->text[i] == command[i];
    match = match && i == line->length;
    line->length = 0;
    line->overflow = 0;
    return match;
}

#endif
