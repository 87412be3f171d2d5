"""The fast paths change speed, never the run: each scenario runs twice, with
``MachineConfig(fast_paths=False)`` (unmask sites hooked for good, every exception-state
change ending the slice, every register access through the full chain, the binding's MMIO
callbacks) and with the fast paths on, and everything observable must be identical:
guest output, end, instruction and cycle counts, trace events, exception records, the
MMIO log, every peripheral register with its last writer (pc, cycle), core registers and
SRAM."""
from __future__ import annotations

import hashlib
import io

import pytest

from emulator.analysis.flows import dfu_flow
from emulator.host.usb_host import UsbHost
from emulator.image import load_elf
from emulator.machine import Machine, MachineConfig
from tests.conftest import elf

BOOT0_OPTR = 0x3EEF_FEAA


def fingerprint(m: Machine, end) -> dict:
    exceptions = [(e.cycle, e.kind, e.text, e.pc) for e in m.trace.events]
    registers = {f"{p.name}@{p.base:08X}.{r.name}": (r.value, r.last_written, r.last_writer)
                 for p in m.peripherals for r in p.registers}
    return {
        "end": (end.reason, end.detail, end.exit_status, end.pc) if end is not None else None,
        "output": m.guest_output,
        "instructions": m.loop.instructions,
        "skipped": m.loop.instructions_skipped,
        "cycles": m.clock.cycles,
        "events": exceptions,
        "registers": registers,
        "core": m.cpu.registers(),
        "sram": hashlib.sha256(m.sram.load(m.sram.base, m.sram.size)).hexdigest(),
        "flash": hashlib.sha256(m.flash.load(m.flash.base, m.flash.size)).hexdigest(),
        "unmodelled": sorted((k, v.count) for k, v in m.trace.unmodelled.items()),
    }


def machine(fast: bool, *images: str, mmio_log: io.StringIO | None = None, **config) -> Machine:
    m = Machine(MachineConfig(fast_paths=fast, **config))
    for name in images:
        m.load(load_elf(elf(name)))
    m.trace.mmio_out = mmio_log
    m.reset("power")
    return m


def run_both(scenario) -> tuple[dict, dict]:
    return scenario(False), scenario(True)


@pytest.mark.parametrize("image, seconds", [
    ("priority", 1.0),            # preemption, tail-chaining, an IRQ pended under PRIMASK taken after cpsie
    ("systick", 1.0),
    ("svc_pendsv", 1.0),
    ("wfe_sev", 1.0),             # sev hooked because a wfe exists
    ("wfi_sleep", 1.0),
    ("psp", 1.0),
    ("bench_idle", 0.05),         # NVIC disable/enable of the USB line on every pass, WFI, SysTick
    ("bench_critical", 0.03),     # critical sections with SysTick pending under PRIMASK: unmask sites armed
    ("flash_program", 1.0),
    ("flash_program_own_page", 1.0),   # stores into the page that holds running code, a read-back, PGSERR
    ("flash_options", 1.0),       # option registers are written through FLASH's own write_register
    ("flash_key_twice", 1.0),
    ("iwdg", 1.0),
    ("jump_forum_v1", 0.2),
])
def test_firmware_runs_identically_with_and_without_fast_paths(image, seconds):
    def scenario(fast):
        m = machine(fast, image)
        return fingerprint(m, m.run(max_seconds=seconds))
    reference, fast = run_both(scenario)
    assert fast == reference


def test_critical_section_image_arms_the_unmask_sites_only_while_an_interrupt_waits():
    m = machine(True, "bench_critical")
    m.run(max_seconds=0.03)
    assert m.loop.unmask_armings > 0                       # SysTick did arrive inside critical sections
    assert not m.loop._armed or m.cpu.primask() == 1       # never armed with nothing masked


def test_register_loop_mmio_log_is_identical_with_and_without_fast_paths():
    def scenario(fast):
        log = io.StringIO()
        m = machine(fast, "bench_regs", mmio_log=log)
        end = m.run(max_seconds=0.002)
        return fingerprint(m, end), log.getvalue()
    (reference, ref_log), (fast, fast_log) = run_both(scenario)
    assert fast == reference
    assert fast_log == ref_log and "GPIOA.ODR" in fast_log


def test_dfuse_session_after_boot0_is_identical_with_and_without_fast_paths():
    def scenario(fast):
        m = machine(fast, "bootloader", "hello", boot_pin=1, option_bytes={"OPTR": BOOT0_OPTR})
        outcome = dfu_flow().run(m)
        assert all(step.status == "ok" for step in outcome.steps), outcome.steps
        return fingerprint(m, None), [(s.name, s.status, s.detail, s.start, s.end) for s in outcome.steps]
    reference, fast = run_both(scenario)
    assert fast == reference


