/*
 * bl_flash.h - flash helpers of the reference bootloader, shared by the USB DFU
 * (dfu.c) and the USART (an3155.c) interfaces.  Written the mask-ROM way (see
 * README.md "Resources"): keys written unconditionally, FLASH_SR not cleared
 * before an operation, BSY1 polled with a SysTick timeout, error flags checked
 * (and cleared) after the operation, FLASH_CR locked again before returning.
 *
 * Every function returns 0 or an error code: the FLASH_SR error flags that ended
 * the operation (BL_FLASH_WRPERR ...), or BL_FLASH_E_TIMEOUT / BL_FLASH_E_ADDRESS.
 */
#ifndef BL_FLASH_H
#define BL_FLASH_H

#include <stdint.h>

/* FLASH_SR error flags as returned (RM0490 §4.7.4) */
#define BL_FLASH_PROGERR   (1u << 3)
#define BL_FLASH_WRPERR    (1u << 4)
#define BL_FLASH_PGAERR    (1u << 5)
#define BL_FLASH_SIZERR    (1u << 6)
#define BL_FLASH_PGSERR    (1u << 7)
#define BL_FLASH_MISSERR   (1u << 8)
#define BL_FLASH_FASTERR   (1u << 9)
#define BL_FLASH_OPTVERR   (1u << 15)
#define BL_FLASH_E_TIMEOUT (1 << 28)        /* BSY1 still set after the time limit */
#define BL_FLASH_E_ADDRESS (1 << 29)        /* outside main flash / OTP, or misaligned */

/* Time limits in the bootloader's milliseconds (bl_now; not public for the ROM).  Loose:
   about 4x the typical durations (22 ms per page / mass erase, datasheet figure the flash
   model uses; 85 us per double word).  Tight (BL_TIGHT_TIMEOUTS): a small margin over
   them, as a ROM sized for its own clock might.  Counted at the clock the bootloader
   assumes: a faster SYSCLK left by an application shortens every one of them. */
#if BL_TIGHT_TIMEOUTS
#define BL_FLASH_ERASE_TIMEOUT_MS   25u
#define BL_FLASH_PROGRAM_TIMEOUT_MS 1u
#else
#define BL_FLASH_ERASE_TIMEOUT_MS   100u
#define BL_FLASH_PROGRAM_TIMEOUT_MS 5u
#endif

/* Option words in the order of the option-byte area (RM0490 Table 18):
   OPTR, PCROP1ASR, PCROP1AER, WRP1AR, WRP1BR, PCROP1BSR, PCROP1BER, SECR. */
#define BL_OPTION_WORDS 8
extern const uint8_t bl_option_offsets[BL_OPTION_WORDS];   /* byte offsets from 0x1FFF7800 */

int bl_flash_erase_page(unsigned page);                          /* page 0..63 */
int bl_flash_mass_erase(void);
int bl_flash_program(uint32_t addr, const uint8_t *data, uint32_t len);  /* main flash or OTP;
                                       addr 8-byte aligned; a partial last double word is padded with 0xFF */
void bl_flash_read(uint32_t addr, uint8_t *dst, uint32_t len);  /* plain CPU reads */
int bl_flash_program_options(const uint32_t values[BL_OPTION_WORDS]);   /* OPTSTRT, no reload */
void bl_flash_launch_options(void) __attribute__((noreturn));   /* OBL_LAUNCH: reload + reset; only
                                       right after a successful bl_flash_program_options */
int bl_flash_readout_protected(void);                            /* OPTR.RDP != 0xAA */

#endif
