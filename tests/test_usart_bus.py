"""USART1/USART2 at bus level (RM0490 §24): no firmware, registers poked through the bus,
the host end of the line is ``emulator.host.serial_port.SerialPort``."""
from __future__ import annotations

import pytest

from emulator.core.clock import PS_PER_S
from emulator.host.serial_port import SerialPort
from emulator.machine import Machine
from peripherals import c071
from peripherals.usart import Framing, receive_as

CR1, CR2, CR3, BRR, RQR, ISR, ICR, RDR, TDR, PRESC = 0x00, 0x04, 0x08, 0x0C, 0x18, 0x1C, 0x20, 0x24, 0x28, 0x2C
UE, RE, TE, RXNEIE, TCIE, TXEIE, PCE, M0 = 1, 1 << 2, 1 << 3, 1 << 5, 1 << 6, 1 << 7, 1 << 10, 1 << 12
PE, FE, ORE, IDLE, RXNE, TC, TXE = 1, 2, 8, 16, 32, 64, 128
ABRE, ABRF, BUSY, TEACK, REACK = 1 << 14, 1 << 15, 1 << 16, 1 << 21, 1 << 22
ABREN, ABRMOD_7F = 1 << 20, 2 << 21
RCC_APBENR1, RCC_APBENR2, RCC_APBRSTR2 = 0x4002_103C, 0x4002_1040, 0x4002_1030
USART1EN, USART2EN, USART1RST = 1 << 14, 1 << 17, 1 << 14
U1 = c071.USART1
HZ = 12_000_000          # PCLK after reset


def _advance(m: Machine, seconds: float) -> None:
    """Move simulated time forward with no firmware, firing each event at its own time."""
    target = m.clock.cycle_at(m.clock.time_ps() + int(seconds * PS_PER_S))
    while (nxt := m.scheduler.next_cycle()) is not None and nxt <= target:
        m.clock.cycles = max(m.clock.cycles, nxt)
        m.loop._fire_due_events()
    m.clock.cycles = target


def machine(base: int = U1) -> Machine:
    m = Machine()
    m.reset("power")
    m.bus_write(RCC_APBENR2, USART1EN)
    m.bus_write(RCC_APBENR1, USART2EN)
    return m


def setup_8e1(m: Machine, baud: int = 115200, base: int = U1, cr1_extra: int = 0) -> None:
    m.bus_write(base + BRR, round(HZ / baud))
    m.bus_write(base + CR1, M0 | PCE | TE | RE | UE | cr1_extra)


def test_reset_values_and_usart_blocks_are_modelled():
    m = machine()
    assert m.bus_read(U1 + ISR) == 0x0080_00C0
    assert all(m.bus_read(U1 + off) == 0 for off in (CR1, CR2, CR3, BRR, RDR, TDR, PRESC))
    assert {b.name for b in c071.UNMODELLED_BLOCKS}.isdisjoint({"USART1", "USART2"})
    assert m.peripheral_at(c071.USART2) is m.usart2 and m.peripheral_at(U1) is m.usart1


def test_gated_usart_ignores_writes_and_reads_zero():
    m = Machine()
    m.reset("power")
    m.bus_write(U1 + BRR, 104)
    assert m.bus_read(U1 + ISR) == 0
    m.bus_write(RCC_APBENR2, USART1EN)
    assert m.bus_read(U1 + BRR) == 0 and m.bus_read(U1 + ISR) == 0x0080_00C0


def test_rcc_reset_pulse_restores_reset_values():
    m = machine()
    m.bus_write(U1 + BRR, 104)
    m.bus_write(RCC_APBRSTR2, USART1RST)
    m.bus_write(RCC_APBRSTR2, 0)
    assert m.bus_read(U1 + BRR) == 0


