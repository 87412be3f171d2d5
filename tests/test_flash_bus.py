"""FLASH controller through the bus, no firmware (RM0490 §4.3-§4.7)."""
from __future__ import annotations

import pytest

from emulator.machine import Machine, MachineConfig
from peripherals import c071
from peripherals.flash import (BSY1, CFGBSY, EOP, KEY1, KEY2, LOCK, MER1, OPTKEY1, OPTKEY2, OPTLOCK, PER, PG,
                               PGAERR, PGSERR, PROGERR, SIZERR, STRT, T_ERASE_PAGE, WRPERR, EOPIE)

F = c071.FLASH_REGS
KEYR, OPTKEYR, SR, CR, OPTR, WRP1AR = F + 0x08, F + 0x0C, F + 0x10, F + 0x14, F + 0x20, F + 0x2C


@pytest.fixture
def m() -> Machine:
    machine = Machine()
    machine.reset("power")
    return machine


def unlock(m: Machine) -> None:
    m.bus_write(KEYR, KEY1)
    m.bus_write(KEYR, KEY2)


def finish_operation(m: Machine) -> None:
    """Advance simulated time past the running operation (what a stalled CPU would do)."""
    m.clock.cycles = m.flash_controller.operation_end_cycle()
    m.loop._fire_due_events()


def program(m: Machine, address: int, lo: int, hi: int) -> None:
    m.flash_controller.memory_write(address, 4, lo)
    m.flash_controller.memory_write(address + 4, 4, hi)


def test_cr_is_locked_after_reset_and_keys_unlock_it(m):
    assert m.bus_read(CR) & (LOCK | OPTLOCK) == LOCK | OPTLOCK
    unlock(m)
    assert not m.bus_read(CR) & LOCK
    assert m.bus_read(CR) & OPTLOCK


def test_cr_writes_are_ignored_while_locked_except_setting_lock(m):
    m.bus_write(CR, PER | (5 << 3))
    assert m.bus_read(CR) & (PER | 0x1F8) == 0


def test_setting_lock_also_sets_optlock(m):
    unlock(m)
    m.bus_write(OPTKEYR, OPTKEY1)
    m.bus_write(OPTKEYR, OPTKEY2)
    assert not m.bus_read(CR) & OPTLOCK
    m.bus_write(CR, LOCK)
    assert m.bus_read(CR) & OPTLOCK


def test_wrong_key_latches_lock_until_reset(m):
    m.bus_write(KEYR, 0x1234_5678)
    unlock(m)
    assert m.bus_read(CR) & LOCK
    assert m.trace.of_kind("flash.wrong_key")
    m.reset("software")
    unlock(m)
    assert not m.bus_read(CR) & LOCK


def test_key_write_while_unlocked_is_a_named_event_and_latches_lock(m):
    unlock(m)
    m.bus_write(KEYR, KEY1)
    assert m.bus_read(CR) & LOCK
    assert m.trace.of_kind("flash.key_while_unlocked")


def test_optkey_while_cr_locked_latches(m):
    m.bus_write(OPTKEYR, OPTKEY1)
    assert m.trace.of_kind("flash.optkey_while_locked")


def test_page_erase_sets_bsy_then_erases_after_the_erase_time(m):
    m.flash.store(m.cpu.uc, 0x0800_2800, b"\x00" * 16)
    unlock(m)
    m.bus_write(CR, PER | (5 << 3))
    m.bus_write(CR, PER | (5 << 3) | STRT)
    assert m.bus_read(SR) & (BSY1 | CFGBSY) == BSY1 | CFGBSY
    start = m.seconds()
    finish_operation(m)
    assert m.seconds() - start == pytest.approx(T_ERASE_PAGE, rel=1e-6)
    assert m.bus_read(SR) & (BSY1 | CFGBSY) == 0
    assert m.flash.load(0x0800_2800, 16) == b"\xff" * 16
    assert not m.bus_read(SR) & EOP                       # EOP only with EOPIE (RM0490 §4.6)
    assert "page erase page 5" in m.trace.of_kind("flash.op")[-1].text


