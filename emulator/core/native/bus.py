"""Wiring of the native bus path (fastbus.c) into a machine.

What is served natively, and why the run stays the same bit for bit:

* Storage.  A register the C side may serve (or whose bits it must see: an RCC clock
  gate) is *backed*: its word lives in a C ``fb_reg`` and the Register's ``value``,
  ``last_written``, ``last_writer``, ``field_writers`` and the attributes that decide
  what is plain become properties over that storage (the instance's class is switched
  to a subclass, ``NativeRegister``), so model code, snapshots, restore and reset read
  and change the one copy.  Registers never served stay plain Python attributes.
* Provenance.  A native write records (pc, cycle) from the same cells the Python path
  reads (``Cpu.pc_cell``, ``Cpu.counter_cell``, the slice start) and, per changed bit,
  its last and first pending change; ``field_writers`` turns that into the dict
  ``Register.note_change`` would have built, in the same key order, when Python asks.
* Polling.  While the Python poll trail is empty, C runs the poll detector itself
  (PollDetector.observe_read, ported step for step: trail, visits with the core state,
  confirmation, which ends the slice); every access while a Python trail exists goes to
  Python, and the detector adopts C's trail, visits and pending skip as if it had
  recorded them before any use of its own (polling.py).  Writes forget the trail in C
  as ``mmio_write`` does.
* Side effects.  Only a register with no read hook, no read-clear or unmodelled field and
  plain read/write arithmetic is served; one with ``on_write`` only when it declares
  ``on_write_when`` (GPIO ODR: pins whose level someone watches) and the write changes
  none of those bits.  Narrow accesses, a peripheral that is gated or held in reset
  (``held_in_reset`` becomes a property over the C block too) and every access while
  tracing (``--trace-mmio``, a waveform) observes the bus call the Python callbacks.
"""
from __future__ import annotations

import ctypes
from typing import Optional

from unicorn.unicorn_py3.unicorn import uclib

from peripherals.regs import Peripheral, Register

from ..cpu import Cpu, callback_failed

_CONFIRMED = ctypes.CFUNCTYPE(None)

FB_READ, FB_WRITE, FB_HOOKED = 1, 2, 4
MAX_TRAIL = 64
STATE_WORDS = 21            # Cpu.state(): the register file, then the registers of Cpu.STATE_REGISTERS
LAYOUT_SLOTS = 32           # fb_layout and fx_layout write fewer than this


class FbReg(ctypes.Structure):
    _fields_ = [("value", ctypes.c_uint32), ("last_written", ctypes.c_uint32),
                ("rw_mask", ctypes.c_uint32), ("read_mask", ctypes.c_uint32),
                ("flags", ctypes.c_uint32), ("effect_mask", ctypes.c_uint32),
                ("writer_kind", ctypes.c_uint32), ("writer_pc", ctypes.c_uint32),
                ("writer_cycle", ctypes.c_uint64), ("dirty", ctypes.c_uint32), ("pad", ctypes.c_uint32),
                ("bit_pc", ctypes.c_uint32 * 32), ("bit_cycle", ctypes.c_uint64 * 32),
                ("bit_first", ctypes.c_uint64 * 32)]


