/*
 * c071_bus.h - own register definitions for the I2C, SPI, ADC and RTC blocks of the
 * STM32C071 (offsets and bit positions from RM0490's register maps; ST's SVD agrees).
 */
#ifndef C071_BUS_H
#define C071_BUS_H

#include "c071.h"

/* RCC enables and kernel clock selection (RM0490 §6.4.15, §6.4.16, §6.4.20, §6.4.26) */
#define RCC_IOPENR           REG32(RCC_BASE + 0x34)
#define RCC_CCIPR            REG32(RCC_BASE + 0x54)
#define RCC_CSR1             REG32(RCC_BASE + 0x5C)
#define RCC_IOPENR_GPIOBEN   (1u << 1)
#define RCC_APBENR1_I2C1EN   (1u << 21)
#define RCC_APBENR1_RTCAPBEN (1u << 10)
#define RCC_APBENR2_ADCEN    (1u << 20)
#define RCC_APBENR2_SPI1EN   (1u << 12)
#define RCC_CSR1_LSEON       (1u << 0)
#define RCC_CSR1_LSERDY      (1u << 1)
#define RCC_CSR1_RTCSEL_LSE  (1u << 8)
#define RCC_CSR1_RTCEN       (1u << 15)

/* GPIOB (I2C1 SCL/SDA on PB6/PB7, AF6) */
#define GPIOB_BASE           0x50000400u
#define GPIOB_MODER          REG32(GPIOB_BASE + 0x00)
#define GPIOB_OTYPER         REG32(GPIOB_BASE + 0x04)
#define GPIOB_AFRL           REG32(GPIOB_BASE + 0x20)

/* I2C1 */
#define I2C1_BASE            0x40005400u
#define I2C_CR1(b)           REG32((b) + 0x00)
#define I2C_CR2(b)           REG32((b) + 0x04)
#define I2C_OAR1(b)          REG32((b) + 0x08)
#define I2C_OAR2(b)          REG32((b) + 0x0C)
#define I2C_TIMINGR(b)       REG32((b) + 0x10)
#define I2C_ISR(b)           REG32((b) + 0x18)
#define I2C_ICR(b)           REG32((b) + 0x1C)
#define I2C_TXDR(b)          REG32((b) + 0x28)
#define I2C_CR1_PE           (1u << 0)
#define I2C_CR1_TXIE         (1u << 1)
#define I2C_CR1_NACKIE       (1u << 4)
#define I2C_CR1_STOPIE       (1u << 5)
#define I2C_CR1_TCIE         (1u << 6)
#define I2C_CR1_ERRIE        (1u << 7)
#define I2C_IRQ_XFER_TX      (I2C_CR1_ERRIE | I2C_CR1_TCIE | I2C_CR1_STOPIE | I2C_CR1_NACKIE | I2C_CR1_TXIE)
#define IRQ_I2C1             23u
#define I2C_CR1_ANFOFF       (1u << 12)
#define I2C_CR2_SADD_MASK    0x3FFu
#define I2C_CR2_RD_WRN       (1u << 10)
#define I2C_CR2_START        (1u << 13)
#define I2C_CR2_STOP         (1u << 14)
#define I2C_CR2_NACK         (1u << 15)
#define I2C_CR2_NBYTES_SHIFT 16
#define I2C_CR2_NBYTES_MASK  (0xFFu << 16)
#define I2C_CR2_RELOAD       (1u << 24)
#define I2C_CR2_AUTOEND      (1u << 25)
#define I2C_OAR1_OA1EN       (1u << 15)
#define I2C_OAR2_OA2EN       (1u << 15)
#define I2C_ISR_TXE          (1u << 0)
#define I2C_ISR_TXIS         (1u << 1)
#define I2C_ISR_NACKF        (1u << 4)
#define I2C_ISR_STOPF        (1u << 5)
#define I2C_ISR_BERR         (1u << 8)
#define I2C_ISR_ARLO         (1u << 9)
#define I2C_ISR_OVR          (1u << 10)
#define I2C_ISR_BUSY         (1u << 15)

