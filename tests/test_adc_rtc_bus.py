"""Bus-level tests of the ADC and RTC models and the RCC's RTC-domain clocks (no firmware)."""
from __future__ import annotations

import pytest

from peripherals import adc as adc_model
from peripherals import c071
from peripherals.adc import AnalogToDigital
from peripherals.rcc import ResetClockControl
from peripherals.rtc import RealTimeClock
from tests.fakes import FakeClock

PCLK = 12_000_000
# ADC (RM0490 ADC registers)
ISR, IER, CR, CFGR1, CFGR2, SMPR, CHSELR, DR, CALFACT, CCR = 0x00, 0x04, 0x08, 0x0C, 0x10, 0x14, 0x28, 0x40, 0xB4, 0x308
ADRDY, EOSMP, EOC, EOS, OVR, EOCAL, CCRDY = 1, 2, 4, 8, 16, 1 << 11, 1 << 13
ADEN, ADDIS, ADSTART, ADSTP, ADVREGEN, ADCAL = 1, 2, 4, 16, 1 << 28, 1 << 31
CONT, OVRMOD, ALIGN, CHSELRMOD = 1 << 13, 1 << 12, 1 << 5, 1 << 21
CKMODE_PCLK = 3 << 30
VREFEN, TSEN = 1 << 22, 1 << 23


@pytest.fixture
def clock():
    return FakeClock(hclk_hz=PCLK)


@pytest.fixture
def adc(clock):
    model = AnalogToDigital(c071.ADC, clock, pclk_hz=lambda: PCLK, kernel_clock_hz=lambda: PCLK)
    model.power_on_reset()
    model.write(CFGR2, 4, CKMODE_PCLK)           # ADC clock = PCLK: one cycle = 1/12 us
    return model


def ready(adc, clock) -> None:
    """The HAL sequence: regulator, wait 20 us, calibrate, enable, wait ADRDY."""
    adc.write(CR, 4, ADVREGEN)
    clock.advance(20e-6)
    adc.write(CR, 4, ADVREGEN | ADCAL)
    clock.advance(1e-3)
    adc.write(CR, 4, ADVREGEN | ADEN)
    clock.advance(1e-3)
    assert adc.read(ISR, 4) & ADRDY


def select(adc, clock, chselr: int) -> None:
    adc.write(CHSELR, 4, chselr)
    clock.advance(1e-5)
    assert adc.read(ISR, 4) & CCRDY
    adc.write(ISR, 4, CCRDY)


def test_calibration_clears_adcal_after_82_adc_cycles_and_sets_calfact(adc, clock):
    adc.write(CR, 4, ADVREGEN)
    clock.advance(20e-6)
    adc.write(CR, 4, ADVREGEN | ADCAL)
    clock.advance(81 / PCLK)
    assert adc.read(CR, 4) & ADCAL
    clock.advance(2 / PCLK)
    assert not adc.read(CR, 4) & ADCAL
    assert adc.read(ISR, 4) & EOCAL
    assert adc.read(CALFACT, 4) == adc_model.CALIBRATION_FACTOR
    assert not [e for e in clock.events if "regulator" in e[1]]


def test_calibrating_before_the_regulator_settles_is_reported(adc, clock):
    adc.write(CR, 4, ADVREGEN)
    adc.write(CR, 4, ADVREGEN | ADCAL)
    assert any("regulator" in text for _, text in clock.events)


def test_aden_raises_adrdy_and_addis_clears_aden(adc, clock):
    ready(adc, clock)
    adc.write(CR, 4, ADVREGEN | ADDIS)
    clock.advance(1e-5)
    assert adc.read(CR, 4) & (ADEN | ADDIS) == 0


def test_single_conversion_of_a_set_value_with_eoc_and_eos(adc, clock):
    adc.set_channel(4, 2048)
    ready(adc, clock)
    select(adc, clock, 1 << 4)
    adc.write(CR, 4, ADVREGEN | ADEN | ADSTART)
    clock.advance((1.5 + 12.5) / PCLK * 0.99)
    assert not adc.read(ISR, 4) & EOC
    clock.advance((1.5 + 12.5) / PCLK * 0.02)
    assert adc.read(ISR, 4) & (EOSMP | EOC | EOS) == EOSMP | EOC | EOS
    assert not adc.read(CR, 4) & ADSTART          # single mode ends with the sequence
    assert adc.read(DR, 4) == 2048
    assert not adc.read(ISR, 4) & EOC             # reading DR clears EOC