def test_eop_is_set_with_eopie(m):
    unlock(m)
    m.bus_write(CR, EOPIE | PER | (1 << 3) | STRT)
    finish_operation(m)
    assert m.bus_read(SR) & EOP
    assert m.book.line_level >> c071.IRQ_FLASH & 1


def test_double_word_program_writes_after_the_second_word(m):
    unlock(m)
    m.bus_write(CR, PG)
    m.flash_controller.memory_write(0x0800_4000, 4, 0x1122_3344)
    assert m.bus_read(SR) & CFGBSY and not m.bus_read(SR) & BSY1
    m.flash_controller.memory_write(0x0800_4004, 4, 0x5566_7788)
    finish_operation(m)
    assert m.flash.load(0x0800_4000, 8) == bytes.fromhex("4433221188776655")


def test_byte_write_while_programming_is_sizerr(m):
    unlock(m)
    m.bus_write(CR, PG)
    m.flash_controller.memory_write(0x0800_4000, 1, 0x11)
    assert m.bus_read(SR) & SIZERR


def test_misaligned_first_word_is_pgaerr(m):
    unlock(m)
    m.bus_write(CR, PG)
    m.flash_controller.memory_write(0x0800_4004, 4, 0)
    assert m.bus_read(SR) & PGAERR


def test_programming_a_non_erased_double_word_is_progerr(m):
    m.flash.store(m.cpu.uc, 0x0800_4000, b"\x00" * 8)
    unlock(m)
    m.bus_write(CR, PG)
    program(m, 0x0800_4000, 0x1234, 0x5678)
    assert m.bus_read(SR) & PROGERR
    assert m.flash.load(0x0800_4000, 8) == b"\x00" * 8


def test_stale_error_flag_makes_the_next_erase_fail_with_pgserr(m):
    m.flash.store(m.cpu.uc, 0x0800_4000, b"\x00" * 8)
    unlock(m)
    m.bus_write(CR, PG)
    program(m, 0x0800_4000, 1, 2)                        # PROGERR
    m.bus_write(CR, PER | (8 << 3))
    m.bus_write(CR, PER | (8 << 3) | STRT)
    assert m.bus_read(SR) & PGSERR
    assert not m.flash_controller.busy
    m.bus_write(SR, PROGERR | PGSERR)                     # rc_w1: cleared by writing 1
    assert not m.bus_read(SR) & (PROGERR | PGSERR)


def test_write_to_locked_flash_sets_pgserr_and_cfgbsy_until_a_double_word(m):
    m.flash_controller.memory_write(0x0800_1000, 4, 0)
    assert m.bus_read(SR) & (PGSERR | CFGBSY) == PGSERR | CFGBSY
    m.flash_controller.memory_write(0x0800_1004, 4, 0)
    assert not m.bus_read(SR) & CFGBSY


def test_mode_bits_conflict_is_pgserr(m):
    unlock(m)
    m.bus_write(CR, PER | PG | STRT)
    assert m.bus_read(SR) & PGSERR


def test_wrp_page_is_not_erased_and_sets_wrperr():
    m = Machine(MachineConfig(option_bytes={"WRP1AR": 0x000C_000A}))    # pages 10..12
    m.reset("power")
    m.flash.store(m.cpu.uc, 0x0800_5800, b"\x00" * 8)                    # page 11
    unlock(m)
    m.bus_write(CR, PER | (11 << 3) | STRT)
    assert m.bus_read(SR) & WRPERR
    assert m.flash.load(0x0800_5800, 8) == b"\x00" * 8
    m.bus_write(SR, WRPERR)
    m.bus_write(CR, MER1 | STRT)
    assert m.bus_read(SR) & WRPERR                                        # mass erase refused too


