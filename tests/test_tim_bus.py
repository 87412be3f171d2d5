"""Bus-level tests of the timer model (peripherals/tim.py): no firmware, a clock moved by hand."""
from __future__ import annotations

import pytest

from peripherals.rcc import ResetClockControl
from peripherals.tim import make_timer
from tests.fakes import FakeClock

HCLK = 12_000_000
# register offsets (RM0490 TIMx register maps)
CR1, CR2, DIER, SR, EGR, CCMR1, CCER, CNT, PSC, ARR, RCR, CCR1, CCR2, BDTR = (
    0x00, 0x04, 0x0C, 0x10, 0x14, 0x18, 0x20, 0x24, 0x28, 0x2C, 0x30, 0x34, 0x38, 0x44)
CCMR3, CCR5 = 0x54, 0x58
CEN, UDIS, URS, OPM, DIR, ARPE, UIFREMAP = 1, 2, 4, 8, 16, 128, 1 << 11
UIF, CC1IF, CC2IF, BIF, CC5IF = 1, 2, 4, 1 << 7, 1 << 16
UG, CC1G, BG = 1, 2, 1 << 7
MOE, AOE = 1 << 15, 1 << 14
PWM1 = 6 << 4
OC1PE = 1 << 3


class Clock(FakeClock):
    """FakeClock that records interrupt line changes with their cycle."""

    def __init__(self) -> None:
        super().__init__(HCLK)
        self.lines: dict[int, bool] = {}
        self.rises: list[tuple[int, int]] = []

    def set_irq_line(self, irq, level) -> None:
        if level and not self.lines.get(irq):
            self.rises.append((irq, self.now_cycles()))
        self.lines[irq] = level

    def cycles(self, n: int) -> None:
        self.advance(n / HCLK)


@pytest.fixture
def clock():
    return Clock()


def timer(name: str, clock: Clock, **kw):
    t = make_timer(name, clock, **kw)
    t.reset()
    return t


def timebase(t, psc: int, arr: int, cr1: int = 0) -> None:
    """As HAL_TIM_Base_Init does: CR1, ARR, PSC, then UG to load the prescaler; UIF cleared."""
    t.write(CR1, 4, cr1)
    t.write(ARR, 4, arr)
    t.write(PSC, 4, psc)
    t.write(EGR, 4, UG)
    t.write(SR, 4, ~UIF & 0xFFFF)


# -- time base ---------------------------------------------------------------------------------
def test_counter_counts_kernel_clock_divided_by_prescaler(clock):
    t = timer("TIM3", clock)
    timebase(t, psc=11, arr=0xFFFF)
    t.write(CR1, 4, CEN)
    clock.cycles(12 * 500 + 11)
    assert t.read(CNT, 4) == 500
    clock.cycles(1)
    assert t.read(CNT, 4) == 501


def test_counter_stands_still_until_cen_and_after_it_is_cleared(clock):
    t = timer("TIM14", clock)
    timebase(t, psc=0, arr=0xFFFF)
    clock.cycles(100)
    assert t.read(CNT, 4) == 0
    t.write(CR1, 4, CEN)
    clock.cycles(100)
    t.write(CR1, 4, 0)
    clock.cycles(100)
    assert t.read(CNT, 4) == 100
    t.write(CR1, 4, CEN)
    clock.cycles(5)
    assert t.read(CNT, 4) == 105


def test_overflow_wraps_to_zero_and_sets_uif_after_arr_plus_one_counts(clock):
    t = timer("TIM3", clock)
    timebase(t, psc=0, arr=99)
    t.write(CR1, 4, CEN)
    clock.cycles(99)
    assert t.read(CNT, 4) == 99 and t.read(SR, 4) & UIF == 0
    clock.cycles(1)
    assert t.read(CNT, 4) == 0 and t.read(SR, 4) & UIF