def test_sampling_time_lengthens_the_conversion(adc, clock):
    ready(adc, clock)
    select(adc, clock, 1 << 0)
    adc.write(SMPR, 4, 7)                         # SMP1 = 160.5 cycles
    adc.write(CR, 4, ADVREGEN | ADEN | ADSTART)
    clock.advance(170 / PCLK)
    assert not adc.read(ISR, 4) & EOC
    clock.advance(5 / PCLK)
    assert adc.read(ISR, 4) & EOC


def test_sequence_converts_channels_in_scan_order(adc, clock):
    for ch, value in ((1, 100), (5, 500), (17, 1700)):
        adc.set_channel(ch, value)
    ready(adc, clock)
    select(adc, clock, 1 << 1 | 1 << 5 | 1 << 17)
    adc.write(CR, 4, ADVREGEN | ADEN | ADSTART)
    seen = []
    for _ in range(3):
        while not adc.read(ISR, 4) & EOC:
            clock.advance(1 / PCLK)
        seen.append(adc.read(DR, 4))
    assert seen == [100, 500, 1700]
    assert adc.read(ISR, 4) & EOS


def test_chselrmod_sequence_follows_sq_fields(adc, clock):
    adc.set_channel(3, 30)
    adc.set_channel(2, 20)
    ready(adc, clock)
    adc.write(CFGR1, 4, CHSELRMOD)
    select(adc, clock, 0xFFFF_FF23)               # SQ1 = 3, SQ2 = 2, SQ3 = end
    assert adc.sequence() == [3, 2]


def test_unread_conversion_overruns_and_keeps_old_data(adc, clock):
    adc.set_channel(0, 1000)
    ready(adc, clock)
    select(adc, clock, 1)
    adc.write(CFGR1, 4, CONT)
    adc.write(CR, 4, ADVREGEN | ADEN | ADSTART)
    clock.advance(1e-5)
    adc.set_channel(0, 3000)
    clock.advance(1e-5)
    assert adc.read(ISR, 4) & OVR
    assert adc.read(DR, 4) == 1000
    adc.write(CR, 4, ADVREGEN | ADEN | ADSTP)
    assert not adc.read(CR, 4) & (ADSTART | ADSTP)


def test_resolution_and_alignment_shape_dr(adc, clock):
    adc.set_channel(0, 0xABC)
    ready(adc, clock)
    select(adc, clock, 1)
    adc.write(CFGR1, 4, 2 << 3 | ALIGN)           # 8 bits, left aligned
    adc.write(CR, 4, ADVREGEN | ADEN | ADSTART)
    clock.advance(1e-5)
    assert adc.read(DR, 4) == 0xAB << 8


def test_internal_channels_need_their_enables_and_read_plausible_values(adc, clock):
    assert adc.channel_code(adc_model.CHANNEL_VREFINT) == 0
    adc.write(CCR, 4, VREFEN | TSEN)
    vrefint = adc.channel_code(adc_model.CHANNEL_VREFINT)
    assert 3.3 * vrefint / 4095 == pytest.approx(1.212, abs=0.002)
    cal = adc_model.calibration_values()
    vdda = 3.0 * cal[adc_model.VREFINT_CAL_ADDR] / vrefint      # the HAL's VDDA formula
    assert vdda == pytest.approx(3.3, abs=0.01)
    ts = adc.channel_code(adc_model.CHANNEL_TEMPSENSOR)
    temperature = 30 + (ts * vdda / 3.0 - cal[adc_model.TS_CAL1_ADDR]) * 3.0 / 4095 / 2.53e-3
    assert temperature == pytest.approx(25, abs=1)


def test_set_channel_rejects_out_of_range(adc):
    with pytest.raises(ValueError):
        adc.set_channel(23, 0)
    with pytest.raises(ValueError):
        adc.set_channel(0, 4096)


def test_hardware_trigger_is_reported_as_unmodelled(adc, clock):
    adc.write(CFGR1, 4, 1 << 10)
    assert ("ADC", CFGR1, True) in clock.unmodelled_accesses


