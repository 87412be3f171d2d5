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
  (DADDR.ADD) and by the first CHEPnR whose EA is the token's endpoint number and that
  serves the token's direction (STAT_RX not DISABLED for OUT/SETUP, STAT_TX for IN; a
  control endpoint serves both): EP3 OUT on CHEP3R and EP3 IN (0x83) on CHEP4R are
  two endpoints.  The buffer descriptor used is the one of register n (PMA offset 8n).
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
* Double-buffered bulk endpoints (UTYPE = bulk, EPKIND = DBL_BUF) and isochronous
  endpoints (UTYPE = 10, always double-buffered) use one direction of the register and
  two buffers: buffer 0 in the TXBD slot, buffer 1 in the RXBD slot (RX-format words,
  BLSIZE/NUM_BLOCK and COUNT_RX, for OUT; TX-format for IN).  The DTOG bit of the
  endpoint's direction selects the buffer the USB engine uses and toggles at the end of
  each transaction; the other DTOG bit is SW_BUF, the buffer the application owns
  (RM0490 §31.5 "Double-buffered endpoints", "Isochronous transfers").  STAT is not
  changed by a completed transaction.  Bulk: a token finding DTOG = SW_BUF (both buffers
  with the application) is NAKed, and the data toggle is checked as on any bulk
  endpoint.  Isochronous: no handshake, no toggle check (DATA0 at full speed, USB 2.0
  §5.6.5), no SW_BUF flow control; a packet larger than its buffer is stored truncated
  and still completes (VTRX) with ISTR.ERR set.
* Suspend (RM0490 §31.5 "Suspend/resume events"; USB 2.0 §7.1.7.6): once SOFs have
  been seen, each missing SOF (1 ms frame timer) sets ISTR.ESOF and counts in FNR.LSOF;
  the third sets ISTR.SUSP (3 ms of idle bus).  CNTR.SUSPEN (FSUSP) set by software
  makes the suspend effective: SUSPRDY reads 1.  Resume signalling from the host, or a
  bus reset, during suspend sets ISTR.WKUP and clears SUSPEN and SUSPRDY.  CNTR.L2RES
  (RESUME) drives remote wake-up signalling to the host (``on_remote_wakeup``); it must
  be held 1 to 15 ms (USB 2.0 §7.1.7.7), a shorter or longer pulse is reported.
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
fields DEVADDR, NAK, LS_EP, ERR_* are stored and never set in device mode), LPM and
L1 sleep (LPMCSR.LPMEN/LPMACK, CNTR.L1RES; ISTR.L1REQ is never set), battery charging
detection (BCDR.BCDEN…SDEN), CRC and bit-stuffing errors (the simulated bus never
corrupts a packet), the special first transaction after DBL_BUF is set, STALL or NAK
on an isochronous endpoint (reported as events when a token meets them), and the
power saving of suspend (the clock keeps running; only the flags and SUSPRDY change).
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
ISTR_SUSP, ISTR_WKUP = 1 << 11, 1 << 12
CNTR_USBRST, CNTR_PDWN, CNTR_SUSPRDY, CNTR_SUSPEN, CNTR_L2RES = 1 << 0, 1 << 1, 1 << 2, 1 << 3, 1 << 4
FNR_LCK, FNR_LSOF_SHIFT = 1 << 13, 11
FRAME_S = 1e-3
# the frame timer expects a SOF every 1 ms; a small margin puts the check after an on-time SOF
ESOF_CHECK_S = FRAME_S + 2e-6
SUSPEND_AFTER_MISSED_SOFS = 3          # 3 ms of idle bus (USB 2.0 §7.1.7.6)
REMOTE_WAKEUP_MIN_S, REMOTE_WAKEUP_MAX_S = 1e-3, 15e-3
BCDR_DPPU = 1 << 15

