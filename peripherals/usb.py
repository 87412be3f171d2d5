"""USB_DRD_FS in device mode at 0x4000_5C00 and its packet memory at 0x4000_9800.

RM0490 §31 (USB full-speed dual-role device); register layout, reset values and
bit positions per FACTS §5.2 ([HDR] bit definitions, [SVD] resets), buffer
descriptors per FACTS §5.3.

The host side is not a register interface: a simulated host (``emulator.host``)
calls the transaction verbs below (``setup``, ``out``, ``in_``, ``sof``,
``bus_reset``), each of which does at once what the serial interface engine does
at the end of a transaction - moves the payload between the bus and the packet
memory, sets COUNT_RX, VTRX/VTTX, SETUP, flips DTOG, moves STAT from VALID to NAK,
and updates the ISTR flags and the USB interrupt line (IRQ 8, SYSCFG_ITLINE8).

Behaviour modelled, with sources (paraphrased, RM0490 §31.5 "USB functional
description in device mode" unless stated):

* CHEPnR write rules (FACTS §5.2): STATTX/STATRX/DTOGTX/DTOGRX toggle on a written
  1; VTRX/VTTX are cleared by a written 0 and kept by a written 1; SETUP is
  read-only; EA, EPKIND, UTYPE are read/write.  The register layer's TOGGLE and
  W0C access modes carry these rules.
* A token is answered only by an enabled function (DADDR.EF) whose address matches
  (DADDR.ADD) and by the first CHEPnR whose EA is the token's endpoint number; the
  buffer descriptor used is the one of register n (PMA offset 8n), not of EA.
* STAT = DISABLED: no answer (the host times out); STALL: STALL handshake; NAK:
  NAK handshake; VALID: data moved, ACK, then STAT goes to NAK and the VT bit is set.
* A control endpoint (UTYPE = 01) always accepts a SETUP unless STAT_RX is DISABLED;
  after a SETUP both STAT fields are NAK and both DTOG bits are 1, so the data and
  status stages start with DATA1 (USB 2.0 §8.5.3; INFERENCE for the DTOG_TX detail:
  ST's drivers never write DTOG after a SETUP, so the hardware must set it).
* OUT data whose PID does not match DTOG_RX is a retransmission: ACKed and
  discarded, no VTRX (USB 2.0 §8.6.4 - data toggle sequencing).
* A received packet larger than the RX buffer (BLSIZE/NUM_BLOCK) is not accepted:
  nothing is stored, no handshake is sent (the host retries) and ISTR.ERR is set
  (approximation: the RM describes a buffer overrun only as an error condition).
* USB reset (bus reset or CNTR.USBRST): every CHEPnR bit except VTRX/VTTX is
  cleared, DADDR is cleared, ISTR.RST_DCON is set (RM0490 CHEPnR description:
  "reset by a USB reset, except VTRX/VTTX").
* SOF: ISTR.SOF, FNR.FN = frame number, FNR.LCK after two consecutive SOFs; the
  CRS is told (SOF is its default sync source).
* The interrupt line is ISTR[17:7] & CNTR[17:7] (each flag's mask has the same bit
  position), CTR being the OR of all VTRX/VTTX.

Presence on the bus (``attached``): D+ pull-up on (BCDR.DPPU), the peripheral
clock on (APBENR1.USBEN) and a 48 MHz kernel clock (CCIPR2.USBSEL source ready).
Register state is kept while the clock is off: only a USB reset, APBRSTR1.USBRST
or a power-on reset changes it (FACTS §5.1; RM0490 §6.2.15 gating).

Not modelled (accesses reported by name): host mode (CNTR.HOST; the CHEPnR host
fields DEVADDR, NAK, LS_EP, ERR_* are stored and never set in device mode), LPM (LPMCSR.LPMEN/LPMACK), suspend/resume/remote wakeup
(CNTR.SUSPEN/L2RES/L1RES), battery charging detection (BCDR.BCDEN…SDEN),
isochronous and double-buffered endpoints (EPKIND on bulk endpoints).
"""
from __future__ import annotations

