"""Bus-level tests of the GPIO, IWDG, PWR, DBG, SYSCFG and FLASH models (no firmware)."""
from __future__ import annotations

import ctypes

import pytest

from peripherals import c071
from peripherals.dbg import DebugSupport
from peripherals.flash import FlashController
from peripherals.option_bytes import (SAFE_VALUES, parse_option_bytes_spec, read_option_word,
                                      write_factory_option_bytes)
from peripherals.gpio import make_port
from peripherals.iwdg import IndependentWatchdog
from peripherals.pwr import PowerControl
from peripherals.services import NullServices
from peripherals.syscfg import SystemConfig
from tests.fakes import FakeClock

# GPIO register offsets (RM0490 §7.4.12)
MODER, OTYPER, PUPDR, IDR, ODR, BSRR, LCKR, AFRL, BRR = 0x00, 0x04, 0x0C, 0x10, 0x14, 0x18, 0x1C, 0x20, 0x28
# IWDG (RM0490 §21.4.6)
KR, PR, RLR, SR, WINR = 0x00, 0x04, 0x08, 0x0C, 0x10
LSI_TICK = 4 / c071.LSI_HZ          # counter period with PR = 0


# -- GPIO ------------------------------------------------------------------------------
@pytest.fixture
def port():
    return make_port("GPIOB", NullServices())


def test_gpioa_resets_with_swd_pins_in_alternate_function():
    gpioa = make_port("GPIOA", NullServices())
    assert gpioa.read(MODER, 4) == 0xEBFF_FFFF
    assert gpioa.read(0x08, 4) == 0x0C00_0000
    assert gpioa.read(PUPDR, 4) == 0x2400_0000
    assert make_port("GPIOC").read(MODER, 4) == 0xFFFF_FFFF


def test_bsrr_sets_and_resets_odr_bits(port):
    port.write(BSRR, 4, 0x0000_0005)
    assert port.read(ODR, 4) == 0x0005
    port.write(BSRR, 4, 0x0001_0000)
    assert port.read(ODR, 4) == 0x0004
    assert port.read(BSRR, 4) == 0


def test_bsrr_set_wins_over_reset(port):
    port.write(BSRR, 4, (1 << 3) | (1 << (16 + 3)) | (1 << (16 + 4)))
    assert port.read(ODR, 4) == 1 << 3


def test_bsrr_halfword_write_to_reset_half(port):
    port.write(ODR, 4, 0xFF)
    port.write(BSRR + 2, 2, 0x000F)     # IOPORT/AHB: only the upper lanes are written
    assert port.read(ODR, 4) == 0xF0


def test_brr_resets_odr_bits(port):
    port.write(ODR, 4, 0xFF)
    port.write(BRR, 4, 0x0F)
    assert port.read(ODR, 4) == 0xF0
    assert port.read(BRR, 4) == 0


def test_idr_reads_odr_for_push_pull_output_pins(port):
    port.write(MODER, 4, 0xFFFF_FFF5)   # pins 0, 1 output
    port.write(ODR, 4, 0b10)
    port.drive(0, 1)                    # ignored: the output driver wins
    assert port.read(IDR, 4) & 0b11 == 0b10


def test_idr_reads_driven_level_then_pull_for_input_pins(port):
    port.write(MODER, 4, 0xFFFF_FFF0)   # pins 0, 1 input
    port.write(PUPDR, 4, 0b1001)        # pin 0 pull-up, pin 1 pull-down
    assert port.read(IDR, 4) & 0b11 == 0b01
    port.drive(0, 0)
    port.drive(1, 1)
    assert port.read(IDR, 4) & 0b11 == 0b10
    port.release(0)
    assert port.read(IDR, 4) & 0b11 == 0b11


def test_idr_reads_zero_for_analog_pins(port):
    port.drive(5, 1)
    assert port.read(IDR, 4) == 0
    assert port.pin_level(5) == 1


def test_open_drain_output_high_releases_the_pin(port):
    port.write(MODER, 4, 0xFFFF_FFFD)   # pin 0 output
    port.write(OTYPER, 4, 1)
    port.write(ODR, 4, 1)
    assert port.pin_level(0) == 0       # floating, no pull
    port.write(PUPDR, 4, 0b01)
    assert port.pin_level(0) == 1
    port.write(ODR, 4, 0)
    assert port.pin_level(0) == 0


