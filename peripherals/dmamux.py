"""DMA request multiplexer (DMAMUX, 0x4002_0800, AHB) - RM0490 "DMA request multiplexer (DMAMUX)".

Register map (offsets and reset values: RM0490 DMAMUX register map, checked against ST's
SVD in tests/test_svd_oracle.py; the SVD calls the block DMAMUX, RM0490 DMAMUX1):

    0x000-0x010 C0CR..C4CR  request line multiplexer channel x: DMAREQ_ID[5:0] SOIE[8] EGE[9]
                            SE[16] SPOL[18:17] NBREQ[23:19] SYNC_ID[28:24]
    0x080 CSR               synchronization overrun flags SOF0..SOF4
    0x084 CFR               clear flags CSOF0..CSOF4 (write 1)
    0x100-0x10C RG0CR..RG3CR request generator x: SIG_ID[4:0] OIE[8] GE[16] GPOL[18:17] GNBREQ[23:19]
    0x140 RGSR              generator overrun flags OF0..OF3
    0x144 RGCFR             clear flags COF0..COF3 (write 1)

Behaviour: multiplexer channel x forwards the DMA request line selected by DMAREQ_ID to
DMA1 channel x + 1 (five channels on the C071).  A peripheral drives its request line
through the callable ``connect`` returns; the level reaches the DMA at once (the
request/acknowledge handshake is the peripheral deasserting its request when the DMA
accesses it).  Request line numbers are RM0490's DMAMUX input assignment table
(``REQUEST_LINES``); 0 is "no request" (memory-to-memory), 1-4 the request generators.

Not modelled (fields declared ``todo``, accesses reported): synchronization (SE, SPOL,
NBREQ, SYNC_ID, SOIE, EGE) and the request generators (RGxCR).  The overrun flags can
therefore never be set - as on silicon with synchronization and generators off - so
CSR/RGSR read 0 and the DMAMUX share of IRQ 11 stays low.  Enabling a DMA channel on a
request line whose peripheral does not drive DMA requests in this emulator is reported
as an unmodelled access of that channel's CxCR.
"""
from __future__ import annotations

from typing import Callable, Optional

from .regs import BusKind, Peripheral, Register, reg, ro, rw, todo, wo
from .services import ChipServices

CHANNELS = 5
GENERATORS = 4

# DMAMUX request inputs (RM0490 DMAMUX "assignment of multiplexer inputs to resources").  The
# lines the C031 also has (ADC1, I2C1, SPI1, TIM1/3/16/17, USART1/2) agree with ChibiOS'
# STM32C0xx DMAMUX header; I2C2, SPI2 and TIM2 (C071 only) are placed as on the STM32G0
# (RM0444), whose numbering the C0 follows - INFERENCE, to check against RM0490.
# The request lines are state of the peripherals that drive them: a DMAMUX reset keeps them.
REQUEST_LINES = {
    "GENERATOR0": 1, "GENERATOR1": 2, "GENERATOR2": 3, "GENERATOR3": 4,
    "ADC1": 5,
    "I2C1_RX": 10, "I2C1_TX": 11, "I2C2_RX": 12, "I2C2_TX": 13,
    "SPI1_RX": 16, "SPI1_TX": 17, "SPI2_RX": 18, "SPI2_TX": 19,
    "TIM1_CH1": 20, "TIM1_CH2": 21, "TIM1_CH3": 22, "TIM1_CH4": 23, "TIM1_TRIG_COM": 24, "TIM1_UP": 25,
    "TIM2_CH1": 26, "TIM2_CH2": 27, "TIM2_CH3": 28, "TIM2_CH4": 29, "TIM2_TRIG": 30, "TIM2_UP": 31,
    "TIM3_CH1": 32, "TIM3_CH2": 33, "TIM3_CH3": 34, "TIM3_CH4": 35, "TIM3_TRIG": 36, "TIM3_UP": 37,
    "TIM16_CH1": 44, "TIM16_COM": 45, "TIM16_UP": 46, "TIM17_CH1": 47, "TIM17_COM": 48, "TIM17_UP": 49,
    "USART1_RX": 50, "USART1_TX": 51, "USART2_RX": 52, "USART2_TX": 53,
}
LINE_NAMES = {number: name for name, number in REQUEST_LINES.items()}