def test_adc_interrupt_on_eoc(adc, clock):
    ready(adc, clock)
    select(adc, clock, 1)
    adc.write(IER, 4, EOC)
    adc.write(CR, 4, ADVREGEN | ADEN | ADSTART)
    clock.advance(1e-5)
    assert 16 + c071.IRQ_ADC in clock.pending


# -- RCC: LSE and the RTC clock -------------------------------------------------------------------
CSR1, CSR2 = 0x5C, 0x60
LSEON, LSERDY, RTCSEL_LSE, RTCSEL_LSI, RTCEN, RTCRST = 1, 2, 1 << 8, 2 << 8, 1 << 15, 1 << 16


@pytest.fixture
def rcc(clock):
    model = ResetClockControl(c071.RCC, clock)
    model.power_on_reset()
    return model


def test_lse_ready_after_its_start_up_time(rcc, clock):
    rcc.write(CSR1, 4, LSEON)
    clock.advance(1.9)
    assert not rcc.read(CSR1, 4) & LSERDY
    clock.advance(0.2)
    assert rcc.read(CSR1, 4) & LSERDY


def test_rtcsel_is_set_once_until_an_rtc_domain_reset(rcc):
    rcc.write(CSR1, 4, RTCSEL_LSE)
    rcc.write(CSR1, 4, RTCSEL_LSI)
    assert rcc.read(CSR1, 4) & (3 << 8) == RTCSEL_LSE
    rcc.write(CSR1, 4, RTCSEL_LSE | RTCRST)
    rcc.write(CSR1, 4, 0)
    rcc.write(CSR1, 4, RTCSEL_LSI)
    assert rcc.read(CSR1, 4) & (3 << 8) == RTCSEL_LSI


def test_csr1_survives_a_system_reset_but_not_power_on(rcc, clock):
    rcc.write(CSR1, 4, LSEON | RTCSEL_LSE | RTCEN)
    clock.advance(3)
    rcc.reset()
    assert rcc.read(CSR1, 4) == LSEON | LSERDY | RTCSEL_LSE | RTCEN
    assert rcc.rtc_clock_hz() == 32_768
    rcc.power_on_reset()
    assert rcc.read(CSR1, 4) == 0


# -- RTC (RM0490 RTC registers) -------------------------------------------------------------------
TR, DR_, SSR, ICSR, PRER, RTC_CR, WPR = 0x00, 0x04, 0x08, 0x0C, 0x10, 0x18, 0x24
INIT, INITF, RSF, INITS = 1 << 7, 1 << 6, 1 << 5, 1 << 4
FMT = 1 << 6


@pytest.fixture
def rtc_clock(clock):
    rcc = ResetClockControl(c071.RCC, clock)
    rcc.power_on_reset()
    rtc = RealTimeClock(c071.RTC, clock, rtc_clock_hz=rcc.rtc_clock_hz)
    rcc.rtc_clock_changed = rtc.clock_changed
    rtc.power_on_reset()
    rcc.write(CSR1, 4, LSEON)
    clock.advance(2.5)
    rcc.write(CSR1, 4, LSEON | RTCSEL_LSE | RTCEN)
    return rtc, rcc


def unlock(rtc) -> None:
    rtc.write(WPR, 4, 0xCA)
    rtc.write(WPR, 4, 0x53)


def set_calendar(rtc, clock, tr: int, dr: int) -> None:
    unlock(rtc)
    rtc.write(ICSR, 4, INIT)
    clock.advance(2 / 32_768)
    assert rtc.read(ICSR, 4) & INITF
    rtc.write(TR, 4, tr)
    rtc.write(DR_, 4, dr)
    rtc.write(ICSR, 4, 0)
    rtc.write(WPR, 4, 0xFF)


def test_rtc_resets_to_monday_2000_01_01(clock):
    rtc = RealTimeClock(c071.RTC, clock)
    rtc.power_on_reset()
    assert rtc.read(DR_, 4) == 0x2101 and rtc.read(ICSR, 4) == 0x07 and rtc.read(PRER, 4) == 0x007F_00FF


def test_init_requires_the_write_protection_keys(rtc_clock, clock):
    rtc, _ = rtc_clock
    rtc.write(ICSR, 4, INIT)
    clock.advance(1e-3)
    assert not rtc.read(ICSR, 4) & (INIT | INITF)
    rtc.write(WPR, 4, 0xCA)
    rtc.write(WPR, 4, 0x00)                      # wrong second key: still locked
    rtc.write(WPR, 4, 0x53)
    rtc.write(ICSR, 4, INIT)
    assert not rtc.read(ICSR, 4) & INIT


