"""Timers TIM1, TIM2, TIM3, TIM14, TIM16, TIM17 - RM0490 chapters "Advanced-control timer
(TIM1)", "General-purpose timers (TIM2/TIM3)", "General-purpose timer (TIM14)" and
"General-purpose timers (TIM16/TIM17)"; register maps cross-checked with ST's SVD in
tests/test_svd_oracle.py.

One class serves the six blocks; what differs is data (``TimerKind``): counter width
(TIM2 32 bits, the others 16), channels (TIM1 and TIM2/TIM3 four, TIM1 also the internal
CC5/CC6, TIM14/16/17 one), up/down counting (DIR: TIM1/2/3), repetition counter (RCR:
TIM1 16 bits, TIM16/17 8 bits), break and dead-time register (BDTR: TIM1, TIM16/17),
master/slave features (CR2.MMS, SMCR: TIM1/2/3) and DMA registers (DCR/DMAR: all but TIM14).

Register map (offsets from the RM0490 register maps of each chapter):

    0x00 CR1   0x04 CR2   0x08 SMCR  0x0C DIER  0x10 SR    0x14 EGR   0x18 CCMR1 0x1C CCMR2
    0x20 CCER  0x24 CNT   0x28 PSC   0x2C ARR   0x30 RCR   0x34 CCR1  0x38 CCR2  0x3C CCR3
    0x40 CCR4  0x44 BDTR  0x48 DCR   0x4C DMAR  0x54 CCMR3 0x58 CCR5  0x5C CCR6  0x60 AF1
    0x64 AF2   0x68 TISEL

Time-base unit (RM0490 "Time-base unit", "Counter modes"): the counter clock CK_CNT is the
kernel clock CK_PSC divided by PSC + 1.  PSC, ARR (when CR1.ARPE = 1), CCRx (when
CCMRx.OCxPE = 1) and the repetition counter are preloaded: the active (shadow) values are
loaded at each update event (UEV).  Upcounting runs 0..ARR and overflows to 0;
downcounting runs ARR..0 and underflows to ARR; each overflow/underflow decrements the
repetition counter and is an update event when it is 0 (then reloaded from RCR.REP).  A
UEV sets SR.UIF unless CR1.UDIS = 1 (no UEV at all); EGR.UG re-initialises the counter and
the prescaler and is an update event that sets UIF unless CR1.URS = 1 (with UDIS = 1, UG
only re-initialises).  CR1.OPM clears CEN at the next UEV.  ARR = 0 blocks the counter.
Center-aligned counting (CR1.CMS = 1..3, TIM1/2/3; RM0490 "Center-aligned mode (up/down
counting)"): 0 up to ARR (overflow, an update event), then down to 0 (underflow, another
one), DIR read-only showing the direction; UG clears the counter and counts up. If ARR is
lowered below the counter without preload, the counter runs to its maximum and wraps
(taken as an overflow: an assumption; the manuals describe only the normal range).

Capture/compare (RM0490 "Output compare mode", "PWM mode"): CCxIF is set when the counter
reaches CCRx (at the overflow/underflow when CCRx > ARR), whether or not the output is
enabled; in center-aligned mode only while counting down (CMS = 1), up (CMS = 2) or both
(3).  The channel output is computed when asked (``channel_output``): OCxREF for frozen
(keeps its level), active/inactive on match, toggle (counted matches since the mode was
written), forced inactive/active, PWM mode 1 and 2; OCx = OCxREF xor CCxP while CCxE = 1
(and BDTR.MOE = 1 on timers with a break function); BDTR.AOE sets MOE at the next UEV.
EGR.CCxG sets CCxIF (and, for a channel in input mode, captures the counter into CCRx,
CCxOF if CCxIF was already set); TG, COMG, BG, B2G set TIF, COMIF, BIF, B2IF; BG and B2G
clear MOE.  Interrupts: TIM1 has TIM1_BRK_UP_TRG_COM (update, trigger, COM, break) and
TIM1_CC (CC1..CC4); each other timer has one line for all its flags.

Timing: the kernel clock is TIMPCLK (PCLK, or 2 x PCLK when the APB prescaler is not 1:
RM0490 §6.2 clock tree), a whole divisor of HCLK, so the machine's HCLK cycle axis carries
kernel clock edges exactly.  The counter is never stepped: the state (counter, prescaler
counter, repetition counter) is held at an *anchor* cycle and computed for any later cycle
in closed form.  The next update event or compare match that changes anything observable
(a flag not yet set, an enabled interrupt, a preload transfer, OPM, AOE) is one scheduled
event; once every flag is set and no interrupt is enabled, a running timer costs nothing.
Any register access first brings the state up to the access's cycle.  A read of CNT
prepares for a polling loop around it (``_prepare_counter_read``): the next change of a
slow count is an event the run loop's poll detector can skip to; a fast count is marked
``varies_with_time`` so the loop is never taken for a fixed point.  A change of the APB
prescaler re-anchors the counter at the new rate (``clock_changed``, called by the RCC).

Not modelled (fields declared ``todo``, accesses reported): the clock division for the
input filters (CKD), slave mode controller and triggers (SMCR, CR2.MMS/MMS2/TI1S), input
capture from pins (CCxS input modes, input filters and prescalers, TISEL), output compare
modes 8-15 (reported when selected), fast/clear enables, complementary outputs and dead
time (CCxNE/CCxNP, DTG), break inputs and lock levels (BDTR except MOE/AOE, AF1/AF2),
preloaded CC control (CR2.CCPC/CCUS), idle states (OISx), DMA requests (UDE, CCxDE, COMDE,
TDE, DCR/DMAR) and the CCR5 group bits.  Simplifications: counting starts at the cycle of
the CEN write (RM0490: CNT_EN follows CEN by one clock); a timer whose RCC clock is
switched off while it runs keeps counting (its registers read 0 meanwhile), and so does a
timer in Stop mode unless the RCC reports its kernel clock as 0 (the count then holds);
the debug freeze bits (DBG_APB_FZx) are not acted on; a run continued from a snapshot
restarts the prescaler counter at 0 (``registers_restored``).  TIM3 is the 16-bit timer of
TIM2/TIM3: its CNT, ARR and CCRx have no bits 31:16 here (the C071 SVD gives it TIM2's
32-bit layout; tests/test_svd_oracle.py records the ARR reset value as an exception).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

from . import c071
from .regs import BusKind, Peripheral, Register, reg, ro, rw, todo, w0c, wo
from .services import ChipServices

# CR1 bits
CEN, UDIS, URS, OPM, DIR, ARPE, UIFREMAP = 1 << 0, 1 << 1, 1 << 2, 1 << 3, 1 << 4, 1 << 7, 1 << 11
CMS_SHIFT, CMS_MASK = 5, 3 << 5
# SR / DIER bits (an enable sits at its flag's position)
UIF, COMIF, TIF, BIF, B2IF = 1 << 0, 1 << 5, 1 << 6, 1 << 7, 1 << 8
# BDTR bits
AOE, MOE = 1 << 14, 1 << 15

# Output compare modes OCxM[3:0] (OCxM_1 is bit 3); 0-7 are modelled, 8-15 (retriggerable
# one-pulse, combined and asymmetric PWM) are reported when selected
OC_FROZEN, OC_ACTIVE_ON_MATCH, OC_INACTIVE_ON_MATCH, OC_TOGGLE = 0, 1, 2, 3
OC_FORCED_INACTIVE, OC_FORCED_ACTIVE, OC_PWM1, OC_PWM2 = 4, 5, 6, 7
OC_MODELLED = set(range(8))
MATCH_COUNTING_MODES = {OC_ACTIVE_ON_MATCH, OC_INACTIVE_ON_MATCH, OC_TOGGLE}
# HCLK cycles: a count that changes less often than this is worth an event the run loop's
# poll detector can skip to; one that changes sooner makes CNT ``varies_with_time``
POLL_HORIZON = 256


@dataclass(frozen=True)
class TimerKind:
    """What one timer instance has (RM0490 "TIMx main features" of each chapter)."""
    name: str
    base: int
    irq: int                  # update line (TIM1: TIM1_BRK_UP_TRG_COM); the only line elsewhere
    cc_irq: int               # capture/compare line (== irq except on TIM1)
    width: int                # counter bits
    channels: int             # channels with pins and interrupt enables
    internal_channels: int = 0    # TIM1: CC5, CC6 (compare only, no interrupt enable)
    up_down: bool = False     # CR1.DIR / CMS
    repetition_bits: int = 0  # RCR.REP width; 0: no repetition counter
    break_inputs: int = 0     # 0: no BDTR; 1: TIM16/17; 2: TIM1 (BRK and BRK2)
    complementary: int = 0    # channels with a complementary output (CCxNE)
    master: bool = False      # CR2.MMS/TI1S, SMCR, TIF/TG (TIM1/2/3)
    dma: bool = True          # DCR/DMAR and the DMA request enables
    arr_reset: int = 0xFFFF


KINDS = {
    "TIM1": TimerKind("TIM1", c071.TIM1, c071.IRQ_TIM1_BRK_UP_TRG_COM, c071.IRQ_TIM1_CC, 16, 4, internal_channels=2, up_down=True,
                      repetition_bits=16, break_inputs=2, complementary=3, master=True),
    "TIM2": TimerKind("TIM2", c071.TIM2, c071.IRQ_TIM2, c071.IRQ_TIM2, 32, 4, up_down=True, master=True, arr_reset=0xFFFF_FFFF),
    "TIM3": TimerKind("TIM3", c071.TIM3, c071.IRQ_TIM3, c071.IRQ_TIM3, 16, 4, up_down=True, master=True),
    "TIM14": TimerKind("TIM14", c071.TIM14, c071.IRQ_TIM14, c071.IRQ_TIM14, 16, 1, dma=False),
    "TIM16": TimerKind("TIM16", c071.TIM16, c071.IRQ_TIM16, c071.IRQ_TIM16, 16, 1, repetition_bits=8, break_inputs=1, complementary=1),
    "TIM17": TimerKind("TIM17", c071.TIM17, c071.IRQ_TIM17, c071.IRQ_TIM17, 16, 1, repetition_bits=8, break_inputs=1, complementary=1),
}


# -- the register table --------------------------------------------------------------------
def _cr1(k: TimerKind):
    fields = [rw("CEN", 0), rw("UDIS", 1), rw("URS", 2), rw("OPM", 3)]
    if k.up_down:
        fields += [rw("DIR", 4), rw("CMS", 5, 2)]
    return fields + [rw("ARPE", 7), todo("CKD", 8, 2, doc="filter sampling clock"), rw("UIFREMAP", 11)]


def _cr2(k: TimerKind):
    if k.name == "TIM1":
        return [todo("CCPC", 0), todo("CCUS", 2), todo("CCDS", 3), todo("MMS", 4, 3), todo("TI1S", 7),
                todo("OIS1", 8), todo("OIS1N", 9), todo("OIS2", 10), todo("OIS2N", 11), todo("OIS3", 12),
                todo("OIS3N", 13), todo("OIS4", 14), todo("OIS5", 16), todo("OIS6", 18), todo("MMS2", 20, 4)]
    if k.master:
        return [todo("CCDS", 3), todo("MMS", 4, 3), todo("TI1S", 7)]
    return [todo("CCPC", 0), todo("CCUS", 2), todo("CCDS", 3), todo("OIS1", 8), todo("OIS1N", 9)]


def _smcr():
    return [todo("SMS", 0, 3), todo("OCCS", 3), todo("TS", 4, 3), todo("MSM", 7), todo("ETF", 8, 4),
            todo("ETPS", 12, 2), todo("ECE", 14), todo("ETP", 15), todo("SMS_1", 16), todo("TS_1", 20, 2)]


def _dier(k: TimerKind):
    fields = [rw("UIE", 0)] + [rw(f"CC{n}IE", n) for n in range(1, k.channels + 1)]
    if k.break_inputs:
        fields.append(rw("COMIE", 5))
    if k.master:
        fields.append(rw("TIE", 6))
    if k.break_inputs:
        fields.append(rw("BIE", 7))
    if k.dma:
        fields += [todo("UDE", 8)] + [todo(f"CC{n}DE", 8 + n) for n in range(1, k.channels + 1)]
        if k.name == "TIM1":
            fields.append(todo("COMDE", 13))
        if k.master:
            fields.append(todo("TDE", 14))
    return fields


def _events(k: TimerKind) -> list[tuple[str, int]]:
    """The events a timer flags in SR and can generate from EGR, at the same bit in both
    (RM0490, TIMx_SR and TIMx_EGR of each timer; the SVD agrees, tests/test_svd_oracle.py)."""
    events = [("U", 0)] + [(f"CC{n}", n) for n in range(1, k.channels + 1)]
    if k.break_inputs:
        events.append(("COM", 5))
    if k.master:
        events.append(("T", 6))
    if k.break_inputs:
        events.append(("B", 7))
    if k.break_inputs == 2:
        events.append(("B2", 8))
    return events


def _sr(k: TimerKind):
    fields = [w0c(f"{event}IF", bit) for event, bit in _events(k)]
    fields += [w0c(f"CC{n}OF", 8 + n) for n in range(1, k.channels + 1)]
    if k.name == "TIM1":
        # SBIF: no system-break source (clock failure, lockup, SRAM parity) is wired to the timers here
        fields += [w0c("SBIF", 13), w0c("CC5IF", 16), w0c("CC6IF", 17)]
    return fields


def _egr(k: TimerKind):
    return [wo(f"{event}G", bit) for event, bit in _events(k)]


def _ccmr(k: TimerKind, first: int, count: int):
    """Output-compare view of CCMRx (the input-capture view shares the bits: CCxS != 0)."""
    fields = []
    for i in range(count):
        n, s = first + i, 8 * i
        fields += [todo(f"CC{n}S", s, 2, doc="input capture"), todo(f"OC{n}FE", s + 2),
                   rw(f"OC{n}PE", s + 3), rw(f"OC{n}M", s + 4, 3)]
        if k.master:
            fields.append(todo(f"OC{n}CE", s + 7))
        fields.append(rw(f"OC{n}M_1", 16 + s))
    return fields


def _ccmr3():
    return [todo("OC5FE", 2), rw("OC5PE", 3), rw("OC5M", 4, 3), todo("OC5CE", 7),
            todo("OC6FE", 10), rw("OC6PE", 11), rw("OC6M", 12, 3), todo("OC6CE", 15),
            rw("OC5M_1", 16), rw("OC6M_1", 24)]


def _ccer(k: TimerKind):
    fields = []
    for n in range(1, k.channels + 1):
        s = 4 * (n - 1)
        fields += [rw(f"CC{n}E", s), rw(f"CC{n}P", s + 1)]
        if n <= k.complementary:
            fields.append(todo(f"CC{n}NE", s + 2, doc="complementary output"))
        fields.append(todo(f"CC{n}NP", s + 3))
    if k.internal_channels:
        fields += [rw("CC5E", 16), rw("CC5P", 17), rw("CC6E", 20), rw("CC6P", 21)]
    return fields


def _bdtr(k: TimerKind):
    fields = [todo("DTG", 0, 8), todo("LOCK", 8, 2), todo("OSSI", 10), todo("OSSR", 11), todo("BKE", 12),
              todo("BKP", 13), rw("AOE", 14), rw("MOE", 15), todo("BKF", 16, 4)]
    if k.break_inputs == 2:
        fields += [todo("BK2F", 20, 4), todo("BK2E", 24), todo("BK2P", 25), todo("BKDSRM", 26),
                   todo("BK2DSRM", 27), todo("BKBID", 28), todo("BK2BID", 29)]
    else:
        fields += [todo("BKDSRM", 26), todo("BKBID", 28)]
    return fields


def register_table(k: TimerKind, t: "Timer") -> list[Register]:
    """The registers of timer ``k`` with ``t``'s side effects (RM0490 TIMx register maps)."""
    w = k.width
    cnt_fields = [rw("CNT", 0, w)] + ([ro("UIFCPY", 31)] if w < 32 else [])
    regs = [reg("CR1", 0x00, 0, *_cr1(k), on_read=t._cr1_read, on_write=t._cr1_written)]
    if k.name != "TIM14":
        regs.append(reg("CR2", 0x04, 0, *_cr2(k)))
    else:
        # TIM14 has no CR2: the offset is reserved (reads 0, writes ignored), but the HAL's
        # TIM_OC1_SetConfig reads and writes it back on every timer, so it is declared empty
        regs.append(reg("CR2", 0x04, 0))
    if k.master:
        regs.append(reg("SMCR", 0x08, 0, *_smcr()))
    regs += [
        reg("DIER", 0x0C, 0, *_dier(k)),
        reg("SR", 0x10, 0, *_sr(k)),
        reg("EGR", 0x14, 0, *_egr(k), on_write=t._egr_written),
        reg("CCMR1", 0x18, 0, *_ccmr(k, 1, min(k.channels, 2)), on_write=lambda o, n: t._ccmr_written(0, o, n)),
    ]
    if k.channels > 2:
        regs.append(reg("CCMR2", 0x1C, 0, *_ccmr(k, 3, 2), on_write=lambda o, n: t._ccmr_written(2, o, n)))
    regs += [
        reg("CCER", 0x20, 0, *_ccer(k)),
        reg("CNT", 0x24, 0, *cnt_fields, on_read=t._cnt_read, on_write=t._cnt_written),
        reg("PSC", 0x28, 0, rw("PSC", 0, 16)),
        reg("ARR", 0x2C, k.arr_reset, rw("ARR", 0, w), on_write=t._arr_written),
    ]
    if k.repetition_bits:
        regs.append(reg("RCR", 0x30, 0, rw("REP", 0, k.repetition_bits)))
    for n in range(1, k.channels + 1):
        regs.append(reg(f"CCR{n}", 0x30 + 4 * n, 0, rw(f"CCR{n}", 0, w), on_write=t._ccr_written))
    if k.break_inputs:
        regs.append(reg("BDTR", 0x44, 0, *_bdtr(k)))
    if k.dma:
        regs += [reg("DCR", 0x48, 0, todo("DBA", 0, 5), todo("DBL", 8, 5)),
                 reg("DMAR", 0x4C, 0, todo("DMAB", 0, 32 if k.name == "TIM1" else 16, doc="DMA burst"))]
    if k.internal_channels:
        regs += [reg("CCMR3", 0x54, 0, *_ccmr3(), on_write=lambda o, n: t._ccmr_written(4, o, n)),
                 reg("CCR5", 0x58, 0, rw("CCR5", 0, 16), todo("GC5C1", 29), todo("GC5C2", 30),
                     todo("GC5C3", 31), on_write=t._ccr_written),
                 reg("CCR6", 0x5C, 0, rw("CCR6", 0, 16), on_write=t._ccr_written)]
    if k.name == "TIM1":
        regs += [reg("AF1", 0x60, 1, todo("BKINE", 0), todo("BKINP", 9), todo("ETRSEL", 14, 4)),
                 reg("AF2", 0x64, 1, todo("BK2INE", 0), todo("BK2INP", 9))]
    elif k.master:
        regs.append(reg("AF1", 0x60, 0, todo("ETRSEL", 14, 4)))
    elif k.break_inputs:
        regs.append(reg("AF1", 0x60, 1, todo("BKINE", 0), todo("BKINP", 9)))
    inputs = 4 if k.name == "TIM1" else 3 if k.master else 1
    regs.append(reg("TISEL", 0x68, 0, *[todo(f"TI{n}SEL", 8 * (n - 1), 4) for n in range(1, inputs + 1)]))
    return regs


