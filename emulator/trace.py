"""What happened during a run: named events, unmodelled accesses, optional MMIO log.

Events are cheap records kept for the report (a reset, a clock switch, a fault,
an exception entry with its vector source).  The per-access MMIO log, the exception
log and the waveform exist only while ``--trace``/``--vcd`` ask for them
(``emulator/tracing``), so they cost nothing otherwise: one attribute test per MMIO
access and per exception.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional, TextIO


@dataclass
class TraceEvent:
    cycle: int
    seconds: float
    kind: str
    text: str
    pc: Optional[int] = None
    where: Optional[str] = None

    def line(self) -> str:
        at = f" pc=0x{self.pc:08X}" if self.pc is not None else ""
        where = f" ({self.where})" if self.where else ""
        return f"[{self.seconds * 1e3:12.6f} ms] {self.kind:<22} {self.text}{at}{where}"


@dataclass
class UnmodelledAccess:
    what: str                 # "USART1+0x0C" or "FLASH.KEYR.KEY"
    is_write: bool
    value: Optional[int]
    pc: Optional[int]
    where: Optional[str]
    count: int = 1

    def line(self) -> str:
        verb = "write" if self.is_write else "read"
        value = f" value=0x{self.value:08X}" if self.value is not None else ""
        pc = f" pc=0x{self.pc:08X}" if self.pc is not None else ""
        where = f" in {self.where}" if self.where else ""
        times = f" (x{self.count})" if self.count > 1 else ""
        return f"unmodelled {verb} {self.what}{value}{pc}{where}{times}"


class Trace:
    MAX_EVENTS = 100_000

    def __init__(self) -> None:
        self.events: list[TraceEvent] = []
        self.unmodelled: dict[tuple, UnmodelledAccess] = {}
        self.mmio_out: Optional[TextIO] = None
        self.echo: Optional[Callable[[str], None]] = None
        self.exception_observers: list[Callable[[Any], None]] = []    # called with each ExceptionRecord
        self.waveform: Optional[Any] = None        # a tracing.waveform.Waveform: after_access(peripheral, is_write)

    def add(self, event: TraceEvent) -> None:
        if len(self.events) < self.MAX_EVENTS:
            self.events.append(event)
        if self.echo:
            self.echo(event.line())

    def add_unmodelled(self, access: UnmodelledAccess) -> bool:
        """Record; return True the first time this (place, direction, pc) is seen."""
        key = (access.what, access.is_write, access.pc)
        seen = self.unmodelled.get(key)
        if seen:
            seen.count += 1
            return False
        self.unmodelled[key] = access
        return True

    def of_kind(self, prefix: str) -> list[TraceEvent]:
        return [e for e in self.events if e.kind.startswith(prefix)]
