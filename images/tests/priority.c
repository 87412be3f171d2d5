/*
 * priority - NVIC priority and PRIMASK behaviour with software-pended
 * IRQ 5 and IRQ 6 (NVIC_ISPR / NVIC_ISER). Part A (preemption): IRQ5 at
 * priority 0xC0, IRQ6 at 0x00; IRQ5 logs 'a', pends IRQ6, logs 'A'; IRQ6
 * logs 'b' -> expected log "abA". Part B (no preemption at equal priority):
 * both at 0xC0 -> IRQ6 runs after IRQ5 returns, log "aAb". Part C (PRIMASK):
 * with cpsid i, IRQ5 is pended and must not run; then "cpsie i" is executed
 * and must take the interrupt exactly at the following instruction, the
 * global label after_cpsie. IRQ5_Handler is an asm handler that stores the
 * stacked return address ([MSP + 24] at entry) into irq_return_address; main
 * checks it equals after_cpsie. The log is exported as priority_log (the
 * part currently running is in priority_mode). Exits 0 if all parts pass.
 */
#include "c071.h"
#include "semihost.h"

#define IRQ_A 5
#define IRQ_B 6

volatile char priority_log[16];
volatile uint32_t priority_log_len;
volatile uint32_t priority_mode;          /* 1 = A, 2 = B, 3 = C */
volatile uint32_t irq_return_address;
extern char after_cpsie[];

static void log_char(char c)
{
    uint32_t n = priority_log_len;
    if (n < sizeof priority_log - 1) {
        priority_log[n] = c;
        priority_log[n + 1] = 0;
        priority_log_len = n + 1;
    }
}

static void log_reset(void)
{
    for (unsigned i = 0; i < sizeof priority_log; i++)
        priority_log[i] = 0;
    priority_log_len = 0;
}

static int log_is(const char *s)
{
    uint32_t i = 0;
    for (; s[i]; i++)
        if (i >= priority_log_len || priority_log[i] != s[i])
            return 0;
    return i == priority_log_len;
}

/* Body of IRQ5, entered by a tail branch from IRQ5_Handler below (LR still
 * holds EXC_RETURN, so the normal function return ends the exception). */
__attribute__((used)) void irq5_body(void)
{
    if (priority_mode == 3) {
        log_char('c');
        return;
    }
    log_char('a');
    NVIC_ISPR = 1u << IRQ_B;
    barrier();
    log_char('A');
}

/* IRQ5_Handler: read the stacked PC (frame: r0 r1 r2 r3 r12 lr pc xpsr) at
 * [MSP + 24] before anything is pushed, then continue in C. */
__asm__(
    ".syntax unified\n"
    ".section .text.IRQ5_Handler,\"ax\",%progbits\n"
    ".global IRQ5_Handler\n"
    ".type IRQ5_Handler, %function\n"
    ".thumb_func\n"
    "IRQ5_Handler:\n"
    "    mrs  r0, msp\n"
    "    ldr  r1, [r0, #24]\n"
    "    ldr  r2, =irq_return_address\n"
    "    str  r1, [r2]\n"
    "    ldr  r0, =irq5_body\n"
    "    bx   r0\n"
    "    .ltorg\n"
    ".size IRQ5_Handler, . - IRQ5_Handler\n"
    ".text\n");

void IRQ6_Handler(void)
{
    log_char('b');
}

static void expect_log(const char *want, const char *what)
{
    if (!log_is(want)) {
        sh_write0("log: \"");
        sh_write0((const char *)priority_log);
        sh_write0("\" want \"");
        sh_write0(want);
        sh_write0("\"\n");
        sh_fail(what);
    }
}

int main(void)
{
    NVIC_ICPR = (1u << IRQ_A) | (1u << IRQ_B);
    NVIC_ISER = (1u << IRQ_A) | (1u << IRQ_B);

    /* Part A: higher-priority IRQ6 preempts IRQ5. */
    nvic_set_prio(IRQ_A, 0xC0);
    nvic_set_prio(IRQ_B, 0x00);
    if (((NVIC_IPR(1) >> 8) & 0xFFu) != 0xC0)
        sh_fail("IPR1 byte 1 reads back 0xC0");
    log_reset();
    priority_mode = 1;
    NVIC_ISPR = 1u << IRQ_A;
    barrier();
    expect_log("abA", "part A: IRQ6 (prio 0x00) preempts IRQ5 (prio 0xC0)");
    sh_write0("preemption: abA\n");

    /* Part B: equal priority, IRQ6 waits for IRQ5 to return. */
    nvic_set_prio(IRQ_B, 0xC0);
    log_reset();
    priority_mode = 2;
    NVIC_ISPR = 1u << IRQ_A;
    barrier();
    expect_log("aAb", "part B: equal priority does not preempt");
    sh_write0("no preemption: aAb\n");

    /* Part C: PRIMASK holds the interrupt until cpsie. */
    log_reset();
    priority_mode = 3;
    irq_return_address = 0;
    __asm__ volatile("cpsid i" ::: "memory");
    NVIC_ISPR = 1u << IRQ_A;
    barrier();
    __asm__ volatile("nop\n\tnop\n\tnop" ::: "memory");
    if (priority_log_len != 0)
        sh_fail("part C: IRQ5 must not run while PRIMASK is set");
    if ((NVIC_ISPR & (1u << IRQ_A)) == 0)
        sh_fail("part C: IRQ5 pending while masked");
    __asm__ volatile(
        "cpsie i\n"
        ".global after_cpsie\n"
        "after_cpsie:\n"
        "nop\n"
        ::: "memory");
    expect_log("c", "part C: IRQ5 taken after cpsie");
    if ((irq_return_address & ~1u) != ((uint32_t)(uintptr_t)after_cpsie & ~1u)) {
        sh_write0("irq_return_address=");
        sh_puthex(irq_return_address);
        sh_write0(" after_cpsie=");
        sh_puthex((uint32_t)(uintptr_t)after_cpsie);
        sh_write0("\n");
        sh_fail("part C: interrupt taken at after_cpsie");
    }
    sh_write0("irq taken at after_cpsie\n");

    NVIC_ICER = (1u << IRQ_A) | (1u << IRQ_B);
    return 0;
}
