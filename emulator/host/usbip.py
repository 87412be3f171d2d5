"""USB/IP export: the emulated USB device served to a remote Linux host (``vhci-hcd``).

``c071emu run IMAGE --usbip PORT`` makes the emulator play the part of a Linux host
running ``usbipd`` with the device bound to ``usbip-host``: a Linux machine with
``vhci-hcd`` runs ``usbip attach -r HOST -b 1-1`` and its own drivers and tools
(dfu-util, STM32CubeProgrammer) then talk to the emulated chip.  This module is the
second adapter from a foreign API onto ``UsbHost`` (``pyusb_backend`` is the first):
URBs arrive over TCP and become host flows on the machine's clock.  The wire format
lives in ``usbip_protocol``.

What the server does, and where each choice comes from
(``Documentation/usb/usbip_protocol.rst``: "the protocol doc";
``Documentation/driver-api/usb/error-codes.rst``: "error-codes"):

* Export.  As the server-side kernel would, the server enumerates the device itself
  (bus reset, SET_ADDRESS 1, descriptors, SET_CONFIGURATION) as soon as it attaches,
  and only then lists it, as bus id ``1-1`` (busnum 1, devnum 1, full speed).  A
  device that leaves the bus (D+ pull-up off, e.g. a DFU leave) ends the import: the
  connection is closed, as a vanished device ends a real export; when it attaches
  again it is enumerated and exported again under the same bus id.
* Import.  One importer at a time.  An unknown bus id, or a device already imported,
  is refused with OP_REP_IMPORT status 1 ("1 for error", the protocol doc).
* Requests the client's kernel handles itself: SET_ADDRESS (bRequest 5 of the standard
  type, whatever the direction and recipient bits say) is answered with status 0
  and not sent to the device (vhci-hcd assigns addresses locally; the device keeps
  address 1).  A port reset (SET_FEATURE(PORT_RESET) to a hub port, bmRequestType
  0x23) is a bus reset followed by SET_ADDRESS and the current SET_CONFIGURATION,
  as ``usb_reset_device`` restores a device.  SET_CONFIGURATION, SET_INTERFACE and
  CLEAR_FEATURE(ENDPOINT_HALT) go to the device like any other control request (the
  host's data toggles follow them, ``UsbHost._after_control``).
* Concurrency.  As in a host controller's schedule, each endpoint (ep0 counting as
  one pipe) works through its URBs in order, while URBs of different endpoints take
  turns on the bus one transaction at a time (``bus_schedule.TransferSchedule``); a bulk IN that
  keeps being NAKed does not hold up ep0 or the OUT endpoint.
* Timeouts.  A bulk or interrupt URB stays on the bus until it completes or the client
  unlinks it (a device may NAK an IN for as long as it has nothing to say).  A control
  URB that has not completed after ``CONTROL_TIMEOUT_S`` of simulated time ends with
  ``-ETIMEDOUT``: the 5 s that Linux's synchronous control messages allow
  (``USB_CTRL_GET_TIMEOUT``/``USB_CTRL_SET_TIMEOUT`` in include/linux/usb.h), so a device
  that never answers ep0 cannot hold the pipe for ever.
* Limits (our choices, against a hostile or broken client).  At most ``MAX_CONNECTIONS``
  clients that have not imported (a new one beyond that closes the longest-waiting one,
  so idle connections cannot lock out a well-formed client); a client that has not
  imported within ``IDLE_TIMEOUT_S`` of wall time is closed; a URB longer than
  ``MAX_URB_LENGTH`` (64 KiB on ep0, the most wLength can ask; ``MAX_BULK_LENGTH`` on
  the others) is refused with ``-EMSGSIZE`` (error-codes, "transfer length is invalid:
  negative or too large for the host controller") and its OUT bytes are skipped as
  they arrive, never held.
* Unlink.  A URB still queued or on the bus is removed (a transaction already on the
  wire is withdrawn before it reaches the device): USBIP_RET_UNLINK status
  ``-ECONNRESET`` and no USBIP_RET_SUBMIT for it; an unknown or finished URB: status
  0 (the protocol doc, UNLINK sequence diagrams).
* URB status (error-codes, "in urb->status"): STALL ``-EPIPE``; no handshake
  ``-EPROTO``; device off the bus ``-ESHUTDOWN``; more data than the buffer
  ``-EOVERFLOW``; a short IN with URB_SHORT_NOT_OK ``-EREMOTEIO``; a host-side
  time limit (not used by the server itself) ``-ETIMEDOUT``.  Submission errors
  (error-codes, "returned by usb_submit_urb"): an endpoint the configuration does
  not have ``-ENOENT``; isochronous URBs (the model has no isochronous endpoints)
  ``-EINVAL``.  URBs pending when a port reset arrives end with ``-ESHUTDOWN``
  (our choice).
* A client that disconnects leaves the server running: its URBs are dropped, the
  device stays configured and can be imported again by the next client.  The run
  ends at ``--max-time`` (simulated), when the guest exits, or on Ctrl-C.

Time: between URBs the machine keeps running (SOF every 1 ms, the firmware's main
loop).  ``WallClockPacer`` keeps simulated time from getting more than one slice
(``SLICE_S``) ahead of wall-clock time, so the client's timeouts in seconds mean
what they say; the emulator is normally faster than real time and waits in
``select`` for the client.  The order of URBs decides the outcome; when they arrive
in simulated time depends on the wall clock, which matters only to a device whose
behaviour depends on the gap between requests.
"""
from __future__ import annotations

