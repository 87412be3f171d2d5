"""An emulated USART as a network serial port (RFC 2217, "Telnet Com Port Control"), with the
modem lines wired to BOOT0 and NRST as on boards flashed through a USB-UART adapter.

pyserial's ``serial.rfc2217.PortManager`` carries the protocol (Telnet negotiation, the
COM-PORT-OPTION subnegotiations, IAC escaping); this module gives it the port it manages:

- the baud rate, data bits, parity and stop bits a client sets (SET-BAUDRATE, SET-DATASIZE,
  SET-PARITY, SET-STOPSIZE) become the framing of the host end of the simulated line
  (``SerialPort.configure``): a client at the wrong rate or format sees what a real UART
  would, framing and parity errors included;
- DTR and RTS (SET-CONTROL) go to the ``SerialWiring``.

Wiring ``boot0-reset`` (the default; AN2606 "hardware connection" / stm32loader's and
stm32flash's ``-i`` conventions): a USB-UART adapter's DTR and RTS outputs are inverted - an
asserted line is low.  DTR drives NRST: the chip is held in reset while DTR is asserted and
starts when it is released (a pin reset, RM0490 §6.1.2).  RTS drives BOOT0 (PA14): asserted
= 0, released = 1; BOOT0 is sampled when NRST is released (RM0490 §3.5).  Wiring ``none``
leaves both lines unconnected.

=======  ==========  ===========================================
line     asserted    effect
=======  ==========  ===========================================
DTR      low         NRST low: chip held in reset until released
DTR      high        NRST released: pin reset, BOOT0 sampled
RTS      low         BOOT0 = 0 (boot from main flash)
RTS      high        BOOT0 = 1 (system memory, with nBOOT_SEL = 0)
=======  ==========  ===========================================
"""
from __future__ import annotations

import select
import socket
from typing import Optional

import serial
import serial.rfc2217

from .serial_port import SerialPort

BOOT0_PIN = "PA14"           # RM0490 §3.1: PA14-BOOT0
WIRINGS = ("boot0-reset", "none")


class SerialWiring:
    """DTR -> NRST and RTS -> BOOT0 through an adapter's inverted outputs (see the module doc)."""

    def __init__(self, machine, mode: str = "boot0-reset") -> None:
        if mode not in WIRINGS:
            raise ValueError(f"serial wiring {mode!r}: one of {', '.join(WIRINGS)}")
        self.m = machine
        self.mode = mode
        self.nrst_held = False
        self.boot0 = 1                # RTS released (high) until a client says otherwise

    def set_rts(self, asserted: bool) -> None:
        self.boot0 = 0 if asserted else 1
        if self.mode == "boot0-reset":
            self.m.drive_pin(BOOT0_PIN, self.boot0)

    def set_dtr(self, asserted: bool) -> None:
        if self.mode != "boot0-reset" or asserted == self.nrst_held:
            return
        self.nrst_held = asserted
        if asserted:
            self.m.event("reset", "NRST held low by the serial adapter's DTR")
        else:
            self.m.drive_pin(BOOT0_PIN, self.boot0)
            self.m.reset("pin")           # BOOT0 is sampled as NRST goes high


