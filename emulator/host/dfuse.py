"""A DfuSe host (ST's USB DFU extensions, AN3156) on the simulated USB host.

Two layers:

* ``DfuseClient`` - the requests and the DfuSe command sequences as host flows
  (generators run by ``UsbHost.run``), in two styles taken from what the public
  hosts send (FACTS §8.3):

  - ``"dfu-util"`` (dfu-util 0.11 ``dfuse.c``): after a DNLOAD, the first GETSTATUS
    must report dfuDNBUSY; the host then sleeps bwPollTimeout and polls GETSTATUS
    again while the state stays dfuDNBUSY; the final status must be OK.
  - ``"pydfu"`` (MicroPython ``tools/pydfu.py``): exactly two GETSTATUS, no sleep;
    the first must report dfuDNBUSY (4), the second dfuDNLOAD-IDLE (5).

  Uploads follow dfu-util's DfuSe upload: Set Address Pointer, ABORT back to
  dfuIDLE, UPLOAD blocks 2, 3, ... of wTransferSize, ABORT.  Leaving follows
  dfu-util's ``:leave`` (Set Address Pointer, zero-length DNLOAD, GETSTATUS expecting
  dfuMANIFEST) or pydfu's ``exit_dfu`` (same with DNLOAD block 0).

* ``DfuSession(machine)`` - what a programming tool does, step by step
  (enumerate, upload, erase, download, verify, leave), each step recorded with
  its simulated start and end time for ``flow_report()``.

Every DFU request is logged (``DfuseClient.log``): simulated time, request,
wValue/length, and the device's reply (bStatus, bState, bwPollTimeout).  A
device that stops answering surfaces as the USB host's ``UsbTimeout`` (with the
simulated deadline) or ``UsbDisconnected``; protocol-level failures as
``DfuError`` carrying the reported status and state.

The host sends requests only; it never looks inside the emulated chip.
"""
from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field
from typing import Any, Optional

from emulator.host.usb_host import Flow, UsbError, UsbHost, UsbStall, Wait

# -- DFU 1.1 / AN3156 constants (FACTS §8.1) ----------------------------------------------
DETACH, DNLOAD, UPLOAD, GETSTATUS, CLRSTATUS, GETSTATE, ABORT = range(7)
REQUEST_NAMES = ["DETACH", "DNLOAD", "UPLOAD", "GETSTATUS", "CLRSTATUS", "GETSTATE", "ABORT"]
OUT_CLASS_INTERFACE, IN_CLASS_INTERFACE = 0x21, 0xA1

STATE_NAMES = ["appIDLE", "appDETACH", "dfuIDLE", "dfuDNLOAD-SYNC", "dfuDNBUSY", "dfuDNLOAD-IDLE",
               "dfuMANIFEST-SYNC", "dfuMANIFEST", "dfuMANIFEST-WAIT-RESET", "dfuUPLOAD-IDLE", "dfuERROR"]
(APP_IDLE, APP_DETACH, DFU_IDLE, DFU_DNLOAD_SYNC, DFU_DNBUSY, DFU_DNLOAD_IDLE, DFU_MANIFEST_SYNC,
 DFU_MANIFEST, DFU_MANIFEST_WAIT_RESET, DFU_UPLOAD_IDLE, DFU_ERROR) = range(11)
STATUS_NAMES = ["OK", "errTARGET", "errFILE", "errWRITE", "errERASE", "errCHECK_ERASED", "errPROG",
                "errVERIFY", "errADDRESS", "errNOTDONE", "errFIRMWARE", "errVENDOR", "errUSBR", "errPOR",
                "errUNKNOWN", "errSTALLEDPKT"]
(OK, ERR_TARGET, ERR_FILE, ERR_WRITE, ERR_ERASE, ERR_CHECK_ERASED, ERR_PROG, ERR_VERIFY, ERR_ADDRESS,
 ERR_NOTDONE, ERR_FIRMWARE, ERR_VENDOR, ERR_USBR, ERR_POR, ERR_UNKNOWN, ERR_STALLEDPKT) = range(16)