# -- behaviour -------------------------------------------------------------------------------
class Timer(Peripheral):
    """One timer instance; ``kind`` says which features it has.

    ``kernel_clock_hz`` is TIMPCLK and ``hclk_hz`` the bus clock whose cycles the machine
    counts (both from the RCC model); by default both are the services' HCLK.
    """

    bus = BusKind.APB
    manual = "RM0490 TIM1, TIM2/TIM3, TIM14, TIM16/TIM17 chapters"

    def __init__(self, kind: TimerKind, services: ChipServices | None = None,
                 kernel_clock_hz: Optional[Callable[[], int]] = None,
                 hclk_hz: Optional[Callable[[], int]] = None) -> None:
        self.kind = kind
        self.name = kind.name
        self._max = (1 << kind.width) - 1
        self._all_channels = kind.channels + kind.internal_channels
        super().__init__(kind.base, services, register_table(kind, self))
        self.kernel_clock_hz = kernel_clock_hz or self.services.hclk_hz
        self.hclk_hz = hclk_hz or self.services.hclk_hz
        self._event = None
        self._event_cycle = 0
        self._tick_event = None                 # wakes a loop polling CNT at the next count change
        self._tick_cycle = 0
        channels = range(self._all_channels)        # per channel: CCRx, its CCMRx, CCxIF, CCRx width
        self._channel_ccr = [self.reg[f"CCR{ch + 1}"] for ch in channels]
        self._channel_ccmr = [self.reg["CCMR1" if ch < 2 else "CCMR2" if ch < 4 else "CCMR3"] for ch in channels]
        self._channel_flag = [1 << (ch + 1) if ch < 4 else 1 << (16 + ch - 4) for ch in channels]
        self._channel_mask = [0xFFFF if ch >= 4 else self._max for ch in channels]
        self._lines = (False, False)
        self._init_state()

    def _init_state(self) -> None:
        self._running = False
        self._up = True                   # counting direction at the anchor
        self._center = 0                  # CR1.CMS: 0 edge-aligned, 1-3 center-aligned modes
        self._anchor = 0                  # cycle of a kernel clock edge where the state below held
        self._count = 0                   # counter
        self._phase = 0                   # prescaler counter (0..PSC)
        self._rep = 0                     # repetition down-counter
        self._psc = 0                     # active (shadow) registers
        self._arr = self.kind.arr_reset
        self._ccr = [0] * self._all_channels
        self._start_ref = [0] * self._all_channels      # OCxREF when the channel's mode was written
        self._matches = [0] * self._all_channels        # compare matches since then
        self._synced = 0                  # flags are applied for every cycle up to this one
        self._cycles_per_tick = self._ratio()

    def on_reset(self) -> None:
        self._cancel_events()
        self._init_state()
        self._set_lines(False, False)

    def registers_restored(self) -> None:
        """The registers were put back from a snapshot (whose CNT holds the count then): rebuild
        the counting state from them.  The prescaler counter is not a register and restarts at
        0, so later events may move by less than one counter period."""
        self._cancel_events()
        cr1 = self.reg["CR1"].value
        self._cycles_per_tick = self._ratio()
        self._running = bool(cr1 & CEN) and self._cycles_per_tick is not None
        self._up = not cr1 & DIR
        self._center = (cr1 & CMS_MASK) >> CMS_SHIFT if self.kind.up_down else 0
        self._count, self._phase = self.reg["CNT"].value & self._max, 0
        self._load_shadows()
        self._anchor = self._synced = self._now()
        self._lines = (not self._lines[0], not self._lines[1])    # force the lines to be driven
        self._update_irqs()
        self._reschedule()

    # -- clocks -------------------------------------------------------------------------------
    def _ratio(self) -> Optional[int]:
        """HCLK cycles per kernel clock edge (TIMPCLK = HCLK / 1, 2, 4 or 8 on the C071);
        None while there is no kernel clock (the counter cannot count)."""
        kernel = self.kernel_clock_hz()
        return max(1, round(self.hclk_hz() / kernel)) if kernel else None

    def clock_changed(self) -> None:
        """The clock tree changed (RCC): continue from the current count at the new rate, or
        hold the count while the kernel clock is stopped."""
        ratio = self._ratio()
        if ratio == self._cycles_per_tick:
            return
        now = self._now()
        self._sync(now)
        self._reanchor(now)
        self._cycles_per_tick = ratio
        self._running = bool(self.reg["CR1"].value & CEN) and ratio is not None
        self._anchor = self._synced = now       # the partial kernel period at the old rate is dropped
        self._reschedule()

    def _now(self) -> int:
        return self.services.now_cycles()

    # -- the counter in closed form ----------------------------------------------------------------
    def _edges(self, cycle: int) -> int:
        """CK_CNT edges from the anchor up to and including ``cycle``."""
        ticks = (cycle - self._anchor) // self._cycles_per_tick
        return (self._phase + ticks) // (self._psc + 1)

    def _edge_cycle(self, n: int) -> int:
        """Cycle of the ``n``-th CK_CNT edge after the anchor (n >= 1)."""
        return self._anchor + (n * (self._psc + 1) - self._phase) * self._cycles_per_tick

    def _position(self) -> int:
        """Center-aligned: the anchor's place on the 0..ARR..0 triangle (period 2 x ARR edges);
        0..ARR-1 count up, ARR..2 x ARR-1 count down (ARR itself: just overflowed)."""
        arr2 = 2 * self._arr
        return (self._count if self._up else arr2 - self._count) % arr2

    def _first_wrap(self) -> Optional[int]:
        """Edges from the anchor to the first overflow/underflow; None while ARR = 0 blocks it."""
        if self._arr == 0:
            return None
        if self._center:
            return self._arr - self._position() % self._arr
        if not self._up:
            return self._count + 1
        top = self._arr if self._count <= self._arr else self._max
        return top - self._count + 1

    def _count_after(self, m: int) -> int:
        e1 = self._first_wrap()
        if e1 is None:
            return self._count
        if self._center:
            p = (self._position() + m) % (2 * self._arr)
            return p if p <= self._arr else 2 * self._arr - p
        if m < e1:
            return self._count + m if self._up else self._count - m
        q = (m - e1) % (self._arr + 1)
        return q if self._up else self._arr - q

    def _up_after(self, m: int) -> bool:
        """Counting direction ``m`` edges after the anchor (changes only in center-aligned mode)."""
        if not self._center or self._arr == 0:
            return self._up
        return (self._position() + m) % (2 * self._arr) < self._arr

    def _wrap_period(self) -> int:
        """Edges between overflows/underflows."""
        return self._arr if self._center else self._arr + 1

    def _wraps_after(self, m: int) -> int:
        e1 = self._first_wrap()
        return 0 if e1 is None or m < e1 else 1 + (m - e1) // self._wrap_period()

    def _repetition(self) -> int:
        return self.reg["RCR"].value if self.kind.repetition_bits else 0

    def _rep_after(self, m: int) -> int:
        wraps = self._wraps_after(m)
        if wraps <= self._rep:
            return self._rep - wraps
        return self._repetition() - (wraps - self._rep - 1) % (self._repetition() + 1)

    def _next_update_edge(self, after: int) -> Optional[int]:
        """First update-event edge later than edge ``after`` (overflows with repetition counter 0)."""
        e1 = self._first_wrap()
        if e1 is None or self.reg["CR1"].value & UDIS:
            return None
        first = e1 + self._rep * self._wrap_period()
        period = (self._repetition() + 1) * self._wrap_period()
        if after < first:
            return first
        return first + ((after - first) // period + 1) * period

    def _match_series(self, channel: int) -> list[tuple[int, int]]:
        """(first edge, period) of each way the counter reaches CCRx (RM0490 CCxIF): edge-aligned,
        once a period (at the overflow/underflow when CCRx is out of range); center-aligned,
        counting down (CMS = 1), up (CMS = 2) or both (CMS = 3)."""
        e1 = self._first_wrap()
        if e1 is None:
            return []
        arr, c, count = self._arr, self._ccr[channel], self._count
        if self._center:
            arr2, p0 = 2 * arr, self._position()
            targets = []
            if self._center in (2, 3) and 0 < c <= arr:
                targets.append(c)                           # reached counting up
            if self._center in (1, 3) and 0 <= c < arr:
                targets.append((arr2 - c) % arr2)           # reached counting down
            return [((q - p0 - 1) % arr2 + 1, arr2) for q in targets]
        if self._up:
            if 0 < c <= arr:
                first = c - count if count < c else e1 + c
            else:
                first = e1                                  # CCRx = 0 or > ARR: at the overflow
        else:
            if c < arr:
                first = count - c if c < count else e1 + (arr - c)
            else:
                first = e1                                  # CCRx >= ARR: at the underflow
        return [(first, arr + 1)]

    def _next_match_edge(self, channel: int, after: int) -> Optional[int]:
        """First edge later than ``after`` at which the counter reaches CCRx."""
        edges = [first if after < first else first + ((after - first) // period + 1) * period
                 for first, period in self._match_series(channel)]
        return min(edges) if edges else None

    def _matches_between(self, channel: int, lo: int, hi: int) -> int:
        """Compare matches at edges in (lo, hi]."""
        total = 0
        for first, period in self._match_series(channel):
            nxt = first if lo < first else first + ((lo - first) // period + 1) * period
            if nxt <= hi:
                total += 1 + (hi - nxt) // period
        return total

    def counter_value(self) -> int:
        """TIMx_CNT now (without UIFCPY)."""
        if not self._running:
            return self._count
        return self._count_after(self._edges(self._now()))

    # -- bringing the state up to a cycle ------------------------------------------------------
    def _reanchor(self, cycle: int) -> None:
        """Move the anchor to the last kernel clock edge at or before ``cycle`` (state synced)."""
        if not self._running:
            return
        ticks = (cycle - self._anchor) // self._cycles_per_tick
        if ticks <= 0:
            return
        position = self._phase + ticks
        m = position // (self._psc + 1)
        self._count, self._rep, self._up = self._count_after(m), self._rep_after(m), self._up_after(m)
        self._phase = position % (self._psc + 1)
        self._anchor += ticks * self._cycles_per_tick

    def _sync(self, now: int) -> None:
        """Apply every update event and compare match up to cycle ``now``.

        Update events that change the state were scheduled, so at most a few are processed
        here; once an update event changes nothing, the later ones only repeat its flags.
        """
        if now <= self._synced:
            return
        while self._running:
            m_lo, m_hi = self._edges(self._synced), self._edges(now)
            if m_hi <= m_lo:
                break
            u = self._next_update_edge(m_lo)
            if u is None or u > m_hi:
                self._flag_matches(m_lo, m_hi)
                break
            self._flag_matches(m_lo, u)
            self._synced = self._edge_cycle(u)
            if not self._overflow_update(u):
                self._flag_matches(u, m_hi)
                break
        self._synced = now

    def _flag_matches(self, lo: int, hi: int) -> None:
        sr = self.reg["SR"]
        for ch in range(self._all_channels):
            if sr.value & self._ccif(ch) and self.output_mode(ch) not in MATCH_COUNTING_MODES:
                continue                                # nothing observable changes at this match
            if self._is_input(ch):
                continue
            matches = self._matches_between(ch, lo, hi)
            if matches:
                sr.value |= self._ccif(ch)
                self._matches[ch] += matches

    def _ccif(self, ch: int) -> int:
        return self._channel_flag[ch]

    def _pending_preload(self) -> bool:
        if self.reg["PSC"].value != self._psc or self.reg["ARR"].value != self._arr:
            return True
        for ccr, mask, active in zip(self._channel_ccr, self._channel_mask, self._ccr):
            if ccr.value & mask != active:
                return True
        return False

    def _overflow_update(self, edge: int) -> bool:
        """An overflow/underflow update event at ``edge``; False if it changed nothing."""
        bdtr = self.reg.get("BDTR")
        changes = (self._pending_preload() or self.reg["CR1"].value & OPM
                   or (bdtr is not None and bdtr.value & AOE and not bdtr.value & MOE))
        self.reg["SR"].value |= UIF
        if not changes:
            return False
        top = self._center and self._count_after(edge) != 0       # center-aligned: overflow at ARR
        self._anchor = self._edge_cycle(edge)
        self._phase = 0
        self._load_shadows()
        self._automatic_output_enable()
        if self._center:
            self._count, self._up = (self._arr, False) if top else (0, True)
        else:
            self._count = 0 if self._up else self._arr
        self._one_pulse_stop()
        return True

    def _load_shadows(self) -> None:
        """Preload registers to active registers at an update event."""
        self._psc = self.reg["PSC"].value
        self._arr = self.reg["ARR"].get("ARR")
        for ch in range(self._all_channels):
            self._ccr[ch] = self._ccr_reg(ch).value & self._ccr_mask(ch)
        self._rep = self._repetition()

    def _automatic_output_enable(self) -> None:
        """BDTR.AOE: MOE is set at the update event."""
        bdtr = self.reg.get("BDTR")
        if bdtr is not None and bdtr.value & AOE:
            bdtr.value |= MOE

    def _one_pulse_stop(self) -> None:
        cr1 = self.reg["CR1"]
        if cr1.value & OPM and cr1.value & CEN:
            cr1.value &= ~CEN
            self._running = False

    def _update_generation(self) -> None:
        """EGR.UG: counter and prescaler re-initialised; an update event unless UDIS."""
        cr1 = self.reg["CR1"].value
        if not cr1 & UDIS:
            self._load_shadows()
            self._automatic_output_enable()
            if not cr1 & URS:
                self.reg["SR"].value |= UIF
        if self._center:
            self._up = True                 # UG clears the counter in center-aligned mode
        self._count = 0 if self._up else self._arr
        self._phase = 0
        self._anchor = self._synced
        if not cr1 & UDIS:
            self._one_pulse_stop()

    # -- scheduling -----------------------------------------------------------------------------
    def _reschedule(self) -> None:
        """One event at the next update or compare match that changes a flag or the state.

        A flag that is already set and has no interrupt enabled needs no event (nothing
        observable changes when it is set again), so a timer nobody services costs nothing.
        """
        target = None
        if self._running:
            m_now = self._edges(self._synced)
            sr, dier = self.reg["SR"].value, self.reg["DIER"].value
            bdtr = self.reg.get("BDTR")
            edges = []
            if not sr & UIF or dier & UIF or self.reg["CR1"].value & OPM or self._pending_preload() \
                    or (bdtr is not None and bdtr.value & AOE and not bdtr.value & MOE):
                edges.append(self._next_update_edge(m_now))
            for ch in range(self._all_channels):
                flag = self._ccif(ch)
                if (not sr & flag or dier & flag) and not self._is_input(ch):
                    edges.append(self._next_match_edge(ch, m_now))
            edges = [e for e in edges if e is not None]
            if edges:
                target = self._edge_cycle(min(edges))
        if self._event is not None:
            if target == self._event_cycle:
                return                                      # already scheduled there
            self._event.cancel()
            self._event = None
        if target is not None:
            self._event_cycle = target
            self._event = self.services.after_cycles(max(target - self._now(), 1),
                                                     lambda: self._fire(target), f"{self.name} update/compare")

    def _fire(self, cycle: int) -> None:
        self._event = None
        self._sync(cycle)
        self._update_irqs()
        self._reschedule()

    # -- interrupts -----------------------------------------------------------------------------
    def _update_irqs(self) -> None:
        pending = self.reg["SR"].value & self.reg["DIER"].value & 0xFF     # DIER bits 8+ are DMA enables
        if self.reg["SR"].value & B2IF and self.reg["DIER"].value & BIF:
            pending |= B2IF
        cc = pending & 0x1E
        if self.kind.cc_irq != self.kind.irq:
            self._set_lines(bool(pending & ~0x1E), bool(cc))
        else:
            self._set_lines(bool(pending), False)

    def _set_lines(self, update: bool, cc: bool) -> None:
        if (update, cc) == self._lines:
            return
        if update != self._lines[0]:
            self.services.set_irq_line(self.kind.irq, update)
        if cc != self._lines[1] and self.kind.cc_irq != self.kind.irq:
            self.services.set_irq_line(self.kind.cc_irq, cc)
        self._lines = (update, cc)

    # -- bus access: the state is brought up to the access's cycle first -------------------------
    def read(self, offset: int, size: int) -> int:
        now = self._now()
        flags = self.reg["SR"].value
        self._sync(now)
        if self.reg["SR"].value != flags:
            self._update_irqs()
        if offset & ~3 == 0x24:
            self._prepare_counter_read(now)
        return super().read(offset, size)

    def _prepare_counter_read(self, now: int) -> None:
        """A loop may be polling CNT, and the run loop's poll detector skips a loop that reads
        the same values only up to the next event: the next change of the count gets one when
        it is far enough ahead to be worth skipping to; a count that changes sooner is marked
        ``varies_with_time`` for this read, so the loop simply runs."""
        cnt = self.reg["CNT"]
        e1 = self._first_wrap()
        if not self._running or e1 is None:
            cnt.varies_with_time = False                    # the count stands still
            return
        change = self._edge_cycle(self._edges(now) + 1)
        cnt.varies_with_time = change - now < POLL_HORIZON
        if cnt.varies_with_time or self._event is not None and self._event_cycle <= change:
            return
        if self._tick_event is not None:
            if self._tick_cycle == change:
                return
            self._tick_event.cancel()
        self._tick_cycle = change
        self._tick_event = self.services.after_cycles(change - now, self._tick, f"{self.name} count change")

    def _tick(self) -> None:
        self._tick_event = None                             # the count is computed: nothing to do

    def _cancel_events(self) -> None:
        for event in (self._event, self._tick_event):
            if event is not None:
                event.cancel()
        self._event = self._tick_event = None

    def write_register(self, reg: Register, data: int, lanes: int = 0xFFFFFFFF) -> None:
        now = self._now()
        self._sync(now)
        self._reanchor(now)
        super().write_register(reg, data, lanes)
        self._reschedule()
        self._update_irqs()

    # -- register side effects -------------------------------------------------------------------
    def _cr1_read(self, stored: int) -> int:
        """DIR is read-only in center-aligned mode and shows the current direction."""
        if not self._center:
            return stored
        up = self._up_after(self._edges(self._now())) if self._running else self._up
        return stored & ~DIR | (0 if up else DIR)

    def _cr1_written(self, old: int, new: int) -> None:
        if self.kind.up_down:
            center = (new & CMS_MASK) >> CMS_SHIFT
            if center and not self._center:
                self._up = True                 # center-aligned counting starts upwards
            self._center = center
        if (old ^ new) & DIR and not self._center:
            self._up = not new & DIR
        if not old & ARPE or not new & ARPE:
            self._arr = self.reg["ARR"].get("ARR")        # without preload ARR is active at once
        if new & CEN and not self._running and self._cycles_per_tick is not None:
            self._running = True                          # counting starts at this cycle
            self._anchor = self._synced = self._now()
        elif not new & CEN:
            self._running = False

    def _cnt_read(self, stored: int) -> int:
        value = self.counter_value()
        if self.reg["CR1"].value & UIFREMAP:
            value = value & 0x7FFF_FFFF | (self.reg["SR"].value & UIF) << 31   # UIFCPY
        return value

    def _cnt_written(self, old: int, new: int) -> None:
        value = new & self._max
        if self.kind.width == 32 and self.reg["CR1"].value & UIFREMAP:
            value = value & 0x7FFF_FFFF | self.counter_value() & 0x8000_0000   # bit 31 is UIFCPY
        self._count = value
        self.reg["CNT"].value = value

    def _arr_written(self, old: int, new: int) -> None:
        if not self.reg["CR1"].value & ARPE:
            self._arr = self.reg["ARR"].get("ARR")

    def _ccr_reg(self, ch: int) -> Register:
        return self._channel_ccr[ch]

    def _ccr_mask(self, ch: int) -> int:
        return self._channel_mask[ch]

    def _ccr_written(self, old: int, new: int) -> None:
        for ch in range(self._all_channels):
            if not self._preloaded(ch):
                self._ccr[ch] = self._ccr_reg(ch).value & self._ccr_mask(ch)

    def _ccmr(self, ch: int) -> Register:
        return self._channel_ccmr[ch]

    @staticmethod
    def _mode_in(value: int, ch: int) -> int:
        """OCxM[3:0] of channel ``ch`` in a CCMRx value (OCxM_1 is bit 3)."""
        pos = 8 * (ch % 2)
        return (value >> (4 + pos) & 7) | (value >> (16 + pos) & 1) << 3

    def _preloaded(self, ch: int) -> bool:
        return bool(self._ccmr(ch).value >> (3 + 8 * (ch % 2)) & 1)        # OCxPE

    def output_mode(self, ch: int) -> int:
        return self._mode_in(self._ccmr(ch).value, ch)

    def _is_input(self, ch: int) -> bool:
        return ch < 4 and self._ccmr(ch).value >> (8 * (ch % 2)) & 3 != 0  # CCxS

    def _ccmr_written(self, first: int, old: int, new: int) -> None:
        ccmr = self._ccmr(first)
        for ch in (first, first + 1):
            if ch >= self._all_channels:
                break
            if not self._preloaded(ch):
                self._ccr[ch] = self._ccr_reg(ch).value & self._ccr_mask(ch)
            if self._is_input(ch):
                continue
            mode, was = self._mode_in(new, ch), self._mode_in(old, ch)
            if mode not in OC_MODELLED and mode != was:
                self.services.unmodelled(self, ccmr.offset, 4, True, new, ccmr)
            if mode != was:
                self._start_ref[ch] = self._reference(ch, was)     # the level OCxREF had until now
                self._matches[ch] = 0

    def _egr_written(self, old: int, new: int) -> None:
        data = self.reg["EGR"].last_written
        sr = self.reg["SR"]
        if data & 1:
            self._update_generation()
        for ch in range(self.kind.channels):
            if data >> (ch + 1) & 1:
                flag = self._ccif(ch)
                if self._is_input(ch):                 # capture the counter (RM0490 EGR.CCxG)
                    if sr.value & flag:
                        sr.value |= 1 << (9 + ch)
                    self._ccr_reg(ch).value = self.counter_value()
                sr.value |= flag
        for bit in (COMIF, TIF, BIF, B2IF):                 # COMG, TG, BG, B2G sit at their flag's bit
            if data & bit & self.reg["EGR"].wo_mask:
                sr.value |= bit
                if bit in (BIF, B2IF):
                    self.reg["BDTR"].value &= ~MOE         # a break disables the outputs
        self.reg["EGR"].value = 0

    # -- outputs --------------------------------------------------------------------------------
    def _reference(self, ch: int, mode: Optional[int] = None) -> int:
        """OCxREF now, in ``mode`` (default: the channel's mode) (RM0490 "Output compare mode", "PWM mode")."""
        mode = self.output_mode(ch) if mode is None else mode
        matched = self._matches[ch]
        if mode == OC_ACTIVE_ON_MATCH:
            return 1 if matched else self._start_ref[ch]
        if mode == OC_INACTIVE_ON_MATCH:
            return 0 if matched else self._start_ref[ch]
        if mode == OC_TOGGLE:
            return self._start_ref[ch] ^ (matched & 1)
        if mode == OC_FORCED_ACTIVE:
            return 1
        if mode == OC_FORCED_INACTIVE:
            return 0
        if mode in (OC_PWM1, OC_PWM2):
            count, c = self.counter_value(), self._ccr[ch]
            up = self._up_after(self._edges(self._now())) if self._running else self._up
            active = count < c if up else count <= c
            return int(active) if mode == OC_PWM1 else int(not active)
        return self._start_ref[ch]

    def channel_output(self, channel: int) -> Optional[int]:
        """Level of output OCx (channel 1..6) now: OCxREF xor CCxP, None while it is disabled
        (CCxE = 0, or MOE = 0 on a timer with a break function).  Modes 8-15 are reported as
        unmodelled when selected; they read as frozen."""
        ch = channel - 1
        self._sync(self._now())
        ccer = self.reg["CCER"]
        bdtr = self.reg.get("BDTR")
        if not ccer.get(f"CC{channel}E") or (bdtr is not None and not bdtr.value & MOE):
            return None
        return self._reference(ch) ^ ccer.get(f"CC{channel}P")


def make_timer(name: str, services: Optional[ChipServices] = None, **clocks) -> Timer:
    """Build timer ``name`` ("TIM1", "TIM2", ...) at its RM0490 base."""
    return Timer(KINDS[name], services, **clocks)


def oracle_instances(services: ChipServices) -> list[Timer]:
    """Every timer, for checks that walk all instances of a model (the SVD oracle)."""
    return [make_timer(name, services) for name in KINDS]
