"""An AN3155 (STM32 USART bootloader protocol) host client on a simulated serial port.

Protocol facts (AN3155, paraphrased; FACTS §2.4): the host opens with 0x7F (the
device measures it for its baud rate and answers ACK 0x79); every command is a
byte and its complement; the device answers ACK or NACK 0x1F; addresses are four
bytes MSB first plus their XOR; lengths are sent as N = count - 1 followed by a
checksum (Read Memory: N and ~N; Write Memory: the XOR of N and the data;
Extended Erase: the XOR of every byte after the command).  Read and write move at
most 256 bytes per command.  Extended Erase takes a 2-byte count minus one and
2-byte page numbers, or 0xFFFF for a mass erase.

Every command is logged with its simulated start and end time, the bytes sent,
the bytes received and the outcome (``format_log``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Optional

from .serial_port import SerialPort, SerialTimeout

ACK, NACK, SYNC = 0x79, 0x1F, 0x7F
GET, GET_VERSION, GET_ID, READ_MEMORY, GO, WRITE_MEMORY, EXTENDED_ERASE = 0x00, 0x01, 0x02, 0x11, 0x21, 0x31, 0x44
WRITE_PROTECT, WRITE_UNPROTECT, READOUT_PROTECT, READOUT_UNPROTECT = 0x63, 0x73, 0x82, 0x92
COMMAND_NAMES = {
    GET: "Get", GET_VERSION: "Get Version", GET_ID: "Get ID", READ_MEMORY: "Read Memory", GO: "Go",
    WRITE_MEMORY: "Write Memory", EXTENDED_ERASE: "Extended Erase", WRITE_PROTECT: "Write Protect",
    WRITE_UNPROTECT: "Write Unprotect", READOUT_PROTECT: "Readout Protect", READOUT_UNPROTECT: "Readout Unprotect",
    SYNC: "sync 0x7F",
}
PAGE_ERASE_TIMEOUT_S = 0.1          # per page: the flash model takes 22 ms
MASS_ERASE_TIMEOUT_S = 0.5


class An3155Error(Exception):
    """The device broke the protocol or did not answer."""


class An3155Nack(An3155Error):
    """The device answered NACK."""


@dataclass
class Exchange:
    start_s: float
    command: str
    sent: bytearray = field(default_factory=bytearray)
    received: bytearray = field(default_factory=bytearray)
    end_s: float = 0.0
    outcome: str = ""

    def line(self) -> str:
        def show(b: bytes) -> str:
            return b[:12].hex(" ") + (f" … ({len(b)} B)" if len(b) > 12 else "")
        return (f"{self.start_s * 1e3:11.3f} ms  {self.command:<17} sent [{show(self.sent)}]  "
                f"got [{show(self.received)}]  {self.outcome}  (+{(self.end_s - self.start_s) * 1e3:.3f} ms)")


def _xor(data: Iterable[int]) -> int:
    x = 0
    for b in data:
        x ^= b
    return x


class An3155Client:
    def __init__(self, port: SerialPort, timeout_s: float = 0.5) -> None:
        self.port = port
        self.timeout_s = timeout_s
        self.log: list[Exchange] = []
        self._current: Optional[Exchange] = None

    # -- wire helpers -------------------------------------------------------------------
    def _begin(self, code: int) -> Exchange:
        ex = Exchange(self.port.now(), COMMAND_NAMES.get(code, f"0x{code:02X}"))
        self.log.append(ex)
        self._current = ex
        return ex

    def _send(self, data: bytes) -> None:
        self._current.sent += data
        self.port.send(data)

    def _recv(self, n: int, timeout_s: Optional[float] = None) -> bytes:
        try:
            data = self.port.read(n, timeout_s or self.timeout_s)
        except SerialTimeout as exc:
            self._end(f"timeout: {exc}")
            raise An3155Error(f"{self._current.command}: no answer from the device ({exc})") from None
        self._current.received += data
        return data

    def _expect_ack(self, what: str, timeout_s: Optional[float] = None) -> None:
        reply = self._recv(1, timeout_s)[0]
        if reply == NACK:
            self._end(f"NACK after {what}")
            raise An3155Nack(f"{self._current.command}: NACK after {what}")
        if reply != ACK:
            self._end(f"0x{reply:02X} after {what}")
            raise An3155Error(f"{self._current.command}: 0x{reply:02X} after {what}, expected ACK 0x79")

    def _end(self, outcome: str) -> None:
        ex = self._current
        ex.end_s = self.port.now()
        ex.outcome = outcome

    def _command(self, code: int) -> Exchange:
        ex = self._begin(code)
        self._send(bytes([code, code ^ 0xFF]))
        self._expect_ack("the command")
        return ex

    def _address(self, address: int) -> None:
        raw = address.to_bytes(4, "big")
        self._send(raw + bytes([_xor(raw)]))
        self._expect_ack(f"address 0x{address:08X}")

    # -- commands -------------------------------------------------------------------------
    def sync(self, first_reply_s: float = 0.02) -> str:
        """Send 0x7F; returns "ACK", or "NACK" when the device was already synchronised.

        A synchronised device takes the 0x7F for a command byte and waits for its
        complement; after ``first_reply_s`` without an answer a second 0x7F completes a
        bad command, which the device NACKs.
        """
        self._begin(SYNC)
        self._send(bytes([SYNC]))
        try:
            reply = self.port.read(1, first_reply_s)[0]
        except SerialTimeout:
            self._send(bytes([SYNC]))
            reply = self._recv(1)[0]
            if reply == ACK:                 # the first 0x7F came before the device listened
                self._end("ACK (the first 0x7F was not seen)")
                return "ACK"
            if reply != NACK:
                self._end(f"0x{reply:02X} after a second 0x7F")
                raise An3155Error(f"sync: 0x{reply:02X} after a second 0x7F, expected NACK 0x1F") from None
            self._end("NACK (already synchronised)")
            return "NACK"
        self._current.received.append(reply)
        if reply not in (ACK, NACK):
            self._end(f"0x{reply:02X}")
            raise An3155Error(f"sync: 0x{reply:02X}, expected ACK 0x79")
        self._end("ACK" if reply == ACK else "NACK (already synchronised)")
        return "ACK" if reply == ACK else "NACK"

    def get(self) -> tuple[int, list[int]]:
        """Get: (bootloader version, supported command codes)."""
        self._command(GET)
        n = self._recv(1)[0]
        body = self._recv(n + 1)
        self._expect_ack("the command list")
        self._end(f"version {body[0] >> 4}.{body[0] & 15}, {n} commands")
        return body[0], list(body[1:])

    def get_version(self) -> tuple[int, int, int]:
        self._command(GET_VERSION)
        body = self._recv(3)
        self._expect_ack("the version")
        self._end(f"version {body[0] >> 4}.{body[0] & 15}")
        return body[0], body[1], body[2]

    def get_id(self) -> int:
        self._command(GET_ID)
        n = self._recv(1)[0]
        body = self._recv(n + 1)
        self._expect_ack("the product ID")
        pid = int.from_bytes(body, "big")
        self._end(f"PID 0x{pid:03X}")
        return pid

    def read_memory(self, address: int, length: int) -> bytes:
        out = bytearray()
        while len(out) < length:
            chunk = min(256, length - len(out))
            at = address + len(out)
            self._command(READ_MEMORY)
            self._address(at)
            self._send(bytes([chunk - 1, (chunk - 1) ^ 0xFF]))
            self._expect_ack("the length")
            out += self._recv(chunk)
            self._end(f"{chunk} B from 0x{at:08X}")
        return bytes(out)

    def write_memory(self, address: int, data: bytes) -> None:
        for offset in range(0, len(data), 256):
            chunk = data[offset:offset + 256]
            at = address + offset
            self._command(WRITE_MEMORY)
            self._address(at)
            frame = bytes([len(chunk) - 1]) + chunk
            self._send(frame + bytes([_xor(frame)]))
            self._expect_ack("the data", timeout_s=self.timeout_s + 0.1)
            self._end(f"{len(chunk)} B to 0x{at:08X}")

    def extended_erase(self, pages: Optional[Iterable[int]] = None) -> None:
        """Erase the given pages, or everything (0xFFFF mass erase) when ``pages`` is None."""
        self._command(EXTENDED_ERASE)
        if pages is None:
            self._send(b"\xff\xff\x00")
            self._expect_ack("mass erase", timeout_s=MASS_ERASE_TIMEOUT_S)
            self._end("mass erase")
            return
        pages = list(pages)
        frame = (len(pages) - 1).to_bytes(2, "big") + b"".join(p.to_bytes(2, "big") for p in pages)
        self._send(frame + bytes([_xor(frame)]))
        self._expect_ack("the page list", timeout_s=self.timeout_s + PAGE_ERASE_TIMEOUT_S * len(pages))
        self._end(f"{len(pages)} page(s) erased")

    def go(self, address: int) -> None:
        self._command(GO)
        self._address(address)
        self._end(f"jump to 0x{address:08X}")

    def write_protect(self, pages: Iterable[int]) -> None:
        pages = list(pages)
        self._command(WRITE_PROTECT)
        frame = bytes([len(pages) - 1, *pages])
        self._send(frame + bytes([_xor(frame)]))
        self._expect_ack("the page list", timeout_s=MASS_ERASE_TIMEOUT_S)
        self._end("write protection set; device resets")

    def _option_command(self, code: int, what: str) -> None:
        self._command(code)
        self._expect_ack(what, timeout_s=MASS_ERASE_TIMEOUT_S)
        self._end(f"{what}; device resets")

    def write_unprotect(self) -> None:
        self._option_command(WRITE_UNPROTECT, "write protection removed")

    def readout_protect(self) -> None:
        self._option_command(READOUT_PROTECT, "readout protection set")

    def readout_unprotect(self) -> None:
        self._option_command(READOUT_UNPROTECT, "readout protection removed")

    # -- log ----------------------------------------------------------------------------------
    def format_log(self, last: Optional[int] = None) -> str:
        entries = self.log if last is None else self.log[-last:]
        return "\n".join(e.line() for e in entries)