def test_uif_is_cleared_by_writing_zero_and_set_again_at_the_next_overflow(clock):
    t = timer("TIM3", clock)
    timebase(t, psc=0, arr=99)
    t.write(CR1, 4, CEN)
    clock.cycles(150)
    t.write(SR, 4, ~UIF & 0xFFFF)                   # rc_w0
    assert t.read(SR, 4) & UIF == 0
    clock.cycles(49)
    assert t.read(SR, 4) & UIF == 0
    clock.cycles(1)
    assert t.read(SR, 4) & UIF


def test_update_interrupt_rises_once_per_period_when_uie_is_set(clock):
    t = timer("TIM3", clock)
    timebase(t, psc=11, arr=999)                     # 1 kHz at 12 MHz, as a HAL timebase
    t.write(DIER, 4, UIF)
    t.write(CR1, 4, CEN)
    for _ in range(3):
        clock.cycles(12_000)
        assert clock.lines[16]
        t.write(SR, 4, ~UIF & 0xFFFF)                # the ISR clears UIF
        assert not clock.lines[16]
    assert [cycle for irq, cycle in clock.rises] == [12_000, 24_000, 36_000]


def test_ug_sets_uif_unless_urs_and_reloads_the_counter(clock):
    t = timer("TIM3", clock)
    t.write(ARR, 4, 999)
    t.write(CR1, 4, CEN)
    clock.cycles(300)
    t.write(EGR, 4, UG)
    assert t.read(CNT, 4) == 0 and t.read(SR, 4) & UIF
    t.write(SR, 4, 0)
    t.write(CR1, 4, CEN | URS)
    clock.cycles(300)
    t.write(EGR, 4, UG)
    assert t.read(CNT, 4) == 0 and t.read(SR, 4) & UIF == 0


def test_udis_blocks_update_events_and_preload_transfer(clock):
    t = timer("TIM3", clock)
    timebase(t, psc=0, arr=99, cr1=ARPE)
    t.write(CR1, 4, ARPE | UDIS | CEN)
    t.write(ARR, 4, 9)
    clock.cycles(100)
    assert t.read(SR, 4) & UIF == 0
    clock.cycles(50)
    assert t.read(CNT, 4) == 50                      # still counting to the old ARR
    t.write(EGR, 4, UG)                              # UG with UDIS: counter reset, no update
    assert t.read(SR, 4) & UIF == 0 and t.read(CNT, 4) == 0
    clock.cycles(20)
    assert t.read(CNT, 4) == 20


def test_prescaler_change_takes_effect_at_the_next_update(clock):
    t = timer("TIM3", clock)
    timebase(t, psc=0, arr=99)
    t.write(CR1, 4, CEN)
    clock.cycles(50)
    t.write(PSC, 4, 1)                               # /2 from the next update event on
    clock.cycles(49)
    assert t.read(CNT, 4) == 99
    clock.cycles(1 + 2 * 10)
    assert t.read(CNT, 4) == 10


def test_arr_preload_waits_for_update_when_arpe_is_set(clock):
    t = timer("TIM3", clock)
    timebase(t, psc=0, arr=99, cr1=ARPE)
    t.write(CR1, 4, ARPE | CEN)
    clock.cycles(10)
    t.write(ARR, 4, 19)
    assert t.read(ARR, 4) == 19
    clock.cycles(89)
    assert t.read(CNT, 4) == 99 and t.read(SR, 4) & UIF == 0
    clock.cycles(1 + 20)
    assert t.read(CNT, 4) == 0                       # the new period of 20 counts


def test_arr_without_preload_applies_at_once(clock):
    t = timer("TIM3", clock)
    timebase(t, psc=0, arr=99)
    t.write(CR1, 4, CEN)
    clock.cycles(10)
    t.write(ARR, 4, 19)
    clock.cycles(9)
    assert t.read(CNT, 4) == 19 and t.read(SR, 4) & UIF == 0
    clock.cycles(1)
    assert t.read(CNT, 4) == 0 and t.read(SR, 4) & UIF


