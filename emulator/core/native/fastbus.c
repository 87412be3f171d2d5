/*
 * fastbus.c - the native bus path for plain peripheral registers (no Python headers).
 *
 * fb_read / fb_write are registered as a peripheral's uc_mmio_map callbacks; user_data is
 * the peripheral's fb_block.  A 32-bit access to a register the Python model declared
 * plain is served here, with the same observable result as the Python fast path
 * (peripherals/regs.py Peripheral.read/write and emulator/services.py MachineServices):
 * the stored word, read-only and reserved bits kept on a write, last_written, the
 * writer (pc, cycle) and per-bit blame that Python turns into field_writers when asked,
 * and the poll detector (emulator/core/polling.py), ported here step for step: the trail of
 * reads since the last write, each poll point's last visit with the core state then, and
 * the confirmation of a fixed point, which it hands to the run loop as the Python detector does.
 * Anything else - a narrow access, a gated or held peripheral, a register with side
 * effects, tracing on, a Python trail in progress - calls the peripheral's Python
 * callback, which does exactly what it always did (and adopts the C trail first).
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

#define FB_STATE_WORDS 21u      /* Cpu.state(): r0-r15, then xPSR, MSP, PSP, PRIMASK, CONTROL */

typedef int (*fb_reg_batch)(void *uc, int *ids, void **values, int count);
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
    uint64_t *slice_start;      /* RunLoop.slice_start_cell: moves on when a poll skip happens in the slice */
    uint32_t *pc;               /* Cpu.pc_cell */
    uint64_t *counter;          /* Cpu.counter_cell */
    uint32_t python_trail;      /* the Python poll trail is not empty: every access goes to Python */
    uint32_t trail_len;
    uint32_t trail_pc[FB_MAX_TRAIL];
    uint32_t trail_address[FB_MAX_TRAIL];
    uint32_t trail_value[FB_MAX_TRAIL];
    uint64_t reads;             /* accesses served natively (bench, tests) */
    uint64_t writes;
    /* the detector's visits (PollDetector._visits) while C owns the trail */
    uint32_t n_visits;
    uint32_t visit_pc[FB_MAX_TRAIL];
    uint32_t visit_index[FB_MAX_TRAIL];         /* the trail's length at the last visit */
    uint32_t visit_has_state[FB_MAX_TRAIL];
    uint32_t visit_has_reads[FB_MAX_TRAIL];     /* the iteration before it repeated the state */
    uint32_t visit_reads_start[FB_MAX_TRAIL];   /* that iteration: trail[start:end] */
    uint32_t visit_reads_end[FB_MAX_TRAIL];
    uint64_t visit_at[FB_MAX_TRAIL];            /* instruction cycle of the last visit */
    uint32_t visit_state[FB_MAX_TRAIL][FB_STATE_WORDS];
    uint64_t pending_skip;      /* PollDetector.pending_skip, set by a native confirmation */
    uint64_t *limit;            /* Cpu: the slice's instruction limit, beside the counter */
    void (*confirmed)(void);    /* RunLoop.poll_confirmed: skips in the slice, or ends it */
    uint32_t *regs;             /* Cpu.register_file */
    void *uc;
    fb_reg_batch reg_read_batch;
    int state_ids[FB_STATE_WORDS - 16];
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

static int read_core_state(fb_state *s, uint32_t *out)
{
    void *ptrs[FB_STATE_WORDS - 16];
    for (unsigned i = 0; i < 16; i++)
        out[i] = s->regs[i];
    for (unsigned i = 0; i < FB_STATE_WORDS - 16; i++)
        ptrs[i] = &out[16 + i];
    return s->reg_read_batch(s->uc, s->state_ids, ptrs, (int)(FB_STATE_WORDS - 16));
}

static int same_reads(fb_state *s, uint32_t a, uint32_t b, uint32_t len)
{
    for (uint32_t i = 0; i < len; i++)
        if (s->trail_pc[a + i] != s->trail_pc[b + i] || s->trail_address[a + i] != s->trail_address[b + i]
            || s->trail_value[a + i] != s->trail_value[b + i])
            return 0;
    return 1;
}

/* PollDetector.observe_read, step for step; 1 when a fixed point is confirmed, -1 when the
   core state cannot be read (Python then judges the access) */
static int observe_read(fb_state *s, uint32_t address, uint32_t value)
{
    uint32_t pc = *s->pc, n = s->trail_len, i, now_state[FB_STATE_WORDS];
    uint64_t executed = *s->counter, now = *s->slice_start + (executed ? executed - 1 : 0);
    int confirmed = 0;
    if (n >= FB_MAX_TRAIL)
        n = s->n_visits = 0;
    for (i = 0; i < s->n_visits && s->visit_pc[i] != pc; i++)
        ;
    if (i == s->n_visits) {
        s->n_visits++;
        s->visit_pc[i] = pc;
        s->visit_has_state[i] = s->visit_has_reads[i] = 0;
        s->visit_at[i] = 0;
    } else {
        if (read_core_state(s, now_state))
            return -1;
        uint32_t index = s->visit_index[i];
        int same_state = s->visit_has_state[i]
            && __builtin_memcmp(now_state, s->visit_state[i], sizeof now_state) == 0;
        if (same_state && s->visit_has_reads[i] && now > s->visit_at[i] && index < n && s->trail_value[index] == value
            && s->visit_reads_end[i] - s->visit_reads_start[i] == n - index
            && same_reads(s, s->visit_reads_start[i], index, n - index)) {
            s->pending_skip = now - s->visit_at[i];
            confirmed = 1;
        }
        s->visit_has_reads[i] = same_state;
        s->visit_reads_start[i] = index;
        s->visit_reads_end[i] = n;
        s->visit_has_state[i] = 1;
        __builtin_memcpy(s->visit_state[i], now_state, sizeof now_state);
        s->visit_at[i] = now;
    }
    s->visit_index[i] = n;
    s->trail_pc[n] = pc;
    s->trail_address[n] = address;
    s->trail_value[n] = value;
    s->trail_len = n + 1;
    return confirmed;
}

uint64_t fb_read(void *uc, uint64_t offset, unsigned size, void *user_data)
{
    fb_block *b = (fb_block *)user_data;
    fb_state *s = b->state;
    fb_reg *r = served(b, offset, size, FB_READ);
    uint32_t value;
    if (r == NULL)
        return b->py_read(uc, offset, size, b->py_read_data);
    value = r->value & r->read_mask;
    if (s->in_slice) {
        int confirmed = observe_read(s, b->base + (uint32_t)offset, value);
        if (confirmed < 0)
            return b->py_read(uc, offset, size, b->py_read_data);
        if (confirmed)
            s->confirmed();                 /* may move slice_start and the limit on */
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
    s->trail_len = s->n_visits = 0;                        /* a write: no poll loop around it */
    s->writes++;
    if (!s->in_slice) {
        r->writer_kind = 0;
        return;
    }
    pc = *s->pc;
    executed = *s->counter;
    cycle = *s->slice_start + (executed ? executed - 1 : 0);
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
    out[7] = offsetof(fb_state, visit_state);
    out[8] = offsetof(fb_state, state_ids);
}
