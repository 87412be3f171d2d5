"""Real-time clock (0x4000_2800, IRQ 2) - RM0490, RTC chapter.

Register map (RM0490 "RTC registers"; offsets, resets and field positions checked
against ST's SVD in tests/test_svd_oracle.py; the C071's SVD has no TAMP block):

    0x00 TR     SU ST MNU MNT HU HT PM            (BCD time)
    0x04 DR     DU DT MU MT WDU YU YT             (BCD date, reset 0x2101: Monday 2000-01-01)
    0x08 SSR    SS[15:0]                          (sub-second down-counter)
    0x0C ICSR   ALRAWF SHPF INITS RSF INITF INIT RECALPF      (reset 0x07)
    0x10 PRER   PREDIV_S[14:0] PREDIV_A[22:16]    (reset 0x007F_00FF: 32 768 Hz -> 1 Hz)
    0x18 CR     0x24 WPR   0x28 CALR   0x2C SHIFTR   0x30 TSTR   0x34 TSDR   0x38 TSSSR
    0x40 ALRMAR 0x44 ALRMASSR   0x50 SR   0x54 MISR   0x5C SCR

Behaviour (RM0490 "RTC functional description": clock and prescalers, calendar,
initialization and configuration, reading the calendar, write protection):

* RTCCLK comes from RCC (CSR1.RTCSEL LSE / LSI / HSE/32, RTCEN; machine wiring).
  ck_apre = RTCCLK / (PREDIV_A + 1), ck_spre = ck_apre / (PREDIV_S + 1) = 1 Hz when
  configured for it.  The calendar advances one second per ck_spre period and SSR
  counts down from PREDIV_S at ck_apre.  Nothing is stepped: the calendar is computed
  from the simulated clock when read (anchor time + elapsed RTCCLK cycles).
* Write protection: after a reset the protected registers (TR, DR, PRER, CR, CALR,
  SHIFTR, ALRMAR, ALRMASSR and ICSR.INIT) ignore writes; writing 0xCA then 0x53 to
  WPR unlocks them, any other value locks them again.
* INIT = 1: INITF rises after INIT_RTCCLK_PERIODS RTCCLK periods (the calendar stops);
  TR, DR and PRER are then writable.  INIT = 0 restarts the calendar from TR/DR with
  the sub-second counter at PREDIV_S; INITS = 1 once the year is not 0.
* RSF (write 0 to clear) rises SYNC_RTCCLK_PERIODS RTCCLK periods after it is cleared
  or after the initialization mode is left (the shadow registers are copied every
  two RTCCLK periods); it is cleared on entering INIT.
* Reading with shadow registers (BYPSHAD = 0): reading SSR locks TR and DR, reading
  TR locks DR, on that instant until DR is read, so a time and date read in sequence
  are consistent.  BYPSHAD = 1 reads the counters directly.
* 12-hour format (FMT = 1): hours 1..12 with PM; the weekday counts 1 (Monday) ..
  7 (Sunday) independently of the date, as on silicon.
* Daylight saving (CR.ADD1H / SUB1H, outside initialization mode): one hour is added
  to, or subtracted from, the running calendar (SUB1H has no effect at hour 0); the
  sub-second phase is kept.  BKP is a plain memory bit for software.
* The RTC is in the RTC domain: a system reset leaves its registers and the calendar
  running; a power-on reset or RCC_CSR1.RTCRST resets them.

Status flags whose only cause is a feature declared ``todo`` (SHPF: shift; RECALPF:
smooth calibration; SR/MISR timestamp flags) are plain read-only bits: they
read 0, as on silicon, as long as the feature is off, and turning it on is reported.

Alarm A (RM0490 "Programmable alarms", ALRMAR/ALRMASSR, SR/MISR/SCR): with ALRAE = 1,
ALRAF rises at the second increment that makes the calendar match ALRMAR, fields
whose MSKx bit is 1 being "don't care" (with MSK4 = 0, WDSEL = 1 compares the weekday
instead of the date); the alarm then stays armed for the next match.  The match time is
computed when the alarm or the calendar changes and scheduled as one event.  SCR.CALRAF
clears ALRAF; MISR.ALRAMF = ALRAF & ALRAIE, which drives the RTC interrupt line
(IRQ 2; the EXTI line 19 gating in front of it is left to the EXTI model).  ALRAWF
reads 1 while ALRAE = 0; ALRMAR/ALRMASSR take writes only then or in
initialization mode.  The C071 has no wake-up timer (no WUTR in the SVD).

Not modelled (``todo``, accesses reported): sub-second alarm comparison
(ALRMASSR.MASKSS, SS), timestamp (TSE, TSIE, TSTR/TSDR/TSSSR),
smooth calibration (CALR), shift (SHIFTR),
reference clock detection (REFCKON), the calibration and alarm outputs (COE, OSEL,
POL, COSEL, TAMPALRM_*, OUT2EN).
"""
from __future__ import annotations

