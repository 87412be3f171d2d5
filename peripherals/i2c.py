"""I2C1 (0x4000_5400, IRQ 23) and I2C2 (0x4000_5800, IRQ 24) on a bare bus - RM0490, I2C chapter.

Register map (RM0490 "I2C registers"; offsets, reset values and field positions are
checked against ST's SVD in tests/test_svd_oracle.py):

    0x00 CR1      PE TXIE RXIE ADDRIE NACKIE STOPIE TCIE ERRIE DNF[11:8] ANFOFF TXDMAEN
                  RXDMAEN SBC NOSTRETCH WUPEN GCEN SMBHEN SMBDEN ALERTEN PECEN
    0x04 CR2      SADD[9:0] RD_WRN ADD10 HEAD10R START STOP NACK NBYTES[23:16] RELOAD
                  AUTOEND PECBYTE
    0x08 OAR1     0x0C OAR2     0x10 TIMINGR  PRESC[31:28] SCLDEL SDADEL SCLH SCLL
    0x14 TIMEOUTR 0x18 ISR (reset TXE = 1)    0x1C ICR     0x20 PECR
    0x24 RXDR     0x28 TXDR

The bus is bare: no device is attached, so no address is ever acknowledged and no
other master ever addresses this interface.  Behaviour (RM0490 "I2C master mode",
"Master communication initialization", "Master transmitter/receiver" and the ISR,
ICR and CR2 bit descriptions):

* Setting CR2.START while PE = 1 makes the interface master: BUSY = 1 at the START
  condition; the START condition and the address byte then take, on the SCL clock
  derived from TIMINGR, t_HD;STA (SCLH+1 prescaled periods) plus 9 SCL periods (8 address
  bits and the acknowledge bit).  t_SCL = t_SYNC1 + t_SCLL + t_SYNC2 + t_SCLH with
  t_SCLL = (SCLL+1)(PRESC+1)/f_I2CCLK, t_SCLH = (SCLH+1)(PRESC+1)/f_I2CCLK and each
  t_SYNC = t_AF + (DNF+2)/f_I2CCLK (t_AF = 50 ns, the analog filter's minimum delay,
  when ANFOFF = 0; rise/fall times of a bare bus taken as 0).
* Nothing drives SDA low at the acknowledge bit: the address is not acknowledged.
  START is cleared (it is cleared "after the Start followed by the address sequence
  is sent"), NACKF = 1, and the master sends a STOP condition automatically whatever
  AUTOEND says ("if a NACK is received ... a STOP condition is automatically sent").
  The STOP takes one more SCL period; then STOPF = 1, BUSY = 0, CR2.STOP = 0.
  TXIS/RXNE/TC/TCR are therefore never set by a transfer on a bare bus; TXDR writes
  only clear TXE (TXDR holds the byte); TXE may be set by software to flush TXDR.
* ICR clears the flags it names; PE = 0 is the software reset: START/STOP/NACK and
  the flags BUSY TXIS RXNE ADDR NACKF TCR TC STOPF BERR ARLO OVR clear, TXE = 1, and a
  transfer in progress is abandoned.
* The IRQ line is the OR of (TXIS & TXIE), (RXNE & RXIE), (ADDR & ADDRIE), (NACKF &
  NACKIE), (STOPF & STOPIE), ((TC | TCR) & TCIE) and ((BERR | ARLO | OVR | PECERR |
  TIMEOUT | ALERT) & ERRIE).
* Own addresses (OAR1/OAR2), general call (GCEN), clock stretching (NOSTRETCH) and the
  slave NACK bit are stored: on a bare bus no master addresses this interface, so they
  have no observable effect.

Status flags whose only cause is a mode declared ``todo`` (PECERR, TIMEOUT, ALERT) are
plain read-only bits: they read 0, as on silicon, as long as that mode is off, and
turning the mode on is reported.

Not modelled (``todo``, accesses reported): slave byte control (SBC), wake-up from
Stop (WUPEN), DMA requests (TXDMAEN/RXDMAEN), SMBus (SMBHEN, SMBDEN, ALERTEN, PECEN,
PECBYTE, TIMEOUTR, PECR).  The kernel clock of I2C1 is RCC_CCIPR.I2C1SEL (machine
wiring); I2C2 runs on PCLK.
"""
from __future__ import annotations

from typing import Callable, Optional

from . import c071
from .regs import BusKind, Peripheral, reg, ro, rs, rw, todo, wo, Access
from .services import ChipServices

ANALOG_FILTER_S = 50e-9          # t_AF min (RM0490 I2C "analog filter" / datasheet I2C analog filter: 50 ns)
ADDRESS_BITS = 9                 # 8 address bits + the acknowledge bit

# ISR bits
TXE, TXIS, RXNE, ADDR, NACKF, STOPF, TC, TCR = (1 << n for n in range(8))
BERR, ARLO, OVR, PECERR, TIMEOUT, ALERT, BUSY = 1 << 8, 1 << 9, 1 << 10, 1 << 11, 1 << 12, 1 << 13, 1 << 15
ERRORS = BERR | ARLO | OVR | PECERR | TIMEOUT | ALERT
# flags cleared by PE = 0 (RM0490 I2C "software reset")
SOFTWARE_RESET_FLAGS = BUSY | TXIS | RXNE | ADDR | NACKF | TCR | TC | STOPF | BERR | ARLO | OVR


