/*
 * dma_driver.h - a miniature of the vendor HAL's DMA channel driver for the c071emu test
 * images (clean-room; our own names).  The register sequence is the one the HAL uses on
 * the STM32C0/G0 DMA + DMAMUX pair:
 *   init:     CCR configuration fields read-modify-written (EN untouched), DMAMUX CxCR =
 *             request line (0 for memory-to-memory), DMAMUX CFR = channel's flag;
 *   start_it: EN cleared, DMAMUX CFR, IFCR = channel's GIF, CNDTR, CPAR/CMAR (CPAR = the
 *             destination when DIR = 1), TCIE|TEIE (+HTIE with a half-transfer callback),
 *             then EN;
 *   irq:      HT, else TC, else TE, each checked against its enable; outside circular
 *             mode the handled interrupt enables are turned off; the flag is cleared
 *             through IFCR, then the callback runs.
 */
#ifndef DMA_DRIVER_H
#define DMA_DRIVER_H

#include "c071_dma.h"

struct dma_handle {
    unsigned channel;                      /* DMA1 channel 1..5 */
    uint32_t request;                      /* DMAMUX request line */
    uint32_t config;                       /* CCR DIR..MEM2MEM */
    void (*half_done)(struct dma_handle *);
    void (*done)(struct dma_handle *);
    void (*error)(struct dma_handle *);
    void *owner;
};

static inline void dma_init(struct dma_handle *h)
{
    dma_channel_t *ch = DMA1_CH(h->channel);
    unsigned mux = h->channel - 1u;
    uint32_t ccr = ch->CCR;
    ccr &= ~DMA_CCR_CONFIG_MASK;
    ccr |= h->config & DMA_CCR_CONFIG_MASK;
    ch->CCR = ccr;
    if (h->config & DMA_CCR_MEM2MEM)
        h->request = DMAMUX_REQ_MEM2MEM;
    DMAMUX_CCR(mux) = h->request & DMAMUX_DMAREQ_ID_MASK;
    DMAMUX_CFR = 1u << mux;
}

static inline void dma_start_it(struct dma_handle *h, uint32_t src, uint32_t dst, uint32_t count)
{
    dma_channel_t *ch = DMA1_CH(h->channel);
    ch->CCR &= ~DMA_CCR_EN;
    DMAMUX_CFR = 1u << (h->channel - 1u);
    DMA1_IFCR = DMA_GIF(h->channel);
    ch->CNDTR = count;
    if (h->config & DMA_CCR_DIR) {
        ch->CPAR = dst;
        ch->CMAR = src;
    } else {
        ch->CPAR = src;
        ch->CMAR = dst;
    }
    if (h->half_done) {
        ch->CCR |= DMA_CCR_TCIE | DMA_CCR_HTIE | DMA_CCR_TEIE;
    } else {
        ch->CCR &= ~DMA_CCR_HTIE;
        ch->CCR |= DMA_CCR_TCIE | DMA_CCR_TEIE;
    }
    ch->CCR |= DMA_CCR_EN;
}

static inline void dma_irq_handler(struct dma_handle *h)
{
    dma_channel_t *ch = DMA1_CH(h->channel);
    unsigned n = h->channel;
    uint32_t isr = DMA1_ISR;
    uint32_t ccr = ch->CCR;
    if ((isr & DMA_HTIF(n)) && (ccr & DMA_CCR_HTIE)) {
        if (!(ccr & DMA_CCR_CIRC))
            ch->CCR &= ~DMA_CCR_HTIE;
        DMA1_IFCR = DMA_HTIF(n);
        if (h->half_done)
            h->half_done(h);
    } else if ((isr & DMA_TCIF(n)) && (ccr & DMA_CCR_TCIE)) {
        if (!(ccr & DMA_CCR_CIRC))
            ch->CCR &= ~(DMA_CCR_TEIE | DMA_CCR_TCIE);
        DMA1_IFCR = DMA_TCIF(n);
        if (h->done)
            h->done(h);
    } else if ((isr & DMA_TEIF(n)) && (ccr & DMA_CCR_TEIE)) {
        ch->CCR &= ~(DMA_CCR_TCIE | DMA_CCR_HTIE | DMA_CCR_TEIE);
        DMA1_IFCR = DMA_GIF(n);
        if (h->error)
            h->error(h);
    }
}

static inline void nvic_enable(unsigned irq, uint32_t prio)
{
    nvic_set_prio(irq, prio);
    NVIC_ISER = 1u << irq;
}

#endif
