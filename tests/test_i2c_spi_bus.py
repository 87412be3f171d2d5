"""Bus-level tests of the I2C and SPI models on a bare board (no firmware, nothing attached)."""
from __future__ import annotations

import pytest

from peripherals import c071
from peripherals.i2c import make_i2c
from peripherals.spi import make_spi
from tests.fakes import FakeClock

# I2C (RM0490 I2C registers)
CR1, CR2, OAR1, TIMINGR, ISR, ICR, RXDR, TXDR = 0x00, 0x04, 0x08, 0x10, 0x18, 0x1C, 0x24, 0x28
PE, NACKIE, STOPIE = 1 << 0, 1 << 4, 1 << 5
START, STOP, AUTOEND = 1 << 13, 1 << 14, 1 << 25
TXE, TXIS, NACKF, STOPF, BUSY = 1 << 0, 1 << 1, 1 << 4, 1 << 5, 1 << 15
PCLK = 12_000_000
TIMING_100K = 0x2000_090E      # PRESC 2, SCLH 9, SCLL 14 at 12 MHz (a 100 kHz-class setting)


@pytest.fixture
def clock():
    return FakeClock(hclk_hz=PCLK)


@pytest.fixture
def i2c(clock):
    model = make_i2c("I2C1", clock, kernel_clock_hz=lambda: PCLK)
    model.power_on_reset()
    model.write(TIMINGR, 4, TIMING_100K)
    model.write(CR1, 4, PE)
    return model


def start_write(i2c, address7: int = 0x50, nbytes: int = 1, autoend: bool = True) -> None:
    i2c.write(CR2, 4, address7 << 1 | nbytes << 16 | START | (AUTOEND if autoend else 0))


def test_i2c_isr_resets_with_txe_only():
    model = make_i2c("I2C2", FakeClock())
    model.power_on_reset()
    assert model.read(ISR, 4) == TXE


def test_master_write_to_absent_address_gets_nackf_after_nine_scl_bits_then_stopf(i2c, clock):
    start_write(i2c)
    assert i2c.read(ISR, 4) & BUSY
    presc = 3 / PCLK
    scl = (15 + 10) * presc + 2 * (50e-9 + 2 / PCLK)
    nack_at = 10 * presc + 9 * scl
    assert i2c.scl_period_seconds() == pytest.approx(scl)
    clock.advance(nack_at * 0.99)
    assert not i2c.read(ISR, 4) & NACKF
    clock.advance(nack_at * 0.02)
    isr = i2c.read(ISR, 4)
    assert isr & NACKF and isr & BUSY and not isr & STOPF and not isr & TXIS
    assert not i2c.read(CR2, 4) & START
    clock.advance(scl)
    isr = i2c.read(ISR, 4)
    assert isr & STOPF and not isr & BUSY


def test_nack_sends_stop_even_without_autoend(i2c, clock):
    start_write(i2c, autoend=False)
    clock.advance(1e-3)
    assert i2c.read(ISR, 4) & (NACKF | STOPF | BUSY) == NACKF | STOPF


def test_icr_clears_nackf_and_stopf(i2c, clock):
    start_write(i2c)
    clock.advance(1e-3)
    i2c.write(ICR, 4, NACKF | STOPF)
    assert i2c.read(ISR, 4) & (NACKF | STOPF) == 0


def test_nack_and_stop_interrupts_follow_their_enables(i2c, clock):
    i2c.write(CR1, 4, PE | NACKIE)
    start_write(i2c)
    clock.advance(1e-3)
    assert i2c.interrupt_pending()
    assert 16 + c071.IRQ_I2C1 in clock.pending
    i2c.write(ICR, 4, NACKF)
    assert not i2c.interrupt_pending()          # STOPF set but STOPIE off
    i2c.write(CR1, 4, PE | STOPIE)
    assert i2c.interrupt_pending()