class I2c(Peripheral):
    name = "I2C1"              # per instance: "I2C1" or "I2C2"
    bus = BusKind.APB
    manual = "RM0490 I2C chapter"

    def __init__(self, base: int, services: ChipServices | None = None, name: str = "I2C1",
                 irq: int = c071.IRQ_I2C1,
                 kernel_clock_hz: Callable[[], int] = lambda: c071.RESET_SYSCLK_HZ) -> None:
        self.name = name
        self.irq = irq
        self.kernel_clock_hz = kernel_clock_hz
        self._phase_event: Optional[object] = None
        super().__init__(base, services, registers=[
            reg("CR1", 0x00, 0,
                rw("PE", 0), rw("TXIE", 1), rw("RXIE", 2), rw("ADDRIE", 3), rw("NACKIE", 4), rw("STOPIE", 5),
                rw("TCIE", 6), rw("ERRIE", 7), rw("DNF", 8, 4), rw("ANFOFF", 12), todo("TXDMAEN", 14),
                todo("RXDMAEN", 15), todo("SBC", 16), rw("NOSTRETCH", 17), todo("WUPEN", 18), rw("GCEN", 19),
                todo("SMBHEN", 20), todo("SMBDEN", 21), todo("ALERTEN", 22), todo("PECEN", 23),
                on_write=self._cr1_written),
            reg("CR2", 0x04, 0,
                rw("SADD", 0, 10), rw("RD_WRN", 10), rw("ADD10", 11), rw("HEAD10R", 12), rs("START", 13),
                rs("STOP", 14), rs("NACK", 15), rw("NBYTES", 16, 8), rw("RELOAD", 24), rw("AUTOEND", 25),
                todo("PECBYTE", 26), on_write=self._cr2_written),
            reg("OAR1", 0x08, 0, rw("OA1", 0, 10), rw("OA1MODE", 10), rw("OA1EN", 15)),
            reg("OAR2", 0x0C, 0, rw("OA2", 1, 7), rw("OA2MSK", 8, 3), rw("OA2EN", 15)),
            reg("TIMINGR", 0x10, 0, rw("SCLL", 0, 8), rw("SCLH", 8, 8), rw("SDADEL", 16, 4), rw("SCLDEL", 20, 4),
                rw("PRESC", 28, 4)),
            reg("TIMEOUTR", 0x14, 0, todo("TIMEOUTA", 0, 12), todo("TIDLE", 12), todo("TIMOUTEN", 15),
                todo("TIMEOUTB", 16, 12), todo("TEXTEN", 31)),
            reg("ISR", 0x18, TXE,
                rs("TXE", 0), rs("TXIS", 1), ro("RXNE", 2), ro("ADDR", 3), ro("NACKF", 4), ro("STOPF", 5),
                ro("TC", 6), ro("TCR", 7), ro("BERR", 8), ro("ARLO", 9), ro("OVR", 10),
                ro("PECERR", 11), ro("TIMEOUT", 12), ro("ALERT", 13), ro("BUSY", 15), ro("DIR", 16), ro("ADDCODE", 17, 7),
                on_write=lambda old, new: self._update_irq()),
            reg("ICR", 0x1C, 0, wo("ADDRCF", 3), wo("NACKCF", 4), wo("STOPCF", 5), wo("BERRCF", 8),
                wo("ARLOCF", 9), wo("OVRCF", 10), todo("PECCF", 11, access=Access.WO),
                todo("TIMOUTCF", 12, access=Access.WO), todo("ALERTCF", 13, access=Access.WO),
                on_write=self._icr_written),
            reg("PECR", 0x20, 0, todo("PEC", 0, 8, access=Access.RO)),
            reg("RXDR", 0x24, 0, ro("RXDATA", 0, 8), on_read=self._rxdr_read, read_has_side_effects=True),
            reg("TXDR", 0x28, 0, rw("TXDATA", 0, 8), on_write=self._txdr_written),
        ])

    # -- reset -----------------------------------------------------------------------
    def on_reset(self) -> None:
        self._cancel_phase()
        self._update_irq()

    def _cancel_phase(self) -> None:
        if self._phase_event is not None:
            self._phase_event.cancel()
            self._phase_event = None

    # -- timing ----------------------------------------------------------------------
    def scl_period_seconds(self) -> float:
        """One SCL period from TIMINGR, the filters and the kernel clock (RM0490 "I2C timings")."""
        t = self.reg["TIMINGR"]
        cr1 = self.reg["CR1"]
        clk = max(self.kernel_clock_hz(), 1)
        presc = (t.get("PRESC") + 1) / clk
        sync = (0.0 if cr1.get("ANFOFF") else ANALOG_FILTER_S) + (cr1.get("DNF") + 2) / clk
        return (t.get("SCLL") + 1) * presc + (t.get("SCLH") + 1) * presc + 2 * sync

    def _start_hold_seconds(self) -> float:
        t = self.reg["TIMINGR"]
        return (t.get("SCLH") + 1) * (t.get("PRESC") + 1) / max(self.kernel_clock_hz(), 1)

    # -- register behaviour ------------------------------------------------------------
    def _cr1_written(self, old: int, new: int) -> None:
        if old & 1 and not new & 1:
            self._software_reset()
        self._update_irq()

    def _software_reset(self) -> None:
        """PE = 0 (RM0490 "I2C software reset"): communication stopped, flags and CR2 bits cleared."""
        self._cancel_phase()
        isr, cr2 = self.reg["ISR"], self.reg["CR2"]
        isr.value = (isr.value & ~SOFTWARE_RESET_FLAGS) | TXE
        for name in ("START", "STOP", "NACK"):
            cr2.set(name, 0)

    def _cr2_written(self, old: int, new: int) -> None:
        cr2 = self.reg["CR2"]
        if not self.reg["CR1"].get("PE"):
            for name in ("START", "STOP", "NACK"):
                cr2.set(name, 0)          # cleared by hardware while PE = 0: nothing happens
            return
        started = not old >> 13 & 1 and new >> 13 & 1
        if started and self._phase_event is None:
            self._start_condition()
        elif started:
            self.services.event(self.name.lower(), f"{self.name}: START while a transfer is in progress "
                                "(repeated START) is not modelled")
        if new >> 14 & 1 and self._phase_event is None:
            cr2.set("STOP", 0)            # not master: no STOP to send

    def _start_condition(self) -> None:
        cr2 = self.reg["CR2"]
        self.reg["ISR"].value |= BUSY
        address = cr2.get("SADD") if cr2.get("ADD10") else cr2.get("SADD") >> 1 & 0x7F
        direction = "read" if cr2.get("RD_WRN") else "write"
        seconds = self._start_hold_seconds() + ADDRESS_BITS * self.scl_period_seconds()
        self.services.event(self.name.lower(), f"{self.name}: START, address {address:#04x} ({direction}), "
                            f"{cr2.get('NBYTES')} byte(s); SCL period {self.scl_period_seconds() * 1e6:.2f} us")
        self._phase_event = self.services.after_seconds(seconds, self._address_not_acknowledged,
                                                        f"{self.name} address phase")

    def _address_not_acknowledged(self) -> None:
        cr2, isr = self.reg["CR2"], self.reg["ISR"]
        cr2.set("START", 0)
        isr.value |= NACKF
        self.services.event(self.name.lower(), f"{self.name}: address not acknowledged (no device on the bus): "
                            "NACKF, automatic STOP")
        self._phase_event = self.services.after_seconds(self.scl_period_seconds(), self._stop_condition,
                                                        f"{self.name} STOP condition")
        self._update_irq()

    def _stop_condition(self) -> None:
        self._phase_event = None
        self.reg["CR2"].set("STOP", 0)
        isr = self.reg["ISR"]
        isr.value = (isr.value | STOPF) & ~BUSY
        self._update_irq()

    def _icr_written(self, old: int, new: int) -> None:
        icr = self.reg["ICR"]
        cleared = icr.last_written & (ADDR | NACKF | STOPF | BERR | ARLO | OVR | PECERR | TIMEOUT | ALERT)
        self.reg["ISR"].value &= ~cleared
        icr.value = 0
        self._update_irq()

    def _txdr_written(self, old: int, new: int) -> None:
        isr = self.reg["ISR"]
        isr.value &= ~(TXE | TXIS)
        self._update_irq()

    def _rxdr_read(self, stored: int) -> int:
        self.reg["ISR"].value &= ~RXNE
        self._update_irq()
        return stored

    # -- interrupt ----------------------------------------------------------------------
    def interrupt_pending(self) -> bool:
        isr, cr1 = self.reg["ISR"].value, self.reg["CR1"].value
        enabled = ((TXIS if cr1 >> 1 & 1 else 0) | (RXNE if cr1 >> 2 & 1 else 0) | (ADDR if cr1 >> 3 & 1 else 0)
                   | (NACKF if cr1 >> 4 & 1 else 0) | (STOPF if cr1 >> 5 & 1 else 0)
                   | (TC | TCR if cr1 >> 6 & 1 else 0) | (ERRORS if cr1 >> 7 & 1 else 0))
        return bool(isr & enabled)

    def _update_irq(self) -> None:
        self.services.set_irq_line(self.irq, self.interrupt_pending())


def make_i2c(name: str, services: ChipServices | None = None,
             kernel_clock_hz: Callable[[], int] = lambda: c071.RESET_SYSCLK_HZ) -> I2c:
    base, irq = {"I2C1": (c071.I2C1, c071.IRQ_I2C1), "I2C2": (c071.I2C2, c071.IRQ_I2C2)}[name]
    return I2c(base, services, name, irq, kernel_clock_hz)


def oracle_instances(services: ChipServices) -> list[I2c]:
    """Both instances, for the SVD oracle."""
    return [make_i2c("I2C1", services), make_i2c("I2C2", services)]
