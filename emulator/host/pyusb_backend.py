"""A pyusb backend (``usb.backend.IBackend``) that behaves like pyusb's libusb1 backend, so
unmodified pyusb code and tools drive the emulated C071::

    host = UsbHost(machine); host.enumerate()
    dev = usb.core.find(idVendor=0x0483, idProduct=0xC071, backend=EmulatorBackend(host))
    dev.ctrl_transfer(0xC0, 0x01, 0, 0, 4); dev.write(0x01, b"..."); dev.read(0x81, 64)

or, for code that calls ``usb.core.find()`` without ``backend=`` (pydfuutil, pyfwup, pydfu)::

    with installed_as_default(host):
        pydfuutil.__main__.main()

Every call runs the machine through ``UsbHost`` until the transfer completes; pyusb
timeouts (milliseconds) become simulated-time limits and ``timeout=0`` means no limit, as
in libusb (libusb 1.0 API: "timeout ... 0 for unlimited").

What libusb gives and this backend mirrors (libusb 1.0 ``libusb_get_config_descriptor``,
``libusb_error``; pyusb ``usb/backend/libusb1.py``):

- descriptors are parsed from the configuration bytes the host read at enumeration.  The
  ``extra_descriptors`` of a configuration, interface or endpoint are the bytes of the
  descriptors that follow it up to the next interface, endpoint, configuration or device
  descriptor (class-specific descriptors: the DFU functional descriptor, CDC functional
  descriptors, audio class descriptors), as a list of ints; interfaces are grouped by
  ``bInterfaceNumber`` with their alternate settings in order.
- errors are ``usb.core.USBError(strerror, libusb_error_code, errno)``: a STALL is
  ``LIBUSB_ERROR_PIPE`` (-9, EPIPE), a timeout ``USBTimeoutError`` with
  ``LIBUSB_ERROR_TIMEOUT`` (-7, ETIMEDOUT), a packet larger than the space left in the read
  buffer ``LIBUSB_ERROR_OVERFLOW`` (-8, EOVERFLOW), an absent device
  ``LIBUSB_ERROR_NO_DEVICE`` (-4, ENODEV), any other failure ``LIBUSB_ERROR_IO`` (-1, EIO).
"""
from __future__ import annotations

import contextlib
import errno
import math
import struct
from types import SimpleNamespace
from typing import Any, Iterator

import usb.backend
import usb.backend.libusb0
import usb.backend.libusb1
import usb.backend.openusb
import usb.core

from .usb_host import UsbDisconnected, UsbError, UsbHost, UsbOverflow, UsbStall, UsbTimeout

# libusb_error (libusb.h) and the errno pyusb's libusb1 backend pairs with each
LIBUSB_ERROR_IO, LIBUSB_ERROR_NO_DEVICE, LIBUSB_ERROR_TIMEOUT = -1, -4, -7
LIBUSB_ERROR_OVERFLOW, LIBUSB_ERROR_PIPE = -8, -9
_LIBUSB_ERRORS = {
    LIBUSB_ERROR_IO: ("Input/output error", errno.EIO),
    LIBUSB_ERROR_NO_DEVICE: ("No such device (it may have been disconnected)", errno.ENODEV),
    LIBUSB_ERROR_TIMEOUT: ("Operation timed out", errno.ETIMEDOUT),
    LIBUSB_ERROR_OVERFLOW: ("Overflow", errno.EOVERFLOW),
    LIBUSB_ERROR_PIPE: ("Pipe error", errno.EPIPE),
}
LIBUSB_SPEED_FULL = 2
NO_LIMIT = math.inf

# descriptor types that end a run of class-specific "extra" descriptors (USB 2.0 Table 9-5)
DT_DEVICE, DT_CONFIG, DT_INTERFACE, DT_ENDPOINT = 1, 2, 4, 5
_STRUCTURAL = (DT_DEVICE, DT_CONFIG, DT_INTERFACE, DT_ENDPOINT)

_DEVICE_FIELDS = ("bLength", "bDescriptorType", "bcdUSB", "bDeviceClass", "bDeviceSubClass", "bDeviceProtocol",
                  "bMaxPacketSize0", "idVendor", "idProduct", "bcdDevice", "iManufacturer", "iProduct",
                  "iSerialNumber", "bNumConfigurations")
