/*
 * psp - thread mode on the process stack. Sets PSP to the top of a 512-byte
 * stack, writes CONTROL = 2 (SPSEL) with msr + isb and runs thread_main() on
 * that stack (asm helper run_on_psp, so no compiler frame spans the switch).
 * thread_main checks CONTROL reads 2, executes "svc 0"; SVC_Handler (asm)
 * stores LR (EXC_RETURN) in svc_exc_return and MSP/PSP at entry in svc_msp /
 * svc_psp. Checks: svc_exc_return == 0xFFFFFFFD, CONTROL still 2 after the
 * return, the current SP and svc_psp lie inside psp_stack, svc_msp does not.
 * Prints "EXC_RETURN 0xFFFFFFFD on PSP\n" and exits 0; else exits 1.
 */
#include "c071.h"
#include "semihost.h"

uint32_t psp_stack[128] __attribute__((aligned(8)));   /* 512 bytes */
volatile uint32_t svc_exc_return;
volatile uint32_t svc_msp;
volatile uint32_t svc_psp;
volatile uint32_t svc_count;

/* SVC_Handler: record EXC_RETURN and both stack pointers, then return. */
__asm__(
    ".syntax unified\n"
    ".section .text.SVC_Handler,\"ax\",%progbits\n"
    ".global SVC_Handler\n"
    ".type SVC_Handler, %function\n"
    ".thumb_func\n"
    "SVC_Handler:\n"
    "    mov  r0, lr\n"
    "    ldr  r1, =svc_exc_return\n"
    "    str  r0, [r1]\n"
    "    mrs  r0, msp\n"
    "    ldr  r1, =svc_msp\n"
    "    str  r0, [r1]\n"
    "    mrs  r0, psp\n"
    "    ldr  r1, =svc_psp\n"
    "    str  r0, [r1]\n"
    "    ldr  r1, =svc_count\n"
    "    ldr  r0, [r1]\n"
    "    adds r0, r0, #1\n"
    "    str  r0, [r1]\n"
    "    bx   lr\n"
    "    .ltorg\n"
    ".size SVC_Handler, . - SVC_Handler\n"
    "\n"
    /* int run_on_psp(int (*fn)(void), uint32_t *top): switch thread mode to
     * PSP = top, call fn, switch back to MSP, return fn's result. */
    ".section .text.run_on_psp,\"ax\",%progbits\n"
    ".global run_on_psp\n"
    ".type run_on_psp, %function\n"
    ".thumb_func\n"
    "run_on_psp:\n"
    "    push {r4, lr}\n"
    "    msr  psp, r1\n"
    "    movs r2, #2\n"
    "    msr  control, r2\n"
    "    isb\n"
    "    blx  r0\n"
    "    movs r2, #0\n"
    "    msr  control, r2\n"
    "    isb\n"
    "    pop  {r4, pc}\n"
    ".size run_on_psp, . - run_on_psp\n"
    ".text\n");

int run_on_psp(int (*fn)(void), uint32_t *top);

static uint32_t read_control(void)
{
    uint32_t v;
    __asm__ volatile("mrs %0, control" : "=r"(v) :: "memory");
    return v;
}

static uint32_t read_sp(void)
{
    uint32_t v;
    __asm__ volatile("mov %0, sp" : "=r"(v));
    return v;
}

static int in_psp_stack(uint32_t a)
{
    return a >= (uint32_t)(uintptr_t)psp_stack &&
           a <= (uint32_t)(uintptr_t)&psp_stack[128];
}

static int thread_main(void)
{
    if (read_control() != 2)
        sh_fail("CONTROL reads 2 after msr");
    if (!in_psp_stack(read_sp()))
        sh_fail("SP inside psp_stack before svc");
    __asm__ volatile("svc 0" ::: "memory");
    if (svc_count != 1)
        sh_fail("SVC_Handler ran once");
    if (svc_exc_return != 0xFFFFFFFDu) {
        sh_write0("svc_exc_return=");
        sh_puthex(svc_exc_return);
        sh_write0("\n");
        sh_fail("EXC_RETURN == 0xFFFFFFFD");
    }
    if (read_control() != 2)
        sh_fail("CONTROL still 2 after exception return");
    if (!in_psp_stack(read_sp()))
        sh_fail("SP inside psp_stack after svc");
    if (!in_psp_stack(svc_psp))
        sh_fail("frame stacked on PSP");
    if (in_psp_stack(svc_msp))
        sh_fail("MSP outside psp_stack in handler");
    return 0;
}

int main(void)
{
    if (read_control() != 0)
        sh_fail("CONTROL == 0 at reset");
    int r = run_on_psp(thread_main, &psp_stack[128]);
    if (r != 0)
        return r;
    if (read_control() != 0)
        sh_fail("CONTROL == 0 after switching back");
    sh_write0("EXC_RETURN 0xFFFFFFFD on PSP\n");
    return 0;
}
