"""Firmware-level behaviour: the real test images (images/README.md) run on the whole machine."""
from __future__ import annotations

import pytest

from emulator.core.runloop import EndReason
from emulator.machine import BootMode
from tests.conftest import BOOT_LOCK, FACTORY_OPTR, N_BOOT0, N_BOOT1, N_BOOT_SEL, boot, run_to_exit

SFTRSTF, IWDGRSTF = 1 << 28, 1 << 29     # RCC_CSR2 (RM0490 §6.4.27)
HCLK_RESET_HZ = 12_000_000


def assert_exit(end, status: int = 0) -> None:
    assert end.reason is EndReason.EXIT, end
    assert end.exit_status == status, end


def c_string(m, address: int, length: int = 16) -> str:
    raw = bytes(m.cpu.uc.mem_read(address, length))
    return raw.split(b"\0", 1)[0].decode("ascii")


# -- boot selection (RM0490 §3.1 Table 9) ---------------------------------------------------
def test_factory_option_bytes_boot_main_flash():
    m, end = run_to_exit("hello")
    assert_exit(end)
    assert m.boot_mode is BootMode.MAIN_FLASH
    assert m.guest_output == "hello from flash\n"


def test_boot0_pin_selects_system_memory_when_nboot_sel_is_clear():
    m, end = run_to_exit("boot_probe_sysmem", "hello", boot_pin=1,
                         option_bytes={"OPTR": FACTORY_OPTR & ~N_BOOT_SEL})
    assert_exit(end)
    assert m.boot_mode is BootMode.SYSTEM_MEMORY
    assert m.guest_output == "hello from system memory\n"


def test_boot0_pin_is_ignored_while_nboot_sel_is_set():
    m, end = run_to_exit("boot_probe_sysmem", "hello", boot_pin=1)
    assert_exit(end)
    assert m.boot_mode is BootMode.MAIN_FLASH and m.guest_output == "hello from flash\n"


def test_nboot0_option_bit_clear_selects_system_memory():
    m, end = run_to_exit("boot_probe_sysmem", "hello", option_bytes={"OPTR": FACTORY_OPTR & ~N_BOOT0})
    assert_exit(end)
    assert m.boot_mode is BootMode.SYSTEM_MEMORY
    assert m.guest_output == "hello from system memory\n"


def test_boot0_with_nboot1_clear_boots_the_preloaded_sram_image():
    m, end = run_to_exit("boot_probe_sram", boot_pin=1,
                         option_bytes={"OPTR": FACTORY_OPTR & ~N_BOOT_SEL & ~N_BOOT1})
    assert_exit(end)
    assert m.boot_mode is BootMode.SRAM
    assert m.guest_output == "hello from SRAM\n"


def test_empty_flash_falls_back_to_system_memory():
    m, end = run_to_exit("boot_probe_sysmem")
    assert_exit(end)
    assert m.flash_controller.empty
    assert m.boot_mode is BootMode.SYSTEM_MEMORY
    assert m.guest_output == "hello from system memory\n"


def test_boot_lock_forces_erased_flash_and_locks_up_on_its_reset_vector():
    m, end = run_to_exit("boot_probe_sysmem", option_bytes={"SECR": BOOT_LOCK})
    assert m.boot_mode is BootMode.MAIN_FLASH
    assert end.reason is EndReason.LOCKUP
    assert "reset vector" in end.detail and "0xFFFFFFFF" in end.detail
    assert m.guest_output == ""


# -- memory map and vectoring ---------------------------------------------------------------------
def test_mem_mode_remaps_address_zero_at_run_time_only_with_syscfgen():
    m, end = run_to_exit("remap")
    assert_exit(end)
    assert m.guest_output.splitlines() == ["flash at 0x0", "remap ignored without SYSCFGEN", "system memory at 0x0",
                                           "SRAM at 0x0", "flash at 0x0 again"]
    remaps = [e.text.split(":")[0] for e in m.trace.of_kind("syscfg.remap")]
    assert remaps == ["MEM_MODE=01", "MEM_MODE=11", "MEM_MODE=00"]     # the write without SYSCFGEN made none


def test_vtor_relocation_vectors_through_the_sram_table():
    m, end = run_to_exit("vtor")
    assert_exit(end)
    assert m.guest_output == "relocated SysTick taken\n"
    table = m.symbol("ram_vectors")
    assert table >> 28 == 0x2 and table % 256 == 0
    (entry,) = [e for e in m.trace.of_kind("exception.entry") if e.text.startswith("SysTick")]
    assert f"0x{table + 4 * 15:08X}" in entry.text and f"VTOR 0x{table:08X}" in entry.text
    assert entry.pc == m.symbol("relocated_systick_handler")
    assert m.read32(m.symbol("relocated_hits")) == 1 and m.read32(m.symbol("flash_hits")) == 0