_CONFIG_FIELDS = ("bLength", "bDescriptorType", "wTotalLength", "bNumInterfaces", "bConfigurationValue",
                  "iConfiguration", "bmAttributes", "bMaxPower")
_INTERFACE_FIELDS = ("bLength", "bDescriptorType", "bInterfaceNumber", "bAlternateSetting", "bNumEndpoints",
                     "bInterfaceClass", "bInterfaceSubClass", "bInterfaceProtocol", "iInterface")
_ENDPOINT_FIELDS = ("bLength", "bDescriptorType", "bEndpointAddress", "bmAttributes", "wMaxPacketSize",
                    "bInterval")


def libusb_error(code: int, detail: str = "") -> usb.core.USBError:
    """The exception pyusb's libusb1 backend raises for a libusb error ``code``."""
    text, number = _LIBUSB_ERRORS[code]
    text = f"{text} ({detail})" if detail else text
    cls = usb.core.USBTimeoutError if code == LIBUSB_ERROR_TIMEOUT else usb.core.USBError
    return cls(text, code, number)


def _timeout_s(ms: int | None) -> float:
    """pyusb hands the backend milliseconds; libusb reads 0 as "no limit"."""
    return NO_LIMIT if not ms else ms / 1000.0


# -- the configuration descriptor as libusb parses it ----------------------------------------------
def _split(raw: bytes) -> list[bytes]:
    out, offset = [], 0
    while offset + 2 <= len(raw) and raw[offset] >= 2:
        out.append(bytes(raw[offset:offset + raw[offset]]))
        offset += raw[offset]
    return out


def _take_extra(descs: list[bytes], i: int) -> tuple[list[int], int]:
    """The bytes of the descriptors from index ``i`` up to the next structural one."""
    extra: list[int] = []
    while i < len(descs) and descs[i][1] not in _STRUCTURAL:
        extra += list(descs[i])
        i += 1
    return extra, i


def _record(raw: bytes, fmt: str, names: tuple[str, ...]) -> SimpleNamespace:
    padded = raw + bytes(max(0, struct.calcsize(fmt) - len(raw)))
    return SimpleNamespace(**dict(zip(names, struct.unpack_from(fmt, padded))))


def parse_config(raw: bytes) -> SimpleNamespace:
    """One configuration: ``.desc`` with ``extra_descriptors``, ``.interfaces[i][alt]`` each with
    ``.endpoints[e]`` (libusb's ``libusb_config_descriptor`` tree)."""
    descs = _split(raw)
    config = _record(descs[0], "<BBHBBBBB", _CONFIG_FIELDS)
    config.extra_descriptors, i = _take_extra(descs, 1)
    interfaces: list[list[SimpleNamespace]] = []
    while i < len(descs):
        if descs[i][1] != DT_INTERFACE:
            i += 1                      # an endpoint outside any interface: libusb skips it too
            continue
        intf = _record(descs[i], "<BBBBBBBBB", _INTERFACE_FIELDS)
        intf.extra_descriptors, i = _take_extra(descs, i + 1)
        intf.endpoints = []
        while i < len(descs) and descs[i][1] == DT_ENDPOINT:
            ep = _record(descs[i], "<BBBBHBBB", _ENDPOINT_FIELDS + ("bRefresh", "bSynchAddress"))
            ep.extra_descriptors, i = _take_extra(descs, i + 1)
            intf.endpoints.append(ep)
        if interfaces and interfaces[-1][0].bInterfaceNumber == intf.bInterfaceNumber:
            interfaces[-1].append(intf)
        else:
            interfaces.append([intf])
    return SimpleNamespace(desc=config, interfaces=interfaces)


def _public(desc: SimpleNamespace) -> SimpleNamespace:
    return SimpleNamespace(**{k: v for k, v in vars(desc).items() if k != "endpoints"})


