"""Extended interrupt and event controller (EXTI) - RM0490 EXTI chapter (§14), register map §14.5.

Register table (offsets and reset values as ST's SVD, STM32C071.svd):

  0x00 RTSR1    RT0..RT15      rising trigger selection, configurable lines 0-15
  0x04 FTSR1    FT0..FT15      falling trigger selection
  0x08 SWIER1   SWI0..SWI15    software rising-edge event (self-clearing, reads 0)
  0x0C RPR1     RPIF0..RPIF15  rising-edge pending, write 1 to clear
  0x10 FPR1     FPIF0..FPIF15  falling-edge pending, write 1 to clear
  0x28-0x38     RTSR2 FTSR2 SWIER2 RPR2 FPR2: line 34 (PVM VDDIO2) - declared, not modelled
  0x60-0x6C EXTICR1..4 EXTIx[7:0]  GPIO port of line x: 0 PA, 1 PB, 2 PC, 3 PD, 5 PF
  0x80 IMR1     reset 0xFFF8_0000  CPU wake-up with interrupt mask (lines 0-15 modelled;
                                   direct lines 19 RTC, 23 I2C1, 25 USART1, 31 LSE CSS declared)
  0x84 EMR1     CPU wake-up with event mask (same lines)
  0x90 IMR2 / 0x94 EMR2  lines 34 (PVM VDDIO2) and 36 (USB) - declared, not modelled

Behaviour of the configurable lines 0-15 (the GPIO lines):
* The line x input is pin x of the port EXTICRx selects.  An edge of that pin's input
  (the machine reports every change of a pin's electrical level; a pin in analog mode
  has its Schmitt trigger off and gives no edges, RM0490 §7.3.12) sets RPIFx on a
  rising edge when RTx = 1 and FPIFx on a falling edge when FTx = 1.
* SWIx = 1 acts as a rising edge whatever RTSR1/FTSR1 say; the bit reads 0 (SVD
  SWIER1 description).
* The pending bits latch whatever IMR1 says; IMx gates the interrupt request: lines 0-1
  drive EXTI0_1 (IRQ 5), lines 2-3 EXTI2_3 (IRQ 6), lines 4-15 EXTI4_15 (IRQ 7)
  (RM0490 Table 55).  The request is a level held while a pending, unmasked bit is set.
* EMx = 1 turns an edge into a CPU event (RXEV): it wakes a WFE and sets the event
  register otherwise.  Events latch nothing in EXTI.
* Wake-up from Stop needs no clock here: the edge detection is asynchronous, so a
  line works whether or not HCLK runs (the machine keeps the EXTI alive in Stop).
  ``stop_wakeup_irqs`` tells the machine which NVIC lines can end Stop: the three GPIO
  groups, and RTC / I2C1 / USART1 / PVM / USB interrupts while IMRx unmasks their line
  (their own wake-up conditions belong to those blocks).
"""
from __future__ import annotations

from typing import Callable

from . import c071
from .regs import Access, BusKind, Peripheral, reg, rw, todo, w1c, wo
from .services import ChipServices

LINES = 16
PORT_CODES = {"GPIOA": 0, "GPIOB": 1, "GPIOC": 2, "GPIOD": 3, "GPIOF": 5}     # EXTICRx values
DIRECT_LINES = {19: "RTC", 23: "I2C1 wake-up", 25: "USART1 wake-up", 31: "LSE CSS"}
IRQ_GROUPS = ((c071.IRQ_EXTI0_1, 0x0003), (c071.IRQ_EXTI2_3, 0x000C), (c071.IRQ_EXTI4_15, 0xFFF0))
# Peripheral interrupts combined with a direct or configurable EXTI line, by IMR register and
# bit (RM0490 Table 55): RTC (line 19), I2C1 (23), USART1 (25), PVM_VDDIO2 (34), USB (36)
WAKEUP_LINE_IRQS = (("IMR1", 19, 2), ("IMR1", 23, 23), ("IMR1", 25, c071.IRQ_USART1),
                    ("IMR2", 2, 1), ("IMR2", 4, c071.IRQ_USB))
_ANALOG = 3


def _lines(prefix: str, access=rw) -> list:
    return [access(f"{prefix}{i}", i) for i in range(LINES)]


def _direct(prefix: str) -> list:
    return [todo(f"{prefix}{line}", line, doc=f"direct line {line}: {what}") for line, what in DIRECT_LINES.items()]