import os
import select
import socket
import struct
import sys
import time
from typing import Any, Callable, Optional

from emulator.core.runloop import EndReason, RunEnd

from .bus_schedule import Transfer, TransferSchedule
from .usb_host import (RESET_RECOVERY_S, SET_ADDRESS_RECOVERY_S, Flow, Reset, UsbDisconnected, UsbError,
                       UsbHost, UsbStall, UsbTimeout, Wait)
from .usbip_protocol import (DIR_IN, ECONNRESET, EINVAL, EMSGSIZE, ENOENT, EOVERFLOW, EPIPE, EPROTO, EREMOTEIO, ESHUTDOWN,
                             ETIMEDOUT, OP_REQ_DEVLIST, URB_SHORT_NOT_OK, URB_ZERO_PACKET, VERSION, DeviceRecord,
                             Submit, Unlink, UsbipProtocolError, device_record, devlist_reply, import_reply,
                             read_op_request, read_urb_command, ret_submit, ret_unlink)

BUSID, BUSNUM, DEVICE_ADDRESS = "1-1", 1, 1
SLICE_S = 2e-3            # simulated time run between two looks at the sockets
MAX_LAG_S = 0.1           # a larger lag behind wall time is not made up (see WallClockPacer)
ATTACH_WAIT_S = 1.0       # simulated time given to the firmware to attach before the banner
NO_DEADLINE = float("inf")
SET_ADDRESS, SET_FEATURE, SET_CONFIGURATION = 5, 3, 9
PORT_RESET_REQUEST = (0x23, SET_FEATURE, 4)     # bmRequestType (class, other = hub port), bRequest, PORT_RESET
RECV_SIZE = 65536
CONTROL_TIMEOUT_S = 5.0
MAX_CONNECTIONS = 16
IDLE_TIMEOUT_S = 30.0
MAX_CONTROL_LENGTH = 0xFFFF
MAX_BULK_LENGTH = 1 << 20
REQUEST_TYPE_MASK = 0x60                        # bmRequestType bits 6:5: standard, class, vendor


def urb_status(error: UsbError) -> int:
    """The negative errno a host controller reports for a failed transfer (module docstring)."""
    if isinstance(error, UsbStall):
        return -EPIPE
    if isinstance(error, UsbDisconnected):
        return -ESHUTDOWN
    if isinstance(error, UsbTimeout):
        return -ETIMEDOUT
    return -EPROTO