def test_initf_rises_two_rtcclk_periods_after_init(rtc_clock, clock):
    rtc, _ = rtc_clock
    unlock(rtc)
    rtc.write(ICSR, 4, INIT)
    clock.advance(1.5 / 32_768)
    assert not rtc.read(ICSR, 4) & INITF
    clock.advance(1 / 32_768)
    assert rtc.read(ICSR, 4) & INITF


def test_tr_write_outside_init_mode_is_ignored(rtc_clock, clock):
    rtc, _ = rtc_clock
    unlock(rtc)
    rtc.write(TR, 4, 0x12_3456)
    assert rtc.read(TR, 4) == 0
    assert any("initialization mode" in text for _, text in clock.events)


def test_calendar_counts_seconds_and_rolls_over_midnight_and_month(rtc_clock, clock):
    rtc, _ = rtc_clock
    set_calendar(rtc, clock, 0x23_5958, 0x24_8229)       # 23:59:58, Thursday (WDU 4) 2024-02-29
    clock.advance(1.0)
    assert rtc.read(TR, 4) == 0x23_5959
    rtc.read(DR_, 4)
    clock.advance(1.0)
    tr, dr = rtc.read(TR, 4), rtc.read(DR_, 4)
    assert tr == 0 and dr == 0x24_A301                      # Friday (WDU 5) 2024-03-01


def test_rsf_rises_after_being_cleared(rtc_clock, clock):
    rtc, _ = rtc_clock
    set_calendar(rtc, clock, 0, 0x24_2101)
    clock.advance(1e-3)
    assert rtc.read(ICSR, 4) & (RSF | INITS) == RSF | INITS
    rtc.write(ICSR, 4, 0)                        # write 0 clears RSF (HAL_RTC_WaitForSynchro)
    assert not rtc.read(ICSR, 4) & RSF
    clock.advance(3 / 32_768)
    assert rtc.read(ICSR, 4) & RSF


def test_subseconds_count_down_at_ck_apre(rtc_clock, clock):
    rtc, _ = rtc_clock
    set_calendar(rtc, clock, 0, 0x2101)
    assert rtc.read(SSR, 4) == 0xFF
    rtc.read(DR_, 4)
    clock.advance(10 * 128 / 32_768)
    assert rtc.read(SSR, 4) == 0xFF - 10
    rtc.read(DR_, 4)


def test_shadow_registers_freeze_the_date_after_a_time_read(rtc_clock, clock):
    rtc, _ = rtc_clock
    set_calendar(rtc, clock, 0x23_5959, 0x24_0101)
    tr = rtc.read(TR, 4)
    clock.advance(2.0)
    assert tr == 0x23_5959
    assert rtc.read(DR_, 4) == 0x24_0101                     # the date of the time read, not of now
    assert rtc.read(DR_, 4) == 0x24_0102                     # after that DR read: unlocked


def test_twelve_hour_format_sets_pm(rtc_clock, clock):
    rtc, _ = rtc_clock
    unlock(rtc)
    rtc.write(RTC_CR, 4, FMT)
    rtc.write(WPR, 4, 0xFF)
    set_calendar(rtc, clock, 1 << 22 | 0x11_5959, 0x2101)     # 11:59:59 PM
    clock.advance(1.0)
    assert rtc.read(TR, 4) == 0x12_0000                       # 12:00:00 AM, the next day
    assert rtc.read(DR_, 4) & 0x3F == 0x02


def test_calendar_survives_a_system_reset(rtc_clock, clock):
    rtc, _ = rtc_clock
    set_calendar(rtc, clock, 0x10_0000, 0x2101)
    clock.advance(5.0)
    rtc.reset()
    assert rtc.read(TR, 4) == 0x10_0005
    rtc.read(DR_, 4)
    rtc.power_on_reset()
    assert rtc.read(DR_, 4) == 0x2101


def test_rtc_without_a_clock_does_not_count(clock):
    rtc = RealTimeClock(c071.RTC, clock, rtc_clock_hz=lambda: 0)
    rtc.power_on_reset()
    clock.advance(10)
    assert rtc.read(TR, 4) == 0