class ExtendedInterrupts(Peripheral):
    name = "EXTI"
    bus = BusKind.AHB
    manual = "RM0490 §14"

    def __init__(self, base: int, services: ChipServices | None = None) -> None:
        super().__init__(base, services, registers=[
            reg("RTSR1", 0x00, 0, *_lines("RT"), on_write=self._watch_written),
            reg("FTSR1", 0x04, 0, *_lines("FT"), on_write=self._watch_written),
            reg("SWIER1", 0x08, 0, *_lines("SWI", wo), on_write=self._swier_written),
            reg("RPR1", 0x0C, 0, *_lines("RPIF", w1c), on_write=self._pending_written),
            reg("FPR1", 0x10, 0, *_lines("FPIF", w1c), on_write=self._pending_written),
            reg("RTSR2", 0x28, 0, todo("RT34", 2)),
            reg("FTSR2", 0x2C, 0, todo("FT34", 2)),
            reg("SWIER2", 0x30, 0, todo("SWI34", 2, access=Access.WO)),
            reg("RPR2", 0x34, 0, todo("RPIF34", 2, access=Access.W1C)),
            reg("FPR2", 0x38, 0, todo("FPIF34", 2, access=Access.W1C)),
            *[reg(f"EXTICR{n + 1}", 0x60 + 4 * n, 0, *[rw(f"EXTI{4 * n + i}", 8 * i, 8) for i in range(4)],
                  on_write=self._watch_written)
              for n in range(4)],
            reg("IMR1", 0x80, 0xFFF8_0000, *_lines("IM"), *_direct("IM"), on_write=self._pending_written),
            reg("EMR1", 0x84, 0, *_lines("EM"), *_direct("EM")),
            reg("IMR2", 0x90, 0, todo("IM34", 2), todo("IM36", 4)),
            reg("EMR2", 0x94, 0, todo("EM34", 2), todo("EM36", 4)),
        ])
        self.cpu_event: Callable[[], None] = lambda: None     # RXEV of the core (machine wiring)
        # Told when the set of GPIO pins whose edges this block acts on may have changed
        # (machine wiring: GPIO ODR writes to other pins need no model, see watched_pins).
        self.watch_changed: Callable[[], None] = lambda: None
        self._exticr = [self.reg[f"EXTICR{i}"] for i in range(1, 5)]
        self._irq_levels = {irq: False for irq, _ in IRQ_GROUPS}

    def on_reset(self) -> None:
        self._irq_levels = {irq: False for irq, _ in IRQ_GROUPS}
        for irq, _ in IRQ_GROUPS:
            self.services.set_irq_line(irq, False)
        self.watch_changed()

    def _watch_written(self, old: int, new: int) -> None:
        if old != new:
            self.watch_changed()

    def watched_pins(self, port_name: str) -> int:
        """Pins of ``port_name`` whose level changes ``pin_changed`` may act on: lines whose
        EXTICR selects the port and that have a rising or falling trigger (a superset: the
        analog-mode and held-in-reset checks are left to pin_changed)."""
        code = PORT_CODES.get(port_name)
        triggers = (self.reg["RTSR1"].value | self.reg["FTSR1"].value) & 0xFFFF
        pins = 0
        while triggers:
            line = (triggers & -triggers).bit_length() - 1
            triggers &= triggers - 1
            if self._exticr[line >> 2].value >> (8 * (line & 3)) & 0xFF == code:
                pins |= 1 << line
        return pins

    # -- inputs -------------------------------------------------------------------------
    def pin_changed(self, port, pin: int, level: int) -> None:
        """A GPIO pin's level changed: an edge on line ``pin`` if EXTICR selects its port."""
        if not 0 <= pin < LINES or self.held_in_reset:
            return
        cr = self._exticr[pin >> 2].value >> (8 * (pin & 3)) & 0xFF
        if PORT_CODES.get(port.name) != cr or port.mode(pin) == _ANALOG:
            return
        bit = 1 << pin
        if level and self.reg["RTSR1"].value & bit:
            self._edge(bit, "RPR1")
        elif not level and self.reg["FTSR1"].value & bit:
            self._edge(bit, "FPR1")

    def _edge(self, lines: int, pending: str) -> None:
        self.reg[pending].value |= lines
        self._update_irqs()
        if self.reg["EMR1"].value & lines:
            self.cpu_event()

    def stop_wakeup_irqs(self) -> int:
        """NVIC lines that can end Stop (RM0490 §5.3, EXTI "CPU wake-up"): the GPIO line groups,
        and a peripheral's interrupt only while the EXTI line it is combined with is unmasked."""
        lines = sum(1 << irq for irq, _ in IRQ_GROUPS)
        for register, bit, irq in WAKEUP_LINE_IRQS:
            if self.reg[register].value >> bit & 1:
                lines |= 1 << irq
        return lines

    # -- registers ------------------------------------------------------------------------
    def _swier_written(self, old: int, new: int) -> None:
        lines = self.reg["SWIER1"].last_written & 0xFFFF
        self.reg["SWIER1"].value = 0
        if lines:
            self._edge(lines, "RPR1")

    def _pending_written(self, old: int, new: int) -> None:
        self._update_irqs()

    def _update_irqs(self) -> None:
        requests = (self.reg["RPR1"].value | self.reg["FPR1"].value) & self.reg["IMR1"].value
        for irq, lines in IRQ_GROUPS:
            level = bool(requests & lines)
            if level != self._irq_levels[irq]:
                self._irq_levels[irq] = level
                self.services.set_irq_line(irq, level)