def test_pa14_boot0_level_follows_pull_down_and_external_drive():
    gpioa = make_port("GPIOA")
    assert gpioa.pin_level(14) == 0
    gpioa.drive(14, 1)
    assert gpioa.pin_level(14) == 1
    assert gpioa.read(IDR, 4) >> 14 & 1 == 1     # AF mode: the input path sees the pin


def test_lckr_key_sequence_freezes_configuration(port):
    pins = 1 << 2
    for value in (0x1_0000 | pins, pins, 0x1_0000 | pins):
        port.write(LCKR, 4, value)
    assert port.read(LCKR, 4) == 0x1_0000 | pins
    port.write(MODER, 4, 0)
    assert port.read(MODER, 4) == 0x30       # pin 2 keeps analog mode, the rest changed
    port.write(AFRL, 4, 0xFFFF_FFFF)
    assert port.read(AFRL, 4) == 0xFFFF_F0FF
    port.write(LCKR, 4, 0)
    assert port.read(LCKR, 4) == 0x1_0000 | pins
    port.reset()
    port.write(MODER, 4, 0)
    assert port.read(MODER, 4) == 0


def test_lckr_wrong_sequence_does_not_lock(port):
    for value in (0x1_0000 | 4, 8, 0x1_0000 | 4):
        port.write(LCKR, 4, value)
    assert port.read(LCKR, 4) >> 16 == 0
    port.write(MODER, 4, 0)
    assert port.read(MODER, 4) == 0


# -- IWDG ------------------------------------------------------------------------------
@pytest.fixture
def clock():
    return FakeClock()


def _configure_iwdg(iwdg, prescaler=0, reload=100):
    iwdg.write(KR, 4, 0xCCCC)
    iwdg.write(KR, 4, 0x5555)
    iwdg.write(PR, 4, prescaler)
    iwdg.write(RLR, 4, reload)
    iwdg.write(KR, 4, 0xAAAA)


def test_iwdg_start_counts_down_from_fff(clock):
    iwdg = IndependentWatchdog(c071.IWDG, clock)
    iwdg.write(KR, 4, 0xCCCC)
    assert iwdg.running and iwdg.counter_value() == 0xFFF
    clock.advance(10 * LSI_TICK)
    assert iwdg.counter_value() == 0xFFF - 10
    clock.advance(0xFFF * LSI_TICK)
    assert clock.resets == ["iwdg"]


def test_iwdg_expiry_requests_reset_after_reload_period(clock):
    iwdg = IndependentWatchdog(c071.IWDG, clock)
    _configure_iwdg(iwdg, prescaler=2, reload=100)         # tick = 16 / 32 kHz = 0.5 ms
    clock.advance(100 * 0.0005 - 1e-4)
    assert clock.resets == []
    clock.advance(2e-4)
    assert clock.resets == ["iwdg"]


def test_iwdg_reload_postpones_expiry(clock):
    iwdg = IndependentWatchdog(c071.IWDG, clock)
    _configure_iwdg(iwdg, reload=100)                       # 100 ticks = 12.5 ms
    for _ in range(5):
        clock.advance(0.010)
        iwdg.write(KR, 4, 0xAAAA)
    assert clock.resets == []
    assert len(clock.pending_events()) == 1                 # one expiry, flag events done
    clock.advance(0.013)
    assert clock.resets == ["iwdg"]


def test_iwdg_pr_write_ignored_without_unlock_key(clock):
    iwdg = IndependentWatchdog(c071.IWDG, clock)
    iwdg.write(PR, 4, 5)
    iwdg.write(RLR, 4, 0x10)
    assert iwdg.read(PR, 4) == 0 and iwdg.read(RLR, 4) == 0xFFF
    iwdg.write(KR, 4, 0x5555)
    iwdg.write(KR, 4, 0x1234)                               # any other key re-protects
    iwdg.write(PR, 4, 5)
    assert iwdg.read(PR, 4) == 0
    iwdg.write(KR, 4, 0x5555)
    iwdg.write(PR, 4, 5)
    assert iwdg.read(PR, 4) == 5


