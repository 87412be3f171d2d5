"""A simulated USB full-speed host on the machine's clock (DESIGN: "host devices are
agents on the same clock").

The host talks to the device model (``machine.usb``) only through its transaction
verbs (``setup``/``out``/``in_``/``sof``/``bus_reset``/``attached``).  A host *flow*
is a generator that yields transaction requests (``Setup``, ``Out``, ``In``,
``Wait``, ``Reset``) and receives each result, so a flow reads like straight-line
host code and replays deterministically.  Every packet costs its full-speed time on the
wire (12 Mbit/s, token + data + handshake + gaps, with a bit-stuffing allowance): SETUP
and OUT reach the device at the end of their transaction, IN at the end of its token,
and the flow goes on when the device's answer and the host's handshake are over, so
bulk throughput stays under the full-speed ceiling (19 x 64 bytes per frame, 1.216 MB/s).
Interrupt endpoints are polled once per bInterval frames; isochronous transfers
(``iso_out``/``iso_in``) put one packet in each frame, right after its SOF, with no
handshake and no retry.  SOF is sent every 1 ms while the bus is active; ``suspend``
stops it (the device suspends after 3 ms), ``resume`` drives 20 ms of resume signalling,
and remote wake-up signalling from the device (CNTR.L2RES) makes the host resume by itself.

``UsbHost.run(flow)`` runs the machine until the flow finishes or a simulated time
limit passes; the convenience methods (``enumerate``, ``control_transfer``,
``bulk_write``, ``bulk_read``) each run one flow.

Timing facts (USB 2.0): attach debounce 100 ms (§7.1.7.3 TATTDB), reset signalling
10 ms (§7.1.7.5 TDRST) and 10 ms recovery (TRSTRCY), 2 ms after SET_ADDRESS
(§9.2.6.3), frame = 1 ms (§8.4.3), three strikes before a transaction error (§8.5.1
/ common host-controller practice), resume 20 ms and 10 ms recovery (§7.1.7.7).
"""
from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from typing import Any, Generator, Optional

from emulator.core.clock import PS_PER_S, delay_ps
from emulator.core.runloop import EndReason, RunEnd
from emulator.trace import HeadTailLog

FS_BIT_S = 1 / 12e6
ATTACH_DEBOUNCE_S = 100e-3
RESET_S = 10e-3
RESET_RECOVERY_S = 10e-3
SET_ADDRESS_RECOVERY_S = 2e-3
FRAME_S = 1e-3
STRIKES = 3
# A NAKed token is retried at once up to FAST_NAK_RETRIES times, then once per frame.
# Host controllers keep retrying within the frame; pacing the retries changes only when
# (within one frame) the device sees the next attempt, and keeps a device that NAKs for
# seconds from costing a simulated event every few microseconds.
FAST_NAK_RETRIES = 16
ACK, NAK, STALL, TIMEOUT = "ACK", "NAK", "STALL", "TIMEOUT"
ISO = "ISO"                # an isochronous transaction: no handshake phase (USB 2.0 §5.6.4)
SOF_PACKET_S = 35 / 12e6   # the SOF token on the wire: a frame's transactions follow it
RESUME_S = 20e-3           # downstream resume signalling (USB 2.0 §7.1.7.7 TDRSMDN)
RESUME_RECOVERY_S = 10e-3  # TRSMRCY: the host leaves the device alone after a resume
REMOTE_WAKEUP_RESPONSE_S = 1e-3   # the host takes over the K state within 1 ms (TURSM)


# Bit counts of full-speed packets (USB 2.0 §8.3-8.4): SYNC 8 + PID 8 + ... + EOP 3.
TOKEN_BITS = 35                 # SYNC, PID, ADDR 7, ENDP 4, CRC5, EOP
HANDSHAKE_BITS = 19             # SYNC, PID, EOP
GAP_BITS = 8                    # inter-packet delay (§7.1.18.1: 2 to 6.5 bit times) rounded up
TURNAROUND_BITS = 18            # no answer: the host's bus turnaround timeout (§7.1.19.1)


def data_packet_bits(payload: int) -> float:
    """SYNC, PID, payload, CRC16, EOP, with the worst-case bit-stuffing allowance (one stuffed bit
    per six, §7.1.9)."""
    return (payload + 6) * 8 * 7 / 6