class FbState(ctypes.Structure):
    _fields_ = [("enabled", ctypes.c_uint32), ("in_slice", ctypes.c_uint32),
                ("slice_start", ctypes.c_void_p),
                ("pc", ctypes.c_void_p), ("counter", ctypes.c_void_p),
                ("python_trail", ctypes.c_uint32), ("trail_len", ctypes.c_uint32),
                ("trail_pc", ctypes.c_uint32 * MAX_TRAIL), ("trail_address", ctypes.c_uint32 * MAX_TRAIL),
                ("trail_value", ctypes.c_uint32 * MAX_TRAIL),
                ("reads", ctypes.c_uint64), ("writes", ctypes.c_uint64),
                ("n_visits", ctypes.c_uint32), ("visit_pc", ctypes.c_uint32 * MAX_TRAIL),
                ("visit_index", ctypes.c_uint32 * MAX_TRAIL), ("visit_has_state", ctypes.c_uint32 * MAX_TRAIL),
                ("visit_has_reads", ctypes.c_uint32 * MAX_TRAIL),
                ("visit_reads_start", ctypes.c_uint32 * MAX_TRAIL), ("visit_reads_end", ctypes.c_uint32 * MAX_TRAIL),
                ("visit_at", ctypes.c_uint64 * MAX_TRAIL), ("visit_state", (ctypes.c_uint32 * STATE_WORDS) * MAX_TRAIL),
                ("pending_skip", ctypes.c_uint64), ("limit", ctypes.c_void_p), ("confirmed", ctypes.c_void_p),
                ("regs", ctypes.c_void_p),
                ("uc", ctypes.c_void_p), ("reg_read_batch", ctypes.c_void_p),
                ("state_ids", ctypes.c_int * (STATE_WORDS - 16))]


class FbBlock(ctypes.Structure):
    _fields_ = [("state", ctypes.POINTER(FbState)), ("regs", ctypes.POINTER(ctypes.POINTER(FbReg))),
                ("n_words", ctypes.c_uint32), ("base", ctypes.c_uint32),
                ("gate", ctypes.c_void_p), ("gate_mask", ctypes.c_uint32),
                ("held_in_reset", ctypes.c_uint32),
                ("py_read", ctypes.c_void_p), ("py_read_data", ctypes.c_void_p),
                ("py_write", ctypes.c_void_p), ("py_write_data", ctypes.c_void_p)]


def layout_matches(lib: ctypes.CDLL) -> bool:
    out = (ctypes.c_uint64 * LAYOUT_SLOTS)()        # room for any build's answer: a stale one must not overrun
    lib.fb_layout(out)
    return list(out)[:9] == [ctypes.sizeof(FbReg), FbReg.bit_first.offset, ctypes.sizeof(FbState),
                         FbState.reads.offset, ctypes.sizeof(FbBlock), FbBlock.py_write_data.offset, MAX_TRAIL,
                         FbState.visit_state.offset, FbState.state_ids.offset]


# -- backed registers ------------------------------------------------------------------
def _flags(r: "NativeRegister") -> int:
    """What fastbus.c may serve for ``r`` (the Python fast path's own tests, per register)."""
    d = r.__dict__
    r._cell.effect_mask = d["_when"] or 0
    flags = 0
    if r.plain_read and d["_on_read"] is None and not d["_varies"] and not r.read_has_side_effects:
        flags |= FB_READ
    if d["_writes_plain"] and r.plain_write:
        if d["_on_write"] is None:
            flags |= FB_WRITE
        elif d["_when"] is not None:
            flags |= FB_WRITE | FB_HOOKED
    return flags


def _attribute(name: str):
    def get(self):
        return self.__dict__[name]

    def set_(self, value):
        self.__dict__[name] = value
        self._cell.flags = _flags(self)
    return property(get, set_)


