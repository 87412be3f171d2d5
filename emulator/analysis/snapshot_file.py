"""The snapshot file format (``c071emu.snapshot/1``) checked field by field before anything uses it.

A snapshot file comes from outside (a colleague, a CI artefact, a hand edit), so every field
is checked for its type, range and size first; the first problem found is refused with
``SnapshotError("FILE: FIELD: what is wrong")``, one line, and nothing is restored.

What a field may hold, and why:
- ``pc``, register and memory-address values: 32-bit unsigned (the Cortex-M0+ is a 32-bit
  machine, ARM DDI 0419E A2.3); ``pc`` has bit 0 clear (the PC of a Thumb core is
  halfword-aligned, A6.1.2) and equals ``core.pc``;
- ``core``: exactly the registers ``take_snapshot`` writes (R0-R12, LR, MSP, PSP, PC, xPSR,
  PRIMASK, CONTROL; SP optional), PRIMASK one bit, CONTROL two bits (nPRIV, SPSEL; B1.4.4),
  the IPSR field of xPSR the exception on top of ``exceptions.active`` (0 with none active);
- ``exceptions``: exception numbers the C071 has (NMI 2, HardFault 3, SVCall 11, PendSV 14,
  SysTick 15, IRQ 0-31 as 16-47; RM0490 §13.3), each active at most once, priorities as the
  NVIC and SCB store them (the top two bits of a byte: 0x00, 0x40, 0x80, 0xC0; RM0490 §13.1);
- ``cycle`` a count from 0; ``seconds`` finite, from 0 to ``MAX_SECONDS``;
- ``registers``: only peripheral registers a model has, under their own address;
- ``memories``: base64 of a zlib stream that decompresses to exactly the memory's size (a
  truncated image is refused, not restored in part), all of them or none (compare-only);
- ``images``: the path and SHA-256 of each image the snapshot was taken with (at least one);
- the file itself: UTF-8 JSON, at most ``MAX_FILE_BYTES`` (a snapshot of the whole chip,
  incompressible memories included, is a few hundred KiB).
"""
from __future__ import annotations

import base64
import binascii
import functools
import json
import math
import re
import zlib
from pathlib import Path

from peripherals import c071

SCHEMA = "c071emu.snapshot/2"      # /2: per-field writers (RegisterState.field_writers)
OLDER_SCHEMAS = ("c071emu.snapshot/1",)
MAX_FILE_BYTES = 16 * 1024 * 1024
MAX_SECONDS = float(2 ** 32)              # 136 years of simulated time: far beyond any run, finite in ps
WORD = 0xFFFF_FFFF
CORE_REQUIRED = ("r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "r12",
                 "lr", "msp", "psp", "pc", "xpsr", "primask", "control")
CORE_OPTIONAL = ("sp",)
EXCEPTION_NUMBERS = frozenset({c071.NMI, c071.HARDFAULT, c071.SVCALL, c071.PENDSV, c071.SYSTICK}
                              | set(range(c071.IRQ_BASE, c071.IRQ_BASE + c071.NUM_IRQS)))
PRIORITIES = (0x00, 0x40, 0x80, 0xC0)
SYSTEM_PRIORITY_KEYS = (str(c071.SVCALL), str(c071.PENDSV), str(c071.SYSTICK))
REQUIRED_REGISTERS = ("SysTick.VAL", "SysTick.CTRL")     # the restore re-arms SysTick from them


class SnapshotError(ValueError):
    """A snapshot file that cannot be used as written; the message names the file and the field."""


@functools.lru_cache(maxsize=1)
def chip_layout() -> tuple[dict[str, int], dict[str, int]]:
    """The memories (name -> size) and peripheral registers ("P.R" -> address) of the machine
    a snapshot is restored into, read from the models themselves."""
    from ..machine import Machine
    m = Machine()
    memories = {mem.name: mem.size for mem in m.memories}
    registers = {f"{p.name}.{r.name}": p.base + r.offset for p in m.peripherals for r in p.registers}
    return memories, registers


