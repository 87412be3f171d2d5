"""DMA1 and DMAMUX at bus level (RM0490 DMA and DMAMUX chapters): no firmware; channels
programmed through the bus in the HAL's order, time advanced event by event."""
from __future__ import annotations

from emulator.core.clock import PS_PER_S
from emulator.host.serial_port import SerialPort
from emulator.machine import Machine
from peripherals import c071
from peripherals.dmamux import REQUEST_LINES

ISR, IFCR = c071.DMA1, c071.DMA1 + 0x04
RCC_AHBENR, RCC_APBENR1 = 0x4002_1038, 0x4002_103C
DMA1EN, FLASHEN, USART2EN = 1 << 0, 1 << 8, 1 << 17
EN, TCIE, HTIE, TEIE, DIR, CIRC, PINC, MINC, MEM2MEM = 1, 2, 4, 8, 16, 32, 64, 128, 1 << 14
PSIZE_8, PSIZE_16, PSIZE_32 = 0 << 8, 1 << 8, 2 << 8
MSIZE_8, MSIZE_16, MSIZE_32 = 0 << 10, 1 << 10, 2 << 10
PL_LOW, PL_HIGH = 0 << 12, 2 << 12
SRC, DST = 0x2000_1000, 0x2000_2000
U2 = c071.USART2
USART_CR1, USART_CR3, USART_BRR, USART_ISR, USART_ICR, USART_RDR, USART_TDR = (U2 + o for o in (0x00, 0x08, 0x0C,
                                                                                              0x1C, 0x20, 0x24, 0x28))
UE, RE, TE, TC = 1, 1 << 2, 1 << 3, 1 << 6
DMAR, DMAT = 1 << 6, 1 << 7


def ccr(x: int) -> int:
    return c071.DMA1 + 0x08 + 0x14 * (x - 1)


def cndtr(x: int) -> int:
    return ccr(x) + 0x04


def cpar(x: int) -> int:
    return ccr(x) + 0x08


def cmar(x: int) -> int:
    return ccr(x) + 0x0C


def cxcr(x: int) -> int:
    return c071.DMAMUX1 + 0x04 * (x - 1)


def flag(name: str, x: int) -> int:
    return {"GIF": 1, "TCIF": 2, "HTIF": 4, "TEIF": 8}[name] << 4 * (x - 1)


def machine() -> Machine:
    m = Machine()
    m.reset("power")
    m.bus_write(RCC_AHBENR, DMA1EN | FLASHEN)
    m.bus_write(RCC_APBENR1, USART2EN)
    return m


def advance_cycles(m: Machine, cycles: int) -> None:
    """Move the clock forward with no firmware, firing each event at its own cycle."""
    target = m.clock.cycles + cycles
    while (nxt := m.scheduler.next_cycle()) is not None and nxt <= target:
        m.clock.cycles = max(m.clock.cycles, nxt)
        m.loop._fire_due_events()
    m.clock.cycles = target


def advance(m: Machine, seconds: float) -> None:
    advance_cycles(m, m.clock.cycle_at(m.clock.time_ps() + int(seconds * PS_PER_S)) - m.clock.cycles)


def irq_line(m: Machine, irq: int) -> bool:
    return bool(m.book.line_level >> irq & 1)


def start_channel(m: Machine, x: int, config: int, count: int, peripheral: int, memory: int,
                  request: int = 0) -> None:
    """HAL_DMA_Init + HAL_DMA_Start_IT: CCR configuration, DMAMUX CxCR request, flags cleared,
    CNDTR, CPAR/CMAR, interrupt enables, then EN."""
    m.bus_write(ccr(x), config & ~(TCIE | HTIE | TEIE | EN))
    m.bus_write(cxcr(x), request)
    m.bus_write(c071.DMAMUX1 + 0x84, 1 << (x - 1))            # CFR: clear the sync overrun flag
    m.bus_write(IFCR, 1 << 4 * (x - 1))                      # CGIFx
    m.bus_write(cndtr(x), count)
    m.bus_write(cpar(x), peripheral)
    m.bus_write(cmar(x), memory)
    m.bus_write(ccr(x), config & ~EN)
    m.bus_write(ccr(x), config | EN)


