"""SPI1 (0x4001_3000, IRQ 25) and SPI2 (0x4000_3800, IRQ 26) with nothing attached - RM0490, SPI/I2S chapter.

Register map (RM0490 "SPI and I2S registers"; 16-bit registers, offsets, resets and
field positions checked against ST's SVD in tests/test_svd_oracle.py):

    0x00 CR1   CPHA CPOL MSTR BR[5:3] SPE LSBFIRST SSI SSM RXONLY CRCL CRCNEXT CRCEN
               BIDIOE BIDIMODE
    0x04 CR2   RXDMAEN TXDMAEN SSOE NSSP FRF ERRIE RXNEIE TXEIE DS[11:8] FRXTH LDMA_RX
               LDMA_TX                                   (reset 0x0700: DS = 8 bits)
    0x08 SR    RXNE TXE CHSIDE UDR CRCERR MODF OVR BSY FRE FRLVL[10:9] FTLVL[12:11]
    0x0C DR    0x10 CRCPR (reset 7)   0x14 RXCRCR   0x18 TXCRCR
    0x1C I2SCFGR   0x20 I2SPR (reset 2)

Behaviour modelled (RM0490 "SPI functional description": data frame format, data
packing, TX/RX FIFOs, "Communication using DMA", status flags):

* Frames of DS+1 bits (4..16); a "not used" DS value (0..2) is forced to 8 bits.
  TX and RX FIFOs of 32 bits each.  A write to DR pushes the access size's bytes into
  the TX FIFO (an 8-bit access one byte, a 16-bit access two: data packing); a frame
  wider than 8 bits occupies two bytes.  A read of DR pops the access size's bytes.
* Master (MSTR = 1, SPE = 1): each frame shifts out of the TX FIFO at f_PCLK / 2^(BR+1)
  and takes DS+1 SCK periods; frames follow each other back to back while the FIFO
  holds data.  MISO is not driven by anything and idles high: every received frame is
  all ones (0xFF for 8-bit frames).  A frame that finds the RX FIFO full is lost (OVR).
* SR is computed: TXE = TX FIFO at most half full, FTLVL/FRLVL = FIFO levels (empty,
  1/4, 1/2, full), RXNE = RX FIFO level at or above the threshold (FRXTH = 1: 8 bits,
  FRXTH = 0: 16 bits), BSY while a frame is shifting or the TX FIFO is not empty.
* OVR is cleared by a read of DR followed by a read of SR; MODF is set when, in
  master mode with software NSS (SSM = 1), SSI = 0 (NSS low): SPE and MSTR clear; it
  is cleared by a read of SR followed by a write of CR1.  CRCERR is write-0-to-clear.
* Directions (CR1.BIDIMODE, BIDIOE, RXONLY): full duplex as above; transmit-only
  (BIDIMODE = 1, BIDIOE = 1) shifts the TX FIFO out and receives nothing; receive-only
  (RXONLY = 1, or BIDIMODE = 1 with BIDIOE = 0) makes the master clock frames in
  continuously while SPE = 1, whatever the TX FIFO holds.  Once such a frame overruns
  the full RX FIFO (OVR) the model stops clocking until a DR read makes room (further
  frames would only be lost too): the clock's phase then restarts at that read.
* Slave mode (MSTR = 0): no master drives SCK, so nothing is ever received.
* SPE = 0 lets the frame in progress finish; the FIFOs keep their contents (RM0490:
  the RX FIFO is read out by software after disabling).
* IRQ line: (TXE & TXEIE) | (RXNE & RXNEIE) | ((OVR | MODF | CRCERR | FRE) & ERRIE).

Status flags whose only cause is a mode declared ``todo`` (CHSIDE and UDR: I2S; FRE: TI
mode; CRCERR: hardware CRC) are plain status bits: they read 0, as on silicon, as long
as that mode is off, and turning the mode on is reported.

Not modelled (``todo``, accesses reported): hardware CRC (CRCEN, CRCNEXT, CRCL, CRCPR/RXCRCR/TXCRCR),
TI mode (FRF), NSS pulse (NSSP), DMA requests (RXDMAEN, TXDMAEN, LDMA_RX, LDMA_TX), I2S.
CPOL, CPHA, LSBFIRST and SSOE change only the waveform on the pins, which no device
samples: stored.
"""
from __future__ import annotations

from collections import deque
from typing import Callable, Optional

from . import c071
from .regs import Access, BusKind, Peripheral, reg, ro, rw, todo, w0c
from .services import ChipServices

FIFO_BYTES = 4
MISO_IDLE = 0xFFFF                  # nothing drives MISO: the line idles high