/* ADC */
#define ADC_BASE             0x40012400u
#define ADC_ISR              REG32(ADC_BASE + 0x00)
#define ADC_IER              REG32(ADC_BASE + 0x04)
#define ADC_CR               REG32(ADC_BASE + 0x08)
#define ADC_CFGR1            REG32(ADC_BASE + 0x0C)
#define ADC_CFGR2            REG32(ADC_BASE + 0x10)
#define ADC_SMPR             REG32(ADC_BASE + 0x14)
#define ADC_CHSELR           REG32(ADC_BASE + 0x28)
#define ADC_DR               REG32(ADC_BASE + 0x40)
#define ADC_CALFACT          REG32(ADC_BASE + 0xB4)
#define ADC_CCR              REG32(ADC_BASE + 0x308)
#define ADC_ISR_ADRDY        (1u << 0)
#define ADC_ISR_EOSMP        (1u << 1)
#define ADC_ISR_EOC          (1u << 2)
#define ADC_ISR_EOS          (1u << 3)
#define ADC_ISR_OVR          (1u << 4)
#define ADC_ISR_EOCAL        (1u << 11)
#define ADC_ISR_CCRDY        (1u << 13)
#define ADC_CR_ADEN          (1u << 0)
#define ADC_CR_ADDIS         (1u << 1)
#define ADC_CR_ADSTART       (1u << 2)
#define ADC_CR_ADSTP         (1u << 4)
#define ADC_CR_ADVREGEN      (1u << 28)
#define ADC_CR_ADCAL         (1u << 31)
/* the set-only bits: written as 0 so a read-modify-write does not re-trigger them */
#define ADC_CR_RS_BITS       (ADC_CR_ADCAL | ADC_CR_ADSTP | ADC_CR_ADSTART | ADC_CR_ADDIS | ADC_CR_ADEN)
#define ADC_CFGR1_CONT       (1u << 13)
#define ADC_CFGR1_OVRMOD     (1u << 12)
#define ADC_CFGR2_CKMODE_PCLK_DIV2 (1u << 30)
#define ADC_CALFACT_MASK     0x7Fu
#define ADC_CCR_VREFEN       (1u << 22)
#define ADC_CCR_TSEN         (1u << 23)
#define ADC_CHANNEL_TEMPSENSOR 9u
#define ADC_CHANNEL_VREFINT    10u
#define ADC_VREFINT_CAL      (*(volatile uint16_t *)0x1FFF756Au)   /* raw code at VDDA = 3.0 V */

/* RTC */
#define RTC_BASE             0x40002800u
#define RTC_TR               REG32(RTC_BASE + 0x00)
#define RTC_DR               REG32(RTC_BASE + 0x04)
#define RTC_ICSR             REG32(RTC_BASE + 0x0C)
#define RTC_PRER             REG32(RTC_BASE + 0x10)
#define RTC_CR               REG32(RTC_BASE + 0x18)
#define RTC_WPR              REG32(RTC_BASE + 0x24)
#define RTC_ICSR_RSF         (1u << 5)
#define RTC_ICSR_INITF       (1u << 6)
#define RTC_ICSR_INIT        (1u << 7)
#define RTC_CR_FMT           (1u << 6)

/* SPI1 */
#define SPI1_BASE            0x40013000u
#define SPI_CR1(b)           REG32((b) + 0x00)
#define SPI_CR2(b)           REG32((b) + 0x04)
#define SPI_SR(b)            REG32((b) + 0x08)
#define SPI_DR8(b)           (*(volatile uint8_t *)(uintptr_t)((b) + 0x0C))
#define SPI_CR1_MSTR         (1u << 2)
#define SPI_CR1_BR_SHIFT     3
#define SPI_CR1_SPE          (1u << 6)
#define SPI_CR1_SSI          (1u << 8)
#define SPI_CR1_SSM          (1u << 9)
#define SPI_CR2_DS_8BIT      (7u << 8)
#define SPI_CR2_FRXTH        (1u << 12)
#define SPI_SR_RXNE          (1u << 0)
#define SPI_SR_TXE           (1u << 1)
#define SPI_SR_BSY           (1u << 7)
#define SPI_SR_FTLVL_MASK    (3u << 11)

#endif
