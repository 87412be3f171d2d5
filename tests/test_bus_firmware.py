"""Firmware written the HAL's way against the I2C, ADC, SPI and RTC models (images/tests/)."""
from __future__ import annotations

import re

import pytest

from emulator.cli import main
from emulator.core.runloop import EndReason
from peripherals import adc as adc_model
from tests.conftest import boot, elf, run_to_exit

HCLK_RESET_HZ = 12_000_000


def assert_exit_0(end) -> None:
    assert end.reason is EndReason.EXIT and end.exit_status == 0, end


def test_i2c_master_write_to_absent_address_gets_nackf_then_stopf():
    m, end = run_to_exit("i2c_nack", strict=True)
    assert_exit_0(end)
    assert m.guest_output == "I2C1 NACK from 0x50\n"
    start, nack = [e for e in m.trace.of_kind("i2c1")][:2]
    assert "address 0x50 (write), 2 byte(s)" in start.text and "not acknowledged" in nack.text
    # TIMINGR 0x20420F13 at 12 MHz: START hold (SCLH+1) * 250 ns, then 9 SCL periods of
    # (20 + 16) * 250 ns plus two synchronisations of 50 ns + 2 kernel clocks
    scl = 36 * 250e-9 + 2 * (50e-9 + 2 / HCLK_RESET_HZ)
    assert nack.seconds - start.seconds == pytest.approx(16 * 250e-9 + 9 * scl, rel=1e-3)


def test_adc_calibration_and_conversion_of_a_set_value():
    m = boot("adc_convert", strict=True)
    m.adc.set_channel(0, 1234)
    end = m.run(max_seconds=1.0)
    assert_exit_0(end)
    fields = dict(re.findall(r"(\w+)=([0-9a-f]{8})", m.guest_output))
    assert int(fields["ch0"], 16) == 1234
    assert int(fields["calfact"], 16) == adc_model.CALIBRATION_FACTOR
    assert int(fields["vdda_mv"], 16) == pytest.approx(3300, abs=5)      # VREFINT against VREFINT_CAL
    assert not m.trace.of_kind("adc")                                    # no early-regulator warning


def test_adc_channel_value_from_the_command_line(capsys):
    status = main(["run", str(elf("adc_convert")), "--strict", "--adc", "0=1.65V"])
    assert status == 0
    assert "adc ch0=00000800 " in capsys.readouterr().out


@pytest.mark.parametrize("spec,reason", [("0", "expected CH=VALUE"), ("23=1", "out of range 0..22"),
                                         ("1=4096", "out of range 0..4095"), ("1=5V", "outside 0..3.3 V"),
                                         ("a=1", "is not a number")])
def test_bad_adc_option_is_one_line_and_exit_2(capsys, spec, reason):
    assert main(["run", str(elf("adc_convert")), "--adc", spec]) == 2
    err = capsys.readouterr().err
    assert reason in err and err.count("\n") == 1 and "Traceback" not in err


def test_spi_master_transfer_reads_ff_from_the_idle_miso_line():
    m, end = run_to_exit("spi_transfer", strict=True)
    assert_exit_0(end)
    assert m.guest_output == "spi rx=ffffffff\n"


def test_rtc_counts_from_lse_over_midnight_and_a_leap_day():
    m, end = run_to_exit("rtc_calendar", max_seconds=10.0, strict=True)
    assert_exit_0(end)
    # set to 23:59:58 Thursday 2024-02-29 once the LSE ran (2 s start-up), read 2.5 s later
    assert m.guest_output == "rtc tr=00000000 dr=0024a301\n"       # 00:00:00 Friday 2024-03-01
    assert m.seconds() == pytest.approx(2.0 + 2.5, abs=0.01)


def test_rtc_domain_keeps_counting_through_a_system_reset():
    m, end = run_to_exit("rtc_calendar", max_seconds=10.0)
    assert_exit_0(end)
    m.reset("software")
    assert m.rcc.rtc_clock_hz() == 32_768                  # LSE, RTCSEL and RTCEN kept (RTC domain)
    m.bus_write(0x4002_103C, 1 << 10)                      # RCC_APBENR1.RTCAPBEN, cleared by the reset
    assert m.bus_read(0x4000_2800) == 0x00_0000            # TR: still 00:00:00 ...
    assert m.bus_read(0x4000_2804) == 0x24_A301            # ... on Friday 2024-03-01
    m.reset("power")
    m.bus_write(0x4002_103C, 1 << 10)
    assert m.bus_read(0x4000_2804) == 0x2101 and m.rcc.rtc_clock_hz() == 0


def test_i2c_interrupt_driven_write_takes_the_nack_then_the_stop_interrupt():
    m, end = run_to_exit("i2c_nack_irq", strict=True)
    assert_exit_0(end)
    assert m.guest_output == "I2C1 IRQ: NACK then STOP\n"
    entries = [e for e in m.trace.of_kind("exception.entry") if e.text.startswith("I2C1")]
    start, nack = [e for e in m.trace.of_kind("i2c1")][:2]
    assert len(entries) == 2                                # NACKF, then STOPF one SCL period later
    assert entries[0].seconds >= nack.seconds > start.seconds