def test_interrupt_driven_usb_echo_is_identical_with_and_without_fast_paths():
    def scenario(fast):
        m = machine(fast, "usb_echo_irq")
        host = UsbHost(m)
        info = host.enumerate()
        host.bulk_write(0x01, bytes(range(256)) * 4)
        echoed = host.bulk_read(0x81, 1024)
        return fingerprint(m, None), info.describe(), echoed
    reference, fast = run_both(scenario)
    assert fast == reference


def _inside_a_slice(m: Machine) -> None:
    m.loop.in_slice = True
    m.cpu._limit.value = 1000              # the slice's budget; ending it lowers the limit to the counter
    m.cpu._counter.value = 5


NVIC_ISER, NVIC_ICER, NVIC_ISPR = 0xE000_E100, 0xE000_E180, 0xE000_E200
USB_LINE = 1 << 8


def test_enabling_or_disabling_an_idle_nvic_line_does_not_end_the_slice(power_on_machine):
    m = power_on_machine
    _inside_a_slice(m)
    m.bus_write(NVIC_ISER, USB_LINE)
    m.bus_write(NVIC_ICER, USB_LINE)
    m.bus_write(NVIC_ISER, USB_LINE)
    assert m.cpu.slice_limit() == 1000


def test_enabling_a_pending_line_ends_the_slice_so_the_interrupt_is_taken_at_the_boundary(power_on_machine):
    m = power_on_machine
    m.bus_write(NVIC_ISPR, USB_LINE)                  # pending while disabled: not takeable
    _inside_a_slice(m)
    m.bus_write(NVIC_ICER, USB_LINE)
    assert m.cpu.slice_limit() == 1000
    m.bus_write(NVIC_ISER, USB_LINE)
    assert m.cpu.slice_limit() == 5


FLASH_OPTR = 0x4002_2020


def test_option_register_write_while_optlock_is_set_is_ignored_on_the_fast_path(power_on_machine):
    """FLASH refines write_register (OPTLOCK protects the option registers): a word write that
    the fast path could serve must still go through it."""
    m = power_on_machine
    before = m.bus_read(FLASH_OPTR)
    m.bus_write(FLASH_OPTR, before ^ 0x0000_00FF)
    assert m.bus_read(FLASH_OPTR) == before


def test_an_event_scheduled_inside_a_slice_lowers_its_limit_to_the_event(power_on_machine):
    m = power_on_machine
    _inside_a_slice(m)
    m.loop.slice_start_cell.value = m.clock.cycles
    m.services.after_cycles(100, lambda: None, "test event")      # due 100 cycles after instruction 5
    assert m.cpu.slice_limit() == 4 + 100                          # the slice ends exactly where it falls
    m.services.after_cycles(500, lambda: None, "later event")      # beyond that: nothing changes
    assert m.cpu.slice_limit() == 104


def test_the_reference_path_ends_the_slice_at_an_event_scheduled_inside_it():
    m = Machine(MachineConfig(fast_paths=False))
    m.reset("power")
    _inside_a_slice(m)
    m.loop.slice_start_cell.value = m.clock.cycles
    m.services.after_cycles(100, lambda: None, "test event")
    assert m.cpu.slice_limit() == 5


GPIOA_MODER, GPIOA_OTYPER, GPIOA_PUPDR, GPIOA_IDR, GPIOA_ODR = (0x5000_0000 + o for o in (0x00, 0x04, 0x0C, 0x10, 0x14))


def test_gpio_pin_levels_follow_configuration_changes_between_odr_writes(power_on_machine):
    """The pin masks derived from MODER/PUPDR/drives are kept between ODR writes; every change of
    those must still reach the levels (and the EXTI/PWR listeners)."""
    m = power_on_machine
    m.bus_write(0x4002_1034, 1)                         # RCC_IOPENR.GPIOAEN
    port = m.gpio["GPIOA"]
    m.bus_write(GPIOA_MODER, 0xEBFF_F7FF)               # PA5 output
    m.bus_write(GPIOA_ODR, 1 << 5)
    assert port.pin_level(5) == 1 and m.bus_read(GPIOA_IDR) >> 5 & 1
    m.bus_write(GPIOA_OTYPER, 1 << 5)                   # open drain, ODR 1: released, floating
    assert port.pin_levels() >> 5 & 1 == 0
    m.bus_write(GPIOA_PUPDR, 0x2400_0000 | 1 << 10)     # pull-up on PA5
    assert port.pin_levels() >> 5 & 1 == 1
    port.drive(5, 0)                                    # the board pulls it low
    assert port.pin_levels() >> 5 & 1 == 0
    port.release(5)
    m.bus_write(GPIOA_MODER, 0xEBFF_FFFF)               # analog: IDR reads 0
    assert m.bus_read(GPIOA_IDR) >> 5 & 1 == 0