def test_tdr_write_shifts_out_8e1_in_eleven_bit_times():
    m = machine()
    port = SerialPort(m, "USART1", baud=115200, parity="E")
    setup_8e1(m)
    assert m.bus_read(U1 + ISR) & (TEACK | REACK) == TEACK | REACK
    bit = 104 / HZ                               # BRR = 104 at 12 MHz
    _advance(m, 11 * bit)                        # the idle frame sent when TE was set
    t0 = m.seconds()
    m.bus_write(U1 + TDR, 0x79)
    isr = m.bus_read(U1 + ISR)
    assert isr & TXE and not isr & TC            # TDR moved to the shift register at once
    _advance(m, 10.5 * bit)
    assert not port.received and not m.bus_read(U1 + ISR) & TC
    _advance(m, 0.6 * bit)
    assert m.bus_read(U1 + ISR) & TC
    ch = port.received[0]
    assert ch.value == 0x79 and ch.error == "" and ch.time_s - t0 == pytest.approx(11 * bit, rel=1e-6)


def test_second_tdr_write_clears_txe_until_the_first_character_ends():
    m = machine()
    port = SerialPort(m, "USART1", baud=115200)
    setup_8e1(m)
    _advance(m, 1e-3)
    m.bus_write(U1 + TDR, 0x01)
    m.bus_write(U1 + TDR, 0x02)
    assert not m.bus_read(U1 + ISR) & TXE
    _advance(m, 11 * 104 / HZ)
    assert m.bus_read(U1 + ISR) & TXE and not m.bus_read(U1 + ISR) & TC
    _advance(m, 11 * 104 / HZ)
    assert m.bus_read(U1 + ISR) & TC and port.take() == b"\x01\x02"


def test_received_byte_sets_rxne_after_its_character_time_and_rdr_read_clears_it():
    m = machine()
    port = SerialPort(m, "USART1", baud=115200)
    setup_8e1(m)
    port.send(b"\x7f")
    _advance(m, 1e-6)
    assert m.bus_read(U1 + ISR) & BUSY and not m.bus_read(U1 + ISR) & RXNE
    _advance(m, 11 / 115200 + 1e-6)
    isr = m.bus_read(U1 + ISR)
    assert isr & RXNE and not isr & BUSY
    assert m.bus_read(U1 + RDR) == 0x7F
    assert not m.bus_read(U1 + ISR) & RXNE
    _advance(m, 11 / 115200 * 1.01)
    assert m.bus_read(U1 + ISR) & IDLE
    m.bus_write(U1 + ICR, IDLE)
    assert not m.bus_read(U1 + ISR) & IDLE


def test_unread_rdr_gives_overrun_and_keeps_the_first_byte():
    m = machine()
    port = SerialPort(m, "USART1", baud=115200)
    setup_8e1(m)
    port.send(b"\x11\x22")
    _advance(m, 2 * 11 / 115200 + 1e-6)
    isr = m.bus_read(U1 + ISR)
    assert isr & RXNE and isr & ORE
    assert m.bus_read(U1 + RDR) == 0x11
    m.bus_write(U1 + ICR, ORE)
    assert not m.bus_read(U1 + ISR) & ORE


def test_baud_mismatch_is_a_framing_error_and_parity_mismatch_a_parity_error():
    m = machine()
    port = SerialPort(m, "USART1", baud=57600)
    setup_8e1(m)                                      # 115200
    port.send(b"\x55")
    _advance(m, 11 / 57600 + 1e-6)
    assert m.bus_read(U1 + ISR) & FE
    m.bus_read(U1 + RDR)
    m.bus_write(U1 + ICR, FE)
    port.configure(baud=115200, parity="O")
    port.send(b"\x55")
    _advance(m, 11 / 115200 + 1e-6)
    isr = m.bus_read(U1 + ISR)
    assert isr & PE and not isr & FE and m.bus_read(U1 + RDR) == 0x55


def armed_for_auto_baud_0x7f():
    """USART1 waiting for its first character to measure the rate, a host at 57600 8E1."""
    m = machine()
    port = SerialPort(m, "USART1", baud=57600)
    m.bus_write(U1 + CR2, ABREN | ABRMOD_7F)
    m.bus_write(U1 + CR1, M0 | PCE | TE | RE | UE)
    return m, port