ACK, NAK_HS, STALL_HS, NO_RESPONSE = "ACK", "NAK", "STALL", "TIMEOUT"
ISO = "ISO"              # an isochronous transaction: delivered, and no handshake phase (USB 2.0 §5.6.4)


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
                rw("USBRST", 0), rw("PDWN", 1), ro("SUSPRDY", 2), rw("SUSPEN", 3), rw("L2RES", 4),
                todo("L1RES", 5), rw("L1REQM", 7), rw("ESOFM", 8), rw("SOFM", 9), rw("RST_DCONM", 10),
                rw("SUSPM", 11), rw("WKUPM", 12), rw("ERRM", 13), rw("PMAOVRM", 14), rw("CTRM", 15),
                rw("THR512M", 16), rw("DDISCM", 17), todo("HOST", 31), on_write=self._cntr_written),
            reg("ISTR", 0x44, 0,
                ro("IDN", 0, 4), ro("DIR", 4), w0c("L1REQ", 7), w0c("ESOF", 8), w0c("SOF", 9),
                w0c("RST_DCON", 10), w0c("SUSP", 11), w0c("WKUP", 12), w0c("ERR", 13), w0c("PMAOVR", 14),
                ro("CTR", 15), w0c("THR512", 16), w0c("DDISC", 17), ro("DCON_STAT", 29), ro("LS_DCON", 30),
                on_write=update),
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
        self._missed_sofs = 0
        self._frame_timer = None
        self._l2res_since: Optional[float] = None
        # the host listens for remote wake-up signalling (set by the simulated host)
        self.on_remote_wakeup: Callable[[], None] = lambda: None

    # -- reset -----------------------------------------------------------------
    def on_reset(self) -> None:
        self._consecutive_sofs = 0
        self._stop_frame_timer()
        self._l2res_since = None
        self._update_irq()

    def _usb_reset(self) -> None:
        """USB reset: CHEPnR cleared except VTRX/VTTX, DADDR cleared, RST_DCON flagged."""
        for r in self.chep:
            r.value &= VTRX | VTTX
        self.reg["DADDR"].value = 0
        self.reg["ISTR"].value |= ISTR_RST
        self._consecutive_sofs = 0
        self._stop_frame_timer()
        self._update_irq()

    # -- register side effects -----------------------------------------------------
    def _cntr_written(self, old: int, new: int) -> None:
        if new & CNTR_USBRST and not old & CNTR_USBRST:
            self._usb_reset()             # "force USB reset" (FACTS §5.2 USBRST a.k.a. FRES)
            self.services.event("usb.reset", "CNTR.USBRST: USB reset forced by software")
        cntr = self.reg["CNTR"]
        if new & CNTR_SUSPEN and not old & CNTR_SUSPEN:
            cntr.value |= CNTR_SUSPRDY       # suspend effective (the clock gating is not modelled)
            self.services.event("usb.suspend", "CNTR.SUSPEN: suspend entered, SUSPRDY = 1")
        elif old & CNTR_SUSPEN and not new & CNTR_SUSPEN:
            cntr.value &= ~CNTR_SUSPRDY
        if new & CNTR_L2RES and not old & CNTR_L2RES:
            self._start_remote_wakeup()
        elif old & CNTR_L2RES and not new & CNTR_L2RES:
            self._end_remote_wakeup()
        self._update_irq()

    # -- suspend and resume -----------------------------------------------------------
    def _stop_frame_timer(self) -> None:
        if self._frame_timer is not None:
            self._frame_timer.cancel()
            self._frame_timer = None
        self._missed_sofs = 0

    def _frame_timer_expired(self) -> None:
        """No SOF within the frame: ESOF, LSOF counts it; the third missing one is a suspend."""
        self._frame_timer = None
        self._missed_sofs += 1
        fnr = self.reg["FNR"]
        lsof = min(self._missed_sofs, 3)
        fnr.value = (fnr.value & ~(FNR_LCK | 3 << FNR_LSOF_SHIFT)) | lsof << FNR_LSOF_SHIFT
        self._consecutive_sofs = 0
        flags = ISTR_ESOF
        if self._missed_sofs >= SUSPEND_AFTER_MISSED_SOFS:
            flags |= ISTR_SUSP
            self.services.event("usb.suspend", "3 ms without SOF: ISTR.SUSP (the host suspended the bus)")
        else:
            self._frame_timer = self.services.after_seconds(ESOF_CHECK_S, self._frame_timer_expired,
                                                            "USB frame timer")
        self._flag(flags)

    def _wake(self, why: str) -> None:
        cntr = self.reg["CNTR"]
        if cntr.value & CNTR_SUSPEN:
            cntr.value &= ~(CNTR_SUSPEN | CNTR_SUSPRDY)
            self.services.event("usb.wakeup", f"{why}: ISTR.WKUP, SUSPEN and SUSPRDY cleared")
            self._flag(ISTR_WKUP)

    def _start_remote_wakeup(self) -> None:
        self._l2res_since = self.services.now_seconds()
        if not self.attached() or self._missed_sofs < SUSPEND_AFTER_MISSED_SOFS:
            self.services.event("usb.wakeup", "CNTR.L2RES set while the bus is not suspended: "
                                "no remote wake-up signalling (USB 2.0 §7.1.7.7)")
            return
        self.services.event("usb.wakeup", "CNTR.L2RES: remote wake-up signalling (K state) to the host")
        self.on_remote_wakeup()

    def _end_remote_wakeup(self) -> None:
        if self._l2res_since is None:
            return
        held = self.services.now_seconds() - self._l2res_since
        self._l2res_since = None
        if not REMOTE_WAKEUP_MIN_S <= held <= REMOTE_WAKEUP_MAX_S:
            self.services.event("usb.wakeup", f"CNTR.L2RES held {held * 1e3:.3f} ms: remote wake-up "
                                "signalling must last 1 to 15 ms (USB 2.0 §7.1.7.7)")

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
        # ISTR's CTR, DIR and IDN follow the endpoints' VTRX/VTTX, and every change of those
        # comes through here: kept in the stored word, a read of ISTR is a plain read (the
        # native bus serves it, and a main loop polling it is judged there too)
        istr = self.reg["ISTR"]
        value = self._istr_value(istr.value)
        if value != istr.value:
            istr.value = value
        self.services.set_irq_line(c071.IRQ_USB, bool(value & self.reg["CNTR"].value & INTERRUPT_FLAGS))

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

    def _addressed(self, address: int, ep: int, shift: int) -> Optional[int]:
        """The CHEPnR index a token to (address, ep) reaches in the direction whose STAT field
        is at ``shift`` (STATRX_SHIFT: OUT/SETUP, STATTX_SHIFT: IN), or None when nothing answers."""
        return self._endpoint(address, ep, shift) if self._responsive() else None

    def _endpoint(self, address: int, ep: int, shift: int) -> Optional[int]:
        daddr = self.reg["DADDR"].value
        if not daddr & 0x80 or daddr & 0x7F != address:
            return None
        for n, r in enumerate(self.chep):
            if r.value & EA_MASK == ep and (r.value >> shift & 3 or r.value >> UTYPE_SHIFT & 3 == UTYPE_CONTROL):
                return n
        return None

    # -- double buffering --------------------------------------------------------------------
    @staticmethod
    def _double_buffered(value: int) -> bool:
        utype = value >> UTYPE_SHIFT & 3
        return utype == UTYPE_ISO or (utype == UTYPE_BULK and bool(value & EPKIND))

    def _rx_slot(self, n: int, buffer: int) -> tuple[int, int, int]:
        """(descriptor word offset, buffer address, buffer size) of RX buffer 0 (TXBD slot) or 1."""
        at = 8 * n + 4 * buffer
        w = self.pma.word(at)
        blocks = (w >> 26) & 0x1F
        return at, w & 0xFFFF, (blocks + 1) * 32 if w >> 31 else blocks * 2

    def _tx_slot(self, n: int, buffer: int) -> tuple[int, int]:
        w = self.pma.word(8 * n + 4 * buffer)
        return w & 0xFFFF, (w >> 16) & 0x3FF

    def _store_count(self, at: int, count: int) -> None:
        w = self.pma.word(at)
        self.pma.set_word(at, (w & ~(0x3FF << 16)) | (count & 0x3FF) << 16)

    @staticmethod
    def _set_stat(r, shift: int, stat: int) -> None:
        r.value = (r.value & ~(3 << shift)) | stat << shift

    # -- transactions (called by the simulated host) ---------------------------------------
    def bus_reset(self) -> None:
        """The host drives SE0 for 10 ms (USB 2.0 §7.1.7.5): the device sees a USB reset
        (a reset during suspend is also a wake-up)."""
        if self.attached():
            self._wake("bus reset during suspend")
            self._usb_reset()

    def resume(self) -> None:
        """The host drives resume signalling (K state, USB 2.0 §7.1.7.7)."""
        if self.attached():
            self._wake("resume signalling from the host")

    def sof(self, frame: int) -> None:
        if not self._responsive():
            return
        if self._frame_timer is not None:
            self._frame_timer.cancel()
        self._missed_sofs = 0
        self._frame_timer = self.services.after_seconds(ESOF_CHECK_S, self._frame_timer_expired, "USB frame timer")
        self._consecutive_sofs += 1
        fnr = self.reg["FNR"]
        fnr.value = (frame & 0x7FF) | (FNR_LCK if self._consecutive_sofs >= 2 else 0)
        self.reg["ISTR"].value |= ISTR_SOF
        self._update_irq()
        self.on_sof(frame)

    def setup(self, ep: int, data: bytes, address: int = 0) -> str:
        """SETUP + DATA0(8 bytes); returns the handshake."""
        n = self._addressed(address, ep, STATRX_SHIFT)
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
        n = self._addressed(address, ep, STATRX_SHIFT)
        if n is None:
            return NO_RESPONSE
        r = self.chep[n]
        stat = r.value >> STATRX_SHIFT & 3
        if stat == DISABLED:
            return NO_RESPONSE
        if r.value >> UTYPE_SHIFT & 3 == UTYPE_ISO:
            return self._iso_out(n, r, stat, data)
        if stat == STALL:
            return STALL_HS
        if r.value >> UTYPE_SHIFT & 3 == UTYPE_CONTROL and r.value & EPKIND and data:
            return STALL_HS                  # STATUS_OUT: only a zero-length status OUT is accepted
        if stat == NAK:
            return NAK_HS
        expected = 1 if r.value & DTOGRX else 0
        double = self._double_buffered(r.value)
        if double and bool(r.value & DTOGRX) == bool(r.value & DTOGTX):
            return NAK_HS                    # both buffers are the application's (DTOG = SW_BUF)
        if toggle is not None and toggle != expected:
            return ACK                       # retransmission of a packet already received: discarded
        if double:
            at, buf, size = self._rx_slot(n, expected)
            if len(data) > size:
                self._flag(ISTR_ERR)
                return NO_RESPONSE
            self.pma.store(buf, bytes(data))
            self._store_count(at, len(data))
            r.value = (r.value ^ DTOGRX) | VTRX   # STAT stays VALID: the buffers do the flow control
            self._update_irq()
            return ACK
        if not self._receive(n, data):
            return NO_RESPONSE
        r.value = (r.value & ~SETUP_BIT) ^ DTOGRX
        r.value |= VTRX
        self._set_stat(r, STATRX_SHIFT, NAK)
        self._update_irq()
        return ACK

    def _iso_out(self, n: int, r, stat: int, data: bytes) -> str:
        """Isochronous OUT: into the buffer DTOG_RX selects, no handshake, no toggle check."""
        if stat != VALID:
            self.services.event("usb.iso", f"isochronous OUT on CHEP{n}R with STAT_RX "
                                f"{STAT_NAMES[stat]}: not modelled, the packet is dropped")
            return NO_RESPONSE
        at, buf, size = self._rx_slot(n, 1 if r.value & DTOGRX else 0)
        if len(data) > size:
            self._flag(ISTR_ERR)         # buffer overrun: stored truncated, still a transaction
        self.pma.store(buf, bytes(data[:size]))
        self._store_count(at, min(len(data), size))
        r.value = (r.value ^ DTOGRX) | VTRX
        self._update_irq()
        return ISO

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
        n = self._addressed(address, ep, STATTX_SHIFT)
        if n is None:
            return NO_RESPONSE, b"", 0
        r = self.chep[n]
        stat = r.value >> STATTX_SHIFT & 3
        if stat == DISABLED:
            return NO_RESPONSE, b"", 0
        pid = 1 if r.value & DTOGTX else 0
        if r.value >> UTYPE_SHIFT & 3 == UTYPE_ISO:
            if stat != VALID:
                self.services.event("usb.iso", f"isochronous IN on CHEP{n}R with STAT_TX "
                                    f"{STAT_NAMES[stat]}: not modelled, no packet sent")
                return NO_RESPONSE, b"", 0
            addr, count = self._tx_slot(n, pid)
            r.value = (r.value ^ DTOGTX) | VTTX
            self._update_irq()
            return ISO, self.pma.load(addr, count), 0
        if stat == STALL:
            return STALL_HS, b"", 0
        if stat == NAK:
            return NAK_HS, b"", 0
        double = self._double_buffered(r.value)
        if double:
            if bool(r.value & DTOGTX) == bool(r.value & DTOGRX):
                return NAK_HS, b"", 0        # no buffer released by the application (DTOG = SW_BUF)
            addr, count = self._tx_slot(n, pid)
        else:
            addr, count = self._txbd(n)
        payload = self.pma.load(addr, count)
        if host_acks:
            r.value ^= DTOGTX
            r.value |= VTTX
            if not double:
                self._set_stat(r, STATTX_SHIFT, NAK)
            self._update_irq()
        return ACK, payload, pid

    def _flag(self, bit: int) -> None:
        self.reg["ISTR"].value |= bit
        self._update_irq()
