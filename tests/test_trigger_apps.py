"""The trigger applications (images/apps/trigger_*.c, images/apps/README.md): each reaches
the system bootloader through its own trigger, driven here with the existing host-side
tools (simulated USB host, USART host port, Machine.drive_pin), and calls the forum's v1
jump function (symbol ``jump_to_bootloader``).  "Reaches" = the first instruction fetched
from system memory (``run_to_bootloader_entry``, as the diagnosis detects the jump)."""
from __future__ import annotations

import struct

import pytest

from emulator.analysis.snapshot import SYSTEM_MEMORY, run_to_bootloader_entry
from emulator.core.runloop import EndReason
from emulator.host.serial_port import SerialPort
from emulator.host.usb_host import Reset, UsbHost, UsbProtocolError, UsbStall, Wait
from peripherals import c071
from tests.conftest import boot

TRIGGER_APPS = ["trigger_cdc", "trigger_1200", "trigger_dfu_detach", "trigger_dfu_detach_reset", "trigger_usart",
                "trigger_button", "trigger_button_exti", "trigger_timer", "trigger_never"]


def app(name: str):
    """The bundled bootloader in system memory and the trigger application in flash, booted from flash."""
    return boot("bootloader", name)


def entered_bootloader(m, end) -> bool:
    return end.reason is EndReason.STOP_AT and SYSTEM_MEMORY[0] <= m.cpu.pc() <= SYSTEM_MEMORY[1]


def settle(m, seconds: float = 0.02) -> None:
    """Let the application finish its start-up before the trigger is driven."""
    end = m.run(max_seconds=seconds)
    assert end.reason is EndReason.TIME_LIMIT, end


@pytest.mark.parametrize("name", TRIGGER_APPS)
def test_every_trigger_app_exports_the_forum_jump_and_stays_in_flash_without_its_trigger(name):
    m = app(name)
    jump = m.symbol("jump_to_bootloader")
    assert c071.FLASH_BASE <= jump < c071.FLASH_BASE + c071.FLASH_SIZE
    if name == "trigger_timer":
        return                                          # its trigger is time itself
    end = run_to_bootloader_entry(m, max_seconds=0.2)
    assert end.reason is EndReason.TIME_LIMIT and not entered_bootloader(m, end)


def test_timer_app_jumps_by_itself_50_ms_after_boot():
    m = app("trigger_timer")
    end = run_to_bootloader_entry(m)
    assert entered_bootloader(m, end)
    assert 0.050 <= m.seconds() < 0.053                 # HAL_Delay(50): 50 full ticks, plus the partial one
    assert "trigger_timer: jumping in 50 ms" in m.guest_output


def test_never_app_sleeps_in_wfi_with_the_tick_running_and_never_jumps():
    m = app("trigger_never")
    end = run_to_bootloader_entry(m, max_seconds=0.3)
    assert not entered_bootloader(m, end)
    assert 295 <= m.read32(m.symbol("hal_ticks")) <= 300         # 1 kHz SysTick kept running
    assert (m.describe(m.cpu.pc()) or "").startswith("main")


def test_button_app_jumps_after_pc13_is_held_low_for_the_debounce_time():
    m = app("trigger_button")
    settle(m)
    m.drive_pin("PC13", 0)
    pressed_at = m.seconds()
    end = run_to_bootloader_entry(m)
    assert entered_bootloader(m, end)
    assert 0.019 <= m.seconds() - pressed_at <= 0.022             # 20 ms debounce on the 1 ms tick
    assert "B1 pressed, jumping" in m.guest_output


def test_button_app_ignores_a_press_shorter_than_the_debounce():
    m = app("trigger_button")
    settle(m)
    m.drive_pin("PC13", 0)
    settle(m, 0.005)
    m.drive_pin("PC13", None)                           # released: the pull-up brings it back high
    end = run_to_bootloader_entry(m, max_seconds=0.1)
    assert not entered_bootloader(m, end)