class _EmulatedPort:
    """The ``serial.Serial``-like object ``PortManager`` reads and sets."""

    def __init__(self, port: SerialPort, wiring: SerialWiring) -> None:
        self._port, self._wiring = port, wiring
        self._dtr = self._rts = False
        self.xonxoff = self.rtscts = False
        self.break_condition = False
        self.cts = self.dsr = self.ri = self.cd = False

    # framing of the host end of the line
    @property
    def baudrate(self) -> int:
        return int(self._port.framing.baud)

    @baudrate.setter
    def baudrate(self, value: int) -> None:
        self._port.configure(baud=value)

    @property
    def bytesize(self) -> int:
        return self._port.framing.data_bits

    @bytesize.setter
    def bytesize(self, value: int) -> None:
        if value not in (7, 8, 9):
            raise ValueError(f"data size {value}: the USART line carries 7, 8 or 9 bits")
        self._port.configure(data_bits=value)

    @property
    def parity(self) -> str:
        return self._port.framing.parity

    @parity.setter
    def parity(self, value: str) -> None:
        if value not in (serial.PARITY_NONE, serial.PARITY_EVEN, serial.PARITY_ODD):
            raise ValueError(f"parity {value!r}: none, even or odd")
        self._port.configure(parity=value)

    @property
    def stopbits(self) -> float:
        return self._port.framing.stop_bits

    @stopbits.setter
    def stopbits(self, value: float) -> None:
        self._port.configure(stop_bits=value)

    # modem lines
    @property
    def dtr(self) -> bool:
        return self._dtr

    @dtr.setter
    def dtr(self, asserted: bool) -> None:
        self._dtr = bool(asserted)
        self._wiring.set_dtr(self._dtr)

    @property
    def rts(self) -> bool:
        return self._rts

    @rts.setter
    def rts(self, asserted: bool) -> None:
        self._rts = bool(asserted)
        self._wiring.set_rts(self._rts)

    def reset_input_buffer(self) -> None:
        self._port.take()

    def reset_output_buffer(self) -> None:
        pass


class _Connection:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def write(self, data: bytes) -> None:
        self.sock.sendall(data)


class Rfc2217Bridge:
    """One emulated USART served over RFC 2217 on a TCP port; one client at a time."""

    def __init__(self, port: SerialPort, bind: str = "127.0.0.1", tcp_port: int = 0,
                 wiring: Optional[SerialWiring] = None) -> None:
        self.port = port
        self.wiring = wiring or SerialWiring(port.m, "none")
        self.listener = socket.create_server((bind, tcp_port))
        self.listener.setblocking(False)
        self.address = self.listener.getsockname()[:2]
        self.url = f"rfc2217://{self.address[0]}:{self.address[1]}"
        self.client: Optional[socket.socket] = None
        self.manager: Optional[serial.rfc2217.PortManager] = None
        self._port = _EmulatedPort(port, self.wiring)
        self.bytes_in = self.bytes_out = 0
        self.port.follow_usart_format = False        # the client's format is the host end's format
        port.on_receive = lambda ch: self._deliver()

    def wait_fds(self) -> list:
        return [self.client if self.client is not None else self.listener]

    def held_in_reset(self) -> bool:
        return self.wiring.nrst_held

    def pending(self) -> int:
        return 0                    # sent bytes are in the kernel's socket buffer

    def _accept(self) -> None:
        try:
            sock, _ = self.listener.accept()
        except BlockingIOError:
            return
        sock.setblocking(True)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.client = sock
        self.manager = serial.rfc2217.PortManager(self._port, _Connection(sock))

    def _drop_client(self) -> None:
        if self.client is not None:
            self.client.close()
        self.client = self.manager = None
        # the adapter's port is closed: its outputs go back to released
        self._port.dtr = False
        self._port.rts = False

    def _deliver(self) -> None:
        out = self.port.take()
        if not out or self.manager is None:
            return
        try:
            self.client.sendall(b"".join(self.manager.escape(out)))
            self.bytes_out += len(out)
        except OSError:
            self._drop_client()

    def pump(self) -> bool:
        if self.client is None:
            self._accept()
            if self.client is None:
                return False
        got = False
        while select.select([self.client], [], [], 0)[0]:
            try:
                data = self.client.recv(4096)
            except OSError:
                data = b""
            if not data:
                self._drop_client()
                return got
            payload = bytes(b"".join(self.manager.filter(data)))
            if payload and not self.wiring.nrst_held:      # a chip held in reset hears nothing
                self.port.send(payload)
                self.bytes_in += len(payload)
                got = True
        self._deliver()
        return got

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
        self.listener.close()
