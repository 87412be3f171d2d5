/*
 * fastbus.c - the native bus path for plain peripheral registers (no Python headers).
 *
 * fb_read / fb_write are registered as a peripheral's uc_mmio_map callbacks; user_data is
 * the peripheral's fb_block.  A 32-bit access to a register the Python model declared
 * plain is served here, with the same observable result as the Python fast path
 * (peripherals/regs.py Peripheral.read/write and emulator/machine.py _MachineServices):
 * the stored word, read-only and reserved bits kept on a write, last_written, the
 * writer (pc, cycle) and per-bit blame that Python turns into field_writers when asked,
 * and the poll detector's trail (emulator/core/polling.py) while its first visits last.
 * Anything else - a narrow access, a gated or held peripheral, a register with
 * side effects, a poll point visited again, tracing on, a Python trail in progress -
 * calls the peripheral's Python callback, which does exactly what it always did.
 *
 * The structures are allocated by Python (emulator/core/native/bus.py) with ctypes
 * mirrors of the same layout; fb_layout lets the loader check that the two agree.
 */
#include <stdint.h>
#include <stddef.h>

#define FB_MAX_TRAIL 64u        /* polling.MAX_TRAIL */

#define FB_READ 1u              /* a word read may be served natively */
#define FB_WRITE 2u             /* a word write may be served natively */
#define FB_HOOKED 4u            /* the write has a Python hook: served only if no bit of effect_mask changes */

typedef uint64_t (*fb_py_read)(void *uc, uint64_t offset, unsigned size, void *user_data);
typedef void (*fb_py_write)(void *uc, uint64_t offset, unsigned size, uint64_t value, void *user_data);

typedef struct {
    uint32_t value;             /* the register's storage: Register.value for a backed register */
    uint32_t last_written;
    uint32_t rw_mask;
    uint32_t read_mask;
    uint32_t flags;
    uint32_t effect_mask;       /* Register.on_write_when */
    uint32_t writer_kind;       /* 0: last_writer None, 1: (writer_pc, writer_cycle), 2: a Python object */
    uint32_t writer_pc;
    uint64_t writer_cycle;
    uint32_t dirty;             /* bits changed natively whose blame Python has not taken yet */
    uint32_t pad;
    uint32_t bit_pc[32];        /* per dirty bit: the last native write that changed it */
    uint64_t bit_cycle[32];
    uint64_t bit_first[32];     /* per dirty bit: the cycle of its first pending change */
} fb_reg;

typedef struct {
    uint32_t enabled;           /* 0 while tracing observes every access */
    uint32_t in_slice;          /* RunLoop.in_slice */
    uint64_t slice_start;       /* RunLoop._slice_start */
    uint32_t *pc;               /* Cpu.pc_cell */
    uint64_t *counter;          /* Cpu.counter_cell */
    uint32_t python_trail;      /* the Python poll trail is not empty: every access goes to Python */
    uint32_t trail_len;
    uint32_t trail_pc[FB_MAX_TRAIL];
    uint32_t trail_address[FB_MAX_TRAIL];
    uint32_t trail_value[FB_MAX_TRAIL];
    uint64_t reads;             /* accesses served natively (bench, tests) */
    uint64_t writes;
} fb_state;

typedef struct {
    fb_state *state;
    fb_reg **regs;              /* by word index; NULL: not served here */
    uint32_t n_words;
    uint32_t base;
    uint32_t *gate;             /* the RCC enable register's storage */
    uint32_t gate_mask;
    uint32_t held_in_reset;     /* Peripheral.held_in_reset */
    fb_py_read py_read;
    void *py_read_data;
    fb_py_write py_write;
    void *py_write_data;
} fb_block;

static inline fb_reg *served(fb_block *b, uint64_t offset, unsigned size, uint32_t need)
{
    fb_state *s = b->state;
    fb_reg *r;
    if (size != 4 || (offset & 3) || !s->enabled || s->python_trail || b->held_in_reset
        || !(*b->gate & b->gate_mask) || (offset >> 2) >= b->n_words)
        return NULL;
    r = b->regs[offset >> 2];
    return r != NULL && (r->flags & need) ? r : NULL;
}

uint64_t fb_read(void *uc, uint64_t offset, unsigned size, void *user_data)
{
    fb_block *b = (fb_block *)user_data;
    fb_state *s = b->state;
    fb_reg *r = served(b, offset, size, FB_READ);
    uint32_t value, pc, i, n;
    if (r == NULL)
        return b->py_read(uc, offset, size, b->py_read_data);
    value = r->value & r->read_mask;
    if (s->in_slice) {
        /* PollDetector.observe_read: a full trail is forgotten first; a poll point seen
           again is Python's to judge (it compares core state); a first visit is recorded */
        pc = *s->pc;
        n = s->trail_len;
        if (n >= FB_MAX_TRAIL)
            n = 0;
        for (i = 0; i < n; i++)
            if (s->trail_pc[i] == pc) {
                s->trail_len = n;
                return b->py_read(uc, offset, size, b->py_read_data);
            }
        s->trail_pc[n] = pc;
        s->trail_address[n] = b->base + (uint32_t)offset;
        s->trail_value[n] = value;
        s->trail_len = n + 1;
    }
    s->reads++;
    return value;
}

void fb_write(void *uc, uint64_t offset, unsigned size, uint64_t value, void *user_data)
{
    fb_block *b = (fb_block *)user_data;
    fb_state *s = b->state;
    fb_reg *r = served(b, offset, size, FB_WRITE);
    uint32_t data = (uint32_t)value, old, new, changed, pc, bit;
    uint64_t cycle, executed;
    if (r == NULL) {
        b->py_write(uc, offset, size, value, b->py_write_data);
        return;
    }
    old = r->value;
    new = (old & ~r->rw_mask) | (data & r->rw_mask);      /* reserved and read-only bits keep */
    changed = old ^ new;
    if ((r->flags & FB_HOOKED) && (changed & r->effect_mask)) {
        b->py_write(uc, offset, size, value, b->py_write_data);
        return;
    }
    r->value = new;
    r->last_written = data;
    s->trail_len = 0;                                      /* a write: no poll loop around it */
    s->writes++;
    if (!s->in_slice) {
        r->writer_kind = 0;
        return;
    }
    pc = *s->pc;
    executed = *s->counter;
    cycle = s->slice_start + (executed ? executed - 1 : 0);
    r->writer_kind = 1;
    r->writer_pc = pc;
    r->writer_cycle = cycle;
    while (changed) {
        bit = (uint32_t)__builtin_ctz(changed);
        changed &= changed - 1;
        if (!(r->dirty >> bit & 1))
            r->bit_first[bit] = cycle;
        r->bit_pc[bit] = pc;
        r->bit_cycle[bit] = cycle;
    }
    r->dirty |= old ^ new;
}

/* sizes and offsets the ctypes mirrors must match */
void fb_layout(uint64_t *out)
{
    out[0] = sizeof(fb_reg);
    out[1] = offsetof(fb_reg, bit_first);
    out[2] = sizeof(fb_state);
    out[3] = offsetof(fb_state, reads);
    out[4] = sizeof(fb_block);
    out[5] = offsetof(fb_block, py_write_data);
    out[6] = FB_MAX_TRAIL;
}
