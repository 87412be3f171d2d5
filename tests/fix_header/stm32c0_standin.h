/* A clean-room stand-in for the CMSIS device header (stm32c071xx.h), the CMSIS core
 * functions and the few STM32Cube HAL/LL macros the diagnosis's fixes name
 * (emulator/analysis/fixes.py).  Written here from the register facts (RM0490 §4.7 FLASH,
 * §5.4 PWR, §6.4 RCC, §7.4 GPIO, §9.1 SYSCFG, §21 IWDG, §27 USART, CRS; ARMv6-M B3.2-B3.4
 * SCB, SysTick, NVIC) so that tests/test_report.py can compile every fix snippet: a
 * snippet naming something a Cube project does not have fails to compile.  Not a copy of
 * ST's or Arm's headers; only the names are the public API. */
#ifndef STM32C0_STANDIN_H
#define STM32C0_STANDIN_H
#include <stdint.h>

#define __IO volatile
#define __I volatile const

typedef enum {
    WWDG_IRQn = 0, PVM_VDDIO2_IRQn = 1, RTC_IRQn = 2, FLASH_IRQn = 3, RCC_CRS_IRQn = 4, EXTI0_1_IRQn = 5,
    EXTI2_3_IRQn = 6, EXTI4_15_IRQn = 7, USB_IRQn = 8, DMA1_Channel1_IRQn = 9, DMA1_Channel2_3_IRQn = 10,
    DMAMUX1_DMA1_CH4_5_IRQn = 11, ADC1_IRQn = 12, TIM1_BRK_UP_TRG_COM_IRQn = 13, TIM1_CC_IRQn = 14,
    TIM2_IRQn = 15, TIM3_IRQn = 16, TIM14_IRQn = 19, TIM16_IRQn = 21, TIM17_IRQn = 22, I2C1_IRQn = 23,
    I2C2_IRQn = 24, SPI1_IRQn = 25, SPI2_IRQn = 26, USART1_IRQn = 27, USART2_IRQn = 28
} IRQn_Type;

typedef struct { __I uint32_t CPUID; __IO uint32_t ICSR; __IO uint32_t VTOR; __IO uint32_t AIRCR;
                 __IO uint32_t SCR; __IO uint32_t CCR; uint32_t RESERVED1; __IO uint32_t SHPR[2];
                 __IO uint32_t SHCSR; } SCB_Type;
typedef struct { __IO uint32_t CTRL; __IO uint32_t LOAD; __IO uint32_t VAL; __I uint32_t CALIB; } SysTick_Type;
typedef struct { __IO uint32_t ISER[1]; uint32_t R0[31]; __IO uint32_t ICER[1]; uint32_t R1[31];
                 __IO uint32_t ISPR[1]; uint32_t R2[31]; __IO uint32_t ICPR[1]; uint32_t R3[31];
                 uint32_t R4[64]; __IO uint32_t IP[8]; } NVIC_Type;

typedef struct { __IO uint32_t CR; __IO uint32_t ICSCR; __IO uint32_t CFGR; uint32_t RESERVED0[2];
                 __IO uint32_t CRRCR; __IO uint32_t CIER; __I uint32_t CIFR; __IO uint32_t CICR;
                 __IO uint32_t IOPRSTR; __IO uint32_t AHBRSTR; __IO uint32_t APBRSTR1; __IO uint32_t APBRSTR2;
                 __IO uint32_t IOPENR; __IO uint32_t AHBENR; __IO uint32_t APBENR1; __IO uint32_t APBENR2;
                 __IO uint32_t IOPSMENR; __IO uint32_t AHBSMENR; __IO uint32_t APBSMENR1; __IO uint32_t APBSMENR2;
                 __IO uint32_t CCIPR; __IO uint32_t CCIPR2; __IO uint32_t CSR1; __IO uint32_t CSR2; } RCC_TypeDef;
typedef struct { __IO uint32_t ACR; uint32_t RESERVED0; __IO uint32_t KEYR; __IO uint32_t OPTKEYR;
                 __IO uint32_t SR; __IO uint32_t CR; uint32_t RESERVED1[2]; __IO uint32_t OPTR;
                 __IO uint32_t PCROP1ASR; __IO uint32_t PCROP1AER; __IO uint32_t WRP1AR; __IO uint32_t WRP1BR;
                 __IO uint32_t PCROP1BSR; __IO uint32_t PCROP1BER; uint32_t RESERVED2[17]; __IO uint32_t SECR; }
    FLASH_TypeDef;
typedef struct { __IO uint32_t CFGR1; uint32_t RESERVED0[5]; __IO uint32_t CFGR2; uint32_t RESERVED1[8];
                 __IO uint32_t CFGR3; uint32_t RESERVED2[16]; __I uint32_t IT_LINE_SR[32]; } SYSCFG_TypeDef;
