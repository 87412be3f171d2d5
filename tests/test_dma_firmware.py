"""CRC, DMA and USART-by-DMA firmware (images/tests/crc.c, dma_m2m.c, usart_dma.c): images
that drive the blocks in the vendor HAL's register order, run on the whole machine in strict
mode (an access to anything unmodelled would stop them)."""
from __future__ import annotations

import binascii

from emulator.core.runloop import EndReason
from emulator.host.serial_port import SerialPort
from peripherals import c071
from tests.conftest import boot, run_to_exit

CHECK = b"123456789"


def crc_msb_first(data: bytes, poly: int, bits: int, init: int) -> int:
    """A plain bitwise CRC (no reflection, no final XOR) to compare the hardware with."""
    crc, top, mask = init, 1 << (bits - 1), (1 << bits) - 1
    for byte in data:
        for i in range(7, -1, -1):
            feedback = bool(crc & top) ^ (byte >> i & 1)
            crc = crc << 1 & mask
            if feedback:
                crc ^= poly
    return crc


def printed_values(output: str) -> dict[str, int]:
    return {name: int(value, 16) for name, value in (line.split("=") for line in output.splitlines())}


def words(m, symbol: str, count: int) -> list[int]:
    raw = bytes(m.cpu.uc.mem_read(m.symbol(symbol), 4 * count))
    return [int.from_bytes(raw[i:i + 4], "little") for i in range(0, len(raw), 4)]


def test_crc_image_gets_the_catalogue_check_values():
    m, end = run_to_exit("crc", strict=True)
    assert end.reason is EndReason.EXIT and end.exit_status == 0, end
    values = printed_values(m.guest_output)
    assert values["crc32"] == 0xCBF4_3926 == binascii.crc32(CHECK)      # REV_IN byte, REV_OUT, ~ in software
    assert values["crc32w"] == 0xCBF4_3926                              # REV_IN word on word loads
    assert values["mpeg2"] == 0x0376_E6E7 == crc_msb_first(CHECK, 0x04C1_1DB7, 32, 0xFFFF_FFFF)
    assert values["ccitt"] == 0x29B1 == crc_msb_first(CHECK, 0x1021, 16, 0xFFFF)
    assert values["crc8"] == 0xF4 == crc_msb_first(CHECK, 0x07, 8, 0)


def test_dma_memory_to_memory_copies_flash_to_sram_with_half_and_complete_interrupts():
    m, end = run_to_exit("dma_m2m", strict=True)
    assert end.reason is EndReason.EXIT and end.exit_status == 0, end
    assert m.guest_output == "copied 32 words\n"
    assert words(m, "destination", 32) == words(m, "source", 32)
    half, done, errors = (words(m, name, 1)[0] for name in ("half_callbacks", "done_callbacks", "error_callbacks"))
    assert (half, done, errors) == (1, 1, 0)
    assert words(m, "cndtr_after_enable", 1)[0] > 0                     # the copy takes time on the clock
    assert 0 < words(m, "cndtr_at_half", 1)[0] <= 16
    entries = [e.text for e in m.trace.events if e.kind == "exception.entry"]
    assert sum(text.startswith("DMA1_Channel1") for text in entries) == 2   # HT, then TC


def test_usart2_transmit_and_receive_by_dma_with_the_host_on_the_line():
    m = boot("usart_dma", strict=True)
    port = SerialPort(m, "USART2", baud=115200, parity="N")
    greeting = b"hello from USART2 DMA\r\n"
    assert port.read(len(greeting), timeout_s=0.1) == greeting
    port.write(b"DMA->RAM")
    assert port.read(8, timeout_s=0.1) == b"DMA->RAM"                   # echoed by a second TX DMA
    end = m.run(max_seconds=0.1)
    assert end.reason is EndReason.EXIT and end.exit_status == 0, end
    assert m.guest_output == "received DMA->RAM\n"
    entries = [e.text for e in m.trace.events if e.kind == "exception.entry"]
    assert any(text.startswith(c071.IRQ_NAMES[28]) for text in entries)     # the TC interrupt ends a TX
    assert any(text.startswith(c071.IRQ_NAMES[9]) for text in entries)
    assert any(text.startswith(c071.IRQ_NAMES[10]) for text in entries)
