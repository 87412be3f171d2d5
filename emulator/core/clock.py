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
from typing import Callable, Optional

PS_PER_S = 10**12


def delay_ps(seconds: float) -> int:
    """A delay in picoseconds, at least one: an event never lands on the instant that schedules it."""
    return max(int(seconds * PS_PER_S), 1)


def seconds_in(epoch: tuple[int, int, int], cycle: int) -> float:
    """The time of ``cycle`` counted from an ``epoch`` (``SimClock.epoch`` when it was taken)."""
    base_ps, base_cycles, hz = epoch
    return (base_ps + (cycle - base_cycles) * PS_PER_S // hz) / PS_PER_S


class SimClock:
    def __init__(self, hz: int) -> None:
        self.cycles = 0
        self._rebase(0, 0, hz)

    def _rebase(self, time_ps: int, cycles: int, hz: int) -> None:
        """From ``cycles`` on, time counts from ``time_ps`` at ``hz``."""
        self._base_ps, self._base_cycles, self.hz = time_ps, cycles, hz
        self.epoch = (time_ps, cycles, hz)      # the same, kept whole: a time can be derived later from it

    def time_ps(self, cycles: Optional[int] = None) -> int:
        c = self.cycles if cycles is None else cycles
        return self._base_ps + (c - self._base_cycles) * PS_PER_S // self.hz

    def seconds(self, cycles: Optional[int] = None) -> float:
        return self.time_ps(cycles) / PS_PER_S

    def cycle_at(self, time_ps: int) -> int:
        """First cycle whose time is at or after ``time_ps``."""
        delta = time_ps - self._base_ps
        return self._base_cycles + -(-delta * self.hz // PS_PER_S)

    def pass_time_without_cycles(self, time_ps: int) -> None:
        """HCLK stopped (Stop and Standby, RM0490 §5.3): time moves on to ``time_ps`` while the
        cycle count stays.  Counters of the HCLK domain (SysTick, everything scheduled in
        cycles) therefore stand still; events defined in seconds must then be re-placed on
        the cycle axis (``Scheduler.frequency_changed``)."""
        now = self.time_ps()
        if time_ps > now:
            self._rebase(time_ps, self.cycles, self.hz)

    def restore(self, cycles: int, time_ps: int, hz: int) -> None:
        """Continue a saved state: at ``cycles`` the time is ``time_ps``, counting at ``hz``."""
        self.cycles = cycles
        self._rebase(time_ps, cycles, hz)

    def set_frequency(self, hz: int, at_cycle: int) -> None:
        if hz == self.hz:
            return
        self._rebase(self.time_ps(at_cycle), at_cycle, hz)


class Event:
    """One scheduled action.  Ordered by (cycle, seq): the scheduler keeps (cycle, seq, event)
    tuples on its heap, so ordering costs C tuple comparisons rather than Python ones."""
    __slots__ = ("cycle", "seq", "name", "action", "time_ps", "cancelled", "outside_chip")

    def __init__(self, cycle: int, seq: int, name: str, action: Callable[[], None],
                 time_ps: Optional[int] = None, cancelled: bool = False, outside_chip: bool = False) -> None:
        self.cycle = cycle
        self.seq = seq
        self.name = name
        self.action = action
        self.time_ps = time_ps
        self.cancelled = cancelled
        self.outside_chip = outside_chip      # a host's event: survives chip resets

    def __lt__(self, other: "Event") -> bool:
        return (self.cycle, self.seq) < (other.cycle, other.seq)

    def __repr__(self) -> str:
        return f"Event(cycle={self.cycle}, seq={self.seq}, name={self.name!r})"

    def cancel(self) -> None:
        self.cancelled = True


class Scheduler:
    def __init__(self, clock: SimClock) -> None:
        self.clock = clock
        self._queue: list[tuple[int, int, Event]] = []
        self._seq = itertools.count()

    def at_cycle(self, cycle: int, action: Callable[[], None], name: str) -> Event:
        ev = Event(cycle, next(self._seq), name, action)
        heapq.heappush(self._queue, (cycle, ev.seq, ev))
        return ev

    def at_time_ps(self, time_ps: int, action: Callable[[], None], name: str, outside_chip: bool = False) -> Event:
        ev = Event(self.clock.cycle_at(time_ps), next(self._seq), name, action, time_ps, outside_chip=outside_chip)
        heapq.heappush(self._queue, (ev.cycle, ev.seq, ev))
        return ev

    def next_cycle(self) -> Optional[int]:
        q = self._queue
        while q and q[0][2].cancelled:
            heapq.heappop(q)
        return q[0][0] if q else None

    def next_time_ps(self) -> Optional[int]:
        """Time of the earliest event defined in seconds (LSI/LSE-clocked blocks, hosts): the
        only events that can come while HCLK is stopped."""
        times = [e.time_ps for _, _, e in self._queue if e.time_ps is not None and not e.cancelled]
        return min(times) if times else None

    def due(self, now: int) -> bool:
        """An event (perhaps a cancelled one) is at or before ``now``: ``pop_due`` has work."""
        q = self._queue
        return bool(q) and q[0][0] <= now

    def pop_due(self, now: int) -> Optional[Event]:
        q = self._queue
        while q and (q[0][0] <= now or q[0][2].cancelled):
            ev = heapq.heappop(q)[2]
            if not ev.cancelled:
                return ev
        return None

    def frequency_changed(self) -> None:
        """Re-place events that were defined in seconds on the new cycle axis."""
        for _, _, ev in self._queue:
            if ev.time_ps is not None and not ev.cancelled:
                ev.cycle = self.clock.cycle_at(ev.time_ps)
        self._queue = [(ev.cycle, ev.seq, ev) for _, _, ev in self._queue]
        heapq.heapify(self._queue)

    def pending(self) -> list[Event]:
        return [e for _, _, e in sorted(self._queue) if not e.cancelled]

    def clear(self) -> None:
        """A chip reset: the chip's own events go; those of agents outside it (hosts) stay."""
        self._queue = [entry for entry in self._queue if entry[2].outside_chip and not entry[2].cancelled]
        heapq.heapify(self._queue)
