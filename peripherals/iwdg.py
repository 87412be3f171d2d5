"""Independent watchdog (IWDG) - RM0490 §21 (register map §21.4, key values §21.3).

A 12-bit down-counter clocked by LSI (32 kHz, ``c071.LSI_HZ``) through a
prescaler of 4·2^PR (PR = 6 and 7 both divide by 256).  The counter value is
derived from emulated time, never stored per tick; at most one expiry event is
scheduled, and every start/reload/prescaler change replaces it.

Key register values (RM0490 §21.3.2, §21.4.1):
  0xCCCC starts the watchdog (the counter starts from 0xFFF),
  0xAAAA reloads the counter with RLR,
  0x5555 enables write access to PR, RLR and WINR; any other value disables it.
Reaching 0 requests a system reset ("iwdg").  Window option (RM0490 §21.3.4):
a reload while the counter is above WINR also requests a reset; writing WINR
reloads the counter.  PR/RLR/WINR updates cross into the LSI domain: the
PVU/RVU/WVU flags stay set for up to five LSI periods (RM0490 §21.4.4), modelled
as exactly 5 / LSI_HZ seconds.

Hardware watchdog: when the option bit IWDG_SW = 0 the IWDG starts by itself at
every reset (RM0490 §21.3.1); the machine passes ``hardware_mode`` reading OPTR.
The machine's low-power logic freezes the counter in Stop/Standby when the option
bits IWDG_STOP/IWDG_STDBY are 0 (``freeze``/``thaw``).  Not modelled: the freeze
while the core is halted (DBG_IWDG_STOP).
"""
from __future__ import annotations

from typing import Callable, Optional

from .c071 import LSI_HZ
from .regs import BusKind, Peripheral, reg, ro, rw, wo
from .services import ChipServices

KEY_START, KEY_RELOAD, KEY_UNLOCK = 0xCCCC, 0xAAAA, 0x5555
COUNTER_MAX = 0xFFF
UPDATE_LSI_PERIODS = 5


