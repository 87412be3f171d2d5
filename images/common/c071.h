/*
 * c071.h - minimal register map for the c071emu test images (clean-room).
 *
 * Only the addresses and bits the images use. Names are our own.
 * Sources: RM0490 Rev 5 (STM32C0 reference manual) and the ARMv6-M
 * Architecture Reference Manual; see /work/shared/c071/FACTS.md.
 */
#ifndef C071_H
#define C071_H

#include <stdint.h>

#define REG32(addr) (*(volatile uint32_t *)(uintptr_t)(addr))

/* Memory map (RM0490 Table 4) */
#define FLASH_MEM_BASE   0x08000000u
#define SYSMEM_BASE      0x1FFF0000u
#define SRAM_BASE        0x20000000u
#define SRAM_SIZE        0x6000u          /* 24 KiB */

/* RCC, base 0x40021000 (RM0490 §6.4) */
#define RCC_BASE         0x40021000u
#define RCC_CR           REG32(RCC_BASE + 0x00)
#define RCC_CFGR         REG32(RCC_BASE + 0x08)
#define RCC_APBENR1      REG32(RCC_BASE + 0x3C)
#define RCC_APBENR2      REG32(RCC_BASE + 0x40)
#define RCC_CSR2         REG32(RCC_BASE + 0x60)

#define RCC_CR_SYSDIV_MASK  (7u << 2)     /* SYSDIV[4:2] */
#define RCC_CR_HSION        (1u << 8)
#define RCC_CR_HSIRDY       (1u << 10)
#define RCC_CR_HSIDIV_SHIFT 11            /* HSIDIV[13:11] */
#define RCC_CR_HSIDIV_MASK  (7u << 11)
#define RCC_CFGR_SW_MASK    (7u << 0)
#define RCC_CFGR_SWS_MASK   (7u << 3)
#define RCC_APBENR2_SYSCFGEN (1u << 0)
#define RCC_CSR2_LSION      (1u << 0)
#define RCC_CSR2_LSIRDY     (1u << 1)
#define RCC_CSR2_RMVF       (1u << 23)
#define RCC_CSR2_PINRSTF    (1u << 26)
#define RCC_CSR2_PWRRSTF    (1u << 27)
#define RCC_CSR2_SFTRSTF    (1u << 28)
#define RCC_CSR2_IWDGRSTF   (1u << 29)

/* SYSCFG, base 0x40010000 (RM0490 §9.1.1) */
#define SYSCFG_BASE      0x40010000u
#define SYSCFG_CFGR1     REG32(SYSCFG_BASE + 0x00)
#define SYSCFG_MEM_MODE_MASK   3u         /* MEM_MODE[1:0] */
#define SYSCFG_MEM_MODE_FLASH  0u
#define SYSCFG_MEM_MODE_SYSMEM 1u
#define SYSCFG_MEM_MODE_SRAM   3u

/* FLASH interface, base 0x40022000 (RM0490 §4.7) */
#define FLASHIF_BASE     0x40022000u
#define FLASH_ACR        REG32(FLASHIF_BASE + 0x00)
#define FLASH_ACR_LATENCY_MASK 7u         /* LATENCY[2:0] */

/* IWDG, base 0x40003000 (RM0490 §24) */
#define IWDG_BASE        0x40003000u
#define IWDG_KR          REG32(IWDG_BASE + 0x00)
#define IWDG_PR          REG32(IWDG_BASE + 0x04)
#define IWDG_RLR         REG32(IWDG_BASE + 0x08)
#define IWDG_SR          REG32(IWDG_BASE + 0x0C)
#define IWDG_KEY_START   0xCCCCu
#define IWDG_KEY_RELOAD  0xAAAAu
#define IWDG_KEY_UNLOCK  0x5555u

/* SysTick (ARMv6-M B3.3) */
#define SYST_CTRL        REG32(0xE000E010u)
#define SYST_LOAD        REG32(0xE000E014u)
#define SYST_VAL         REG32(0xE000E018u)
#define SYST_CTRL_ENABLE    (1u << 0)
#define SYST_CTRL_TICKINT   (1u << 1)
#define SYST_CTRL_HCLK      (1u << 2)     /* CLKSOURCE: 1 = processor clock */
#define SYST_CTRL_COUNTFLAG (1u << 16)

/* NVIC (ARMv6-M B3.4); IPR is word-access only, 2 priority bits [7:6] */
#define NVIC_ISER        REG32(0xE000E100u)
#define NVIC_ICER        REG32(0xE000E180u)
#define NVIC_ISPR        REG32(0xE000E200u)
#define NVIC_ICPR        REG32(0xE000E280u)
#define NVIC_IPR(n)      REG32(0xE000E400u + 4u * (n))   /* n = 0..7 */

/* SCB (ARMv6-M B3.2) */
#define SCB_ICSR         REG32(0xE000ED04u)
#define SCB_VTOR         REG32(0xE000ED08u)
#define SCB_AIRCR        REG32(0xE000ED0Cu)
#define SCB_SHPR2        REG32(0xE000ED1Cu)   /* SVCall prio [31:30] */
#define SCB_SHPR3        REG32(0xE000ED20u)   /* PendSV [23:22], SysTick [31:30] */
#define SCB_ICSR_PENDSVSET  (1u << 28)
#define SCB_ICSR_PENDSTSET  (1u << 26)
#define SCB_AIRCR_RESET_REQ 0x05FA0004u       /* VECTKEY | SYSRESETREQ */

/* Set the 8-bit priority field of external interrupt irq (word RMW). */
static inline void nvic_set_prio(unsigned irq, uint32_t prio)
{
    unsigned shift = 8u * (irq & 3u);
    uint32_t v = NVIC_IPR(irq >> 2);
    v &= ~(0xFFu << shift);
    v |= (prio & 0xFFu) << shift;
    NVIC_IPR(irq >> 2) = v;
}

static inline void barrier(void)
{
    __asm__ volatile("dsb\n\tisb" ::: "memory");
}

#endif
