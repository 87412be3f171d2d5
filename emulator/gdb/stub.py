"""The GDB remote stub: GDB's packets applied to a halted machine, and run control.

The target halts when GDB connects (after reset, on the reset handler's first
instruction) and whenever a run ends: a breakpoint, a watchpoint, a single step, a
BKPT, Ctrl-C from GDB, a lockup, the guest's exit or the ``--max-time`` limit.
Breakpoints and watchpoints are Unicorn hooks bounded to their address range
(``RunLoop.stop_at``/``watch``), so code elsewhere runs at full speed while they are
set.  Ctrl-C is noticed between slices (``RunLoop.halt_requested``), so a halt lands
on an instruction boundary within one slice, like a halting-debug request (C1.5).

Stop signals use GDB's own numbering (gdb/signals.def): TRAP 5, INT 2, BUS 10,
SEGV 11, XCPU 24.  A lockup reports SIGSEGV, a strict-mode stop SIGBUS, the time
limit SIGXCPU; the reason also goes to GDB's console as an ``O`` packet.
"""
from __future__ import annotations

import socket
import struct
from typing import Callable, Optional


from ..core.cpu import CORE_REGISTERS, EPSR_T
from ..core.runloop import EndReason, RunEnd
from .rsp import Disconnected, RspConnection, unescape
from .target import memory_map, target_description

SIGINT, SIGTRAP, SIGBUS, SIGSEGV, SIGXCPU = 2, 5, 10, 11, 24
REGISTER_NAMES = list(CORE_REGISTERS)
PACKET_SIZE = 0x4000
WATCH_KINDS = {"2": "write", "3": "read", "4": "access"}
WATCH_REPLY = {"write": "watch", "read": "rwatch", "access": "awatch"}
MONITOR_HELP = """monitor commands:
  reset [halt]   system reset (NRST pulse); the core halts on the reset handler
  reset power    power-on reset (option bytes reloaded, EMPTY re-evaluated)
  time           simulated time, cycles and instructions so far
  snapshot FILE  save the machine's state here (for `c071emu diagnose --from-snapshot FILE`)
"""


class Malformed(ValueError):
    """A packet that does not parse: answered with ``E01``."""


ADDRESS_SPACE = 1 << 32


def hex_numbers(text: str, count: int, what: str) -> list[int]:
    """``count`` comma-separated hexadecimal numbers, each a 32-bit unsigned value."""
    parts = text.split(",")
    if len(parts) != count or not all(parts):
        raise Malformed(f"{what}: expected {count} comma-separated hex numbers, got {text!r}")
    try:
        numbers = [int(p, 16) for p in parts]
    except ValueError:
        raise Malformed(f"{what}: {text!r} is not hexadecimal") from None
    if any(not 0 <= n < ADDRESS_SPACE for n in numbers) or any(p.strip() != p or p[0] in "+-" for p in parts):
        raise Malformed(f"{what}: {text!r} is out of the 32-bit range")
    return numbers


def address_range(text: str, what: str) -> tuple[int, int]:
    """``ADDR,LENGTH`` checked to lie inside the 32-bit address space before anything is allocated."""
    address, length = hex_numbers(text, 2, what)
    if address + length > ADDRESS_SPACE:
        raise Malformed(f"{what}: 0x{address:x}+0x{length:x} runs past the end of the address space")
    return address, length


