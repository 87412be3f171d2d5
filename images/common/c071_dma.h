/*
 * c071_dma.h - DMA1, DMAMUX and the USART registers the DMA test images use (clean-room;
 * names are our own).  Sources: RM0490 DMA, DMAMUX and USART register maps, the DMAMUX
 * request assignment table, ST's SVD for offsets; vector numbers from RM0490 Table 55.
 */
#ifndef C071_DMA_H
#define C071_DMA_H

#include "c071.h"

#define RCC_AHBENR          REG32(RCC_BASE + 0x38)
#define RCC_AHBENR_DMA1EN   (1u << 0)
#define RCC_APBENR1_USART2EN (1u << 17)

/* DMA1: ISR/IFCR, then CCR/CNDTR/CPAR/CMAR every 0x14 bytes from 0x08 for channels 1..5 */
#define DMA1_BASE           0x40020000u
#define DMA1_ISR            REG32(DMA1_BASE + 0x00)
#define DMA1_IFCR           REG32(DMA1_BASE + 0x04)

typedef struct {
    volatile uint32_t CCR;
    volatile uint32_t CNDTR;
    volatile uint32_t CPAR;
    volatile uint32_t CMAR;
    uint32_t reserved;
} dma_channel_t;

#define DMA1_CH(n)          ((dma_channel_t *)(uintptr_t)(DMA1_BASE + 0x08u + 0x14u * ((n) - 1u)))

#define DMA_CCR_EN          (1u << 0)
#define DMA_CCR_TCIE        (1u << 1)
#define DMA_CCR_HTIE        (1u << 2)
#define DMA_CCR_TEIE        (1u << 3)
#define DMA_CCR_DIR         (1u << 4)        /* 1: read from memory */
#define DMA_CCR_CIRC        (1u << 5)
#define DMA_CCR_PINC        (1u << 6)
#define DMA_CCR_MINC        (1u << 7)
#define DMA_CCR_PSIZE_8     (0u << 8)
#define DMA_CCR_PSIZE_32    (2u << 8)
#define DMA_CCR_MSIZE_8     (0u << 10)
#define DMA_CCR_MSIZE_32    (2u << 10)
#define DMA_CCR_PL_HIGH     (2u << 12)
#define DMA_CCR_MEM2MEM     (1u << 14)
#define DMA_CCR_CONFIG_MASK 0x7FF0u          /* DIR..MEM2MEM */

/* ISR/IFCR: GIF, TCIF, HTIF, TEIF of channel n at bits 4(n-1) + 0..3 */
#define DMA_GIF(n)          (1u << (4u * ((n) - 1u)))
#define DMA_TCIF(n)         (2u << (4u * ((n) - 1u)))
#define DMA_HTIF(n)         (4u << (4u * ((n) - 1u)))
#define DMA_TEIF(n)         (8u << (4u * ((n) - 1u)))

/* DMAMUX: channel x (0..4) feeds DMA1 channel x + 1 */
#define DMAMUX_BASE         0x40020800u
#define DMAMUX_CCR(x)       REG32(DMAMUX_BASE + 0x04u * (x))
#define DMAMUX_CFR          REG32(DMAMUX_BASE + 0x84)
#define DMAMUX_DMAREQ_ID_MASK 0x3Fu
#define DMAMUX_REQ_MEM2MEM   0u
#define DMAMUX_REQ_USART2_RX 52u
#define DMAMUX_REQ_USART2_TX 53u

/* USART2, base 0x40004400 (RM0490 USART) */
#define USART2_BASE         0x40004400u
#define USART2_CR1          REG32(USART2_BASE + 0x00)
#define USART2_CR2          REG32(USART2_BASE + 0x04)
#define USART2_CR3          REG32(USART2_BASE + 0x08)
#define USART2_BRR          REG32(USART2_BASE + 0x0C)
#define USART2_ISR          REG32(USART2_BASE + 0x1C)
#define USART2_ICR          REG32(USART2_BASE + 0x20)
#define USART2_RDR          REG32(USART2_BASE + 0x24)
#define USART2_TDR          REG32(USART2_BASE + 0x28)
#define USART2_PRESC        REG32(USART2_BASE + 0x2C)
#define USART_CR1_UE        (1u << 0)
#define USART_CR1_RE        (1u << 2)
#define USART_CR1_TE        (1u << 3)
#define USART_CR1_TCIE      (1u << 6)
#define USART_CR1_PEIE      (1u << 8)
#define USART_CR1_PCE       (1u << 10)
#define USART_CR3_EIE       (1u << 0)
#define USART_CR3_DMAR      (1u << 6)
#define USART_CR3_DMAT      (1u << 7)
#define USART_ISR_TC        (1u << 6)
#define USART_ISR_TEACK     (1u << 21)
#define USART_ISR_REACK     (1u << 22)
#define USART_ICR_TCCF      (1u << 6)

/* GPIOA (PA2 USART2_TX, PA3 USART2_RX: alternate function 1) */
#define GPIOA_MODER         REG32(0x50000000u + 0x00)
#define GPIOA_AFRL          REG32(0x50000000u + 0x20)
#define RCC_IOPENR          REG32(RCC_BASE + 0x34)

/* interrupt numbers (RM0490 Table 55) */
#define IRQ_DMA1_CH1        9u
#define IRQ_DMA1_CH2_3      10u
#define IRQ_DMAMUX_CH4_5    11u
#define IRQ_USART2          28u

#endif
