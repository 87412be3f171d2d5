/*
 * c071_crc.h - CRC calculation unit registers for the c071emu test images (clean-room;
 * names are our own).  Source: RM0490 CRC chapter (register map), ST's SVD for offsets.
 */
#ifndef C071_CRC_H
#define C071_CRC_H

#include "c071.h"

#define RCC_AHBENR        REG32(RCC_BASE + 0x38)
#define RCC_AHBENR_DMA1EN (1u << 0)
#define RCC_AHBENR_CRCEN  (1u << 12)

#define CRC_BASE          0x40023000u
#define CRC_DR            REG32(CRC_BASE + 0x00)
#define CRC_DR8           (*(volatile uint8_t *)(uintptr_t)(CRC_BASE + 0x00))   /* 8-bit data write */
#define CRC_DR16          (*(volatile uint16_t *)(uintptr_t)(CRC_BASE + 0x00))  /* 16-bit data write */
#define CRC_IDR           REG32(CRC_BASE + 0x04)
#define CRC_CR            REG32(CRC_BASE + 0x08)
#define CRC_INIT          REG32(CRC_BASE + 0x10)
#define CRC_POL           REG32(CRC_BASE + 0x14)

#define CRC_CR_RESET          (1u << 0)
#define CRC_CR_POLYSIZE_MASK  (3u << 3)
#define CRC_CR_POLYSIZE_32    (0u << 3)
#define CRC_CR_POLYSIZE_16    (1u << 3)
#define CRC_CR_POLYSIZE_8     (2u << 3)
#define CRC_CR_POLYSIZE_7     (3u << 3)
#define CRC_CR_REV_IN_MASK    (3u << 5)
#define CRC_CR_REV_IN_NONE    (0u << 5)
#define CRC_CR_REV_IN_BYTE    (1u << 5)
#define CRC_CR_REV_IN_HALF    (2u << 5)
#define CRC_CR_REV_IN_WORD    (3u << 5)
#define CRC_CR_REV_OUT        (1u << 7)

#define CRC32_DEFAULT_POLY    0x04C11DB7u
#define CRC32_DEFAULT_INIT    0xFFFFFFFFu

#endif
