"""GDB Remote Serial Protocol framing over one TCP connection.

Facts (GDB manual, "Remote Protocol", Overview and "Packet Acknowledgment"): a packet
is ``$data#cc`` with ``cc`` the modulo-256 sum of ``data`` in two hex digits; ``}``
escapes the next byte XOR 0x20 (needed for ``#$}*`` in binary payloads); each packet
is acknowledged with ``+`` (or ``-`` to ask for a resend) until ``QStartNoAckMode``;
a lone 0x03 byte from GDB, outside a packet, is an interrupt request (Ctrl-C).
"""
from __future__ import annotations

import select
import socket
from typing import Optional

INTERRUPT = 0x03
# The largest frame a well-behaved GDB sends: the PacketSize we announce, every byte escaped,
# plus framing.  Anything longer, or bytes outside a frame, is dropped as it arrives, so a
# peer sending garbage cannot grow the stub's memory.
MAX_FRAME = 2 * 0x4000 + 4


class Disconnected(Exception):
    """GDB closed the connection."""


def checksum(data: bytes) -> int:
    return sum(data) & 0xFF


def escape(data: bytes) -> bytes:
    out = bytearray()
    for b in data:
        if b in b"#$}*":
            out += bytes((0x7D, b ^ 0x20))
        else:
            out.append(b)
    return bytes(out)


def unescape(data: bytes) -> bytes:
    """Undo ``}`` escapes; a ``}`` with nothing after it is a malformed packet (ValueError)."""
    out = bytearray()
    it = iter(data)
    for b in it:
        if b == 0x7D:
            b = next(it, None)
            if b is None:
                raise ValueError("binary data ends in an escape character")
            b ^= 0x20
        out.append(b)
    return bytes(out)


class RspConnection:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.acknowledging = True
        self._buffer = bytearray()
        self.interrupt_pending = False

    def _fill(self, timeout: Optional[float]) -> bool:
        if timeout is not None and not select.select([self.sock], [], [], timeout)[0]:
            return False
        chunk = self.sock.recv(65536)
        if not chunk:
            raise Disconnected()
        self._buffer += chunk
        return True

    def _take_interrupts(self) -> None:
        # A 0x03 may arrive between packets (Ctrl-C while the target runs); acks are noise here.
        while self._buffer and self._buffer[0] in (INTERRUPT, ord("+"), ord("-")):
            if self._buffer[0] == INTERRUPT:
                self.interrupt_pending = True
            del self._buffer[0]

    def poll_interrupt(self) -> bool:
        """Non-blocking: has GDB sent Ctrl-C?  Called between slices while the target runs."""
        try:
            if select.select([self.sock], [], [], 0)[0]:
                self._fill(None)
        except (Disconnected, OSError):
            self.interrupt_pending = True          # a vanished debugger halts the target too
        self._take_interrupts()
        self._drop_garbage()
        return self.interrupt_pending

    def wait_interrupt(self) -> None:
        """Block until GDB sends Ctrl-C (the target sleeps with nothing left to wake it)."""
        while not self.poll_interrupt():
            self._fill(None)
            self._take_interrupts()

    def _drop_garbage(self) -> None:
        """Keep only what can still become a packet: from the first ``$``, at most one frame."""
        start = self._buffer.find(b"$")
        dropped = self._buffer if start < 0 else self._buffer[:start]
        if INTERRUPT in dropped:
            self.interrupt_pending = True
        if start < 0:
            self._buffer.clear()
            return
        del self._buffer[:start]
        if len(self._buffer) > MAX_FRAME and self._buffer.find(b"#", 0, MAX_FRAME) < 0:
            # an oversized or unterminated frame: skip to the next frame start, if any
            following = self._buffer.find(b"$", 1)
            if following < 0:
                self._buffer.clear()
            else:
                del self._buffer[:following]

    def receive(self) -> bytes:
        """The next packet's payload (escapes still in place: only binary packets undo them)."""
        while True:
            self._take_interrupts()
            self._drop_garbage()
            start = self._buffer.find(b"$")
            if start >= 0:
                end = self._buffer.find(b"#", start)
                if end >= 0 and len(self._buffer) >= end + 3:
                    payload = bytes(self._buffer[start + 1:end])
                    sent = self._buffer[end + 1:end + 3]
                    del self._buffer[:end + 3]
                    if self.acknowledging:
                        good = sent.lower() == f"{checksum(payload):02x}".encode()
                        self.sock.sendall(b"+" if good else b"-")
                        if not good:
                            continue
                    return payload
            self._fill(None)

    def send(self, payload: bytes | str) -> None:
        data = payload.encode() if isinstance(payload, str) else payload
        data = escape(data)
        frame = b"$" + data + b"#" + f"{checksum(data):02x}".encode()
        while True:
            self.sock.sendall(frame)
            if not self.acknowledging:
                return
            while True:
                self._take_interrupts_except_acks()
                if self._buffer:
                    ack = self._buffer[0]
                    if ack not in b"+-":
                        return              # GDB went on to its next packet: take that as the ack
                    del self._buffer[0]
                    if ack == ord("+"):
                        return
                    break
                self._fill(None)

    def _take_interrupts_except_acks(self) -> None:
        while self._buffer and self._buffer[0] == INTERRUPT:
            self.interrupt_pending = True
            del self._buffer[0]
