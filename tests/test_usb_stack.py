"""The guest USB device stack (images/usb/usb_device.c) against malformed and abandoned
control transfers: the defects found by the fuzzing campaign of issue 16, each pinned
here with the simulated host on the bundled bootloader (polled) and on interrupt-driven
applications.

USB 2.0 §9.4 defines each standard request's bmRequestType, wValue, wIndex and wLength
and the device states it is defined for; anything else is a request error, answered
with STALL (§9.2.7).  §9.4.6: SET_ADDRESS takes effect after the status stage of that
request.  §8.5.3: a SETUP always starts a new control transfer, abandoning the one in
progress.
"""
from __future__ import annotations

import struct

import pytest

from emulator.host.usb_host import Reset, UsbHost, UsbStall, Wait
from tests.conftest import boot

BOOT0_OPTR = 0x3EEF_FEAA            # nBOOT_SEL = 0: the BOOT0 pin selects system memory
USB_DADDR = 0x4000_5C4C
DADDR_EF = 0x80
DFU_GETSTATUS, DFU_CLRSTATUS, DFU_DNLOAD = 3, 4, 1
DFU_IDLE = 2


def bootloader():
    m = boot("bootloader", "hello", boot_pin=1, option_bytes={"OPTR": BOOT0_OPTR})
    host = UsbHost(m)
    host.enumerate()
    return m, host


def device(name: str):
    """The bundled bootloader (BOOT0 entry), a USB test image, or a trigger application, enumerated."""
    if name == "bootloader":
        return bootloader()
    m = boot("bootloader", name) if name.startswith("trigger_") else boot(name)
    host = UsbHost(m)
    host.enumerate()
    return m, host


def setup_packet(request_type: int, request: int, value: int = 0, index: int = 0, length: int = 0) -> bytes:
    return struct.pack("<BBHHH", request_type, request, value, index, length)


def idle(m, seconds: float = 0.005) -> None:
    m.run(max_seconds=seconds)


def address_state(host) -> None:
    """Back from Configured to Address state (SET_CONFIGURATION 0, USB 2.0 §9.4.7)."""
    host.control_transfer(0x00, 9, 0)


# -- SET_ADDRESS -------------------------------------------------------------------------------
@pytest.mark.parametrize("request_type", [0x80, 0x9E, 0x01, 0x02, 0x20, 0x40])
def test_set_address_with_another_request_type_is_stalled_and_the_address_kept(request_type):
    m, host = bootloader()
    address_state(host)
    with pytest.raises(UsbStall):
        host.control_transfer(request_type, 5, 5)
    idle(m)
    assert m.bus_read(USB_DADDR) == DADDR_EF | 1
    assert host.control_transfer(0x80, 0, length=2) == b"\0\0"          # still answers at address 1


@pytest.mark.parametrize("value, index, data", [(128, 0, b""), (5, 1, b""), (5, 0, b"\x05")])
def test_set_address_with_bad_fields_is_stalled(value, index, data):
    m, host = bootloader()
    address_state(host)
    with pytest.raises(UsbStall):
        host.control_transfer(0x00, 5, value, index, data=data)
    idle(m)
    assert m.bus_read(USB_DADDR) == DADDR_EF | 1


def test_set_address_in_configured_state_is_stalled():
    m, host = bootloader()
    with pytest.raises(UsbStall):
        host.control_transfer(0x00, 5, 5)
    idle(m)
    assert m.bus_read(USB_DADDR) == DADDR_EF | 1


def test_set_address_takes_effect_at_its_own_status_stage_not_before():
    m, host = bootloader()
    address_state(host)

    def flow():
        yield from host.setup_stage(1, setup_packet(0x00, 5, 9))
        yield Wait(0.001)
        before = m.bus_read(USB_DADDR)
        status = yield from host.in_packet(1, 0, deadline=host.now() + 0.1, pid=1)   # status IN at the old address
        yield Wait(0.001)
        return before, status, m.bus_read(USB_DADDR)

    before, status, after = host.run(flow())
    assert before == DADDR_EF | 1 and status == b"" and after == DADDR_EF | 9