class Spi(Peripheral):
    name = "SPI1"              # per instance: "SPI1" or "SPI2"
    bus = BusKind.APB
    manual = "RM0490 SPI/I2S chapter"

    def __init__(self, base: int, services: ChipServices | None = None, name: str = "SPI1",
                 irq: int = c071.IRQ_SPI1, pclk_hz: Callable[[], int] = lambda: c071.RESET_SYSCLK_HZ) -> None:
        self.name = name
        self.irq = irq
        self.pclk_hz = pclk_hz
        self._tx: deque[int] = deque()
        self._rx: deque[int] = deque()
        self._shift_event: Optional[object] = None
        self._dr_read_since_sr = False
        self._sr_read_since_cr1 = False
        super().__init__(base, services, registers=[
            reg("CR1", 0x00, 0,
                rw("CPHA", 0), rw("CPOL", 1), rw("MSTR", 2), rw("BR", 3, 3), rw("SPE", 6), rw("LSBFIRST", 7),
                rw("SSI", 8), rw("SSM", 9), rw("RXONLY", 10), todo("CRCL", 11), todo("CRCNEXT", 12),
                todo("CRCEN", 13), rw("BIDIOE", 14), rw("BIDIMODE", 15), on_write=self._cr1_written),
            reg("CR2", 0x04, 0x0700,
                todo("RXDMAEN", 0), todo("TXDMAEN", 1), rw("SSOE", 2), todo("NSSP", 3), todo("FRF", 4),
                rw("ERRIE", 5), rw("RXNEIE", 6), rw("TXEIE", 7), rw("DS", 8, 4), rw("FRXTH", 12),
                todo("LDMA_RX", 13), todo("LDMA_TX", 14), on_write=self._cr2_written),
            reg("SR", 0x08, 0x0002,
                ro("RXNE", 0), ro("TXE", 1), ro("CHSIDE", 2), ro("UDR", 3),
                w0c("CRCERR", 4), ro("MODF", 5), ro("OVR", 6), ro("BSY", 7), ro("FRE", 8),
                ro("FRLVL", 9, 2), ro("FTLVL", 11, 2),
                on_read=self._sr_read, read_has_side_effects=True, on_write=lambda o, n: self._refresh()),
            reg("DR", 0x0C, 0, rw("DR", 0, 16)),
            reg("CRCPR", 0x10, 0x0007, todo("CRCPOLY", 0, 16)),
            reg("RXCRCR", 0x14, 0, todo("RXCRC", 0, 16, access=Access.RO)),
            reg("TXCRCR", 0x18, 0, todo("TXCRC", 0, 16, access=Access.RO)),
            reg("I2SCFGR", 0x1C, 0, todo("CHLEN", 0), todo("DATLEN", 1, 2), todo("CKPOL", 3), todo("I2SSTD", 4, 2),
                todo("PCMSYNC", 7), todo("I2SCFG", 8, 2), todo("I2SE", 10), todo("I2SMOD", 11),
                todo("ASTRTEN", 12)),
            reg("I2SPR", 0x20, 0x0002, todo("I2SDIV", 0, 8), todo("ODD", 8), todo("MCKOE", 9)),
        ])

    # -- reset -----------------------------------------------------------------------
    def on_reset(self) -> None:
        if self._shift_event is not None:
            self._shift_event.cancel()
        self._shift_event = None
        self._tx.clear()
        self._rx.clear()
        self._dr_read_since_sr = False
        self._sr_read_since_cr1 = False
        self._refresh()

    # -- frame format and timing ----------------------------------------------------------
    def frame_bits(self) -> int:
        return self.reg["CR2"].get("DS") + 1

    def _frame_bytes(self) -> int:
        return 1 if self.frame_bits() <= 8 else 2

    def sck_hz(self) -> float:
        return self.pclk_hz() / (2 << self.reg["CR1"].get("BR"))

    def frame_seconds(self) -> float:
        return self.frame_bits() / max(self.sck_hz(), 1e-9)

    # -- DR: access size matters (data packing), so the bus access is handled here -------
    def read(self, offset: int, size: int) -> int:
        if offset & ~3 != 0x0C or not self.clock_enabled() or self.held_in_reset:
            return super().read(offset, size)
        value = 0
        for i in range(min(size, 2)):
            value |= (self._rx.popleft() if self._rx else 0) << (8 * i)
        self._dr_read_since_sr = True
        dr = self.reg["DR"]
        dr.value = value
        self.services.mmio_read(self, dr, value)
        self._kick()                       # receive-only: room in the RX FIFO restarts the clock
        self._refresh()
        return value

    def write(self, offset: int, size: int, data: int) -> None:
        if offset & ~3 != 0x0C or not self.clock_enabled() or self.held_in_reset:
            super().write(offset, size, data)
            return
        dr = self.reg["DR"]
        old = dr.value
        dr.value = dr.last_written = data & 0xFFFF
        dr.last_writer = self.services.provenance()
        self.services.mmio_write(self, dr, old, data)
        for i in range(min(size, 2)):
            if len(self._tx) < FIFO_BYTES:
                self._tx.append(data >> (8 * i) & 0xFF)
            else:
                self.services.event(self.name.lower(), f"{self.name}: DR written with the TX FIFO full: byte lost")
        self._kick()
        self._refresh()

    def push_tx(self, value: int, size: int = 1) -> None:
        """Bus-level tests: a DR write of ``size`` bytes."""
        self.write(0x0C, size, value)

    def pop_rx(self, size: int = 1) -> int:
        return self.read(0x0C, size)

    # -- the shift register ----------------------------------------------------------------
    def _master_running(self) -> bool:
        cr1 = self.reg["CR1"]
        return bool(cr1.get("SPE") and cr1.get("MSTR"))

    def _receive_only(self) -> bool:
        cr1 = self.reg["CR1"]
        return bool(cr1.get("RXONLY") if not cr1.get("BIDIMODE") else not cr1.get("BIDIOE"))

    def _transmit_only(self) -> bool:
        cr1 = self.reg["CR1"]
        return bool(cr1.get("BIDIMODE") and cr1.get("BIDIOE"))

    def _kick(self) -> None:
        if self._shift_event is not None or not self._master_running():
            return
        nbytes = self._frame_bytes()
        if self._receive_only():
            if len(self._rx) + nbytes > FIFO_BYTES and self.reg["SR"].get("OVR"):
                return                     # overrun already flagged: wait for a DR read
        elif len(self._tx) >= nbytes:
            for _ in range(nbytes):
                self._tx.popleft()
        else:
            return
        self._shift_event = self.services.after_seconds(self.frame_seconds(), self._frame_done,
                                                        f"{self.name} frame")

    def _frame_done(self) -> None:
        self._shift_event = None
        received = MISO_IDLE & ((1 << self.frame_bits()) - 1)
        nbytes = self._frame_bytes()
        if self._transmit_only():
            pass                           # the receiver is off: nothing enters the RX FIFO
        elif len(self._rx) + nbytes > FIFO_BYTES:
            self.reg["SR"].set("OVR", 1)
            self.services.event(self.name.lower(), f"{self.name}: RX FIFO full: frame lost (OVR)")
        else:
            for i in range(nbytes):
                self._rx.append(received >> (8 * i) & 0xFF)
        self._kick()
        self._refresh()

    # -- register behaviour ----------------------------------------------------------------
    def _cr1_written(self, old: int, new: int) -> None:
        cr1, sr = self.reg["CR1"], self.reg["SR"]
        if self._sr_read_since_cr1 and sr.get("MODF"):
            sr.set("MODF", 0)
        self._sr_read_since_cr1 = False
        if cr1.get("MSTR") and cr1.get("SSM") and not cr1.get("SSI") and cr1.get("SPE"):
            # software NSS low in master mode: mode fault (RM0490 SPI "Mode fault (MODF)")
            sr.set("MODF", 1)
            cr1.set("SPE", 0)
            cr1.set("MSTR", 0)
            self.services.event(self.name.lower(), f"{self.name}: mode fault (SSM = 1, SSI = 0 in master mode): "
                                "SPE and MSTR cleared")
        self._kick()
        self._refresh()

    def _cr2_written(self, old: int, new: int) -> None:
        cr2 = self.reg["CR2"]
        if cr2.get("DS") < 3:
            cr2.set("DS", 7)           # "not used" sizes are forced to 8 bits (RM0490 SPI_CR2.DS)
        self._refresh()

    def _sr_read(self, stored: int) -> int:
        value = stored
        sr = self.reg["SR"]
        if self._dr_read_since_sr and sr.get("OVR"):
            sr.set("OVR", 0)           # DR read then SR read clears OVR; this read still shows it
        self._dr_read_since_sr = False
        self._sr_read_since_cr1 = True
        return value

    @staticmethod
    def _level(nbytes: int) -> int:
        return min(nbytes, 3)

    def _refresh(self) -> None:
        """Recompute the FIFO-derived SR bits and the IRQ line."""
        sr, cr2 = self.reg["SR"], self.reg["CR2"]
        threshold = 1 if cr2.get("FRXTH") else 2
        sr.set("FTLVL", self._level(len(self._tx)))
        sr.set("FRLVL", self._level(len(self._rx)))
        sr.set("TXE", int(len(self._tx) <= FIFO_BYTES // 2))
        sr.set("RXNE", int(len(self._rx) >= threshold))
        sr.set("BSY", int(self._shift_event is not None or (bool(self._tx) and self._master_running())))
        errors = sr.get("OVR") or sr.get("MODF") or sr.get("CRCERR")
        pending = (sr.get("TXE") and cr2.get("TXEIE")) or (sr.get("RXNE") and cr2.get("RXNEIE")) \
            or (errors and cr2.get("ERRIE"))
        self.services.set_irq_line(self.irq, bool(pending))


def make_spi(name: str, services: ChipServices | None = None,
             pclk_hz: Callable[[], int] = lambda: c071.RESET_SYSCLK_HZ) -> Spi:
    base, irq = {"SPI1": (c071.SPI1, c071.IRQ_SPI1), "SPI2": (c071.SPI2, c071.IRQ_SPI2)}[name]
    return Spi(base, services, name, irq, pclk_hz)


def oracle_instances(services: ChipServices) -> list[Spi]:
    """Both instances, for the SVD oracle."""
    return [make_spi("SPI1", services), make_spi("SPI2", services)]
