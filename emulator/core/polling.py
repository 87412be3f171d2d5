"""Busy-wait detection: skip the iterations of a loop that only polls status registers.

A loop is recognised at an instruction that reads a peripheral register (its "poll
point") when two consecutive iterations, from one visit of that poll point to the
next, are identical: the same core registers (PC, SP, flags, r0-r12, LR) at each
visit, the same sequence of register reads returning the same values, and no MMIO
write anywhere in between.  The loop is then at a fixed point: every further
iteration repeats exactly until an event changes a register it reads, so the clock
can jump forward by a whole number of iterations to just before the next scheduled
event.  This covers a loop that waits on one bit and a main loop that polls several
peripherals in turn (USB ISTR, then a USART status, then a flag in RAM).

A loop that counts (a software timeout) changes a register each iteration and is
never skipped; it runs at Unicorn speed instead.  Limitation: RAM is not compared,
so a loop that stores to RAM but reloads every register from memory before its poll
point would look like a fixed point; compilers do not emit such loops for a status
wait, and every skip is counted so it can be checked.

A native bus (emulator/core/native) runs this same detector itself while this trail is
empty: ``native`` is then its state (the trail, the visits with their core states and
iterations, ``pending_skip``, ``python_trail``).  Every use of the trail here first
adopts all of it as if observe_read had recorded it, and keeps ``python_trail`` current
so the native side serves reads only while it owns the whole trail.
"""
from __future__ import annotations

from typing import Callable, Optional

MAX_TRAIL = 64          # reads per iteration beyond which a loop is not treated as a poll loop


class PollDetector:
    def __init__(self, read_state: Callable[[], list[int]], instruction_number: Callable[[], int],
                 current_pc: Callable[[], int]) -> None:
        self._read_state = read_state
        self._instruction_number = instruction_number
        self._current_pc = current_pc
        self.pending_skip: Optional[int] = None     # iteration length of a confirmed fixed point
        self.skips = 0
        self._trail: list[tuple[int, int, int]] = []      # (pc, address, value) since the last write
        self._visits: dict[int, tuple] = {}                # pc -> (trail index, state, instruction, reads)
        self.native = None                                  # a native recorder's state, see the module docstring

    def _adopt_native(self) -> None:
        """Take the native detector's trail and visits (recorded while this trail was empty)."""
        native = self.native
        n, native.trail_len = native.trail_len, 0
        visits, native.n_visits = native.n_visits, 0
        trail = self._trail
        trail += zip(native.trail_pc[:n], native.trail_address[:n], native.trail_value[:n])
        for i in range(visits):
            state = None
            if native.visit_has_state[i]:
                words = native.visit_state[i]
                state = (bytes(words)[:64], *words[16:])
            reads = tuple(trail[native.visit_reads_start[i]:native.visit_reads_end[i]]) \
                if native.visit_has_reads[i] else None
            self._visits[native.visit_pc[i]] = (native.visit_index[i], state, native.visit_at[i], reads)
        if native.pending_skip:
            self.pending_skip, native.pending_skip = native.pending_skip, 0
        if trail:
            native.python_trail = 1             # the trail is Python's until it is forgotten

    def forget(self) -> None:
        """Something changed that a poll loop cannot have done (an MMIO write, a reset, a sleep)."""
        native = self.native
        if native is not None:
            native.trail_len = native.n_visits = 0
            native.python_trail = 0
        if self._trail:                     # emptied in place: a write follows most reads
            self._trail.clear()
            self._visits.clear()

    def recent_reads(self) -> list[tuple[int, int, int]]:
        """(pc, address, value) of the register reads since the last write, sleep or skip:
        what a loop that is waiting reads (reports name it)."""
        if self.native is not None and self.native.trail_len:
            self._adopt_native()
        return list(self._trail)

    def has_trail(self) -> bool:
        return bool(self._trail) or self.native is not None and bool(self.native.trail_len)

    def observe_read(self, address: int, value: int, pc: Optional[int] = None) -> bool:
        """Return True when a fixed-point poll loop is confirmed (the caller ends the slice).

        The core registers are read only when a poll point is visited again: a first
        visit costs a dictionary lookup and an append."""
        if pc is None:
            pc = self._current_pc()
        native = self.native
        if native is not None and native.trail_len:
            self._adopt_native()
        trail = self._trail
        visits = self._visits
        previous = visits.get(pc)
        if len(trail) >= MAX_TRAIL:
            self.forget()
            previous = None
        confirmed = False
        if previous is None:
            visits[pc] = (len(trail), None, 0, None)
        else:
            index, state, at, reads = previous
            now_state = self._read_state()
            now = self._instruction_number()
            iteration = tuple(trail[index:])
            # the read happening now must also repeat the last visit's value: the first read
            # that sees a flag change must not be taken for one more identical iteration
            same_value = index < len(trail) and trail[index][2] == value
            if state is not None and now_state == state and reads == iteration and now > at and same_value:
                self.pending_skip = now - at
                confirmed = True
            self._visits[pc] = (len(trail), now_state, now, iteration if now_state == state else None)
        trail.append((pc, address, value))
        if native is not None:
            native.python_trail = 1             # the trail is Python's until it is forgotten
        return confirmed

    def skip_ready(self) -> bool:
        """A fixed point was confirmed in the slice that just ended (here or natively)."""
        return bool(self.pending_skip) or self.native is not None and bool(self.native.pending_skip)

    def take_skip(self) -> Optional[int]:
        native = self.native
        if native is not None and native.pending_skip:
            # confirmed natively, so no Python access came after it: nothing to adopt, since
            # the trail is forgotten below
            self.pending_skip, native.pending_skip = native.pending_skip, 0
        length, self.pending_skip = self.pending_skip, None
        if length:
            self.skips += 1
            self.forget()
        return length