@pytest.mark.parametrize("name", ["bootloader", "usb_echo_irq", "trigger_cdc"])
def test_set_address_without_status_stage_is_not_applied_by_a_later_request(name):
    m, host = device(name)
    address_state(host)

    def flow():
        yield from host.setup_stage(1, setup_packet(0x00, 5, 9))        # no status stage
        yield Wait(0.002)
        yield from host.control(1, 0x00, 9, 1)                          # SET_CONFIGURATION: its own status IN
        yield Wait(0.002)
        return (yield from host.control(1, 0x80, 8, length=1))          # GET_CONFIGURATION at address 1

    assert host.run(flow()) == b"\x01"
    assert m.bus_read(USB_DADDR) == DADDR_EF | 1


# -- a SETUP abandons the transfer in progress --------------------------------------------------
ABANDONED = {
    "GET_DESCRIPTOR(config, 255)": setup_packet(0x80, 6, 0x0200, 0, 255),
    "SET_CONFIGURATION(1)": setup_packet(0x00, 9, 1),
    "DFU_GETSTATUS": setup_packet(0xA1, DFU_GETSTATUS, 0, 0, 6),
    "DFU_CLRSTATUS": setup_packet(0x21, DFU_CLRSTATUS),
    "DFU_DNLOAD(5 bytes, no data)": setup_packet(0x21, DFU_DNLOAD, 0, 0, 5),
}


@pytest.mark.parametrize("gap_us", [0, 2, 6, 15, 1000])
@pytest.mark.parametrize("abandoned", sorted(ABANDONED))
def test_getstatus_after_an_abandoned_setup_answers_the_new_request(abandoned, gap_us):
    m, host = bootloader()

    def flow():
        yield from host.setup_stage(1, ABANDONED[abandoned])
        if gap_us:
            yield Wait(gap_us * 1e-6)
        standard = yield from host.control(1, 0x80, 0, length=2)                  # GET_STATUS(device)
        dfu = yield from host.control(1, 0xA1, DFU_GETSTATUS, 0, 0, length=6)
        return standard, dfu

    standard, dfu = host.run(flow())
    assert standard == b"\0\0"
    assert len(dfu) == 6 and dfu[0] == 0 and dfu[4] == DFU_IDLE


@pytest.mark.parametrize("gap_us", [0, 3, 9, 1000])
@pytest.mark.parametrize("name", ["usb_echo_irq", "trigger_dfu_detach"])
def test_interrupt_driven_stack_answers_the_newest_setup(name, gap_us):
    m, host = device(name)

    def flow():
        yield from host.setup_stage(1, setup_packet(0x80, 6, 0x0200, 0, 255))    # config descriptor, abandoned
        if gap_us:
            yield Wait(gap_us * 1e-6)
        status = yield from host.control(1, 0x80, 0, length=2)
        descriptor = yield from host.control(1, 0x80, 6, 0x0100, 0, length=18)
        return status, descriptor

    status, descriptor = host.run(flow())
    assert status == b"\0\0" and descriptor[:2] == bytes([18, 1])


def test_dnload_whose_data_stage_was_abandoned_does_not_run():
    m, host = bootloader()

    def flow():
        yield from host.setup_stage(1, setup_packet(0x21, DFU_DNLOAD, 0, 0, 5))   # erase command, no data
        yield Wait(0.001)
        return (yield from host.control(1, 0xA1, DFU_GETSTATUS, 0, 0, length=6))

    status = host.run(flow())
    assert status[4] == DFU_IDLE and m.read32(m.symbol("dfu_jobs")) == 0


# -- requests that must not hang ------------------------------------------------------------------
@pytest.mark.parametrize("name", ["bootloader", "usb_echo", "trigger_cdc"])
def test_set_configuration_with_a_data_stage_is_stalled_not_left_hanging(name):
    m, host = device(name)
    with pytest.raises(UsbStall):
        host.control_transfer(0x00, 9, 1, data=bytes(64))
    assert host.control_transfer(0x80, 8, length=1) == b"\x01"            # EP0 serves the next request


