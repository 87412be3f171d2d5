"""A pyusb backend (``usb.backend.IBackend``) that exposes the emulated C071 to unmodified
pyusb code::

    host = UsbHost(machine); host.enumerate()
    dev = usb.core.find(idVendor=0x0483, idProduct=0xC071, backend=EmulatorBackend(host))
    dev.ctrl_transfer(0xC0, 0x01, 0, 0, 4); dev.write(0x01, b"..."); dev.read(0x81, 64)

Every call runs the machine through ``UsbHost`` until the transfer completes; pyusb
timeouts (milliseconds) become simulated-time limits.  Descriptors come from the
host's enumeration (``UsbHost.info``).  Errors map to pyusb's: a STALL is
``USBError`` with errno EPIPE, a NAK timeout ``USBTimeoutError``, an absent device
``USBError`` with errno ENODEV.
"""
from __future__ import annotations

import errno
import struct
from types import SimpleNamespace

import usb.backend
import usb.core

from .usb_host import UsbDisconnected, UsbError, UsbHost, UsbStall, UsbTimeout

DEFAULT_TIMEOUT_MS = 1000


def _timeout(ms) -> float:
    return (ms or DEFAULT_TIMEOUT_MS) / 1000.0


class EmulatorBackend(usb.backend.IBackend):
    def __init__(self, host: UsbHost) -> None:
        self.host = host

    # -- errors -------------------------------------------------------------------
    def _call(self, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except UsbStall as exc:
            raise usb.core.USBError(str(exc), errno.EPIPE) from exc
        except UsbTimeout as exc:
            raise usb.core.USBTimeoutError(str(exc), errno.ETIMEDOUT) from exc
        except UsbDisconnected as exc:
            raise usb.core.USBError(str(exc), errno.ENODEV) from exc
        except UsbError as exc:
            raise usb.core.USBError(str(exc), errno.EIO) from exc

    # -- descriptors -----------------------------------------------------------------
    def enumerate_devices(self):
        if self.host.info is not None:
            yield self.host.info

    def get_device_descriptor(self, dev):
        d = dev.device_descriptor
        f = struct.unpack("<BBHBBBBHHHBBBB", d)
        names = ("bLength", "bDescriptorType", "bcdUSB", "bDeviceClass", "bDeviceSubClass", "bDeviceProtocol",
                 "bMaxPacketSize0", "idVendor", "idProduct", "bcdDevice", "iManufacturer", "iProduct",
                 "iSerialNumber", "bNumConfigurations")
        desc = SimpleNamespace(**dict(zip(names, f)))
        desc.bus, desc.address, desc.port_number, desc.port_numbers, desc.speed = 1, dev.address, 1, (1,), 2
        return desc

    def get_configuration_descriptor(self, dev, config):
        c = dev.config_descriptor
        f = struct.unpack_from("<BBHBBBBB", c)
        names = ("bLength", "bDescriptorType", "wTotalLength", "bNumInterfaces", "bConfigurationValue",
                 "iConfiguration", "bmAttributes", "bMaxPower")
        desc = SimpleNamespace(**dict(zip(names, f)))
        desc.extra_descriptors = []
        return desc

    def _descriptors(self, dev, kind: int):
        c, offset, found = dev.config_descriptor, 0, []
        while offset < len(c):
            if c[offset + 1] == kind:
                found.append(c[offset:offset + c[offset]])
            offset += c[offset]
        return found

    def get_interface_descriptor(self, dev, intf, alt, config):
        for raw in self._descriptors(dev, 4):
            if raw[2] == intf and raw[3] == alt:
                f = struct.unpack("<BBBBBBBBB", raw[:9])
                names = ("bLength", "bDescriptorType", "bInterfaceNumber", "bAlternateSetting", "bNumEndpoints",
                         "bInterfaceClass", "bInterfaceSubClass", "bInterfaceProtocol", "iInterface")
                desc = SimpleNamespace(**dict(zip(names, f)))
                desc.extra_descriptors = []
                return desc
        raise IndexError(f"no interface {intf} alternate {alt}")

    def get_endpoint_descriptor(self, dev, ep, intf, alt, config):
        info = next(i for i in dev.interfaces if i["number"] == intf and i["alternate"] == alt)
        address = info["endpoints"][ep]["address"]
        raw = next(r for r in self._descriptors(dev, 5) if r[2] == address)
        f = struct.unpack("<BBBBHB", raw[:7])
        names = ("bLength", "bDescriptorType", "bEndpointAddress", "bmAttributes", "wMaxPacketSize", "bInterval")
        desc = SimpleNamespace(**dict(zip(names, f)))
        desc.bRefresh, desc.bSynchAddress, desc.extra_descriptors = 0, 0, []
        return desc

    # -- handles -------------------------------------------------------------------------
    def open_device(self, dev):
        return dev

    def close_device(self, dev_handle):
        pass

    def claim_interface(self, dev_handle, intf):
        pass

    def release_interface(self, dev_handle, intf):
        pass

    def is_kernel_driver_active(self, dev_handle, intf):
        return False

    def detach_kernel_driver(self, dev_handle, intf):
        pass

    def attach_kernel_driver(self, dev_handle, intf):
        pass

    # -- transfers ------------------------------------------------------------------------
    def set_configuration(self, dev_handle, config_value):
        self._call(self.host.control_transfer, 0x00, 9, config_value)

    def get_configuration(self, dev_handle):
        return self._call(self.host.control_transfer, 0x80, 8, length=1)[0]

    def set_interface_altsetting(self, dev_handle, intf, altsetting):
        self._call(self.host.control_transfer, 0x01, 11, altsetting, intf)

    def clear_halt(self, dev_handle, ep):
        self._call(self.host.control_transfer, 0x02, 1, 0, ep)

    def ctrl_transfer(self, dev_handle, bmRequestType, bRequest, wValue, wIndex, data, timeout):
        if bmRequestType & 0x80:
            got = self._call(self.host.control_transfer, bmRequestType, bRequest, wValue, wIndex,
                             length=len(data), timeout_s=_timeout(timeout))
            data[:len(got)] = type(data)(data.typecode, got) if hasattr(data, "typecode") else got
            return len(got)
        return self._call(self.host.control_transfer, bmRequestType, bRequest, wValue, wIndex,
                          data=bytes(data), timeout_s=_timeout(timeout))

    def bulk_write(self, dev_handle, ep, intf, data, timeout):
        return self._call(self.host.bulk_write, ep, bytes(data), _timeout(timeout))

    def bulk_read(self, dev_handle, ep, intf, buff, timeout):
        got = self._call(self.host.bulk_read, ep, len(buff), _timeout(timeout))
        buff[:len(got)] = type(buff)(buff.typecode, got) if hasattr(buff, "typecode") else got
        return len(got)

    intr_write = bulk_write
    intr_read = bulk_read