# DfuSe commands (AN3156 §5.3): DNLOAD block 0 payloads
CMD_SET_ADDRESS, CMD_ERASE, CMD_READ_UNPROTECT = 0x21, 0x41, 0x92

STYLES = ("dfu-util", "pydfu")


def state_name(state: int) -> str:
    return STATE_NAMES[state] if 0 <= state < len(STATE_NAMES) else f"state {state}"


def status_name(status: int) -> str:
    return STATUS_NAMES[status] if 0 <= status < len(STATUS_NAMES) else f"status {status:#04x}"


# -- errors ---------------------------------------------------------------------------------
class DfuError(Exception):
    """The device reported an error or a state the host did not expect."""

    def __init__(self, message: str, status: Optional[int] = None, state: Optional[int] = None) -> None:
        super().__init__(message)
        self.status = status
        self.state = state


class DfuVerifyError(DfuError):
    """Read-back differs from what was written."""


# -- replies and log ----------------------------------------------------------------------------
@dataclass(frozen=True)
class DfuStatus:
    status: int
    poll_timeout_ms: int
    state: int
    string: int = 0

    @classmethod
    def parse(cls, raw: bytes) -> "DfuStatus":
        if len(raw) != 6:
            raise DfuError(f"GETSTATUS returned {len(raw)} bytes (6 expected): {raw.hex()}")
        return cls(raw[0], raw[1] | raw[2] << 8 | raw[3] << 16, raw[4], raw[5])

    def describe(self) -> str:
        return f"{status_name(self.status)}, {state_name(self.state)}, bwPollTimeout {self.poll_timeout_ms} ms"


@dataclass
class DfuLogEntry:
    time_s: float
    request: str
    detail: str
    reply: str

    def line(self) -> str:
        return f"{self.time_s * 1e3:12.6f} ms  {self.request:<9} {self.detail:<34} -> {self.reply}"


@dataclass
class MemorySegment:
    """One ``N*SSSu`` group of a DfuSe memory string (dfu-util dfuse_mem.c grammar, FACTS §7)."""
    start: int
    count: int
    size: int
    flags: str          # 'a'..'g': bit 0 readable, bit 1 erasable, bit 2 writable

    @property
    def end(self) -> int:
        return self.start + self.count * self.size

    def _bits(self) -> int:
        return ord(self.flags) - ord("a") + 1 if "a" <= self.flags <= "g" else 0

    @property
    def readable(self) -> bool:
        return bool(self._bits() & 1)

    @property
    def erasable(self) -> bool:
        return bool(self._bits() & 2)

    @property
    def writable(self) -> bool:
        return bool(self._bits() & 4)


@dataclass
class MemoryLayout:
    name: str
    segments: list[MemorySegment]

    def segment(self, address: int) -> Optional[MemorySegment]:
        return next((s for s in self.segments if s.start <= address < s.end), None)


_MULTIPLIER = {"B": 1, " ": 1, "K": 1024, "M": 1024 * 1024}


def parse_memory_string(text: str) -> MemoryLayout:
    """``@name/0xADDR/N*SSSu[,N*SSSu][/0xADDR/...]`` -> segments (FACTS §7, DfuSe string grammar)."""
    if not text.startswith("@"):
        raise DfuError(f"not a DfuSe memory string: {text!r}")
    parts = text[1:].split("/")
    name, rest = parts[0].strip(), parts[1:]
    segments: list[MemorySegment] = []
    for i in range(0, len(rest) - 1, 2):
        address = int(rest[i].strip(), 16)
        for group in rest[i + 1].split(","):
            m = re.fullmatch(r"\s*(\d+)\*\s*(\d+)\s*([BKM ]?)([a-g])\s*", group)
            if not m:
                raise DfuError(f"DfuSe memory string {text!r}: cannot parse {group!r}")
            count, size = int(m.group(1)), int(m.group(2)) * _MULTIPLIER[m.group(3) or " "]
            segments.append(MemorySegment(address, count, size, m.group(4)))
            address += count * size
    if not segments:
        raise DfuError(f"DfuSe memory string {text!r} describes no memory")
    return MemoryLayout(name, segments)