def wire_time(payload: int) -> float:
    """Seconds on a full-speed bus for one whole transaction carrying ``payload`` bytes:
    token, data packet, handshake and the gaps between them."""
    return (TOKEN_BITS + data_packet_bits(payload) + HANDSHAKE_BITS + 2 * GAP_BITS) * FS_BIT_S


def answer_time(handshake: str, payload: int) -> float:
    """Seconds from the end of an IN token to the end of the transaction: the device's data packet
    and the host's ACK, or the device's NAK/STALL, or the turnaround timeout when nothing answers."""
    if handshake == ACK:
        bits = GAP_BITS + data_packet_bits(payload) + GAP_BITS + HANDSHAKE_BITS
    elif handshake in (NAK, STALL):
        bits = GAP_BITS + HANDSHAKE_BITS
    elif handshake == ISO:
        bits = GAP_BITS + data_packet_bits(payload)
    else:
        bits = TURNAROUND_BITS
    return bits * FS_BIT_S


IN_TOKEN_S = TOKEN_BITS * FS_BIT_S


# -- errors ---------------------------------------------------------------------
class UsbError(Exception):
    """A host-side USB failure."""


class UsbTimeout(UsbError):
    """The device kept NAKing (or the machine did not get there) within the time limit."""


class UsbStall(UsbError):
    """The device answered STALL."""


class UsbProtocolError(UsbError):
    """The device broke the protocol: no handshake, a malformed descriptor, a bad length."""


class UsbOverflow(UsbProtocolError):
    """The device sent more data than the transfer asked for (libusb: LIBUSB_ERROR_OVERFLOW)."""


class UsbDisconnected(UsbError):
    """The device is not on the bus (no D+ pull-up, no clock)."""


# -- requests a flow yields ---------------------------------------------------------
@dataclass
class Setup:
    address: int
    data: bytes
    endpoint: int = 0


@dataclass
class NakRetry:
    """How the flow that yielded a transaction retries it after a NAK (``out_packet``,
    ``in_packet``): the host then retries it unchanged by itself (``UsbHost._retry_nak``)
    and resumes the flow only on another answer or past the deadline."""
    retries: "Retries"
    deadline: float


@dataclass
class Out:
    address: int
    endpoint: int
    data: bytes
    pid: int
    nak_retry: Optional[NakRetry] = None


@dataclass
class In:
    address: int
    endpoint: int
    expect_pid: int
    nak_retry: Optional[NakRetry] = None


@dataclass
class Wait:
    seconds: float


@dataclass
class Reset:
    """Drive a bus reset (SE0 for 10 ms) and start sending SOFs."""


@dataclass
class Transaction:
    time_s: float
    token: str                # SETUP | OUT | IN | RESET | ATTACH | DETACH
    address: int = 0
    endpoint: int = 0
    data: bytes = b""
    pid: Optional[int] = None
    handshake: str = ""
    note: str = ""

    def line(self) -> str:
        pid = "" if self.pid is None else f"DATA{self.pid}"
        data = self.data[:16].hex(" ") + (" …" if len(self.data) > 16 else "")
        return (f"{self.time_s * 1e3:12.6f} ms  {self.token:<5} addr {self.address:>3} ep {self.endpoint:>2}  "
                f"{pid:<5} {len(self.data):>4} B  {self.handshake:<7} {data}{'  ' + self.note if self.note else ''}")


@dataclass
class Retries:
    """How often one transaction has been tried: NAKs (paced, bounded by the deadline) and
    strikes (no handshake, three before a transaction error)."""
    naks: int = 0
    strikes: int = 0


@dataclass
class DeviceInfo:
    address: int
    device_descriptor: bytes
    config_descriptor: bytes
    strings: dict[int, str]
    interfaces: list[dict[str, Any]] = field(default_factory=list)

    @property
    def vendor_id(self) -> int:
        return struct.unpack_from("<H", self.device_descriptor, 8)[0]

    @property
    def product_id(self) -> int:
        return struct.unpack_from("<H", self.device_descriptor, 10)[0]

    @property
    def max_packet_size0(self) -> int:
        return self.device_descriptor[7]

    def describe(self) -> str:
        d = self.device_descriptor
        lines = [f"device {self.vendor_id:04x}:{self.product_id:04x} at address {self.address}, "
                 f"USB {d[3]:x}.{d[2]:02x}, class {d[4]:#04x}, EP0 {d[7]} bytes, "
                 f"{d[17]} configuration(s)"]
        for index, text in sorted(self.strings.items()):
            lines.append(f"  string {index}: {text!r}")
        for intf in self.interfaces:
            lines.append(f"  interface {intf['number']} alt {intf['alternate']} class {intf['class']:#04x}")
            for ep in intf["endpoints"]:
                lines.append(f"    endpoint {ep['address']:#04x} {ep['type']} max {ep['max_packet']}")
        return "\n".join(lines)