def test_option_bytes_programmed_by_optstrt_and_loaded_by_obl_launch(m):
    unlock(m)
    m.bus_write(OPTKEYR, OPTKEY1)
    m.bus_write(OPTKEYR, OPTKEY2)
    m.bus_write(OPTR, 0x3EEF_FEAA)                                        # nBOOT_SEL = 0
    m.bus_write(CR, 1 << 17)                                              # OPTSTRT
    finish_operation(m)
    assert m.flash_controller.optr == 0x3EEF_FEAA
    assert m.option_area.word(0x1FFF_7800) == 0x3EEF_FEAA
    assert m.option_area.word(0x1FFF_7804) == ~0x3EEF_FEAA & 0xFFFF_FFFF
    m.bus_write(CR, 1 << 27)                                              # OBL_LAUNCH
    assert m.loop.reset_request == "obl"
    m.reset("obl")
    assert m.flash_controller.optr == 0x3EEF_FEAA
    assert m.rcc.reg["CSR2"].value >> 25 & 1                              # OBLRSTF


def _start_fast_row(m: Machine, words: int) -> None:
    unlock(m)
    m.bus_write(CR, 1 << 18)                                              # FSTPG
    for i in range(words):
        m.flash_controller.memory_write(0x0800_6000 + 4 * i, 4, i)


def test_fast_programming_word_arriving_late_is_misserr(m):
    from peripherals.flash import MISSERR
    _start_fast_row(m, 4)
    m.clock.cycles += int(30e-6 * m.clock.hz)                             # 30 us gap > 20 us
    m.flash_controller.memory_write(0x0800_6010, 4, 4)
    assert m.bus_read(SR) & MISSERR
    assert m.flash.load(0x0800_6000, 16) == b"\xff" * 16


def test_fast_programming_row_not_finished_in_8_ms_is_fasterr(m):
    from peripherals.flash import FASTERR
    _start_fast_row(m, 10)
    m.clock.cycles += int(9e-3 * m.clock.hz)
    m.loop._fire_due_events()
    assert m.bus_read(SR) & FASTERR
    assert not m.bus_read(SR) & CFGBSY


def _program_options(m: Machine, optr: int) -> None:
    unlock(m)
    m.bus_write(OPTKEYR, OPTKEY1)
    m.bus_write(OPTKEYR, OPTKEY2)
    m.bus_write(OPTR, optr)
    m.bus_write(CR, 1 << 17)                                              # OPTSTRT


def test_option_bytes_cannot_change_in_rdp_level_2():
    m = Machine(MachineConfig(option_bytes={"OPTR": 0x3FEF_FECC}))
    m.reset("power")
    _program_options(m, 0x3FEF_FEAA)
    assert m.bus_read(SR) & WRPERR and not m.flash_controller.busy
    assert m.option_area.word(0x1FFF_7800) == 0x3FEF_FECC


def test_rdp_regression_from_level_1_mass_erases_flash():
    m = Machine(MachineConfig(option_bytes={"OPTR": 0x3FEF_FEBB}))
    m.reset("power")
    m.flash.store(m.cpu.uc, 0x0800_4000, b"\x00" * 8)
    _program_options(m, 0x3FEF_FEAA)
    finish_operation(m)
    assert m.flash.load(0x0800_4000, 8) == b"\xff" * 8
    assert m.option_area.word(0x1FFF_7800) == 0x3FEF_FEAA


def test_sec_prot_makes_the_securable_area_a_bus_error_until_reset():
    from unicorn import UcError
    m = Machine(MachineConfig(option_bytes={"SECR": 0x0000_0002}))          # 2 pages securable
    m.reset("power")
    unlock(m)
    m.bus_write(CR, 1 << 28)                                                 # SEC_PROT
    with pytest.raises(UcError):
        m.cpu.read32(0x0800_0000)
    assert m.cpu.read32(0x0800_1000) == 0xFFFF_FFFF                          # page 2 is not securable
    m.bus_write(CR, PER | (1 << 3) | STRT)
    assert m.bus_read(SR) & WRPERR                                           # nor erasable
    m.reset("software")
    assert m.cpu.read32(0x0800_0000) == 0xFFFF_FFFF                          # visible again after reset