# -- connections -------------------------------------------------------------------------------------
class Connection:
    """One TCP client: bytes in, bytes out, and whether it has imported the device."""

    def __init__(self, sock: socket.socket, peer: str) -> None:
        self.sock = sock
        self.peer = peer
        self.inbox = bytearray()
        self.outbox = bytearray()
        self.imported = False
        self.close_when_sent = False
        self.closed = False
        self.opened = time.monotonic()
        self.skip = 0                   # bytes of a refused URB's payload still to come

    def send(self, data: bytes) -> None:
        self.outbox += data

    def flush(self) -> None:
        while self.outbox and not self.closed:
            try:
                sent = self.sock.send(self.outbox)
            except BlockingIOError:
                return
            except OSError:
                self.close()
                return
            del self.outbox[:sent]
        if self.close_when_sent and not self.outbox:
            self.close()

    def receive(self) -> bool:
        """Read what is there; False once the client has gone."""
        try:
            data = self.sock.recv(RECV_SIZE)
        except BlockingIOError:
            return True
        except OSError:
            return False
        self.inbox += data
        return bool(data)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.sock.close()


# -- the server ----------------------------------------------------------------------------------------
class UsbipServer:
    """Listens on ``bind:port`` (0 picks a free port); ``poll()`` between machine slices does the work."""

    def __init__(self, machine, port: int = 0, bind: str = "127.0.0.1",
                 log: Callable[[str], None] = lambda line: print(line, file=sys.stderr, flush=True)) -> None:
        self.m = machine
        self.log = log
        try:
            self.listener = socket.create_server((bind, port))
        except OSError as exc:
            # in use, or not an address of this host; the caller names the address, so drop
            # the "(while attempting to bind on address ...)" that create_server appends
            reason = os.strerror(exc.errno) if exc.errno and exc.errno > 0 else \
                str(exc.strerror or exc).split(" (while attempting", 1)[0]
            raise OSError(exc.errno, reason) from None
        self.listener.setblocking(False)
        self.host = UsbHost(machine)
        self.schedule = TransferSchedule(machine, self.host)
        self.connections: list[Connection] = []
        self.importer: Optional[Connection] = None
        self.exported: Optional[DeviceRecord] = None
        self.configuration = 0
        self._enumeration_failed = False
        self._endpoint_types: dict[int, str] = {}

    @property
    def address(self) -> tuple[str, int]:
        return self.listener.getsockname()[:2]

    def banner(self) -> str:
        host, port = self.address
        return f"USB/IP: listening on {host}:{port}, bus id {BUSID}"

    def close(self) -> None:
        self.schedule.cancel_all()
        for conn in self.connections:
            conn.close()
        self.listener.close()

    # -- the device on the bus ------------------------------------------------------------------------
    def wait_for_device(self, limit_s: float = ATTACH_WAIT_S) -> Optional[RunEnd]:
        """Run (unpaced) until the firmware attaches, up to ``limit_s``, and export the device,
        so a client that waits for the banner finds it listed.  Returns the run's end if the
        guest ended meanwhile."""
        start = self.m.seconds()
        while not self.host.device.attached() and self.m.seconds() - start < limit_s:
            end = self.m.run(max_seconds=1e-3)
            if end.reason not in (EndReason.TIME_LIMIT, EndReason.STOP_AT):
                return end
        self._follow_device()
        if self.exported is None:
            self.log("USB/IP: no USB device on the bus yet (it is exported once the firmware attaches)")
        return None

    def _follow_device(self) -> None:
        attached = self.host.device.attached()
        if self.exported is not None and not attached:
            self.log(f"USB/IP: the device left the bus; bus id {BUSID} is no longer exported")
            self.exported = None
            if self.importer is not None:
                self.schedule.cancel_all()
                self.importer.close()
                self.importer = None
        elif self.exported is None and not attached:
            self._enumeration_failed = False
        elif self.exported is None and not self._enumeration_failed:
            self._export()

    def _export(self) -> None:
        try:
            info = self.host.enumerate(DEVICE_ADDRESS)
        except UsbError as exc:
            self._enumeration_failed = True
            self.log(f"USB/IP: the device attached but could not be enumerated: {exc}")
            return
        self.configuration = info.config_descriptor[5]
        self._endpoint_types = {ep["address"]: ep["type"] for intf in info.interfaces for ep in intf["endpoints"]}
        self.exported = self._record()
        self.log(f"USB/IP: exporting {info.vendor_id:04x}:{info.product_id:04x} "
                 f"({info.strings.get(info.device_descriptor[15], 'no product string')}) as bus id {BUSID}")

    def _record(self) -> DeviceRecord:
        info = self.host.info
        return device_record(info.device_descriptor, info.config_descriptor, self.configuration, BUSID, BUSNUM,
                             DEVICE_ADDRESS)

    # -- sockets ----------------------------------------------------------------------------------------
    def poll(self) -> None:
        """Follow the device, accept clients, act on complete messages, send replies."""
        self._follow_device()
        self._accept()
        for conn in [c for c in self.connections if not c.closed]:
            alive = conn.receive()
            try:
                self._process(conn)
            except UsbipProtocolError as exc:
                self.log(f"USB/IP: {conn.peer}: {exc}; closing the connection")
                alive = False
            if not alive:
                self._disconnected(conn)
            conn.flush()
        self.connections = [c for c in self.connections if not c.closed]

    def wait(self, seconds: float) -> None:
        """Sleep up to ``seconds``, waking early when a client sends or can take more bytes."""
        readers = [self.listener] + [c.sock for c in self.connections]
        writers = [c.sock for c in self.connections if c.outbox]
        select.select(readers, writers, [], seconds)

    def _accept(self) -> None:
        now = time.monotonic()
        for conn in self.connections:
            if not conn.imported and not conn.closed and now - conn.opened > IDLE_TIMEOUT_S:
                self.log(f"USB/IP: {conn.peer} sent no complete request in {IDLE_TIMEOUT_S:g} s; closing it")
                conn.close()
        while True:
            try:
                sock, peer = self.listener.accept()
            except BlockingIOError:
                return
            except OSError as exc:            # out of file descriptors: serve who is there, retry later
                self.log(f"USB/IP: cannot accept a client now ({exc.strerror or exc})")
                return
            waiting = [c for c in self.connections if not c.closed and not c.imported]
            if len(waiting) >= MAX_CONNECTIONS:
                # make room by closing the longest-waiting client that has not imported, so a
                # flood of idle connections cannot lock out the next well-formed client
                self.log(f"USB/IP: {MAX_CONNECTIONS} clients wait without importing; closing {waiting[0].peer}")
                waiting[0].close()
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.connections.append(Connection(sock, f"{peer[0]}:{peer[1]}"))

    def _disconnected(self, conn: Connection) -> None:
        if conn is self.importer:
            self.schedule.cancel_all()
            self.importer = None
            self.log(f"USB/IP: {conn.peer} disconnected; bus id {BUSID} can be imported again")
        conn.close()

    def _process(self, conn: Connection) -> None:
        while not conn.closed and not conn.close_when_sent:
            if conn.skip:
                skipped = min(conn.skip, len(conn.inbox))
                del conn.inbox[:skipped]
                conn.skip -= skipped
                if conn.skip:
                    return
            if conn.imported:
                command = read_urb_command(conn.inbox, MAX_BULK_LENGTH)
                if command is None:
                    return
                if isinstance(command, Unlink):
                    cancelled = self.schedule.cancel(command.unlink_seqnum)
                    conn.send(ret_unlink(command.seqnum, -ECONNRESET if cancelled else 0))
                else:
                    self._submit(conn, command)
                continue
            request = read_op_request(conn.inbox)
            if request is None:
                return
            if request.version != VERSION:
                raise UsbipProtocolError(f"USB/IP version {request.version:#06x} (this server speaks {VERSION:#06x})")
            if request.code == OP_REQ_DEVLIST:
                conn.send(devlist_reply([self._record()] if self.exported else []))
                conn.close_when_sent = True                 # the protocol doc: the connection is then closed
            else:
                self._import(conn, request.busid)

    def _import(self, conn: Connection, busid: str) -> None:
        if busid != BUSID or self.exported is None or self.importer is not None:
            why = ("is not exported" if busid != BUSID or self.exported is None else "is already imported")
            self.log(f"USB/IP: {conn.peer} asked to import bus id {busid!r}, which {why}: refused")
            conn.send(import_reply(None))
            conn.close_when_sent = True
            return
        conn.imported = True
        self.importer = conn
        conn.send(import_reply(self._record()))
        self.log(f"USB/IP: {conn.peer} imported bus id {BUSID}")

    # -- URBs ---------------------------------------------------------------------------------------------
    def _reply(self, conn: Connection, seqnum: int, status: int, data: bytes = b"",
               actual_length: Optional[int] = None) -> None:
        conn.send(ret_submit(seqnum, status, data, actual_length))
        if self.m.loop.end is None:        # end the slice so the reply leaves at once
            self.m.loop.end = RunEnd(EndReason.STOP_AT, "USB/IP: a URB completed", pc=self.m.cpu.pc())

    def _submit(self, conn: Connection, urb: Submit) -> None:
        limit = MAX_CONTROL_LENGTH if urb.ep == 0 else MAX_BULK_LENGTH
        if urb.transfer_buffer_length > limit:
            conn.skip = urb.refused_payload
            self._reply(conn, urb.seqnum, -EMSGSIZE)
            return
        if urb.number_of_packets > 0:
            self._reply(conn, urb.seqnum, -EINVAL)
            return
        if urb.ep == 0:
            flow = self._control(conn, urb)
            if flow is None:
                return
            pipe = (0, 0)
        else:
            endpoint = urb.ep | (0x80 if urb.direction == DIR_IN else 0)
            kind = self._endpoint_types.get(endpoint)
            if kind is None or kind == "isochronous":
                self._reply(conn, urb.seqnum, -ENOENT if kind is None else -EINVAL)
                return
            if urb.direction == DIR_IN:
                flow = self.host.bulk_in(DEVICE_ADDRESS, urb.ep, urb.transfer_buffer_length, NO_DEADLINE)
            else:
                # A zero-length OUT URB is one zero-length packet on the bus.
                zlp = not urb.data or bool(urb.transfer_flags & URB_ZERO_PACKET)
                flow = self.host.bulk_out(DEVICE_ADDRESS, urb.ep, urb.data, NO_DEADLINE, zlp=zlp)
            pipe = (urb.ep, urb.direction)
        self.schedule.submit(Transfer(urb.seqnum, pipe, flow,
                                      lambda result, error: self._completed(conn, urb, result, error)))

    def _control(self, conn: Connection, urb: Submit) -> Optional[Flow]:
        """The flow of a control URB, or None when it was answered here (SET_ADDRESS, port reset)."""
        request_type, request, value, index, length = struct.unpack("<BBHHH", urb.setup)
        if request == SET_ADDRESS and request_type & REQUEST_TYPE_MASK == 0:
            self._reply(conn, urb.seqnum, 0)
            return None
        if (request_type, request, value) == PORT_RESET_REQUEST:
            self._reply(conn, urb.seqnum, self._port_reset(conn))
            return None
        if request_type & 0x80:
            return self.host.control(DEVICE_ADDRESS, request_type, request, value, index, length=length,
                                     timeout_s=CONTROL_TIMEOUT_S)
        if len(urb.data) != length:
            self._reply(conn, urb.seqnum, -EINVAL)
            return None
        return self.host.control(DEVICE_ADDRESS, request_type, request, value, index, data=urb.data,
                                 timeout_s=CONTROL_TIMEOUT_S)

    def _completed(self, conn: Connection, urb: Submit, result: Any, error: Optional[UsbError]) -> None:
        if error is not None:
            self._reply(conn, urb.seqnum, urb_status(error))
            return
        if urb.ep == 0 and urb.setup[:2] == bytes((0x00, SET_CONFIGURATION)):
            self.configuration = urb.setup[2]
        if urb.direction != DIR_IN:
            self._reply(conn, urb.seqnum, 0, actual_length=result)
            return
        data = bytes(result)
        status = 0
        if len(data) > urb.transfer_buffer_length:
            data, status = data[:urb.transfer_buffer_length], -EOVERFLOW
        elif len(data) < urb.transfer_buffer_length and urb.transfer_flags & URB_SHORT_NOT_OK:
            status = -EREMOTEIO
        self._reply(conn, urb.seqnum, status, data)

    def _port_reset(self, conn: Connection) -> int:
        """Bus reset, then the address and configuration back, as ``usb_reset_device`` does."""
        for transfer in self.schedule.cancel_all():
            self._reply(conn, transfer.seqnum, -ESHUTDOWN)
        host, configuration = self.host, self.configuration

        def reset() -> Flow:
            yield Reset()
            yield Wait(RESET_RECOVERY_S)
            host.toggles.clear()
            yield from host.control(0, 0x00, SET_ADDRESS, DEVICE_ADDRESS)
            yield Wait(SET_ADDRESS_RECOVERY_S)
            if configuration:
                yield from host.control(DEVICE_ADDRESS, 0x00, SET_CONFIGURATION, configuration)

        try:
            host.run(reset(), timeout_s=1.0)
        except UsbError as exc:
            self.log(f"USB/IP: port reset: {exc}")
            return urb_status(exc)
        return 0