def test_reset_values_and_dma_blocks_are_modelled():
    m = machine()
    assert m.bus_read(ISR) == 0 and all(m.bus_read(ccr(x)) == 0 for x in range(1, 6))
    assert {"DMA1", "DMAMUX1"}.isdisjoint({b.name for b in c071.UNMODELLED_BLOCKS})
    assert m.peripheral_at(c071.DMA1) is m.dma and m.peripheral_at(c071.DMAMUX1) is m.dmamux


def test_memory_to_memory_takes_five_cycles_a_word_with_half_and_complete_flags():
    m = machine()
    data = bytes(range(32))
    m.sram.store(None, SRC, data)
    start_channel(m, 1, MEM2MEM | MINC | PINC | PSIZE_32 | MSIZE_32 | TCIE | HTIE, 8, SRC, DST)
    assert m.bus_read(cndtr(1)) == 8 and m.sram.load(DST, 32) == bytes(32)      # not instantaneous
    advance_cycles(m, 4 * 5)
    assert m.bus_read(cndtr(1)) == 4 and m.sram.load(DST, 16) == data[:16] and m.sram.load(DST + 16, 16) == bytes(16)
    assert m.bus_read(ISR) & 0xF == flag("HTIF", 1) | flag("GIF", 1)
    assert irq_line(m, c071.IRQ_DMA1_CH1)
    advance_cycles(m, 4 * 5)
    assert m.sram.load(DST, 32) == data and m.bus_read(cndtr(1)) == 0
    assert m.bus_read(ISR) & 0xF == flag("HTIF", 1) | flag("TCIF", 1) | flag("GIF", 1)
    assert m.bus_read(ccr(1)) & EN                                               # stays enabled, idle


def test_ifcr_clears_one_flag_or_all_with_cgif_and_the_line_follows():
    m = machine()
    start_channel(m, 1, MEM2MEM | MINC | PINC | PSIZE_8 | MSIZE_8 | TCIE | HTIE, 2, SRC, DST)
    advance_cycles(m, 100)
    m.bus_write(IFCR, flag("TCIF", 1))
    assert m.bus_read(ISR) & 0xF == flag("HTIF", 1) | flag("GIF", 1) and irq_line(m, c071.IRQ_DMA1_CH1)
    m.bus_write(IFCR, flag("GIF", 1))
    assert m.bus_read(ISR) == 0 and not irq_line(m, c071.IRQ_DMA1_CH1)


def test_narrow_source_is_zero_extended_and_wide_source_truncated():
    m = machine()
    m.sram.store(None, SRC, bytes([0xA1, 0xB2, 0xC3, 0xD4]))
    start_channel(m, 2, MEM2MEM | PINC | MINC | PSIZE_8 | MSIZE_32, 2, SRC, DST)
    advance_cycles(m, 100)
    assert m.sram.load(DST, 8) == bytes([0xA1, 0, 0, 0, 0xB2, 0, 0, 0])
    m.sram.store(None, SRC, bytes([0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88]))
    start_channel(m, 3, MEM2MEM | PINC | MINC | PSIZE_32 | MSIZE_8, 2, SRC, DST + 0x100)
    advance_cycles(m, 100)
    assert m.sram.load(DST + 0x100, 2) == bytes([0x11, 0x55])


def test_without_minc_every_beat_writes_the_same_address():
    m = machine()
    m.sram.store(None, SRC, bytes([1, 2, 3, 4]))
    start_channel(m, 1, MEM2MEM | PINC | PSIZE_8 | MSIZE_8, 4, SRC, DST)
    advance_cycles(m, 100)
    assert m.sram.load(DST, 2) == bytes([4, 0])