class NativeRegister(Register):
    """A Register whose state is the C ``fb_reg`` in ``_cell`` (see the module docstring)."""

    @property
    def value(self) -> int:
        return self._cell.value

    @value.setter
    def value(self, v: int) -> None:
        self._cell.value = v

    @property
    def last_written(self) -> int:
        return self._cell.last_written

    @last_written.setter
    def last_written(self, v: int) -> None:
        self._cell.last_written = v

    @property
    def last_writer(self):
        cell = self._cell
        kind = cell.writer_kind
        if kind == 1:
            return (cell.writer_pc, cell.writer_cycle)
        return None if kind == 0 else self.__dict__["_writer"]

    @last_writer.setter
    def last_writer(self, writer) -> None:
        cell = self._cell
        if writer is None:
            cell.writer_kind = 0
        elif type(writer) is tuple and len(writer) == 2 and type(writer[0]) is int and type(writer[1]) is int \
                and 0 <= writer[0] < 1 << 32 and 0 <= writer[1] < 1 << 64:
            cell.writer_kind, cell.writer_pc, cell.writer_cycle = 1, writer[0], writer[1]
        else:
            cell.writer_kind = 2
            self.__dict__["_writer"] = writer

    @property
    def field_writers(self) -> dict:
        writers = self.__dict__["_field_writers"]
        if self._cell.dirty:
            self._take_native_blame(writers)
        return writers

    @field_writers.setter
    def field_writers(self, writers: dict) -> None:
        self._cell.dirty = 0
        self.__dict__["_field_writers"] = writers

    def _take_native_blame(self, writers: dict) -> None:
        """What note_change would have recorded for the native writes since the last call:
        each field's latest changing write; fields new to the dict in the order of their
        first change (one write names its fields in table order)."""
        cell = self._cell
        dirty, cell.dirty = cell.dirty, 0
        new = []
        for index, f in enumerate(self.fields):
            bits = dirty & f.mask
            if not bits:
                continue
            latest = first = None
            while bits:
                bit = (bits & -bits).bit_length() - 1
                bits &= bits - 1
                if latest is None or cell.bit_cycle[bit] > cell.bit_cycle[latest]:
                    latest = bit
                if first is None or cell.bit_first[bit] < first:
                    first = cell.bit_first[bit]
            writer = (cell.bit_pc[latest], cell.bit_cycle[latest])
            if f.name in writers:
                writers[f.name] = writer
            else:
                new.append((first, index, f.name, writer))
        for _, _, name, writer in sorted(new):
            writers[name] = writer

    on_read = _attribute("_on_read")
    on_write = _attribute("_on_write")
    varies_with_time = _attribute("_varies")
    on_write_when = _attribute("_when")


def back(r: Register, writes_plain: bool) -> FbReg:
    """Move ``r``'s state into a new C cell and make its attributes properties over it."""
    if isinstance(r, NativeRegister):
        return r._cell
    cell = FbReg()
    d = r.__dict__
    cell.value = d.pop("value") & 0xFFFFFFFF
    cell.last_written = d.pop("last_written") & 0xFFFFFFFF
    cell.rw_mask = r.rw_mask
    cell.read_mask = r.read_mask
    writer = d.pop("last_writer")
    d["_field_writers"] = d.pop("field_writers")
    d["_on_read"], d["_on_write"] = d.pop("on_read"), d.pop("on_write")
    d["_varies"], d["_when"] = d.pop("varies_with_time"), d.pop("on_write_when")
    d["_writes_plain"] = writes_plain
    d["_cell"] = cell
    r.__class__ = NativeRegister
    r.last_writer = writer
    cell.flags = _flags(r)
    return cell


# -- peripherals -----------------------------------------------------------------------
_held_classes: dict[type, type] = {}


def _with_native_reset_flag(p: Peripheral, block: FbBlock) -> None:
    """``held_in_reset`` of ``p`` becomes a property over its C block."""
    cls = type(p)
    sub = _held_classes.get(cls)
    if sub is None:
        def get(self):
            return bool(self._native_block.held_in_reset)

        def set_(self, held):
            self._native_block.held_in_reset = 1 if held else 0
        sub = _held_classes[cls] = type(cls.__name__, (cls,), {"held_in_reset": property(get, set_),
                                                               "__module__": cls.__module__,
                                                               "__qualname__": cls.__qualname__})
    held = p.__dict__.pop("held_in_reset", False)
    p.__dict__["_native_block"] = block
    p.__class__ = sub
    p.held_in_reset = held


def servable(p: Peripheral) -> bool:
    """A block whose bus behaviour is Peripheral.read/write on a clock gate the C side can see."""
    cls = type(p)
    return cls.read is Peripheral.read and cls.write is Peripheral.write and p.clock_gate is not None


