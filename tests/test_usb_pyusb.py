"""pyusb, unmodified, through the emulator backend on the usb_echo firmware."""
from __future__ import annotations

import pytest
import usb.core as usb_core          # a declared dependency: a missing install must fail, not skip

from emulator.host.pyusb_backend import EmulatorBackend
from emulator.host.usb_host import UsbHost
from tests.conftest import boot


def test_pyusb_find_ctrl_transfer_write_read_on_usb_echo():
    m = boot("usb_echo")
    host = UsbHost(m)
    host.enumerate()
    dev = usb_core.find(idVendor=0x0483, idProduct=0xC071, backend=EmulatorBackend(host))
    assert dev is not None
    dev.set_configuration()
    assert dev.ctrl_transfer(0x40, 0x02, 0, 0, b"hello pyusb") == 11
    assert bytes(dev.ctrl_transfer(0xC0, 0x03, 0, 0, 64)) == b"hello pyusb"
    payload = bytes(range(256)) * 8
    assert dev.write(0x01, payload) == len(payload)
    assert bytes(dev.read(0x81, len(payload))) == payload
    with pytest.raises(usb_core.USBError):
        dev.ctrl_transfer(0xC0, 0x55, 0, 0, 4)
    import usb.util
    assert usb.util.get_string(dev, 2) == "USB echo"
