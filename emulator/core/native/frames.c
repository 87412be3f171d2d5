/*
 * frames.c - the register and memory half of ARMv6-M exception entry and return, in one
 * native call each (no Python headers).
 *
 * emulator/core/exceptions.py decides everything that needs the NVIC model (which
 * exception, the active stack, the target IPSR, faults and their records); these two
 * functions do the Unicorn traffic it would otherwise make as five ctypes calls and some
 * Python arithmetic: read the mode registers, push or pop the 8-word frame, fetch the
 * vector, write the registers back in the order the core needs (ARM DDI 0419E
 * B1.5.6-B1.5.8; the order of SPSEL and IPSR writes: ../shared/c071/UNICORN.md).
 *
 * Unicorn's API is reached through function pointers Python passes in fx_core (the
 * library's own symbols, as the binding loaded them), so this file links to nothing.
 * On any path it does not handle it changes nothing and returns non-zero; Python then
 * takes its own path, which handles every case.
 */
#include <stdint.h>
#include <stddef.h>

typedef int (*fx_reg_batch)(void *uc, int *ids, void **values, int count);
typedef int (*fx_mem)(void *uc, uint64_t address, void *bytes, uint64_t size);

enum {          /* fx_core.ids: Unicorn's register numbers, filled by Python */
    ID_R0, ID_R1, ID_R2, ID_R3, ID_R12, ID_LR, ID_PC, ID_XPSR, ID_MSP, ID_PSP, ID_CONTROL, ID_IPSR, ID_APSR,
    N_IDS
};

typedef struct {
    void *uc;
    uint32_t *regs;             /* QEMU's regs[16] (Cpu.register_file) */
    fx_reg_batch reg_read_batch;
    fx_reg_batch reg_write_batch;
    fx_mem mem_read;
    fx_mem mem_write;
    int ids[N_IDS];
    uint32_t sram_base;
    uint32_t sram_size;
} fx_core;

#define FRAME_ALIGN_BIT (1u << 9)
#define APSR_FLAGS 0xF0000000u
#define EPSR_T (1u << 24)
#define EXC_RETURN_HANDLER 0xFFFFFFF1u
#define EXC_RETURN_THREAD_MSP 0xFFFFFFF9u
#define EXC_RETURN_THREAD_PSP 0xFFFFFFFDu

enum { FX_OK = 0, FX_STACK_NOT_RAM = 1, FX_UNREADABLE = 2, FX_FAILED = 3 };

/* one of Unicorn's batch calls on the registers ``which`` names (indices into fx_core.ids) */
static int batch(fx_core *c, fx_reg_batch call, const int *which, uint32_t *values, int n)
{
    int ids[16];
    void *ptrs[16];
    for (int i = 0; i < n; i++) {
        ids[i] = c->ids[which[i]];
        ptrs[i] = &values[i];
    }
    return call(c->uc, ids, ptrs, n);
}

static int frame_in_ram(fx_core *c, uint32_t sp, int sram_aliased)
{
    uint64_t top = (uint64_t)sp + 0x20;
    if (sp >= c->sram_base && top <= (uint64_t)c->sram_base + c->sram_size)
        return 1;
    return sram_aliased && top <= c->sram_size;
}

/*
 * Entry of exception ``number``: stack the frame below the active stack pointer, fetch the
 * vector at ``vector_address`` and branch to it.  ``return_address`` is the stacked PC
 * (the current PC when ``use_pc``).  out[0] = the vector, out[1] = the return address.
 * FX_STACK_NOT_RAM: nothing was written.  FX_UNREADABLE (the vector): the frame and the mode
 * registers were written, PC was not (ExceptionEngine.enter's order).
 */
