"""EXTI through the bus, with pins driven from the board side (RM0490 EXTI chapter; no firmware)."""
from __future__ import annotations

import pytest

from emulator.machine import Machine
from peripherals import c071

RTSR1, FTSR1, SWIER1, RPR1, FPR1 = (c071.EXTI + o for o in (0x00, 0x04, 0x08, 0x0C, 0x10))
EXTICR4, IMR1, EMR1 = c071.EXTI + 0x6C, c071.EXTI + 0x80, c071.EXTI + 0x84
RCC_IOPENR = c071.RCC + 0x34
GPIOC_MODER, GPIOC_PUPDR = c071.GPIOC + 0x00, c071.GPIOC + 0x0C
GPIOA_MODER, GPIOA_ODR = c071.GPIOA + 0x00, c071.GPIOA + 0x14
PC13, PORT_C = 13, 2
LINE13 = 1 << 13
IRQ_EXTI4_15 = c071.IRQ_BASE + c071.IRQ_EXTI4_15


@pytest.fixture
def m() -> Machine:
    m = Machine()
    m.reset("power")
    m.bus_write(RCC_IOPENR, 0b101111)
    moder = m.bus_read(GPIOC_MODER) & ~(3 << 2 * PC13)          # PC13 input
    m.bus_write(GPIOC_MODER, moder)
    m.bus_write(EXTICR4, PORT_C << 8)                             # EXTI13 <- port C
    m.drive_pin("PC13", 1)                                        # the board's pull-up on the button
    return m


def test_reset_values_follow_the_svd(m):
    assert m.bus_read(IMR1) == 0xFFF8_0000                        # direct lines 19-31 unmasked
    assert m.bus_read(RTSR1) == m.bus_read(FTSR1) == m.bus_read(EMR1) == 0


def test_falling_edge_on_the_selected_port_sets_fpr_and_pends_exti4_15(m):
    m.bus_write(FTSR1, LINE13)
    m.bus_write(IMR1, m.bus_read(IMR1) | LINE13)
    m.drive_pin("PC13", 0)
    assert m.bus_read(FPR1) == LINE13 and m.bus_read(RPR1) == 0
    assert m.book.is_pending(IRQ_EXTI4_15)


def test_edge_without_its_trigger_selected_sets_nothing(m):
    m.bus_write(RTSR1, LINE13)                                    # rising only
    m.drive_pin("PC13", 0)
    assert m.bus_read(FPR1) == 0 and m.bus_read(RPR1) == 0
    m.drive_pin("PC13", 1)
    assert m.bus_read(RPR1) == LINE13


def test_pending_bit_latches_while_masked_and_irq_follows_the_mask(m):
    m.bus_write(FTSR1, LINE13)
    m.drive_pin("PC13", 0)
    assert m.bus_read(FPR1) == LINE13
    assert not m.book.line_level >> c071.IRQ_EXTI4_15 & 1
    m.bus_write(IMR1, m.bus_read(IMR1) | LINE13)
    assert m.book.line_level >> c071.IRQ_EXTI4_15 & 1


def test_writing_one_clears_the_pending_bit_and_drops_the_line(m):
    m.bus_write(FTSR1, LINE13)
    m.bus_write(IMR1, m.bus_read(IMR1) | LINE13)
    m.drive_pin("PC13", 0)
    m.bus_write(FPR1, 0)                                          # writing 0 changes nothing
    assert m.bus_read(FPR1) == LINE13
    m.bus_write(FPR1, LINE13)
    assert m.bus_read(FPR1) == 0
    assert not m.book.line_level >> c071.IRQ_EXTI4_15 & 1


def test_exticr_selects_the_port_an_edge_must_come_from(m):
    m.bus_write(FTSR1, LINE13)
    m.bus_write(EXTICR4, 0)                                       # EXTI13 <- port A
    m.drive_pin("PC13", 0)
    assert m.bus_read(FPR1) == 0


def test_analog_pin_gives_no_edges(m):
    m.bus_write(FTSR1, LINE13)
    m.bus_write(GPIOC_MODER, m.bus_read(GPIOC_MODER) | 3 << 2 * PC13)
    m.drive_pin("PC13", 0)
    assert m.bus_read(FPR1) == 0


def test_released_pin_falls_to_its_pull_and_makes_an_edge(m):
    m.bus_write(FTSR1, LINE13)
    m.bus_write(GPIOC_PUPDR, 2 << 2 * PC13)                       # pull-down
    m.drive_pin("PC13", None)
    assert m.bus_read(FPR1) == LINE13


def test_software_interrupt_sets_rising_pending_whatever_the_triggers_and_reads_zero(m):
    m.bus_write(IMR1, m.bus_read(IMR1) | 1 << 1)
    m.bus_write(SWIER1, 1 << 1)
    assert m.bus_read(SWIER1) == 0
    assert m.bus_read(RPR1) == 1 << 1
    assert m.book.is_pending(c071.IRQ_BASE + c071.IRQ_EXTI0_1)


@pytest.mark.parametrize("line,irq", [(0, c071.IRQ_EXTI0_1), (3, c071.IRQ_EXTI2_3), (15, c071.IRQ_EXTI4_15)])
def test_lines_are_grouped_on_their_nvic_lines(m, line, irq):
    m.bus_write(IMR1, m.bus_read(IMR1) | 1 << line)
    m.bus_write(SWIER1, 1 << line)
    assert m.book.line_level == 1 << irq


def test_output_pin_edges_reach_exti_too(m):
    m.bus_write(RTSR1, 1 << 5)
    m.bus_write(GPIOA_MODER, m.bus_read(GPIOA_MODER) & ~(3 << 10) | 1 << 10)   # PA5 output
    m.bus_write(GPIOA_ODR, 1 << 5)
    assert m.bus_read(RPR1) == 1 << 5                             # EXTICR2 resets to port A


def test_event_line_sets_the_core_event_register_without_pending_anything(m):
    m.bus_write(FTSR1, LINE13)
    m.bus_write(EMR1, LINE13)
    m.bus_write(IMR1, 0)
    m.drive_pin("PC13", 0)
    assert m.loop.engine.event_register
    assert not m.book.line_level


def test_direct_line_mask_change_is_reported_as_unmodelled(m):
    m.bus_write(IMR1, 0)
    assert any("IM19" in a.what for a in m.trace.unmodelled.values())
