"""The FLASH controller from the guest's side: real images using the mini flash driver."""
from __future__ import annotations

import pytest

from emulator.core.runloop import EndReason
from peripherals.flash import T_ERASE_PAGE
from tests.conftest import boot, run_to_exit


def test_driver_erases_programs_and_fast_programs_a_row():
    m, end = run_to_exit("flash_program")
    assert end.exit_status == 0, m.guest_output
    kinds = [op[0] for op in m.flash_controller.operations]
    assert kinds.count("page erase") == 2 and kinds.count("program") == 8 and kinds.count("fast program") == 1
    assert m.flash.word(0x0801_4000) == 0xC071_0000


def test_code_in_the_page_being_programmed_runs_and_words_appear_only_once_programmed():
    # flash_program_own_page: programs words beside a function it calls with PG set, reads a
    # first word back before its second (erased), then stores with PG clear (PGSERR)
    m, end = run_to_exit("flash_program_own_page")
    assert end.exit_status == 0, m.guest_output
    kinds = [op[0] for op in m.flash_controller.operations]
    assert kinds.count("program") == 3 and kinds.count("sequence error") == 1
    slots = m.symbol("page_slots")
    assert m.symbol("page_code") >> 10 == slots >> 10          # one 1 KiB page holds both
    assert [m.flash.word(slots + 4 * i) for i in (0, 3, 4, 7)] == [0x1111_1111, 0x4444_4444, 0xFFFF_FFFF,
                                                                  0x8888_8888]


def test_key_write_while_unlocked_faults_and_latches_lock():
    m, end = run_to_exit("flash_key_twice")
    assert end.exit_status == 44, m.guest_output
    assert m.trace.of_kind("flash.key_while_unlocked")
    fault = m.trace.of_kind("exception.fault")[0]
    assert fault.pc == m.symbol("second_key1")


def test_stale_progerr_makes_next_erase_fail_with_pgserr():
    m, end = run_to_exit("flash_stale_error")
    assert end.exit_status == 0, m.guest_output
    assert m.flash_controller.operations[-1][4] == "PROGERR+PGSERR"


def test_erased_vector_table_faults_on_next_interrupt():
    m, end = run_to_exit("flash_erase_vectors")
    assert end.reason is EndReason.LOCKUP
    assert "HardFault vector at 0x0800000C reads 0xFFFFFFFF" in end.detail
    faults = [e.text for e in m.trace.of_kind("exception.fault")]
    assert "SysTick vector at 0x0800003C reads 0xFFFFFFFF" in faults[0]


def test_fetch_from_flash_stalls_during_erase():
    m = boot("flash_fetch_stall")
    m.run(stop_at=m.symbol("erase_start"))
    before = m.seconds()
    m.run(stop_at=m.symbol("after_erase_start"))
    assert m.seconds() - before == pytest.approx(T_ERASE_PAGE, abs=2e-6)
    assert m.run(max_seconds=1).exit_status == 0


def test_polling_bsy_from_sram_during_erase_costs_polls_not_erase_time():
    m, end = run_to_exit("flash_erase_all", max_seconds=5)
    assert end.exit_status == 0
    erase_time = 64 * T_ERASE_PAGE
    assert erase_time < m.seconds() < erase_time + 0.03        # + the read-back of 128 KiB at 12 MHz
    assert m.loop.instructions < 64 * 5000           # fast-forwarded, not 64 x 22 ms of polling
    assert m.loop.instructions_skipped > 64 * 100_000


def test_wrp_page_survives_erase_with_wrperr():
    m = boot("flash_program", option_bytes={"WRP1AR": 0x0028_0028})          # page 40 protected
    end = m.run(max_seconds=1)
    assert end.exit_status == 1 and "FAIL: erase" in m.guest_output
    assert any("WRP1AR" in e.text for e in m.trace.of_kind("flash.op"))


def test_rdp1_system_memory_boot_cannot_read_flash():
    m, end = run_to_exit("rdp_probe_sysmem", "hello", boot_pin=1, option_bytes={"OPTR": 0x3EEF_FEBB})
    assert end.exit_status == 45, m.guest_output
    assert m.trace.of_kind("flash.rdp")


def test_rdp0_system_memory_boot_reads_flash():
    m, end = run_to_exit("rdp_probe_sysmem", "hello", boot_pin=1, option_bytes={"OPTR": 0x3EEF_FEAA})
    assert end.exit_status == 0 and "flash readable" in m.guest_output


def test_obl_launch_reloads_option_bytes_and_resets():
    m, end = run_to_exit("flash_options")
    assert end.exit_status == 0, m.guest_output
    assert [e.text.split(";")[0] for e in m.trace.of_kind("reset")] == ["power reset", "obl reset"]
    assert not m.flash_controller.optr >> 24 & 1


def test_pcrop_zone_reads_zero_with_rderr_and_refuses_erase():
    from emulator.image import load_elf
    from emulator.machine import Machine, MachineConfig
    from tests.conftest import elf
    m = Machine(MachineConfig(option_bytes={"PCROP1ASR": 0x10, "PCROP1AER": 0x11}))
    m.load(load_elf(elf("flash_pcrop")))
    m.flash.store(m.cpu.uc, 0x0800_2000, bytes.fromhex("11223344"))
    m.flash.store(m.cpu.uc, 0x0800_2400, (0xC0DEC0DE).to_bytes(4, "little"))
    m.reset("power")
    end = m.run(max_seconds=1)
    assert end.exit_status == 0, m.guest_output
    assert m.flash.load(0x0800_2000, 4) == bytes.fromhex("11223344")      # the zone kept its contents
    assert m.trace.of_kind("flash.pcrop_read")


def test_rdp2_boots_main_flash_even_with_boot0_high():
    m, end = run_to_exit("boot_probe_sysmem", "hello", boot_pin=1, option_bytes={"OPTR": 0x3EEF_FECC})
    assert end.exit_status == 0 and m.guest_output == "hello from flash\n"