def read_snapshot_file(path: str | Path) -> dict:
    """The checked contents of a snapshot file: its JSON object with every memory decoded to bytes."""
    path = Path(path)
    shown = str(path) if str(path).isprintable() else repr(str(path))

    def refuse(where: str, what: str):
        raise SnapshotError(f"{shown}: {where}: {what}" if where else f"{shown}: {what}")

    try:
        with path.open("rb") as f:
            blob = f.read(MAX_FILE_BYTES + 1)
    except (OSError, ValueError) as exc:            # ValueError: a NUL byte in the name
        refuse("", (getattr(exc, "strerror", None) or str(exc)).lower())
    if len(blob) > MAX_FILE_BYTES:
        refuse("", f"larger than {MAX_FILE_BYTES // 2 ** 20} MiB, not a snapshot c071emu writes")
    try:
        text = blob.decode("utf-8")
    except UnicodeDecodeError as exc:
        refuse("", f"not UTF-8 text (byte {exc.start})")
    try:
        d = json.loads(text)
    except json.JSONDecodeError as exc:
        refuse("", f"not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})")
    except RecursionError:
        refuse("", "not usable JSON (nested too deeply)")
    except ValueError as exc:                       # a number too long to convert
        refuse("", f"not usable JSON ({_short(str(exc))})")
    if not isinstance(d, dict):
        refuse("", f"not a c071emu snapshot (a JSON {_kind(d)}, not an object)")
    if d.get("schema") not in (SCHEMA, *OLDER_SCHEMAS):
        refuse("schema", f"not a c071emu snapshot (schema {_short(d.get('schema'))}, expected {SCHEMA!r})")
    _Checker(refuse).snapshot(d)
    return d


