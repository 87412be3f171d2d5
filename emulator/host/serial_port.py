"""A host-side serial port on the machine's clock, and a pseudo-terminal bridge.

``SerialPort`` is the far end of an emulated USART's TX/RX pair (DESIGN: host devices
are agents on the same clock).  It sends characters back to back at its own baud
rate and format - each one starts with ``usart.rx_start`` and lasts the port's
character time - and records every character the USART shifts out with the
simulated time at which its stop bit ended, decoded with the port's own framing
(``peripherals.usart.receive_as``: a baud-rate or format mismatch shows up as a
framing or parity error, as on a real UART).

``PtyBridge`` exposes a ``SerialPort`` as a pseudo-terminal (``os.openpty``) so
unmodified host tools (stm32flash, stm32loader, a terminal program) can talk to the
emulated chip: the baud rate is read from the terminal settings the tool set on the
slave side (tcgetattr; a pty cannot carry parity, see ``_follow_tool_settings``,
so stm32flash needs ``-m 8n1`` to accept the pty), bytes the tool writes are sent
on the simulated line, bytes the USART transmits are written back.  ``run_bridged``
runs the machine in slices and paces simulated time to wall-clock time, so the
tool's own timeouts mean what they say.
"""
from __future__ import annotations

import fcntl
import os
import select
import struct
import termios
import time
import tty
from collections import deque
from dataclasses import dataclass
from typing import Callable, Iterable, Optional

from emulator.core.runloop import EndReason, RunEnd
from peripherals.usart import Framing, receive_as


class SerialTimeout(Exception):
    """The expected bytes did not arrive within the simulated time limit."""


@dataclass
class RxChar:
    time_s: float         # end of the stop bit, simulated seconds
    value: int
    error: str = ""       # "", "parity", "framing"


class SerialPort:
    def __init__(self, machine, usart: str = "USART1", baud: float = 115200, data_bits: int = 8,
                 parity: str = "E", stop_bits: float = 1.0) -> None:
        self.m = machine
        self.usart = getattr(machine, usart.lower())
        self.name = usart
        self.framing = Framing(baud, data_bits, parity, stop_bits)
        self.received: deque[RxChar] = deque()
        self.history: list[tuple[float, str, int, str]] = []     # (time, "tx"/"rx", value, error)
        self._queue: deque[int] = deque()
        self._sending = False
        self._wait_for: Optional[Callable[[], bool]] = None
        self.follow_usart_format = False     # True: data bits/parity/stop taken from the USART (pty bridge)
        # called with each character as its stop bit ends (a bridge passes it on at once)
        self.on_receive: Optional[Callable[[RxChar], None]] = None
        self.usart.on_transmit = self._usart_transmitted

    # -- configuration ---------------------------------------------------------------
    def configure(self, baud: Optional[float] = None, data_bits: Optional[int] = None,
                  parity: Optional[str] = None, stop_bits: Optional[float] = None) -> None:
        f = self.framing
        self.framing = Framing(baud or f.baud, data_bits or f.data_bits, parity or f.parity, stop_bits or f.stop_bits)

    def now(self) -> float:
        return self.m.clock.seconds()

    def line_framing(self) -> Framing:
        """The port's framing now (with the USART's character format when following it)."""
        if not self.follow_usart_format:
            return self.framing
        usart = self.usart.framing()
        return Framing(self.framing.baud, usart.data_bits, usart.parity, usart.stop_bits)

    # -- sending ------------------------------------------------------------------------
    def send(self, data: bytes | Iterable[int]) -> None:
        """Queue characters; they go out back to back once the machine runs."""
        self._queue.extend(data)
        if not self._sending:
            self._sending = True
            self.m.host_after(0, self._next_char, f"{self.name} host TX")

    def _next_char(self) -> None:
        if not self._queue:
            self._sending = False
            self._check_wait()
            return
        value = self._queue.popleft()
        framing = self.line_framing()
        self.history.append((self.now(), "tx", value, ""))
        self.usart.rx_start(value, framing)
        self.m.host_after(framing.char_seconds, self._next_char, f"{self.name} host TX")

    @property
    def sending(self) -> bool:
        return self._sending

    # -- receiving ------------------------------------------------------------------------
    def _usart_transmitted(self, value: int, usart_framing: Framing) -> None:
        data, error = receive_as(usart_framing, self.line_framing(), value)
        ch = RxChar(self.now(), data, error)
        self.received.append(ch)
        self.history.append((ch.time_s, "rx", data, error))
        if self.on_receive is not None:
            self.on_receive(ch)
        self._check_wait()

    def take(self, n: Optional[int] = None) -> bytes:
        """Remove and return up to ``n`` received characters (all if None)."""
        count = len(self.received) if n is None else min(n, len(self.received))
        return bytes(self.received.popleft().value for _ in range(count))

    # -- running the machine until something happens --------------------------------------------
    def _check_wait(self) -> None:
        if self._wait_for is not None and self._wait_for():
            self._wait_for = None
            self.m.loop.end = RunEnd(EndReason.STOP_AT, f"{self.name} host: condition met", pc=self.m.cpu.pc())

    def run_until(self, condition: Callable[[], bool], timeout_s: float, what: str = "") -> None:
        """Run the machine until ``condition()`` holds (checked whenever a character moves)."""
        if condition():
            return
        self._wait_for = condition
        try:
            end = self.m.run(max_seconds=timeout_s)
        finally:
            self._wait_for = None
        if condition():
            return
        raise SerialTimeout(f"{self.name} host: {what or 'condition'} not met within {timeout_s * 1e3:g} ms of "
                            f"simulated time (machine stopped: {end.reason.value}: {end.detail})")

    def read(self, n: int, timeout_s: float = 1.0) -> bytes:
        """Run the machine until ``n`` characters have arrived (or raise ``SerialTimeout``)."""
        self.run_until(lambda: len(self.received) >= n, timeout_s, f"{n} byte(s) from the device")
        return self.take(n)

    def write(self, data: bytes, wait: bool = False, timeout_s: float = 1.0) -> None:
        self.send(data)
        if wait:
            self.run_until(lambda: not self._sending, timeout_s, "sending")

    def drain(self, seconds: float) -> bytes:
        """Run the machine for ``seconds`` and return whatever arrived."""
        self.m.run(max_seconds=seconds)
        return self.take()