# -- SysTick and interrupts ------------------------------------------------------------------------
def test_systick_interrupt_is_taken_reload_plus_one_cycles_after_the_enabling_store():
    """LOAD = 999, VAL = 0, CTRL = 7 written by the `str` just before `systick_enabled_at`.

    Model semantics (peripherals/systick.py, ARMv6-M B3.3): the write takes effect in the
    cycle of the store itself (its MMIO callback sees that instruction's cycle), so the
    store's own cycle is the first SysTick clock; from VAL = 0 that edge loads RELOAD and the
    wrap to 0 comes RELOAD + 1 = 1000 clocks later.  With one cycle per instruction the
    label is one cycle after the store, so the handler is entered 999 cycles after the
    label = 1000 cycles after the store.  Later ticks are exactly 1000 cycles apart.
    """
    m = boot("systick")
    assert m.run(max_seconds=1, stop_at=m.symbol("systick_enabled_at")).reason is EndReason.STOP_AT
    at_label = m.clock.cycles
    end = m.run(max_seconds=1, stop_at=m.symbol("SysTick_Handler"))
    assert end.reason is EndReason.STOP_AT and end.pc == m.symbol("SysTick_Handler")
    assert m.read32(m.symbol("tick_count")) == 0
    store_cycle = at_label - 1
    assert m.clock.cycles - store_cycle == 999 + 1
    assert m.clock.cycles - at_label == 999

    assert_exit(m.run(max_seconds=1))
    assert m.guest_output == "10 ticks\n"
    entries = [e.cycle for e in m.trace.of_kind("exception.entry") if e.text.startswith("SysTick")]
    assert len(entries) == 10 and entries[0] == store_cycle + 1000
    assert {b - a for a, b in zip(entries, entries[1:])} == {1000}


def test_priority_preemption_tail_chaining_and_primask():
    m, end = run_to_exit("priority")
    assert_exit(end)
    assert m.guest_output.splitlines() == ["preemption: abA", "no preemption: aAb", "irq taken at after_cpsie"]
    # Part C is the last: its handler logged 'c' only
    assert c_string(m, m.symbol("priority_log")) == "c"
    assert m.read32(m.symbol("priority_log_len")) == 1
    assert m.read32(m.symbol("priority_mode")) == 3
    flow = [(e.kind.split(".")[1], e.text.split(":")[0]) for e in m.trace.of_kind("exception.") ]
    irq5, irq6 = "EXTI0_1", "EXTI2_3"
    assert flow == [
        ("entry", irq5), ("entry", irq6), ("return", irq6), ("return", irq5),      # A: IRQ6 nests in IRQ5
        ("entry", irq5), ("return", irq5), ("entry", irq6), ("return", irq6),      # B: IRQ6 waits
        ("entry", irq5), ("return", irq5),                                         # C: after cpsie i
    ]
    returns = m.trace.of_kind("exception.return")
    assert "EXC_RETURN 0xFFFFFFF1" in returns[0].text     # the nested return goes back to handler mode


def test_irq_pended_under_primask_is_taken_right_after_cpsie():
    m = boot("priority")
    handler, body = m.symbol("IRQ5_Handler"), m.symbol("irq5_body")
    for part in (1, 2, 3):
        end = m.run(max_seconds=1, stop_at=handler)
        assert end.reason is EndReason.STOP_AT
        assert m.read32(m.symbol("priority_mode")) == part
        if part < 3:
            assert m.run(max_seconds=1, stop_at=body).reason is EndReason.STOP_AT
    stacked_pc = m.read32(m.cpu.read("msp") + 24)
    assert stacked_pc == m.symbol("after_cpsie")
    assert m.cpu.read("primask") == 0 and m.cpu.ipsr() == 16 + 5
    assert_exit(m.run(max_seconds=1))
    assert m.read32(m.symbol("irq_return_address")) == m.symbol("after_cpsie")
    assert m.guest_output.endswith("irq taken at after_cpsie\n")


def test_svc_from_psp_thread_mode_returns_with_exc_return_fffffffd():
    m, end = run_to_exit("psp")
    assert_exit(end)
    assert m.guest_output == "EXC_RETURN 0xFFFFFFFD on PSP\n"
    assert m.read32(m.symbol("svc_exc_return")) == 0xFFFF_FFFD
    stack = m.symbol("psp_stack")
    assert stack <= m.read32(m.symbol("svc_psp")) < stack + 512
    assert not stack <= m.read32(m.symbol("svc_msp")) < stack + 512
    assert m.read32(m.symbol("svc_count")) == 1
    (ret,) = m.trace.of_kind("exception.return")
    assert "EXC_RETURN 0xFFFFFFFD" in ret.text


def test_svc_and_pendsv_ordering_follows_priority():
    m, end = run_to_exit("svc_pendsv")
    assert_exit(end)
    assert m.guest_output.splitlines() == ["svc then pendsv: sp", "pendsv preempts svc: ps"]
    assert c_string(m, m.symbol("svc_pendsv_log"), 8) == "ps"


# -- faults ----------------------------------------------------------------------------------------
def test_erased_vector_escalates_to_hardfault():
    m, end = run_to_exit("erased_vector")
    assert_exit(end, 42)
    assert m.guest_output == "HardFault after erased vector\n"
    faults = m.trace.of_kind("exception.fault")
    assert any("0xFFFFFFFF" in e.text for e in faults)
    assert m.trace.of_kind("exception.entry")[-1].pc == m.symbol("HardFault_Handler")