typedef struct { __IO uint32_t CR1; __IO uint32_t CR2; __IO uint32_t CR3; __IO uint32_t CR4; __I uint32_t SR1;
                 __I uint32_t SR2; __IO uint32_t SCR; uint32_t RESERVED0; __IO uint32_t PUCRA; __IO uint32_t PDCRA;
                 __IO uint32_t PUCRB; __IO uint32_t PDCRB; __IO uint32_t PUCRC; __IO uint32_t PDCRC;
                 __IO uint32_t PUCRD; __IO uint32_t PDCRD; uint32_t RESERVED1[2]; __IO uint32_t PUCRF;
                 __IO uint32_t PDCRF; uint32_t RESERVED2[8]; __IO uint32_t BKP0R; __IO uint32_t BKP1R;
                 __IO uint32_t BKP2R; __IO uint32_t BKP3R; } PWR_TypeDef;
typedef struct { __IO uint32_t CR; __IO uint32_t CFGR; __I uint32_t ISR; __IO uint32_t ICR; } CRS_TypeDef;
typedef struct { __IO uint32_t KR; __IO uint32_t PR; __IO uint32_t RLR; __I uint32_t SR; __IO uint32_t WINR; }
    IWDG_TypeDef;
typedef struct { __IO uint32_t MODER; __IO uint32_t OTYPER; __IO uint32_t OSPEEDR; __IO uint32_t PUPDR;
                 __I uint32_t IDR; __IO uint32_t ODR; __IO uint32_t BSRR; __IO uint32_t LCKR; __IO uint32_t AFR[2];
                 __IO uint32_t BRR; } GPIO_TypeDef;
typedef struct { __IO uint32_t CR1; __IO uint32_t CR2; __IO uint32_t CR3; __IO uint32_t BRR; __IO uint32_t GTPR;
                 __IO uint32_t RTOR; __IO uint32_t RQR; __I uint32_t ISR; __IO uint32_t ICR; __I uint32_t RDR;
                 __IO uint32_t TDR; __IO uint32_t PRESC; } USART_TypeDef;

#define SCB     ((SCB_Type *) 0xE000ED00UL)
#define SysTick ((SysTick_Type *) 0xE000E010UL)
#define NVIC    ((NVIC_Type *) 0xE000E100UL)
#define RCC     ((RCC_TypeDef *) 0x40021000UL)
#define FLASH   ((FLASH_TypeDef *) 0x40022000UL)
#define SYSCFG  ((SYSCFG_TypeDef *) 0x40010000UL)
#define PWR     ((PWR_TypeDef *) 0x40007000UL)
#define CRS     ((CRS_TypeDef *) 0x40006C00UL)
#define IWDG    ((IWDG_TypeDef *) 0x40003000UL)
#define GPIOA   ((GPIO_TypeDef *) 0x50000000UL)
#define GPIOB   ((GPIO_TypeDef *) 0x50000400UL)
#define GPIOC   ((GPIO_TypeDef *) 0x50000800UL)
#define GPIOD   ((GPIO_TypeDef *) 0x50000C00UL)
#define GPIOF   ((GPIO_TypeDef *) 0x50001400UL)
#define USART1  ((USART_TypeDef *) 0x40013800UL)
#define USART2  ((USART_TypeDef *) 0x40004400UL)

/* bits (RM0490 register tables) */
#define RCC_APBENR2_SYSCFGEN       (1UL << 0)
#define RCC_APBRSTR1_USBRST        (1UL << 13)
#define RCC_APBRSTR1_CRSRST        (1UL << 16)
#define RCC_CFGR_SWS_Pos           3U
#define RCC_CFGR_SWS_Msk           (7UL << RCC_CFGR_SWS_Pos)
#define SYSCFG_CFGR1_MEM_MODE_Pos  0U
#define SYSCFG_CFGR1_MEM_MODE_Msk  (3UL << SYSCFG_CFGR1_MEM_MODE_Pos)
#define FLASH_ACR_LATENCY_Pos      0U
#define FLASH_ACR_LATENCY_Msk      (7UL << FLASH_ACR_LATENCY_Pos)
#define FLASH_CR_LOCK              (1UL << 31)
#define FLASH_SR_OPERR             (1UL << 1)
#define FLASH_SR_PROGERR           (1UL << 3)
#define FLASH_SR_WRPERR            (1UL << 4)
#define FLASH_SR_PGAERR            (1UL << 5)
#define FLASH_SR_SIZERR            (1UL << 6)
#define FLASH_SR_PGSERR            (1UL << 7)
#define FLASH_SR_MISSERR           (1UL << 8)
#define FLASH_SR_FASTERR           (1UL << 9)

