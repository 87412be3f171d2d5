"""Firmware that waits for a button, sleeps in Stop or Standby, or trusts the WWDG, with the pin
driven from the test (images/tests/exti_button.c, stop_exti.c, standby_wkup.c, wwdg.c)."""
from __future__ import annotations

import pytest

from emulator.core.runloop import EndReason
from tests.conftest import boot

WWDGRSTF = 1 << 30              # RCC_CSR2 (RM0490 §6.4.27)
SBF = 1 << 8                    # PWR_SR1
WWDG_COUNT_S = 4096 * 8 / 12e6  # one WWDG count at WDGTB = 3, PCLK 12 MHz


def _idle(m, seconds: float = 1e-3):
    end = m.run(max_seconds=seconds)
    assert end.reason is EndReason.TIME_LIMIT, end
    return end


def _led(m) -> int:
    return m.gpio["GPIOA"].pin_level(5)


# -- EXTI: a button on PC13 (EXTI4_15) -------------------------------------------------------
def test_each_button_press_toggles_the_led_through_exti4_15():
    m = boot("exti_button", strict=True)
    m.drive_pin("PC13", 1)                                      # released: the board pulls it up
    _idle(m)
    assert _led(m) == 0
    leds = []
    for level in (0, 1, 0, 1):
        m.drive_pin("PC13", level)
        _idle(m)
        leds.append(_led(m))
    assert leds == [1, 1, 0, 0]                                 # presses (falling edges) toggle, releases do not
    m.drive_pin("PC13", 0)
    end = m.run(max_seconds=0.01)
    assert end.reason is EndReason.EXIT and end.exit_status == 0, (end, m.guest_output)
    assert m.guest_output == "3 presses\n"
    assert _led(m) == 1
    assert [e.text.split(":")[0] for e in m.trace.of_kind("exception.entry")] == ["EXTI4_15"] * 3


def test_button_held_low_gives_no_second_interrupt():
    m = boot("exti_button")
    m.drive_pin("PC13", 1)
    _idle(m)
    m.drive_pin("PC13", 0)
    _idle(m, 5e-3)
    assert m.read32(m.symbol("presses")) == 1


# -- Stop mode woken by EXTI ---------------------------------------------------------------------
def test_stop_freezes_hclk_and_systick_until_the_exti_line_wakes_the_core():
    m = boot("stop_exti", strict=True)
    m.drive_pin("PC13", 1)
    _idle(m, 0.05)
    assert m.power.mode == "stop"
    cycles, seconds = m.clock.cycles, m.seconds()
    systick = m.systick.current_value()
    _idle(m, 0.2)
    assert m.seconds() == pytest.approx(seconds + 0.2)
    assert m.clock.cycles == cycles                             # HCLK stopped: not one cycle
    assert m.systick.current_value() == systick
    m.drive_pin("PC13", 0)                                      # press: EXTI13 falling edge
    end = m.run(max_seconds=0.05)
    assert end.reason is EndReason.EXIT and end.exit_status == 0, (end, m.guest_output)
    assert m.guest_output == "woke from Stop: ticks +00000000, SWS=00000000\n"
    assert m.power.mode == "run"
    assert m.rcc.hclk_hz() == 12_000_000                        # HSISYS after Stop
    stop_events = m.trace.of_kind("pwr.stop")
    assert [e.text.split(" ")[0] for e in stop_events] == ["Stop", "woke"]
    assert stop_events[1].seconds - stop_events[0].seconds == pytest.approx(0.245, abs=1e-3)


def test_iwdg_keeps_counting_in_stop_and_resets_the_chip():
    m = boot("stop_exti")
    m.drive_pin("PC13", 1)
    _idle(m, 0.01)
    assert m.power.mode == "stop"
    m.iwdg.write(0, 4, 0xCCCC)                                  # a running IWDG (LSI clocked)
    m.run(max_seconds=1.0)
    resets = [e for e in m.trace.of_kind("reset") if e.text.startswith("iwdg")]
    assert len(resets) == 1
    assert resets[0].seconds == pytest.approx(0.01 + 4096 * 4 / 32_000, rel=0.01)


# -- Standby woken through WKUP2 (PC13) --------------------------------------------------------------
def test_standby_runs_no_code_and_wkup2_wakes_it_through_a_reset_with_sbf():
    m = boot("standby_wkup", strict=True)
    m.drive_pin("PC13", 1)
    _idle(m, 0.05)
    assert m.power.mode == "standby"
    assert m.guest_output == "entering Standby\n"               # nothing after the wfi ran
    instructions = m.loop.instructions
    _idle(m, 0.05)
    assert m.loop.instructions == instructions
    m.drive_pin("PC13", 0)                                      # WKUP2 active low
    end = m.run(max_seconds=0.05)
    assert end.reason is EndReason.EXIT and end.exit_status == 0, (end, m.guest_output)
    assert m.guest_output == "entering Standby\nwoke from Standby (WUF2=00000001)\n"
    assert [e.text for e in m.trace.of_kind("reset")][-1].startswith("standby reset")
    assert not m.pwr.reg["SR1"].value & SBF                     # the firmware cleared it with CSBF


def test_standby_without_a_wakeup_source_sleeps_to_the_time_limit():
    m = boot("standby_wkup")
    end = m.run(max_seconds=0.3)                                # PC13 floats low: no edge ever comes
    assert end.reason is EndReason.TIME_LIMIT and "Standby" in end.detail
    assert m.guest_output == "entering Standby\n"


# -- WWDG ------------------------------------------------------------------------------------------
def test_wwdg_resets_the_chip_after_its_early_wakeup_interrupt():
    m = boot("wwdg", strict=True)
    end = m.run(max_seconds=1.0)
    assert end.reason is EndReason.EXIT and end.exit_status == 0, (end, m.guest_output)
    assert m.guest_output == "refreshed in window\nreset by WWDG (EWI seen)\n"
    assert m.rcc.reg["CSR2"].value & WWDGRSTF
    (reset,) = [e for e in m.trace.of_kind("reset") if e.text.startswith("wwdg")]
    # refreshed at 0x50 (0x7F - 0x50 counts after the start), then 0x7F down to 0x3F
    assert reset.seconds == pytest.approx(((0x7F - 0x50) + (0x7F - 0x3F)) * WWDG_COUNT_S, rel=0.01)