class EmulatorBackend(usb.backend.IBackend):
    def __init__(self, host: UsbHost) -> None:
        self.host = host

    # -- errors -------------------------------------------------------------------
    def _call(self, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except UsbStall as exc:
            raise libusb_error(LIBUSB_ERROR_PIPE, str(exc)) from exc
        except UsbTimeout as exc:
            raise libusb_error(LIBUSB_ERROR_TIMEOUT, str(exc)) from exc
        except UsbDisconnected as exc:
            raise libusb_error(LIBUSB_ERROR_NO_DEVICE, str(exc)) from exc
        except UsbOverflow as exc:
            raise libusb_error(LIBUSB_ERROR_OVERFLOW, str(exc)) from exc
        except UsbError as exc:
            raise libusb_error(LIBUSB_ERROR_IO, str(exc)) from exc

    # -- descriptors -----------------------------------------------------------------
    def enumerate_devices(self):
        if self.host.info is not None:
            yield self.host.info

    def get_device_descriptor(self, dev):
        desc = _record(dev.device_descriptor, "<BBHBBBBHHHBBBB", _DEVICE_FIELDS)
        desc.bus, desc.address, desc.port_number, desc.port_numbers = 1, dev.address, 1, (1,)
        desc.speed = LIBUSB_SPEED_FULL
        return desc

    def _config(self, dev, config: int) -> SimpleNamespace:
        if config != 0:
            raise IndexError(f"configuration index {config}: the emulated device reports one")
        return parse_config(dev.config_descriptor)

    def get_configuration_descriptor(self, dev, config):
        return _public(self._config(dev, config).desc)

    def get_interface_descriptor(self, dev, intf, alt, config):
        return _public(self._config(dev, config).interfaces[intf][alt])

    def get_endpoint_descriptor(self, dev, ep, intf, alt, config):
        return _public(self._config(dev, config).interfaces[intf][alt].endpoints[ep])

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

    def reset_device(self, dev_handle):
        raise NotImplementedError("port reset of the emulated device (use UsbHost.enumerate)")

    def ctrl_transfer(self, dev_handle, bmRequestType, bRequest, wValue, wIndex, data, timeout):
        if bmRequestType & 0x80:
            got = self._call(self.host.control_transfer, bmRequestType, bRequest, wValue, wIndex,
                             length=len(data), timeout_s=_timeout_s(timeout))
            return _fill(data, got)
        return self._call(self.host.control_transfer, bmRequestType, bRequest, wValue, wIndex,
                          data=bytes(data), timeout_s=_timeout_s(timeout))

    def bulk_write(self, dev_handle, ep, intf, data, timeout):
        return self._call(self.host.bulk_write, ep, bytes(data), _timeout_s(timeout))

    def bulk_read(self, dev_handle, ep, intf, buff, timeout):
        got = self._call(self.host.bulk_read, ep, len(buff), _timeout_s(timeout))
        if len(got) > len(buff):
            # The host controller received a packet larger than the space left in the transfer
            # buffer: libusb ends the transfer with LIBUSB_TRANSFER_OVERFLOW.
            raise libusb_error(LIBUSB_ERROR_OVERFLOW, f"endpoint {ep:#04x} sent {len(got)} bytes into a "
                                                      f"{len(buff)}-byte read")
        return _fill(buff, got)

    intr_write = bulk_write
    intr_read = bulk_read


def _fill(buff: Any, got: bytes) -> int:
    buff[:len(got)] = type(buff)(buff.typecode, got) if hasattr(buff, "typecode") else got
    return len(got)


# -- pyusb's default backend ------------------------------------------------------------------------------
@contextlib.contextmanager
def installed_as_default(host: UsbHost) -> Iterator[EmulatorBackend]:
    """Make the emulated device what pyusb finds without ``backend=``.

    ``usb.core.find(backend=None)`` asks ``usb.backend.libusb1.get_backend()`` first (then
    openusb, then libusb0); inside this block all three answer with an ``EmulatorBackend``
    for ``host``, so tools that find their device by VID:PID, or that load "the libusb1
    backend" themselves, see the emulated chip and no real USB device.  The previous
    functions come back when the block ends."""
    backend = EmulatorBackend(host)
    modules = (usb.backend.libusb1, usb.backend.openusb, usb.backend.libusb0)
    saved = [m.get_backend for m in modules]
    for m in modules:
        m.get_backend = lambda *args, **kwargs: backend
    try:
        yield backend
    finally:
        for m, get in zip(modules, saved):
            m.get_backend = get
