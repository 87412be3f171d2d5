"""Busy-wait detection: skip the iterations of a loop that only polls a status bit.

A poll loop is recognised when the same instruction reads the same register with
the same value twice in a row, with no MMIO write in between and all core registers
(PC, SP, flags, r0-r12, LR) identical at both reads.  The loop is then at a fixed
point: every further iteration repeats exactly until some event changes the
register, so the clock can jump forward by a whole number of iterations to just
before the next scheduled event.  A loop that counts (a software timeout) changes a
register each iteration and is never skipped; it runs at Unicorn speed instead.
Limitation: a loop that stores to RAM but reloads every register from memory
before the poll would look like a fixed point; compilers do not emit such loops for
a status wait, and the trace records every skip so it can be checked.
"""
from __future__ import annotations

from typing import Callable, Optional


class PollDetector:
    def __init__(self, read_state: Callable[[], list[int]], instruction_number: Callable[[], int]) -> None:
        self._read_state = read_state
        self._instruction_number = instruction_number
        self.forget()
        self.pending_skip: Optional[int] = None     # iteration length of a confirmed fixed point
        self.skips = 0

    def forget(self) -> None:
        self._key = None
        self._state = None
        self._at = 0

    def observe_read(self, address: int, value: int) -> bool:
        """Return True when a fixed-point poll loop is confirmed (the caller ends the slice)."""
        key = (address, value)
        if key != self._key:
            self._key = key
            self._state = None
            return False
        state = self._read_state()
        now = self._instruction_number()
        confirmed = state == self._state and now > self._at
        if confirmed:
            self.pending_skip = now - self._at
        self._state = state
        self._at = now
        return confirmed

    def take_skip(self) -> Optional[int]:
        length, self.pending_skip = self.pending_skip, None
        if length:
            self.skips += 1
            self.forget()
        return length
