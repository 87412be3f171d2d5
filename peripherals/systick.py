"""SysTick timer at 0xE000E010 (ARMv6-M B3.3; RM0490 §6.2 and §13.2 for the C071 clocking).

The counter is not stepped: its value is computed from the cycle counter, and the
model schedules one event at the next time it reaches zero.  From VAL = 0 the
first clock edge loads RELOAD; the wrap to zero (COUNTFLAG, exception) then comes
every RELOAD + 1 ticks.  CLKSOURCE = 1 counts HCLK, 0 counts HCLK/8 (RM0490 §6.2).

A wrap that finds COUNTFLAG already set and the exception already pending (or TICKINT
clear) changes nothing, and neither do the wraps after it until COUNTFLAG is read or
the pending bit clears: the model then schedules no event ("dormant") and picks the
count up again at either (a core that cannot take SysTick - stuck in HardFault, say -
would otherwise meet an event every period for nothing).
"""
from __future__ import annotations

from . import c071
from .nvic import ExceptionBook
from .regs import BusKind, Peripheral, reg, ro, rw

CALIB_TENMS = 1000   # RM0490 §13.2: calibration value 1000 (1 ms at HCLK/8 = 1 MHz... as stated)


class SysTick(Peripheral):
    SHORTCUTS = True          # False: an event at every wrap, each placed from the count (tests compare)
    name = "SysTick"
    bus = BusKind.PPB_WORD
    size = 0x10
    manual = "ARMv6-M ARM B3.3"

    def __init__(self, base: int = 0xE000_E010, services=None, book: ExceptionBook | None = None) -> None:
        self.book = book or ExceptionBook()
        self.book.on_cleared[c071.SYSTICK] = self._wake
        registers = [
            reg("CTRL", 0x0, 0, rw("ENABLE", 0), rw("TICKINT", 1), rw("CLKSOURCE", 2), ro("COUNTFLAG", 16),
                on_read=self._ctrl_read, read_has_side_effects=True, on_write=self._ctrl_write),
            reg("LOAD", 0x4, 0, rw("RELOAD", 0, 24)),
            reg("VAL", 0x8, 0, rw("CURRENT", 0, 24), on_read=lambda v: self.current_value(),
                on_write=self._val_write),
            reg("CALIB", 0xC, CALIB_TENMS, ro("TENMS", 0, 24), ro("SKEW", 30), ro("NOREF", 31)),
        ]
        super().__init__(base, services, registers)

    def on_reset(self) -> None:
        self._event = None
        self._anchor = 0          # tick origin (in HCLK cycles)
        self._start = 0           # counter value at the anchor
        self._countflag = False
        self._divider = 8
        self._dormant = False
        self._scheduled_reload = 0     # LOAD when the pending wrap was scheduled

    # -- counting --------------------------------------------------------------
    @property
    def enabled(self) -> bool:
        return bool(self.reg["CTRL"].value & 1)

    def _ticks(self) -> int:
        return (self.services.now_cycles() - self._anchor) // self._divider

    def current_value(self) -> int:
        if not self.enabled:
            return self._start
        reload = self.reg["LOAD"].value & 0xFFFFFF
        k = self._ticks()
        first = self._start if self._start else reload + 1
        if reload == 0:
            return 0
        if k < first:
            return self._start if k == 0 else first - k
        kk = (k - first) % (reload + 1)
        return 0 if kk == 0 else reload + 1 - kk

    def _next_wrap_tick(self) -> int | None:
        reload = self.reg["LOAD"].value & 0xFFFFFF
        if reload == 0:
            return None
        first = self._start if self._start else reload + 1
        k = self._ticks()
        if k < first:
            return first
        return first + ((k - first) // (reload + 1) + 1) * (reload + 1)

    def _reanchor(self) -> None:
        """Freeze the current value as a new origin (on enable, clock-source change, VAL write)."""
        self._start = self.current_value() if self.enabled else self._start
        self._anchor = self.services.now_cycles()

    def _schedule(self) -> None:
        self._dormant = False
        if self._event:
            self._event.cancel()
            self._event = None
        if not self.enabled:
            return
        tick = self._next_wrap_tick()
        self._scheduled_reload = self.reg["LOAD"].value & 0xFFFFFF
        if tick is not None:
            cycle = self._anchor + tick * self._divider
            self._event = self.services.after_cycles(cycle - self.services.now_cycles(), self._wrap, "SysTick wrap")

    def _wrap(self) -> None:
        tickint = self.reg["CTRL"].value & 2
        unchanged = self._countflag and (not tickint or self.book.is_pending(c071.SYSTICK))
        self._countflag = True
        if tickint:
            self.book.pend(c071.SYSTICK)
        if unchanged and self.SHORTCUTS:
            self._event, self._dormant = None, True
            return
        # The next wrap is one period after this one's cycle, as _schedule would compute it
        # from the count - unless LOAD changed since, or this wrap came a period or more late.
        reload, event = self.reg["LOAD"].value & 0xFFFFFF, self._event
        now = self.services.now_cycles()
        if self.SHORTCUTS and event is not None and reload and reload == self._scheduled_reload \
                and 0 <= now - event.cycle < (reload + 1) * self._divider:
            self._event = self.services.after_cycles(event.cycle + (reload + 1) * self._divider - now, self._wrap,
                                                     "SysTick wrap")
        else:
            self._schedule()

    def _wake(self) -> None:
        """COUNTFLAG was read or the exception's pending bit cleared: wraps matter again."""
        if self._dormant:
            self._schedule()

    # -- registers ----------------------------------------------------------------
    def _ctrl_read(self, stored: int) -> int:
        value = stored | (self._countflag << 16)
        self._countflag = False           # COUNTFLAG clears when CTRL is read
        self._wake()
        return value

    def peek_countflag(self) -> bool:
        return self._countflag

    def _ctrl_write(self, old: int, new: int) -> None:
        was_enabled = bool(old & 1)
        if was_enabled:
            self._start = self._value_with(old)
        self._anchor = self.services.now_cycles()
        self._divider = 1 if new & 4 else 8
        self._schedule()

    def _value_with(self, ctrl: int) -> int:
        saved = self.reg["CTRL"].value
        self.reg["CTRL"].value = ctrl
        try:
            return self.current_value()
        finally:
            self.reg["CTRL"].value = saved

    def _val_write(self, old: int, new: int) -> None:
        # Any write clears the counter and COUNTFLAG (B3.3.5)
        self.reg["VAL"].value = 0
        self._start = 0
        self._anchor = self.services.now_cycles()
        self._countflag = False
        self._schedule()