def test_higher_priority_channel_is_served_first_and_channels_share_the_engine():
    m = machine()
    m.sram.store(None, SRC, bytes(range(64)))
    start_channel(m, 1, MEM2MEM | PINC | MINC | PSIZE_32 | MSIZE_32 | PL_LOW, 4, SRC, DST)
    start_channel(m, 2, MEM2MEM | PINC | MINC | PSIZE_32 | MSIZE_32 | PL_HIGH, 4, SRC + 16, DST + 16)
    advance_cycles(m, 4 * 5)
    assert m.bus_read(cndtr(2)) == 0 and m.bus_read(cndtr(1)) == 4
    advance_cycles(m, 4 * 5)
    assert m.bus_read(cndtr(1)) == 0 and m.sram.load(DST, 32) == bytes(range(32))


def test_access_to_a_reserved_address_is_a_transfer_error_that_disables_the_channel():
    m = machine()
    start_channel(m, 4, MEM2MEM | PINC | MINC | PSIZE_32 | MSIZE_32 | TEIE, 4, 0x2000_8000, DST)
    advance_cycles(m, 100)
    assert m.bus_read(ISR) >> 12 & 0xF == (8 | 1)                  # TEIF4, GIF4
    assert not m.bus_read(ccr(4)) & EN and m.bus_read(cndtr(4)) == 4
    assert irq_line(m, c071.IRQ_DMAMUX1_DMA1_CH4_5)
    assert any("transfer error" in e.text for e in m.trace.events)


def test_core_private_bus_is_out_of_the_dmas_reach():
    m = machine()
    start_channel(m, 3, MEM2MEM | PSIZE_32 | MSIZE_32, 1, 0xE000_E010, DST)      # SysTick CTRL
    advance_cycles(m, 100)
    assert m.bus_read(ISR) & flag("TEIF", 3)


def test_configuration_is_read_only_while_enabled_but_interrupt_enables_are_not():
    m = machine()
    start_channel(m, 1, PSIZE_8 | MSIZE_8 | MINC | TCIE, 4, USART_RDR, DST, REQUEST_LINES["USART2_RX"])
    m.bus_write(ccr(1), EN | MINC | CIRC | PSIZE_32)
    assert m.bus_read(ccr(1)) == EN | MINC
    m.bus_write(cndtr(1), 99)
    assert m.bus_read(cndtr(1)) == 4
    assert sum("ignored while EN = 1" in e.text for e in m.trace.events) == 2


def test_channel_interrupts_land_on_irq_9_10_and_11():
    m = machine()
    for x in range(1, 6):
        start_channel(m, x, MEM2MEM | PSIZE_8 | MSIZE_8 | TCIE, 1, SRC, DST + x)
    advance_cycles(m, 100)
    assert all(irq_line(m, irq) for irq in (9, 10, 11))
    m.bus_write(IFCR, flag("GIF", 2))
    assert irq_line(m, 10)                                         # channel 3 still asserts it
    m.bus_write(IFCR, flag("GIF", 3))
    assert not irq_line(m, 10) and irq_line(m, 9) and irq_line(m, 11)


def test_request_line_no_model_drives_is_reported_when_the_channel_starts():
    m = machine()
    start_channel(m, 2, DIR | MINC | PSIZE_8 | MSIZE_8, 4, 0x4001_300C, SRC, REQUEST_LINES["SPI1_TX"])
    assert any("DMAMUX.C1CR" in u.what for u in m.trace.unmodelled.values())
    assert any("SPI1_TX" in e.text for e in m.trace.events)


def test_dma_clock_gate_blocks_register_access():
    m = Machine()
    m.reset("power")
    m.bus_write(ccr(1), MINC)
    assert m.bus_read(ccr(1)) == 0
    m.bus_write(RCC_AHBENR, DMA1EN | FLASHEN)
    m.bus_write(cxcr(1), 52)
    assert m.bus_read(cxcr(1)) == 52                               # DMA1EN clocks DMAMUX too


# -- USART requests through DMAMUX -----------------------------------------------------------------
def usart2_8n1(m: Machine, baud: int = 115200) -> SerialPort:
    port = SerialPort(m, "USART2", baud=baud, parity="N")
    m.bus_write(USART_BRR, round(12_000_000 / baud))
    m.bus_write(USART_CR1, TE | RE | UE)
    return port


