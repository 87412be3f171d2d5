"""Low-power modes of the C071 as the machine lives them (RM0490 §5.3, ARMv6-M B1.5.19).

A WFI or WFE with SCB_SCR.SLEEPDEEP set is a deep sleep; PWR_CR1.LPMS says which
(``PowerControl.deep_sleep_mode``).  The run loop asks ``deep_sleep`` once per step
while the core sleeps; plain Sleep (SLEEPDEEP clear) stays the loop's business.

* Stop: HCLK and the oscillators stop (HSE and HSIUSB48 off, RCC), so nothing of the
  HCLK domain moves: time passes while the cycle count stands still
  (``SimClock.pass_time_without_cycles``), which freezes SysTick, the WWDG and every
  event scheduled in cycles, with no special case.  Events defined in seconds (the
  IWDG on LSI, hosts outside the chip, a pin driven by a test) still come.  Only an
  EXTI line wakes the core: an interrupt of a GPIO line group, or of a peripheral whose
  EXTI line is unmasked (``ExtendedInterrupts.stop_wakeup_irqs``), or in WFE an EXTI
  event; any other interrupt stays pending until then.  SYSCLK is then HSISYS
  (RM0490 §6.4.3).
* Standby and Shutdown: no code runs after the WFI.  SRAM content is lost on entry
  (the C071 has no SRAM retention bit: PWR_CR3 has no RRS in ST's SVD).  A WKUP pin
  edge (PWR) or an IWDG expiry ends it in a reset; leaving Standby keeps PWR_SR1.SBF,
  leaving Shutdown is a power-on reset.  In Shutdown the LSI stops, so the chip's
  scheduled events (the IWDG) go.
* FLASH_OPTR nRST_STOP / nRST_STDBY / nRST_SHDW = 0 turn entering the mode into a reset
  (RCC_CSR2.LPWRRSTF; RM0490 §4.7.6 OPTR, §6.1.2); IWDG_STOP / IWDG_STDBY = 0 freeze
  the IWDG counter in Stop / Standby (RM0490 §21.3.1).
* DBG_CR.DBG_STOP = 1 (debug in Stop): HCLK stays on, so Stop behaves as Sleep for time
  and wake-up (a SysTick interrupt wakes it), and SYSCLK is still HSISYS afterwards.
Not modelled: reserved LPMS values (reported, entered as Stop), the peripherals' own
wake-up conditions behind the direct EXTI lines (RTC, I2C1, USART1: their interrupt
wakes the core while its line is unmasked), the wake-up latency, and HCLK-domain
events defined in seconds (a USART byte in flight) which still complete while HCLK
is stopped.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from peripherals import c071

from .core.runloop import EndReason, RunEnd

if TYPE_CHECKING:  # pragma: no cover
    from .machine import Machine

SLEEPDEEP = 1 << 2                       # SCB_SCR (ARMv6-M B3.2.7)
N_RST_STOP, N_RST_STDBY, N_RST_SHDW = 1 << 13, 1 << 14, 1 << 15
IWDG_STOP, IWDG_STDBY = 1 << 17, 1 << 18  # FLASH_OPTR (RM0490 §4.7.6)
DBG_STOP = 1 << 1                        # DBG_CR (RM0490 §30.10.2)


class LowPowerModes:
    def __init__(self, machine: "Machine") -> None:
        self.m = machine
        self.mode = "run"                # run | stop | standby | shutdown
        self._entered_s = 0.0
        self._debug_clocks = False       # Stop entered with DBG_CR.DBG_STOP: HCLK keeps running

    def reset(self) -> None:
        self.mode = "run"

    # -- the run loop's questions ------------------------------------------------------------
    def deep_sleep(self, deadline_ps: Optional[int]) -> bool:
        """The core sleeps: True if a deep-sleep mode owns time now, False to let it Sleep or wake."""
        m = self.m
        if self.mode == "run":
            if not m.scb.reg["SCR"].value & SLEEPDEEP or m.loop.wake_pending():
                return False
            self._enter()
            if m.loop.reset_request:
                return True
        if self.mode == "stop" and self._debug_clocks:
            if m.loop.wake_pending():
                self._exit_stop()
            return False                 # DBG_STOP: HCLK runs on, time passes as in Sleep
        if self.mode == "stop" and self._stop_wakeup():
            self._exit_stop()
            return False
        self._pass_time(deadline_ps)
        return True

    def external_event(self) -> None:
        """An EXTI event line fired (the core's RXEV input): it sets the event register, which
        wakes a WFE (B1.5.18).  Powered down in Standby/Shutdown, the EXTI sends nothing."""
        if self.mode in ("standby", "shutdown"):
            return
        self.m.loop.engine.event_register = True
        self.m.loop.end_slice()

    def _stop_wakeup(self) -> bool:
        """Stop ends on an EXTI line: a WFE on an event, or an interrupt the EXTI can pass as a
        CPU wake-up that would preempt; another pending interrupt waits for the next wake-up."""
        m = self.m
        loop, book = m.loop, m.book
        if loop.sleep_kind == "wfe" and loop.engine.event_register:
            return True
        lines = m.exti.stop_wakeup_irqs() & book.enabled
        threshold = book.execution_priority(0)
        for irq in range(c071.NUM_IRQS):
            number = c071.IRQ_BASE + irq
            if lines >> irq & 1 and book.is_pending(number) and book.priority(number) < threshold:
                return True
        return False

    # -- entering and leaving ----------------------------------------------------------------------
    def _enter(self) -> None:
        m = self.m
        mode = m.pwr.deep_sleep_mode()
        if mode is None:
            lpms = m.pwr.reg["CR1"].get("LPMS")
            m.services.report_unmodelled(f"PWR_CR1.LPMS={lpms:03b} (no C071 mode) at a deep sleep: entered as Stop",
                                         False, lpms)
            mode = "stop"
        optr = m.flash_controller.optr
        option, no_reset_bit = {"stop": ("nRST_STOP", N_RST_STOP), "standby": ("nRST_STDBY", N_RST_STDBY),
                                "shutdown": ("nRST_SHDW", N_RST_SHDW)}[mode]
        if not optr & no_reset_bit:
            m.event("pwr", f"entering {mode.capitalize()} with option bit {option}=0: reset")
            m.services.request_reset("lowpower")
            return
        iwdg_runs_on = {"stop": IWDG_STOP, "standby": IWDG_STDBY}.get(mode, 0)
        if not optr & iwdg_runs_on:
            m.iwdg.freeze()                  # IWDG_STOP / IWDG_STDBY = 0: the counter is frozen
        self.mode = mode
        self._entered_s = m.clock.seconds()
        m.event(f"pwr.{mode}", f"{mode.capitalize()} mode entered (WFI/WFE with SLEEPDEEP, LPMS="
                               f"{m.pwr.reg['CR1'].get('LPMS'):03b})", pc=m.cpu.pc())
        if mode == "stop":
            # DBG_CR.DBG_STOP keeps FCLK/HCLK on from an oscillator that stays active (SVD DBG_CR:
            # "Debug options in Stop mode"; RM0490 §30.10.2), so SysTick and every HCLK-domain
            # interrupt still count and can wake the core, as with a debugger attached.
            self._debug_clocks = bool(m.dbg.reg["CR"].value & DBG_STOP)
            if not self._debug_clocks:
                m.rcc.enter_stop()
            return
        m.sram.store(m.cpu.uc, m.sram.base, bytes(m.sram.size))      # SRAM is not retained
        if mode == "shutdown":
            m.scheduler.clear()                                       # LSI off: the chip's events go
        if m.pwr.enter_standby(shutdown=mode == "shutdown"):
            m.event("pwr", "a wake-up flag was already set on entry: immediate wake-up")
            m.services.request_reset("power" if mode == "shutdown" else "standby")

    def _exit_stop(self) -> None:
        m = self.m
        self.mode = "run"
        m.rcc.exit_stop()
        m.iwdg.thaw()
        m.event("pwr.stop", f"woke from Stop after {m.clock.seconds() - self._entered_s:.6f} s; "
                            "SYSCLK is HSISYS", pc=m.cpu.pc())

    # -- time with HCLK stopped ------------------------------------------------------------------
    def _pass_time(self, deadline_ps: Optional[int]) -> None:
        m, loop = self.m, self.m.loop
        target = m.scheduler.next_time_ps()
        if deadline_ps is not None and (target is None or target >= deadline_ps):
            target = deadline_ps
            loop.end = RunEnd(EndReason.TIME_LIMIT, f"time limit reached (in {self.mode.capitalize()} mode)",
                              pc=m.cpu.pc())
        elif target is None:
            loop.end = RunEnd(EndReason.TIME_LIMIT, f"core in {self.mode.capitalize()} mode with no wake-up "
                                                    "source; no time limit set", pc=m.cpu.pc())
            return
        m.clock.pass_time_without_cycles(target)
        m.scheduler.frequency_changed()