import datetime
from typing import Callable, Optional

from . import c071
from .regs import Access, BusKind, Peripheral, reg, ro, rw, todo, w0c, wo

WPR_KEYS = (0xCA, 0x53)
INIT_RTCCLK_PERIODS = 2          # INIT -> INITF ("around 2 RTCCLK clock cycles", RM0490 RTC init)
SYNC_RTCCLK_PERIODS = 2          # shadow registers copied every 2 RTCCLK periods (RSF)
EPOCH_YEAR = 2000
PROTECTED = ("TR", "DR", "PRER", "CR", "CALR", "SHIFTR", "ALRMAR", "ALRMASSR")
TIME_FIELDS = (("SU", 0, 4), ("ST", 4, 3), ("MNU", 8, 4), ("MNT", 12, 3), ("HU", 16, 4), ("HT", 20, 2))
DATE_FIELDS = (("DU", 0, 4), ("DT", 4, 2), ("MU", 8, 4), ("MT", 12), ("WDU", 13, 3), ("YU", 16, 4), ("YT", 20, 4))


def _bcd(n: int) -> int:
    return (n // 10) << 4 | n % 10


def _unbcd(b: int) -> int:
    return (b >> 4) * 10 + (b & 0xF)


def _time_fields(with_pm: bool = True):
    fields = [rw(name, lsb, width) for name, lsb, width in TIME_FIELDS]
    return fields + ([rw("PM", 22)] if with_pm else [])


class RealTimeClock(Peripheral):
    name = "RTC"
    bus = BusKind.APB
    manual = "RM0490 RTC chapter"

    def __init__(self, base: int = c071.RTC, services=None,
                 rtc_clock_hz: Callable[[], int] = lambda: 0) -> None:
        self.rtc_clock_hz = rtc_clock_hz
        self._unlock_step = 0
        self._anchor_seconds = 0.0       # simulated time of the anchor
        self._anchor_ticks = 0           # ck_apre ticks counted at the anchor (see _calendar)
        self._running_hz = 0             # RTCCLK the calendar counts at since the anchor
        self._frozen: Optional[tuple[Optional[int], int]] = None   # (TR or None, DR) locked by a read
        self._events: dict[str, object] = {}
        super().__init__(base, services, registers=[
            reg("TR", 0x00, 0, *_time_fields(), on_read=lambda v: self._read_shadow("TR"),
                read_has_side_effects=True, on_write=lambda o, n: self._calendar_written("TR", o)),
            reg("DR", 0x04, 0x2101, *(rw(f[0], f[1], f[2] if len(f) > 2 else 1) for f in DATE_FIELDS),
                on_read=self._dr_read, read_has_side_effects=True,
                on_write=lambda o, n: self._calendar_written("DR", o)),
            reg("SSR", 0x08, 0, ro("SS", 0, 16), on_read=lambda v: self._read_shadow("SSR"),
                read_has_side_effects=True),
            reg("ICSR", 0x0C, 0x07, ro("ALRAWF", 0), ro("SHPF", 3), ro("INITS", 4),
                w0c("RSF", 5), ro("INITF", 6), rw("INIT", 7), ro("RECALPF", 16),
                on_write=self._icsr_written),
            reg("PRER", 0x10, 0x007F_00FF, rw("PREDIV_S", 0, 15), rw("PREDIV_A", 16, 7),
                on_write=lambda o, n: self._calendar_written("PRER", o)),
            reg("CR", 0x18, 0, todo("TSEDGE", 3), todo("REFCKON", 4), rw("BYPSHAD", 5), rw("FMT", 6),
                rw("ALRAE", 8), todo("TSE", 11), rw("ALRAIE", 12), todo("TSIE", 15),
                wo("ADD1H", 16), wo("SUB1H", 17), rw("BKP", 18),
                todo("COSEL", 19), todo("POL", 20), todo("OSEL", 21, 2), todo("COE", 23), todo("TAMPALRM_PU", 29),
                todo("TAMPALRM_TYPE", 30), todo("OUT2EN", 31), on_write=self._cr_written),
            reg("WPR", 0x24, 0, wo("KEY", 0, 8), on_write=self._wpr_written),
            reg("CALR", 0x28, 0, todo("CALM", 0, 9), todo("CALW16", 13), todo("CALW8", 14), todo("CALP", 15),
                on_write=lambda o, n: self._protect("CALR", o)),
            reg("SHIFTR", 0x2C, 0, todo("SUBFS", 0, 15, access=Access.WO), todo("ADD1S", 31, access=Access.WO),
                on_write=lambda o, n: self._protect("SHIFTR", o)),
            reg("TSTR", 0x30, 0, *(todo(name, lsb, width, access=Access.RO) for name, lsb, width in TIME_FIELDS),
                todo("PM", 22, access=Access.RO)),
            reg("TSDR", 0x34, 0, *(todo(f[0], f[1], f[2] if len(f) > 2 else 1, access=Access.RO)
                                   for f in DATE_FIELDS[:5])),
            reg("TSSSR", 0x38, 0, todo("SS", 0, 16, access=Access.RO)),
            reg("ALRMAR", 0x40, 0, *(rw(name, lsb, width) for name, lsb, width in TIME_FIELDS), rw("MSK1", 7),
                rw("MSK2", 15), rw("PM", 22), rw("MSK3", 23), rw("DU", 24, 4), rw("DT", 28, 2),
                rw("WDSEL", 30), rw("MSK4", 31), on_write=lambda o, n: self._alarm_written("ALRMAR", o)),
            reg("ALRMASSR", 0x44, 0, todo("SS", 0, 15), todo("MASKSS", 24, 4),
                on_write=lambda o, n: self._alarm_written("ALRMASSR", o)),
            reg("SR", 0x50, 0, ro("ALRAF", 0), ro("TSF", 3), ro("TSOVF", 4)),
            reg("MISR", 0x54, 0, ro("ALRAMF", 0), ro("TSMF", 3), ro("TSOVMF", 4)),
            reg("SCR", 0x5C, 0, wo("CALRAF", 0), todo("CTSF", 3, access=Access.WO),
                todo("CTSOVF", 4, access=Access.WO), on_write=self._scr_written),
        ])

    # -- resets: the RTC domain survives a system reset ------------------------------------
    def reset(self) -> None:
        """System reset: the RTC domain is untouched; only the bus-side write protection is reset."""
        for event in self._events.values():
            event.cancel()
        self._events = {}
        self._unlock_step = 0
        self._frozen = None
        if not self.reg["ICSR"].get("RSF") and not self.reg["ICSR"].get("INITF"):
            self._schedule_rsf()
        self._schedule_alarm()
        self._update_irq()

    def power_on_reset(self) -> None:
        self.domain_reset()

    def domain_reset(self) -> None:
        """Power-on or RTC domain reset (RCC_CSR1.RTCRST): every register to its reset value."""
        for event in self._events.values():
            event.cancel()
        self._events = {}
        super().reset()

    def on_reset(self) -> None:
        self._update_irq()
        self._unlock_step = 0
        self._frozen = None
        self._anchor_seconds = self.services.now_seconds()
        self._anchor_ticks = 0
        self._running_hz = 0

    def clock_changed(self) -> None:
        """RCC: RTCCLK was selected, enabled, stopped or became ready; count on from now."""
        self._apre_ticks()
        self._schedule_alarm()

    # -- the counters ---------------------------------------------------------------------
    def _prescalers(self) -> tuple[int, int]:
        prer = self.reg["PRER"]
        return prer.get("PREDIV_A") + 1, prer.get("PREDIV_S") + 1

    def _counting(self) -> bool:
        return not self.reg["ICSR"].get("INITF") and self.rtc_clock_hz() > 0

    def _apre_ticks(self) -> int:
        """ck_apre periods since the anchor (the count before the anchor is in the registers)."""
        hz = self.rtc_clock_hz()
        if self._running_hz != hz:
            self._reanchor(hz)
        if not self._counting():
            return 0
        div_a, _ = self._prescalers()
        elapsed = self.services.now_seconds() - self._anchor_seconds
        return int(elapsed * hz / div_a + 1e-9)

    def _reanchor(self, new_hz: int) -> None:
        """The RTC clock changed (selected, enabled, stopped): fold the elapsed count into TR/DR/SSR."""
        if self._running_hz and not self.reg["ICSR"].get("INITF"):
            ssr, tr, dr = self._compute(self._ticks_at(self._running_hz))
            self._store(ssr, tr, dr)
        self._anchor_seconds = self.services.now_seconds()
        self._running_hz = new_hz

    def _ticks_at(self, hz: int) -> int:
        div_a, _ = self._prescalers()
        return int((self.services.now_seconds() - self._anchor_seconds) * hz / div_a + 1e-9)

    def _store(self, ssr: int, tr: int, dr: int) -> None:
        self.reg["SSR"].value = ssr
        self.reg["TR"].value = tr
        self.reg["DR"].value = dr
        self._anchor_seconds = self.services.now_seconds()

    def _compute(self, ticks: int) -> tuple[int, int, int]:
        """SSR, TR, DR after ``ticks`` ck_apre periods from the stored registers."""
        _, div_s = self._prescalers()
        ssr = self.reg["SSR"].value & 0xFFFF
        tr, dr = self.reg["TR"].value, self.reg["DR"].value
        # SSR counts down from PREDIV_S; the second changes when it reloads
        to_next_second = ssr + 1
        if ticks < to_next_second:
            return ssr - ticks, tr, dr
        seconds = 1 + (ticks - to_next_second) // div_s
        new_ssr = div_s - 1 - (ticks - to_next_second) % div_s
        tr2, dr2 = self._advance(tr, dr, seconds)
        return new_ssr, tr2, dr2

    def _advance(self, tr: int, dr: int, seconds: int) -> tuple[int, int]:
        twelve_hour = self.reg["CR"].get("FMT")
        hours = _unbcd(tr >> 16 & 0x3F)
        if twelve_hour:
            hours = hours % 12 + (12 if tr >> 22 & 1 else 0)
        day_seconds = hours * 3600 + _unbcd(tr >> 8 & 0x7F) * 60 + _unbcd(tr & 0x7F) + seconds
        days, day_seconds = divmod(day_seconds, 86400)
        year, month, day = 2000 + _unbcd(dr >> 16 & 0xFF), _unbcd(dr >> 8 & 0x1F), _unbcd(dr & 0x3F)
        weekday = dr >> 13 & 7
        if days:
            month = min(max(month, 1), 12)
            ordinal = datetime.date(year, month, 1).toordinal() + max(day, 1) - 1 + days
            date = datetime.date.fromordinal(ordinal)
            if date.year >= EPOCH_YEAR + 100:
                date = date.replace(year=date.year - 100)       # the year counter wraps at 99
            year, month, day = date.year, date.month, date.day
            weekday = (weekday - 1 + days) % 7 + 1 if weekday else 0
        hours, rest = divmod(day_seconds, 3600)
        minutes, secs = divmod(rest, 60)
        pm = 0
        if twelve_hour:
            pm = int(hours >= 12)
            hours = hours % 12 or 12
        tr = pm << 22 | _bcd(hours) << 16 | _bcd(minutes) << 8 | _bcd(secs)
        dr = _bcd(year - EPOCH_YEAR) << 16 | weekday << 13 | _bcd(month) << 8 | _bcd(day)
        return tr, dr

    def now(self) -> tuple[int, int, int]:
        """(SSR, TR, DR) of the running calendar now, disturbing nothing."""
        return self._compute(self._apre_ticks())

    def _read_shadow(self, name: str) -> int:
        """SSR/TR as read: reading SSR locks TR and DR, reading TR locks DR, until DR is read
        (RM0490 "Reading the calendar", BYPSHAD = 0); BYPSHAD = 1 reads the counters."""
        ssr, tr, dr = self.now()
        if self.reg["CR"].get("BYPSHAD"):
            return ssr if name == "SSR" else tr
        if name == "SSR":
            if self._frozen is None:
                self._frozen = (tr, dr)
            elif self._frozen[0] is None:
                self._frozen = (tr, self._frozen[1])
            return ssr
        if self._frozen is None:
            self._frozen = (None, dr)
        return self._frozen[0] if self._frozen[0] is not None else tr

    def _dr_read(self, stored: int) -> int:
        dr = self.now()[2] if self._frozen is None or self.reg["CR"].get("BYPSHAD") else self._frozen[1]
        self._frozen = None
        return dr

    # -- write protection ----------------------------------------------------------------------
    def _wpr_written(self, old: int, new: int) -> None:
        key = self.reg["WPR"].last_written & 0xFF
        if self._unlock_step < 2 and key == WPR_KEYS[self._unlock_step]:
            self._unlock_step += 1
        else:
            self._unlock_step = 0                  # a wrong key (or any key once unlocked) locks again
        self.reg["WPR"].value = 0

    def unlocked(self) -> bool:
        return self._unlock_step == 2

    def _protect(self, name: str, old: int) -> bool:
        """True (and the write undone) when the registers are write-protected."""
        if self.unlocked():
            return False
        self.reg[name].value = old
        self.services.event("rtc", f"RTC_{name} write ignored: write protection active (WPR 0xCA, 0x53)")
        return True

    # -- initialization mode -------------------------------------------------------------------
    def _icsr_written(self, old: int, new: int) -> None:
        icsr = self.reg["ICSR"]
        if (old ^ new) & 0x80 and not self.unlocked():
            icsr.set("INIT", old >> 7 & 1)
            self.services.event("rtc", "RTC_ICSR.INIT write ignored: write protection active (WPR 0xCA, 0x53)")
        if icsr.get("INIT") and not old >> 7 & 1:
            self._enter_init()
        elif not icsr.get("INIT") and old >> 7 & 1:
            self._leave_init()
        if not icsr.get("RSF") and old >> 5 & 1:
            self._schedule_rsf()

    def _rtcclk_periods(self, periods: int) -> Optional[float]:
        hz = self.rtc_clock_hz()
        return periods / hz if hz else None

    def _after(self, key: str, seconds: Optional[float], action: Callable[[], None]) -> None:
        previous = self._events.pop(key, None)
        if previous is not None:
            previous.cancel()
        if seconds is None:
            self.services.event("rtc", f"RTC has no clock (RCC_CSR1 RTCSEL/RTCEN, oscillator ready): "
                                f"{key} never completes")
            return

        def fire() -> None:
            self._events.pop(key, None)
            action()
        self._events[key] = self.services.after_seconds(seconds, fire, f"RTC {key}")

    def _enter_init(self) -> None:
        icsr = self.reg["ICSR"]
        icsr.set("RSF", 0)

        def initf() -> None:
            if self.reg["ICSR"].get("INIT"):
                self._store(*self.now())          # the calendar stops where it is
                icsr.set("INITF", 1)
                self._cancel("alarm")
        self._after("INITF", self._rtcclk_periods(INIT_RTCCLK_PERIODS), initf)

    def _leave_init(self) -> None:
        icsr = self.reg["ICSR"]
        self._cancel("INITF")
        if icsr.get("INITF"):
            icsr.set("INITF", 0)
            self.reg["SSR"].value = self.reg["PRER"].get("PREDIV_S")
            self._anchor_seconds = self.services.now_seconds()
            self._running_hz = self.rtc_clock_hz()
            icsr.set("INITS", int(self.reg["DR"].value >> 16 & 0xFF != 0))
        self._frozen = None
        self._schedule_rsf()
        self._schedule_alarm()

    def _cancel(self, key: str) -> None:
        event = self._events.pop(key, None)
        if event is not None:
            event.cancel()

    def _schedule_rsf(self) -> None:
        icsr = self.reg["ICSR"]
        if self.rtc_clock_hz() == 0:
            return                                # no RTCCLK: the shadow registers are never copied
        self._after("RSF", self._rtcclk_periods(SYNC_RTCCLK_PERIODS),
                    lambda: icsr.set("RSF", int(not icsr.get("INIT"))))

    def _calendar_written(self, name: str, old: int) -> None:
        """TR, DR and PRER take writes only in initialization mode (INITF = 1) and unlocked."""
        if self._protect(name, old):
            return
        if not self.reg["ICSR"].get("INITF"):
            self.reg[name].value = old
            self.services.event("rtc", f"RTC_{name} write ignored: not in initialization mode (INITF = 0)")
            return
        if name == "TR" and self.reg["CR"].get("FMT") == 0:
            self.reg["TR"].value &= ~(1 << 22)

    def _cr_written(self, old: int, new: int) -> None:
        if self._protect("CR", old):
            return
        cr = self.reg["CR"]
        self.reg["ICSR"].set("ALRAWF", int(not cr.get("ALRAE")))
        if (old ^ cr.value) & (1 << 8 | 1 << 6):        # ALRAE, FMT
            self._schedule_alarm()
        self._update_irq()
        step = cr.last_written >> 16 & 3
        if step and not self.reg["ICSR"].get("INITF"):
            self._daylight_saving(add=bool(step & 1))

    def _daylight_saving(self, add: bool) -> None:
        """ADD1H / SUB1H: the calendar jumps an hour; the sub-second counter is untouched."""
        ticks = self._apre_ticks()
        ssr, tr, dr = self._compute(ticks)
        hours = _unbcd(tr >> 16 & 0x3F)
        if self.reg["CR"].get("FMT"):
            hours = hours % 12 + (12 if tr >> 22 & 1 else 0)
        if add:
            tr, dr = self._advance(tr, dr, 3600)
        elif hours:
            tr, _ = self._advance(tr, dr, 86400 - 3600)      # an hour back: same day, so DR is kept
        else:
            return
        if self._running_hz:
            div_a, _ = self._prescalers()
            self._anchor_seconds += ticks * div_a / self._running_hz    # keep the tick phase
        self.reg["SSR"].value, self.reg["TR"].value, self.reg["DR"].value = ssr, tr, dr
        self._frozen = None
        self._schedule_alarm()

    # -- alarm A ---------------------------------------------------------------------------------
    def _alarm_written(self, name: str, old: int) -> None:
        """ALRMAR/ALRMASSR: writable while ALRAE = 0 or in initialization mode, and unlocked."""
        if self._protect(name, old):
            return
        if self.reg["CR"].get("ALRAE") and not self.reg["ICSR"].get("INITF"):
            self.reg[name].value = old
            self.services.event("rtc", f"RTC_{name} write ignored: alarm A enabled (clear ALRAE first)")

    def _scr_written(self, old: int, new: int) -> None:
        if self.reg["SCR"].last_written & 1:
            self.reg["SR"].set("ALRAF", 0)
        self._update_irq()

    def _update_irq(self) -> None:
        flagged = self.reg["SR"].get("ALRAF") and self.reg["CR"].get("ALRAIE")
        self.reg["MISR"].set("ALRAMF", int(bool(flagged)))
        self.services.set_irq_line(c071.IRQ_RTC, bool(flagged))

    def _alarm_matches(self, tr: int, dr: int) -> bool:
        alarm = self.reg["ALRMAR"].value
        if not alarm >> 7 & 1 and (tr ^ alarm) & 0x7F:
            return False
        if not alarm >> 15 & 1 and (tr ^ alarm) & 0x7F00:
            return False
        if not alarm >> 23 & 1 and (tr ^ alarm) & 0x7F_0000:
            return False
        if not alarm >> 31 & 1:
            if alarm >> 30 & 1:
                return (dr >> 13 & 7) == (alarm >> 24 & 0xF)
            return (dr & 0x3F) == (alarm >> 24 & 0x3F)
        return True

    def _seconds_to_alarm(self, tr: int, dr: int) -> Optional[int]:
        """Second increments from (tr, dr) until the calendar first matches the alarm.

        Walks the calendar by whole days, then hours, minutes and seconds, skipping the
        ranges a fixed field excludes; bounded by the longest repeat (a date that some
        months lack: 62 days)."""
        horizon = 62 * 86400
        step = 1
        while step <= horizon:
            tr2, dr2 = self._advance(tr, dr, step)
            if self._alarm_matches(tr2, dr2):
                return step
            step += self._skip(tr2, dr2)
        return None

    def _skip(self, tr: int, dr: int) -> int:
        """How far the walk can jump from a non-matching (tr, dr) without passing a match."""
        alarm = self.reg["ALRMAR"].value
        secs, mins, hours = _unbcd(tr & 0x7F), _unbcd(tr >> 8 & 0x7F), _unbcd(tr >> 16 & 0x3F)
        if self.reg["CR"].get("FMT"):
            hours = hours % 12 + (12 if tr >> 22 & 1 else 0)
        if not alarm >> 31 & 1:
            weekday = alarm >> 30 & 1
            if (dr >> 13 & 7) != (alarm >> 24 & 0xF) if weekday else (dr & 0x3F) != (alarm >> 24 & 0x3F):
                return 86400 - (hours * 3600 + mins * 60 + secs)          # to the next midnight
        if not alarm >> 23 & 1 and (tr ^ alarm) & 0x7F_0000:
            return 3600 - (mins * 60 + secs)                              # to the next hour
        if not alarm >> 15 & 1 and (tr ^ alarm) & 0x7F00:
            return 60 - secs                                              # to the next minute
        return 1

    def _schedule_alarm(self) -> None:
        """(Re)arm the event at the next match of alarm A, if enabled and the calendar runs."""
        self._cancel("alarm")
        hz = self.rtc_clock_hz()
        if not self.reg["CR"].get("ALRAE") or self.reg["ICSR"].get("INITF") or hz == 0:
            return
        ssr, tr, dr = self.now()
        seconds = self._seconds_to_alarm(tr, dr)
        if seconds is None:
            self.services.event("rtc", "RTC alarm A can never match the calendar")
            return
        div_a, div_s = self._prescalers()
        ticks = ssr + 1 + (seconds - 1) * div_s          # ck_apre periods to that second increment
        elapsed = self.services.now_seconds() - self._anchor_seconds
        into_tick = elapsed * hz / div_a - self._apre_ticks()
        delay = (ticks - into_tick) * div_a / hz
        self._after("alarm", max(delay, 0.0), self._alarm_fired)

    def _alarm_fired(self) -> None:
        self.reg["SR"].set("ALRAF", 1)
        self.services.event("rtc", "RTC alarm A")
        self._update_irq()
        self._schedule_alarm()