# -- pseudo-terminal bridge -------------------------------------------------------------------------
_BAUD_BY_CONSTANT = {getattr(termios, f"B{rate}"): rate for rate in (
    1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 500000, 576000, 921600, 1000000,
    1152000, 1500000, 2000000) if hasattr(termios, f"B{rate}")}


def framing_from_termios(attrs: list) -> Framing:
    """Baud rate and format from tcgetattr() of the slave side (what the tool asked for)."""
    cflag, ospeed = attrs[2], attrs[5]
    data_bits = {termios.CS5: 5, termios.CS6: 6, termios.CS7: 7, termios.CS8: 8}[cflag & termios.CSIZE]
    parity = "N" if not cflag & termios.PARENB else ("O" if cflag & termios.PARODD else "E")
    return Framing(_BAUD_BY_CONSTANT.get(ospeed, 9600), data_bits, parity, 2.0 if cflag & termios.CSTOPB else 1.0)


class PtyBridge:
    """One emulated USART as a pseudo-terminal; ``path`` is what the host tool opens."""

    def __init__(self, port: SerialPort) -> None:
        self.port = port
        self.master, self._slave = os.openpty()
        tty.setraw(self._slave)         # no echo, no line editing until the tool sets its own mode
        self.path = os.ttyname(self._slave)
        os.set_blocking(self.master, False)
        self.bytes_in = self.bytes_out = 0
        port.on_receive = lambda ch: self._deliver()     # a character reaches the tool when it is sent

    def wait_fds(self) -> list[int]:
        """File descriptors whose readiness should wake the run loop."""
        return [self.master]

    def _deliver(self) -> None:
        out = self.port.take()
        if out:
            try:
                os.write(self.master, out)
            except BlockingIOError:
                pass                  # the tool stopped reading and the pty buffer is full: as a UART, drop
            self.bytes_out += len(out)

    def pending(self) -> int:
        """Bytes written to the tool that it has not read yet (the slave side's input queue)."""
        try:
            return struct.unpack("i", fcntl.ioctl(self._slave, termios.FIONREAD, b"\0\0\0\0"))[0]
        except OSError:
            return 0

    def _follow_tool_settings(self) -> None:
        """Baud rate from the tool's terminal settings; character format from the USART.

        Linux pseudo-terminals drop PARENB and force CS8 (drivers/tty/pty.c), so the
        format the tool asked for cannot be seen: the bridge behaves as a USB-serial
        adapter set to the format the emulated USART uses."""
        self.port.follow_usart_format = True
        self.port.configure(baud=framing_from_termios(termios.tcgetattr(self._slave)).baud)

    def pump(self) -> bool:
        """Move bytes both ways; True if the tool sent something."""
        got = False
        self._follow_tool_settings()          # every slice: the USART's format may have changed
        try:
            data = os.read(self.master, 4096)
        except (BlockingIOError, OSError):
            data = b""
        if data:
            self.port.send(data)
            self.bytes_in += len(data)
            got = True
        self._deliver()
        return got

    def close(self) -> None:
        for fd in (self.master, self._slave):
            try:
                os.close(fd)
            except OSError:
                pass