def functional_descriptor(config: bytes) -> dict[str, int]:
    """The DFU functional descriptor (DFU 1.1 §4.1.3, type 0x21) from a configuration descriptor set."""
    offset = 0
    while offset + 2 <= len(config):
        length, kind = config[offset], config[offset + 1]
        if length < 2:
            break
        if kind == 0x21 and length >= 9:
            attributes, detach, transfer, version = struct.unpack_from("<BHHH", config, offset + 2)
            return {"bmAttributes": attributes, "wDetachTimeOut": detach, "wTransferSize": transfer,
                    "bcdDFUVersion": version}
        offset += length
    raise DfuError("the configuration has no DFU functional descriptor (type 0x21)")


# -- the request / command layer -----------------------------------------------------------------
class DfuseClient:
    """DFU requests and DfuSe command sequences as flows on a ``UsbHost``."""

    def __init__(self, host: UsbHost, interface: int = 0, style: str = "dfu-util",
                 transfer_size: int = 1024, request_timeout_s: float = 1.0) -> None:
        if style not in STYLES:
            raise ValueError(f"DfuSe host style {style!r}: choose one of {', '.join(STYLES)}")
        self.host = host
        self.interface = interface
        self.style = style
        self.transfer_size = transfer_size
        self.request_timeout_s = request_timeout_s
        self.log: list[DfuLogEntry] = []
        self.last_status: Optional[DfuStatus] = None

    # -- plumbing ----------------------------------------------------------------------------
    @property
    def address(self) -> int:
        return self.host.info.address if self.host.info else 0

    def _note(self, start: float, request: str, detail: str, reply: str) -> None:
        self.log.append(DfuLogEntry(start, request, detail, reply))

    def _request(self, request: int, value: int = 0, data: bytes = b"", length: int = 0,
                 detail: str = "") -> Flow:
        name = REQUEST_NAMES[request]
        rtype = IN_CLASS_INTERFACE if request in (UPLOAD, GETSTATUS, GETSTATE) else OUT_CLASS_INTERFACE
        start = self.host.now()
        try:
            result = yield from self.host.control(self.address, rtype, request, value, self.interface,
                                                  data=data, length=length, timeout_s=self.request_timeout_s)
        except UsbStall:
            self._note(start, name, detail, "STALL")
            raise
        except UsbError as exc:
            self._note(start, name, detail, f"no answer ({type(exc).__name__})")
            raise
        return result

    # -- DFU requests ----------------------------------------------------------------------------
    def get_status(self) -> Flow:
        start = self.host.now()
        raw = yield from self._request(GETSTATUS, length=6)
        status = DfuStatus.parse(raw)
        self.last_status = status
        self._note(start, "GETSTATUS", "", status.describe())
        return status

    def get_state(self) -> Flow:
        start = self.host.now()
        raw = yield from self._request(GETSTATE, length=1)
        if len(raw) != 1:
            raise DfuError(f"GETSTATE returned {len(raw)} bytes (1 expected)")
        self._note(start, "GETSTATE", "", state_name(raw[0]))
        return raw[0]

    def clear_status(self) -> Flow:
        start = self.host.now()
        yield from self._request(CLRSTATUS, detail="")
        self._note(start, "CLRSTATUS", "", "ACK")

    def abort(self) -> Flow:
        start = self.host.now()
        yield from self._request(ABORT, detail="")
        self._note(start, "ABORT", "", "ACK")

    def dnload(self, block: int, data: bytes, what: str = "") -> Flow:
        start = self.host.now()
        detail = f"block {block}, {len(data)} B" + (f" ({what})" if what else "")
        yield from self._request(DNLOAD, block, data=data, detail=detail)
        self._note(start, "DNLOAD", detail, "ACK")

    def upload(self, block: int, length: int) -> Flow:
        start = self.host.now()
        detail = f"block {block}, {length} B"
        data = yield from self._request(UPLOAD, block, length=length, detail=detail)
        self._note(start, "UPLOAD", detail, f"{len(data)} B")
        return data

    def set_alternate(self, alternate: int) -> Flow:
        start = self.host.now()
        yield from self.host.control(self.address, 0x01, 11, alternate, self.interface,
                                     timeout_s=self.request_timeout_s)
        self._note(start, "SET_INTF", f"alternate {alternate}", "ACK")

    # -- the DNLOAD / GETSTATUS handshake (FACTS §8.2-§8.3) ----------------------------------------
    def wait_done(self, what: str) -> Flow:
        """After a DNLOAD: poll GETSTATUS the way the chosen host does; return the final status."""
        first = yield from self.get_status()
        if first.state != DFU_DNBUSY:
            self._raise_for(first, what, f"expected dfuDNBUSY after the DNLOAD, got {state_name(first.state)}")
        if self.style == "pydfu":
            second = yield from self.get_status()
            if second.state != DFU_DNLOAD_IDLE:
                self._raise_for(second, what, f"expected dfuDNLOAD-IDLE, got {state_name(second.state)}")
            return second
        status = first
        while status.state == DFU_DNBUSY:
            yield Wait(status.poll_timeout_ms / 1000)
            status = yield from self.get_status()
        if status.status != OK or status.state == DFU_ERROR:
            self._raise_for(status, what, "the device reported an error")
        return status

    @staticmethod
    def _raise_for(status: DfuStatus, what: str, why: str) -> None:
        raise DfuError(f"{what}: {why} ({status.describe()})", status.status, status.state)

    def special_command(self, payload: bytes, what: str) -> Flow:
        yield from self.dnload(0, payload, what)
        return (yield from self.wait_done(what))

    def set_address(self, address: int) -> Flow:
        return (yield from self.special_command(struct.pack("<BI", CMD_SET_ADDRESS, address),
                                                f"set address 0x{address:08X}"))

    def erase_page(self, address: int) -> Flow:
        return (yield from self.special_command(struct.pack("<BI", CMD_ERASE, address),
                                                f"erase page at 0x{address:08X}"))

    def mass_erase(self) -> Flow:
        return (yield from self.special_command(bytes([CMD_ERASE]), "mass erase"))

    def read_unprotect(self) -> Flow:
        yield from self.dnload(0, bytes([CMD_READ_UNPROTECT]), "read unprotect")
        return (yield from self.get_status())       # the device then reloads its options and resets

    def get_commands(self) -> Flow:
        """UPLOAD block 0 (Get): the command bytes the bootloader supports."""
        data = yield from self.upload(0, 4)
        yield from self.abort()
        return data

    def write_block(self, block: int, data: bytes, what: str) -> Flow:
        yield from self.dnload(block, data, what)
        return (yield from self.wait_done(what))

    # -- memory-level sequences -----------------------------------------------------------------------
    def read_memory(self, address: int, length: int) -> Flow:
        """dfu-util's DfuSe upload: set address, ABORT, UPLOAD blocks from 2, ABORT."""
        yield from self.set_address(address)
        yield from self.abort()
        # One block of exactly ``length`` bytes when it fits; otherwise whole wTransferSize
        # blocks (the device computes the address from wLength), the tail cut off here.
        size = length if length <= self.transfer_size else self.transfer_size
        out = bytearray()
        block = 2
        while len(out) < length:
            chunk = yield from self.upload(block, size)
            out += chunk
            block += 1
            if len(chunk) < size:
                break
        yield from self.abort()
        return bytes(out[:length])

    def write_memory(self, address: int, data: bytes) -> Flow:
        """Write pass: per chunk of wTransferSize, Set Address Pointer then DNLOAD block 2 (dfu-util, pydfu)."""
        for offset in range(0, len(data), self.transfer_size):
            chunk = data[offset:offset + self.transfer_size]
            yield from self.set_address(address + offset)
            yield from self.write_block(2, chunk, f"write {len(chunk)} B at 0x{address + offset:08X}")

    def leave(self, address: int) -> Flow:
        """Set Address Pointer, zero-length DNLOAD, GETSTATUS expecting dfuMANIFEST (AN3156 §5.6)."""
        yield from self.set_address(address)
        yield from self.dnload(2 if self.style == "dfu-util" else 0, b"", "leave DFU")
        status = yield from self.get_status()
        if status.state != DFU_MANIFEST:
            self._raise_for(status, "leave", f"expected dfuMANIFEST, got {state_name(status.state)}")
        return status

    def format_log(self, last: Optional[int] = None) -> str:
        entries = self.log if last is None else self.log[-last:]
        return "\n".join(e.line() for e in entries)


