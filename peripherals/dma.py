"""Direct memory access controller (DMA1, 0x4002_0000, AHB) - RM0490 "Direct memory access
controller (DMA)".  Five channels on the C071 (ST's SVD: ISR flags and CCR1-CCR5).

Register map (offsets and reset values: RM0490 DMA register map, checked against ST's SVD in
tests/test_svd_oracle.py; the SVD calls the block DMA, RM0490 DMA1):

    0x00 ISR     GIFx[4(x-1)] TCIFx[+1] HTIFx[+2] TEIFx[+3]        (x = 1..5)
    0x04 IFCR    CGIFx CTCIFx CHTIFx CTEIFx (write 1 to clear)
    0x08 + 0x14 (x-1):
         CCRx    EN[0] TCIE[1] HTIE[2] TEIE[3] DIR[4] CIRC[5] PINC[6] MINC[7] PSIZE[9:8]
                 MSIZE[11:10] PL[13:12] MEM2MEM[14]
         CNDTRx  NDT[15:0]          +0x04
         CPARx   PA[31:0]           +0x08
         CMARx   MA[31:0]           +0x0C

Behaviour (RM0490 DMA "functional description"):

* A channel starts when EN goes 0 -> 1: it latches CPAR, CMAR and CNDTR (its current
  addresses and the reload value) and serves requests while CNDTR > 0.  MEM2MEM = 1: the
  channel requests by itself from the enable on; otherwise the request is the DMAMUX
  line selected for it (``peripherals.dmamux``: DMAMUX channel x-1 feeds DMA channel x).
* Each transfer (a "beat") is one read of the source and one write of the destination:
  DIR = 0 reads at the peripheral address (CPAR) and writes at the memory address
  (CMAR); DIR = 1 the other way (memory-to-memory with DIR = 0 copies CPAR -> CMAR, as
  the HAL programs it).  The read has the source size, the write the destination size
  (PSIZE / MSIZE: 8, 16, 32 bits): a narrower source is zero-extended, a wider one
  truncated to its least significant bytes (RM0490 "programmable data width" table).
  Addresses are aligned down to their size (low address bits ignored) and, with
  PINC / MINC, advance by their own size after each beat.  CNDTR counts down.
* HTIF is set when half of the programmed count has been transferred (for a count of
  1, with TCIF), TCIF when CNDTR reaches 0.  CIRC = 1 (not with MEM2MEM) reloads CNDTR
  and the addresses and keeps serving; otherwise the channel stays enabled, idle.
* A read or write that nothing answers - a reserved address, the core's private bus, a
  read-only memory - sets TEIF and clears EN (RM0490 "DMA transfer error").
* GIFx reads as TCIFx | HTIFx | TEIFx.  IFCR clears flags.  The channel's interrupt is
  (TCIF & TCIE) | (HTIF & HTIE) | (TEIF & TEIE), on IRQ 9 (channel 1), IRQ 10
  (channels 2, 3) and IRQ 11 (channels 4, 5, shared with the DMAMUX overrun interrupt,
  which cannot fire: see dmamux.py).
* While EN = 1, CCR's configuration fields (DIR..MEM2MEM) and CNDTR are read-only: a
  write that would change them is ignored and logged; TCIE/HTIE/TEIE stay writable (the
  HAL turns interrupts off in its handler).  CPAR/CMAR "must not be written" then: the
  write is stored and logged, the running transfer keeps its latched addresses.
* Arbitration: of the channels with a pending request, the highest PL wins, then the
  lowest channel number.  One beat at a time.

Timing (the clock, not instantaneous): the DMA is one AHB master, a beat is a scheduled
event.  RM0490 gives no per-transfer cycle count; the model charges 1 HCLK cycle of
arbitration plus 2 per AHB access (address and data phase: memories, AHB peripherals,
GPIO) and 3 per APB access (the bridge) - 5 cycles for an SRAM-to-SRAM word, 6 for a
byte from SRAM to a USART.  Not modelled: the core being held off the bus during a
beat (the CPU runs at full speed), flash wait states on DMA reads, and beats while the
DMA clock is gated (a gated DMA idles until its registers or requests change).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Protocol

from . import c071
from .dmamux import DmaRequestMux
from .regs import BusKind, Peripheral, Register, reg, ro, rw, wo
from .services import ChipServices

CHANNELS = 5
EN, TCIE, HTIE, TEIE, DIR, CIRC, PINC, MINC, MEM2MEM = 1, 2, 4, 8, 16, 32, 64, 128, 1 << 14
CONFIG_FIELDS = 0x7FF0                       # DIR..MEM2MEM: read-only while EN = 1
GIF, TCIF, HTIF, TEIF = 1, 2, 4, 8           # per channel, shifted by 4 (x - 1)
CHANNEL_IRQ = {1: c071.IRQ_DMA1_CH1, 2: c071.IRQ_DMA1_CH2_3, 3: c071.IRQ_DMA1_CH2_3,
               4: c071.IRQ_DMAMUX1_DMA1_CH4_5, 5: c071.IRQ_DMAMUX1_DMA1_CH4_5}
ARBITRATION_CYCLES = 1
AHB_ACCESS_CYCLES = 2
APB_ACCESS_CYCLES = 3
APB_RANGE = (0x4000_0000, 0x4002_0000)       # APB peripherals (RM0490 memory map); AHB from 0x4002_0000


class SystemBus(Protocol):
    """The DMA's AHB master port: what it reaches of the chip (provided by the machine)."""
    def read(self, address: int, size: int) -> Optional[int]: ...       # None: nothing answers
    def write(self, address: int, size: int, value: int) -> bool: ...   # False: nothing takes it


