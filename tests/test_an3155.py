"""AN3155 USART bootloader protocol: the host client (emulator/host/an3155.py) against the
reference bootloader's an3155.c on the simulated USART.

Runs against images/elf/bootloader.elf when that image links an3155.c (symbol
``an3155_poll``), otherwise against the USART test bootloader images/elf/usart_bl.elf.
Both sit at 0x1FFF0000; with erased main flash the chip boots them (EMPTY = 1).
"""
from __future__ import annotations

import pytest

from emulator.host.an3155 import ACK, NACK, An3155Client, An3155Nack
from emulator.host.serial_port import SerialPort
from emulator.image import load_elf
from emulator.machine import Machine, MachineConfig
from peripherals import c071

from conftest import elf


def bootloader_image() -> str:
    full = elf("bootloader")
    if full.exists() and "an3155_poll" in load_elf(full).symbols:
        return "bootloader"
    return "usart_bl"


def machine(**config) -> Machine:
    m = Machine(MachineConfig(**config))
    m.load(load_elf(elf(bootloader_image())))
    m.reset("power")
    m.run(max_seconds=0.005)                      # the bootloader configures its interfaces
    return m


def client(m: Machine, usart: str = "USART1", baud: int = 115200) -> An3155Client:
    c = An3155Client(SerialPort(m, usart, baud=baud, parity="E"))
    assert c.sync() == "ACK"
    return c


def app_bytes(name: str = "hello") -> bytes:
    """The flash image of a test application, padded to a whole double word."""
    image = load_elf(elf(name))
    segments = [s for s in image.segments if c071.FLASH_BASE <= s.address < c071.FLASH_BASE + c071.FLASH_SIZE]
    end = max(s.address + len(s.data) for s in segments) - c071.FLASH_BASE
    blob = bytearray(b"\xff" * ((end + 7) & ~7))
    for s in segments:
        blob[s.address - c071.FLASH_BASE:s.address - c071.FLASH_BASE + len(s.data)] = s.data
    return bytes(blob)


def test_empty_flash_boots_the_bootloader():
    m = machine()
    assert m.boot_mode.name == "SYSTEM_MEMORY"


@pytest.mark.parametrize("usart,baud", [("USART1", 115200), ("USART1", 57600), ("USART2", 9600)])
def test_sync_at_any_baud_rate_on_either_usart_answers_ack(usart, baud):
    m = machine()
    c = client(m, usart, baud)
    assert c.log[0].received == bytearray([ACK])
    brr = getattr(m, usart.lower()).reg["BRR"].value
    assert brr == round(12_000_000 / baud)


def test_second_sync_is_taken_as_a_bad_command_and_nacked():
    c = client(machine())
    assert c.sync() == "NACK"


def test_get_version_and_get_id_0x493():
    c = client(machine())
    version, commands = c.get()
    assert version == 0x31
    assert commands == [0x00, 0x01, 0x02, 0x11, 0x21, 0x31, 0x44, 0x63, 0x73, 0x82, 0x92]
    assert c.get_version() == (0x31, 0, 0)
    assert c.get_id() == 0x493


def test_bad_complement_and_unknown_command_are_nacked():
    m = machine()
    c = client(m)
    c.port.send(bytes([0x02, 0x02]))
    assert c.port.read(1) == bytes([NACK])
    c.port.send(bytes([0x55, 0xAA]))
    assert c.port.read(1) == bytes([NACK])
    assert c.get_id() == 0x493                         # still in step


def test_read_memory_returns_option_bytes_and_uid():
    m = machine()
    c = client(m)
    assert c.read_memory(0x1FFF_7800, 8) == m.option_area.load(0x1FFF_7800, 8)
    assert c.read_memory(c071.UID_ADDR, 12) == m.engineering.load(c071.UID_ADDR, 12)


def test_read_memory_outside_the_map_is_nacked():
    c = client(machine())
    with pytest.raises(An3155Nack):
        c.read_memory(0x4000_0000, 4)


def test_erase_write_read_back_then_go_runs_the_application():
    m = machine()
    c = client(m)
    data = app_bytes("hello")
    c.extended_erase([0, 1])
    c.write_memory(0x0800_0000, data)
    assert c.read_memory(0x0800_0000, len(data)) == data
    assert m.flash.load(0x0800_0000, len(data)) == data
    assert not [e for e in m.trace.of_kind("usart") if "overrun" in e.text]   # the poll skip never overshoots RXNE
    c.go(0x0800_0000)
    end = m.run(max_seconds=0.5)
    assert end.reason.value == "exit" and end.exit_status == 0
    assert "hello from flash" in m.guest_output
    assert any(e.command == "Go" and e.outcome == "jump to 0x08000000" for e in c.log)


def test_mass_erase_0xffff_erases_every_page():
    m = machine()
    m.flash.store(m.cpu.uc, 0x0801_F800, b"\x00" * 8)          # something in the last page
    c = client(m)
    c.extended_erase(None)
    assert m.flash.load(0x0801_F800, 8) == b"\xff" * 8
    assert any("mass erase" in e.text for e in m.trace.of_kind("flash"))


def test_write_to_an_unaligned_flash_address_is_nacked():
    c = client(machine())
    with pytest.raises(An3155Nack):
        c.write_memory(0x0800_0004, b"\x00" * 8)


def test_write_to_ram_and_read_back():
    m = machine()
    c = client(m)
    c.write_memory(0x2000_2400, bytes(range(40)))              # host RAM from 0x20002300 (FACTS §7)
    assert m.sram.load(0x2000_2400, 40) == bytes(range(40))
    with pytest.raises(An3155Nack):                             # the bootloader's own RAM (the bottom)
        c.write_memory(0x2000_0100, b"\x00" * 4)


def test_readout_protect_resets_and_then_refuses_reads():
    m = machine()
    c = client(m)
    c.readout_protect()
    m.run(max_seconds=0.05)                                     # option reload + reset, bootloader again
    assert m.flash_controller.optr & 0xFF == 0xBB
    c2 = client(m)
    with pytest.raises(An3155Nack):
        c2.read_memory(0x0800_0000, 4)
    assert c2.get_id() == 0x493


def test_write_protect_sets_wrp_area_and_unprotect_clears_it():
    m = machine()
    c = client(m)
    c.write_protect([4, 5, 6])
    m.run(max_seconds=0.05)
    wrp1ar = m.flash_controller.reg["WRP1AR"].value
    assert wrp1ar & 0x3F == 4 and wrp1ar >> 16 & 0x3F == 6
    c = client(m)
    c.write_unprotect()
    m.run(max_seconds=0.05)
    assert m.flash_controller.reg["WRP1AR"].value & 0x3F == 0x3F


def test_log_has_time_command_and_reply():
    c = client(machine())
    c.get_id()
    text = c.format_log()
    assert "Get ID" in text and "PID 0x493" in text and "ms" in text