class _Checker:
    def __init__(self, refuse) -> None:
        self.refuse = refuse

    # -- leaves -------------------------------------------------------------------------------------------
    def field(self, d: dict, key: str, where: str):
        if key not in d:
            self.refuse(where + key, "missing")
        return d[key]

    def word(self, value, where: str, bits: int = 32) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            self.refuse(where, f"{_short(value)} is not a whole number")
        if not 0 <= value < 1 << bits:
            self.refuse(where, f"{_short(value)} is outside 0..{(1 << bits) - 1:#x}"
                        + (" (a 32-bit register)" if bits == 32 else ""))
        return value

    def count(self, value, where: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            self.refuse(where, f"{_short(value)} is not a whole number")
        if not 0 <= value < 1 << 63:
            self.refuse(where, f"{_short(value)} is not a cycle count (0 or more, below 2**63)")
        return value

    def seconds(self, value, where: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.refuse(where, f"{_short(value)} is not a number of seconds")
        if not math.isfinite(value) or not 0 <= value <= MAX_SECONDS:
            self.refuse(where, f"{_short(value)} is not a time from 0 to {MAX_SECONDS:g} s")
        return value

    def text(self, value, where: str, optional: bool = False):
        if value is None and optional:
            return value
        if not isinstance(value, str):
            self.refuse(where, f"{_short(value)} is not a string")
        return value

    def table(self, value, where: str) -> dict:
        if not isinstance(value, dict):
            self.refuse(where, f"a {_kind(value)}, not an object")
        return value

    def array(self, value, where: str) -> list:
        if not isinstance(value, list):
            self.refuse(where, f"a {_kind(value)}, not a list")
        return value

    def keys(self, d: dict, where: str, required, optional=()) -> None:
        for key in required:
            if key not in d:
                self.refuse(f"{where}.{key}", "missing")
        for key in d:
            if key not in required and key not in optional:
                self.refuse(f"{where}.{_name(key)}", "not a field of a snapshot")

    # -- the document -------------------------------------------------------------------------------------
    def snapshot(self, d: dict) -> None:
        if not d.get("images"):            # checked first: the one problem of every older snapshot
            self.refuse("images", "records no image digests (saved by an older c071emu); save it again")
        self.text(self.field(d, "label", ""), "label")
        self.text(self.field(d, "where", ""), "where", optional=True)
        pc = self.word(self.field(d, "pc", ""), "pc")
        self.count(self.field(d, "cycle", ""), "cycle")
        self.seconds(self.field(d, "seconds", ""), "seconds")
        self.core(self.table(self.field(d, "core", ""), "core"), pc)
        self.exceptions(self.table(self.field(d, "exceptions", ""), "exceptions"), d["core"]["xpsr"] & 0x3F)
        self.registers(self.table(self.field(d, "registers", ""), "registers"))
        d["memories"] = self.memories(self.table(self.field(d, "memories", ""), "memories"))
        self.images(self.array(d["images"], "images"))

    def core(self, core: dict, pc: int) -> None:
        self.keys(core, "core", CORE_REQUIRED, CORE_OPTIONAL)
        for name, value in core.items():
            self.word(value, f"core.{name}")
        if core["pc"] & 1:
            self.refuse("core.pc", f"{core['pc']:#010x} is odd: a Thumb PC is halfword-aligned")
        if core["pc"] != pc:
            self.refuse("pc", f"{pc:#010x} differs from core.pc {core['pc']:#010x}")
        self.word(core["primask"], "core.primask", bits=1)
        self.word(core["control"], "core.control", bits=2)
        ipsr = core["xpsr"] & 0x3F
        if ipsr and ipsr not in EXCEPTION_NUMBERS:
            self.refuse("core.xpsr", f"IPSR {ipsr} is not an exception number of the STM32C071")

    def exceptions(self, ex: dict, ipsr: int) -> None:
        self.keys(ex, "exceptions", ("enabled", "pending", "active", "irq_priority", "system_priority"),
                  ("iwdg_running",))
        self.word(ex["enabled"], "exceptions.enabled")
        pending = self.word(ex["pending"], "exceptions.pending", bits=c071.IRQ_BASE + c071.NUM_IRQS)
        stray = [n for n in range(pending.bit_length()) if pending >> n & 1 and n not in EXCEPTION_NUMBERS]
        if stray:
            self.refuse("exceptions.pending", f"bit {stray[0]} is not an exception number of the STM32C071")
        active = self.array(ex["active"], "exceptions.active")
        for i, number in enumerate(active):
            where = f"exceptions.active[{i}]"
            if isinstance(number, bool) or not isinstance(number, int) or number not in EXCEPTION_NUMBERS:
                self.refuse(where, f"{_short(number)} is not an exception number of the STM32C071 "
                                   "(2, 3, 11, 14, 15, 16-47)")
            if number in active[:i]:
                self.refuse(where, f"exception {number} is active twice")
        if ipsr != (active[-1] if active else 0):
            self.refuse("core.xpsr", f"IPSR {ipsr} is not the exception on top of exceptions.active "
                                     f"({active[-1] if active else 'none active: 0'})")
        priorities = self.array(ex["irq_priority"], "exceptions.irq_priority")
        if len(priorities) != c071.NUM_IRQS:
            self.refuse("exceptions.irq_priority", f"{len(priorities)} entries, the NVIC has {c071.NUM_IRQS}")
        for i, p in enumerate(priorities):
            self.priority(p, f"exceptions.irq_priority[{i}]")
        system = self.table(ex["system_priority"], "exceptions.system_priority")
        self.keys(system, "exceptions.system_priority", SYSTEM_PRIORITY_KEYS)
        for key, p in system.items():
            self.priority(p, f"exceptions.system_priority.{key}")
        if not isinstance(ex.get("iwdg_running", False), bool):
            self.refuse("exceptions.iwdg_running", f"{_short(ex['iwdg_running'])} is not true or false")

    def priority(self, value, where: str) -> None:
        if isinstance(value, bool) or value not in PRIORITIES:
            self.refuse(where, f"{_short(value)} is not a priority the C071 stores (0x00, 0x40, 0x80, 0xC0)")

    def registers(self, registers: dict) -> None:
        known = chip_layout()[1]
        for key in REQUIRED_REGISTERS:
            if key not in registers:
                self.refuse(f"registers.{key}", "missing")
        for key, r in registers.items():
            where = f"registers.{_name(key)}"
            if key not in known:
                self.refuse(where, "no peripheral model has this register")
            self.table(r, where)
            self.keys(r, where, ("peripheral", "name", "address", "value", "reset", "fields", "writer"),
                      ("manual", "field_writers"))
            if f"{r['peripheral']}.{r['name']}" != key:
                self.refuse(where, f"peripheral {_short(r['peripheral'])} and name {_short(r['name'])} "
                                   "do not make this key")
            if self.word(r["address"], where + ".address") != known[key]:
                self.refuse(where + ".address", f"{r['address']:#010x}, the register is at {known[key]:#010x}")
            self.word(r["value"], where + ".value")
            self.word(r["reset"], where + ".reset")
            self.text(r.get("manual", ""), where + ".manual")
            for name, value in self.table(r["fields"], where + ".fields").items():
                self.word(value, f"{where}.fields.{_name(name)}")
            if r["writer"] is not None:
                self.writer(r["writer"], where + ".writer")
            for name, w in self.table(r.get("field_writers", {}), where + ".field_writers").items():
                if name not in r["fields"]:
                    self.refuse(f"{where}.field_writers.{_name(name)}", "no such field in this register")
                self.writer(w, f"{where}.field_writers.{_name(name)}")

    def writer(self, value, where: str) -> None:
        """An instruction (its PC) or the hardware (PC -1 and what it was: an event's name)."""
        w = self.table(value, where)
        self.keys(w, where, ("pc", "where", "cycle", "seconds"), ("hardware",))
        if w["pc"] != -1:
            self.word(w["pc"], where + ".pc")
        self.text(w["where"], where + ".where", optional=True)
        self.count(w["cycle"], where + ".cycle")
        self.seconds(w["seconds"], where + ".seconds")
        self.text(w.get("hardware", ""), where + ".hardware")

    def memories(self, memories: dict) -> dict[str, bytes]:
        sizes = chip_layout()[0]
        if memories and set(memories) != set(sizes):
            for name in sizes:
                if name not in memories:
                    self.refuse(f"memories.{name}", "missing (a resumable snapshot holds every memory)")
            self.refuse(f"memories.{_name(next(n for n in memories if n not in sizes))}", "no such memory")
        decoded = {}
        for name, text in memories.items():
            where, size = f"memories.{name}", sizes[name]
            if not isinstance(text, str):
                self.refuse(where, f"a {_kind(text)}, not base64 text")
            try:
                raw = base64.b64decode(text, validate=True)
            except (binascii.Error, ValueError):
                self.refuse(where, "not base64")
            inflate = zlib.decompressobj()
            try:
                data = inflate.decompress(raw, size + 1)   # never more than one byte past the memory
            except zlib.error as exc:
                self.refuse(where, f"not a zlib stream ({exc})")
            if len(data) > size:
                self.refuse(where, f"holds more than the memory's {size} bytes")
            if not inflate.eof:
                self.refuse(where, f"the zlib stream is cut short ({len(data)} of {size} bytes)")
            if inflate.unused_data:
                self.refuse(where, f"{len(inflate.unused_data)} bytes after the end of the zlib stream")
            if len(data) != size:
                self.refuse(where, f"{len(data)} bytes, the memory holds {size}: a truncated image is not restored")
            decoded[name] = data
        return decoded

    def images(self, images: list) -> None:
        for i, image in enumerate(images):
            where = f"images[{i}]"
            self.table(image, where)
            self.keys(image, where, ("path", "sha256"))
            self.text(image["path"], where + ".path")
            if not isinstance(image["sha256"], str) or not re.fullmatch(r"[0-9a-f]{64}", image["sha256"]):
                self.refuse(where + ".sha256", f"{_short(image['sha256'])} is not a SHA-256 digest (64 hex digits)")


def _kind(value) -> str:
    return {dict: "object", list: "list", str: "string", bool: "boolean", int: "number", float: "number",
            type(None): "null"}.get(type(value), type(value).__name__)


def _name(key: str) -> str:
    """A key for a message: as written when it is short and printable, else quoted."""
    return key if key.isprintable() and 0 < len(key) <= 40 else _short(key)


def _short(value) -> str:
    """A value for a message: repr, on one line, cut to 40 characters."""
    text = repr(value) if not isinstance(value, int) or isinstance(value, bool) or value.bit_length() < 200 \
        else f"a {value.bit_length()}-bit number"
    text = text.replace("\n", "\\n")
    return text if len(text) <= 40 else text[:37] + "..."
