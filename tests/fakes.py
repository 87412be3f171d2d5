"""Test doubles for peripheral models: services with a clock that only moves when told."""
from __future__ import annotations

import heapq
import itertools
from typing import Callable

from peripherals.services import NullServices


class FakeEvent:
    def __init__(self, clock: "FakeClock", seconds: float, action: Callable[[], None], name: str) -> None:
        self.clock = clock
        self.seconds = seconds
        self.action = action
        self.name = name
        self.cancelled = False

    @property
    def cycle(self) -> int:
        return round(self.seconds * self.clock.hclk_hz())

    def cancel(self) -> None:
        self.cancelled = True


class FakeClock(NullServices):
    """NullServices whose time advances only through ``advance``; events fire in time order."""

    def __init__(self, hclk_hz: int = 12_000_000) -> None:
        super().__init__()
        self._hclk = hclk_hz
        self.seconds = 0.0
        self._queue: list[tuple[float, int, FakeEvent]] = []
        self._order = itertools.count()
        self.resets: list[str] = []

    def now_seconds(self) -> float:
        return self.seconds

    def now_cycles(self) -> int:
        return round(self.seconds * self._hclk)

    def hclk_hz(self) -> int:
        return self._hclk

    def after_seconds(self, seconds, action, name):
        event = FakeEvent(self, self.seconds + seconds, action, name)
        heapq.heappush(self._queue, (event.seconds, next(self._order), event))
        return event

    def after_cycles(self, cycles, action, name):
        return self.after_seconds(cycles / self._hclk, action, name)

    def request_reset(self, cause) -> None:
        super().request_reset(cause)
        self.resets.append(cause)

    def pending_events(self) -> list[FakeEvent]:
        return [e for _, _, e in sorted(self._queue) if not e.cancelled]

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds``, firing due events in order at their own time."""
        end = self.seconds + seconds
        while self._queue and self._queue[0][0] <= end + 1e-12:
            due, _, event = heapq.heappop(self._queue)
            if event.cancelled:
                continue
            self.seconds = max(self.seconds, due)
            event.action()
        self.seconds = end
