"""Declarative register layer: a peripheral is its register table plus a few verbs.

Each register is declared once with its offset, reset value and fields; each field
has an access mode taken from the reference manual's notation (RM0490 §1.2:
rw, r, w, rc_w1, rc_w0, rc_r, rs, t).  Storage, reset, lane merging of narrow
writes and the write-1-to-clear / toggle arithmetic come from here, so a model
file reads like the manual's register table followed by the side effects.

Bits that no field covers are reserved: writes to them are dropped and they read
back their reset value.  Fields declared with ``implemented=False`` are *named*
gaps: the register stores them, and an access that could depend on them is reported
as an unmodelled access - a write that changes one, a read of one that hardware
would update (a status flag), or a read of one that is no longer at its reset value
- so a missing behaviour is never silent, while a read-modify-write of a register
that merely contains an idle, unmodelled control bit is not noise.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Callable, Iterable, Optional, Sequence

from .services import ChipServices, NullServices


class Access(enum.Enum):
    RW = "rw"        # read/write
    RO = "r"         # read-only: writes ignored
    WO = "w"         # write-only: reads as 0, the written value reaches the callback
    W1C = "rc_w1"    # read, write 1 clears
    W0C = "rc_w0"    # read, write 0 clears
    RC = "rc_r"      # cleared by a read
    RS = "rs"        # set-only: write 1 sets, cleared by hardware
    TOGGLE = "t"     # write 1 toggles


@dataclass(frozen=True)
class Field:
    name: str
    lsb: int
    width: int = 1
    access: Access = Access.RW
    implemented: bool = True
    doc: str = ""

    @property
    def mask(self) -> int:
        return ((1 << self.width) - 1) << self.lsb

    def extract(self, value: int) -> int:
        return (value & self.mask) >> self.lsb


WriteHook = Callable[[int, int], None]      # (old, new) after storage is updated
ReadHook = Callable[[int], int]             # stored value -> value the bus sees


@dataclass
class Register:
    """One register: layout plus optional side-effect verbs.

    ``on_write(old, new)`` runs after the access-mode arithmetic has updated the
    stored value; ``new`` is the stored value, ``self.last_written`` the raw bus
    value (for write-only key registers).  ``on_read(stored)`` computes a value
    that depends on time or other state (a down-counter, a ready bit);
    ``read_has_side_effects`` says that it also changes state (a flag a read clears).
    ``varies_with_time`` says that the value read changes with time without any scheduled
    event (a free-running counter), so a loop polling it is never a fixed point.
    ``on_write_when`` (a bit mask, or None: always) declares that ``on_write`` matters only
    to a write that changes one of those bits, so a bus that serves plain registers
    natively may serve the other writes without it (GPIO ODR: the pins someone watches).
    """
    name: str
    offset: int
    reset: int = 0
    fields: Sequence[Field] = ()
    on_write: Optional[WriteHook] = None
    on_read: Optional[ReadHook] = None
    read_has_side_effects: bool = False
    varies_with_time: bool = False
    on_write_when: Optional[int] = None
    doc: str = ""
    value: int = 0
    last_written: int = 0
    last_writer: Optional[tuple[int, int]] = None   # (pc, cycle) of the last bus write
    field_writers: dict = field(default_factory=dict)  # per-field provenance: see note_change

    def __post_init__(self) -> None:
        masks = {a: 0 for a in Access}
        self.unimplemented_mask = 0
        self.unimplemented_status_mask = 0       # unimplemented fields the hardware would change
        for f in self.fields:
            masks[f.access] |= f.mask
            if not f.implemented:
                self.unimplemented_mask |= f.mask
                if f.access is not Access.RW:
                    self.unimplemented_status_mask |= f.mask
        self.rw_mask = masks[Access.RW]
        self.w1c_mask = masks[Access.W1C]
        self.w0c_mask = masks[Access.W0C]
        self.rs_mask = masks[Access.RS]
        self.toggle_mask = masks[Access.TOGGLE]
        self.rc_mask = masks[Access.RC]
        self.wo_mask = masks[Access.WO]
        self.by_name = {f.name: f for f in self.fields}
        self.value = self.reset
        # What the fast bus path may serve without the full chain (Peripheral.read/write):
        # a read that is the stored value (no read-clear, nothing unmodelled), a write that
        # is plain read/write arithmetic.  ``on_read``/``on_write`` are checked per access.
        self.read_mask = ~self.wo_mask & 0xFFFFFFFF
        self.plain_read = not (self.rc_mask or self.unimplemented_mask)
        self.plain_write = not (self.wo_mask or self.w1c_mask or self.w0c_mask or self.rs_mask
                                or self.toggle_mask or self.unimplemented_mask)
        self._fields_changed: dict[int, tuple[str, ...]] = {}

    # -- field helpers used by models -------------------------------------------
    def get(self, name: str) -> int:
        return self.by_name[name].extract(self.value)

    def set(self, name: str, field_value: int) -> None:
        """Hardware-side update of one field (no access-mode rules, no callbacks)."""
        f = self.by_name[name]
        old = self.value
        self.value = (old & ~f.mask) | ((field_value << f.lsb) & f.mask)
        if self.value != old and self.hardware_writer is not None:
            self.field_writers[name] = self.hardware_writer()

    def decode(self, value: Optional[int] = None) -> dict[str, int]:
        v = self.value if value is None else value
        return {f.name: f.extract(v) for f in self.fields}

    # -- per-field provenance ------------------------------------------------------
    # ``field_writers`` maps a field name to whoever last CHANGED that field's value: the
    # (pc, cycle) of a bus write, or what ``hardware_writer()`` returns for a change the
    # model made (a ready flag, a SETUP bit).  A write that leaves a field as it was never
    # takes the blame for it, and nothing is recorded for a write that changes nothing,
    # so the cost on the bus path is one comparison.  Writes through an alias (GPIO
    # BSRR/BRR into ODR) call ``note_change`` on the register they change.
    hardware_writer = None      # Callable[[], object] | None, set by Peripheral._index (not a dataclass field)

    def note_change(self, old: int, writer: object) -> None:
        """Blame ``writer`` for every field whose value differs from ``old``."""
        changed = old ^ self.value
        if not changed or writer is None:
            return
        names = self._fields_changed.get(changed)
        if names is None:
            names = tuple(f.name for f in self.fields if f.mask & changed)
            if len(self._fields_changed) < 64:               # data registers: bounded memo
                self._fields_changed[changed] = names
        writers = self.field_writers
        for name in names:
            writers[name] = writer

    def note_hardware_change(self, old: int) -> None:
        """The model changed the stored value outside ``set`` (``value |= ...``)."""
        if self.hardware_writer is not None and old != self.value:
            self.note_change(old, self.hardware_writer())

    # -- bus semantics -----------------------------------------------------------
    def apply_write(self, data: int, lanes: int) -> int:
        """Return the new stored value for a bus write of ``data`` on byte ``lanes``."""
        old = self.value
        new = old & ~lanes
        kept = old & lanes
        new |= (data & self.rw_mask & lanes)
        new |= (data & self.wo_mask & lanes)
        new |= kept & self.w1c_mask & ~data
        new |= kept & self.w0c_mask & data
        new |= (kept | data) & self.rs_mask & lanes
        new |= (kept ^ data) & self.toggle_mask & lanes
        new |= kept & ~(self.rw_mask | self.wo_mask | self.w1c_mask | self.w0c_mask
                        | self.rs_mask | self.toggle_mask)
        return new & 0xFFFFFFFF

    def bus_value(self) -> int:
        v = self.on_read(self.value) if self.on_read else self.value
        return v & ~self.wo_mask & 0xFFFFFFFF

    def peek(self) -> int:
        """The register as an observer (a waveform) sees it, disturbing nothing: what a read
        would return, or the stored value where a read would change state."""
        if self.on_read is None or self.read_has_side_effects:
            return self.value
        return self.bus_value()


class BusKind(enum.Enum):
    """How a bus treats accesses narrower than 32 bits (RM0490 §2.1)."""
    APB = "apb"          # 8/16-bit writes are widened to 32 bits, data replicated on every lane
    AHB = "ahb"          # narrow writes touch only their byte lanes
    PPB_WORD = "ppb"     # ARMv6-M system registers: word access only


_LANE = {1: 0xFF, 2: 0xFFFF, 4: 0xFFFFFFFF}


class Peripheral:
    """A memory-mapped block: a register table at a base address.

    Subclasses build ``self.registers`` in ``__init__`` (call ``super().__init__``
    last or call ``self._index()``).  The machine maps the block with
    ``mmio_map`` and routes bus accesses to ``read``/``write``.
    """

    name = "peripheral"
    bus = BusKind.APB
    size = 0x400
    manual = ""            # manual section for reports, e.g. "RM0490 §9"

    def __init__(self, base: int, services: ChipServices | None = None,
                 registers: Iterable[Register] = ()) -> None:
        self.base = base
        self.services: ChipServices = services or NullServices()
        self.registers: list[Register] = list(registers)
        self.clock_enabled: Callable[[], bool] = lambda: True
        self.clock_gate: Optional[tuple[Register, int]] = None   # (RCC enable register, bit) behind clock_enabled
        self.held_in_reset = False
        self._index()

    def _index(self) -> None:
        # a model that refines write_register (FLASH: lock and option-protection rules) keeps
        # every write on the full chain
        self._writes_plain = type(self).write_register is Peripheral.write_register
        self._by_offset = {r.offset: r for r in self.registers}
        self.reg = {r.name: r for r in self.registers}
        hardware = getattr(self.services, "hardware_provenance", None)
        for r in self.registers:
            r.hardware_writer = hardware

    # -- reset -------------------------------------------------------------------
    def reset(self) -> None:
        """Peripheral reset: every register back to its reset value."""
        for r in self.registers:
            r.value = r.reset
            r.last_written = 0
            r.last_writer = None
            r.field_writers.clear()
        self.on_reset()

    def on_reset(self) -> None:
        """Model-private state to restore on reset (timers, latches)."""

    def power_on_reset(self) -> None:
        """Power-on reset.  Differs from ``reset`` only for POR-domain registers (DBG, RCC_CSR2)."""
        self.reset()

    # -- bus ---------------------------------------------------------------------
    # A word access to a plain register (a read without side effects; a write that is
    # read/write arithmetic, its ``on_write`` still called) takes the fast path: the same
    # result, the same observation (services.mmio_read/mmio_write, provenance), with the
    # checks that cannot apply skipped.  ``fast_paths = False`` sends every access
    # through the full chain (the equivalence tests compare the two).
    fast_paths = True
    clock_gate: Optional[tuple[Register, int]] = None

    def read(self, offset: int, size: int) -> int:
        if size == 4 and self.fast_paths:
            reg = self._by_offset.get(offset)
            gate = self.clock_gate
            if reg is not None and reg.plain_read and reg.on_read is None and not self.held_in_reset \
                    and (gate[0].value & gate[1] if gate else self.clock_enabled()):
                value = reg.value & reg.read_mask
                self.services.mmio_read(self, reg, value)
                return value
        word_offset = offset & ~3
        shift = (offset & 3) * 8
        if not self.clock_enabled() or self.held_in_reset:
            self.services.trace_gated(self, word_offset, is_write=False)
            return 0
        reg = self._by_offset.get(word_offset)
        if reg is None or self.bus is BusKind.PPB_WORD and size != 4:
            self.services.unmodelled(self, offset, size, is_write=False, value=None, reg=reg)
            return 0
        value = reg.bus_value()
        todo = reg.unimplemented_mask & (_LANE[size] << shift)
        if todo and (reg.unimplemented_status_mask & todo or (value ^ reg.reset) & todo):
            # A status field the model never updates, or a control field set to something the
            # model does not act on: the value read may not be what the silicon would show.
            self.services.unmodelled(self, offset, size, is_write=False, value=value, reg=reg)
        if reg.rc_mask & value:
            reg.value &= ~(reg.rc_mask & (_LANE[size] << shift))
        self.services.mmio_read(self, reg, value)
        return (value >> shift) & _LANE[size]

    def write(self, offset: int, size: int, data: int) -> None:
        if size == 4 and self.fast_paths and self._writes_plain:
            reg = self._by_offset.get(offset)
            gate = self.clock_gate
            if reg is not None and reg.plain_write and not self.held_in_reset \
                    and (gate[0].value & gate[1] if gate else self.clock_enabled()):
                # write_register's steps for a plain register (no write-only field to clear after)
                old = reg.value
                reg.value = (old & ~reg.rw_mask | data & reg.rw_mask) & 0xFFFFFFFF   # reserved/read-only bits keep
                reg.last_written = data
                reg.last_writer = self.services.provenance()
                self.services.mmio_write(self, reg, old, data)
                if reg.on_write is not None:
                    reg.on_write(old, reg.value)
                if reg.value != old:
                    reg.note_change(old, reg.last_writer)
                return
        word_offset = offset & ~3
        if not self.clock_enabled() or self.held_in_reset:
            self.services.trace_gated(self, word_offset, is_write=True, value=data)
            return
        reg = self._by_offset.get(word_offset)
        if reg is None or self.bus is BusKind.PPB_WORD and size != 4:
            self.services.unmodelled(self, offset, size, is_write=True, value=data, reg=reg)
            return
        if size == 4:
            lanes, data32 = 0xFFFFFFFF, data
        elif self.bus is BusKind.APB:
            data32 = data * (0x01010101 if size == 1 else 0x00010001)
            lanes = 0xFFFFFFFF
        else:
            shift = (offset & 3) * 8
            data32 = (data << shift) & 0xFFFFFFFF
            lanes = _LANE[size] << shift
        self.write_register(reg, data32, lanes)

    def write_register(self, reg: Register, data: int, lanes: int = 0xFFFFFFFF) -> None:
        """A bus write to ``reg`` (also the entry point for bus-level tests)."""
        old = reg.value
        new = reg.apply_write(data, lanes)
        todo_lanes = reg.unimplemented_mask & lanes
        acted = ((new ^ old) & ~reg.wo_mask) | (data & reg.wo_mask)     # a write-only field acts when 1
        if todo_lanes and acted & todo_lanes:
            # the write would act on a field this model does not implement
            self.services.unmodelled(self, reg.offset, 4, is_write=True, value=data, reg=reg)
        reg.value = new
        reg.last_written = data
        reg.last_writer = self.services.provenance()
        self.services.mmio_write(self, reg, old, data)
        if reg.on_write:
            reg.on_write(old, reg.value)
        reg.value &= ~reg.wo_mask        # write-only bits are an action, not state
        if reg.value != old:
            reg.note_change(old, reg.last_writer)

    # -- introspection -----------------------------------------------------------
    def register_at(self, offset: int) -> Optional[Register]:
        return self._by_offset.get(offset & ~3)

    def snapshot(self) -> dict[str, int]:
        return {r.name: r.value for r in self.registers}

    def restore(self, values: dict[str, int]) -> None:
        for name, v in values.items():
            self.reg[name].value = v


def reg(name: str, offset: int, reset: int = 0, *fields: Field, **kw) -> Register:
    """Shorthand used by the register tables: ``reg("CR", 0x14, 0xC0000000, Field(...), ...)``."""
    return Register(name=name, offset=offset, reset=reset, fields=fields, **kw)


def rw(name: str, lsb: int, width: int = 1, **kw) -> Field:
    return Field(name, lsb, width, Access.RW, **kw)


def ro(name: str, lsb: int, width: int = 1, **kw) -> Field:
    return Field(name, lsb, width, Access.RO, **kw)


def wo(name: str, lsb: int, width: int = 1, **kw) -> Field:
    return Field(name, lsb, width, Access.WO, **kw)


def w1c(name: str, lsb: int, width: int = 1, **kw) -> Field:
    return Field(name, lsb, width, Access.W1C, **kw)


def w0c(name: str, lsb: int, width: int = 1, **kw) -> Field:
    return Field(name, lsb, width, Access.W0C, **kw)


def rc(name: str, lsb: int, width: int = 1, **kw) -> Field:
    return Field(name, lsb, width, Access.RC, **kw)


def rs(name: str, lsb: int, width: int = 1, **kw) -> Field:
    return Field(name, lsb, width, Access.RS, **kw)


def toggle(name: str, lsb: int, width: int = 1, **kw) -> Field:
    return Field(name, lsb, width, Access.TOGGLE, **kw)


def todo(name: str, lsb: int, width: int = 1, access: Access = Access.RW, **kw) -> Field:
    """A field the silicon has and this model does not implement (accesses are reported)."""
    return Field(name, lsb, width, access, implemented=False, **kw)