class NativeBus:
    """The C state of one machine and the blocks mapped through it."""

    def __init__(self, lib: ctypes.CDLL, cpu, loop, trace) -> None:
        self.lib = lib
        self.loop = loop
        self.polls = loop.polls
        self.trace = trace
        self.state = FbState()
        state = self.state
        state.pc = ctypes.addressof(cpu.pc_cell)
        state.counter = ctypes.addressof(cpu.counter_cell)
        state.limit = ctypes.addressof(cpu.limit_cell)
        state.slice_start = ctypes.addressof(loop.slice_start_cell)
        confirmed = loop.poll_confirmed

        def on_confirmed():
            try:
                confirmed()
            except BaseException as exc:
                callback_failed(cpu.uc, exc)
        self._confirmed = _CONFIRMED(on_confirmed)          # kept alive with the bus
        state.confirmed = ctypes.cast(self._confirmed, ctypes.c_void_p).value
        state.regs = ctypes.addressof(cpu.register_file)
        state.uc = ctypes.cast(cpu.handle, ctypes.c_void_p).value
        state.reg_read_batch = ctypes.cast(uclib.uc_reg_read_batch, ctypes.c_void_p).value
        state.state_ids[:] = Cpu.STATE_REGISTERS
        self.read_callback = ctypes.cast(lib.fb_read, ctypes.c_void_p).value
        self.write_callback = ctypes.cast(lib.fb_write, ctypes.c_void_p).value
        self._keep: list = []                   # ctypes objects C points into
        # checks of declarations a direct assignment (a snapshot restore, a test) may have
        # outdated: Python sets registers only between runs; inside one, bus writes tell
        self.before_run: list = []
        self.polls.native = self.state          # the detector adopts C's first visits when it is used
        self._follow_slices(loop)

    @property
    def served(self) -> tuple[int, int]:
        return self.state.reads, self.state.writes

    def block(self, p: Peripheral, size: int, py_read, py_write) -> Optional[FbBlock]:
        """The C block for ``p`` (its registers backed), or None if nothing can be served."""
        if not servable(p):
            return None
        gate_register, gate_mask = p.clock_gate
        registers = [r for r in p.registers if r.offset < size and not r.offset & 3]
        cells = {}
        for r in registers:
            probe = (r.plain_read and r.on_read is None) or (r.plain_write and p._writes_plain
                                                            and (r.on_write is None or r.on_write_when is not None))
            if probe or r.on_write_when is not None:
                cells[r.offset] = back(r, p._writes_plain)
        if not cells:
            return None
        gate = back(gate_register, False)
        n_words = size // 4
        table = (ctypes.POINTER(FbReg) * n_words)()
        for offset, cell in cells.items():
            table[offset // 4] = ctypes.pointer(cell)
        block = FbBlock(state=ctypes.pointer(self.state), regs=table, n_words=n_words, base=p.base,
                        gate=ctypes.addressof(gate) + FbReg.value.offset, gate_mask=gate_mask,
                        py_read=ctypes.cast(py_read, ctypes.c_void_p).value,
                        py_write=ctypes.cast(py_write, ctypes.c_void_p).value)
        _with_native_reset_flag(p, block)
        self._keep += [table, block, gate, *cells.values()]
        return block

    # -- slices ----------------------------------------------------------------------------
    def _follow_slices(self, loop) -> None:
        """Keep the C view of the slice (in it, its start cycle, tracing) current."""
        state, trace, before = self.state, self.trace, self.before_run

        def run_started() -> None:
            for check in before:
                check()

        def started(first_cycle: int) -> None:
            state.enabled = 0 if trace.mmio_out or trace.waveform else 1
            state.in_slice = 1

        def ended() -> None:
            state.in_slice = 0
        loop.run_started, loop.slice_started, loop.slice_ended = run_started, started, ended
