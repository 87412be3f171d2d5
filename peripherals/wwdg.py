"""System window watchdog (WWDG) - RM0490 WWDG chapter (§23), register map §23.5.

Register table (offsets and reset values as ST's SVD, STM32C071.svd):

  0x00 CR   reset 0x7F  T[6:0] down-counter, WDGA[7] activation (set by software,
                        cleared only by a reset)
  0x04 CFR  reset 0x7F  W[6:0] window, EWI[9] early wake-up interrupt enable (set by
                        software, cleared by a reset), WDGTB[13:11] timer base
  0x08 SR   reset 0     EWIF[0] early wake-up flag (write 0 to clear, writing 1 has no effect)

Behaviour (SVD field descriptions, RM0490 §23.3):
* The counter decrements every 4096 * 2^WDGTB PCLK cycles.  It is computed from the
  clock when read, never stepped: the machine clock counts HCLK cycles, so one WWDG
  tick is 4096 * 2^WDGTB * (HCLK / PCLK) of them.  The counter is free-running: it
  counts with or without WDGA; only the reset needs WDGA.  Counting in HCLK cycles
  also freezes it in Stop, where PCLK stops.
* With WDGA = 1 a reset ("wwdg", RCC_CSR2.WWDGRSTF) follows when the counter goes
  from 0x40 to 0x3F (T6 cleared), when software writes T6 = 0, or when software
  writes CR while the counter is still above the window W (a refresh too early).
* EWIF is set when the counter reaches 0x40 (also with EWI = 0); with EWI = 1 it
  raises the WWDG interrupt (IRQ 0) until cleared.
* Hardware watchdog option WWDG_SW = 0 (FLASH_OPTR bit 19): the WWDG is enabled after
  every reset (RM0490 §23.3.2); the machine passes ``hardware_mode`` reading OPTR.
Not modelled: the freeze while the core is halted by a debugger (DBG_WWDG_STOP); a
PPRE change while the counter runs (the tick length is taken when the counter is
loaded or the configuration written); RCC_APBENR1.WWDGEN gates the registers but does
not stop the counter, and the hardware watchdog option does not set WWDGEN.
"""
from __future__ import annotations

from typing import Callable

from . import c071
from .regs import BusKind, Peripheral, reg, rs, rw, w0c
from .services import ChipServices

T6 = 0x40
TICK_PCLK_CYCLES = 4096


