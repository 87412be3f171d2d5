"""Triggers: what the simulated world does to make an application enter its bootloader.

One syntax for ``diagnose --trigger SPEC``, scenario and sweep files (``trigger = "..."``)
and the pytest fixture (``c071.diagnose(elf, trigger="...")``):

================================================  ==============================================
``none`` (default)                                nothing: the application jumps by itself
``usb-control:TYPE,REQUEST[,VALUE[,INDEX[,HEX]]]``  enumerate + SET_CONFIGURATION, then this
                                                  control transfer (bundled apps: ``0x40,0x42``)
``dfu-detach``                                    DFU 1.1 runtime: DFU_DETACH with the functional
                                                  descriptor's wDetachTimeOut; a bus reset after
                                                  it when bitWillDetach is clear (as dfu-util)
``cdc:TEXT``                                      CDC ACM: SET_LINE_CODING 115200 8N1,
                                                  SET_CONTROL_LINE_STATE DTR+RTS, TEXT (C
                                                  escapes) on the data interface's bulk OUT
``cdc-1200``                                      the 1200-baud touch: SET_LINE_CODING 1200,
                                                  DTR+RTS on (port opened), then both off (closed)
``usart1:TEXT[@BAUD[,FORMAT]]``, ``usart2:...``   TEXT on that USART's RX line once its receiver
                                                  is enabled (default 115200 8N1)
``pin:PORTPIN=LEVEL@TIME[+DURATION]``             drive a GPIO input from the board (a button),
                                                  released to its pull after DURATION
``call:SYMBOL[@TIME]``                            an injection: at TIME (default: the first
                                                  WFI/WFE, else 100 ms) in thread mode, the core
                                                  calls SYMBOL, the application's jump function
================================================  ==============================================

A trigger's ``deliver(bench)`` runs the machine until the trigger has been delivered;
the caller has already armed the stop at system memory, so a jump during delivery (an
application that jumps on its own, or as soon as the request arrives) ends delivery with
``Jumped``.  A trigger that cannot be delivered raises ``NotDelivered`` naming what was
missing (no USB device, no CDC interface, a STALLed request, a receiver never enabled).

Facts: DFU 1.1 §4.1/§4.2 (runtime interface class 0xFE, subclass 0x01, protocol 0x01;
functional descriptor type 0x21: bmAttributes bit 3 bitWillDetach, wDetachTimeOut),
§5.1 (DFU_DETACH = request 0, bmRequestType 0x21, wValue = timeout, wIndex = interface);
dfu-util resets the device after DFU_DETACH when bitWillDetach is clear.  CDC PSTN 1.2
§6.3.10-11 (SET_LINE_CODING 0x20 with dwDTERate, bCharFormat, bParityType, bDataBits;
SET_CONTROL_LINE_STATE 0x22, wValue bit 0 DTR, bit 1 RTS); CDC 1.2 class codes
(communication interface 0x02/0x02 ACM, data interface 0x0A).
"""
from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field
from typing import Optional

from peripherals import c071

from .arguments import MAX_SECONDS

SYSTEM_MEMORY = (c071.SYSMEM_BASE, c071.SYSMEM_BASE + c071.SYSMEM_SIZE - 1)
ATTACH_WAIT_S = 2.0                  # how long the host waits for a USB device to appear
RECEIVER_WAIT_S = 2.0                # how long a serial peer waits for a USART receiver
CALL_DEFAULT_S = 0.1                 # call: without @TIME and no WFI/WFE before it
POLL_STEP_S = 1e-3                   # the granularity of "wait until the device is ready" checks
REQUEST_TIMEOUT_S = 1.0

SYNTAX = ("none | usb-control:TYPE,REQUEST[,VALUE[,INDEX[,HEXDATA]]] | dfu-detach | cdc:TEXT | cdc-1200 | "
          "usart1:TEXT[@BAUD[,FORMAT]] | usart2:TEXT[@BAUD[,FORMAT]] | pin:PORTPIN=LEVEL@TIME[+DURATION] | "
          "call:SYMBOL[@TIME]")


