/*
 * minihal.h - a clean-room miniature of the vendor HAL calls that application code
 * around a "jump to bootloader" typically makes.  Names are our own; the register
 * sequences follow what the manual and the public fact sheet say such calls do
 * (RM0490 §6, FACTS §4.3 for the clock de-initialisation).
 */
#ifndef MINIHAL_H
#define MINIHAL_H

#include "c071.h"

extern volatile uint32_t hal_ticks;           /* incremented by SysTick_Handler every 1 ms */
extern uint32_t system_core_clock;            /* what the software believes HCLK is */

void hal_init(void);                          /* 1 kHz SysTick with interrupt, priority lowest */
void hal_init_tick(void);                     /* (re)arm SysTick for 1 ms at system_core_clock */
void hal_clock_48mhz(void);                   /* 1 wait state, then HSISYS = HSI48 / 1 */
int  hal_rcc_deinit(void);                    /* FACTS §4.3, register by register; 0 or -1 on timeout */
void hal_delay_ms(uint32_t ms);
void hal_system_reset(void);                  /* AIRCR.SYSRESETREQ */

#define HAL_BOOTLOADER_BASE 0x1FFF0000u

static inline void hal_disable_irq(void) { __asm__ volatile("cpsid i" ::: "memory"); }
static inline void hal_enable_irq(void)  { __asm__ volatile("cpsie i" ::: "memory"); }
static inline void hal_set_msp(uint32_t top) { __asm__ volatile("msr msp, %0" :: "r"(top) : "memory"); }
static inline void hal_set_psp(uint32_t top) { __asm__ volatile("msr psp, %0" :: "r"(top) : "memory"); }
static inline void hal_set_control(uint32_t v) { __asm__ volatile("msr control, %0\n\tisb" :: "r"(v) : "memory"); }

#endif