def test_arr_zero_blocks_the_counter(clock):
    t = timer("TIM3", clock)
    timebase(t, psc=0, arr=0)
    t.write(CR1, 4, CEN)
    clock.cycles(1000)
    assert t.read(CNT, 4) == 0 and t.read(SR, 4) & UIF == 0


def test_one_pulse_mode_stops_the_counter_at_the_update_event(clock):
    t = timer("TIM16", clock)
    timebase(t, psc=11, arr=499)                      # a 500 us one-shot at 12 MHz
    t.write(DIER, 4, UIF)
    t.write(CR1, 4, OPM | CEN)
    clock.cycles(12 * 500 - 1)
    assert t.read(CR1, 4) & CEN and not clock.lines.get(21)
    clock.cycles(1)
    assert t.read(CR1, 4) & CEN == 0 and t.read(SR, 4) & UIF and clock.lines[21]
    clock.cycles(12_000)
    assert t.read(CNT, 4) == 0 and [c for _, c in clock.rises] == [6000]


def test_down_counting_runs_from_arr_to_zero_then_underflows(clock):
    t = timer("TIM2", clock)
    timebase(t, psc=0, arr=99, cr1=DIR)
    assert t.read(CNT, 4) == 99                      # UG in downcounting loads ARR
    t.write(CR1, 4, DIR | CEN)
    clock.cycles(99)
    assert t.read(CNT, 4) == 0 and t.read(SR, 4) & UIF == 0
    clock.cycles(1)
    assert t.read(CNT, 4) == 99 and t.read(SR, 4) & UIF


def test_tim2_counts_32_bits_and_tim3_wraps_at_16(clock):
    tim2, tim3 = timer("TIM2", clock), timer("TIM3", clock)
    for t in (tim2, tim3):
        t.write(CR1, 4, CEN)
    clock.cycles(70_000)
    assert tim2.read(CNT, 4) == 70_000
    assert tim3.read(CNT, 4) == 70_000 - 65_536 and tim3.read(SR, 4) & UIF
    assert tim2.read(SR, 4) & UIF == 0
    assert tim3.read(ARR, 4) == 0xFFFF and tim2.read(ARR, 4) == 0xFFFF_FFFF


def test_counter_write_moves_the_count(clock):
    t = timer("TIM3", clock)
    timebase(t, psc=0, arr=999)
    t.write(CR1, 4, CEN)
    clock.cycles(10)
    t.write(CNT, 4, 995)
    clock.cycles(4)
    assert t.read(CNT, 4) == 999 and t.read(SR, 4) & UIF == 0
    clock.cycles(1)
    assert t.read(SR, 4) & UIF


def test_uifremap_copies_uif_into_cnt_bit_31(clock):
    t = timer("TIM3", clock)
    timebase(t, psc=0, arr=9, cr1=UIFREMAP)
    t.write(CR1, 4, UIFREMAP | CEN)
    clock.cycles(12)
    assert t.read(CNT, 4) == 0x8000_0002


def test_repetition_counter_makes_an_update_every_rcr_plus_one_overflows(clock):
    t = timer("TIM1", clock)
    t.write(RCR, 4, 2)
    timebase(t, psc=0, arr=9)
    t.write(DIER, 4, UIF)
    t.write(CR1, 4, CEN)
    for _ in range(2):
        clock.cycles(30)
        assert clock.lines[13]
        t.write(SR, 4, 0)
    clock.cycles(29)
    assert not clock.lines[13]
    assert [c for _, c in clock.rises] == [30, 60]