class WindowWatchdog(Peripheral):
    name = "WWDG"
    bus = BusKind.APB
    manual = "RM0490 §23"

    def __init__(self, base: int, services: ChipServices | None = None,
                 pclk_divider: Callable[[], int] = lambda: 1,
                 hardware_mode: Callable[[], bool] = lambda: False) -> None:
        super().__init__(base, services, registers=[
            reg("CR", 0x00, 0x7F, rw("T", 0, 7), rs("WDGA", 7),
                on_read=self._read_cr, on_write=self._cr_written),
            reg("CFR", 0x04, 0x7F, rw("W", 0, 7), rs("EWI", 9), rw("WDGTB", 11, 3),
                on_write=self._cfr_written),
            reg("SR", 0x08, 0, w0c("EWIF", 0), on_write=lambda old, new: self._update_irq()),
        ])
        self.pclk_divider = pclk_divider          # HCLK cycles per PCLK cycle (RCC PPRE)
        self.hardware_mode = hardware_mode
        self._events: list = []
        self._anchor_cycle = 0
        self._anchor_count = 0x7F
        self._cycles_per_tick = TICK_PCLK_CYCLES
        self._next_count = None                   # an event at the next decrement while CR is polled

    # -- reset -----------------------------------------------------------------------
    def on_reset(self) -> None:
        self._cancel()
        self._anchor_cycle = self.services.now_cycles()
        self._anchor_count = 0x7F
        self._cycles_per_tick = self._tick_cycles()
        if self.hardware_mode():
            self.reg["CR"].value |= 1 << 7
        self._schedule()

    # -- the counter -------------------------------------------------------------------
    def _tick_cycles(self) -> int:
        return TICK_PCLK_CYCLES << self.reg["CFR"].get("WDGTB")

    def _ticks(self) -> int:
        return (self.services.now_cycles() - self._anchor_cycle) // (self._cycles_per_tick * self.pclk_divider())

    def counter(self) -> int:
        """The 7-bit counter now (free-running, wraps below 0)."""
        return (self._anchor_count - self._ticks()) & 0x7F

    @property
    def active(self) -> bool:
        return bool(self.reg["CR"].value >> 7 & 1)

    def _load(self, count: int) -> None:
        self._anchor_cycle = self.services.now_cycles()
        self._anchor_count = count & 0x7F
        self._cycles_per_tick = self._tick_cycles()
        self._schedule()

    def _cycles_until(self, count: int) -> int:
        """HCLK cycles from now until the counter reaches ``count`` (next time round)."""
        period = self._cycles_per_tick * self.pclk_divider()
        ticks = (self._anchor_count - count) & 0x7F or 0x80
        at = self._anchor_cycle + ticks * period
        now = self.services.now_cycles()
        while at <= now:
            at += 0x80 * period
        return at - now

    def _schedule(self) -> None:
        self._cancel()
        if not self.active and not self.reg["CFR"].get("EWI"):
            return                          # nothing watches the counter: no event needed
        self._events.append(self.services.after_cycles(self._cycles_until(T6), self._reached_0x40, "WWDG 0x40"))
        if self.active:
            self._events.append(self.services.after_cycles(self._cycles_until(T6 - 1), self._expired,
                                                           "WWDG expiry"))

    def _cancel(self) -> None:
        for event in self._events:
            event.cancel()
        self._events = []
        if self._next_count is not None:
            self._next_count.cancel()
            self._next_count = None

    def _reached_0x40(self) -> None:
        self.reg["SR"].value |= 1
        self._update_irq()
        if not self.active:
            self._schedule()

    def _expired(self) -> None:
        self.services.event("wwdg", "WWDG counter went from 0x40 to 0x3F: reset")
        self._reset_chip()

    def _reset_chip(self) -> None:
        self._cancel()
        self.services.request_reset("wwdg")

    def _update_irq(self) -> None:
        self.services.set_irq_line(c071.IRQ_WWDG, bool(self.reg["SR"].value & 1 and self.reg["CFR"].get("EWI")))

    # -- registers ------------------------------------------------------------------------
    def read(self, offset: int, size: int) -> int:
        if offset & ~3 == 0 and self.clock_enabled() and not self.held_in_reset:
            self._mark_next_count()
        return super().read(offset, size)

    def _read_cr(self, stored: int) -> int:
        return stored & 0x80 | self.counter()

    def _mark_next_count(self) -> None:
        """Software watching the counter (a wait for the window) must see each count: the next
        decrement becomes an event, so a fast-forwarded poll loop stops right before it."""
        if self._next_count is not None:
            return
        period = self._cycles_per_tick * self.pclk_divider()
        elapsed = self.services.now_cycles() - self._anchor_cycle
        self._next_count = self.services.after_cycles(period - elapsed % period, self._counted, "WWDG count")

    def _counted(self) -> None:
        self._next_count = None

    def _cr_written(self, old: int, new: int) -> None:
        written = self.reg["CR"].last_written & 0x7F
        if self.active:
            counter, window = self.counter(), self.reg["CFR"].get("W")
            if old >> 7 & 1 and counter > window:
                self.services.event("wwdg", f"WWDG_CR written while the counter ({counter:#04x}) is above "
                                            f"the window ({window:#04x}): reset")
                self._reset_chip()
                return
            if not written & T6:
                self.services.event("wwdg", f"WWDG_CR written with T6 = 0 ({written:#04x}): reset")
                self._reset_chip()
                return
        self._load(written)

    def _cfr_written(self, old: int, new: int) -> None:
        # keep the count reached at the old time base, continue at the new one
        count = self.counter()
        self._load(count)
        self._update_irq()