def test_lsi_off_drops_lsirdy_and_the_rtc_clock(rcc, clock):
    rcc.write(CSR2, 4, 1)                        # LSION
    clock.advance(1e-3)
    rcc.write(CSR1, 4, RTCSEL_LSI | RTCEN)
    assert rcc.read(CSR2, 4) & 2 and rcc.rtc_clock_hz() == c071.LSI_HZ
    rcc.write(CSR2, 4, 0)
    assert not rcc.read(CSR2, 4) & 2 and rcc.rtc_clock_hz() == 0


def test_rtc_on_lsi_counts_at_32_khz_with_matching_prescalers(clock):
    rcc = ResetClockControl(c071.RCC, clock)
    rcc.power_on_reset()
    rtc = RealTimeClock(c071.RTC, clock, rtc_clock_hz=rcc.rtc_clock_hz)
    rcc.rtc_clock_changed = rtc.clock_changed
    rtc.power_on_reset()
    rcc.write(CSR2, 4, 1)
    clock.advance(1e-3)
    rcc.write(CSR1, 4, RTCSEL_LSI | RTCEN)
    unlock(rtc)
    rtc.write(ICSR, 4, INIT)
    clock.advance(1e-3)
    rtc.write(PRER, 4, 127 << 16 | 249)          # 32 000 / 128 / 250 = 1 Hz
    rtc.write(ICSR, 4, 0)
    clock.advance(3.0)
    assert rtc.read(TR, 4) == 0x03
    rtc.read(DR_, 4)
    rcc.write(CSR2, 4, 0)                        # LSI off: the calendar stops where it is
    clock.advance(5.0)
    assert rtc.read(TR, 4) == 0x03


# -- RTC alarm A -----------------------------------------------------------------------------------
ALRMAR, SR, MISR, SCR = 0x40, 0x50, 0x54, 0x5C
ALRAE, ALRAIE = 1 << 8, 1 << 12
MSK1, MSK2, MSK3, MSK4, WDSEL = 1 << 7, 1 << 15, 1 << 23, 1 << 31, 1 << 30


def arm_alarm(rtc, alarm: int) -> None:
    unlock(rtc)
    rtc.write(RTC_CR, 4, 0)
    rtc.write(ALRMAR, 4, alarm)
    rtc.write(RTC_CR, 4, ALRAE | ALRAIE)
    rtc.write(WPR, 4, 0xFF)


def test_alarm_a_fires_when_the_calendar_reaches_it(rtc_clock, clock):
    rtc, _ = rtc_clock
    set_calendar(rtc, clock, 0x00_0000, 0x24_2101)
    arm_alarm(rtc, MSK4 | 0x00_0005)              # 00:00:05 any day
    assert not rtc.read(ICSR, 4) & 1              # ALRAWF = 0 while the alarm is enabled
    clock.advance(4.99)
    assert not rtc.read(SR, 4) & 1
    clock.advance(0.02)
    assert rtc.read(SR, 4) & 1 and rtc.read(MISR, 4) & 1
    assert 16 + c071.IRQ_RTC in clock.pending
    rtc.write(SCR, 4, 1)
    assert not rtc.read(SR, 4) & 1
    clock.advance(86400.0)                        # the same time the next day
    assert rtc.read(SR, 4) & 1


def test_alarm_with_masked_minutes_fires_every_minute(rtc_clock, clock):
    rtc, _ = rtc_clock
    set_calendar(rtc, clock, 0x10_2000, 0x24_2101)
    arm_alarm(rtc, MSK4 | MSK3 | MSK2 | 0x30)     # second 30 of every minute
    fired = []
    for _ in range(3):
        while not rtc.read(SR, 4) & 1:
            clock.advance(0.25)
        fired.append(rtc.read(TR, 4))
        rtc.read(0x04, 4)
        rtc.write(SCR, 4, 1)
    assert fired == [0x10_2030, 0x10_2130, 0x10_2230]


def test_weekday_alarm_waits_for_its_day(rtc_clock, clock):
    rtc, _ = rtc_clock
    set_calendar(rtc, clock, 0x23_5958, 0x24_8229)          # Thursday 2024-02-29 23:59:58
    arm_alarm(rtc, WDSEL | 5 << 24 | 0x08_0000)              # Friday 08:00:00
    (event,) = [e for e in clock.pending_events() if e.name == "RTC alarm"]
    assert event.seconds - clock.seconds == pytest.approx(2 + 8 * 3600, abs=1 / 256)