def test_usart_tx_by_dma_sends_the_buffer_and_tc_follows_the_last_character():
    m = machine()
    port = usart2_8n1(m)
    text = b"DMA says hi"
    m.sram.store(None, SRC, text)
    start_channel(m, 2, DIR | MINC | PSIZE_8 | MSIZE_8 | TCIE, len(text), USART_TDR, SRC, REQUEST_LINES["USART2_TX"])
    advance(m, 1e-3)
    assert port.take() == b"" and m.bus_read(cndtr(2)) == len(text)   # no request before DMAT
    m.bus_write(USART_ICR, TC)                                        # HAL: clear TC, then set DMAT
    m.bus_write(USART_CR3, DMAT)
    advance(m, len(text) * 10 / 115200 * 0.5)
    assert 0 < len(port.received) < len(text)
    advance(m, len(text) * 10 / 115200)
    assert port.take() == text
    assert m.bus_read(ISR) & flag("TCIF", 2) and m.bus_read(USART_ISR) & TC
    assert irq_line(m, c071.IRQ_DMA1_CH2_3)


def test_usart_rx_by_dma_circular_wraps_and_signals_half_and_complete():
    m = machine()
    port = usart2_8n1(m)
    start_channel(m, 1, MINC | CIRC | PSIZE_8 | MSIZE_8 | TCIE | HTIE, 4, USART_RDR, DST, REQUEST_LINES["USART2_RX"])
    m.bus_write(USART_CR3, DMAR)
    port.send(b"abcdef")
    advance(m, 3 * 10 / 115200 + 20e-6)
    assert m.sram.load(DST, 4) == b"abc\0" and m.bus_read(ISR) & 0xF == flag("HTIF", 1) | flag("GIF", 1)
    advance(m, 3 * 10 / 115200)
    assert m.sram.load(DST, 4) == b"efcd"                              # wrapped after "abcd"
    assert m.bus_read(ISR) & flag("TCIF", 1) and m.bus_read(cndtr(1)) == 2
    assert not m.bus_read(USART_ISR) & (1 << 3)                         # no overrun: the DMA kept up


def test_dma_feeds_the_crc_unit_with_byte_writes():
    """MEM2MEM from a buffer to CRC_DR (PINC = 0): each beat is an 8-bit AHB write, so the
    CRC sees bytes, as when the CPU feeds it byte by byte."""
    m = machine()
    m.bus_write(RCC_AHBENR, DMA1EN | FLASHEN | 1 << 12)          # + CRCEN
    m.sram.store(None, SRC, b"123456789")
    start_channel(m, 1, MEM2MEM | DIR | MINC | PSIZE_8 | MSIZE_8, 9, c071.CRC, SRC)
    advance_cycles(m, 9 * 5)
    assert m.bus_read(cndtr(1)) == 0 and m.bus_read(c071.CRC) == 0x0376_E6E7     # CRC-32/MPEG-2


def test_usart_rx_dma_skips_a_character_with_a_framing_error():
    """CR3.DDRE = 0: the error flag is set, RXNE is not, so the DMA never moves the bad byte."""
    m = machine()
    port = usart2_8n1(m)
    start_channel(m, 1, MINC | PSIZE_8 | MSIZE_8, 4, USART_RDR, DST, REQUEST_LINES["USART2_RX"])
    m.bus_write(USART_CR3, DMAR)
    port.send(b"a")
    advance(m, 10 / 115200 + 20e-6)
    port.configure(baud=57600)                                        # the next character is garbled
    port.send(b"b")
    advance(m, 10 / 57600 + 20e-6)
    port.configure(baud=115200)
    port.send(b"c")
    advance(m, 10 / 115200 + 20e-6)
    assert m.sram.load(DST, 3) == b"ac\0" and m.bus_read(cndtr(1)) == 2
    assert m.bus_read(USART_ISR) & 0x2                                 # FE
