"""CRC unit at bus level (RM0490 CRC chapter): catalogue check values of "123456789" through
the register interface, the way the HAL feeds bytes, half-words and words."""
from __future__ import annotations

import struct

from emulator.machine import Machine
from peripherals import c071
from peripherals.crc import reverse_input

DR, IDR, CR, INIT, POL = (c071.CRC + o for o in (0x00, 0x04, 0x08, 0x10, 0x14))
RCC_AHBENR, RCC_AHBRSTR = 0x4002_1038, 0x4002_1028
CRCEN = 1 << 12
RESET = 1 << 0
POLYSIZE_32, POLYSIZE_16, POLYSIZE_8, POLYSIZE_7 = 0 << 3, 1 << 3, 2 << 3, 3 << 3
REV_IN_BYTE, REV_IN_HALF, REV_IN_WORD = 1 << 5, 2 << 5, 3 << 5
REV_OUT = 1 << 7
CHECK = b"123456789"


def machine() -> Machine:
    m = Machine()
    m.reset("power")
    m.bus_write(RCC_AHBENR, CRCEN | 1 << 8)          # keep FLASHEN as it is at reset
    return m


def feed_bytes_hal_style(m: Machine, data: bytes) -> None:
    """HAL_CRC_Calculate with the BYTES input format: 4 bytes at a time assembled big-endian
    into a word write, then a half-word and/or a byte write for the tail."""
    whole = len(data) // 4 * 4
    for i in range(0, whole, 4):
        m.bus_write(DR, int.from_bytes(data[i:i + 4], "big"))
    tail = data[whole:]
    if len(tail) >= 2:
        m.bus_write(DR, int.from_bytes(tail[:2], "big"), size=2)
        tail = tail[2:]
    if tail:
        m.bus_write(DR, tail[0], size=1)


def configure(m: Machine, cr: int, poly: int = 0x04C1_1DB7, init: int = 0xFFFF_FFFF) -> None:
    m.bus_write(POL, poly)
    m.bus_write(INIT, init)
    m.bus_write(CR, cr)
    m.bus_write(CR, cr | RESET)


def test_reset_values_and_crc_is_modelled():
    m = machine()
    assert [m.bus_read(a) for a in (DR, IDR, CR, INIT, POL)] == [0xFFFF_FFFF, 0, 0, 0xFFFF_FFFF, 0x04C1_1DB7]
    assert "CRC" not in {b.name for b in c071.UNMODELLED_BLOCKS}
    assert m.peripheral_at(c071.CRC) is m.crc


def test_crc32_mpeg2_check_value_without_reversal():
    m = machine()
    configure(m, POLYSIZE_32)
    feed_bytes_hal_style(m, CHECK)
    assert m.bus_read(DR) == 0x0376_E6E7


def test_crc32_check_value_with_byte_input_reversal_output_reversal_and_software_xor():
    m = machine()
    configure(m, POLYSIZE_32 | REV_IN_BYTE | REV_OUT)
    feed_bytes_hal_style(m, CHECK)
    assert m.bus_read(DR) ^ 0xFFFF_FFFF == 0xCBF4_3926


def test_crc32_check_value_with_word_input_reversal_on_little_endian_words():
    m = machine()
    configure(m, POLYSIZE_32 | REV_IN_WORD | REV_OUT)
    for word in struct.unpack("<2I", CHECK[:8]):      # what a CPU word load of the buffer gives
        m.bus_write(DR, word)
    m.bus_write(DR, CHECK[8], size=1)                  # a byte under word reversal is reversed as a byte
    assert m.bus_read(DR) ^ 0xFFFF_FFFF == 0xCBF4_3926
    assert any("reversed over 8 bits" in e.text for e in m.trace.events)


def test_crc16_ccitt_false_with_a_16_bit_polynomial():
    m = machine()
    configure(m, POLYSIZE_16, poly=0x1021, init=0xFFFF)
    feed_bytes_hal_style(m, CHECK)
    assert m.bus_read(DR) == 0x29B1


def test_crc16_modbus_reverses_the_output_over_16_bits():
    m = machine()
    configure(m, POLYSIZE_16 | REV_IN_BYTE | REV_OUT, poly=0x8005, init=0xFFFF)
    for byte in CHECK:
        m.bus_write(DR, byte, size=1)
    assert m.bus_read(DR) == 0x4B37


def test_crc8_and_crc7_with_byte_writes():
    m = machine()
    configure(m, POLYSIZE_8, poly=0x07, init=0)
    for byte in CHECK:
        m.bus_write(DR, byte, size=1)
    assert m.bus_read(DR) == 0xF4                      # CRC-8 (SMBus)
    configure(m, POLYSIZE_7, poly=0x09, init=0)
    for byte in CHECK:
        m.bus_write(DR, byte, size=1)
    assert m.bus_read(DR) == 0x75                      # CRC-7/MMC


def test_data_width_is_the_access_width():
    """A word write of 0x31323334 and four byte writes of 0x31..0x34 give the same CRC."""
    m = machine()
    configure(m, POLYSIZE_32)
    m.bus_write(DR, 0x3132_3334)
    word = m.bus_read(DR)
    configure(m, POLYSIZE_32)
    for byte in b"1234":
        m.bus_write(DR, byte, size=1)
    assert m.bus_read(DR) == word
    configure(m, POLYSIZE_32)
    m.bus_write(DR, 0x31, size=1)
    assert m.bus_read(DR) != word


def test_reset_bit_reloads_init_and_reads_back_zero_and_init_write_loads_dr():
    m = machine()
    m.bus_write(DR, 0x1234_5678)
    assert m.bus_read(DR) != 0xFFFF_FFFF
    m.bus_write(CR, RESET)
    assert m.bus_read(DR) == 0xFFFF_FFFF and m.bus_read(CR) & RESET == 0
    m.bus_write(INIT, 0xA5A5_0000)
    assert m.bus_read(DR) == 0xA5A5_0000


def test_idr_is_scratch_storage_untouched_by_reset_bit():
    m = machine()
    m.bus_write(IDR, 0xDEAD_BEEF)
    m.bus_write(CR, RESET)
    assert m.bus_read(IDR) == 0xDEAD_BEEF


def test_rev_out_reverses_what_dr_reads():
    m = machine()
    m.bus_write(INIT, 0x1122_3344)
    m.bus_write(CR, REV_OUT)
    assert m.bus_read(DR) == 0x22CC_4488
    m.bus_write(CR, 0)
    assert m.bus_read(DR) == 0x1122_3344


def test_rev_in_examples_of_the_manual():
    assert reverse_input(0x1A2B_3C4D, 32, 8) == 0x58D4_3CB2
    assert reverse_input(0x1A2B_3C4D, 32, 16) == 0xD458_B23C
    assert reverse_input(0x1A2B_3C4D, 32, 32) == 0xB23C_D458


def test_even_polynomial_is_reported():
    m = machine()
    m.bus_write(POL, 0x04C1_1DB6)
    assert any("even polynomial" in e.text for e in m.trace.events)


def test_crc_clock_gate_and_reset_pulse():
    m = Machine()
    m.reset("power")
    m.bus_write(IDR, 0x55)
    assert m.bus_read(IDR) == 0                     # CRCEN clear: writes ignored, reads 0
    m.bus_write(RCC_AHBENR, CRCEN | 1 << 8)
    m.bus_write(IDR, 0x55)
    m.bus_write(RCC_AHBRSTR, CRCEN)
    m.bus_write(RCC_AHBRSTR, 0)
    assert m.bus_read(IDR) == 0