# -- request validation (USB 2.0 §9.4) ------------------------------------------------------------
INVALID = {
    "GET_STATUS wLength 4": (0x80, 0, 0, 0, 4),
    "GET_STATUS wValue 1": (0x80, 0, 1, 0, 2),
    "GET_STATUS as OUT": (0x00, 0, 0, 0, 0),
    "GET_STATUS of a missing interface": (0x81, 0, 0, 5, 2),
    "GET_STATUS of a missing endpoint": (0x82, 0, 0, 0x85, 2),
    "GET_STATUS with a reserved recipient": (0x83, 0, 0, 0, 2),
    "GET_DESCRIPTOR to an interface": (0x81, 6, 0x0100, 0, 18),
    "GET_DESCRIPTOR as OUT": (0x00, 6, 0x0100, 0, 0),
    "GET_DESCRIPTOR device qualifier": (0x80, 6, 0x0600, 0, 10),
    "GET_CONFIGURATION wLength 2": (0x80, 8, 0, 0, 2),
    "SET_CONFIGURATION 2 (not in the descriptor)": (0x00, 9, 2, 0, 0),
    "SET_CONFIGURATION with wIndex": (0x00, 9, 1, 1, 0),
    "SET_FEATURE DEVICE_REMOTE_WAKEUP (not supported)": (0x00, 3, 1, 0, 0),
    "SET_FEATURE TEST_MODE": (0x00, 3, 2, 0x0100, 0),
    "SET_FEATURE ENDPOINT_HALT of a missing endpoint": (0x02, 3, 0, 0x03, 0),
    "CLEAR_FEATURE to an interface": (0x01, 1, 0, 0, 0),
    "SET_INTERFACE of a missing interface": (0x01, 11, 0, 3, 0),
    "SET_INTERFACE alternate 1": (0x01, 11, 1, 0, 0),
    "GET_INTERFACE wLength 2": (0x81, 10, 0, 0, 2),
    "SET_DESCRIPTOR": (0x00, 7, 0x0100, 0, 0),
    "SYNCH_FRAME": (0x82, 12, 0, 0x81, 2),
    "reserved request type": (0x60, 6, 0x0100, 0, 0),
}


@pytest.mark.parametrize("case", sorted(INVALID))
def test_invalid_standard_request_is_stalled_and_ep0_recovers(case):
    m, host = device("usb_echo")
    request_type, request, value, index, length = INVALID[case]
    with pytest.raises(UsbStall):
        if request_type & 0x80:
            host.control_transfer(request_type, request, value, index, length=length)
        else:
            host.control_transfer(request_type, request, value, index, data=bytes(length))
    assert host.control_transfer(0x80, 0, length=2) == b"\0\0"


def test_interface_and_endpoint_requests_are_refused_in_address_state():
    m, host = device("usb_echo")
    address_state(host)
    for request_type, request, value, index, length in [(0x81, 0, 0, 0, 2), (0x82, 0, 0, 0x81, 2),
                                                        (0x81, 10, 0, 0, 1), (0x02, 3, 0, 0x81, 0)]:
        with pytest.raises(UsbStall):
            if request_type & 0x80:
                host.control_transfer(request_type, request, value, index, length=length)
            else:
                host.control_transfer(request_type, request, value, index)
    assert host.control_transfer(0x82, 0, 0, 0x80, length=2) == b"\0\0"     # EP0 answers in any state


def test_set_configuration_in_default_state_is_stalled():
    m = boot("usb_echo")
    host = UsbHost(m)

    def flow():
        yield from host.wait_attach()
        yield Reset()
        yield Wait(0.01)
        host.max_packet = {(0, 0): 64}
        try:
            yield from host.control(0, 0x00, 9, 1)
        except UsbStall:
            return "stall"
        return "accepted"

    assert host.run(flow()) == "stall"


def test_endpoint_halt_is_reported_per_direction_and_cleared():
    m, host = device("usb_echo")
    host.control_transfer(0x02, 3, 0, 0x81)                                 # SET_FEATURE(ENDPOINT_HALT) IN 1
    assert host.control_transfer(0x82, 0, 0, 0x81, length=2) == b"\x01\x00"
    assert host.control_transfer(0x82, 0, 0, 0x01, length=2) == b"\x00\x00"  # OUT 1 is not halted
    with pytest.raises(UsbStall):
        host.bulk_read(0x81, 4)
    host.control_transfer(0x02, 1, 0, 0x81)                                 # CLEAR_FEATURE
    assert host.control_transfer(0x82, 0, 0, 0x81, length=2) == b"\x00\x00"
    host.bulk_write(0x01, b"ping")
    assert host.bulk_read(0x81, 4) == b"ping"