def run_bridged(machine, bridges: list, max_seconds: float, slice_s: float = 2e-3,
                should_stop: Callable[[], bool] = lambda: False) -> RunEnd:
    """Run the machine in slices of simulated time, moving bytes through the bridges.

    Simulated time is kept from running ahead of wall-clock time (the machine waits,
    in ``select``, for the tool), so a tool's timeouts in seconds match simulated seconds;
    when emulation is slower than real time nothing waits.  A bridge that holds the chip
    in reset (``held_in_reset()``: NRST wired to a modem line) stops the machine, and
    pacing starts afresh when it lets go.  Ctrl-C ends the run as "interrupted".
    """
    try:
        return _run_bridged(machine, bridges, max_seconds, slice_s, should_stop)
    except KeyboardInterrupt:
        return RunEnd(EndReason.INTERRUPTED, "interrupted (Ctrl-C)", pc=machine.cpu.pc())


def _open_fds(bridges: list) -> list:
    """What the bridges wait on, without sockets closed meanwhile (fileno -1)."""
    fds = [fd for b in bridges for fd in b.wait_fds()]
    return [fd for fd in fds if (fd if isinstance(fd, int) else fd.fileno()) >= 0]


def _run_bridged(machine, bridges: list, max_seconds: float, slice_s: float,
                 should_stop: Callable[[], bool]) -> RunEnd:
    start_wall = time.monotonic()
    start_sim = run_start = machine.seconds()
    held = False
    while True:
        for b in bridges:
            b.pump()
        fds = _open_fds(bridges)          # after pump: a client that left has closed its socket
        if should_stop():
            return RunEnd(EndReason.STOP_AT, "bridge stopped", pc=machine.cpu.pc())
        if any(getattr(b, "held_in_reset", lambda: False)() for b in bridges):
            held = True
            select.select(fds, [], [], slice_s)
            continue
        if held:                       # out of reset: pace from here
            held, start_wall, start_sim = False, time.monotonic(), machine.seconds()
        remaining = max_seconds - (machine.seconds() - run_start)
        if remaining <= 0:
            return RunEnd(EndReason.TIME_LIMIT, "time limit reached", pc=machine.cpu.pc())
        end = machine.run(max_seconds=min(slice_s, remaining))
        if end.reason not in (EndReason.TIME_LIMIT, EndReason.STOP_AT):
            for b in bridges:
                b.pump()
            return end
        ahead = (machine.seconds() - start_sim) - (time.monotonic() - start_wall)
        if ahead > 0:
            select.select(fds, [], [], ahead)


def linger(bridges: list, wall_seconds: float = 5.0, poll_s: float = 0.02) -> None:
    """After the run: keep the bridges open until each tool has read what the chip sent
    (or closed), for at most ``wall_seconds`` - stm32flash reads the Go ACK after the guest
    has already left the bootloader."""
    deadline = time.monotonic() + wall_seconds
    drained = 0
    while time.monotonic() < deadline:
        for b in bridges:
            b.pump()
        # Bytes written to a pty master reach the slave's input queue through the kernel's
        # flip-buffer work, a moment later: nothing pending is believed on the second look.
        drained = 0 if any(b.pending() for b in bridges) else drained + 1
        if drained == 2:
            return
        try:
            time.sleep(poll_s)
        except KeyboardInterrupt:
            return
