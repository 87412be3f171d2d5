"""Timer firmware written the way the HAL drives the timers (images/tests/tim*.c), on the whole machine."""
from __future__ import annotations

from emulator.core.runloop import EndReason
from tests.conftest import boot

HCLK_RESET_HZ = 12_000_000


def assert_exit(end) -> None:
    assert end.reason is EndReason.EXIT and end.exit_status == 0, end


def entries(m, name: str) -> list[int]:
    return [e.cycle for e in m.trace.of_kind("exception.entry") if e.text.startswith(name)]


def measure_delay(m) -> float:
    """Simulated seconds between delay_start() and delay_end()."""
    assert m.run(max_seconds=1, stop_at=m.symbol("delay_start")).reason is EndReason.STOP_AT
    start = m.seconds()
    assert m.run(max_seconds=1, stop_at=m.symbol("delay_end")).reason is EndReason.STOP_AT
    return m.seconds() - start


def test_tim3_timebase_hal_delay_lasts_ten_to_eleven_ms_at_both_clock_settings():
    m = boot("tim3_timebase", strict=True)
    first = measure_delay(m)                       # 12 MHz, APB /1: timer clock 12 MHz, PSC 11
    second = measure_delay(m)                      # 48 MHz, APB /2: timer clock 2 x 24 MHz, PSC 47
    assert 10e-3 < first <= 11e-3 + 10e-6, first
    assert 10e-3 < second <= 11e-3 + 10e-6, second
    assert_exit(m.run(max_seconds=5))
    assert m.guest_output == "tick 11 11 1000\n"
    assert not m.trace.of_kind("unmodelled")