Flow = Generator[Any, Any, Any]
_TYPES = {0: "control", 1: "isochronous", 2: "bulk", 3: "interrupt"}


LOG_HEAD = LOG_TAIL = 10_000
# the names of the scheduler events that carry a flow's steps (one pending per running flow)
FLOW_STEP_EVENTS = ("USB host flow start", "USB host wait", "USB host SETUP", "USB host OUT", "USB host IN",
                    "USB host IN data", "USB host bus reset")


class UsbHost:
    def __init__(self, machine, log_sof: bool = False) -> None:
        self.m = machine
        self.device = machine.usb
        # bounded: the first and last transactions of a long session (log.dropped says how many went)
        self.log: HeadTailLog[Transaction] = HeadTailLog(LOG_HEAD, LOG_TAIL)
        self.log_sof = log_sof
        self.frame = 0
        self.sofs = 0
        self.last_sof_s: Optional[float] = None
        self.suspended = False
        self.remote_wakeups = 0
        self._sof_event = None
        self._connected = False
        self.toggles: dict[tuple[int, int, str], int] = {}
        self.max_packet: dict[tuple[int, int], int] = {}
        # interrupt endpoints: (address, endpoint address) -> seconds between polls (bInterval)
        self.poll_period: dict[tuple[int, int], float] = {}
        self._next_poll: dict[tuple[int, int], float] = {}
        self.info: Optional[DeviceInfo] = None
        self._flow: Optional[Flow] = None
        self._pending_step = None                   # the scheduled event of the flow's next step
        self._done = False
        self._result: Any = None
        self._error: Optional[BaseException] = None
        self.device.on_remote_wakeup = self._remote_wakeup

    # -- time ----------------------------------------------------------------------
    def now(self) -> float:
        return self.m.clock.seconds()

    def _after(self, seconds: float, action, name: str):
        return self.m.host_after(seconds, action, name)

    # -- running a flow -----------------------------------------------------------------
    def run(self, flow: Flow, timeout_s: float = 5.0) -> Any:
        """Run the machine until ``flow`` returns; its value is returned, its error raised.
        An infinite ``timeout_s`` runs until the flow ends or the machine stops."""
        self._flow, self._done, self._result, self._error = flow, False, None, None
        self._flow_step(0, lambda: self._advance(None), "USB host flow start")
        end: RunEnd = self.m.run(max_seconds=None if math.isinf(timeout_s) else timeout_s)
        if self._error is not None:
            raise self._error
        if not self._done:
            self._flow = None
            if self._pending_step is not None:
                self._pending_step.cancel()
            raise UsbTimeout(f"USB host: the flow did not finish within {timeout_s} s of simulated time "
                             f"(machine stopped: {end.reason.value}: {end.detail})")
        return self._result

    def _flow_step(self, seconds: float, action, name: str) -> None:
        """Schedule the running flow's next step.  A flow has one step pending at a time; a flow
        cut short by a stop (an application that jumps while a trigger is being delivered) has it
        cancelled by ``run``, as a real host abandons the transfer, so it never drives the next
        flow on this host.  The check on the flow covers a step already due in this slice."""
        flow = self._flow
        self._pending_step = self._after(seconds, lambda: action() if self._flow is flow else None, name)

    def _advance(self, value: Any) -> None:
        flow = self._flow
        if flow is None:
            return
        try:
            request = flow.send(value)
        except StopIteration as stop:
            self._finish(result=stop.value)
            return
        except UsbError as exc:
            self._finish(error=exc)
            return
        self._schedule(request)

    def _finish(self, result: Any = None, error: Optional[BaseException] = None) -> None:
        self._flow, self._done, self._result, self._error = None, error is None, result, error
        self.m.loop.end = RunEnd(EndReason.STOP_AT, "USB host flow finished", pc=self.m.cpu.pc())

    def _schedule(self, request: Any) -> None:
        if isinstance(request, Wait):
            self._flow_step(request.seconds, lambda: self._advance(None), "USB host wait")
        elif isinstance(request, Reset):
            self._stop_sof()
            self.device.bus_reset()
            self.log.append(Transaction(self.now(), "RESET", note="SE0 10 ms"))
            self._flow_step(RESET_S, self._end_reset, "USB host bus reset")
        elif isinstance(request, Setup):
            self._flow_step(wire_time(len(request.data)), lambda: self._do(request), "USB host SETUP")
        elif isinstance(request, Out):
            self._flow_step(wire_time(len(request.data)), lambda: self._do(request), "USB host OUT")
        elif isinstance(request, In):
            self._flow_step(IN_TOKEN_S, lambda: self._do(request), "USB host IN")
        else:
            self._finish(error=TypeError(f"USB host flow yielded {request!r}"))

    def _end_reset(self) -> None:
        self._start_sof()
        self._advance(None)

    def _do(self, request: Any) -> None:
        d = self.device
        if isinstance(request, Setup):
            hs = d.setup(request.endpoint, request.data, address=request.address)
            self.log.append(Transaction(self.now(), "SETUP", request.address, request.endpoint, request.data, 0, hs))
            self._advance(hs)
        elif isinstance(request, Out):
            hs = d.out(request.endpoint, request.data, toggle=request.pid, address=request.address)
            self.log.append(Transaction(self.now(), "OUT", request.address, request.endpoint, request.data,
                                        request.pid, hs))
            if hs == NAK and request.nak_retry and self._retry_nak(request, 0.0, wire_time(len(request.data)),
                                                                   "USB host OUT"):
                return
            self._advance(hs)
        else:
            hs, data, pid = d.in_(request.endpoint, address=request.address)
            note = ""
            if hs == ACK and pid != request.expect_pid:
                note = f"data toggle mismatch (expected DATA{request.expect_pid}): data ignored"
            self.log.append(Transaction(self.now(), "IN", request.address, request.endpoint, data,
                                        pid if hs in (ACK, ISO) else None, hs, note))
            if hs == NAK and request.nak_retry and self._retry_nak(request, answer_time(hs, 0), IN_TOKEN_S,
                                                                   "USB host IN"):
                return
            # the data packet and the host's handshake still occupy the bus
            self._flow_step(answer_time(hs, len(data)), lambda: self._advance((hs, data, pid)), "USB host IN data")

    def _retry_nak(self, request: In | Out, answer_s: float, wire_s: float, name: str) -> bool:
        """Retry a NAKed transaction without resuming its flow, which would do no more than
        count the NAK, check its deadline, wait for the next frame (after FAST_NAK_RETRIES)
        and yield the same request again: one event per retry instead of three.  Each delay
        is rounded to the core's cycle grid, as the flow's own steps are (``_flow_step``), so
        the retry lands on the same cycle - unless HCLK changes within the millisecond the
        host waits, when it may land one cycle off.  False when the deadline has passed: the
        flow then raises its timeout as always."""
        retry = request.nak_retry
        at_ps = self.m.clock.time_ps(self.m.loop.instruction_cycle())
        if answer_s:
            at_ps = self._grid_step(at_ps, answer_s)          # where the flow would resume
        if at_ps / PS_PER_S > retry.deadline:
            return False
        retry.retries.naks += 1
        if retry.retries.naks > FAST_NAK_RETRIES:
            at_ps = self._grid_step(at_ps, FRAME_S)
        flow = self._flow
        self._pending_step = self.m.host_at_ps(at_ps + delay_ps(wire_s),
                                               lambda: self._do(request) if self._flow is flow else None, name)
        return True

    def _grid_step(self, from_ps: int, seconds: float) -> int:
        """The time of the first cycle ``seconds`` after ``from_ps`` (where ``_after`` lands)."""
        clock = self.m.clock
        return clock.time_ps(clock.cycle_at(from_ps + delay_ps(seconds)))

    # -- SOF ------------------------------------------------------------------------------
    def _start_sof(self) -> None:
        if self._sof_event is None:
            self._sof_event = self._after(FRAME_S, self._sof, "USB host SOF")

    def _stop_sof(self) -> None:
        if self._sof_event is not None:
            self._sof_event.cancel()
            self._sof_event = None

    def _sof(self) -> None:
        self._sof_event = None
        if not self.device.attached():
            if self._connected:
                self._connected = False
                self.log.append(Transaction(self.now(), "DETACH", note="device left the bus: SOF stopped"))
            return
        self.frame = (self.frame + 1) & 0x7FF
        self.sofs += 1
        self.last_sof_s = self.now()
        self.device.sof(self.frame)
        if self.log_sof:
            self.log.append(Transaction(self.now(), "SOF", note=f"frame {self.frame}"))
        self._sof_event = self._after(FRAME_S, self._sof, "USB host SOF")

    # -- transaction helpers for flows ------------------------------------------------------
    def _check_deadline(self, deadline: float, what: str) -> None:
        if self.now() > deadline:
            raise UsbTimeout(f"{what}: no completion before the {deadline:.6f} s simulated deadline "
                             f"(device kept answering NAK)")

    def _strike(self, strikes: int, what: str) -> int:
        strikes += 1
        if strikes >= STRIKES:
            if not self.device.attached():
                raise UsbDisconnected(f"{what}: the device is not on the bus (D+ pull-up off or peripheral unclocked)")
            raise UsbProtocolError(f"{what}: no handshake from the device after {STRIKES} attempts")
        return strikes

    def _after_nak(self, naks: int, deadline: float, what: str) -> Flow:
        """Give up past the deadline; after FAST_NAK_RETRIES immediate retries, retry once per frame."""
        self._check_deadline(deadline, what)
        if naks > FAST_NAK_RETRIES:
            yield Wait(FRAME_S)

    def setup_stage(self, address: int, packet: bytes) -> Flow:
        strikes = 0
        while True:
            hs = yield Setup(address, packet)
            if hs == ACK:
                return
            strikes = self._strike(strikes, f"SETUP to address {address}")

    def _poll_slot(self, address: int, endpoint: int) -> Flow:
        """An interrupt endpoint is served once per bInterval frames (USB 2.0 §5.7.4): wait for
        its next slot.  Other endpoints go at once."""
        period = self.poll_period.get((address, endpoint))
        if not period:
            return
        due = self._next_poll.get((address, endpoint), 0.0)
        if self.now() < due:
            yield Wait(due - self.now())
        self._next_poll[(address, endpoint)] = self.now() + period

    def out_packet(self, address: int, ep: int, data: bytes, deadline: float, pid: Optional[int] = None) -> Flow:
        """One OUT transaction with NAK retries; the host's data toggle advances on ACK."""
        key = (address, ep, "out")
        what = f"OUT to address {address} endpoint {ep}"
        retries = Retries()
        while True:
            yield from self._poll_slot(address, ep)
            use = self.toggles.get(key, 0) if pid is None else pid
            hs = yield Out(address, ep, data, use, self._nak_retry(address, ep, retries, deadline))
            if hs == ACK:
                if pid is None:
                    self.toggles[key] = use ^ 1
                return
            yield from self._not_acked(hs, retries, deadline, what)

    def in_packet(self, address: int, ep: int, deadline: float, pid: Optional[int] = None) -> Flow:
        """One IN transaction with NAK retries; a packet with the wrong toggle is ignored (USB 2.0 §8.6.4)."""
        key = (address, ep, "in")
        what = f"IN from address {address} endpoint {ep}"
        retries = Retries()
        while True:
            yield from self._poll_slot(address, ep | 0x80)
            expect = self.toggles.get(key, 0) if pid is None else pid
            hs, data, got = yield In(address, ep, expect, self._nak_retry(address, ep | 0x80, retries, deadline))
            if hs == ACK:
                if got != expect:
                    continue
                if pid is None:
                    self.toggles[key] = expect ^ 1
                return bytes(data)
            yield from self._not_acked(hs, retries, deadline, what)

    def _nak_retry(self, address: int, endpoint: int, retries: "Retries", deadline: float) -> Optional[NakRetry]:
        """The host may retry a NAK by itself unless the endpoint is polled per bInterval."""
        return None if self.poll_period.get((address, endpoint)) else NakRetry(retries, deadline)

    def _not_acked(self, hs: str, retries: "Retries", deadline: float, what: str) -> Flow:
        """Any handshake but ACK: STALL raises, NAK is retried (paced), silence is a strike."""
        if hs == STALL:
            raise UsbStall(f"{what}: STALL")
        if hs == NAK:
            retries.naks += 1
            yield from self._after_nak(retries.naks, deadline, what)
        else:
            retries.strikes = self._strike(retries.strikes, what)

    # -- isochronous: one transaction per frame, no handshake, no retry ------------------------
    def next_frame(self) -> Flow:
        """Wait for the start of the next frame (its SOF on the wire)."""
        if self.last_sof_s is None or self._sof_event is None:
            raise UsbProtocolError("isochronous transfer on a bus without SOF (not reset, or suspended)")
        start = self.last_sof_s + FRAME_S + SOF_PACKET_S
        yield Wait(max(start - self.now(), SOF_PACKET_S))

    def iso_out(self, address: int, ep: int, packets: list[bytes]) -> Flow:
        """One OUT packet per frame (DATA0); returns what the device's SIE reported per packet."""
        results = []
        for packet in packets:
            yield from self.next_frame()
            results.append((yield Out(address, ep, packet, 0)))
        return results

    def iso_in(self, address: int, ep: int, frames: int) -> Flow:
        """One IN token per frame; the packets received (b"" where the device sent nothing)."""
        packets = []
        for _ in range(frames):
            yield from self.next_frame()
            hs, data, pid = yield In(address, ep, 0)
            packets.append(bytes(data) if hs == ISO else b"")
        return packets

    # -- suspend and resume (USB 2.0 §7.1.7.6-7) --------------------------------------------------
    def suspend(self, idle_s: float = 5e-3) -> Flow:
        """Stop sending SOFs (the device suspends after 3 ms of idle bus) and wait ``idle_s``."""
        self._stop_sof()
        self.suspended = True
        self.log.append(Transaction(self.now(), "SUSP", note="SOF stopped: bus idle"))
        yield Wait(idle_s)

    def resume(self) -> Flow:
        """Drive resume signalling for 20 ms, then SOFs again and the recovery time."""
        self._drive_resume("host resume")
        yield Wait(RESUME_S)
        self._end_resume()
        yield Wait(RESUME_RECOVERY_S)

    def _drive_resume(self, why: str) -> None:
        self.log.append(Transaction(self.now(), "RESUM", note=f"{why}: K state for 20 ms"))
        self.device.resume()

    def _end_resume(self) -> None:
        self.suspended = False
        self._start_sof()

    def _remote_wakeup(self) -> None:
        """The device drives K on a suspended bus: the host answers with its own resume."""
        if not self.suspended or self._sof_event is not None:
            return
        self.remote_wakeups += 1
        self.log.append(Transaction(self.now(), "WAKE", note="remote wake-up signalling from the device"))
        self._after(REMOTE_WAKEUP_RESPONSE_S, lambda: self._drive_resume("remote wake-up"), "USB host resume")
        self._after(REMOTE_WAKEUP_RESPONSE_S + RESUME_S, self._end_resume, "USB host end of resume")

    # -- control transfers -----------------------------------------------------------------
    def control(self, address: int, request_type: int, request: int, value: int = 0, index: int = 0,
                data: bytes = b"", length: int = 0, timeout_s: float = 1.0) -> Flow:
        """A control transfer (USB 2.0 §8.5.3): SETUP, data stage, status stage.  IN returns the data."""
        mps = self.max_packet.get((address, 0), 8)
        deadline = self.now() + timeout_s
        wlength = length if request_type & 0x80 else len(data)
        yield from self.setup_stage(address, struct.pack("<BBHHH", request_type, request, value, index, wlength))
        what = f"control {request_type:#04x}/{request:#04x} to address {address}"
        try:
            if request_type & 0x80:
                received = bytearray()
                pid = 1
                while len(received) < wlength:
                    packet = yield from self.in_packet(address, 0, deadline, pid=pid)
                    pid ^= 1
                    received += packet
                    if len(packet) < mps:
                        break
                if len(received) > wlength:
                    raise UsbOverflow(f"{what}: device sent {len(received)} bytes, wLength was {wlength}")
                yield from self.out_packet(address, 0, b"", deadline, pid=1)
                result: Any = bytes(received)
            else:
                pid = 1
                for offset in range(0, len(data), mps):
                    yield from self.out_packet(address, 0, data[offset:offset + mps], deadline, pid=pid)
                    pid ^= 1
                status = yield from self.in_packet(address, 0, deadline, pid=1)
                if status:
                    raise UsbProtocolError(f"{what}: status stage carried {len(status)} bytes (must be empty)")
                result = len(data)
        except UsbStall as stall:
            raise UsbStall(f"{what}: STALL (request not supported or failed)") from stall
        self._after_control(address, request_type, request, value, index)
        return result

    def _after_control(self, address: int, request_type: int, request: int, value: int, index: int) -> None:
        """Host-side effects of standard requests on data toggles (USB 2.0 §9.4.5, §9.4.7, §9.4.10)."""
        if request_type == 0x00 and request == 9 or request_type == 0x01 and request == 11:
            for key in [k for k in self.toggles if k[0] == address and k[1] != 0]:
                self.toggles[key] = 0
        elif request_type == 0x02 and request == 1 and value == 0:
            self.toggles[(address, index & 0x0F, "in" if index & 0x80 else "out")] = 0

    # -- bulk / interrupt ----------------------------------------------------------------------
    def bulk_out(self, address: int, ep: int, data: bytes, timeout_s: float = 1.0, zlp: bool = False) -> Flow:
        mps = self.max_packet.get((address, ep), 64)
        deadline = self.now() + timeout_s
        for offset in range(0, len(data), mps):
            yield from self.out_packet(address, ep, data[offset:offset + mps], deadline)
        if zlp and len(data) % mps == 0:
            yield from self.out_packet(address, ep, b"", deadline)
        return len(data)

    def bulk_in(self, address: int, ep: int, length: int, timeout_s: float = 1.0) -> Flow:
        mps = self.max_packet.get((address, ep | 0x80), 64)
        deadline = self.now() + timeout_s
        received = bytearray()
        while len(received) < length:
            packet = yield from self.in_packet(address, ep, deadline)
            received += packet
            if len(packet) < mps:
                break
        return bytes(received)

    # -- connection and enumeration -------------------------------------------------------------
    def wait_attach(self, timeout_s: float = 1.0) -> Flow:
        deadline = self.now() + timeout_s
        while not self.device.attached():
            if self.now() > deadline:
                raise UsbDisconnected(f"no device attached within {timeout_s} s (D+ pull-up, USBEN and a 48 MHz "
                                      "USB kernel clock are all needed)")
            yield Wait(FRAME_S)
        self._connected = True
        self.log.append(Transaction(self.now(), "ATTACH", note="D+ pull-up seen"))
        yield Wait(ATTACH_DEBOUNCE_S)
        if not self.device.attached():
            raise UsbDisconnected("device detached during the attach debounce")

    def enumeration(self, address: int = 1, attach_timeout_s: float = 1.0) -> Flow:
        """Attach, reset, read descriptors, SET_ADDRESS, SET_CONFIGURATION, SET_INTERFACE."""
        yield from self.wait_attach(attach_timeout_s)
        yield Reset()
        yield Wait(RESET_RECOVERY_S)
        self.toggles.clear()
        self.max_packet = {(0, 0): 64}
        head = yield from self.control(0, 0x80, 6, 0x0100, 0, length=64)
        if len(head) < 8 or head[1] != 1:
            raise UsbProtocolError(f"device descriptor: got {head.hex()} (expected bLength 18, type 1)")
        mps0 = head[7]
        if mps0 not in (8, 16, 32, 64):
            raise UsbProtocolError(f"device descriptor: bMaxPacketSize0 = {mps0} (must be 8, 16, 32 or 64)")
        yield from self.control(0, 0x00, 5, address)
        yield Wait(SET_ADDRESS_RECOVERY_S)
        self.max_packet[(address, 0)] = mps0
        device = yield from self.control(address, 0x80, 6, 0x0100, 0, length=18)
        if len(device) != 18 or device[0] != 18 or device[1] != 1:
            raise UsbProtocolError(f"device descriptor at address {address} is malformed: {device.hex()}")
        config_head = yield from self.control(address, 0x80, 6, 0x0200, 0, length=9)
        if len(config_head) != 9 or config_head[1] != 2:
            raise UsbProtocolError(f"configuration descriptor header is malformed: {config_head.hex()}")
        total = struct.unpack_from("<H", config_head, 2)[0]
        config = yield from self.control(address, 0x80, 6, 0x0200, 0, length=total)
        interfaces = parse_configuration(config, total)
        self.poll_period = {}
        for intf in interfaces:
            for ep in intf["endpoints"]:
                self.max_packet[(address, ep["address"])] = ep["max_packet"]
                if ep["type"] == "interrupt":
                    self.poll_period[(address, ep["address"])] = max(ep["interval"], 1) * FRAME_S
        strings: dict[int, str] = {}
        indexes = [device[14], device[15], device[16]] + [i["string"] for i in interfaces]
        if any(indexes):
            langs = yield from self.control(address, 0x80, 6, 0x0300, 0, length=255)
            if len(langs) < 4 or langs[1] != 3:
                raise UsbProtocolError(f"string descriptor 0 (languages) is malformed: {langs.hex()}")
            lang = struct.unpack_from("<H", langs, 2)[0]
            for index in sorted(set(i for i in indexes if i)):
                raw = yield from self.control(address, 0x80, 6, 0x0300 | index, lang, length=255)
                if len(raw) < 2 or raw[0] != len(raw) or raw[1] != 3 or len(raw) % 2:
                    raise UsbProtocolError(f"string descriptor {index} is malformed: {raw.hex()}")
                strings[index] = raw[2:].decode("utf-16-le")
        yield from self.control(address, 0x00, 9, config[5])
        if interfaces:
            try:
                yield from self.control(address, 0x01, 11, interfaces[0]["alternate"], interfaces[0]["number"])
            except UsbStall:
                pass        # a device with one alternate setting may STALL SET_INTERFACE (USB 2.0 §9.4.10)
        self.info = DeviceInfo(address, device, config, strings, interfaces)
        return self.info

    # -- blocking conveniences (each runs the machine) ------------------------------------------------
    def enumerate(self, address: int = 1, timeout_s: float = 2.0) -> DeviceInfo:
        return self.run(self.enumeration(address), timeout_s)

    def control_transfer(self, request_type: int, request: int, value: int = 0, index: int = 0,
                         data: bytes = b"", length: int = 0, timeout_s: float = 1.0):
        address = self.info.address if self.info else 0
        return self.run(self.control(address, request_type, request, value, index, data, length, timeout_s),
                        timeout_s + 0.1)

    def bulk_write(self, ep: int, data: bytes, timeout_s: float = 1.0) -> int:
        return self.run(self.bulk_out(self.info.address, ep & 0x0F, data, timeout_s), timeout_s + 0.1)

    def bulk_read(self, ep: int, length: int, timeout_s: float = 1.0) -> bytes:
        return self.run(self.bulk_in(self.info.address, ep & 0x0F, length, timeout_s), timeout_s + 0.1)

    def format_log(self, last: Optional[int] = None) -> str:
        entries = self.log if last is None else self.log[-last:]
        return "\n".join(t.line() for t in entries)