int fx_enter(fx_core *c, uint32_t number, uint32_t return_address, int use_pc, uint32_t vector_address,
             int sram_aliased, uint32_t *out)
{
    static const int mode[5] = {ID_XPSR, ID_MSP, ID_PSP, ID_CONTROL, ID_IPSR};
    static const int write_msp[6] = {ID_MSP, ID_IPSR, ID_APSR, ID_LR, ID_PC, ID_XPSR};
    static const int write_psp[7] = {ID_PSP, ID_CONTROL, ID_IPSR, ID_APSR, ID_LR, ID_PC, ID_XPSR};
    uint32_t m[5];
    if (batch(c, c->reg_read_batch, mode, m, 5))
        return FX_FAILED;
    uint32_t xpsr = m[0], msp = m[1], psp = m[2], control = m[3], ipsr = m[4];
    uint32_t *r = c->regs;
    if (use_pc)
        return_address = r[15];
    int on_psp = (ipsr & 0x3F) == 0 && (control & 2);
    uint32_t frame_sp = on_psp ? psp : msp;
    uint32_t new_sp = (frame_sp - 0x20) & ~4u;
    if (!frame_in_ram(c, new_sp, sram_aliased))
        return FX_STACK_NOT_RAM;
    uint32_t frame[8] = {r[0], r[1], r[2], r[3], r[12], r[14], return_address & ~1u,
                         (xpsr & ~FRAME_ALIGN_BIT) | ((frame_sp & 4) ? FRAME_ALIGN_BIT : 0)};
    if (c->mem_write(c->uc, new_sp, frame, sizeof frame))
        return FX_FAILED;
    uint32_t exc_return = (ipsr & 0x3F) ? EXC_RETURN_HANDLER : on_psp ? EXC_RETURN_THREAD_PSP : EXC_RETURN_THREAD_MSP;
    uint32_t vector;
    int unreadable = c->mem_read(c->uc, vector_address, &vector, 4) != 0;
    uint32_t v[7];
    int n = 0;
    v[n++] = new_sp;
    if (on_psp)
        v[n++] = control & ~2u;
    v[n++] = number;
    v[n++] = xpsr & APSR_FLAGS;
    v[n++] = exc_return;
    int without_vector = n;
    v[n++] = vector | 1;
    v[n++] = (xpsr & ~0x3Fu) | number | EPSR_T;
    if (batch(c, c->reg_write_batch, on_psp ? write_psp : write_msp, v, unreadable ? without_vector : n))
        return FX_FAILED;
    out[0] = vector;
    out[1] = return_address;
    return unreadable ? FX_UNREADABLE : FX_OK;
}

/*
 * Return through ``exc_return`` (already checked against the active exceptions) to IPSR
 * ``target_ipsr``: unstack the frame from MSP or PSP and restore the registers.  out[0] =
 * the return address.  FX_UNREADABLE: the frame could not be read, and nothing was written.
 */
int fx_return(fx_core *c, uint32_t exc_return, uint32_t target_ipsr, uint32_t *out)
{
    static const int mode[4] = {ID_MSP, ID_PSP, ID_CONTROL, ID_APSR};
    static const int handler[14] = {ID_MSP, ID_IPSR, ID_APSR, ID_R0, ID_R1, ID_R2, ID_R3, ID_R12, ID_LR, ID_PC,
                                    ID_XPSR, ID_IPSR, ID_APSR, ID_PC};
    static const int thread_msp[15] = {ID_MSP, ID_IPSR, ID_APSR, ID_CONTROL, ID_R0, ID_R1, ID_R2, ID_R3, ID_R12,
                                       ID_LR, ID_PC, ID_XPSR, ID_IPSR, ID_APSR, ID_PC};
    static const int thread_psp[15] = {ID_PSP, ID_IPSR, ID_APSR, ID_CONTROL, ID_R0, ID_R1, ID_R2, ID_R3, ID_R12,
                                       ID_LR, ID_PC, ID_XPSR, ID_IPSR, ID_APSR, ID_PC};
    uint32_t m[4];
    if (batch(c, c->reg_read_batch, mode, m, 4))
        return FX_FAILED;
    uint32_t msp = m[0], psp = m[1], control = m[2], flags = m[3];
    int to_thread = exc_return != EXC_RETURN_HANDLER;
    int use_psp = exc_return == EXC_RETURN_THREAD_PSP;
    uint32_t frame_sp = use_psp ? psp : msp;
    uint32_t f[8];
    if (c->mem_read(c->uc, frame_sp, f, sizeof f))
        return FX_UNREADABLE;
    uint32_t pc = f[6], xpsr = f[7];
    uint32_t new_sp = frame_sp + 0x20 + ((xpsr & FRAME_ALIGN_BIT) ? 4 : 0);
    uint32_t v[15];
    int n = 0;
    v[n++] = new_sp;
    v[n++] = target_ipsr;
    v[n++] = flags;
    if (to_thread)
        v[n++] = (control & 3 & ~2u) | (use_psp ? 2 : 0);
    for (int i = 0; i < 6; i++)
        v[n++] = f[i];
    v[n++] = pc | 1;
    v[n++] = (xpsr & ~(0x3Fu | FRAME_ALIGN_BIT)) | target_ipsr;
    v[n++] = target_ipsr;
    v[n++] = xpsr & APSR_FLAGS;
    v[n++] = (pc & ~1u) | 1;
    if (batch(c, c->reg_write_batch, !to_thread ? handler : use_psp ? thread_psp : thread_msp, v, n))
        return FX_FAILED;
    out[0] = pc;
    return FX_OK;
}

void fx_layout(uint64_t *out)
{
    out[0] = sizeof(fx_core);
    out[1] = offsetof(fx_core, ids);
    out[2] = offsetof(fx_core, sram_size);
    out[3] = N_IDS;
}
