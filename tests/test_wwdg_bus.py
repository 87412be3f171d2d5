"""WWDG through the bus with no firmware: the counter is computed from the clock (RM0490 WWDG chapter)."""
from __future__ import annotations

import pytest

from peripherals import c071

WWDG_CR, WWDG_CFR, WWDG_SR = c071.WWDG, c071.WWDG + 4, c071.WWDG + 8
RCC_CFGR, RCC_APBENR1 = c071.RCC + 0x08, c071.RCC + 0x3C
WWDGEN = 1 << 11
WDGA = 1 << 7
EWI = 1 << 9
TICK = 4096                          # PCLK cycles per count at WDGTB = 0; PCLK = HCLK after reset


@pytest.fixture
def m(power_on_machine):
    power_on_machine.bus_write(RCC_APBENR1, WWDGEN)
    return power_on_machine


def _cycles(m, n: int) -> None:
    m.clock.cycles += n
    m.loop._fire_due_events()


def test_reset_values_and_clock_gate(power_on_machine):
    m = power_on_machine
    assert m.bus_read(WWDG_CR) == 0                                # WWDGEN clear: the block reads 0
    m.bus_write(RCC_APBENR1, WWDGEN)
    assert (m.bus_read(WWDG_CR), m.bus_read(WWDG_CFR), m.bus_read(WWDG_SR)) == (0x7F, 0x7F, 0)


def test_counter_counts_down_every_4096_pclk_cycles_times_two_to_the_wdgtb(m):
    m.bus_write(WWDG_CFR, 0x7F | 2 << 11)                          # WDGTB = 2: 16384 cycles a count
    m.bus_write(WWDG_CR, 0x7F)
    _cycles(m, 10 * 4 * TICK + 5)
    assert m.bus_read(WWDG_CR) == 0x7F - 10


def test_pclk_prescaler_slows_the_counter(m):
    m.bus_write(RCC_CFGR, 5 << 12)                                 # PPRE = 101: PCLK = HCLK / 4
    m.bus_write(WWDG_CR, 0x7F)
    _cycles(m, 3 * 4 * TICK)
    assert m.bus_read(WWDG_CR) == 0x7F - 3


def test_counter_passing_0x40_to_0x3f_resets_with_wdga(m):
    m.bus_write(WWDG_CR, WDGA | 0x7F)
    _cycles(m, (0x7F - 0x40) * TICK)
    assert m.bus_read(WWDG_CR) == WDGA | 0x40 and m.loop.reset_request is None
    _cycles(m, TICK)
    assert m.loop.reset_request == "wwdg"


def test_without_wdga_the_counter_runs_free_and_never_resets(m):
    m.bus_write(WWDG_CR, 0x7F)
    _cycles(m, 0x90 * TICK)
    assert m.loop.reset_request is None
    assert m.bus_read(WWDG_CR) == (0x7F - 0x90) & 0x7F


def test_refresh_above_the_window_resets(m):
    m.bus_write(WWDG_CFR, 0x50)
    m.bus_write(WWDG_CR, WDGA | 0x7F)
    _cycles(m, 5 * TICK)                                           # counter 0x7A > W
    m.bus_write(WWDG_CR, 0x7F)
    assert m.loop.reset_request == "wwdg"


def test_refresh_inside_the_window_reloads_the_counter(m):
    m.bus_write(WWDG_CFR, 0x50)
    m.bus_write(WWDG_CR, WDGA | 0x7F)
    _cycles(m, 0x30 * TICK)                                        # counter 0x4F <= W
    m.bus_write(WWDG_CR, 0x7F)                                     # the HAL refresh: T only
    assert m.loop.reset_request is None
    assert m.bus_read(WWDG_CR) == WDGA | 0x7F                      # WDGA stays: set-only


def test_writing_t6_clear_while_active_resets_at_once(m):
    m.bus_write(WWDG_CR, WDGA | 0x7F)
    m.bus_write(WWDG_CR, 0x3F)
    assert m.loop.reset_request == "wwdg"


def test_early_wakeup_flag_at_0x40_raises_irq0_when_ewi_is_set(m):
    m.bus_write(WWDG_CFR, 0x7F | EWI)
    m.bus_write(WWDG_CR, WDGA | 0x7F)
    _cycles(m, 0x3F * TICK)
    assert m.bus_read(WWDG_SR) == 1
    assert m.book.line_level >> c071.IRQ_WWDG & 1
    m.bus_write(WWDG_SR, 1)                                        # writing 1 has no effect
    assert m.bus_read(WWDG_SR) == 1
    m.bus_write(WWDG_SR, 0)
    assert m.bus_read(WWDG_SR) == 0 and not m.book.line_level >> c071.IRQ_WWDG & 1


def test_ewi_is_set_only(m):
    m.bus_write(WWDG_CFR, 0x7F | EWI)
    m.bus_write(WWDG_CFR, 0x7F)
    assert m.bus_read(WWDG_CFR) & EWI


def test_wwdg_reset_sets_wwdgrstf_and_clears_wdga(m):
    m.bus_write(WWDG_CR, WDGA | 0x7F)
    m.bus_write(WWDG_CR, 0x3F)
    m.reset(m.loop.reset_request)
    assert m.bus_read(c071.RCC + 0x60) >> 30 & 1                   # RCC_CSR2.WWDGRSTF
    m.bus_write(RCC_APBENR1, WWDGEN)
    assert m.bus_read(WWDG_CR) == 0x7F


def test_hardware_watchdog_option_starts_it_at_reset():
    from emulator.machine import Machine, MachineConfig
    m = Machine(MachineConfig(option_bytes={"OPTR": 0x3FEF_FEAA & ~(1 << 19)}))   # WWDG_SW = 0
    m.reset("power")
    m.bus_write(RCC_APBENR1, WWDGEN)
    assert m.bus_read(WWDG_CR) & WDGA
