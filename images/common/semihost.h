/*
 * semihost.h - ARM semihosting through "bkpt 0xAB" (ARM semihosting spec,
 * QEMU's contract): r0 = operation, r1 = parameter, result in r0.
 */
#ifndef SEMIHOST_H
#define SEMIHOST_H

#include <stdint.h>

#define SH_SYS_WRITEC         0x03u
#define SH_SYS_WRITE0         0x04u
#define SH_SYS_EXIT           0x18u
#define SH_SYS_EXIT_EXTENDED  0x20u
#define SH_ADP_APP_EXIT       0x20026u  /* ADP_Stopped_ApplicationExit */

static inline uint32_t sh_call(uint32_t op, const void *param)
{
    register uint32_t r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = param;
    __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

void sh_writec(char c);
void sh_write0(const char *s);
void sh_puthex(uint32_t v);               /* prints 8 hex digits, no prefix */
void sh_exit(int code) __attribute__((noreturn));
void sh_fail(const char *check) __attribute__((noreturn)); /* "FAIL: <check>\n", exit 1 */

#endif