def test_clearing_pe_abandons_the_transfer_and_resets_flags(i2c, clock):
    start_write(i2c)
    i2c.write(TXDR, 4, 0x12)
    assert not i2c.read(ISR, 4) & TXE
    i2c.write(CR1, 4, 0)
    assert i2c.read(ISR, 4) == TXE
    assert not i2c.read(CR2, 4) & START
    clock.advance(1e-3)
    assert i2c.read(ISR, 4) == TXE           # the abandoned transfer never completes


def test_start_is_ignored_while_disabled(clock):
    model = make_i2c("I2C1", clock)
    model.power_on_reset()
    model.write(CR2, 4, START)
    clock.advance(1e-3)
    assert model.read(ISR, 4) == TXE and not model.read(CR2, 4) & START


def test_txe_can_be_set_by_software_to_flush_txdr(i2c):
    i2c.write(TXDR, 4, 0x55)
    i2c.write(ISR, 4, TXE)
    assert i2c.read(ISR, 4) & TXE


def test_slower_timing_makes_the_address_phase_longer(clock):
    model = make_i2c("I2C1", clock, kernel_clock_hz=lambda: PCLK)
    model.power_on_reset()
    model.write(TIMINGR, 4, 0x00)
    fast = model.scl_period_seconds()
    model.write(TIMINGR, 4, 0xB042_C3C7)
    assert model.scl_period_seconds() > 20 * fast


def test_smbus_enable_is_reported_as_unmodelled(i2c, clock):
    i2c.write(CR1, 4, PE | 1 << 20)
    assert ("I2C1", CR1, True) in clock.unmodelled_accesses


# -- SPI (RM0490 SPI registers) -----------------------------------------------------------------
SPI_CR1, SPI_CR2, SPI_SR, SPI_DR = 0x00, 0x04, 0x08, 0x0C
MSTR, SPE, SSI, SSM = 1 << 2, 1 << 6, 1 << 8, 1 << 9
RXNE_S, TXE_S, MODF, OVR_S, BSY = 1 << 0, 1 << 1, 1 << 5, 1 << 6, 1 << 7
FRXTH, RXNEIE, DS_8BIT = 1 << 12, 1 << 6, 7 << 8


@pytest.fixture
def spi(clock):
    model = make_spi("SPI1", clock, pclk_hz=lambda: PCLK)
    model.power_on_reset()
    model.write(SPI_CR2, 4, DS_8BIT | FRXTH)
    model.write(SPI_CR1, 4, MSTR | SSM | SSI | 3 << 3 | SPE)     # BR = 3: f_PCLK / 16
    return model


def test_spi_resets_with_txe_and_8_bit_frames():
    model = make_spi("SPI2", FakeClock())
    model.power_on_reset()
    assert model.read(SPI_SR, 4) == TXE_S
    assert model.read(SPI_CR2, 4) == 0x0700


def test_master_transfer_receives_ff_after_eight_sck_periods(spi, clock):
    spi.write(SPI_DR, 1, 0xA5)
    assert spi.read(SPI_SR, 4) & BSY
    frame = 8 * 16 / PCLK
    clock.advance(frame * 0.99)
    assert not spi.read(SPI_SR, 4) & RXNE_S
    clock.advance(frame * 0.02)
    sr = spi.read(SPI_SR, 4)
    assert sr & RXNE_S and sr & TXE_S and not sr & BSY
    assert spi.read(SPI_DR, 1) == 0xFF
    assert not spi.read(SPI_SR, 4) & RXNE_S


def test_rxne_threshold_follows_frxth(spi, clock):
    spi.write(SPI_CR2, 4, DS_8BIT)                # FRXTH = 0: RXNE at 16 bits
    spi.write(SPI_DR, 1, 0x01)
    clock.advance(1e-3)
    assert not spi.read(SPI_SR, 4) & RXNE_S
    assert spi.read(SPI_SR, 4) >> 9 & 3 == 1       # FRLVL: a quarter
    spi.write(SPI_DR, 1, 0x02)
    clock.advance(1e-3)
    assert spi.read(SPI_SR, 4) & RXNE_S
    assert spi.read(SPI_DR, 2) == 0xFFFF           # a 16-bit read pops two frames