EXTI_UNMODELLED = any(block.name == "EXTI" for block in c071.UNMODELLED_BLOCKS)


@pytest.mark.skipif(EXTI_UNMODELLED, reason="EXTI is still in peripherals.c071.UNMODELLED_BLOCKS: the falling "
                                            "edge on PC13 cannot raise EXTI4_15 until the EXTI model is merged")
def test_button_exti_app_jumps_on_the_falling_edge_of_pc13():
    m = app("trigger_button_exti")
    settle(m)
    m.drive_pin("PC13", 0)
    pressed_at = m.seconds()
    end = run_to_bootloader_entry(m)
    assert entered_bootloader(m, end)
    assert 0.019 <= m.seconds() - pressed_at <= 0.022
    assert "B1 pressed, jumping" in m.guest_output


def usart2_host(m, baud: int = 115200) -> SerialPort:
    return SerialPort(m, "USART2", baud=baud, parity="N")


def test_usart_app_jumps_on_the_dfu_line_at_115200_8n1():
    m = app("trigger_usart")
    settle(m)
    port = usart2_host(m)
    port.send(b"DFU\n")
    end = run_to_bootloader_entry(m, max_seconds=0.05)
    assert entered_bootloader(m, end)
    assert "DFU received, jumping" in m.guest_output
    assert m.read32(m.symbol("usart_errors")) == 0


@pytest.mark.parametrize("text", [b"DFX\n", b"DFU", b"XDFU\n", b"DFUU\n"])
def test_usart_app_does_not_jump_on_other_text(text):
    m = app("trigger_usart")
    settle(m)
    usart2_host(m).send(text)
    end = run_to_bootloader_entry(m, max_seconds=0.05)
    assert not entered_bootloader(m, end)


def test_usart_app_at_the_wrong_baud_rate_sees_framing_errors_and_does_not_jump():
    m = app("trigger_usart")
    settle(m)
    usart2_host(m, baud=57600).send(b"DFU\n")
    end = run_to_bootloader_entry(m, max_seconds=0.05)
    assert not entered_bootloader(m, end)
    assert m.read32(m.symbol("usart_errors")) > 0


# -- USB: CDC ACM --------------------------------------------------------------------------
SET_LINE_CODING, GET_LINE_CODING, SET_CONTROL_LINE_STATE = 0x20, 0x21, 0x22
DTR, RTS = 1, 2


def usb_app(name: str):
    m = app(name)
    host = UsbHost(m)
    info = host.enumerate()
    return m, host, info


def line_coding(baud: int, stop_bits: int = 0, parity: int = 0, data_bits: int = 8) -> bytes:
    return struct.pack("<IBBB", baud, stop_bits, parity, data_bits)


def descriptors(config: bytes) -> list[bytes]:
    out, offset = [], 0
    while offset < len(config):
        out.append(config[offset:offset + config[offset]])
        offset += config[offset]
    return out


@pytest.mark.parametrize("name", ["trigger_cdc", "trigger_1200"])
def test_cdc_apps_present_an_iad_with_acm_functional_descriptors_and_three_endpoints(name):
    m, host, info = usb_app(name)
    assert info.device_descriptor[4:7] == bytes([0xEF, 0x02, 0x01])           # IAD device class triple
    parts = descriptors(info.config_descriptor)
    assert parts[1] == bytes([8, 0x0B, 0, 2, 0x02, 0x02, 0x01, 0])             # IAD: interfaces 0-1, CDC ACM
    functional = [p[2] for p in parts if p[1] == 0x24]
    assert functional == [0x00, 0x01, 0x02, 0x06]                              # header, call mgmt, ACM, union
    union = next(p for p in parts if p[1] == 0x24 and p[2] == 0x06)
    assert union[3:5] == bytes([0, 1])
    assert [(i["number"], i["class"]) for i in info.interfaces] == [(0, 0x02), (1, 0x0A)]
    endpoints = [(e["address"], e["type"], e["max_packet"]) for i in info.interfaces for e in i["endpoints"]]
    assert endpoints == [(0x82, "interrupt", 8), (0x01, "bulk", 64), (0x81, "bulk", 64)]


