"""SysTick schedules no wrap event while a wrap would change nothing (COUNTFLAG already set,
the exception already pending or TICKINT clear) and takes the count up again when
COUNTFLAG is read or the pending bit clears; a wrap on time schedules the next one a
period on.  Runs must be the same as with an event at every wrap, each placed from the
count: the same exceptions at the same cycles, the same COUNTFLAG reads, the same
registers and time."""
from __future__ import annotations

import struct

import pytest

from emulator.analysis.diagnose import jump_run
from emulator.analysis.flows import dfu_flow
from emulator.image import load_elf
from peripherals.systick import SysTick
from tests.conftest import boot, elf
from tests.test_fast_paths import fingerprint

CODE, RESULTS = 0x2000_1000, 0x2000_1800
SYST_CSR, SYST_RVR, SYST_CVR = 0xE000_E010, 0xE000_E014, 0xE000_E018
CPSID_I, CPSIE_I, B_SELF = 0xB672, 0xB662, 0xE7FE


def both_ways(scenario, monkeypatch):
    dormant = scenario()
    with monkeypatch.context() as patch:
        patch.setattr(SysTick, "SHORTCUTS", False)
        every_wrap = scenario()
    return dormant, every_wrap


def masked_then_polled(m):
    """SysTick every 500 cycles with TICKINT; PRIMASK masks it for a long countdown (the wraps
    pile up on a pending exception), then COUNTFLAG is polled twice and PRIMASK cleared."""
    # r0 = CSR address, r1 = countdown; loop: subs r1,#1; bne loop; ldr r2,[r0]; ldr r3,[r0]; cpsie i; b .
    code = [CPSID_I, 0x3901, 0xD1FD, 0x6802, 0x6803, CPSIE_I, B_SELF]
    m.sram.store(m.cpu.uc, CODE, struct.pack(f"<{len(code)}H", *code))
    m.bus_write(SYST_RVR, 499)
    m.bus_write(SYST_CVR, 0)
    m.bus_write(SYST_CSR, 0b111)
    m.cpu.write("r0", SYST_CSR)
    m.cpu.write("r1", 5_000)
    m.cpu.write("pc", CODE)
    return m.run(max_seconds=2e-3)


def test_wraps_on_a_pending_masked_systick_run_as_with_an_event_at_each(monkeypatch):
    def scenario():
        m = boot("hello")
        end = masked_then_polled(m)
        return fingerprint(m, end), m.cpu.read("r2"), m.cpu.read("r3")
    dormant, every_wrap = both_ways(scenario, monkeypatch)
    assert dormant == every_wrap
    assert dormant[1] >> 16 & 1 and not dormant[2] >> 16 & 1       # COUNTFLAG set, then cleared by the read
    assert any(kind == "exception.entry" for _, kind, _, _ in dormant[0]["events"])


def test_the_forum_jump_and_its_failing_erase_run_as_with_an_event_at_each_wrap(monkeypatch):
    """The bootloader's SysTick keeps wrapping while its HardFault handler spins."""
    app, bootloader = load_elf(elf("jump_forum_v1")), load_elf(elf("bootloader"))

    def scenario():
        run = jump_run(app, bootloader, {}, "usb-control:0x40,0x42")
        outcome = dfu_flow().run(run.m)
        return fingerprint(run.m, None), [(s.name, s.status, s.detail) for s in outcome.steps]
    dormant, every_wrap = both_ways(scenario, monkeypatch)
    assert dormant == every_wrap
    assert ("erase", "failed") in [(name, status) for name, status, _ in dormant[1]]


@pytest.mark.parametrize("image", ["systick", "priority", "wfi_sleep", "tim3_timebase", "flash_fetch_stall",
                                   "flash_erase_all", "stop_exti", "iwdg"])
def test_firmware_with_a_systick_runs_as_with_an_event_at_each_wrap(image, monkeypatch):
    def scenario():
        m = boot(image)
        return fingerprint(m, m.run(max_seconds=0.05))
    dormant, every_wrap = both_ways(scenario, monkeypatch)
    assert dormant == every_wrap


def test_countflag_polling_without_tickint_counts_every_wrap_as_with_an_event_at_each(monkeypatch):
    """A delay counted on COUNTFLAG (TICKINT clear), after a stretch that does not read it."""
    # r0 = CSR; r1 = countdown before polling; r5 = wraps to count
    # idle: subs r1,#1; bne idle
    # poll: ldr r2,[r0]; lsls r2,r2,#15; bpl poll; subs r5,#1; bne poll; b .
    code = [0x3901, 0xD1FD, 0x6802, 0x03D2, 0xD5FC, 0x3D01, 0xD1FA, B_SELF]

    def scenario():
        m = boot("hello")
        m.sram.store(m.cpu.uc, CODE, struct.pack(f"<{len(code)}H", *code))
        m.bus_write(SYST_RVR, 299)
        m.bus_write(SYST_CVR, 0)
        m.bus_write(SYST_CSR, 0b101)                # processor clock, ENABLE, no TICKINT
        m.cpu.write("r0", SYST_CSR)
        m.cpu.write("r1", 3_000)
        m.cpu.write("r5", 7)
        m.cpu.write("pc", CODE)
        end = m.run(max_seconds=1e-3)
        return fingerprint(m, end), m.cpu.read("r5")
    dormant, every_wrap = both_ways(scenario, monkeypatch)
    assert dormant == every_wrap and dormant[1] == 0


def test_wraps_that_come_late_behind_a_flash_stall_run_as_with_an_event_at_each(monkeypatch):
    """A page erase started while the core runs from flash stalls its next fetch for the whole
    erase: the clock jumps past several SysTick wraps, which then come late, and the handler
    (counting in r4) is taken once for them."""
    table, handler, spin = 0x2000_1000, 0x2000_1200, 0x0800_F000

    def scenario():
        m = boot("hello")
        m.sram.store(m.cpu.uc, table, struct.pack("<16I", *([0] * 15 + [handler | 1])))
        m.sram.store(m.cpu.uc, handler, struct.pack("<2H", 0x3401, 0x4770))     # adds r4, #1; bx lr
        m.flash.store(m.cpu.uc, spin, struct.pack("<H", B_SELF))
        m.bus_write(0xE000_ED08, table)                 # SCB.VTOR
        m.bus_write(SYST_RVR, 4_999)
        m.bus_write(SYST_CVR, 0)
        m.bus_write(SYST_CSR, 0b111)
        m.cpu.write("r4", 0)
        m.cpu.write("pc", spin)
        m.run(max_seconds=1e-3)
        m.bus_write(0x4002_2008, 0x4567_0123)           # FLASH_KEYR
        m.bus_write(0x4002_2008, 0xCDEF_89AB)
        m.bus_write(0x4002_2014, (1 << 16) | (60 << 3) | (1 << 1))      # FLASH_CR: STRT, page 60, PER
        end = m.run(max_seconds=0.03)
        return fingerprint(m, end), m.cpu.read("r4")
    dormant, every_wrap = both_ways(scenario, monkeypatch)
    assert dormant == every_wrap
    assert any(e[1] == "flash.stall" for e in dormant[0]["events"]) and dormant[1] > 20