def test_16_bit_frames_receive_ffff(spi, clock):
    spi.write(SPI_CR1, 4, MSTR | SSM | SSI)
    spi.write(SPI_CR2, 4, 15 << 8)
    spi.write(SPI_CR1, 4, MSTR | SSM | SSI | SPE)
    spi.write(SPI_DR, 2, 0x1234)
    clock.advance(16 * 2 / PCLK * 1.01)
    assert spi.read(SPI_DR, 2) == 0xFFFF


def test_unused_data_size_is_forced_to_8_bits(spi):
    spi.write(SPI_CR2, 4, 1 << 8)
    assert spi.read(SPI_CR2, 4) >> 8 & 0xF == 7


def test_unread_frames_overrun_the_rx_fifo(spi, clock):
    for n in range(5):
        spi.write(SPI_DR, 1, n)
        clock.advance(1e-3)
    assert spi.read(SPI_SR, 4) & OVR_S
    spi.read(SPI_DR, 1)
    spi.read(SPI_SR, 4)                           # DR read then SR read clears OVR
    assert not spi.read(SPI_SR, 4) & OVR_S


def test_software_nss_low_in_master_mode_is_a_mode_fault(clock):
    model = make_spi("SPI1", clock)
    model.power_on_reset()
    model.write(SPI_CR1, 4, MSTR | SSM | SPE)
    assert model.read(SPI_SR, 4) & MODF
    assert not model.read(SPI_CR1, 4) & (SPE | MSTR)


def test_rxne_interrupt_is_raised_on_the_spi_line(spi, clock):
    spi.write(SPI_CR2, 4, DS_8BIT | FRXTH | RXNEIE)
    spi.write(SPI_DR, 1, 0)
    clock.advance(1e-3)
    assert 16 + c071.IRQ_SPI1 in clock.pending


def test_slave_mode_receives_nothing(clock):
    model = make_spi("SPI2", clock)
    model.power_on_reset()
    model.write(SPI_CR1, 4, SSM | SPE)
    model.write(SPI_DR, 1, 0x42)
    clock.advance(1e-2)
    assert not model.read(SPI_SR, 4) & RXNE_S


RXONLY, BIDIOE, BIDIMODE = 1 << 10, 1 << 14, 1 << 15


def test_transmit_only_mode_receives_nothing(spi, clock):
    spi.write(SPI_CR1, 4, MSTR | SSM | SSI | 3 << 3 | BIDIMODE | BIDIOE | SPE)
    spi.write(SPI_DR, 1, 0x11)
    spi.write(SPI_DR, 1, 0x22)
    clock.advance(1e-3)
    sr = spi.read(SPI_SR, 4)
    assert not sr & (RXNE_S | OVR_S | BSY) and sr & TXE_S and sr >> 11 & 3 == 0


def test_receive_only_master_clocks_frames_in_until_disabled(spi, clock):
    spi.write(SPI_CR1, 4, MSTR | SSM | SSI | 3 << 3 | RXONLY | SPE)
    frame = 8 * 16 / PCLK
    clock.advance(frame * 1.01)
    assert spi.read(SPI_SR, 4) & RXNE_S and spi.read(SPI_DR, 1) == 0xFF
    clock.advance(frame * 10)
    assert spi.read(SPI_SR, 4) & OVR_S               # nobody read: the FIFO overran
    spi.write(SPI_CR1, 4, MSTR | SSM | SSI | 3 << 3 | RXONLY)
    for _ in range(4):
        spi.read(SPI_DR, 1)
    clock.advance(frame * 10)
    assert not spi.read(SPI_SR, 4) & (RXNE_S | BSY)  # SPE = 0: the clock stopped