def test_auto_baud_0x7f_sets_brr_from_the_host_rate():
    m, port = armed_for_auto_baud_0x7f()
    port.send(b"\x7f")
    _advance(m, 11 / 57600 + 1e-6)
    isr = m.bus_read(U1 + ISR)
    assert isr & ABRF and not isr & ABRE and isr & RXNE
    assert m.bus_read(U1 + BRR) == round(HZ / 57600)
    assert m.bus_read(U1 + RDR) == 0x7F
    m.bus_write(U1 + TDR, 0x79)
    _advance(m, 30 / 57600)
    assert port.take() == b"\x79"


def test_auto_baud_fails_on_a_character_that_is_not_0x7f():
    m, port = armed_for_auto_baud_0x7f()
    port.send(b"\x55")
    _advance(m, 11 / 57600 + 1e-6)
    isr = m.bus_read(U1 + ISR)
    assert isr & ABRE and isr & ABRF and not isr & RXNE
    m.bus_write(U1 + RQR, 1)                          # ABRRQ re-arms
    assert not m.bus_read(U1 + ISR) & (ABRE | ABRF)
    port.send(b"\x7f")
    _advance(m, 11 / 57600 + 1e-6)
    assert m.bus_read(U1 + ISR) & ABRF and not m.bus_read(U1 + ISR) & ABRE


def test_brr_and_frame_format_are_locked_while_ue_is_set():
    m = machine()
    setup_8e1(m)
    m.bus_write(U1 + BRR, 0x200)
    m.bus_write(U1 + CR1, TE | RE | UE)               # tries to drop M0/PCE
    assert m.bus_read(U1 + BRR) == 104
    assert m.bus_read(U1 + CR1) & (M0 | PCE) == M0 | PCE


def test_clearing_ue_discards_the_transfer_and_resets_flags():
    m = machine()
    port = SerialPort(m, "USART1", baud=115200)
    setup_8e1(m)
    _advance(m, 1e-3)
    m.bus_write(U1 + TDR, 0x42)
    m.bus_write(U1 + CR1, M0 | PCE)
    _advance(m, 1e-3)
    assert not port.received and m.bus_read(U1 + ISR) == 0x0080_00C0


def test_interrupt_line_follows_rxne_and_rxneie():
    m = machine()
    port = SerialPort(m, "USART1", baud=115200)
    setup_8e1(m, cr1_extra=RXNEIE)
    line = 1 << c071.IRQ_USART1
    assert not m.book.line_level & line
    port.send(b"A")
    _advance(m, 11 / 115200 + 1e-6)
    assert m.book.line_level & line
    m.bus_read(U1 + RDR)
    assert not m.book.line_level & line


def test_usart2_runs_on_pclk_and_usart1_follows_usart1sel():
    m = machine()
    assert m.usart2.kernel_clock_hz() == HZ
    m.bus_write(0x4002_1054, 1)                       # CCIPR.USART1SEL = SYSCLK
    assert m.usart1.kernel_clock_hz() == HZ
    m.bus_write(0x4002_1054, 2)                       # HSIKER = 48 MHz / 3
    assert m.usart1.kernel_clock_hz() == 16_000_000


def test_usart1_on_lse_has_no_kernel_clock_until_lse_is_ready():
    m = machine()
    m.bus_write(0x4002_1054, 3)                       # CCIPR.USART1SEL = LSE
    assert m.usart1.kernel_clock_hz() == 0
    m.bus_write(0x4002_105C, 1)                       # RCC_CSR1.LSEON
    _advance(m, 2.1)                                  # past the LSE start-up time
    assert m.bus_read(0x4002_105C) & 2                # LSERDY
    assert m.usart1.kernel_clock_hz() == 32_768


def test_receive_as_rules():
    f8e1 = Framing(115200, 8, "E", 1)
    assert receive_as(f8e1, f8e1, 0x7F) == (0x7F, "")
    assert receive_as(f8e1, Framing(115200 * 1.02, 8, "E", 1), 0x7F) == (0x7F, "")
    assert receive_as(f8e1, Framing(115200 * 1.05, 8, "E", 1), 0x7F)[1] == "framing"
    assert receive_as(f8e1, Framing(115200, 8, "N", 1), 0x7F)[1] == "framing"
    assert f8e1.bits == 11