class DmaRequestMux(Peripheral):
    name = "DMAMUX"
    bus = BusKind.AHB
    manual = "RM0490 DMAMUX"

    def __init__(self, base: int, services: ChipServices | None = None) -> None:
        channels = [reg(f"C{x}CR", 0x04 * x, 0,
                        rw("DMAREQ_ID", 0, 6), todo("SOIE", 8), todo("EGE", 9), todo("SE", 16),
                        todo("SPOL", 17, 2), todo("NBREQ", 19, 5), todo("SYNC_ID", 24, 5),
                        on_write=lambda o, n, x=x: self._selection_changed(x, o, n))
                    for x in range(CHANNELS)]
        generators = [reg(f"RG{x}CR", 0x100 + 0x04 * x, 0,
                          todo("SIG_ID", 0, 5), todo("OIE", 8), todo("GE", 16), todo("GPOL", 17, 2),
                          todo("GNBREQ", 19, 5))
                      for x in range(GENERATORS)]
        super().__init__(base, services, registers=[
            *channels,
            reg("CSR", 0x080, 0, *[ro(f"SOF{x}", x) for x in range(CHANNELS)]),
            reg("CFR", 0x084, 0, *[wo(f"CSOF{x}", x) for x in range(CHANNELS)]),
            *generators,
            reg("RGSR", 0x140, 0, *[ro(f"OF{x}", x) for x in range(GENERATORS)]),
            reg("RGCFR", 0x144, 0, *[wo(f"COF{x}", x) for x in range(GENERATORS)]),
        ])
        self._levels: dict[int, bool] = {}        # request line -> level, for every driven line
        self._driven: set[int] = set()
        # DMA1's view: called with the DMA channel number (1-5) whose request may have changed
        self.request_changed: Callable[[int], None] = lambda channel: None

    # -- wiring (done once by the machine) -----------------------------------------
    def connect(self, *names: str) -> Callable[[str, bool], None]:
        """Declare request lines a peripheral model drives; returns the setter it calls
        with ``(line name, level)``."""
        for name in names:
            self._driven.add(REQUEST_LINES[name])
        return self.request

    # -- request lines ------------------------------------------------------------------
    def request(self, name: str, level: bool) -> None:
        line = REQUEST_LINES[name]
        if self._levels.get(line, False) == level:
            return
        self._levels[line] = level
        for x in range(CHANNELS):
            if self._selected(x) == line:
                self.request_changed(x + 1)

    def _selected(self, x: int) -> int:
        return self.reg[f"C{x}CR"].get("DMAREQ_ID")

    def request_active(self, channel: int) -> bool:
        """The request level DMA1 channel ``channel`` (1-5) sees."""
        line = self._selected(channel - 1)
        return line != 0 and self._levels.get(line, False)

    def check_driven(self, channel: int) -> Optional[str]:
        """Called when DMA1 ``channel`` starts waiting for peripheral requests: a line no model
        drives is reported (the transfer would wait forever for a reason the user cannot see)."""
        line = self._selected(channel - 1)
        if line == 0 or line in self._driven:
            return None
        name = LINE_NAMES.get(line, f"request line {line} (reserved)")
        cxcr: Register = self.reg[f"C{channel - 1}CR"]
        self.services.event("dma", f"DMA1 channel {channel} waits for DMAMUX request {line} ({name}): "
                                   "that request is not modelled, the transfer will not progress")
        self.services.unmodelled(self, cxcr.offset, 4, is_write=True, value=cxcr.value, reg=cxcr)
        return name

    def _selection_changed(self, x: int, old: int, new: int) -> None:
        if (old ^ new) & 0x3F:
            self.request_changed(x + 1)