class TriggerError(ValueError):
    """A trigger spec that does not parse (one line, naming the spec)."""


class NotDelivered(Exception):
    """The simulated world could not deliver the trigger; the message says what was missing."""


class Jumped(Exception):
    """The application entered system memory while the trigger was being delivered."""


class AppEnded(Exception):
    """The application exited or locked up while the trigger was being delivered."""

    def __init__(self, end) -> None:
        super().__init__(end.detail)
        self.end = end


# -- parsing helpers ------------------------------------------------------------------------
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "0": "\0", "\\": "\\", "'": "'", '"': '"', "a": "\a", "b": "\b",
            "f": "\f", "v": "\v", "e": "\x1b"}


def unescape(text: str, spec: str) -> bytes:
    """C escapes (\\n \\r \\t \\0 \\\\ \\xHH ...) to bytes; other characters as UTF-8."""
    out = bytearray()
    i = 0
    while i < len(text):
        ch = text[i]
        if ch != "\\":
            out += ch.encode()
            i += 1
            continue
        if i + 1 >= len(text):
            raise TriggerError(f"trigger {spec!r}: a lone backslash ends the text (write \\\\ for one)")
        nxt = text[i + 1]
        if nxt == "x":
            digits = re.match(r"[0-9A-Fa-f]{1,2}", text[i + 2:])
            if not digits:
                raise TriggerError(f"trigger {spec!r}: \\x needs one or two hex digits")
            out.append(int(digits.group(), 16))
            i += 2 + len(digits.group())
        elif nxt in _ESCAPES:
            out += _ESCAPES[nxt].encode()
            i += 2
        else:
            raise TriggerError(f"trigger {spec!r}: unknown escape \\{nxt} (use \\n \\r \\t \\0 \\\\ \\xHH)")
    return bytes(out)