def test_iwdg_update_flags_clear_after_five_lsi_periods(clock):
    iwdg = IndependentWatchdog(c071.IWDG, clock)
    iwdg.write(KR, 4, 0x5555)
    iwdg.write(PR, 4, 3)
    iwdg.write(RLR, 4, 0x200)
    assert iwdg.read(SR, 4) == 0b011
    clock.advance(4 / c071.LSI_HZ)
    assert iwdg.read(SR, 4) == 0b011
    clock.advance(1.5 / c071.LSI_HZ)
    assert iwdg.read(SR, 4) == 0


def test_iwdg_prescaler_saturates_at_256(clock):
    iwdg = IndependentWatchdog(c071.IWDG, clock)
    iwdg.write(KR, 4, 0x5555)
    iwdg.write(PR, 4, 7)
    assert iwdg.divider() == 256


def test_iwdg_reload_outside_window_requests_reset(clock):
    iwdg = IndependentWatchdog(c071.IWDG, clock)
    _configure_iwdg(iwdg, reload=100)
    iwdg.write(KR, 4, 0x5555)
    iwdg.write(WINR, 4, 50)                                 # also reloads the counter
    clock.advance(10 * LSI_TICK)                            # counter 90 > 50
    iwdg.write(KR, 4, 0xAAAA)
    assert clock.resets == ["iwdg"]


def test_iwdg_reload_inside_window_is_accepted(clock):
    iwdg = IndependentWatchdog(c071.IWDG, clock)
    _configure_iwdg(iwdg, reload=100)
    iwdg.write(KR, 4, 0x5555)
    iwdg.write(WINR, 4, 50)
    clock.advance(60 * LSI_TICK)                            # counter 40 <= 50
    iwdg.write(KR, 4, 0xAAAA)
    assert clock.resets == [] and iwdg.counter_value() == 100


def test_iwdg_hardware_mode_starts_at_reset_and_reset_stops_software_mode(clock):
    hw = IndependentWatchdog(c071.IWDG, clock, hardware_mode=lambda: True)
    hw.reset()
    assert hw.running
    sw = IndependentWatchdog(c071.IWDG, clock)
    sw.write(KR, 4, 0xCCCC)
    sw.reset()
    assert not sw.running
    clock.advance(1.0)
    assert clock.resets == ["iwdg"]                         # only the hardware one expired


# -- SYSCFG ----------------------------------------------------------------------------
def test_mem_mode_write_calls_remap():
    calls = []
    syscfg = SystemConfig(c071.SYSCFG, NullServices(), remap=calls.append)
    syscfg.write(0x00, 4, 0b01)
    syscfg.write(0x00, 4, 0b01 | 1 << 3)    # MEM_MODE unchanged: no remap
    syscfg.write(0x00, 4, 0b11)
    assert calls == [0b01, 0b11]


def test_cfgr1_reset_follows_boot_mode():
    boot = {"mode": 0b01}
    calls = []
    syscfg = SystemConfig(c071.SYSCFG, NullServices(), boot_mem_mode=lambda: boot["mode"],
                          remap=calls.append)
    assert syscfg.read(0x00, 4) == 0b01
    syscfg.write(0x00, 4, 0b00)
    syscfg.reset()
    assert syscfg.read(0x00, 4) == 0b01
    assert calls == [0b00, 0b01]            # peripheral reset restores the boot alias
    boot["mode"] = 0b00
    syscfg.reset()
    assert syscfg.mem_mode() == 0


def test_itline_reads_irq_line_status():
    syscfg = SystemConfig(c071.SYSCFG, NullServices(), irq_line_status=lambda n: 1 if n == 8 else 0)
    assert syscfg.read(0x80 + 4 * 8, 4) == 1
    assert syscfg.read(0x80 + 4 * 9, 4) == 0
    syscfg.write(0x80 + 4 * 8, 4, 0)
    assert syscfg.read(0x80 + 4 * 8, 4) == 1