def test_fault_inside_hardfault_locks_up_the_core():
    m, end = run_to_exit("double_fault")
    assert end.reason is EndReason.LOCKUP
    assert end.detail.startswith("core locked up at PC")
    assert m.guest_output == "in HardFault\n"
    assert m.symbol("HardFault_Handler") <= end.pc < m.symbol("HardFault_Handler") + 0x20
    assert m.run(max_seconds=1).reason is EndReason.LOCKUP      # a locked-up core stays locked


# -- resets ----------------------------------------------------------------------------------------
def test_sysresetreq_reboots_and_flags_a_software_reset():
    m, end = run_to_exit("sysreset")
    assert_exit(end)
    assert m.guest_output == "requesting reset\nrebooted by SYSRESETREQ\n"
    resets = m.trace.of_kind("reset")
    assert len(resets) == 2 and resets[1].text.startswith("software reset")
    assert m.rcc.reg["CSR2"].value & SFTRSTF
    assert m.read32(m.symbol("boot_count")) == 0xB007_0001     # .noinit survives a system reset


def test_iwdg_expiry_resets_after_12_5_ms():
    m, end = run_to_exit("iwdg")
    assert_exit(end)
    assert m.guest_output == "watchdog started\nreset by IWDG\n"
    assert m.rcc.reg["CSR2"].value & IWDGRSTF
    assert m.seconds() == pytest.approx(12.5e-3, rel=0.02)
    (iwdg_reset,) = [e for e in m.trace.of_kind("reset") if e.text.startswith("iwdg")]
    assert iwdg_reset.seconds == pytest.approx(12.5e-3, rel=0.02)


# -- time: sleeping and polling are fast-forwarded ------------------------------------------------
def test_wfi_sleep_fast_forwards_to_the_systick_wake_up():
    m, end = run_to_exit("wfi_sleep")
    assert_exit(end)
    assert m.guest_output == "slept 100 ms\n"
    assert m.seconds() == pytest.approx(0.100, rel=0.01)
    assert m.read32(m.symbol("ticks")) == 100
    assert m.loop.instructions < 10_000


def test_a_time_limit_in_a_sleep_that_systick_ends_names_no_missing_wake_up_source():
    m = boot("trigger_never")                  # WFI in its main loop, SysTick at 1 kHz
    end = m.run(max_seconds=0.0105)            # half way between two ticks
    assert end.reason is EndReason.TIME_LIMIT and m.loop.sleeping
    assert "asleep" in end.detail and "no wake-up source" not in end.detail


def test_a_sleep_with_nothing_scheduled_says_nothing_can_wake_it():
    m = boot("trigger_never")
    m.run(max_seconds=0.0105)
    m.bus_write(0xE000_E010, 0)                # SYST_CSR: SysTick off, the only wake-up source
    end = m.run(max_seconds=0.01)
    assert end.reason is EndReason.TIME_LIMIT and "asleep (WFI/WFE) with no wake-up source" in end.detail


def test_busy_poll_on_countflag_is_fast_forwarded():
    m, end = run_to_exit("bench_poll")
    assert_exit(end)
    assert m.guest_output == "polled 1 s\n"
    assert m.seconds() == pytest.approx(1.0, rel=0.01)
    assert m.loop.instructions < 100_000
    assert m.loop.instructions_skipped > 1_000_000
    assert m.clock.cycles == m.loop.instructions + m.loop.instructions_skipped   # 1 cycle per instruction


# -- determinism -----------------------------------------------------------------------------------
@pytest.mark.parametrize("image", ["priority", "wfi_sleep", "iwdg"])
def test_identical_runs_give_identical_traces(image):
    def one_run():
        m, end = run_to_exit(image)
        assert_exit(end)
        return ([(e.cycle, e.kind, e.text, e.pc) for e in m.trace.events],
                m.clock.cycles, m.loop.instructions, m.guest_output)

    first, second = one_run(), one_run()
    assert first == second
    assert len(first[0]) > 2


def test_load_from_a_reserved_address_is_a_bus_fault_at_that_load():
    m, end = run_to_exit("bus_fault")
    assert end.exit_status == 43, m.guest_output
    fault = m.trace.of_kind("exception.fault")[0]
    assert "0x40008000" in fault.text and fault.pc == m.symbol("reserved_load")


def test_sev_makes_the_next_wfe_return_and_a_later_wfe_sleeps_until_an_exception():
    m, end = run_to_exit("wfe_sev")
    assert end.exit_status == 0, m.guest_output
    assert 0.0009 < m.seconds() < 0.0011         # slept ~1 ms (12000 cycles at 12 MHz)
    assert m.loop.instructions < 200             # ...without executing through it


def test_resuming_a_run_steps_past_the_stop_it_is_sitting_on():
    m = boot("systick")
    handler = m.symbol("SysTick_Handler")
    first = m.run(stop_at=handler)
    entry_cycle = m.clock.cycles
    second = m.run(stop_at=handler)
    assert first.reason is second.reason is EndReason.STOP_AT
    assert m.clock.cycles - entry_cycle == 1000  # the next tick, not the same stop again