def parse_time(text: str, spec: str, what: str = "TIME") -> float:
    """``100ms``, ``50us``, ``1.5s`` or ``0.2`` (seconds) to seconds."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(s|ms|us|µs)?\s*", text)
    if not m:
        raise TriggerError(f"trigger {spec!r}: {what} {text!r} is not a time like 100ms, 50us or 0.2s")
    value = float(m.group(1)) * {None: 1.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6}[m.group(2)]
    if not value <= MAX_SECONDS:                  # 1e308s, 1e400 (inf): beyond any run, and the clock's range
        raise TriggerError(f"trigger {spec!r}: {what} {text!r} is beyond {MAX_SECONDS:g} s of simulated time")
    return value


def _int(text: str, spec: str, what: str, limit: int) -> int:
    try:
        value = int(text.strip(), 0)
    except ValueError:
        raise TriggerError(f"trigger {spec!r}: {what} {text.strip()!r} is not a number (e.g. 0x40 or 66)") from None
    if not 0 <= value <= limit:
        raise TriggerError(f"trigger {spec!r}: {what} {value:#x} is out of range 0..{limit:#x}")
    return value


def _seconds(s: float) -> str:
    return f"{s * 1e3:g} ms" if s < 1 else f"{s:g} s"


# -- the simulated world around the chip ----------------------------------------------------------
class UsartMonitor:
    """What a USART put on its TX line (a terminal on the board's header, listening)."""

    def __init__(self, usart) -> None:
        self.usart = usart
        self.sent = bytearray()
        self.watch()

    def watch(self) -> None:
        """Listen, passing each character on to whoever listened before (a host serial port)."""
        previous = self.usart.on_transmit

        def transmitted(value, framing):
            self.sent.append(value & 0xFF)
            previous(value, framing)
        self.usart.on_transmit = transmitted


class Bench:
    """The board around the chip during the jump run: a USB host (created on first use),
    serial monitors on both USARTs, the pins.  Triggers act through it."""

    def __init__(self, m) -> None:
        self.m = m
        self.usb = None
        self.usarts = {"USART1": UsartMonitor(m.usart1), "USART2": UsartMonitor(m.usart2)}
        self.actions: list[str] = []            # what the world did, in order, with simulated times

    def note(self, text: str) -> None:
        self.actions.append(f"{self.m.seconds() * 1e3:.3f} ms: {text}")

    def in_system_memory(self) -> bool:
        return SYSTEM_MEMORY[0] <= self.m.cpu.pc() <= SYSTEM_MEMORY[1]

    def check(self) -> None:
        """After any run: a jump or the application's end stops the delivery."""
        from .core.runloop import EndReason
        if self.in_system_memory():
            raise Jumped()
        end = self.m.loop.end
        if end is not None and end.reason in (EndReason.EXIT, EndReason.LOCKUP):
            raise AppEnded(end)

    def run_for(self, seconds: float) -> None:
        if seconds > 0:
            self.m.run(max_seconds=seconds)
        self.check()

    def run_until(self, condition, limit_s: float) -> bool:
        """Run in POLL_STEP_S steps until ``condition()``; False when ``limit_s`` passed first."""
        deadline = self.m.seconds() + limit_s
        while not condition():
            if self.m.seconds() >= deadline:
                return False
            self.run_for(min(POLL_STEP_S, deadline - self.m.seconds()))
        return True

    def host(self):
        if self.usb is None:
            from .host.usb_host import UsbHost
            self.usb = UsbHost(self.m)
            self.m.usb_host = self.usb              # the DFU flow goes on with the same host
        return self.usb

    def usb_run(self, flow, timeout_s: float, what: str):
        """Run one USB host flow; a failure that is not a jump or the app's end is NotDelivered."""
        from .host.usb_host import UsbDisconnected, UsbError, UsbStall
        host = self.host()
        try:
            result = host.run(flow, timeout_s)
        except UsbError as exc:
            self.check()
            if isinstance(exc, UsbDisconnected):
                raise NotDelivered(f"{what}: no USB device: {exc}") from None
            if isinstance(exc, UsbStall):
                raise NotDelivered(f"{what}: the device STALLed it ({exc})") from None
            raise NotDelivered(f"{what}: {type(exc).__name__}: {exc}") from None
        self.check()
        return result

    def enumerate(self):
        host = self.host()
        if host.info is None:
            self.note("USB host: waiting for a device, then enumerating it")
            self.usb_run(host.enumeration(1, attach_timeout_s=ATTACH_WAIT_S), ATTACH_WAIT_S + 2.0, "enumeration")
            self.note(f"USB host: enumerated {host.info.vendor_id:04x}:{host.info.product_id:04x}")
        return host.info

    def control(self, request_type: int, request: int, value: int = 0, index: int = 0, data: bytes = b"",
                length: int = 0, what: str = ""):
        host = self.host()
        what = what or f"control request {request_type:#04x}/{request:#04x}"
        self.note(f"USB host: {what} (wValue {value:#06x}, wIndex {index}, {len(data) or length} B)")
        return self.usb_run(host.control(host.info.address, request_type, request, value, index, data, length,
                                         REQUEST_TIMEOUT_S), REQUEST_TIMEOUT_S + 0.1, what)


# -- configuration descriptors ------------------------------------------------------------------
@dataclass
class UsbInterface:
    number: int
    alternate: int
    klass: int
    subclass: int
    protocol: int
    endpoints: list[tuple[int, int, int]] = field(default_factory=list)      # (address, attributes, max packet)
    functional: list[bytes] = field(default_factory=list)                    # class-specific descriptors

    def kind(self) -> str:
        triple = (self.klass, self.subclass, self.protocol)
        if triple == (0xFE, 0x01, 0x01):
            return "DFU runtime"
        if triple == (0xFE, 0x01, 0x02):
            return "DFU mode"
        if self.klass == 0x02 and self.subclass == 0x02:
            return "CDC ACM"
        if self.klass == 0x0A:
            return "CDC data"
        if self.klass == 0xFF:
            return "vendor-specific"
        return f"class {self.klass:#04x}/{self.subclass:#04x}/{self.protocol:#04x}"

    def describe(self) -> str:
        eps = ", ".join(f"EP {a:#04x} {('control', 'iso', 'bulk', 'interrupt')[t & 3]}"
                        for a, t, _ in self.endpoints)
        return f"interface {self.number} {self.kind()}" + (f" ({eps})" if eps else "")


def interfaces_of(config: bytes) -> list[UsbInterface]:
    """Every interface of a configuration descriptor set, with its endpoints and the
    class-specific descriptors that follow it (USB 2.0 §9.6.3-9.6.6)."""
    out: list[UsbInterface] = []
    offset = 0
    while offset + 2 <= len(config):
        length, kind = config[offset], config[offset + 1]
        if length < 2:
            break
        body = config[offset:offset + length]
        if kind == 4 and length >= 9:
            out.append(UsbInterface(body[2], body[3], body[5], body[6], body[7]))
        elif kind == 5 and length >= 7 and out:
            out[-1].endpoints.append((body[2], body[3], struct.unpack_from("<H", body, 4)[0]))
        elif out and kind not in (2, 4, 5, 11):
            out[-1].functional.append(bytes(body))
        offset += length
    return out


def describe_device(info) -> str:
    intfs = interfaces_of(info.config_descriptor)
    names = [info.strings.get(i) for i in (info.device_descriptor[14], info.device_descriptor[15])]
    label = " ".join(n for n in names if n)
    head = f"USB device {info.vendor_id:04x}:{info.product_id:04x}" + (f" {label!r}" if label else "")
    return head + ": " + ("; ".join(i.describe() for i in intfs) if intfs else "no interfaces")


# -- the triggers ---------------------------------------------------------------------------------
@dataclass
class Trigger:
    spec: str
    injection = False

    def describe(self) -> str:
        return self.spec

    def validate(self, app) -> None:
        """Refuse, before any run, what the application image cannot satisfy."""

    def prepare(self, bench: Bench) -> None:
        """Set up what must exist before the machine runs (a serial peer)."""

    def deliver(self, bench: Bench) -> None:
        """Run the machine until the trigger has been delivered."""

    def uses_usb(self) -> bool:
        return False


@dataclass
class NoTrigger(Trigger):
    def describe(self) -> str:
        return "none (the application enters the bootloader by itself)"


@dataclass
class UsbControl(Trigger):
    request_type: int = 0x40
    request: int = 0x42
    value: int = 0
    index: int = 0
    data: bytes = b""

    def uses_usb(self) -> bool:
        return True

    def describe(self) -> str:
        return (f"USB control request bmRequestType {self.request_type:#04x}, bRequest {self.request:#04x}, "
                f"wValue {self.value:#06x}, wIndex {self.index}" + (f", data {self.data.hex()}" if self.data else ""))

    def deliver(self, bench: Bench) -> None:
        bench.enumerate()
        length = 64 if self.request_type & 0x80 else 0
        bench.control(self.request_type, self.request, self.value, self.index,
                      b"" if self.request_type & 0x80 else self.data, length)


@dataclass
class DfuDetach(Trigger):
    def uses_usb(self) -> bool:
        return True

    def describe(self) -> str:
        return "DFU 1.1 DFU_DETACH to the DFU runtime interface"

    def deliver(self, bench: Bench) -> None:
        info = bench.enumerate()
        intfs = interfaces_of(info.config_descriptor)
        runtime = next((i for i in intfs if i.kind() == "DFU runtime"), None)
        if runtime is None:
            mode = " - it is in DFU mode (protocol 0x02) already: a bootloader" if any(
                i.kind() == "DFU mode" for i in intfs) else ""
            raise NotDelivered("dfu-detach: the device has no DFU runtime interface (class 0xFE, subclass 0x01, "
                               f"protocol 0x01){mode}; {describe_device(info)}")
        functional = next((d for d in runtime.functional if d[1] == 0x21 and len(d) >= 5), None)
        if functional is None:
            raise NotDelivered(f"dfu-detach: interface {runtime.number} has no DFU functional descriptor (type 0x21)")
        attributes = functional[2]
        timeout_ms = struct.unpack_from("<H", functional, 3)[0]
        bench.control(0x21, 0x00, timeout_ms, runtime.number, what=f"DFU_DETACH (wDetachTimeOut {timeout_ms} ms)")
        if not attributes & 0x08:               # bitWillDetach clear: the host resets the bus
            from .host.usb_host import Reset

            def reset():
                yield Reset()
            bench.note("USB host: bus reset (bitWillDetach is clear)")
            bench.usb_run(reset(), 0.1, "bus reset after DFU_DETACH")


@dataclass
class CdcText(Trigger):
    text: bytes = b""
    touch_1200: bool = False

    def uses_usb(self) -> bool:
        return True

    def describe(self) -> str:
        if self.touch_1200:
            return "CDC ACM 1200-baud touch (SET_LINE_CODING 1200, DTR on, then off)"
        return f"CDC ACM: open at 115200 8N1 with DTR+RTS, send {self.text!r}"

    def deliver(self, bench: Bench) -> None:
        info = bench.enumerate()
        intfs = interfaces_of(info.config_descriptor)
        comm = next((i for i in intfs if i.kind() == "CDC ACM"), None)
        data = next((i for i in intfs if i.kind() == "CDC data"), None)
        if comm is None:
            raise NotDelivered(f"{self.spec}: the device has no CDC ACM interface (class 0x02, subclass 0x02); "
                               f"{describe_device(info)}")
        baud = 1200 if self.touch_1200 else 115200
        coding = struct.pack("<IBBB", baud, 0, 0, 8)          # 1 stop bit, no parity, 8 data bits
        bench.control(0x21, 0x20, 0, comm.number, coding, what=f"SET_LINE_CODING {baud} 8N1")
        bench.control(0x21, 0x22, 0x0003, comm.number, what="SET_CONTROL_LINE_STATE DTR+RTS")
        if self.touch_1200:
            bench.control(0x21, 0x22, 0x0000, comm.number, what="SET_CONTROL_LINE_STATE DTR off (port closed)")
            return
        bulk_out = next((a for a, t, _ in (data.endpoints if data else []) if t & 3 == 2 and not a & 0x80), None)
        if bulk_out is None:
            raise NotDelivered(f"{self.spec}: the device has no CDC data interface with a bulk OUT endpoint; "
                               f"{describe_device(info)}")
        host = bench.host()
        bench.note(f"USB host: {len(self.text)} B on bulk OUT endpoint {bulk_out:#04x}")
        bench.usb_run(host.bulk_out(info.address, bulk_out & 0x0F, self.text, REQUEST_TIMEOUT_S),
                      REQUEST_TIMEOUT_S + 0.1, f"CDC data on endpoint {bulk_out:#04x}")


@dataclass
class UsartText(Trigger):
    usart: str = "USART1"
    text: bytes = b""
    baud: int = 115200
    data_bits: int = 8
    parity: str = "N"
    stop_bits: float = 1.0

    def describe(self) -> str:
        return f"{self.text!r} on {self.usart} RX at {self.baud} {self.data_bits}{self.parity}{self.stop_bits:g}"

    def prepare(self, bench: Bench) -> None:
        from .host.serial_port import SerialPort
        self.port = SerialPort(bench.m, self.usart, self.baud, self.data_bits, self.parity, self.stop_bits)
        bench.usarts[self.usart].watch()       # the monitor keeps listening after the port took the line

    def deliver(self, bench: Bench) -> None:
        from peripherals.usart import RE, UE
        usart = getattr(bench.m, self.usart.lower())
        ready = bench.run_until(lambda: usart.reg["CR1"].value & (UE | RE) == UE | RE, RECEIVER_WAIT_S)
        if not ready:
            raise NotDelivered(f"{self.spec}: {self.usart}'s receiver was never enabled (CR1.UE and CR1.RE) within "
                               f"{_seconds(RECEIVER_WAIT_S)}: the application does not listen on {self.usart}")
        bench.note(f"{self.usart} peer: sending {self.text!r}")
        self.port.send(self.text)
        limit = len(self.text) * self.port.framing.char_seconds + 0.01
        if not bench.run_until(lambda: not self.port.sending, limit):
            raise NotDelivered(f"{self.spec}: the text did not go out within {_seconds(limit)}")


@dataclass
class PinDrive(Trigger):
    pin: str = "PC13"
    level: int = 0
    at_s: float = 0.0
    duration_s: Optional[float] = None

    def describe(self) -> str:
        held = f" for {_seconds(self.duration_s)}" if self.duration_s is not None else ""
        return f"{self.pin} driven to {self.level} at {_seconds(self.at_s)}{held}"

    def deliver(self, bench: Bench) -> None:
        m = bench.m
        bench.run_for(self.at_s - m.seconds())
        m.drive_pin(self.pin, self.level)
        bench.note(f"board: {self.pin} driven to {self.level}")
        if self.duration_s is not None:
            def release():
                m.drive_pin(self.pin, None)
                bench.note(f"board: {self.pin} released")
            m.host_after(self.duration_s, release, f"board {self.pin} release")


@dataclass
class CallFunction(Trigger):
    symbol: str = "jump_to_bootloader"
    at_s: Optional[float] = None
    injection = True
    address: int = 0
    called_at: str = ""

    def describe(self) -> str:
        when = _seconds(self.at_s) if self.at_s is not None else "the first WFI/WFE (else 100 ms)"
        return f"INJECTED call of {self.symbol}() at {when}, in thread mode"

    def validate(self, app) -> None:
        if self.symbol not in app.symbols:
            funcs = sorted(n for n in app.symbols if re.search(r"boot|jump|dfu", n, re.I))
            hint = f"; candidates: {', '.join(funcs)}" if funcs else ""
            raise TriggerError(f"trigger {self.spec!r}: {app.path} has no symbol {self.symbol!r}{hint}")
        self.address = app.symbols[self.symbol] & ~1

    def deliver(self, bench: Bench) -> None:
        m = bench.m
        if not self.address:
            try:
                self.address = m.symbol(self.symbol)
            except KeyError:
                raise NotDelivered(f"{self.spec}: no symbol {self.symbol!r} in the loaded images") from None
        if self.at_s is not None:
            bench.run_for(self.at_s - m.seconds())
        else:
            bench.run_until(lambda: m.loop.sleeping, CALL_DEFAULT_S - m.seconds())
        if not bench.run_until(lambda: m.cpu.ipsr() == 0, REQUEST_TIMEOUT_S):
            raise NotDelivered(f"{self.spec}: the core stayed in handler mode (IPSR {m.cpu.ipsr()}) for "
                               f"{_seconds(REQUEST_TIMEOUT_S)}; a thread-mode call could not be injected")
        pc = m.cpu.pc()
        self.called_at = f"0x{pc:08X}" + (f" ({m.describe(pc)})" if m.describe(pc) else "") + \
            (" asleep" if m.loop.sleeping else "")
        m.loop.sleeping = False
        m.cpu.write("lr", pc | 1)
        m.cpu.write("pc", self.address)
        m.loop.polls.forget()
        bench.note(f"injection: the core calls {self.symbol} (0x{self.address:08X}) from {self.called_at}")
        m.event("trigger", f"injected call of {self.symbol} from {self.called_at}")


# -- the parser ------------------------------------------------------------------------------------
_BAUD_FORMAT = re.compile(r"([0-9]+)(?:,([5-9])([NEOneo])(1|1\.5|2))?")


def parse_trigger(spec: str) -> Trigger:
    """A trigger from its spec; a malformed spec raises ``TriggerError`` (one line)."""
    if not isinstance(spec, str):
        raise TriggerError(f"trigger {spec!r}: give a string, one of: {SYNTAX}")
    spec = spec.strip()
    kind, sep, rest = spec.partition(":")
    kind = kind.strip().lower()
    if kind in ("none", "dfu-detach", "cdc-1200") and sep:
        raise TriggerError(f"trigger {spec!r}: {kind} takes no argument")
    if kind == "none":
        return NoTrigger(spec)
    if kind == "dfu-detach":
        return DfuDetach(spec)
    if kind == "cdc-1200":
        return CdcText(spec, touch_1200=True)
    if not sep and kind in ("usb-control", "cdc", "usart1", "usart2", "pin", "call"):
        raise TriggerError(f"trigger {spec!r}: {kind} needs an argument after ':' ({_syntax_of(kind)})")
    if kind == "usb-control":
        parts = rest.split(",")
        if not 2 <= len(parts) <= 5:
            raise TriggerError(f"trigger {spec!r}: usb-control takes TYPE,REQUEST[,VALUE[,INDEX[,HEXDATA]]]")
        rtype = _int(parts[0], spec, "TYPE", 0xFF)
        request = _int(parts[1], spec, "REQUEST", 0xFF)
        value = _int(parts[2], spec, "VALUE", 0xFFFF) if len(parts) > 2 else 0
        index = _int(parts[3], spec, "INDEX", 0xFFFF) if len(parts) > 3 else 0
        data = b""
        if len(parts) > 4:
            hexdata = parts[4].strip().removeprefix("0x")
            try:
                data = bytes.fromhex(hexdata)
            except ValueError:
                raise TriggerError(f"trigger {spec!r}: HEXDATA {parts[4]!r} is not hex bytes (e.g. 01ff)") from None
            if rtype & 0x80:
                raise TriggerError(f"trigger {spec!r}: TYPE {rtype:#04x} is device-to-host; HEXDATA is for OUT "
                                   "requests")
        return UsbControl(spec, rtype, request, value, index, data)
    if kind == "cdc":
        text = unescape(rest, spec)
        if not text:
            raise TriggerError(f"trigger {spec!r}: cdc needs TEXT to send")
        return CdcText(spec, text)
    if kind in ("usart1", "usart2"):
        text_part, baud, fmt = rest, 115200, None
        head, at, tail = rest.rpartition("@")
        if at:
            m = _BAUD_FORMAT.fullmatch(tail.strip())
            if not m:
                raise TriggerError(f"trigger {spec!r}: after '@' give BAUD[,FORMAT] like 115200 or 9600,8E1 "
                                   "(write \\x40 for an '@' in the text)")
            text_part, baud, fmt = head, int(m.group(1)), m.groups()[1:]
            if not 300 <= baud <= 6_000_000:
                raise TriggerError(f"trigger {spec!r}: BAUD {baud} is outside 300..6000000")
        text = unescape(text_part, spec)
        if not text:
            raise TriggerError(f"trigger {spec!r}: {kind} needs TEXT to send")
        t = UsartText(spec, kind.upper(), text, baud)
        if fmt and fmt[0]:
            t.data_bits, t.parity, t.stop_bits = int(fmt[0]), fmt[1].upper(), float(fmt[2])
            if t.data_bits not in (7, 8, 9):
                raise TriggerError(f"trigger {spec!r}: the USART takes 7, 8 or 9 data bits, not {t.data_bits}")
        return t
    if kind == "pin":
        m = re.fullmatch(r"\s*(P[A-Fa-f][0-9]{1,2})\s*=\s*([01])\s*@\s*([^+]+?)\s*(?:\+\s*(.+?))?\s*", rest,
                         re.I)
        if not m:
            raise TriggerError(f"trigger {spec!r}: pin takes PORTPIN=LEVEL@TIME[+DURATION], e.g. pin:PC13=0@100ms+50ms")
        pin = m.group(1).upper()
        if pin[1] not in "ABCDF" or int(pin[2:]) > 15:
            raise TriggerError(f"trigger {spec!r}: {pin} is not a pin of the STM32C071 (ports A-D and F, pins 0-15)")
        return PinDrive(spec, pin, int(m.group(2)), parse_time(m.group(3), spec),
                        parse_time(m.group(4), spec, "DURATION") if m.group(4) else None)
    if kind == "call":
        symbol, at, when = rest.partition("@")
        symbol = symbol.strip()
        if not re.fullmatch(r"[A-Za-z_.$][\w.$]*", symbol):
            raise TriggerError(f"trigger {spec!r}: {symbol!r} is not a symbol name")
        return CallFunction(spec, symbol, parse_time(when, spec) if at else None)
    raise TriggerError(f"trigger {spec!r}: unknown kind {kind!r}; triggers are: {SYNTAX}")


def _syntax_of(kind: str) -> str:
    return next(s.strip() for s in SYNTAX.split("|") if s.strip().startswith(kind))


def as_trigger(trigger) -> Trigger:
    """A spec string or a Trigger (``None`` is ``none``)."""
    if trigger is None:
        return NoTrigger("none")
    if isinstance(trigger, Trigger):
        return trigger
    return parse_trigger(trigger)


# -- what an application that did not jump was doing, and what to try -------------------------------
STANDARD_BAUDS = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600, 1000000, 2000000)