from typing import Callable, Optional

from . import c071
from .regs import BusKind, Field, Peripheral, reg, ro, rw, todo, toggle, w0c

PMA_SIZE = 2048
NUM_ENDPOINTS = 8

# STAT field values (RM0490 CHEPnR STATRX/STATTX)
DISABLED, STALL, NAK, VALID = 0, 1, 2, 3
STAT_NAMES = {DISABLED: "DISABLED", STALL: "STALL", NAK: "NAK", VALID: "VALID"}
UTYPE_BULK, UTYPE_CONTROL, UTYPE_ISO, UTYPE_INTERRUPT = 0, 1, 2, 3

# CHEPnR bits
EA_MASK = 0xF
STATTX_SHIFT, DTOGTX, VTTX = 4, 1 << 6, 1 << 7
EPKIND, UTYPE_SHIFT, SETUP_BIT = 1 << 8, 9, 1 << 11
STATRX_SHIFT, DTOGRX, VTRX = 12, 1 << 14, 1 << 15

# ISTR / CNTR bits (the mask for ISTR bit k is CNTR bit k, k = 7..17)
ISTR_DIR, ISTR_SOF, ISTR_ESOF, ISTR_RST, ISTR_ERR, ISTR_PMAOVR, ISTR_CTR = (
    1 << 4, 1 << 9, 1 << 8, 1 << 10, 1 << 13, 1 << 14, 1 << 15)
INTERRUPT_FLAGS = 0x3FF80
CNTR_USBRST, CNTR_PDWN = 1 << 0, 1 << 1
BCDR_DPPU = 1 << 15

ACK, NAK_HS, STALL_HS, NO_RESPONSE = "ACK", "NAK", "STALL", "TIMEOUT"


def _chep_fields() -> tuple[Field, ...]:
    return (
        rw("EA", 0, 4), toggle("STATTX", 4, 2), toggle("DTOGTX", 6), w0c("VTTX", 7),
        rw("EPKIND", 8), rw("UTYPE", 9, 2), ro("SETUP", 11), toggle("STATRX", 12, 2),
        toggle("DTOGRX", 14), w0c("VTRX", 15),
        # Host-mode fields: in device mode the hardware never sets them, so they read as
        # stored; host mode itself is the unmodelled part and is flagged at CNTR.HOST.
        rw("DEVADDR", 16, 7, doc="host mode"), ro("NAK", 23, doc="host mode"),
        rw("LS_EP", 24, doc="host mode"), w0c("ERR_TX", 25, doc="host mode"),
        w0c("ERR_RX", 26, doc="host mode"),
        ro("THREE_ERR_TX", 27, 2, doc="host mode"), ro("THREE_ERR_RX", 29, 2, doc="host mode"),
    )


class PacketMemory(Peripheral):
    """USBRAM: 2 KiB of SRAM shared by the CPU (32-bit accesses) and the USB engine.

    FACTS §5.1: the PMA is accessed as 32-bit words; narrower accesses are served on
    their byte lanes here (behaviour on silicon not documented in FACTS).  The
    contents are SRAM: not cleared by USBRST, zero after a power-on reset so runs
    are deterministic.  Gated with the USB peripheral clock (INFERENCE).
    """
    name = "USBRAM"
    bus = BusKind.APB
    size = PMA_SIZE
    manual = "RM0490 §31 (packet memory)"

    def __init__(self, base: int = c071.USB_PMA, services=None) -> None:
        self.data = bytearray(PMA_SIZE)
        super().__init__(base, services)

    def power_on_reset(self) -> None:
        self.data[:] = bytes(PMA_SIZE)

    def reset(self) -> None:
        """USBRST does not clear packet memory."""

    def read(self, offset: int, size: int) -> int:
        if not self.clock_enabled():
            self.services.trace_gated(self, offset, is_write=False)
            return 0
        return int.from_bytes(self.data[offset:offset + size], "little")

    def write(self, offset: int, size: int, data: int) -> None:
        if not self.clock_enabled():
            self.services.trace_gated(self, offset, is_write=True, value=data)
            return
        self.data[offset:offset + size] = (data & ((1 << 8 * size) - 1)).to_bytes(size, "little")

    # -- the USB engine's side ---------------------------------------------------
    def word(self, offset: int) -> int:
        return int.from_bytes(self.data[offset:offset + 4], "little")

    def set_word(self, offset: int, value: int) -> None:
        self.data[offset:offset + 4] = (value & 0xFFFFFFFF).to_bytes(4, "little")

    def load(self, offset: int, length: int) -> bytes:
        offset &= PMA_SIZE - 1
        return bytes(self.data[offset:min(offset + length, PMA_SIZE)]).ljust(length, b"\0")

    def store(self, offset: int, payload: bytes) -> None:
        offset &= PMA_SIZE - 1
        n = min(len(payload), PMA_SIZE - offset)
        self.data[offset:offset + n] = payload[:n]


