"""pyusb, unmodified, through the emulator backend: it must behave as pyusb's libusb1 backend does
(descriptor extras, libusb error codes, overflow, timeouts, the default backend)."""
from __future__ import annotations

import errno
import math

import pytest
import usb.backend.libusb1
import usb.core as usb_core          # a declared dependency: a missing install must fail, not skip
import usb.util

from emulator.host.pyusb_backend import (LIBUSB_ERROR_OVERFLOW, LIBUSB_ERROR_PIPE, LIBUSB_ERROR_TIMEOUT,
                                         EmulatorBackend, installed_as_default, parse_config)
from emulator.host.usb_host import UsbHost
from tests.conftest import boot
from tests.test_bootloader_dfu import boot_bootloader

DFU_FUNCTIONAL = [9, 0x21, 0x0B, 0xFF, 0x00, 0x00, 0x04, 0x1A, 0x01]   # UM0424 / DFU 1.1 §4.1.3


def echo_device():
    m = boot("usb_echo")
    host = UsbHost(m)
    host.enumerate()
    return m, host, usb_core.find(idVendor=0x0483, idProduct=0xC071, backend=EmulatorBackend(host))


def test_pyusb_find_ctrl_transfer_write_read_on_usb_echo():
    m, host, dev = echo_device()
    assert dev is not None
    dev.set_configuration()
    assert dev.ctrl_transfer(0x40, 0x02, 0, 0, b"hello pyusb") == 11
    assert bytes(dev.ctrl_transfer(0xC0, 0x03, 0, 0, 64)) == b"hello pyusb"
    payload = bytes(range(256)) * 8
    assert dev.write(0x01, payload) == len(payload)
    assert bytes(dev.read(0x81, len(payload))) == payload
    assert usb.util.get_string(dev, 2) == "USB echo"


def test_stall_is_libusb_error_pipe_with_errno_epipe():
    m, host, dev = echo_device()
    with pytest.raises(usb_core.USBError) as stall:
        dev.ctrl_transfer(0xC0, 0x55, 0, 0, 4)
    assert stall.value.errno == errno.EPIPE
    assert stall.value.backend_error_code == LIBUSB_ERROR_PIPE == usb.backend.libusb1.LIBUSB_ERROR_PIPE
    assert not isinstance(stall.value, usb_core.USBTimeoutError)


def test_packet_larger_than_the_read_is_an_overflow():
    m, host, dev = echo_device()
    dev.write(0x01, b"x" * 64)
    with pytest.raises(usb_core.USBError) as overflow:
        dev.read(0x81, 10)
    assert overflow.value.errno == errno.EOVERFLOW
    assert overflow.value.backend_error_code == LIBUSB_ERROR_OVERFLOW == usb.backend.libusb1.LIBUSB_ERROR_OVERFLOW


def test_nak_until_the_timeout_is_usbtimeouterror_with_etimedout_in_simulated_time():
    m, host, dev = echo_device()
    before = m.clock.seconds()
    with pytest.raises(usb_core.USBTimeoutError) as timeout:
        dev.read(0x81, 64, timeout=20)
    assert timeout.value.errno == errno.ETIMEDOUT
    assert timeout.value.backend_error_code == LIBUSB_ERROR_TIMEOUT
    assert 0.020 <= m.clock.seconds() - before < 0.1


def test_timeout_zero_reaches_the_host_as_no_deadline():
    """libusb: a timeout of 0 is unlimited (pyusb's own default is 1000 ms)."""
    m, host, dev = echo_device()
    limits = []
    read = host.bulk_read
    host.bulk_read = lambda ep, length, timeout_s: limits.append(timeout_s) or read(ep, length, timeout_s)
    dev.write(0x01, b"no limit")
    assert bytes(dev.read(0x81, 64, timeout=0)) == b"no limit"
    dev.write(0x01, b"default")
    assert bytes(dev.read(0x81, 64)) == b"default"
    assert limits == [math.inf, 1.0]


def test_extra_descriptors_hold_the_class_bytes_after_each_descriptor_like_libusb():
    m = boot_bootloader()
    host = UsbHost(m)
    host.enumerate()
    dev = usb_core.find(idVendor=0x0483, idProduct=0xDF11, backend=EmulatorBackend(host))
    cfg = dev.get_active_configuration()
    alts = [(i.bInterfaceNumber, i.bAlternateSetting, list(i.extra_descriptors)) for i in cfg]
    # libusb attaches the DFU functional descriptor to the interface descriptor it follows: the last
    # alternate setting of ST's DfuSe layout
    assert alts == [(0, 0, []), (0, 1, []), (0, 2, DFU_FUNCTIONAL)]
    assert list(cfg.extra_descriptors) == []


def test_parse_config_splits_extras_between_configuration_interface_and_endpoint():
    iad = bytes([8, 0x0B, 0, 2, 2, 2, 1, 0])
    intf0 = bytes([9, 4, 0, 0, 1, 2, 2, 1, 0])
    cs_header = bytes([5, 0x24, 0x00, 0x10, 0x01])
    ep_int = bytes([7, 5, 0x82, 3, 8, 0, 16])
    intf1 = bytes([9, 4, 1, 0, 2, 0x0A, 0, 0, 0])
    ep_out = bytes([7, 5, 0x01, 2, 64, 0, 0])
    ep_cs = bytes([4, 0x25, 1, 0])
    ep_in = bytes([7, 5, 0x81, 2, 64, 0, 0])
    body = iad + intf0 + cs_header + ep_int + intf1 + ep_out + ep_cs + ep_in
    head = bytes([9, 2, 9 + len(body), 0, 2, 1, 0, 0x80, 50])
    config = parse_config(head + body)
    assert config.desc.extra_descriptors == list(iad)
    assert config.interfaces[0][0].extra_descriptors == list(cs_header)
    assert config.interfaces[0][0].endpoints[0].extra_descriptors == []
    assert [ep.extra_descriptors for ep in config.interfaces[1][0].endpoints] == [list(ep_cs), []]


def test_find_without_backend_sees_the_emulated_device_inside_installed_as_default():
    m, host, _ = echo_device()
    before = usb.backend.libusb1.get_backend
    with installed_as_default(host):
        dev = usb_core.find(idVendor=0x0483, idProduct=0xC071)
        assert dev is not None and dev.bus == 1 and dev.speed == 2
        assert usb.util.get_string(dev, 2) == "USB echo"
    assert usb.backend.libusb1.get_backend is before


def test_control_data_stage_longer_than_wlength_is_an_overflow():
    """A device answering more than wLength: the host's UsbOverflow becomes LIBUSB_ERROR_OVERFLOW."""
    from emulator.host.usb_host import UsbOverflow
    m, host, dev = echo_device()

    def overlong(*args, **kwargs):
        raise UsbOverflow("control 0xc0/0x03 to address 1: device sent 12 bytes, wLength was 4")
    host.control_transfer = overlong
    with pytest.raises(usb_core.USBError) as overflow:
        dev.ctrl_transfer(0xC0, 0x03, 0, 0, 4)
    assert (overflow.value.errno, overflow.value.backend_error_code) == (errno.EOVERFLOW, LIBUSB_ERROR_OVERFLOW)