def test_cdc_app_serves_line_coding_and_control_line_state():
    m, host, info = usb_app("trigger_cdc")
    assert host.control_transfer(0xA1, GET_LINE_CODING, 0, 0, length=7) == line_coding(115200)
    host.control_transfer(0x21, SET_LINE_CODING, 0, 0, data=line_coding(9600, 2, 2, 7))
    assert host.control_transfer(0xA1, GET_LINE_CODING, 0, 0, length=7) == line_coding(9600, 2, 2, 7)
    host.control_transfer(0x21, SET_CONTROL_LINE_STATE, DTR | RTS, 0)
    assert m.read32(m.symbol("cdc_control_line_state")) == DTR | RTS
    with pytest.raises(UsbStall):
        host.control_transfer(0x21, SET_LINE_CODING, 0, 0, data=line_coding(9600)[:6])   # wLength must be 7


def open_cdc_port(host) -> None:
    """What a terminal program does when it opens the port: 115200 8N1, DTR and RTS on."""
    host.control_transfer(0x21, SET_LINE_CODING, 0, 0, data=line_coding(115200))
    host.control_transfer(0x21, SET_CONTROL_LINE_STATE, DTR | RTS, 0)


def test_cdc_app_jumps_on_dfu_line_on_bulk_out():
    m, host, info = usb_app("trigger_cdc")
    open_cdc_port(host)
    host.bulk_write(0x01, b"DFU\n")
    end = run_to_bootloader_entry(m, max_seconds=0.05)
    assert entered_bootloader(m, end)
    assert "DFU received, jumping" in m.guest_output


def test_cdc_app_assembles_the_line_across_packets_and_ignores_other_lines():
    m, host, info = usb_app("trigger_cdc")
    open_cdc_port(host)
    host.bulk_write(0x01, b"hello\r\nDF")
    end = run_to_bootloader_entry(m, max_seconds=0.02)
    assert not entered_bootloader(m, end)
    host.bulk_write(0x01, b"U\r\n")
    end = run_to_bootloader_entry(m, max_seconds=0.05)
    assert entered_bootloader(m, end)


def test_cdc_data_endpoints_do_not_answer_outside_the_configured_state():
    m, host, info = usb_app("trigger_cdc")
    host.control_transfer(0x00, 9, 0)                       # SET_CONFIGURATION(0): back to Address state
    with pytest.raises(UsbProtocolError, match="no handshake"):
        host.bulk_write(0x01, b"DFU\n", timeout_s=0.05)
    end = run_to_bootloader_entry(m, max_seconds=0.02)
    assert not entered_bootloader(m, end)


def test_1200_baud_touch_jumps_after_dtr_drops():
    m, host, info = usb_app("trigger_1200")
    host.control_transfer(0x21, SET_LINE_CODING, 0, 0, data=line_coding(1200))
    end = run_to_bootloader_entry(m, max_seconds=0.02)
    assert not entered_bootloader(m, end)                  # 1200 baud alone is not the touch
    host.control_transfer(0x21, SET_CONTROL_LINE_STATE, 0, 0)
    end = run_to_bootloader_entry(m, max_seconds=0.05)
    assert entered_bootloader(m, end)
    assert "1200-baud touch, jumping" in m.guest_output


@pytest.mark.parametrize("baud, line_state", [(115200, 0), (1200, DTR), (1200, DTR | RTS), (9600, 0)])
def test_1200_baud_touch_needs_both_1200_baud_and_dtr_low(baud, line_state):
    m, host, info = usb_app("trigger_1200")
    host.control_transfer(0x21, SET_LINE_CODING, 0, 0, data=line_coding(baud))
    host.control_transfer(0x21, SET_CONTROL_LINE_STATE, line_state, 0)
    end = run_to_bootloader_entry(m, max_seconds=0.05)
    assert not entered_bootloader(m, end)