class UsbDevice(Peripheral):
    name = "USB"
    bus = BusKind.APB
    manual = "RM0490 §31"

    def __init__(self, base: int = c071.USB, services=None, pma: Optional[PacketMemory] = None,
                 kernel_clock_hz: Callable[[], int] = lambda: 48_000_000) -> None:
        self.pma = pma or PacketMemory(c071.USB_PMA, services)
        self.kernel_clock_hz = kernel_clock_hz
        self.on_sof: Callable[[int], None] = lambda frame: None      # the CRS listens (machine wiring)
        update = lambda old, new: self._update_irq()
        registers = [reg(f"CHEP{n}R", 4 * n, 0, *_chep_fields(), on_write=update) for n in range(NUM_ENDPOINTS)]
        registers += [
            reg("CNTR", 0x40, 0x0000_0003,
                rw("USBRST", 0), rw("PDWN", 1), ro("SUSPRDY", 2), todo("SUSPEN", 3), todo("L2RES", 4),
                todo("L1RES", 5), rw("L1REQM", 7), rw("ESOFM", 8), rw("SOFM", 9), rw("RST_DCONM", 10),
                rw("SUSPM", 11), rw("WKUPM", 12), rw("ERRM", 13), rw("PMAOVRM", 14), rw("CTRM", 15),
                rw("THR512M", 16), rw("DDISCM", 17), todo("HOST", 31), on_write=self._cntr_written),
            reg("ISTR", 0x44, 0,
                ro("IDN", 0, 4), ro("DIR", 4), w0c("L1REQ", 7), w0c("ESOF", 8), w0c("SOF", 9),
                w0c("RST_DCON", 10), w0c("SUSP", 11), w0c("WKUP", 12), w0c("ERR", 13), w0c("PMAOVR", 14),
                ro("CTR", 15), w0c("THR512", 16), w0c("DDISC", 17), ro("DCON_STAT", 29), ro("LS_DCON", 30),
                on_read=self._istr_value, on_write=update),
            reg("FNR", 0x48, 0, ro("FN", 0, 11), ro("LSOF", 11, 2), ro("LCK", 13), ro("RXDM", 14), ro("RXDP", 15)),
            reg("DADDR", 0x4C, 0, rw("ADD", 0, 7), rw("EF", 7)),
            reg("LPMCSR", 0x54, 0, todo("LPMEN", 0), todo("LPMACK", 1), ro("REMWAKE", 3), ro("BESL", 4, 4)),
            reg("BCDR", 0x58, 0, todo("BCDEN", 0), todo("DCDEN", 1), todo("PDEN", 2), todo("SDEN", 3),
                ro("DCDET", 4), ro("PDET", 5), ro("SDET", 6), ro("PS2DET", 7), rw("DPPU", 15),
                on_write=self._bcdr_written),
        ]
        super().__init__(base, services, registers)
        self.chep = [self.reg[f"CHEP{n}R"] for n in range(NUM_ENDPOINTS)]
        self._consecutive_sofs = 0

    # -- reset -----------------------------------------------------------------
    def on_reset(self) -> None:
        self._consecutive_sofs = 0
        self._update_irq()

    def _usb_reset(self) -> None:
        """USB reset: CHEPnR cleared except VTRX/VTTX, DADDR cleared, RST_DCON flagged."""
        for r in self.chep:
            r.value &= VTRX | VTTX
        self.reg["DADDR"].value = 0
        self.reg["ISTR"].value |= ISTR_RST
        self._consecutive_sofs = 0
        self._update_irq()

    # -- register side effects -----------------------------------------------------
    def _cntr_written(self, old: int, new: int) -> None:
        if new & CNTR_USBRST and not old & CNTR_USBRST:
            self._usb_reset()             # "force USB reset" (FACTS §5.2 USBRST a.k.a. FRES)
            self.services.event("usb.reset", "CNTR.USBRST: USB reset forced by software")
        self._update_irq()

    def _bcdr_written(self, old: int, new: int) -> None:
        if (old ^ new) & BCDR_DPPU:
            self.services.event("usb.dppu", f"D+ pull-up {'on' if new & BCDR_DPPU else 'off'}")

    def _istr_value(self, stored: int) -> int:
        value = stored & ~(0xF | ISTR_DIR | ISTR_CTR)
        for n, r in enumerate(self.chep):
            if r.value & (VTRX | VTTX):
                value |= ISTR_CTR | n | (ISTR_DIR if r.value & VTRX else 0)
                break
        return value

    def interrupt_pending(self) -> bool:
        return bool(self._istr_value(self.reg["ISTR"].value) & self.reg["CNTR"].value & INTERRUPT_FLAGS)

    def _update_irq(self) -> None:
        self.services.set_irq_line(c071.IRQ_USB, self.interrupt_pending())

    # -- presence ----------------------------------------------------------------------
    def attached(self) -> bool:
        """What the host sees on D+: pull-up on, peripheral clocked, 48 MHz kernel clock running."""
        return bool(self.reg["BCDR"].value & BCDR_DPPU) and self.clock_enabled() \
            and not self.held_in_reset and self.kernel_clock_hz() > 0

    def _responsive(self) -> bool:
        return self.attached() and not self.reg["CNTR"].value & (CNTR_USBRST | CNTR_PDWN)

    # -- buffer descriptors (FACTS §5.3) ------------------------------------------------
    def _txbd(self, n: int) -> tuple[int, int]:
        w = self.pma.word(8 * n)
        return w & 0xFFFF, (w >> 16) & 0x3FF

    def _rx_buffer(self, n: int) -> tuple[int, int]:
        w = self.pma.word(8 * n + 4)
        blocks = (w >> 26) & 0x1F
        size = (blocks + 1) * 32 if w >> 31 else blocks * 2
        return w & 0xFFFF, size

    def _set_count_rx(self, n: int, count: int) -> None:
        w = self.pma.word(8 * n + 4)
        self.pma.set_word(8 * n + 4, (w & ~(0x3FF << 16)) | (count & 0x3FF) << 16)

    def _addressed(self, address: int, ep: int) -> Optional[int]:
        """The CHEPnR index a token to (address, ep) reaches, or None when nothing answers."""
        return self._endpoint(address, ep) if self._responsive() else None

    def _endpoint(self, address: int, ep: int) -> Optional[int]:
        daddr = self.reg["DADDR"].value
        if not daddr & 0x80 or daddr & 0x7F != address:
            return None
        for n, r in enumerate(self.chep):
            if r.value & EA_MASK == ep and (r.value >> STATRX_SHIFT & 3 or r.value >> STATTX_SHIFT & 3
                                            or r.value >> UTYPE_SHIFT & 3 == UTYPE_CONTROL):
                return n
        return None

    @staticmethod
    def _set_stat(r, shift: int, stat: int) -> None:
        r.value = (r.value & ~(3 << shift)) | stat << shift

    # -- transactions (called by the simulated host) ---------------------------------------
    def bus_reset(self) -> None:
        """The host drives SE0 for 10 ms (USB 2.0 §7.1.7.5): the device sees a USB reset."""
        if self.attached():
            self._usb_reset()

    def sof(self, frame: int) -> None:
        if not self._responsive():
            return
        self._consecutive_sofs += 1
        fnr = self.reg["FNR"]
        fnr.value = (frame & 0x7FF) | (1 << 13 if self._consecutive_sofs >= 2 else 0)
        self.reg["ISTR"].value |= ISTR_SOF
        self._update_irq()
        self.on_sof(frame)

    def setup(self, ep: int, data: bytes, address: int = 0) -> str:
        """SETUP + DATA0(8 bytes); returns the handshake."""
        n = self._addressed(address, ep)
        if n is None:
            return NO_RESPONSE
        r = self.chep[n]
        if r.value >> UTYPE_SHIFT & 3 != UTYPE_CONTROL or r.value >> STATRX_SHIFT & 3 == DISABLED:
            return NO_RESPONSE
        if not self._receive(n, data):
            return NO_RESPONSE
        before = r.value
        r.value |= VTRX | SETUP_BIT | DTOGRX | DTOGTX
        self._set_stat(r, STATRX_SHIFT, NAK)
        self._set_stat(r, STATTX_SHIFT, NAK)
        r.note_hardware_change(before)                  # provenance: "set by hardware (SETUP ...)"
        self._update_irq()
        return ACK

    def out(self, ep: int, data: bytes, toggle: Optional[int] = None, address: int = 0) -> str:
        """OUT + DATAx; ``toggle`` is the PID the host sends (None: whatever the device expects)."""
        n = self._addressed(address, ep)
        if n is None:
            return NO_RESPONSE
        r = self.chep[n]
        stat = r.value >> STATRX_SHIFT & 3
        if stat == DISABLED:
            return NO_RESPONSE
        if stat == STALL:
            return STALL_HS
        if r.value >> UTYPE_SHIFT & 3 == UTYPE_CONTROL and r.value & EPKIND and data:
            return STALL_HS                  # STATUS_OUT: only a zero-length status OUT is accepted
        if stat == NAK:
            return NAK_HS
        expected = 1 if r.value & DTOGRX else 0
        if toggle is not None and toggle != expected:
            return ACK                       # retransmission of a packet already received: discarded
        if not self._receive(n, data):
            return NO_RESPONSE
        r.value = (r.value & ~SETUP_BIT) ^ DTOGRX
        r.value |= VTRX
        self._set_stat(r, STATRX_SHIFT, NAK)
        self._update_irq()
        return ACK

    def _receive(self, n: int, data: bytes) -> bool:
        """A data packet into endpoint ``n``'s RX buffer; one larger than the buffer is
        stored nowhere and not answered, with ISTR.ERR set (module docstring)."""
        buf, size = self._rx_buffer(n)
        if len(data) > size:
            self._flag(ISTR_ERR)
            return False
        self.pma.store(buf, bytes(data))
        self._set_count_rx(n, len(data))
        return True

    def in_(self, ep: int, address: int = 0, host_acks: bool = True) -> tuple[str, bytes, int]:
        """IN token; returns (handshake, data, PID toggle).  The host ACKs valid data."""
        n = self._addressed(address, ep)
        if n is None:
            return NO_RESPONSE, b"", 0
        r = self.chep[n]
        stat = r.value >> STATTX_SHIFT & 3
        if stat == DISABLED:
            return NO_RESPONSE, b"", 0
        if stat == STALL:
            return STALL_HS, b"", 0
        if stat == NAK:
            return NAK_HS, b"", 0
        addr, count = self._txbd(n)
        payload = self.pma.load(addr, count)
        pid = 1 if r.value & DTOGTX else 0
        if host_acks:
            r.value ^= DTOGTX
            r.value |= VTTX
            self._set_stat(r, STATTX_SHIFT, NAK)
            self._update_irq()
        return ACK, payload, pid

    def _flag(self, bit: int) -> None:
        self.reg["ISTR"].value |= bit
        self._update_irq()