# -- running ---------------------------------------------------------------------------------------------
class WallClockPacer:
    """Keeps simulated time from running ahead of wall-clock time.

    Choice: simulated time may lead wall time by at most one slice (``SLICE_S``); the
    machine then waits for the client.  When emulation falls behind (slower code, a
    blocking step, a suspended process) it runs flat out to catch up, but a lag of
    more than ``MAX_LAG_S`` is forgiven rather than made up in a burst, so the device
    never sees simulated time race ahead of the client's clock."""

    def __init__(self, machine) -> None:
        self.m = machine
        self._anchor()

    def _anchor(self) -> None:
        self.wall0, self.sim0 = time.monotonic(), self.m.seconds()

    def lead(self) -> float:
        """Seconds of wall time to wait before simulated time may go on."""
        lead = (self.m.seconds() - self.sim0) - (time.monotonic() - self.wall0)
        if lead < -MAX_LAG_S:
            self._anchor()
            return 0.0
        return max(lead, 0.0)


def serve(machine, server: UsbipServer, max_seconds: Optional[float] = None,
          should_stop: Callable[[], bool] = lambda: False) -> RunEnd:
    """Run the machine paced to wall-clock time, serving USB/IP between slices, until the guest
    ends, ``max_seconds`` of simulated time pass (None: no limit), Ctrl-C or ``should_stop()``."""
    pacer = WallClockPacer(machine)
    start = machine.seconds()
    try:
        while True:
            server.poll()
            if should_stop():
                return RunEnd(EndReason.STOP_AT, "USB/IP server stopped", pc=machine.cpu.pc())
            remaining = SLICE_S if max_seconds is None else max_seconds - (machine.seconds() - start)
            if remaining <= 0:
                return RunEnd(EndReason.TIME_LIMIT, "time limit reached", pc=machine.cpu.pc())
            end = machine.run(max_seconds=min(SLICE_S, remaining))
            if end.reason not in (EndReason.TIME_LIMIT, EndReason.STOP_AT):
                server.poll()
                return end
            server.wait(pacer.lead())
    except KeyboardInterrupt:
        return RunEnd(EndReason.INTERRUPTED, "interrupted (Ctrl-C)", pc=machine.cpu.pc())