# -- USB: DFU 1.1 run-time -------------------------------------------------------------------
DFU_DETACH, DFU_GETSTATUS, DFU_GETSTATE = 0, 3, 5
APP_IDLE, APP_DETACH = 0, 1


def dfu_functional(info) -> bytes:
    return next(p for p in descriptors(info.config_descriptor) if p[1] == 0x21)


@pytest.mark.parametrize("name, will_detach", [("trigger_dfu_detach", True), ("trigger_dfu_detach_reset", False)])
def test_dfu_runtime_interface_and_functional_descriptor(name, will_detach):
    m, host, info = usb_app(name)
    intf = descriptors(info.config_descriptor)[1]
    assert intf[5:8] == bytes([0xFE, 0x01, 0x01])                  # application specific / DFU / run-time
    attributes, detach_timeout, transfer_size, version = struct.unpack("<BHHH", dfu_functional(info)[2:9])
    assert bool(attributes & 0x08) is will_detach
    assert (detach_timeout, transfer_size, version) == (1000, 1024, 0x011A)
    status = host.control_transfer(0xA1, DFU_GETSTATUS, 0, 0, length=6)
    assert status[0] == 0 and status[4] == APP_IDLE


def test_dfu_detach_with_will_detach_jumps_after_the_status_stage():
    m, host, info = usb_app("trigger_dfu_detach")
    host.control_transfer(0x21, DFU_DETACH, 1000, 0)          # completes: the status stage was answered
    end = run_to_bootloader_entry(m, max_seconds=0.05)
    assert entered_bootloader(m, end)
    assert "detaching to the system bootloader" in m.guest_output


def test_dfu_detach_without_will_detach_waits_for_the_bus_reset():
    m, host, info = usb_app("trigger_dfu_detach_reset")
    host.control_transfer(0x21, DFU_DETACH, 1000, 0)
    assert host.control_transfer(0xA1, DFU_GETSTATE, 0, 0, length=1) == bytes([APP_DETACH])
    end = run_to_bootloader_entry(m, max_seconds=0.1)
    assert not entered_bootloader(m, end)                  # armed, not gone
    m.host_after(0, m.usb.bus_reset, "USB host bus reset")  # the reset dfu-util sends after DETACH
    end = run_to_bootloader_entry(m, max_seconds=0.05)
    assert entered_bootloader(m, end)


def test_dfu_detach_reset_after_wdetachtimeout_is_an_ordinary_reset():
    m, host, info = usb_app("trigger_dfu_detach_reset")
    host.control_transfer(0x21, DFU_DETACH, 50, 0)         # wValue: 50 ms to reset
    end = run_to_bootloader_entry(m, max_seconds=0.1)
    assert not entered_bootloader(m, end)
    assert host.control_transfer(0xA1, DFU_GETSTATE, 0, 0, length=1) == bytes([APP_IDLE])
    m.host_after(0, m.usb.bus_reset, "USB host bus reset")
    end = run_to_bootloader_entry(m, max_seconds=0.05)
    assert not entered_bootloader(m, end)


@pytest.mark.parametrize("name", ["trigger_dfu_detach", "trigger_dfu_detach_reset"])
def test_dfu_util_style_detach_then_reset_re_enumerates_as_the_st_bootloader(name):
    """dfu-util: DETACH, a bus reset unless the device detaches itself, then enumerate again."""
    m, host, info = usb_app(name)
    will_detach = dfu_functional(info)[2] & 0x08

    def flow():
        yield from host.control(info.address, 0x21, DFU_DETACH, 1000, 0)
        if not will_detach:
            yield Reset()
        yield Wait(0.2)
        return (yield from host.enumeration(address=2))

    bootloader = host.run(flow(), timeout_s=3.0)
    assert (bootloader.vendor_id, bootloader.product_id) == (0x0483, 0xDF11)