class IndependentWatchdog(Peripheral):
    name = "IWDG"
    bus = BusKind.APB
    manual = "RM0490 §21"

    def __init__(self, base: int, services: ChipServices | None = None,
                 hardware_mode: Callable[[], bool] = lambda: False) -> None:
        super().__init__(base, services, registers=[
            reg("KR", 0x00, 0, wo("KEY", 0, 16), on_write=self._key_written),
            reg("PR", 0x04, 0, rw("PR", 0, 3), on_write=self._pr_written),
            reg("RLR", 0x08, 0xFFF, rw("RL", 0, 12), on_write=self._rlr_written),
            reg("SR", 0x0C, 0, ro("PVU", 0), ro("RVU", 1), ro("WVU", 2)),
            reg("WINR", 0x10, 0xFFF, rw("WIN", 0, 12), on_write=self._winr_written),
        ])
        self.hardware_mode = hardware_mode
        self.running = False
        self.frozen = False
        self.write_access = False
        self._anchor_seconds = 0.0                  # time at which the counter held _anchor_count
        self._anchor_count = COUNTER_MAX
        self._expiry: Optional[object] = None
        self._flag_events: dict[str, object] = {}

    # -- reset ---------------------------------------------------------------------
    def on_reset(self) -> None:
        self._cancel_all()
        self.running = False
        self.frozen = False
        self.write_access = False
        if self.hardware_mode():
            self._start()

    # -- derived state -----------------------------------------------------------------
    def divider(self) -> int:
        return 4 << min(self.reg["PR"].get("PR"), 6)

    def tick_seconds(self) -> float:
        return self.divider() / LSI_HZ

    def counter_value(self) -> int:
        """Current counter, derived from emulated time (0xFFF when never started)."""
        if not self.running or self.frozen:
            return self._anchor_count
        elapsed = self.services.now_seconds() - self._anchor_seconds
        ticks = int(elapsed / self.tick_seconds() + 1e-9)
        return max(self._anchor_count - ticks, 0)

    # -- low-power freeze (FLASH_OPTR IWDG_STOP / IWDG_STDBY = 0, RM0490 §21.3.1) -------------
    def freeze(self) -> None:
        """The counter stops where it is (Stop or Standby with the freeze option)."""
        if self.running and not self.frozen:
            self._anchor_count = self.counter_value()
            if self._expiry is not None:
                self._expiry.cancel()
                self._expiry = None
            self.frozen = True
            self.services.event("iwdg", f"IWDG frozen at {self._anchor_count:#05x}")

    def thaw(self) -> None:
        if self.frozen:
            self.frozen = False
            self._load(self._anchor_count)

    # -- counter control -----------------------------------------------------------------
    def _start(self) -> None:
        self.running = True
        self._load(COUNTER_MAX)
        self.services.event("iwdg", "IWDG started")

    def _load(self, count: int) -> None:
        self._anchor_seconds = self.services.now_seconds()
        self._anchor_count = count
        self._schedule_expiry()

    def _schedule_expiry(self) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
        self._expiry = self.services.after_seconds(
            self._anchor_count * self.tick_seconds(), self._expired, "IWDG expiry")

    def _expired(self) -> None:
        self._expiry = None
        self._anchor_seconds = self.services.now_seconds()
        self._anchor_count = 0
        self.services.event("iwdg", "IWDG counter reached 0: reset")
        self.services.request_reset("iwdg")

    def _reload(self) -> None:
        if not self.running:
            return
        window = self.reg["WINR"].get("WIN")
        if window < COUNTER_MAX and self.counter_value() > window:
            self.services.event("iwdg", f"IWDG reloaded outside the window "
                                        f"(counter {self.counter_value():#x} > WINR {window:#x}): reset")
            self.services.request_reset("iwdg")
            return
        self._load(self.reg["RLR"].get("RL"))

    def _cancel_all(self) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None
        for event in self._flag_events.values():
            event.cancel()
        self._flag_events.clear()
        self._anchor_count = COUNTER_MAX

    # -- register behaviour ----------------------------------------------------------------
    def _key_written(self, old: int, new: int) -> None:
        key = self.reg["KR"].last_written & 0xFFFF
        self.reg["KR"].value = 0
        self.write_access = key == KEY_UNLOCK
        if key == KEY_START and not self.running:
            self._start()
        elif key == KEY_START or key == KEY_RELOAD:
            self._reload()

    def _protected(self, name: str, old: int) -> bool:
        """Writes to PR/RLR/WINR without the 0x5555 key are ignored (RM0490 §21.3.5)."""
        if self.write_access:
            return False
        self.reg[name].value = old
        self.services.event("iwdg", f"IWDG_{name} write ignored: write access not enabled by 0x5555")
        return True

    def _update_flag(self, flag: str) -> None:
        sr = self.reg["SR"]
        sr.set(flag, 1)
        previous = self._flag_events.pop(flag, None)
        if previous is not None:
            previous.cancel()

        def done() -> None:
            sr.set(flag, 0)
            self._flag_events.pop(flag, None)
        self._flag_events[flag] = self.services.after_seconds(
            UPDATE_LSI_PERIODS / LSI_HZ, done, f"IWDG {flag} clear")

    def _pr_written(self, old: int, new: int) -> None:
        if self._protected("PR", old):
            return
        self._update_flag("PVU")
        if self.running and old != new:
            # the count reached so far was at the old rate; continue from it at the new one
            self.reg["PR"].value = old
            count = self.counter_value()
            self.reg["PR"].value = new
            self._load(count)

    def _rlr_written(self, old: int, new: int) -> None:
        if not self._protected("RLR", old):
            self._update_flag("RVU")

    def _winr_written(self, old: int, new: int) -> None:
        if self._protected("WINR", old):
            return
        self._update_flag("WVU")
        if self.running:
            self._load(self.reg["RLR"].get("RL"))   # writing WINR reloads the counter (§21.3.4)