def parse_configuration(config: bytes, total: int) -> list[dict[str, Any]]:
    """Walk a configuration descriptor set (USB 2.0 §9.6.3-9.6.6); malformed input raises UsbProtocolError."""
    if len(config) != total:
        raise UsbProtocolError(f"configuration descriptor: got {len(config)} bytes, wTotalLength says {total}")
    interfaces: list[dict[str, Any]] = []
    offset = 0
    while offset < len(config):
        length = config[offset]
        if length < 2 or offset + length > len(config):
            raise UsbProtocolError(f"configuration descriptor: bad bLength {length} at offset {offset}")
        kind = config[offset + 1]
        if kind == 4:
            if length < 9:
                raise UsbProtocolError(f"interface descriptor at offset {offset} is {length} bytes (needs 9)")
            interfaces.append({"number": config[offset + 2], "alternate": config[offset + 3],
                               "class": config[offset + 5], "string": config[offset + 8], "endpoints": []})
        elif kind == 5:
            if length < 7 or not interfaces:
                raise UsbProtocolError(f"endpoint descriptor at offset {offset} is malformed or outside an interface")
            address, attributes = config[offset + 2], config[offset + 3]
            interfaces[-1]["endpoints"].append({"address": address, "type": _TYPES[attributes & 3],
                                                "max_packet": struct.unpack_from("<H", config, offset + 4)[0],
                                                "interval": config[offset + 6]})
        offset += length
    return interfaces
