"""USART1 (0x4001_3800, IRQ 27) and USART2 (0x4000_4400, IRQ 28) - RM0490 §24 (USART).

Register map (offsets, reset values and bit positions: RM0490 USART register map,
cross-checked with ST's SVD for the C071 in tests/test_svd_oracle.py):

    0x00 CR1   0x04 CR2   0x08 CR3   0x0C BRR   0x10 GTPR  0x14 RTOR  0x18 RQR
    0x1C ISR   0x20 ICR   0x24 RDR   0x28 TDR   0x2C PRESC

The wire is not a register interface: a host agent (``emulator.host.serial_port``)
starts each character it sends with ``rx_start(value, framing)`` and the model calls
``on_transmit(value, framing)`` at the end of each character it shifts out.  Both
directions are timed on the simulated clock by the *sender's* baud rate.

Behaviour modelled, with sources (paraphrased, RM0490 §24.5 "USART functional
description" unless stated):

* Character frame: start bit + word (M1:M0 = 00 8 bits, 01 9 bits, 10 7 bits; the
  parity bit, when PCE = 1, is the word's MSB) + stop bits (CR2.STOP 00 1, 01 0.5,
  10 2, 11 1.5).  8E1 = M0=1, PCE=1, PS=0 = 11 bit times.
* Baud rate: usart_ker_ck_pres = kernel clock / PRESC (1, 2, 4, 6, 8, 10, 12, 16,
  32, 64, 128, 256); OVER8 = 0: baud = ck / BRR; OVER8 = 1: USARTDIV = BRR[15:4] << 4
  | BRR[2:0] << 1 and baud = 2 * ck / USARTDIV.  BRR < 16 does not work.  The kernel
  clock of USART1 is RCC_CCIPR.USART1SEL (PCLK, SYSCLK, HSIKER, LSE); USART2 runs on
  PCLK (machine wiring).
* Transmitter (TE): a write to TDR clears TC; if the shift register is free the byte
  moves there at once (TXE stays 1), else TXE = 0 until the current character ends.
  When the last character ends with TDR empty, TC = 1.  Setting TE sends an idle
  frame (one character time of mark) first.  TE = 0 lets the current character end.
* Receiver (RE): at the end of a character RXNE = 1 and RDR holds it; if RXNE was
  still set the character is lost and ORE = 1 (unless CR3.OVRDIS, which overwrites).
  Reading RDR clears RXNE.  PE = 1 when the parity bit is wrong (PCE), FE = 1 when the
  stop bit is not found (sender and receiver disagree on frame or baud rate by more
  than the receiver tolerance, taken as 3.5 %; the character is then garbage).
  IDLE = 1 after one idle character time following a reception.  BUSY while a
  character is on the RX line.
* Auto baud rate (CR2.ABREN, ABRMOD 00 start bit, 01 falling edge to falling edge,
  10 0x7F frame, 11 0x55 frame): the first character after ABREN (or after RQR.ABRRQ)
  is measured; if its pattern fits the mode, BRR is written from the measured baud
  rate, ABRF = 1 and the character is received (RXNE = 1: RM0490 ABRF "RXNE will also
  be set"); otherwise ABRE = 1 and ABRF = 1.  RQR.ABRRQ clears ABRF/ABRE and re-arms.
* ICR clears PE, FE, NE, ORE, IDLE, TC; RQR.RXFRQ clears RXNE, RQR.TXFRQ discards TDR.
* CR1.UE = 0 stops everything at once and resets the ISR flags (RM0490 CR1.UE: "the
  USART prescalers and outputs are stopped immediately, and all current operations
  are discarded"; ISR to reset values).  TEACK/REACK follow TE/RE while UE = 1.
* BRR, PRESC, CR2 and the frame fields of CR1 (M0, M1, PCE, PS, OVER8) "can only be
  written when the USART is disabled (UE = 0)": a write while UE = 1 leaves them
  unchanged and is logged as an event.
* Interrupt (IRQ 27 / 28): RXNE & RXNEIE, ORE & RXNEIE, TXE & TXEIE, TC & TCIE,
  IDLE & IDLEIE, PE & PEIE, (FE | NE | ORE) & CR3.EIE.
* DMA requests (DMAMUX lines USARTx_RX / USARTx_TX): RXNE & CR3.DMAR and TXE & CR3.DMAT
  while UE = 1.  The DMA's read of RDR clears RXNE and its write of TDR clears TXE, which
  ends the request, as the handshake does on silicon.  With DMAR = 1 and DDRE = 0 a
  character received with a parity or framing error sets PE/FE but not RXNE, so the DMA
  does not transfer it (RM0490 CR3.DDRE).

Not modelled (fields declared ``todo``, accesses reported): FIFO mode, synchronous,
smartcard, IrDA, LIN, half-duplex, RS-485 driver enable, hardware flow control,
multiprocessor mute mode, address match, receiver timeout, wake-up from Stop, DMA
disable on reception error (DDRE), pin swap and inversion, MSB first, break
transmission.  The pins (PA9/PA10, PA2/PA3, alternate function 1) are not checked: the GPIO model has no alternate
functions, so the host is connected whatever the pin configuration.  Noise (NE)
never occurs.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

from . import c071
from .regs import Access, BusKind, Peripheral, reg, ro, rw, todo, wo

# ISR bits
PE, FE, NE, ORE, IDLE, RXNE, TC, TXE = (1 << n for n in range(8))
ABRE, ABRF, BUSY, TEACK, REACK, TXFE = 1 << 14, 1 << 15, 1 << 16, 1 << 21, 1 << 22, 1 << 23
ISR_RESET = 0x0080_00C0            # TXE, TC (and TXFE, as the SVD gives it)
# CR1 bits
UE, RE, TE, IDLEIE, RXNEIE, TCIE, TXEIE, PEIE = 1 << 0, 1 << 2, 1 << 3, 1 << 4, 1 << 5, 1 << 6, 1 << 7, 1 << 8
# CR3 bits
DMAR, DMAT = 1 << 6, 1 << 7
CR1_FRAME_FIELDS = (1 << 9) | (1 << 10) | (1 << 12) | (1 << 15) | (1 << 28)   # PS, PCE, M0, OVER8, M1

PRESC_DIVIDERS = (1, 2, 4, 6, 8, 10, 12, 16, 32, 64, 128, 256)
BAUD_TOLERANCE = 0.035             # receiver tolerance (RM0490 "USART receiver tolerance to clock deviation", ~3.7 % at 16x)
ABR_PATTERNS = {0: "start bit", 1: "falling edge to falling edge", 2: "0x7F frame", 3: "0x55 frame"}


@dataclass(frozen=True)
class Framing:
    """One side's view of the line: baud rate and character format."""
    baud: float
    data_bits: int = 8
    parity: str = "N"          # "N", "E" or "O"
    stop_bits: float = 1.0

    @property
    def bits(self) -> float:
        return 1 + self.data_bits + (self.parity != "N") + self.stop_bits

    @property
    def char_seconds(self) -> float:
        return self.bits / self.baud

    def describe(self) -> str:
        stop = f"{self.stop_bits:g}"
        return f"{self.baud:.0f} {self.data_bits}{self.parity}{stop}"