/* CMSIS core functions (ARMv6-M) */
static inline void __enable_irq(void) { __asm volatile ("cpsie i" ::: "memory"); }
static inline void __ISB(void) { __asm volatile ("isb" ::: "memory"); }
static inline void __set_CONTROL(uint32_t control) { __asm volatile ("msr control, %0" :: "r" (control) : "memory"); }
static inline void NVIC_DisableIRQ(IRQn_Type irq) { NVIC->ICER[0] = 1UL << ((uint32_t) irq & 31U); }
static inline void NVIC_ClearPendingIRQ(IRQn_Type irq) { NVIC->ICPR[0] = 1UL << ((uint32_t) irq & 31U); }

/* STM32Cube HAL names used by --fix-style hal */
typedef enum { HAL_OK = 0, HAL_ERROR = 1 } HAL_StatusTypeDef;
HAL_StatusTypeDef HAL_FLASH_Lock(void);
HAL_StatusTypeDef HAL_RCC_DeInit(void);
void HAL_SuspendTick(void);
static inline void HAL_NVIC_DisableIRQ(IRQn_Type irq) { NVIC_DisableIRQ(irq); }
static inline void HAL_NVIC_ClearPendingIRQ(IRQn_Type irq) { NVIC_ClearPendingIRQ(irq); }
#define __HAL_RCC_SYSCFG_CLK_ENABLE()        do { RCC->APBENR2 |= RCC_APBENR2_SYSCFGEN; (void) RCC->APBENR2; } while (0)
#define __HAL_SYSCFG_REMAPMEMORY_SYSTEMFLASH() \
    do { SYSCFG->CFGR1 = (SYSCFG->CFGR1 & ~SYSCFG_CFGR1_MEM_MODE_Msk) | (1UL << SYSCFG_CFGR1_MEM_MODE_Pos); } while (0)
#define FLASH_FLAG_ALL_ERRORS  (FLASH_SR_OPERR | FLASH_SR_PROGERR | FLASH_SR_WRPERR | FLASH_SR_PGAERR | \
                                FLASH_SR_SIZERR | FLASH_SR_PGSERR | FLASH_SR_MISSERR | FLASH_SR_FASTERR)
#define __HAL_FLASH_CLEAR_FLAG(flags)        (FLASH->SR = (flags))
#define FLASH_LATENCY_0                      0UL
#define __HAL_FLASH_SET_LATENCY(latency)     (FLASH->ACR = (FLASH->ACR & ~FLASH_ACR_LATENCY_Msk) | (latency))
#define __HAL_RCC_USB_FORCE_RESET()          (RCC->APBRSTR1 |= RCC_APBRSTR1_USBRST)
#define __HAL_RCC_USB_RELEASE_RESET()        (RCC->APBRSTR1 &= ~RCC_APBRSTR1_USBRST)
#define __HAL_RCC_CRS_FORCE_RESET()          (RCC->APBRSTR1 |= RCC_APBRSTR1_CRSRST)
#define __HAL_RCC_CRS_RELEASE_RESET()        (RCC->APBRSTR1 &= ~RCC_APBRSTR1_CRSRST)

/* STM32Cube LL names used by --fix-style ll */
#define LL_APB2_GRP1_PERIPH_SYSCFG           RCC_APBENR2_SYSCFGEN
#define LL_APB1_GRP1_PERIPH_USB              RCC_APBRSTR1_USBRST
#define LL_APB1_GRP1_PERIPH_CRS              RCC_APBRSTR1_CRSRST
#define LL_SYSCFG_REMAP_SYSTEMFLASH          (1UL << SYSCFG_CFGR1_MEM_MODE_Pos)
#define LL_FLASH_LATENCY_0                   0UL
static inline void LL_APB2_GRP1_EnableClock(uint32_t p) { RCC->APBENR2 |= p; (void) RCC->APBENR2; }
static inline void LL_APB1_GRP1_ForceReset(uint32_t p) { RCC->APBRSTR1 |= p; }
static inline void LL_APB1_GRP1_ReleaseReset(uint32_t p) { RCC->APBRSTR1 &= ~p; }
static inline void LL_SYSCFG_SetRemapMemory(uint32_t m)
{ SYSCFG->CFGR1 = (SYSCFG->CFGR1 & ~SYSCFG_CFGR1_MEM_MODE_Msk) | m; }
static inline void LL_FLASH_SetLatency(uint32_t l) { FLASH->ACR = (FLASH->ACR & ~FLASH_ACR_LATENCY_Msk) | l; }
static inline void LL_SYSTICK_DisableIT(void) { SysTick->CTRL &= ~2UL; }

#endif