class GdbStub:
    def __init__(self, machine, conn: RspConnection, deadline_ps: Optional[int] = None,
                 log: Callable[[str], None] = lambda text: None) -> None:
        self.m = machine
        self.conn = conn
        self.deadline_ps = deadline_ps
        self.log = log
        self.stop_reply = f"S{SIGTRAP:02x}"
        self.breakpoints: set[int] = set()
        self.watchpoints: set[tuple[int, int, str]] = set()
        self.locked_up: Optional[RunEnd] = None
        self.outcome: Optional[str] = None       # "detach" | "kill" | "exit" | "disconnect"
        self.final_end: Optional[RunEnd] = None
        machine.loop.debugger_attached = True

    # -- the session ------------------------------------------------------------------
    def serve(self) -> str:
        """Answer packets until GDB detaches, kills, disconnects or the guest exits."""
        try:
            while self.outcome is None:
                packet = self.conn.receive()
                reply = self.handle(packet)
                if reply is not None:
                    self.conn.send(reply)
                if packet == b"QStartNoAckMode":
                    self.conn.acknowledging = False
        except (Disconnected, ConnectionError):
            self.outcome = self.outcome or "disconnect"
        self.release()
        return self.outcome

    def release(self) -> None:
        """Leave the machine as if no debugger had been attached."""
        loop = self.m.loop
        for address in self.breakpoints:
            loop.remove_stop(address)
        for watch in self.watchpoints:
            loop.unwatch(*watch)
        self.breakpoints.clear()
        self.watchpoints.clear()
        loop.debugger_attached = False
        loop.halt_requested = None

    def handle(self, packet: bytes) -> Optional[str]:
        try:
            return self._handle(packet)
        except (ValueError, IndexError, struct.error):
            # A malformed packet is GDB's error to see, not the end of the run.  ``Malformed``
            # is a ValueError; the others come from decoding hex of the wrong length.
            return "E01"

    def _handle(self, packet: bytes) -> Optional[str]:
        text = packet.decode("latin-1")
        head = text[:1]
        if text.startswith("qSupported"):
            return (f"PacketSize={PACKET_SIZE:x};qXfer:features:read+;qXfer:memory-map:read+;"
                    "QStartNoAckMode+;hwbreak+;vContSupported+")
        if text == "QStartNoAckMode":
            return "OK"
        if text.startswith("qXfer:features:read:target.xml:"):
            return self._xfer(target_description(), text.rsplit(":", 1)[1])
        if text.startswith("qXfer:memory-map:read::"):
            return self._xfer(memory_map(), text.rsplit(":", 1)[1])
        if text.startswith("qCRC:"):
            address, length = address_range(text[5:], "qCRC")
            try:
                return f"C{gdb_crc32(self.m.debug_read(address, length)):08x}"
            except ValueError:
                return "E14"
        if text.startswith("qRcmd,"):
            return self._monitor(bytes.fromhex(text[6:]).decode(errors="replace").strip())
        if text.startswith("vFlash"):
            return self._flash(packet)
        if text == "qAttached":          # attached to a running target: quitting GDB detaches
            return "1"
        if text == "qC":
            return "QC1"
        if text == "qfThreadInfo":
            return "m1"
        if text == "qsThreadInfo":
            return "l"
        if text == "vCont?":
            # Announcing s (with vContSupported) makes GDB step with the stub instead of
            # planting breakpoints at predicted addresses, which fails across an EXC_RETURN
            return "vCont;c;C;s;S"
        if text.startswith("vCont;"):
            # One thread: the first action decides (GDB lists the stepping thread first)
            action = text[6:].split(";")[0].split(":")[0]
            return self.resume(step=action[:1] in ("s", "S"))
        if head == "?":
            return self.stop_reply
        if head == "g":
            return "".join(struct.pack("<I", v).hex() for v in self._registers())
        if head == "G":
            if len(text) - 1 != 8 * len(REGISTER_NAMES):
                raise Malformed(f"G: expected {len(REGISTER_NAMES)} registers")
            values = struct.unpack(f"<{len(REGISTER_NAMES)}I", bytes.fromhex(text[1:]))
            for name, new, old in zip(REGISTER_NAMES, values, self._registers()):
                if new != old:
                    self._write_register(name, new)
            return "OK"
        if head == "p":
            (number,) = hex_numbers(text[1:], 1, "p")
            return struct.pack("<I", self._registers()[number]).hex() if number < len(REGISTER_NAMES) else "E45"
        if head == "P":
            number, sep, value = text[1:].partition("=")
            (number,) = hex_numbers(number, 1, "P")
            if not sep or len(value) != 8:
                raise Malformed("P: expected NUMBER=8 hex digits")
            if number >= len(REGISTER_NAMES):
                return "E45"
            self._write_register(REGISTER_NAMES[number], struct.unpack("<I", bytes.fromhex(value))[0])
            return "OK"
        if head == "m":
            address, length = address_range(text[1:], "m")
            if length > PACKET_SIZE // 2:
                return "E16"         # more than one reply can carry: GDB asks in PacketSize pieces
            try:
                return self.m.debug_read(address, length).hex()
            except ValueError:
                return "E14"
        if head in ("M", "X"):
            where, sep, data = packet[1:].partition(b":")
            address, length = address_range(where.decode("latin-1"), head)
            if not sep:
                raise Malformed(f"{head}: no ':' before the data")
            payload = bytes.fromhex(data.decode("latin-1")) if head == "M" else unescape(data)
            if len(payload) < length:
                raise Malformed(f"{head}: {len(payload)} data bytes for a length of {length}")
            try:
                self.m.debug_write(address, payload[:length])
            except ValueError:
                return "E14"
            return "OK"
        if head in ("c", "s"):
            if len(text) > 1:
                self._write_register("pc", hex_numbers(text[1:], 1, head)[0])
            return self.resume(step=head == "s")
        if head in ("Z", "z"):
            kind, sep, rest = text[1:].split(";")[0].partition(",")
            if not sep:
                raise Malformed(f"{head}: expected TYPE,ADDR,KIND")
            address, length = address_range(rest, head)
            return self._break_or_watch(head == "Z", kind, address, length)
        if head == "D":
            self.outcome = "detach"
            return "OK"
        if head == "k":
            self.outcome = "kill"
            return None
        if head in ("H", "T"):
            return "OK"
        if text.startswith("qSymbol"):
            return "OK"
        return ""                  # not supported: GDB falls back or says so

    # -- registers and memory ------------------------------------------------------------
    def _registers(self) -> list[int]:
        values = self.m.cpu.all_regs.read()
        values[REGISTER_NAMES.index("pc")] &= ~1
        return values

    def _write_register(self, name: str, value: int) -> None:
        cpu = self.m.cpu
        if name == "xpsr":
            cpu.write("xpsr", value | EPSR_T)       # no Thumb bit means a HardFault on silicon: GDB never means it
            cpu.set_ipsr(value & 0x3F)
        elif name == "control":
            cpu.set_control(value)
        else:
            cpu.write(name, value)

    @staticmethod
    def _xfer(document: str, window: str) -> str:
        offset, length = hex_numbers(window, 2, "qXfer")
        chunk = document[offset:offset + length]
        return ("l" if offset + length >= len(document) else "m") + chunk

    # -- breakpoints and watchpoints ---------------------------------------------------------
    def _break_or_watch(self, insert: bool, kind: str, at: int, size: int) -> str:
        loop = self.m.loop
        if kind in ("0", "1"):              # software and hardware breakpoints are the same hook here
            if insert:
                loop.stop_at(at & ~1)
                self.breakpoints.add(at & ~1)
            else:
                loop.remove_stop(at & ~1)
                self.breakpoints.discard(at & ~1)
            return "OK"
        if kind in WATCH_KINDS:
            watch = (at, max(size, 1), WATCH_KINDS[kind])
            if insert:
                loop.watch(*watch)
                self.watchpoints.add(watch)
            else:
                loop.unwatch(*watch)
                self.watchpoints.discard(watch)
            return "OK"
        return ""

    # -- run control -----------------------------------------------------------------------
    def resume(self, step: bool) -> Optional[str]:
        if self.locked_up is not None:
            self._console(f"c071emu: the core is locked up ({self.locked_up.detail}); 'monitor reset' to recover\n")
            self.stop_reply = f"S{SIGSEGV:02x}"
            return self.stop_reply
        m, loop = self.m, self.m.loop
        output_before = len(m.output)
        self.conn.interrupt_pending = False
        loop.halt_requested = self.conn.poll_interrupt
        try:
            end = loop.run(self.deadline_ps, max_instructions=1 if step else None)
        finally:
            loop.halt_requested = None
        for text in m.output[output_before:]:
            self._console(text)
        self.stop_reply = self._stop_reply(end)
        if self.outcome == "exit":
            self.final_end = end
        return self.stop_reply

    def _stop_reply(self, end: RunEnd) -> str:
        loop = self.m.loop
        if end.reason is EndReason.EXIT:
            self.outcome = "exit"
            return f"W{end.exit_status & 0xFF:02x}"
        if end.reason is EndReason.LOCKUP:
            self.locked_up = end
            self._console(f"c071emu: core lockup: {end.detail}\n")
            return f"S{SIGSEGV:02x}"
        if end.reason is EndReason.STRICT:
            self._console(f"c071emu: {end.detail}\n")
            return f"S{SIGBUS:02x}"
        if end.reason is EndReason.TIME_LIMIT:
            if self.deadline_ps is None:
                # Asleep with nothing left to wake it: on silicon the core just sleeps, so the
                # target looks like it runs until GDB interrupts it.
                self._console(f"c071emu: {end.detail}; waiting for Ctrl-C\n")
                self.conn.wait_interrupt()
                self.conn.interrupt_pending = False
                return f"S{SIGINT:02x}"
            self._console(f"c071emu: {end.detail} (--max-time)\n")
            return f"S{SIGXCPU:02x}"
        if end.reason is EndReason.HALTED and loop.watch_hit is not None:
            hit = loop.watch_hit
            return f"T{SIGTRAP:02x}{WATCH_REPLY[hit.kind]}:{hit.address:x};"
        if end.reason in (EndReason.INTERRUPTED,) or end.detail == "halted by the debugger":
            self.conn.interrupt_pending = False
            return f"S{SIGINT:02x}"
        return f"S{SIGTRAP:02x}"            # breakpoint, step, BKPT

    # -- flash programming (GDB ``load``) ----------------------------------------------------
    def _flash(self, packet: bytes) -> str:
        command, _, rest = packet.partition(b":")
        try:
            if command == b"vFlashErase":
                address, length = address_range(rest.decode("latin-1"), "vFlashErase")
                if not self.m.flash.contains(address, length):     # checked before allocating
                    raise ValueError(f"0x{address:08X}+{length} is not inside main flash")
                self.m.program_flash_directly(address, b"\xFF" * length)
            elif command == b"vFlashWrite":
                address, sep, data = rest.partition(b":")
                if not sep:
                    raise Malformed("vFlashWrite: no ':' before the data")
                (address,) = hex_numbers(address.decode("latin-1"), 1, "vFlashWrite")
                self.m.program_flash_directly(address, unescape(data))
            elif command != b"vFlashDone":
                return ""
        except ValueError as exc:
            self._console(f"c071emu: {exc}\n")
            return "E01"
        return "OK"

    # -- monitor commands -------------------------------------------------------------------
    def _monitor(self, command: str) -> str:
        m = self.m
        words = command.split()
        if words[:1] == ["reset"] and words[1:] in ([], ["halt"], ["power"]):
            cause = "power" if words[1:] == ["power"] else "pin"
            m.loop.reset_request = None
            m.loop.sleeping = False
            m.reset(cause)
            self.locked_up = None
            m.loop.end = None
            self._console(f"{'power-on' if cause == 'power' else 'system'} reset: boot from "
                          f"{m.boot_mode.name.lower().replace('_', ' ')}, PC 0x{m.cpu.pc() & ~1:08X} "
                          f"({m.describe(m.cpu.pc() & ~1) or 'no symbol'})\n")
            return "OK"
        if words == ["time"]:
            self._console(f"simulated {m.seconds() * 1e3:.6f} ms, {m.clock.cycles} cycles at "
                          f"{m.clock.hz / 1e6:g} MHz, {m.loop.instructions} instructions\n")
            return "OK"
        if words[:1] == ["snapshot"] and len(words) == 2:
            from ..analysis.snapshot import take_snapshot
            pc = m.cpu.pc() & ~1
            try:
                take_snapshot(m, f"gdb at 0x{pc:08X}", with_memories=True).save(words[1])
            except OSError as exc:
                self._console(f"snapshot {words[1]}: {exc.strerror or exc}\n")
                return "OK"
            self._console(f"snapshot at PC 0x{pc:08X} ({m.describe(pc) or 'no symbol'}) saved to {words[1]}\n")
            return "OK"
        self._console(MONITOR_HELP if words in ([], ["help"]) else f"unknown monitor command {command!r}\n"
                      + MONITOR_HELP)
        return "OK"

    def _console(self, text: str) -> None:
        self.log(text)
        for i in range(0, len(text), 512):
            self.conn.send("O" + text[i:i + 512].encode().hex())


