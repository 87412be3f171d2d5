"""The USB/IP wire format: operation messages, URB headers and their byte layout.

Source: Linux ``Documentation/usb/usbip_protocol.rst`` ("Version 1, 31 Mar 2021"),
protocol version 1.1.1 (0x0111).  Every field is big-endian except the 8 setup bytes,
which travel exactly as on the USB wire.  The four URB messages share one 48-byte
header (padded to the same length), so a reader always takes 48 bytes and then the
payload the header announces.

Error numbers travel as negative Linux errno values; they are spelled out here
(``include/uapi/asm-generic/errno.h``) rather than taken from Python's ``errno``,
whose values differ on other host systems.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Optional, Union

VERSION = 0x0111
OP_REQ_DEVLIST, OP_REP_DEVLIST = 0x8005, 0x0005
OP_REQ_IMPORT, OP_REP_IMPORT = 0x8003, 0x0003
OP_STATUS_OK, OP_STATUS_ERROR = 0, 1                 # OP_REP_IMPORT: "0 for OK, 1 for error"

CMD_SUBMIT, CMD_UNLINK, RET_SUBMIT, RET_UNLINK = 1, 2, 3, 4
DIR_OUT, DIR_IN = 0, 1
SPEED_FULL = 2                                       # enum usb_device_speed: USB_SPEED_FULL
NOT_ISOCHRONOUS = -1                                 # number_of_packets of a non-ISO URB (0xffffffff)

# transfer_flags bits the server acts on (include/uapi/linux/usbip.h USBIP_URB_*)
URB_SHORT_NOT_OK = 0x0001
URB_ZERO_PACKET = 0x0040

# Linux errno values (asm-generic/errno-base.h, errno.h)
ENOENT, ENODEV, EINVAL, EPIPE = 2, 19, 22, 32
EOVERFLOW, EPROTO, ECONNRESET, ESHUTDOWN, ETIMEDOUT, EREMOTEIO = 75, 71, 104, 108, 110, 121
EMSGSIZE = 90        # error-codes: "transfer length is invalid: negative or too large for the host controller"

OP_HEADER = struct.Struct(">HHI")                    # version, code, status
BUSID_SIZE, PATH_SIZE = 32, 256
DEVICE_RECORD = struct.Struct(">256s32sIIIHHHBBBBBB")
INTERFACE_RECORD = struct.Struct(">BBBx")
URB_HEADER_SIZE = 48
_BASIC = ">IIIII"                                     # command, seqnum, devid, direction, ep
CMD_SUBMIT_HEADER = struct.Struct(_BASIC + "IiiiI8s")  # flags, length, start_frame, packets, interval, setup
RET_SUBMIT_HEADER = struct.Struct(_BASIC + "iiiii8x")  # status, actual_length, start_frame, packets, errors
CMD_UNLINK_HEADER = struct.Struct(_BASIC + "I24x")     # unlink_seqnum
RET_UNLINK_HEADER = struct.Struct(_BASIC + "i24x")     # status
ISO_PACKET_DESCRIPTOR_SIZE = 16
assert DEVICE_RECORD.size == 312
assert {CMD_SUBMIT_HEADER.size, RET_SUBMIT_HEADER.size, CMD_UNLINK_HEADER.size, RET_UNLINK_HEADER.size} == \
    {URB_HEADER_SIZE}


class UsbipProtocolError(Exception):
    """The peer sent something that is not USB/IP 1.1.1; the connection cannot continue."""


# -- the exported device -------------------------------------------------------------------------
@dataclass
class DeviceRecord:
    """``usbip_usb_device``: what OP_REP_DEVLIST and OP_REP_IMPORT say about a device."""
    path: str
    busid: str
    busnum: int
    devnum: int
    speed: int
    id_vendor: int
    id_product: int
    bcd_device: int
    device_class: int
    device_subclass: int
    device_protocol: int
    configuration_value: int
    num_configurations: int
    interfaces: list[tuple[int, int, int]] = field(default_factory=list)   # (class, subclass, protocol)

    @property
    def devid(self) -> int:
        return self.busnum << 16 | self.devnum

    def pack(self, with_interfaces: bool) -> bytes:
        """The 312-byte record; OP_REP_DEVLIST appends one 4-byte record per interface."""
        record = DEVICE_RECORD.pack(
            self.path.encode(), self.busid.encode(), self.busnum, self.devnum, self.speed, self.id_vendor,
            self.id_product, self.bcd_device, self.device_class, self.device_subclass, self.device_protocol,
            self.configuration_value, self.num_configurations, len(self.interfaces))
        if not with_interfaces:
            return record
        return record + b"".join(INTERFACE_RECORD.pack(*interface) for interface in self.interfaces)


def device_record(device_descriptor: bytes, config_descriptor: bytes, configuration_value: int,
                  busid: str, busnum: int, devnum: int) -> DeviceRecord:
    """The record of a device from its descriptors (USB 2.0 §9.6.1, §9.6.3, §9.6.5).

    Interfaces are listed once per interface number, as their alternate setting 0
    describes them (the setting a freshly configured device is in)."""
    (_, _, _, device_class, device_subclass, device_protocol, _, id_vendor, id_product, bcd_device,
     _, _, _, num_configurations) = struct.unpack("<BBHBBBBHHHBBBB", device_descriptor[:18])
    interfaces: dict[int, tuple[int, int, int]] = {}
    offset = 0
    while offset + 2 <= len(config_descriptor) and config_descriptor[offset] >= 2:
        length, kind = config_descriptor[offset], config_descriptor[offset + 1]
        if kind == 4 and length >= 9:
            number = config_descriptor[offset + 2]
            interfaces.setdefault(number, tuple(config_descriptor[offset + 5:offset + 8]))
        offset += length
    return DeviceRecord(f"/sys/devices/platform/c071emu/usb{busnum}/{busid}", busid, busnum, devnum, SPEED_FULL,
                        id_vendor, id_product, bcd_device, device_class, device_subclass, device_protocol,
                        configuration_value, num_configurations, [interfaces[n] for n in sorted(interfaces)])


# -- operation messages (before import) ------------------------------------------------------------
@dataclass
class OpRequest:
    version: int
    code: int
    busid: str = ""           # OP_REQ_IMPORT only


def read_op_request(buffer: bytearray) -> Optional[OpRequest]:
    """Take one OP_REQ_DEVLIST / OP_REQ_IMPORT off the front of ``buffer`` (None: incomplete)."""
    if len(buffer) < OP_HEADER.size:
        return None
    version, code, _ = OP_HEADER.unpack_from(buffer)
    if code == OP_REQ_DEVLIST:
        del buffer[:OP_HEADER.size]
        return OpRequest(version, code)
    if code == OP_REQ_IMPORT:
        if len(buffer) < OP_HEADER.size + BUSID_SIZE:
            return None
        raw = bytes(buffer[OP_HEADER.size:OP_HEADER.size + BUSID_SIZE])
        del buffer[:OP_HEADER.size + BUSID_SIZE]
        return OpRequest(version, code, raw.split(b"\0", 1)[0].decode("ascii", "replace"))
    raise UsbipProtocolError(f"operation code {code:#06x} is neither OP_REQ_DEVLIST (0x8005) nor "
                             f"OP_REQ_IMPORT (0x8003)")


def devlist_reply(devices: list[DeviceRecord]) -> bytes:
    return (OP_HEADER.pack(VERSION, OP_REP_DEVLIST, OP_STATUS_OK) + struct.pack(">I", len(devices))
            + b"".join(d.pack(with_interfaces=True) for d in devices))


def import_reply(device: Optional[DeviceRecord]) -> bytes:
    """OP_REP_IMPORT: the device record on success; status 1 and nothing more on refusal."""
    if device is None:
        return OP_HEADER.pack(VERSION, OP_REP_IMPORT, OP_STATUS_ERROR)
    return OP_HEADER.pack(VERSION, OP_REP_IMPORT, OP_STATUS_OK) + device.pack(with_interfaces=False)


# -- URB messages (after import) -----------------------------------------------------------------------
@dataclass
class Submit:
    seqnum: int
    devid: int
    direction: int
    ep: int
    transfer_flags: int
    transfer_buffer_length: int
    number_of_packets: int
    setup: bytes
    data: bytes = b""           # the OUT payload
    refused_payload: int = 0    # an OUT payload over the size limit: its bytes follow and are skipped


@dataclass
class Unlink:
    seqnum: int
    devid: int
    unlink_seqnum: int


def read_urb_command(buffer: bytearray, max_length: int = 1 << 31) -> Optional[Union[Submit, Unlink]]:
    """Take one CMD_SUBMIT (with its OUT payload) or CMD_UNLINK off ``buffer`` (None: incomplete).

    A CMD_SUBMIT whose transfer_buffer_length exceeds ``max_length`` is returned at once, its
    header only, with ``refused_payload`` set to the OUT bytes that follow it in the stream: the
    caller skips them as they arrive instead of holding them in memory."""
    if len(buffer) < URB_HEADER_SIZE:
        return None
    command = struct.unpack_from(">I", buffer)[0]
    if command == CMD_UNLINK:
        _, seqnum, devid, _, _, unlink_seqnum = CMD_UNLINK_HEADER.unpack_from(buffer)
        del buffer[:URB_HEADER_SIZE]
        return Unlink(seqnum, devid, unlink_seqnum)
    if command != CMD_SUBMIT:
        raise UsbipProtocolError(f"URB command {command} is neither USBIP_CMD_SUBMIT (1) nor USBIP_CMD_UNLINK (2)")
    (_, seqnum, devid, direction, ep, flags, length, _, packets, _,
     setup) = CMD_SUBMIT_HEADER.unpack_from(buffer)
    if length < 0 or direction not in (DIR_OUT, DIR_IN):
        raise UsbipProtocolError(f"CMD_SUBMIT seqnum {seqnum}: direction {direction}, transfer_buffer_length "
                                 f"{length} is not a valid URB")
    payload = length if direction == DIR_OUT else 0
    if length > max_length:
        del buffer[:URB_HEADER_SIZE]
        return Submit(seqnum, devid, direction, ep, flags, length, packets, setup,
                      refused_payload=payload + max(packets, 0) * ISO_PACKET_DESCRIPTOR_SIZE)
    # ISO packet descriptors follow the payload; they are read so the stream stays aligned.
    total = URB_HEADER_SIZE + payload + max(packets, 0) * ISO_PACKET_DESCRIPTOR_SIZE
    if len(buffer) < total:
        return None
    data = bytes(buffer[URB_HEADER_SIZE:URB_HEADER_SIZE + payload])
    del buffer[:total]
    return Submit(seqnum, devid, direction, ep, flags, length, packets, setup, data)


def ret_submit(seqnum: int, status: int, data: bytes = b"", actual_length: Optional[int] = None) -> bytes:
    """USBIP_RET_SUBMIT; ``data`` (IN transfers) follows the header."""
    length = len(data) if actual_length is None else actual_length
    return RET_SUBMIT_HEADER.pack(RET_SUBMIT, seqnum, 0, 0, 0, status, length, 0, NOT_ISOCHRONOUS, 0) + data


def ret_unlink(seqnum: int, status: int) -> bytes:
    return RET_UNLINK_HEADER.pack(RET_UNLINK, seqnum, 0, 0, 0, status)
