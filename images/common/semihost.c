/* semihost.c - semihosting helpers (own code; see semihost.h). */
#include "semihost.h"

void sh_writec(char c)
{
    sh_call(SH_SYS_WRITEC, &c);
}

void sh_write0(const char *s)
{
    sh_call(SH_SYS_WRITE0, s);
}

void sh_puthex(uint32_t v)
{
    char buf[9];
    for (int i = 7; i >= 0; i--) {
        uint32_t d = v & 0xFu;
        buf[i] = (char)(d < 10u ? '0' + d : 'a' + d - 10u);
        v >>= 4;
    }
    buf[8] = 0;
    sh_write0(buf);
}

void sh_exit(int code)
{
    if (code == 0) {
        /* SYS_EXIT: r1 holds the reason code itself. */
        sh_call(SH_SYS_EXIT, (const void *)SH_ADP_APP_EXIT);
    } else {
        /* SYS_EXIT_EXTENDED: r1 points at {reason, subcode}. */
        volatile uint32_t block[2];
        block[0] = SH_ADP_APP_EXIT;
        block[1] = (uint32_t)code;
        sh_call(SH_SYS_EXIT_EXTENDED, (const void *)block);
    }
    for (;;)
        ;
}

void sh_fail(const char *check)
{
    sh_write0("FAIL: ");
    sh_write0(check);
    sh_write0("\n");
    sh_exit(1);
}