def parity_bit(value: int, data_bits: int, parity: str) -> int:
    ones = bin(value & ((1 << data_bits) - 1)).count("1")
    return (ones & 1) if parity == "E" else (~ones & 1)


def receive_as(sender: Framing, receiver: Framing, value: int) -> tuple[int, str]:
    """What ``receiver`` makes of a character ``sender`` put on the line: (value, error).

    error is "" (clean), "parity" (PE) or "framing" (FE; the value is then garbage).
    Approximation: any disagreement on baud rate beyond the tolerance, on the number of
    data bits or on whether there is a parity bit loses the stop bit (FE); the garbage
    value is the sent value inverted, deterministic but meaningless.
    """
    mask = (1 << receiver.data_bits) - 1
    if abs(sender.baud - receiver.baud) > BAUD_TOLERANCE * receiver.baud \
            or sender.data_bits != receiver.data_bits or (sender.parity == "N") != (receiver.parity == "N"):
        return ~value & mask, "framing"
    if receiver.parity != "N" and sender.parity != receiver.parity:
        return value & mask, "parity"
    return value & mask, ""


class Usart(Peripheral):
    name = "USART1"            # per instance: "USART1" or "USART2"
    bus = BusKind.APB
    manual = "RM0490 §24"

    def __init__(self, base: int, services=None, name: str = "USART1", irq: int = c071.IRQ_USART1,
                 kernel_clock_hz: Callable[[], int] = lambda: c071.RESET_SYSCLK_HZ) -> None:
        self.name = name
        self.irq = irq
        self.kernel_clock_hz = kernel_clock_hz
        self.on_transmit: Callable[[int, Framing], None] = lambda value, framing: None   # the host listens
        # DMA request lines "<name>_RX" / "<name>_TX" (machine wiring: DMAMUX.connect)
        self.request_dma: Callable[[str, bool], None] = lambda line, level: None
        self._dma_requests = (False, False)
        self._tx_event = None
        self._rx_event = None
        self._idle_event = None
        self._tx_shift: Optional[int] = None
        self._tdr_full = False
        self._rx_busy = False
        self._abr_armed = True
        super().__init__(base, services, registers=[
            reg("CR1", 0x00, 0,
                rw("UE", 0), todo("UESM", 1), rw("RE", 2), rw("TE", 3), rw("IDLEIE", 4), rw("RXNEIE", 5),
                rw("TCIE", 6), rw("TXEIE", 7), rw("PEIE", 8), rw("PS", 9), rw("PCE", 10), todo("WAKE", 11),
                rw("M0", 12), todo("MME", 13), todo("CMIE", 14), rw("OVER8", 15), todo("DEDT", 16, 5),
                todo("DEAT", 21, 5), todo("RTOIE", 26), todo("EOBIE", 27), rw("M1", 28), todo("FIFOEN", 29),
                todo("TXFEIE", 30), todo("RXFFIE", 31), on_write=self._cr1_written),
            reg("CR2", 0x04, 0,
                todo("SLVEN", 0), todo("DIS_NSS", 3), todo("ADDM7", 4), todo("LBDL", 5), todo("LBDIE", 6),
                todo("LBCL", 8), todo("CPHA", 9), todo("CPOL", 10), todo("CLKEN", 11), rw("STOP", 12, 2),
                todo("LINEN", 14), todo("SWAP", 15), todo("RXINV", 16), todo("TXINV", 17), todo("DATAINV", 18),
                todo("MSBFIRST", 19), rw("ABREN", 20), rw("ABRMOD", 21, 2), todo("RTOEN", 23), todo("ADD", 24, 8),
                on_write=lambda o, n: self._config_written("CR2", o, n)),
            reg("CR3", 0x08, 0,
                rw("EIE", 0), todo("IREN", 1), todo("IRLP", 2), todo("HDSEL", 3), todo("NACK", 4), todo("SCEN", 5),
                rw("DMAR", 6), rw("DMAT", 7), todo("RTSE", 8), todo("CTSE", 9), todo("CTSIE", 10),
                rw("ONEBIT", 11, doc="sampling method; no effect without noise"), rw("OVRDIS", 12),
                todo("DDRE", 13), todo("DEM", 14), todo("DEP", 15), todo("SCARCNT", 17, 3), todo("WUS", 20, 2),
                todo("WUFIE", 22), todo("TXFTIE", 23), todo("TCBGTIE", 24), todo("RXFTCFG", 25, 3),
                todo("RXFTIE", 28), todo("TXFTCFG", 29, 3), on_write=lambda o, n: self._update_irq()),
            reg("BRR", 0x0C, 0, rw("BRR", 0, 16), on_write=lambda o, n: self._config_written("BRR", o, n)),
            reg("GTPR", 0x10, 0, todo("PSC", 0, 8), todo("GT", 8, 8)),
            reg("RTOR", 0x14, 0, todo("RTO", 0, 24), todo("BLEN", 24, 8)),
            reg("RQR", 0x18, 0, wo("ABRRQ", 0), todo("SBKRQ", 1, access=Access.WO),
                todo("MMRQ", 2, access=Access.WO), wo("RXFRQ", 3), wo("TXFRQ", 4),
                on_write=self._rqr_written),
            reg("ISR", 0x1C, ISR_RESET,
                ro("PE", 0), ro("FE", 1), ro("NE", 2), ro("ORE", 3), ro("IDLE", 4), ro("RXNE", 5), ro("TC", 6),
                ro("TXE", 7), ro("LBDF", 8), ro("CTSIF", 9), ro("CTS", 10), ro("RTOF", 11), ro("EOBF", 12),
                ro("UDR", 13), ro("ABRE", 14), ro("ABRF", 15), ro("BUSY", 16), ro("CMF", 17), ro("SBKF", 18),
                ro("RWU", 19), ro("WUF", 20), ro("TEACK", 21), ro("REACK", 22), ro("TXFE", 23), ro("RXFF", 24),
                ro("TCBGT", 25), ro("RXFT", 26), ro("TXFT", 27)),
            reg("ICR", 0x20, 0,
                wo("PECF", 0), wo("FECF", 1), wo("NECF", 2), wo("ORECF", 3), wo("IDLECF", 4), wo("TXFECF", 5),
                wo("TCCF", 6), wo("TCBGTCF", 7), wo("LBDCF", 8), wo("CTSCF", 9), wo("RTOCF", 11), wo("EOBCF", 12),
                wo("UDRCF", 13), wo("CMCF", 17), wo("WUCF", 20), on_write=self._icr_written),
            reg("RDR", 0x24, 0, ro("RDR", 0, 9), on_read=self._rdr_read, read_has_side_effects=True),
            reg("TDR", 0x28, 0, rw("TDR", 0, 9), on_write=self._tdr_written),
            reg("PRESC", 0x2C, 0, rw("PRESCALER", 0, 4), on_write=lambda o, n: self._config_written("PRESC", o, n)),
        ])
        self.isr = self.reg["ISR"]

    # -- reset -----------------------------------------------------------------------
    def on_reset(self) -> None:
        self._stop_all()
        self._abr_armed = True
        self._update_irq()

    def _stop_all(self) -> None:
        for ev in (self._tx_event, self._rx_event, self._idle_event):
            if ev is not None:
                ev.cancel()
        self._tx_event = self._rx_event = self._idle_event = None
        self._tx_shift = None
        self._tdr_full = False
        self._rx_busy = False

    # -- configuration -------------------------------------------------------------------
    def kernel_hz(self) -> int:
        presc = self.reg["PRESC"].get("PRESCALER")
        return self.kernel_clock_hz() // PRESC_DIVIDERS[min(presc, len(PRESC_DIVIDERS) - 1)]

    def baud(self) -> float:
        """Baud rate from BRR, PRESC, OVER8 and the kernel clock (0 if BRR cannot work)."""
        brr = self.reg["BRR"].value & 0xFFFF
        if brr < 16:
            return 0.0
        if self.reg["CR1"].get("OVER8"):
            usartdiv = (brr & 0xFFF0) | (brr & 0x7) << 1
            return 2 * self.kernel_hz() / usartdiv
        return self.kernel_hz() / brr

    def framing(self) -> Framing:
        cr1 = self.reg["CR1"]
        word = {0: 8, 1: 9, 2: 7}.get(cr1.get("M1") << 1 | cr1.get("M0"), 8)
        parity = "N"
        if cr1.get("PCE"):
            word -= 1
            parity = "O" if cr1.get("PS") else "E"
        stop = {0: 1.0, 1: 0.5, 2: 2.0, 3: 1.5}[self.reg["CR2"].get("STOP")]
        return Framing(self.baud(), word, parity, stop)

    def _cr1_written(self, old: int, new: int) -> None:
        cr1 = self.reg["CR1"]
        if old & UE and new & UE and (old ^ new) & CR1_FRAME_FIELDS:
            cr1.value = (new & ~CR1_FRAME_FIELDS) | (old & CR1_FRAME_FIELDS)
            self._locked_write("CR1 frame format (M, PCE, PS, OVER8)")
            new = cr1.value
        if old & UE and not new & UE:
            self._stop_all()
            self.isr.value = ISR_RESET
            self._abr_armed = True
            self.services.event("usart", f"{self.name}: UE cleared: transfers discarded, status flags reset")
        if new & UE and new & TE and not (old & UE and old & TE):
            self._start_idle_frame()
        self.isr.set("TEACK", bool(new & UE and new & TE))
        self.isr.set("REACK", bool(new & UE and new & RE))
        self._update_irq()

    def _config_written(self, name: str, old: int, new: int) -> None:
        if self.reg["CR1"].value & UE and old != new:
            self.reg[name].value = old
            self._locked_write(name)
            return
        if name == "CR2" and new >> 20 & 1 and not old >> 20 & 1:       # ABREN set: the next character is measured
            self._abr_armed = True

    def _locked_write(self, what: str) -> None:
        self.services.event("usart", f"{self.name}: write to {what} ignored: only writable while UE = 0 "
                                     "(RM0490 USART register descriptions)")

    # -- transmitter -------------------------------------------------------------------------
    def _transmitting(self) -> bool:
        cr1 = self.reg["CR1"].value
        return bool(cr1 & UE and cr1 & TE)

    def _start_idle_frame(self) -> None:
        """TE 0 -> 1 sends one idle frame before the first character."""
        if self._tx_event is not None or self.baud() == 0:
            return
        self._tx_shift = None
        self._tx_event = self.services.after_seconds(self.framing().char_seconds, self._tx_done,
                                                     f"{self.name} idle frame")

    def _tdr_written(self, old: int, new: int) -> None:
        self.isr.value &= ~TC
        self._tdr_full = True
        self.isr.value &= ~(TXE | TXFE)
        self._load_shift_register()
        self._update_irq()

    def _load_shift_register(self) -> None:
        if not self._tdr_full or self._tx_event is not None or not self._transmitting():
            return
        framing = self.framing()
        if framing.baud == 0:
            self.services.event("usart", f"{self.name}: TDR written with BRR = 0x{self.reg['BRR'].value:X} "
                                         "(< 16): the transmitter cannot run")
            return
        self._tx_shift = self.reg["TDR"].value & ((1 << framing.data_bits) - 1)
        self._tdr_full = False
        self.isr.value |= TXE | TXFE
        self._tx_event = self.services.after_seconds(framing.char_seconds, self._tx_done, f"{self.name} TX")

    def _tx_done(self) -> None:
        self._tx_event = None
        if self._tx_shift is not None:
            value, self._tx_shift = self._tx_shift, None
            self.on_transmit(value, self.framing())
        if self._tdr_full and self._transmitting():
            self._load_shift_register()
        else:
            self.isr.value |= TC
        self._update_irq()

    # -- receiver ------------------------------------------------------------------------------
    def rx_start(self, value: int, sender: Framing) -> None:
        """The host puts a character on the RX line now (start bit); it completes after
        the sender's character time."""
        if self._rx_event is not None:
            self._rx_event.cancel()          # a sender that overlaps itself: the newer character wins
        if self._idle_event is not None:
            self._idle_event.cancel()
            self._idle_event = None
        self._rx_busy = True
        self.isr.value |= BUSY
        self._rx_event = self.services.after_seconds(sender.char_seconds, lambda: self._rx_done(value, sender),
                                                     f"{self.name} RX")

    def _rx_done(self, value: int, sender: Framing) -> None:
        self._rx_event = None
        self._rx_busy = False
        self.isr.value &= ~BUSY
        cr1 = self.reg["CR1"].value
        if not (cr1 & UE and cr1 & RE):
            return                              # receiver off: the character passes unseen
        cr2 = self.reg["CR2"]
        if cr2.get("ABREN") and self._abr_armed:
            self._auto_baud(value, sender)
            if self.isr.value & ABRE:
                self._update_irq()
                return
        data, error = receive_as(sender, self.framing(), value)
        if self.isr.value & RXNE and not self.reg["CR3"].get("OVRDIS"):
            self.isr.value |= ORE
            self.services.event("usart", f"{self.name}: overrun: 0x{data:02X} lost, RDR still unread")
        else:
            self.reg["RDR"].value = data
            if not (error and self.reg["CR3"].value & DMAR):
                self.isr.value |= RXNE          # with DMAR (DDRE = 0) a bad character raises no request
            if error == "parity":
                self.isr.value |= PE
            elif error == "framing":
                self.isr.value |= FE
                self.services.event("usart", f"{self.name}: framing error: host sent {sender.describe()}, "
                                             f"USART expects {self.framing().describe()}")
        self._idle_event = self.services.after_seconds(self.framing().char_seconds or sender.char_seconds,
                                                       self._idle, f"{self.name} IDLE")
        self._update_irq()

    def _idle(self) -> None:
        self._idle_event = None
        self.isr.value |= IDLE
        self._update_irq()

    def _auto_baud(self, value: int, sender: Framing) -> None:
        """RM0490 "Auto baud rate detection": measure the first character, write BRR."""
        mode = self.reg["CR2"].get("ABRMOD")
        fits = {0: value & 1 == 1, 1: value & 3 == 1, 2: value & 0xFF == 0x7F, 3: value & 0xFF == 0x55}[mode]
        self._abr_armed = False
        over8 = self.reg["CR1"].get("OVER8")
        usartdiv = round(self.kernel_hz() * (2 if over8 else 1) / sender.baud)
        if not fits or usartdiv < 16 or usartdiv > 0xFFFF:
            self.isr.value |= ABRE | ABRF
            why = f"0x{value:02X} does not fit the {ABR_PATTERNS[mode]} pattern" if not fits else \
                f"{sender.baud:.0f} baud is out of range for a {self.kernel_hz()} Hz kernel clock"
            self.services.event("usart", f"{self.name}: auto baud rate failed (ABRE): {why}")
            return
        brr = (usartdiv & 0xFFF0) | (usartdiv & 0xF) >> 1 if over8 else usartdiv
        self.reg["BRR"].value = brr
        self.isr.value |= ABRF
        self.services.event("usart", f"{self.name}: auto baud rate ({ABR_PATTERNS[mode]}): "
                                     f"{sender.baud:.0f} baud measured, BRR = 0x{brr:X}")

    def _rdr_read(self, stored: int) -> int:
        self.isr.value &= ~RXNE
        self._update_irq()
        return stored

    # -- flag clearing ---------------------------------------------------------------------------
    def _icr_written(self, old: int, new: int) -> None:
        clear = self.reg["ICR"].last_written & (PE | FE | NE | ORE | IDLE | TC)
        self.isr.value &= ~clear
        self._update_irq()

    def _rqr_written(self, old: int, new: int) -> None:
        request = self.reg["RQR"].last_written
        if request & 1:                                   # ABRRQ
            self.isr.value &= ~(ABRF | ABRE)
            self._abr_armed = True
        if request & 1 << 3:                              # RXFRQ
            self.isr.value &= ~RXNE
        if request & 1 << 4 and self._tdr_full:           # TXFRQ
            self._tdr_full = False
            self.isr.value |= TXE | TXFE
        self._update_irq()

    # -- interrupt ---------------------------------------------------------------------------------
    def interrupt_pending(self) -> bool:
        isr, cr1, eie = self.isr.value, self.reg["CR1"].value, self.reg["CR3"].value & 1
        return bool(isr & (RXNE | ORE) and cr1 & RXNEIE or isr & TXE and cr1 & TXEIE or isr & TC and cr1 & TCIE
                    or isr & IDLE and cr1 & IDLEIE or isr & PE and cr1 & PEIE or isr & (FE | NE | ORE) and eie)

    def _update_irq(self) -> None:
        self.services.set_irq_line(self.irq, self.interrupt_pending())
        self._update_dma_requests()

    # -- DMA requests --------------------------------------------------------------------------------
    def _update_dma_requests(self) -> None:
        """CR3.DMAR: request while RXNE = 1; CR3.DMAT: request while TXE = 1 (RM0490 USART
        "Continuous communication using DMA"); the DMA's RDR read / TDR write ends it."""
        isr, cr3, ue = self.isr.value, self.reg["CR3"].value, self.reg["CR1"].value & UE
        requests = (bool(ue and cr3 & DMAR and isr & RXNE), bool(ue and cr3 & DMAT and isr & TXE))
        if requests == self._dma_requests:
            return
        previous, self._dma_requests = self._dma_requests, requests
        if requests[0] != previous[0]:
            self.request_dma(f"{self.name}_RX", requests[0])
        if requests[1] != previous[1]:
            self.request_dma(f"{self.name}_TX", requests[1])