def _crc_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte << 24
        for _ in range(8):
            crc = (crc << 1 ^ 0x04C1_1DB7 if crc & 0x8000_0000 else crc << 1) & 0xFFFF_FFFF
        table.append(crc)
    return table


CRC_TABLE = _crc_table()


def gdb_crc32(data: bytes) -> int:
    """The CRC of ``qCRC`` (``compare-sections``): CRC-32 polynomial 0x04C11DB7, MSB first,
    initial value 0xFFFFFFFF, no final inversion (GDB manual, "General Query Packets", qCRC)."""
    crc = 0xFFFF_FFFF
    for byte in data:
        crc = (crc << 8 & 0xFFFF_FFFF) ^ CRC_TABLE[(crc >> 24 ^ byte) & 0xFF]
    return crc


def listen(bind: str, port: int) -> socket.socket:
    """The listening socket (port 0: any free port).  Raises OSError if the port is taken."""
    return socket.create_server((bind, port))


def serve_gdb(machine, listener: socket.socket, max_seconds: Optional[float],
              log: Callable[[str], None]) -> RunEnd:
    """One GDB session on an already reset machine; then the run goes on without the
    debugger if GDB detached.  Returns how the run ended."""
    sock, peer = listener.accept()
    listener.close()
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    log(f"GDB: connected from {peer[0]}:{peer[1]}\n")
    deadline = None if max_seconds is None else machine.clock.time_ps() + int(max_seconds * 1e12)
    stub = GdbStub(machine, RspConnection(sock), deadline, log)
    outcome = stub.serve()
    sock.close()
    if outcome == "exit":
        return stub.final_end
    if stub.locked_up is not None:
        return stub.locked_up
    if outcome == "detach":
        log("GDB: detached; the run goes on\n")
        return machine.loop.run(deadline)
    return RunEnd(EndReason.HALTED, "the debugger ended the session", pc=machine.cpu.pc())