# -- a programming session ---------------------------------------------------------------------------
@dataclass
class Step:
    name: str
    ok: bool
    detail: str
    start_s: float
    end_s: float

    def line(self) -> str:
        return (f"{self.start_s * 1e3:11.3f} ms -> {self.end_s * 1e3:11.3f} ms  "
                f"{'ok    ' if self.ok else 'FAILED'}  {self.name}: {self.detail}")


@dataclass
class DfuDevice:
    vendor_id: int
    product_id: int
    bcd_device: int
    functional: dict[str, int]
    memories: dict[int, MemoryLayout] = field(default_factory=dict)      # alternate -> layout
    strings: dict[int, str] = field(default_factory=dict)


class DfuSession:
    """What a DfuSe programming tool does, one recorded step at a time.

    ``style`` picks the request pattern (``"dfu-util"`` or ``"pydfu"``).  Each
    public method runs the machine until its flow is done and appends a ``Step``;
    a failing step is recorded, then its exception propagates.
    """

    def __init__(self, machine, style: str = "dfu-util", host: Optional[UsbHost] = None,
                 step_timeout_s: float = 10.0) -> None:
        self.m = machine
        self.host = host or UsbHost(machine)
        self.client = DfuseClient(self.host, style=style)
        self.style = style
        self.steps: list[Step] = []
        self.device: Optional[DfuDevice] = None
        self.alternate = 0
        self.step_timeout_s = step_timeout_s

    # -- plumbing ------------------------------------------------------------------------------------
    def _run(self, name: str, flow: Flow, detail=lambda result: "", timeout_s: Optional[float] = None) -> Any:
        start = self.host.now()
        try:
            result = self.host.run(flow, timeout_s or self.step_timeout_s)
        except (UsbError, DfuError) as exc:
            self.steps.append(Step(name, False, f"{type(exc).__name__}: {exc}", start, self.host.now()))
            raise
        self.steps.append(Step(name, True, detail(result), start, self.host.now()))
        return result

    def _select(self, address: int) -> Flow:
        """SET_INTERFACE to the alternate setting whose memory holds ``address`` (as dfu-util -a does)."""
        assert self.device is not None, "enumerate() first"
        for alternate, layout in sorted(self.device.memories.items()):
            if layout.segment(address):
                if alternate != self.alternate:
                    yield from self.client.set_alternate(alternate)
                    self.alternate = alternate
                return layout.segment(address)
        raise DfuError(f"0x{address:08X} is in none of the device's DfuSe memories "
                       f"({', '.join(l.name for l in self.device.memories.values())})")

    @property
    def transfer_size(self) -> int:
        return self.client.transfer_size

    # -- steps -------------------------------------------------------------------------------------------
    def enumerate(self) -> DfuDevice:
        def flow():
            info = yield from self.host.enumeration()
            functional = functional_descriptor(info.config_descriptor)
            memories = {}
            for intf in info.interfaces:
                if intf["class"] == 0xFE and intf["string"] in info.strings:
                    memories[intf["alternate"]] = parse_memory_string(info.strings[intf["string"]])
            bcd = struct.unpack_from("<H", info.device_descriptor, 12)[0]
            self.device = DfuDevice(info.vendor_id, info.product_id, bcd, functional, memories, info.strings)
            self.client.transfer_size = functional["wTransferSize"]
            self.alternate = info.interfaces[0]["alternate"] if info.interfaces else 0
            status = yield from self.client.get_status()          # dfu-util: get the device to dfuIDLE
            if status.state == DFU_ERROR:
                yield from self.client.clear_status()
            elif status.state != DFU_IDLE:
                yield from self.client.abort()
            return self.device

        return self._run("enumerate", flow(), lambda d: (
            f"{d.vendor_id:04x}:{d.product_id:04x} bcdDevice {d.bcd_device:#06x}, DFU "
            f"{d.functional['bcdDFUVersion']:#06x}, wTransferSize {d.functional['wTransferSize']}, "
            + "; ".join(f"alt {a} {l.name}" for a, l in sorted(d.memories.items()))))

    def get_commands(self) -> bytes:
        return self._run("get commands", self.client.get_commands(), lambda d: d.hex(" "))

    def upload(self, address: int, length: int) -> bytes:
        def flow():
            yield from self._select(address)
            return (yield from self.client.read_memory(address, length))

        return self._run(f"upload 0x{address:08X}+{length}", flow(), lambda d: f"{len(d)} B read")

    def erase_pages(self, addresses) -> None:
        addresses = list(addresses)

        def flow():
            for address in addresses:
                segment = yield from self._select(address)
                if not segment.erasable:
                    raise DfuError(f"0x{address:08X}: memory is not erasable (DfuSe flags {segment.flags!r})")
                yield from self.client.erase_page(address)

        self._run(f"erase {len(addresses)} page(s)", flow(), lambda _: (
            f"0x{addresses[0]:08X}..0x{addresses[-1]:08X}" if addresses else "nothing"),
            timeout_s=self.step_timeout_s + 0.1 * len(addresses))

    def mass_erase(self) -> None:
        def flow():
            yield from self._select(0x0800_0000)
            yield from self.client.mass_erase()

        self._run("mass erase", flow(), lambda _: "all of main flash")

    def download(self, address: int, data: bytes, erase: bool = True) -> None:
        """dfu-util ``-s address -D file``: erase pass over the touched pages, then write pass."""
        def flow():
            segment = yield from self._select(address)
            if not segment.writable:
                raise DfuError(f"0x{address:08X}: memory is not writable (DfuSe flags {segment.flags!r})")
            if erase:
                if not segment.erasable:
                    raise DfuError(f"0x{address:08X}: memory is not erasable (DfuSe flags {segment.flags!r})")
                first = address - (address - segment.start) % segment.size
                for page in range(first, address + len(data), segment.size):
                    yield from self.client.erase_page(page)
            yield from self.client.write_memory(address, data)

        pages = "" if not erase else " (erase pass + write pass)"
        self._run(f"download 0x{address:08X}+{len(data)}", flow(), lambda _: f"{len(data)} B written{pages}",
                  timeout_s=self.step_timeout_s + len(data) / 1024 * 0.1)

    def verify(self, address: int, data: bytes) -> None:
        def flow():
            yield from self._select(address)
            got = yield from self.client.read_memory(address, len(data))
            if got != data:
                bad = next(i for i in range(min(len(got), len(data))) if got[i] != data[i]) \
                    if len(got) == len(data) else min(len(got), len(data))
                raise DfuVerifyError(f"verify 0x{address:08X}+{len(data)}: first difference at "
                                     f"0x{address + bad:08X} (read {got[bad:bad + 8].hex()}, "
                                     f"wrote {data[bad:bad + 8].hex()})")
            return got

        self._run(f"verify 0x{address:08X}+{len(data)}", flow(), lambda _: f"{len(data)} B match")

    def write_option_bytes(self, block: bytes) -> DfuStatus:
        """Write the option-byte block (AN3156: whole block at the OB start); the device then resets."""
        def flow():
            yield from self._select(0x1FFF_7800)
            yield from self.client.set_address(0x1FFF_7800)
            yield from self.client.dnload(2, block, "option bytes")
            return (yield from self.client.get_status())

        return self._run("write option bytes", flow(), lambda s: s.describe())

    def leave(self, address: int = 0x0800_0000) -> DfuStatus:
        def flow():
            yield from self._select(address)
            return (yield from self.client.leave(address))

        return self._run(f"leave to 0x{address:08X}", flow(), lambda s: s.describe())

    # -- reports -------------------------------------------------------------------------------------------
    def flow_report(self) -> str:
        return "\n".join(step.line() for step in self.steps)

    def format_log(self, last: Optional[int] = None) -> str:
        return self.client.format_log(last)
