/*
 * an3155.h - the USART bootloader protocol of the reference system bootloader
 * (clean-room, after AN3155 "USART protocol used in the STM32 bootloader").
 *
 * an3155_init() configures USART1 (PA9 TX / PA10 RX) and USART2 (PA2 TX / PA3 RX)
 * for 8E1 with auto baud rate detection on the 0x7F frame; an3155_poll() returns at
 * once until one of them has seen the host's 0x7F.  Then it answers ACK and serves
 * AN3155 commands on that USART for good (AN2606: once an interface is detected
 * the bootloader uses only that one), so it does not return.
 */
#ifndef AN3155_H
#define AN3155_H

#include <stdint.h>

#define AN3155_ACK   0x79u
#define AN3155_NACK  0x1Fu
#define AN3155_SYNC  0x7Fu

/* Protocol version reported by Get / Get Version.  The C071 ROM's USART version is
   not in the facts we have (AN2606's C071 chapter was not retrieved): 3.1 is an
   assumption, the protocol version of the command set below. */
#define AN3155_VERSION 0x31u

void an3155_init(void);
void an3155_poll(void);

#endif
