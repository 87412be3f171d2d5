"""CRC calculation unit (CRC, 0x4002_3000, AHB) - RM0490 "Cyclic redundancy check calculation unit (CRC)".

Register map (offsets and reset values: RM0490 CRC register map, checked against ST's SVD
in tests/test_svd_oracle.py):

    0x00 DR    0xFFFF_FFFF  data in (write) / CRC out (read)
    0x04 IDR   0x0000_0000  independent data, 32 bits of scratch storage
    0x08 CR    0x0000_0000  RESET[0] POLYSIZE[4:3] REV_IN[6:5] REV_OUT[7]
    0x10 INIT  0xFFFF_FFFF  initial CRC value
    0x14 POL   0x04C1_1DB7  polynomial (CRC-32 / Ethernet at reset)

Behaviour (RM0490 "CRC functional description"):

* Each write to DR feeds the data of that access - 8, 16 or 32 bits: the block is on
  AHB, so a narrow write feeds only its bytes - into the CRC register, most
  significant bit first.  The register is POLYSIZE bits wide (00 32, 01 16, 10 8,
  11 7) and the polynomial is the low POLYSIZE bits of POL; a narrower CRC is read
  from the least significant bits of DR.
* REV_IN bit-reverses the data before it is fed: 01 by byte, 10 by half-word, 11 by
  word (0x1A2B3C4D becomes 0x58D43CB2, 0xD458B23C, 0xB23CD458).  A write narrower
  than the reversal unit is reversed over its own width (what the HAL's mixed-size
  feeding relies on; the manual does not say, and ST's F7/H7 CRC blocks are reported
  to differ here, so that combination is logged as an event).
* REV_OUT=1 makes DR read the CRC bit-reversed over the POLYSIZE width (0x11223344
  reads 0x22CC4488 for a 32-bit CRC); the stored value is unchanged.
* CR.RESET=1 loads DR from INIT (the low POLYSIZE bits) and clears itself; a write to
  INIT loads DR as well.  IDR is not affected by RESET.
* "Even polynomials are not supported": writing one is logged as an event; the model
  still computes with it.

Not modelled: the computation time (4 AHB cycles for 32 bits, during which a DR read
would stall the bus) - the result is ready at once.
"""
from __future__ import annotations

from .regs import BusKind, Peripheral, Register, reg, rs, rw
from .services import ChipServices

POLYSIZE_BITS = {0: 32, 1: 16, 2: 8, 3: 7}
REV_IN_UNIT = {0: 0, 1: 8, 2: 16, 3: 32}          # bits reversed as one unit (0: none)
REV_IN_NAMES = {0: "none", 1: "byte", 2: "half-word", 3: "word"}
_LANE_BITS = {0xFF: 8, 0xFFFF: 16, 0xFFFFFFFF: 32}


def reverse_bits(value: int, width: int) -> int:
    """``value`` with its low ``width`` bits in the opposite order."""
    out = 0
    for _ in range(width):
        out = out << 1 | value & 1
        value >>= 1
    return out


def reverse_input(data: int, width: int, unit: int) -> int:
    """REV_IN applied to ``width`` bits of data: each ``unit``-bit group reversed in place."""
    if unit == 0:
        return data
    unit = min(unit, width)
    out = 0
    for shift in range(0, width, unit):
        out |= reverse_bits(data >> shift, unit) << shift
    return out


def crc_update(crc: int, data: int, width: int, poly: int, size: int) -> int:
    """Feed ``width`` bits of ``data`` (MSB first) into a ``size``-bit CRC register."""
    top = 1 << (size - 1)
    mask = (1 << size) - 1
    poly &= mask
    for i in range(width - 1, -1, -1):
        feedback = bool(crc & top) ^ (data >> i & 1)
        crc = crc << 1 & mask
        if feedback:
            crc ^= poly
    return crc


class Crc(Peripheral):
    name = "CRC"
    bus = BusKind.AHB
    manual = "RM0490 CRC"

    def __init__(self, base: int, services: ChipServices | None = None) -> None:
        self._dr_lanes = 0xFFFFFFFF
        self._warned_narrow_reversal = False
        super().__init__(base, services, registers=[
            reg("DR", 0x00, 0xFFFF_FFFF, rw("DR", 0, 32), on_write=self._data_written, on_read=self._crc_out),
            reg("IDR", 0x04, 0, rw("IDR", 0, 32)),
            reg("CR", 0x08, 0, rs("RESET", 0), rw("POLYSIZE", 3, 2), rw("REV_IN", 5, 2), rw("REV_OUT", 7),
                on_write=self._control_written),
            reg("INIT", 0x10, 0xFFFF_FFFF, rw("CRC_INIT", 0, 32), on_write=lambda o, n: self._load_init()),
            reg("POL", 0x14, 0x04C1_1DB7, rw("POL", 0, 32), on_write=self._polynomial_written),
        ])
        self.dr: Register = self.reg["DR"]
        self.cr: Register = self.reg["CR"]

    def on_reset(self) -> None:
        self._warned_narrow_reversal = False

    # -- configuration ------------------------------------------------------------
    def crc_bits(self) -> int:
        """The CRC width in bits (POLYSIZE)."""
        return POLYSIZE_BITS[self.cr.get("POLYSIZE")]

    def _load_init(self) -> None:
        self.dr.value = self.reg["INIT"].value & ((1 << self.crc_bits()) - 1)

    def _control_written(self, old: int, new: int) -> None:
        if new & 1:                                   # RESET: DR <- INIT, the bit clears itself
            self._load_init()
            self.cr.value &= ~1
        if (old ^ new) & 0x60:
            self._warned_narrow_reversal = False

    def _polynomial_written(self, old: int, new: int) -> None:
        if not new & 1:
            self.services.event("crc", f"CRC: even polynomial 0x{new:08X} written to POL; RM0490 says even "
                                       "polynomials are not supported (the model computes with it anyway)")

    # -- data path ------------------------------------------------------------------
    def write_register(self, reg: Register, data: int, lanes: int = 0xFFFFFFFF) -> None:
        self._dr_lanes = lanes            # the data width of a DR write is the width of the access
        super().write_register(reg, data, lanes)

    def _data_written(self, old: int, new: int) -> None:
        lanes = self._dr_lanes
        shift = (lanes & -lanes).bit_length() - 1
        width = _LANE_BITS.get(lanes >> shift, 32)
        data = self.dr.last_written >> shift & ((1 << width) - 1)
        rev_in = self.cr.get("REV_IN")
        unit = REV_IN_UNIT[rev_in]
        if unit > width and not self._warned_narrow_reversal:
            self._warned_narrow_reversal = True
            self.services.event("crc", f"CRC: {width}-bit write with REV_IN = {REV_IN_NAMES[rev_in]} reversal; "
                                       f"reversed over {width} bits (behaviour differs between ST CRC blocks)")
        data = reverse_input(data, width, unit)
        self.dr.value = crc_update(old, data, width, self.reg["POL"].value, self.crc_bits())

    def _crc_out(self, stored: int) -> int:
        size = self.crc_bits()
        crc = stored & ((1 << size) - 1)
        return reverse_bits(crc, size) if self.cr.get("REV_OUT") else crc