def test_tim3_update_interrupt_comes_every_millisecond():
    m = boot("tim3_timebase")
    assert m.run(max_seconds=1, stop_at=m.symbol("delay_end")).reason is EndReason.STOP_AT
    ticks = entries(m, "TIM3")
    assert len(ticks) >= 10
    assert {b - a for a, b in zip(ticks, ticks[1:])} == {HCLK_RESET_HZ // 1000}


def test_tim3_timebase_idle_loop_fast_forwards_through_wfi():
    m = boot("tim3_timebase")
    assert m.run(max_seconds=1, stop_at=m.symbol("delay_end")).reason is EndReason.STOP_AT
    assert m.run(max_seconds=1, stop_at=m.symbol("delay_end")).reason is EndReason.STOP_AT
    cycles, instructions = m.clock.cycles, m.loop.instructions
    assert_exit(m.run(max_seconds=5))
    idle_cycles = m.clock.cycles - cycles
    assert idle_cycles >= 48_000_000 * 0.99        # one second at 48 MHz
    assert m.loop.instructions - instructions < idle_cycles // 1000   # asleep between the ticks


def test_tim16_pwm_configuration_reads_back_and_compare_interrupts_every_period():
    m = boot("tim16_pwm", strict=True)
    assert_exit(m.run(max_seconds=1))
    ccmr1, ccer, ccr1, bdtr, arr, psc, pulses = (int(v, 16) for v in m.guest_output.split())
    assert ccmr1 == 0x68                           # OC1M = PWM mode 1, OC1PE
    assert ccer == 0x1 and ccr1 == 250 and bdtr == 0x8000 and arr == 999 and psc == 11
    assert pulses == 5
    compares = entries(m, "TIM16")
    assert len(compares) == 5
    assert {b - a for a, b in zip(compares, compares[1:])} == {HCLK_RESET_HZ // 1000}
    assert not m.trace.of_kind("unmodelled")


def test_tim16_pwm_output_is_high_for_the_first_quarter_of_each_period():
    m = boot("tim16_pwm")
    tim16 = m.timers["TIM16"]
    assert m.run(max_seconds=1, stop_at=m.symbol("IRQ21_Handler")).reason is EndReason.STOP_AT
    assert tim16.channel_output(1) == 0            # just past CCR1 = 250
    m.run(max_seconds=800e-6)                      # the next period has started
    assert tim16.counter_value() < 250 and tim16.channel_output(1) == 1


def test_tim17_one_pulse_timeout_fires_once_after_5_ms_and_stops_the_counter():
    m = boot("tim17_one_pulse", strict=True)
    assert m.run(max_seconds=1, stop_at=m.symbol("timeout_armed")).reason is EndReason.STOP_AT
    armed = m.clock.cycles
    assert_exit(m.run(max_seconds=1))
    assert m.guest_output == "timeout 1 cen 0 cnt 0\n"
    (fired,) = entries(m, "TIM17")
    assert abs((fired - armed) - 5 * HCLK_RESET_HZ // 1000) <= 4
    assert not m.trace.of_kind("unmodelled")


def stop_cycles(m, symbol: str, times: int = 1) -> list[int]:
    cycles = []
    for _ in range(times):
        assert m.run(max_seconds=1, stop_at=m.symbol(symbol)).reason is EndReason.STOP_AT
        cycles.append(m.clock.cycles)
    return cycles


def test_polling_uif_without_interrupts_sees_each_period_and_is_fast_forwarded():
    m = boot("tim_poll", strict=True)
    periods = stop_cycles(m, "period_done", 3)
    assert [b - a for a, b in zip(periods, periods[1:])] == [12_000, 12_000]
    assert m.loop.instructions_skipped > 20_000     # the waits were skipped, not executed


def test_polling_a_slow_counter_waits_exactly_until_it_reaches_the_value():
    m = boot("tim_poll", strict=True)
    (started,) = stop_cycles(m, "counter_started")
    (done,) = stop_cycles(m, "counter_done")
    assert 50 * 1200 - 20 <= done - started <= 50 * 1200 + 20
    assert_exit(m.run(max_seconds=1))
    assert m.guest_output == "polled\n"


def test_a_run_continued_from_a_snapshot_keeps_the_tim3_timebase_ticking(tmp_path):
    from emulator.analysis.snapshot import JumpSnapshot, restore_snapshot, take_snapshot
    from emulator.image import load_elf
    from emulator.machine import Machine
    from tests.conftest import elf
    stopped = boot("tim3_timebase")
    assert stopped.run(max_seconds=1, stop_at=stopped.symbol("delay_end")).reason is EndReason.STOP_AT
    stopped.run(max_seconds=2.5e-3)                   # inside the second delay, mid-period
    snap = take_snapshot(stopped, "mid", with_memories=True)
    assert snap.registers["TIM3.CNT"].value == stopped.timers["TIM3"].counter_value() > 0
    snap.save(tmp_path / "mid.json")
    resumed = Machine()
    resumed.load(load_elf(elf("tim3_timebase")))
    resumed.reset("power")
    restore_snapshot(resumed, JumpSnapshot.load(tmp_path / "mid.json"))
    assert resumed.timers["TIM3"].counter_value() == snap.registers["TIM3.CNT"].value
    start = resumed.seconds()
    assert resumed.run(max_seconds=1, stop_at=resumed.symbol("delay_end")).reason is EndReason.STOP_AT
    assert 7.5e-3 < resumed.seconds() - start <= 8.5e-3 + 10e-6     # the rest of the 10-11 ms delay
    assert_exit(resumed.run(max_seconds=5))
    assert resumed.guest_output == "tick 11 11 1000\n"


def test_tim1_repetition_counter_spaces_update_interrupts_three_periods_apart_on_their_own_line():
    m = boot("tim1_pwm_repetition", strict=True)
    assert_exit(m.run(max_seconds=1))
    assert m.guest_output == "updates 3 compares 9\n"
    updates, compares = entries(m, "TIM1_BRK_UP_TRG_COM"), entries(m, "TIM1_CC")
    period = HCLK_RESET_HZ // 1000
    assert {b - a for a, b in zip(updates, updates[1:])} == {3 * period}
    assert {b - a for a, b in zip(compares, compares[1:])} == {period}
    assert updates[0] - compares[0] == period // 2 + 2 * period       # CCR1 = 500 of 1000; UEV on the 3rd overflow
    assert not m.trace.of_kind("unmodelled")