def test_alarm_registers_are_locked_while_the_alarm_is_enabled(rtc_clock, clock):
    rtc, _ = rtc_clock
    arm_alarm(rtc, MSK4 | 0x12)
    unlock(rtc)
    rtc.write(ALRMAR, 4, 0x34)
    assert rtc.read(ALRMAR, 4) == MSK4 | 0x12


WAIT, DISCEN = 1 << 14, 1 << 16


def test_discontinuous_mode_converts_one_channel_per_start(adc, clock):
    adc.set_channel(1, 11)
    adc.set_channel(2, 22)
    ready(adc, clock)
    select(adc, clock, 1 << 1 | 1 << 2)
    adc.write(CFGR1, 4, DISCEN)
    values = []
    for _ in range(3):
        adc.write(CR, 4, ADVREGEN | ADEN | ADSTART)
        clock.advance(1e-5)
        assert not adc.read(CR, 4) & ADSTART      # cleared after each conversion
        values.append((adc.read(DR, 4), bool(adc.read(ISR, 4) & EOS)))
        adc.write(ISR, 4, EOS)
    assert values == [(11, False), (22, True), (11, False)]


def test_wait_mode_holds_the_next_conversion_until_dr_is_read(adc, clock):
    adc.set_channel(0, 7)
    ready(adc, clock)
    select(adc, clock, 1)
    adc.write(CFGR1, 4, CONT | WAIT)
    adc.write(CR, 4, ADVREGEN | ADEN | ADSTART)
    clock.advance(1e-3)
    assert adc.read(ISR, 4) & (EOC | OVR) == EOC  # one conversion, then waiting: no overrun
    adc.write(ISR, 4, EOS)
    assert adc.read(DR, 4) == 7
    clock.advance(13.9 / PCLK)
    assert not adc.read(ISR, 4) & EOC
    clock.advance(0.2 / PCLK)
    assert adc.read(ISR, 4) & EOC                 # the next one took one conversion time after the read


ADD1H, SUB1H = 1 << 16, 1 << 17


def test_daylight_saving_steps_move_the_calendar_an_hour(rtc_clock, clock):
    rtc, _ = rtc_clock
    set_calendar(rtc, clock, 0x23_3000, 0x24_2101)
    clock.advance(0.5)
    unlock(rtc)
    rtc.write(RTC_CR, 4, ADD1H)
    assert rtc.read(TR, 4) == 0x00_3000 and rtc.read(DR_, 4) & 0x3F == 0x02
    assert rtc.read(RTC_CR, 4) & ADD1H == 0                  # an action, read as 0
    rtc.write(RTC_CR, 4, SUB1H)                              # hour 0: no effect
    assert rtc.read(TR, 4) == 0x00_3000
    rtc.read(DR_, 4)
    clock.advance(0.5)                                       # the sub-second phase was kept
    assert rtc.read(TR, 4) == 0x00_3001
    rtc.read(DR_, 4)
    rtc.write(RTC_CR, 4, ADD1H)
    rtc.write(RTC_CR, 4, SUB1H)
    assert rtc.read(TR, 4) == 0x00_3001 and rtc.read(DR_, 4) & 0x3F == 0x02


def test_time_reads_keep_counting_while_the_date_stays_locked_until_read(rtc_clock, clock):
    rtc, _ = rtc_clock
    set_calendar(rtc, clock, 0x23_5959, 0x24_0101)
    assert rtc.read(TR, 4) == 0x23_5959                     # locks DR ...
    clock.advance(1.0)
    assert rtc.read(TR, 4) == 0x00_0000                     # ... but TR itself goes on
    assert rtc.read(DR_, 4) == 0x24_0101                    # the date of the first TR read
    assert rtc.read(DR_, 4) == 0x24_0102


def test_subsecond_read_locks_the_time_too(rtc_clock, clock):
    rtc, _ = rtc_clock
    set_calendar(rtc, clock, 0x10_0000, 0x24_0101)
    rtc.read(SSR, 4)
    clock.advance(2.0)
    assert rtc.read(TR, 4) == 0x10_0000 and rtc.read(DR_, 4) == 0x24_0101
    assert rtc.read(TR, 4) == 0x10_0002