class _NoBus:
    """A DMA on its own (register-level checks): every access is a transfer error."""
    def read(self, address: int, size: int) -> Optional[int]:
        return None

    def write(self, address: int, size: int, value: int) -> bool:
        return False


@dataclass
class _ChannelState:
    """What a channel latched when it was enabled (the 'current' address registers)."""
    running: bool = False
    reload: int = 0
    peripheral_start: int = 0
    memory_start: int = 0
    peripheral_address: int = 0
    memory_address: int = 0
    half_signalled: bool = False


def _size(code: int) -> int:
    return {0: 1, 1: 2, 2: 4}.get(code, 4)


def access_cycles(address: int) -> int:
    return APB_ACCESS_CYCLES if APB_RANGE[0] <= address < APB_RANGE[1] else AHB_ACCESS_CYCLES


class DirectMemoryAccess(Peripheral):
    name = "DMA"
    bus = BusKind.AHB
    manual = "RM0490 DMA"

    def __init__(self, base: int, services: ChipServices | None = None, system_bus: Optional[SystemBus] = None,
                 mux: Optional[DmaRequestMux] = None) -> None:
        registers: list[Register] = [
            reg("ISR", 0x00, 0, *[f for x in range(1, CHANNELS + 1) for f in (
                ro(f"GIF{x}", 4 * (x - 1)), ro(f"TCIF{x}", 4 * (x - 1) + 1), ro(f"HTIF{x}", 4 * (x - 1) + 2),
                ro(f"TEIF{x}", 4 * (x - 1) + 3))]),
            reg("IFCR", 0x04, 0, *[f for x in range(1, CHANNELS + 1) for f in (
                wo(f"CGIF{x}", 4 * (x - 1)), wo(f"CTCIF{x}", 4 * (x - 1) + 1), wo(f"CHTIF{x}", 4 * (x - 1) + 2),
                wo(f"CTEIF{x}", 4 * (x - 1) + 3))], on_write=self._ifcr_written),
        ]
        for x in range(1, CHANNELS + 1):
            at = 0x08 + 0x14 * (x - 1)
            registers += [
                reg(f"CCR{x}", at, 0, rw("EN", 0), rw("TCIE", 1), rw("HTIE", 2), rw("TEIE", 3), rw("DIR", 4),
                    rw("CIRC", 5), rw("PINC", 6), rw("MINC", 7), rw("PSIZE", 8, 2), rw("MSIZE", 10, 2),
                    rw("PL", 12, 2), rw("MEM2MEM", 14), on_write=lambda o, n, x=x: self._ccr_written(x, o, n)),
                reg(f"CNDTR{x}", at + 0x04, 0, rw("NDT", 0, 16),
                    on_write=lambda o, n, x=x: self._cndtr_written(x, o)),
                reg(f"CPAR{x}", at + 0x08, 0, rw("PA", 0, 32),
                    on_write=lambda o, n, x=x: self._address_written(x, "CPAR")),
                reg(f"CMAR{x}", at + 0x0C, 0, rw("MA", 0, 32),
                    on_write=lambda o, n, x=x: self._address_written(x, "CMAR")),
            ]
        self.system_bus: SystemBus = system_bus or _NoBus()
        self.mux = mux
        if mux is not None:
            mux.request_changed = lambda channel: self._kick()
        self._channels = {x: _ChannelState() for x in range(1, CHANNELS + 1)}
        self._beat_event = None
        self._in_beat = False
        super().__init__(base, services, registers)
        self.isr = self.reg["ISR"]
        # per-channel registers by channel number (index 0 unused): the beat path reads them often
        self._ccr = [None] + [self.reg[f"CCR{x}"] for x in range(1, CHANNELS + 1)]
        self._cndtr = [None] + [self.reg[f"CNDTR{x}"] for x in range(1, CHANNELS + 1)]

    def on_reset(self) -> None:
        if self._beat_event is not None:
            self._beat_event.cancel()
        self._beat_event = None
        self._channels = {x: _ChannelState() for x in range(1, CHANNELS + 1)}
        self._update_irqs()

    # -- register behaviour -------------------------------------------------------------
    def _ccr_written(self, x: int, old: int, new: int) -> None:
        ccr = self.reg[f"CCR{x}"]
        if old & EN and (old ^ new) & CONFIG_FIELDS:
            ccr.value = new = (new & ~CONFIG_FIELDS) | (old & CONFIG_FIELDS)
            self.services.event("dma", f"DMA1 channel {x}: CCR configuration write ignored while EN = 1 "
                                       "(RM0490: read-only when the channel is enabled)")
        if new & EN and not old & EN:
            self._start(x)
        elif old & EN and not new & EN:
            self._channels[x].running = False
        self._update_irqs()
        self._kick()

    def _cndtr_written(self, x: int, old: int) -> None:
        if self.reg[f"CCR{x}"].value & EN:
            self.reg[f"CNDTR{x}"].value = old
            self.services.event("dma", f"DMA1 channel {x}: CNDTR write ignored while EN = 1 (read-only)")

    def _address_written(self, x: int, name: str) -> None:
        if self.reg[f"CCR{x}"].value & EN:
            self.services.event("dma", f"DMA1 channel {x}: {name} written while EN = 1 (RM0490: must not be "
                                       "written); the running transfer keeps its latched address")

    def _ifcr_written(self, old: int, new: int) -> None:
        clear = 0
        written = self.reg["IFCR"].last_written
        for x in range(1, CHANNELS + 1):
            bits = written >> 4 * (x - 1) & 0xF
            if bits & GIF:
                bits = 0xF
            clear |= bits << 4 * (x - 1)
        self.isr.value &= ~clear
        self._refresh_global_flags()
        self._update_irqs()

    # -- channel control --------------------------------------------------------------------
    def _start(self, x: int) -> None:
        ccr = self.reg[f"CCR{x}"].value
        state = self._channels[x]
        state.running = True
        state.reload = self.reg[f"CNDTR{x}"].value & 0xFFFF
        state.peripheral_start = state.peripheral_address = self.reg[f"CPAR{x}"].value
        state.memory_start = state.memory_address = self.reg[f"CMAR{x}"].value
        state.half_signalled = False
        if ccr & MEM2MEM and ccr & CIRC:
            self.services.event("dma", f"DMA1 channel {x}: MEM2MEM with CIRC (RM0490: not allowed); "
                                       "the model runs it once, not circularly")
        for field in ("PSIZE", "MSIZE"):
            if self.reg[f"CCR{x}"].get(field) == 3:
                ccr_reg = self.reg[f"CCR{x}"]
                self.services.event("dma", f"DMA1 channel {x}: {field} = 11 is reserved; treated as 32 bits")
                self.services.unmodelled(self, ccr_reg.offset, 4, is_write=True, value=ccr, reg=ccr_reg)
        if not ccr & MEM2MEM and state.reload and self.mux is not None:
            self.mux.check_driven(x)

    def _pending(self, x: int) -> bool:
        ccr = self._ccr[x].value
        if not (ccr & EN and self._channels[x].running and self._cndtr[x].value & 0xFFFF):
            return False
        return bool(ccr & MEM2MEM) or (self.mux is not None and self.mux.request_active(x))

    def _next_channel(self) -> Optional[int]:
        """Arbitration: highest PL first, then the lowest channel number."""
        best, best_pl = None, -1
        for x in range(1, CHANNELS + 1):
            if self._pending(x):
                pl = self._ccr[x].value >> 12 & 3
                if pl > best_pl:
                    best, best_pl = x, pl
        return best

    def _kick(self) -> None:
        """Schedule the next beat if a channel has a pending request and none is scheduled."""
        if self._beat_event is not None or self._in_beat:
            return
        x = self._next_channel()
        if x is None:
            return
        state = self._channels[x]
        cycles = ARBITRATION_CYCLES + access_cycles(state.peripheral_address) + access_cycles(state.memory_address)
        self._beat_event = self.services.after_cycles(cycles, self._beat, f"DMA1 channel {x} transfer")

    def _beat(self) -> None:
        self._beat_event = None
        if not self.clock_enabled() or self.held_in_reset:
            return
        x = self._next_channel()
        if x is not None:
            self._in_beat = True
            try:
                self._transfer(x)
            finally:
                self._in_beat = False
        self._kick()

    # -- one transfer -----------------------------------------------------------------------
    def _transfer(self, x: int) -> None:
        ccr = self._ccr[x].value
        state = self._channels[x]
        psize, msize = _size(ccr >> 8 & 3), _size(ccr >> 10 & 3)
        paddr = state.peripheral_address & ~(psize - 1)
        maddr = state.memory_address & ~(msize - 1)
        if ccr & DIR:
            (source, source_size), (destination, destination_size) = (maddr, msize), (paddr, psize)
        else:
            (source, source_size), (destination, destination_size) = (paddr, psize), (maddr, msize)
        value = self.system_bus.read(source, source_size)
        if value is None:
            self._transfer_error(x, f"read of 0x{source:08X}")
            return
        if destination_size < source_size:
            value &= (1 << 8 * destination_size) - 1
        if not self.system_bus.write(destination, destination_size, value):
            self._transfer_error(x, f"write of 0x{destination:08X}")
            return
        if ccr & PINC:
            state.peripheral_address = paddr + psize
        if ccr & MINC:
            state.memory_address = maddr + msize
        cndtr = self._cndtr[x]
        remaining = (cndtr.value & 0xFFFF) - 1
        cndtr.value = remaining
        flags = 0
        if not state.half_signalled and 2 * (state.reload - remaining) >= state.reload:
            state.half_signalled = True
            flags |= HTIF
        if remaining == 0:
            flags |= TCIF
            if ccr & CIRC and not ccr & MEM2MEM:
                cndtr.value = state.reload
                state.peripheral_address, state.memory_address = state.peripheral_start, state.memory_start
                state.half_signalled = False
        self._set_flags(x, flags)

    def _transfer_error(self, x: int, what: str) -> None:
        self.reg[f"CCR{x}"].value &= ~EN
        self._channels[x].running = False
        self.services.event("dma", f"DMA1 channel {x}: transfer error: nothing answers the {what}; "
                                   "TEIF set, channel disabled")
        self._set_flags(x, TEIF)

    # -- flags and interrupts ------------------------------------------------------------------
    def _set_flags(self, x: int, flags: int) -> None:
        if flags:
            self.isr.value |= flags << 4 * (x - 1)
            self._refresh_global_flags()
            self._update_irqs()

    def _refresh_global_flags(self) -> None:
        isr = self.isr.value
        for x in range(CHANNELS):
            shift = 4 * x
            if isr >> shift & (TCIF | HTIF | TEIF):
                isr |= GIF << shift
            else:
                isr &= ~(GIF << shift)
        self.isr.value = isr

    def channel_interrupt(self, x: int) -> bool:
        flags = self.isr.value >> 4 * (x - 1)
        ccr = self.reg[f"CCR{x}"].value
        return bool(flags & TCIF and ccr & TCIE or flags & HTIF and ccr & HTIE or flags & TEIF and ccr & TEIE)

    def _update_irqs(self) -> None:
        levels: dict[int, bool] = {}
        for x, irq in CHANNEL_IRQ.items():
            levels[irq] = levels.get(irq, False) or self.channel_interrupt(x)
        for irq, level in levels.items():
            self.services.set_irq_line(irq, level)

    # -- observation -----------------------------------------------------------------------------
    def busy(self) -> bool:
        """A beat is scheduled (for tests and the waveform)."""
        return self._beat_event is not None
