"""Simulated time: one HCLK cycle counter and the event queue that drives the run loop.

Cycle model: every executed instruction costs one HCLK cycle (Cortex-M0+ executes
most instructions in one cycle; loads, stores and taken branches take two, and flash
wait states add more - ignored, so simulated time runs slightly fast for code and is
exact for timers, which count HCLK edges).  Time in seconds is derived from the
cycle count and the HCLK frequency in force between frequency changes, so it stays
exact and deterministic when the RCC model switches clocks.

Events live on the cycle axis.  An event defined in wall-clock terms (an oscillator
start-up, a watchdog period in LSI ticks, a flash erase) keeps its deadline in
picoseconds and is moved on the cycle axis whenever HCLK changes.
"""
from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass, field
from typing import Callable, Optional

PS_PER_S = 10**12


class SimClock:
    def __init__(self, hz: int) -> None:
        self.cycles = 0
        self.hz = hz
        self._base_cycles = 0
        self._base_ps = 0

    def time_ps(self, cycles: Optional[int] = None) -> int:
        c = self.cycles if cycles is None else cycles
        return self._base_ps + (c - self._base_cycles) * PS_PER_S // self.hz

    def seconds(self, cycles: Optional[int] = None) -> float:
        return self.time_ps(cycles) / PS_PER_S

    def cycle_at(self, time_ps: int) -> int:
        """First cycle whose time is at or after ``time_ps``."""
        delta = time_ps - self._base_ps
        return self._base_cycles + -(-delta * self.hz // PS_PER_S)

    def restore(self, cycles: int, time_ps: int, hz: int) -> None:
        """Continue a saved state: at ``cycles`` the time is ``time_ps``, counting at ``hz``."""
        self.cycles, self.hz = cycles, hz
        self._base_cycles, self._base_ps = cycles, time_ps

    def set_frequency(self, hz: int, at_cycle: int) -> None:
        if hz == self.hz:
            return
        self._base_ps = self.time_ps(at_cycle)
        self._base_cycles = at_cycle
        self.hz = hz


@dataclass(order=True)
class Event:
    cycle: int
    seq: int
    name: str = field(compare=False)
    action: Callable[[], None] = field(compare=False, repr=False)
    time_ps: Optional[int] = field(compare=False, default=None)
    cancelled: bool = field(compare=False, default=False)
    outside_chip: bool = field(compare=False, default=False)   # a host's event: survives chip resets

    def cancel(self) -> None:
        self.cancelled = True


class Scheduler:
    def __init__(self, clock: SimClock) -> None:
        self.clock = clock
        self._queue: list[Event] = []
        self._seq = itertools.count()

    def at_cycle(self, cycle: int, action: Callable[[], None], name: str) -> Event:
        ev = Event(cycle, next(self._seq), name, action)
        heapq.heappush(self._queue, ev)
        return ev

    def at_time_ps(self, time_ps: int, action: Callable[[], None], name: str, outside_chip: bool = False) -> Event:
        ev = Event(self.clock.cycle_at(time_ps), next(self._seq), name, action, time_ps, outside_chip=outside_chip)
        heapq.heappush(self._queue, ev)
        return ev

    def next_cycle(self) -> Optional[int]:
        q = self._queue
        while q and q[0].cancelled:
            heapq.heappop(q)
        return q[0].cycle if q else None

    def pop_due(self, now: int) -> Optional[Event]:
        q = self._queue
        while q and (q[0].cancelled or q[0].cycle <= now):
            ev = heapq.heappop(q)
            if not ev.cancelled:
                return ev
        return None

    def frequency_changed(self) -> None:
        """Re-place events that were defined in seconds on the new cycle axis."""
        for ev in self._queue:
            if ev.time_ps is not None and not ev.cancelled:
                ev.cycle = self.clock.cycle_at(ev.time_ps)
        heapq.heapify(self._queue)

    def pending(self) -> list[Event]:
        return sorted(e for e in self._queue if not e.cancelled)

    def clear(self) -> None:
        """A chip reset: the chip's own events go; those of agents outside it (hosts) stay."""
        self._queue = [e for e in self._queue if e.outside_chip and not e.cancelled]
        heapq.heapify(self._queue)