def standard_baud(baud: float) -> int:
    """The usual rate a BRR value approximates (within 3 %), else the rate itself."""
    nearest = min(STANDARD_BAUDS, key=lambda b: abs(b - baud))
    return nearest if abs(nearest - baud) <= 0.03 * nearest else round(baud)

def suggestions(usb_interfaces: list[UsbInterface], usarts: dict[str, dict], symbols: dict[str, int],
                polled: list[str], pulled_inputs: list[tuple[str, str]] = ()) -> list[str]:
    """The ``--trigger`` values that match what the application presented."""
    out = []
    kinds = {i.kind() for i in usb_interfaces}
    if "DFU runtime" in kinds:
        out.append("dfu-detach")
    if "CDC ACM" in kinds:
        out += ["cdc:TEXT (e.g. 'cdc:DFU\\n')", "cdc-1200"]
    if "vendor-specific" in kinds:
        out.append("usb-control:TYPE,REQUEST (e.g. usb-control:0x40,0x42)")
    for name, u in usarts.items():
        if u.get("receiving"):
            example = f"{name.lower()}:DFU\\n@{standard_baud(u['baud'])}"
            out.append(f"{name.lower()}:TEXT[@BAUD[,FORMAT]] (e.g. '{example}')")
    for pin, pull in pulled_inputs:
        out.append(f"pin:{pin}={0 if pull == 'up' else 1}@100ms+50ms ({pin} is an input with a pull-{pull}: "
                   "a button?)")
    for reg in polled:
        if reg.startswith("GPIO") and reg.endswith(".IDR") and not any(p[0][1] == reg[4] for p in pulled_inputs):
            out.append(f"pin:P{reg[4]}N=LEVEL@TIME (the application polls {reg})")
    for name in sorted(n for n in symbols if re.search(r"jump|bootloader|dfu", n, re.I) and not n.startswith("_")):
        if re.search(r"^(jump|enter|goto|go_to|start)_?.*(boot|dfu)|boot.*jump", name, re.I):
            out.append(f"call:{name} (an injection: calls the application's own jump function)")
    return out