def test_cfgr2_lockup_lock_is_set_only():
    syscfg = SystemConfig(c071.SYSCFG)
    syscfg.write(0x18, 4, 1)
    syscfg.write(0x18, 4, 0)
    assert syscfg.read(0x18, 4) == 1


# -- DBG -------------------------------------------------------------------------------
def test_dbg_idcode_is_c071():
    dbg = DebugSupport(c071.DBG, NullServices())
    assert dbg.read(0x00, 4) == 0x1000_6493
    dbg.write(0x00, 4, 0)
    assert dbg.read(0x00, 4) == 0x1000_6493


def test_dbg_idcode_narrow_read_is_reported():
    services = NullServices()
    dbg = DebugSupport(c071.DBG, services)
    assert dbg.read(0x00, 2) == 0
    assert services.unmodelled_accesses == [("DBG", 0, False)]


def test_dbg_registers_survive_system_reset_not_por():
    dbg = DebugSupport(c071.DBG, NullServices())
    dbg.write(0x04, 4, 0b110)
    dbg.write(0x08, 4, 1 << 12)
    dbg.write(0x0C, 4, 1 << 11)
    dbg.reset()
    assert (dbg.read(0x04, 4), dbg.read(0x08, 4), dbg.read(0x0C, 4)) == (0b110, 1 << 12, 1 << 11)
    dbg.power_on_reset()
    assert (dbg.read(0x04, 4), dbg.read(0x08, 4), dbg.read(0x0C, 4)) == (0, 0, 0)


# -- PWR -------------------------------------------------------------------------------
def test_pwr_reset_values_and_flash_ready():
    pwr = PowerControl(c071.PWR, NullServices())
    assert pwr.read(0x00, 4) == 0x208
    assert pwr.read(0x04, 4) == 0x100
    assert pwr.read(0x08, 4) == 0x8000
    assert pwr.read(0x14, 4) & 1 << 7                        # SR2.FLASH_RDY


def test_pwr_scr_clears_wakeup_flags():
    pwr = PowerControl(c071.PWR, NullServices())
    pwr.reg["SR1"].value = 0x0103
    pwr.write(0x18, 4, 0x0001)
    assert pwr.read(0x10, 4) == 0x0102
    pwr.write(0x18, 4, 0x0100)
    assert pwr.read(0x10, 4) == 0x0002


def test_pwr_byte_write_is_replicated_on_apb():
    pwr = PowerControl(c071.PWR, NullServices())
    pwr.write(0x20, 1, 0x5A)                                 # PUCRA, RM0490 §2.1
    assert pwr.read(0x20, 4) == 0x5A5A


def test_pwr_backup_registers_survive_system_reset_not_por():
    pwr = PowerControl(c071.PWR, NullServices())
    pwr.write(0x70, 4, 0x1234_BEEF)
    assert pwr.read(0x70, 4) == 0xBEEF
    pwr.write(0x20, 4, 0xFF)
    pwr.reset()
    assert pwr.read(0x70, 4) == 0xBEEF and pwr.read(0x20, 4) == 0
    pwr.power_on_reset()
    assert pwr.read(0x70, 4) == 0


# -- FLASH -----------------------------------------------------------------------------
ACR, KEYR, OPTKEYR, FSR, FCR, OPTR, SECR = 0x00, 0x08, 0x0C, 0x10, 0x14, 0x20, 0x80


def _area(**overrides):
    return write_factory_option_bytes(bytearray(c071.OPTION_BYTES_SIZE), overrides)


def test_factory_option_bytes_load_without_error():
    flash = FlashController(c071.FLASH_REGS, NullServices(), option_area=_area())
    flash.power_on_reset()
    assert flash.optr == 0x3FEF_FEAA and flash.secr == 0
    assert flash.read(FSR, 4) == 0
    assert flash.read(ACR, 4) == 0x0004_0600
    assert flash.latency == 0


