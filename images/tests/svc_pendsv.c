/*
 * svc_pendsv - exception priorities of SVCall and PendSV (SHPR2/SHPR3).
 * Part A: SVC priority 0x40, PendSV 0xC0 (lower). SVC_Handler pends PendSV
 * (ICSR.PENDSVSET), then logs 's'; PendSV_Handler logs 'p'. PendSV must not
 * preempt SVC, so it runs after SVC returns: log "sp". Part B: PendSV raised
 * to 0x00 (above SVC 0x40): it preempts SVC right after the pend: log "ps".
 * Prints "svc then pendsv: sp\n", "pendsv preempts svc: ps\n" and exits 0;
 * on a mismatch prints the log and exits 1. The log is exported as
 * svc_pendsv_log.
 */
#include "c071.h"
#include "semihost.h"

volatile char svc_pendsv_log[8];
volatile uint32_t svc_pendsv_len;

static void log_char(char c)
{
    uint32_t n = svc_pendsv_len;
    if (n < sizeof svc_pendsv_log - 1) {
        svc_pendsv_log[n] = c;
        svc_pendsv_log[n + 1] = 0;
        svc_pendsv_len = n + 1;
    }
}

void SVC_Handler(void)
{
    SCB_ICSR = SCB_ICSR_PENDSVSET;
    barrier();
    log_char('s');
}

void PendSV_Handler(void)
{
    log_char('p');
}

static void run(const char *want, const char *what)
{
    svc_pendsv_len = 0;
    svc_pendsv_log[0] = 0;
    __asm__ volatile("svc 0" ::: "memory");
    barrier();
    if (svc_pendsv_len != 2 || svc_pendsv_log[0] != want[0] ||
        svc_pendsv_log[1] != want[1]) {
        sh_write0("log: \"");
        sh_write0((const char *)svc_pendsv_log);
        sh_write0("\"\n");
        sh_fail(what);
    }
    sh_write0(what);
    sh_write0(": ");
    sh_write0(want);
    sh_write0("\n");
}

int main(void)
{
    SCB_SHPR2 = 0x40u << 24;                          /* SVCall  [31:24] */
    SCB_SHPR3 = (SCB_SHPR3 & ~(0xFFu << 16)) | (0xC0u << 16); /* PendSV [23:16] */
    if ((SCB_SHPR3 >> 16 & 0xFFu) != 0xC0u || (SCB_SHPR2 >> 24) != 0x40u)
        sh_fail("SHPR2/SHPR3 read back");
    run("sp", "svc then pendsv");

    SCB_SHPR3 = SCB_SHPR3 & ~(0xFFu << 16);           /* PendSV 0x00 */
    run("ps", "pendsv preempts svc");
    return 0;
}
