"""What happened during a run: named events, unmodelled accesses, optional MMIO log.

Events are cheap records kept for the report (a reset, a clock switch, a fault,
an exception entry with its vector source).  The per-access MMIO log, the exception
log and the waveform exist only while ``--trace``/``--vcd`` ask for them
(``emulator/tracing``), so they cost nothing otherwise: one attribute test per MMIO
access and per exception.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Generic, Iterator, Optional, TextIO, TypeVar

from peripherals.c071 import exception_name

from .core.clock import seconds_in

T = TypeVar("T")


class Deferred:
    """A log entry made when it is first read: ``build(arguments)``, kept once made."""
    __slots__ = ("build", "arguments", "made")

    def __init__(self, build: Callable[[Any], Any], arguments: Any) -> None:
        self.build, self.arguments, self.made = build, arguments, None

    def get(self) -> Any:
        if self.made is None:
            self.made = self.build(self.arguments)
            self.arguments = None
        return self.made


def _made(item):
    return item.get() if type(item) is Deferred else item


class HeadTailLog(Generic[T]):
    """An append-only log bounded in memory: the first ``head`` and the last ``tail`` items,
    plus every item ``keep`` says must never be dropped (a fault, a reset).

    Positions are absolute: ``len(log)`` counts every item ever appended, and ``log[a:b]``
    gives the items still held whose position lies in ``a:b``, so "the events since mark"
    (``log[mark:]``) keeps its meaning after items in the middle were dropped.  ``dropped``
    says how many were; reports print it, so a cap is never silent.  An item appended as a
    ``Deferred`` is read as what it makes."""

    def __init__(self, head: int, tail: int, keep: Callable[[T], bool] = lambda item: False) -> None:
        self._head_size, self._tail_size, self._keep = head, tail, keep
        self._head: list[tuple[int, T]] = []
        self._kept: list[tuple[int, T]] = []
        self._tail: deque[tuple[int, T]] = deque()
        self._count = 0
        self.dropped = 0

    def append(self, item: T) -> None:
        entry = (self._count, item)
        self._count += 1
        if len(self._head) < self._head_size:
            self._head.append(entry)
            return
        self._tail.append(entry)
        if len(self._tail) > self._tail_size:
            old = self._tail.popleft()
            if self._keep(_made(old[1])):
                self._kept.append(old)
            else:
                self.dropped += 1

    def _entries(self) -> Iterator[tuple[int, T]]:
        yield from self._head
        yield from self._kept
        yield from self._tail

    def __iter__(self) -> Iterator[T]:
        return (_made(item) for _, item in self._entries())

    def __len__(self) -> int:
        return self._count

    def __bool__(self) -> bool:
        return self._count > 0

    def __getitem__(self, key):
        if isinstance(key, slice):
            start, stop, step = key.indices(self._count)
            return [_made(item) for at, item in self._entries() if start <= at < stop][::step]
        at = key + self._count if key < 0 else key
        for position, item in self._entries():
            if position == at:
                return _made(item)
        raise IndexError(f"item {key} was dropped or never logged")

    def clear(self) -> None:
        self._head.clear()
        self._kept.clear()
        self._tail.clear()
        self._count = self.dropped = 0


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


class ExceptionEvent:
    """An exception entry, return or fault in the event log, read like a ``TraceEvent``;
    its time and text are worked out only when asked (a 1 kHz tick logs two events a
    millisecond, and few are ever read)."""
    __slots__ = ("record", "_epoch", "where", "_text")

    def __init__(self, record: Any, epoch: tuple[int, int, int], where: Optional[str]) -> None:
        self.record = record            # an emulator.core.exceptions.ExceptionRecord
        self._epoch = epoch             # SimClock.epoch when it happened
        self.where = where
        self._text: Optional[str] = None

    @property
    def kind(self) -> str:
        return "exception." + self.record.kind

    @property
    def seconds(self) -> float:
        return seconds_in(self._epoch, self.record.cycle)

    @property
    def cycle(self) -> int:
        return self.record.cycle

    @property
    def pc(self) -> int:
        return self.record.pc

    @property
    def text(self) -> str:
        if self._text is None:
            self._text = f"{exception_name(self.record.number)}: {self.record.detail}"
        return self._text

    line = TraceEvent.line


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


def decisive(event: TraceEvent) -> bool:
    """Events a capped log never drops: what ends or redirects a run."""
    return (event.kind.startswith(("exception.fault", "lockup", "reset", "scb.sysresetreq", "iwdg", "wwdg"))
            or event.kind == "exception.entry" and event.text.startswith(("HardFault", "NMI")))


class Trace:
    MAX_EVENTS = 100_000            # held in memory: the first and the last half, and every decisive one

    def __init__(self) -> None:
        self.events: HeadTailLog[TraceEvent] = HeadTailLog(self.MAX_EVENTS // 2, self.MAX_EVENTS // 2, decisive)
        self.unmodelled: dict[tuple, UnmodelledAccess] = {}
        self.mmio_out: Optional[TextIO] = None
        self.echo: Optional[Callable[[str], None]] = None
        self.exception_observers: list[Callable[[Any], None]] = []    # called with each ExceptionRecord
        self.waveform: Optional[Any] = None        # a tracing.waveform.Waveform: after_access(peripheral, is_write)

    def add(self, event: TraceEvent) -> None:
        self.events.append(event)
        if self.echo:
            self.echo(event.line())

    def defer(self, build: Callable[[Any], TraceEvent], arguments: Any) -> None:
        """An event ``build(arguments)`` makes when the log is first read there: the caller
        passes everything it depends on (a 1 kHz tick logs two exception events a
        millisecond, and few are ever read).  Only while nothing echoes the log."""
        self.events.append(Deferred(build, arguments))

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