def test_write_factory_option_bytes_pairs_and_erased_gaps():
    area = (ctypes.c_ubyte * c071.OPTION_BYTES_SIZE)()
    write_factory_option_bytes(area, {"SECR": 0x0001_0000})
    assert read_option_word(area, "OPTR") == (0x3FEF_FEAA, 0xC010_0155)
    assert read_option_word(area, "SECR") == (0x0001_0000, 0xFFFE_FFFF)
    assert bytes(area)[0x40:0x48] == b"\xff" * 8
    with pytest.raises(ValueError, match="BOGUS"):
        write_factory_option_bytes(bytearray(2048), {"BOGUS": 1})


def test_option_byte_complement_mismatch_sets_optverr_and_safe_values():
    area = _area()
    area[0x04] ^= 0x01                          # break OPTR's complement
    area[0x74] ^= 0x80                          # break SECR's complement
    services = NullServices()
    flash = FlashController(c071.FLASH_REGS, services, option_area=area)
    flash.power_on_reset()
    assert flash.read(FSR, 4) & 1 << 15
    assert flash.optr == SAFE_VALUES["OPTR"]
    assert flash.optr & 0xFF not in (0xAA, 0xCC)            # RDP level 1
    assert flash.optr >> 8 & 1 == 0                         # BOR_EN = 0
    assert flash.secr >> 16 & 1 == 1                        # BOOT_LOCK forced
    assert flash.read(0x2C, 4) == 0x3F                      # WRP1AR matched: factory value
    assert flash.option_mismatches == ["OPTR", "SECR"]
    assert any(kind == "flash.option_mismatch" for kind, _ in services.events)
    flash.write(FSR, 4, 1 << 15)                            # OPTVERR is rc_w1
    assert flash.read(FSR, 4) == 0


def test_empty_set_only_for_erased_first_double_word():
    flash = FlashController(c071.FLASH_REGS, NullServices())
    flash.evaluate_empty(0xFFFF_FFFF_FFFF_FFFF)
    assert flash.empty and flash.read(ACR, 4) & 1 << 16
    flash.evaluate_empty(0xFFFF_FFFF_2000_5000)
    assert not flash.empty
    flash.evaluate_empty(0x0000_0000_FFFF_FFFF)
    assert not flash.empty


def test_empty_and_option_registers_survive_system_reset():
    flash = FlashController(c071.FLASH_REGS, NullServices(),
                           option_area=_area(OPTR=0x3EEF_FEAA))
    flash.power_on_reset()
    flash.evaluate_empty(0xFFFF_FFFF_FFFF_FFFF)
    flash.write(ACR, 4, 0x0004_0601 | 1 << 16)
    flash.reset()
    assert flash.empty and flash.latency == 0
    assert flash.optr == 0x3EEF_FEAA
    flash.power_on_reset()
    assert not flash.empty                                  # the machine re-evaluates it


def test_option_bytes_spec_parses_fields_and_rejects_unknown():
    words = parse_option_bytes_spec("nBOOT_SEL=0, nBOOT0=1,RDP=0xBB,BOOT_LOCK=1")
    factory = c071.FACTORY_OPTION_BYTES["OPTR"]
    assert words == {"OPTR": (factory & ~(1 << 24) & ~0xFF) | 0xBB | 1 << 26, "SECR": 1 << 16}
    assert parse_option_bytes_spec("OPTR=0x3FFFFEAA,nboot1=0") == {"OPTR": 0x3DFF_FEAA}
    assert parse_option_bytes_spec("WRP1AR=0x00050000") == {"WRP1AR": 0x0005_0000}
    with pytest.raises(ValueError, match="nBOOT2"):
        parse_option_bytes_spec("nBOOT_SEL=0,nBOOT2=1")
    with pytest.raises(ValueError, match="RDP=zz"):
        parse_option_bytes_spec("RDP=zz")
    with pytest.raises(ValueError, match="nBOOT0=2"):
        parse_option_bytes_spec("nBOOT0=2")
    with pytest.raises(ValueError, match="'RDP'"):
        parse_option_bytes_spec("RDP")


def test_boot_lock_with_rdp1_clears_dbg_swen():
    flash = FlashController(c071.FLASH_REGS, NullServices(),
                           option_area=_area(**parse_option_bytes_spec("RDP=0xBB,BOOT_LOCK=1")))
    flash.power_on_reset()
    assert flash.reg["ACR"].get("DBG_SWEN") == 0