def test_kernel_clock_ratio_change_continues_from_the_current_count(clock):
    ratio = [1]
    t = timer("TIM3", clock, kernel_clock_hz=lambda: HCLK // ratio[0], hclk_hz=lambda: HCLK)
    timebase(t, psc=0, arr=0xFFFF)
    t.write(CR1, 4, CEN)
    clock.cycles(100)
    ratio[0] = 4
    t.clock_changed()
    clock.cycles(400)
    assert t.read(CNT, 4) == 200


def test_timer_kernel_clock_is_pclk_or_twice_pclk_when_apb_is_divided():
    rcc = ResetClockControl()
    rcc.reset()
    assert rcc.timer_clock_hz() == rcc.pclk_hz() == 12_000_000
    rcc.write(0x08, 4, 5 << 12)                      # PPRE = /4
    assert rcc.pclk_hz() == 3_000_000 and rcc.timer_clock_hz() == 6_000_000
    rcc.write(0x08, 4, 4 << 12)                      # PPRE = /2: TIMPCLK = HCLK
    assert rcc.timer_clock_hz() == 12_000_000


def test_rcc_prescaler_change_reaches_the_timer_listeners():
    rcc = ResetClockControl()
    rcc.reset()
    heard = []
    rcc.clock_listeners.append(lambda: heard.append(rcc.timer_clock_hz()))
    rcc.write(0x08, 4, 6 << 12)
    assert heard == [3_000_000]


# -- capture/compare -----------------------------------------------------------------------------
def test_compare_match_sets_ccif_when_the_counter_reaches_ccr(clock):
    t = timer("TIM3", clock)
    timebase(t, psc=0, arr=999)
    t.write(CCR1, 4, 300)
    t.write(CCR2, 4, 700)
    t.write(SR, 4, 0)
    t.write(DIER, 4, CC1IF)
    t.write(CR1, 4, CEN)
    clock.cycles(299)
    assert t.read(SR, 4) & (CC1IF | CC2IF) == 0 and not clock.lines.get(16)
    clock.cycles(1)
    assert t.read(SR, 4) & CC1IF and clock.lines[16]
    clock.cycles(400)
    assert t.read(SR, 4) & CC2IF
    assert [c for _, c in clock.rises] == [300]


def test_compare_interrupt_repeats_every_period(clock):
    t = timer("TIM17", clock)
    timebase(t, psc=0, arr=99)
    t.write(CCR1, 4, 40)
    t.write(DIER, 4, CC1IF)
    t.write(CR1, 4, CEN)
    for _ in range(3):
        clock.cycles(100)
        t.write(SR, 4, ~CC1IF & 0xFFFF)
    assert [c for _, c in clock.rises] == [40, 140, 240]


def test_ccr_preload_takes_effect_at_the_update_when_ocpe_is_set(clock):
    t = timer("TIM3", clock)
    t.write(CCMR1, 4, PWM1 | OC1PE)
    timebase(t, psc=0, arr=99)
    t.write(CCR1, 4, 50)
    t.write(EGR, 4, UG)                              # loads CCR1 now
    t.write(SR, 4, 0)
    t.write(CR1, 4, CEN)
    clock.cycles(10)
    t.write(CCR1, 4, 20)                             # preloaded: the match stays at 50 this period
    clock.cycles(15)
    assert t.read(SR, 4) & CC1IF == 0
    clock.cycles(30)
    assert t.read(SR, 4) & CC1IF
    t.write(SR, 4, 0)
    clock.cycles(45 + 20)                            # next period: match at 20
    assert t.read(SR, 4) & CC1IF


def test_ccr_above_arr_matches_at_the_overflow(clock):
    t = timer("TIM14", clock)
    timebase(t, psc=0, arr=99)
    t.write(CCR1, 4, 500)
    t.write(SR, 4, 0)
    t.write(CR1, 4, CEN)
    clock.cycles(99)
    assert t.read(SR, 4) & CC1IF == 0
    clock.cycles(1)
    assert t.read(SR, 4) & CC1IF


def test_tim1_internal_channel_5_sets_cc5if(clock):
    t = timer("TIM1", clock)
    timebase(t, psc=0, arr=99)
    t.write(CCR5, 4, 60)
    t.write(SR, 4, 0)
    t.write(CR1, 4, CEN)
    clock.cycles(60)
    assert t.read(SR, 4) & CC5IF and not clock.lines.get(14)


def test_tim1_compare_interrupt_uses_the_cc_line(clock):
    t = timer("TIM1", clock)
    timebase(t, psc=0, arr=99)
    t.write(CCR1, 4, 10)
    t.write(DIER, 4, CC1IF)
    t.write(CR1, 4, CEN)
    clock.cycles(10)
    assert clock.lines[14] and not clock.lines.get(13)


def test_egr_ccxg_sets_the_flag_and_bg_clears_moe(clock):
    t = timer("TIM1", clock)
    t.write(BDTR, 4, MOE)
    t.write(EGR, 4, CC1G | BG)
    assert t.read(SR, 4) & (CC1IF | BIF) == CC1IF | BIF
    assert t.read(BDTR, 4) & MOE == 0
    assert t.read(EGR, 4) == 0


def test_pwm_mode_1_output_is_active_while_the_counter_is_below_ccr(clock):
    t = timer("TIM16", clock)
    t.write(CCMR1, 4, PWM1 | OC1PE)
    t.write(CCR1, 4, 25)
    timebase(t, psc=0, arr=99)
    t.write(CCER, 4, 1)                              # CC1E
    assert t.channel_output(1) is None               # MOE = 0: outputs off
    t.write(BDTR, 4, MOE)
    t.write(CR1, 4, CEN)
    clock.cycles(24)
    assert t.channel_output(1) == 1
    clock.cycles(1)
    assert t.channel_output(1) == 0
    t.write(CCER, 4, 0b11)                           # CC1P: active low
    assert t.channel_output(1) == 1


def test_aoe_sets_moe_at_the_next_update(clock):
    t = timer("TIM16", clock)
    timebase(t, psc=0, arr=99)
    t.write(BDTR, 4, AOE)
    t.write(CR1, 4, CEN)
    clock.cycles(99)
    assert t.read(BDTR, 4) & MOE == 0
    clock.cycles(1)
    assert t.read(BDTR, 4) & MOE


def test_unmodelled_fields_and_modes_are_reported(clock):
    t = timer("TIM3", clock)
    t.write(CR1, 4, 1 << 8)                          # CKD: filter sampling clock
    t.write(CCMR1, 4, 1 << 16)                       # OC1M = 1000: retriggerable one-pulse mode 1
    t.write(CR2, 4, 0)                               # writing reset values is not reported
    assert [(name, off) for name, off, _ in clock.unmodelled_accesses] == [("TIM3", CR1), ("TIM3", CCMR1)]


def test_rcc_reset_stops_the_timer_and_restores_reset_values(clock):
    t = timer("TIM3", clock)
    timebase(t, psc=0, arr=99)
    t.write(DIER, 4, UIF)
    t.write(CR1, 4, CEN)
    t.reset()
    assert not clock.pending_events() or all(e.cancelled for e in clock.pending_events())
    clock.cycles(1000)
    assert t.read(CNT, 4) == 0 and t.read(ARR, 4) == 0xFFFF and t.read(SR, 4) == 0


def test_a_running_timer_schedules_an_event_only_while_a_flag_can_still_change(clock):
    t = timer("TIM3", clock)
    timebase(t, psc=0, arr=99)
    t.write(CR1, 4, CEN)
    assert clock.pending_events()                    # UIF and CCxIF are clear: their setting is an event
    clock.cycles(100)
    assert t.read(SR, 4) == 0x1F
    assert not clock.pending_events()                # all set, no interrupt enabled: nothing to schedule
    t.write(SR, 4, ~UIF & 0xFFFF)
    (event,) = clock.pending_events()
    assert event.cycle == 200


def test_a_cnt_read_prepares_the_poll_detector_for_a_fast_or_a_slow_count(clock):
    fast, slow = timer("TIM2", clock), timer("TIM3", clock)
    timebase(fast, psc=0, arr=0xFFFF_FFFF)
    timebase(slow, psc=999, arr=0xFFFF)
    for t in (fast, slow):
        t.write(SR, 4, 0xFFFF)                        # keep the flags from asking for events
        t.write(CR1, 4, CEN)
    clock.cycles(1500)
    fast.read(CNT, 4)
    assert fast.reg["CNT"].varies_with_time           # changes every cycle: no skipping around it
    slow.read(CNT, 4)
    assert not slow.reg["CNT"].varies_with_time
    assert 2000 in [e.cycle for e in clock.pending_events() if e.name == "TIM3 count change"]


def test_each_timer_raises_the_interrupt_lines_named_after_it():
    from peripherals import c071
    from peripherals.tim import KINDS
    for name, kind in KINDS.items():
        assert c071.IRQ_NAMES[kind.irq].startswith(name)
        assert c071.IRQ_NAMES[kind.cc_irq].startswith(name)
    assert c071.IRQ_NAMES[KINDS["TIM1"].cc_irq] == "TIM1_CC"


def test_toggle_mode_flips_the_output_at_each_match_and_active_on_match_latches(clock):
    t = timer("TIM3", clock)
    t.write(CCMR1, 4, (3 << 4) | (1 << 12))          # OC1M = toggle, OC2M = active on match
    t.write(CCR1, 4, 10)
    t.write(CCR2, 4, 30)
    timebase(t, psc=0, arr=49)
    t.write(CCER, 4, 0x11)                           # CC1E, CC2E
    t.write(CR1, 4, CEN)
    levels = []
    for _ in range(4):
        clock.cycles(25)
        levels.append((t.channel_output(1), t.channel_output(2)))
    assert levels == [(1, 0), (1, 1), (0, 1), (0, 1)]


def test_down_counting_compare_match_comes_when_the_counter_reaches_ccr(clock):
    t = timer("TIM1", clock)
    timebase(t, psc=0, arr=99, cr1=DIR)
    t.write(CCR1, 4, 30)
    t.write(SR, 4, 0)
    t.write(DIER, 4, CC1IF)
    t.write(CR1, 4, DIR | CEN)
    clock.cycles(200)
    assert [c for _, c in clock.rises] == [69]           # 99 -> 30 takes 69 counts


def test_tim1_advanced_registers_read_back_with_their_widths(clock):
    t = timer("TIM1", clock)
    bdtr = 0x3FFF_FFFF & ~(1 << 15)                      # every BDTR field but MOE
    t.write(BDTR, 4, bdtr)
    assert t.read(BDTR, 4) == bdtr
    t.write(RCR, 4, 0xFFFF_FFFF)
    assert t.read(RCR, 4) == 0xFFFF                      # REP[15:0] on TIM1
    t.write(CCMR3, 4, 0xFFFF_FFFF)
    assert t.read(CCMR3, 4) == 0x0101_FCFC               # OC5/OC6 fields only
    t.write(CCR5, 4, 0xE000_1234)
    assert t.read(CCR5, 4) == 0xE000_1234                # GC5C1..3 stored (reported: not modelled)
    assert t.read(0x60, 4) == 1 and t.read(0x64, 4) == 1  # AF1.BKINE, AF2.BK2INE reset to 1
    tim16 = timer("TIM16", clock)
    tim16.write(RCR, 4, 0xFFFF)
    assert tim16.read(RCR, 4) == 0xFF                    # REP[7:0] on TIM16/17
    assert tim16.read(CCMR1, 4) == 0 and tim16.read(0x60, 4) == 1


def test_writes_to_registers_a_timer_lacks_are_reported(clock):
    tim14 = timer("TIM14", clock)
    tim14.write(BDTR, 4, MOE)                            # TIM14 has no BDTR
    tim14.write(RCR, 4, 1)                               # ... and no repetition counter
    assert [(n, o) for n, o, _ in clock.unmodelled_accesses] == [("TIM14", BDTR), ("TIM14", RCR)]


def test_counter_holds_while_the_kernel_clock_is_stopped(clock):
    kernel = [HCLK]
    t = timer("TIM3", clock, kernel_clock_hz=lambda: kernel[0], hclk_hz=lambda: HCLK)
    timebase(t, psc=0, arr=0xFFFF)
    t.write(CR1, 4, CEN)
    clock.cycles(100)
    kernel[0] = 0
    t.clock_changed()
    clock.cycles(1000)
    assert t.read(CNT, 4) == 100 and t.read(CR1, 4) & CEN
    kernel[0] = HCLK
    t.clock_changed()
    clock.cycles(10)
    assert t.read(CNT, 4) == 110


def test_tim14_reserved_cr2_reads_zero_and_ignores_writes_quietly(clock):
    t = timer("TIM14", clock)
    t.write(CR2, 4, t.read(CR2, 4) | 0x300)              # the HAL's read-modify-write of CR2
    assert t.read(CR2, 4) == 0 and not clock.unmodelled_accesses


# -- center-aligned counting -----------------------------------------------------------------
CMS1, CMS2, CMS3 = 1 << 5, 2 << 5, 3 << 5


def test_center_aligned_counter_goes_up_to_arr_and_back_with_an_update_at_each_end(clock):
    t = timer("TIM3", clock)
    timebase(t, psc=0, arr=10, cr1=CMS1)
    t.write(DIER, 4, UIF)
    t.write(CR1, 4, CMS1 | CEN)
    seen = []
    for _ in range(6):
        clock.cycles(5)
        seen.append((t.read(CNT, 4), t.read(CR1, 4) & DIR))
        t.write(SR, 4, ~UIF & 0xFFFF)
    assert seen == [(5, 0), (10, DIR), (5, DIR), (0, 0), (5, 0), (10, DIR)]
    assert [c for _, c in clock.rises] == [10, 20, 30]


def test_center_aligned_modes_choose_the_counting_direction_of_compare_flags(clock):
    rises = {}
    for cms in (CMS1, CMS2, CMS3):
        c = Clock()
        t = timer("TIM2", c)
        timebase(t, psc=0, arr=10, cr1=cms)
        t.write(CCR1, 4, 4)
        t.write(SR, 4, 0)
        t.write(DIER, 4, CC1IF)
        t.write(CR1, 4, cms | CEN)
        for _ in range(5):
            c.cycles(10)
            t.write(SR, 4, 0)
        rises[cms >> 5] = [cycle for _, cycle in c.rises]
    assert rises == {1: [16, 36], 2: [4, 24, 44], 3: [4, 16, 24, 36, 44]}


def test_center_aligned_repetition_counter_updates_once_per_full_period(clock):
    t = timer("TIM1", clock)
    t.write(RCR, 4, 1)
    timebase(t, psc=0, arr=10, cr1=CMS1)
    t.write(DIER, 4, UIF)
    t.write(CR1, 4, CMS1 | CEN)
    for _ in range(3):
        clock.cycles(20)
        t.write(SR, 4, 0)
    assert [c for _, c in clock.rises] == [20, 40, 60]       # at each underflow


def test_center_aligned_pwm_is_symmetric_around_the_underflow(clock):
    t = timer("TIM1", clock)
    t.write(CCMR1, 4, PWM1)
    t.write(CCR1, 4, 4)
    timebase(t, psc=0, arr=10, cr1=CMS1)
    t.write(CCER, 4, 1)
    t.write(BDTR, 4, MOE)
    t.write(CR1, 4, CMS1 | CEN)
    levels = []
    for _ in range(20):
        levels.append(t.channel_output(1))
        clock.cycles(1)
    assert levels == [1] * 4 + [0] * 12 + [1] * 4    # active at counts 0-3 going up and 4-1 going down
