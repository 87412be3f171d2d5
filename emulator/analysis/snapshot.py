"""The machine's state at one instant, decoded, with who last wrote each register.

A ``JumpSnapshot`` holds the core registers (R0-R12, MSP, PSP, LR, PC, xPSR/IPSR,
PRIMASK, CONTROL), the exception book (enabled, pending, active), and every modelled
peripheral register with its fields and its last writer (PC, symbol, cycle, time).
It saves to and loads from JSON (with the memories, compressed) so that a later run
can compare against it or continue from it.
"""
from __future__ import annotations

import base64
import json
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional

from peripherals import c071
from peripherals.tim import Timer

from ..machine import Machine
from .snapshot_file import SCHEMA, SnapshotError, read_snapshot_file  # noqa: F401 - SnapshotError re-exported

SYSTEM_MEMORY = (c071.SYSMEM_BASE, c071.SYSMEM_BASE + c071.SYSMEM_SIZE - 1)


@dataclass
class Writer:
    """Who changed a register or a field: an instruction (``pc``, its function), or the
    hardware (``hardware`` says what: the scheduled event that ran, e.g. "RCC HSIRDY")."""
    pc: int
    where: Optional[str]
    cycle: int
    seconds: float
    hardware: str = ""

    @property
    def by_hardware(self) -> bool:
        return self.pc < 0

    def line(self) -> str:
        if self.by_hardware:
            cause = f" ({self.hardware})" if self.hardware else ""
            return f"set by hardware{cause} at {self.seconds * 1e3:.3f} ms"
        return f"0x{self.pc:08X} {self.where or '?'} at {self.seconds * 1e3:.3f} ms (cycle {self.cycle})"

    def short(self) -> str:
        """The function name (or "hardware: EVENT") and the time, for narrow columns."""
        if self.by_hardware:
            return f"hardware{': ' + self.hardware if self.hardware else ''} @ {self.seconds * 1e3:.3f} ms"
        return f"{self.where or f'0x{self.pc:08X}'} @ {self.seconds * 1e3:.3f} ms"


@dataclass
class RegisterState:
    peripheral: str
    name: str
    address: int
    value: int
    reset: int
    fields: dict[str, int]
    writer: Optional[Writer] = None
    manual: str = ""
    field_writers: dict[str, Writer] = field(default_factory=dict)    # who last changed each field


@dataclass
class JumpSnapshot:
    label: str
    pc: int
    where: Optional[str]
    cycle: int
    seconds: float
    core: dict[str, int]
    exceptions: dict[str, object]
    registers: dict[str, RegisterState] = field(default_factory=dict)     # "RCC.CR" -> state
    memories: dict[str, bytes] = field(default_factory=dict, repr=False)
    images: list[dict] = field(default_factory=list)       # {"path", "sha256"} of each image loaded

    def check_images(self, application, bootloader=None) -> None:
        """Refuse (ValueError) to continue this snapshot with other images than it was taken
        with: the application must be one of them, and every image it was taken with must be
        among those named (compared by the digest of their loadable bytes).  A snapshot taken
        without a bootloader keeps the one named (its system memory is not restored)."""
        from ..image import image_digest
        if not self.images:
            raise ValueError(f"snapshot {self.label!r} records no image digests (saved by an older c071emu); "
                             "save it again")
        saved = {i["sha256"]: i["path"] for i in self.images}
        named = {image_digest(i): str(i.path) for i in (bootloader, application) if i is not None}
        if image_digest(application) not in saved:
            raise ValueError(f"{application.path} differs from the images the snapshot was taken with "
                             f"({', '.join(sorted(saved.values()))}): its loadable bytes do not match")
        for digest, path in saved.items():
            if digest not in named:
                raise ValueError(f"the snapshot was taken with {path}, which differs from the images named "
                                 f"({', '.join(sorted(named.values()))})")
        if bootloader is not None and image_digest(bootloader) not in saved:
            self.memories.pop("system memory", None)

    @property
    def ipsr(self) -> int:
        return self.core["xpsr"] & 0x3F

    def to_json(self) -> dict:
        d = asdict(self)
        d["schema"] = SCHEMA
        d["memories"] = {k: base64.b64encode(zlib.compress(v)).decode() for k, v in self.memories.items()}
        return d

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_json(), indent=1))

    @staticmethod
    def load(path: str | Path) -> "JumpSnapshot":
        """A snapshot file, every field checked first (SnapshotError: one line naming file and field)."""
        d = read_snapshot_file(path)
        registers = {}
        for key, r in d["registers"].items():
            w = r["writer"]
            fw = {name: Writer(**x) for name, x in r.get("field_writers", {}).items()}
            registers[key] = RegisterState(r["peripheral"], r["name"], r["address"], r["value"], r["reset"],
                                           dict(r["fields"]), Writer(**w) if w else None, r.get("manual", ""),
                                           field_writers=fw)
        return JumpSnapshot(d["label"], d["pc"], d["where"], d["cycle"], d["seconds"], d["core"],
                            d["exceptions"], registers, d["memories"], d["images"])


def take_snapshot(m: Machine, label: str, with_memories: bool = False) -> JumpSnapshot:
    core = m.cpu.registers()
    pc = core["pc"]
    book = m.book
    exceptions = {"enabled": book.enabled, "pending": book.pending, "active": list(book.active_stack),
                  "irq_priority": list(book.irq_priority),
                  "system_priority": {str(k): v for k, v in book.system_priority.items()},
                  "iwdg_running": m.iwdg.running}
    from ..image import image_digest
    snap = JumpSnapshot(label, pc, m.describe(pc), m.clock.cycles, m.seconds(), core, exceptions,
                        images=[{"path": str(i.path), "sha256": image_digest(i)} for i in m.images])
    for p in m.peripherals:
        for r in p.registers:
            writer = _writer(m, r.last_writer)
            value = _observable(p, r)
            field_writers = {name: _writer(m, w) for name, w in sorted(r.field_writers.items())}
            snap.registers[f"{p.name}.{r.name}"] = RegisterState(
                p.name, r.name, p.base + r.offset, value, r.reset, r.decode(value), writer, p.manual,
                {k: w for k, w in field_writers.items() if w is not None})
    if with_memories:
        snap.memories = {mem.name: mem.array.tobytes() for mem in m.memories}
    return snap


def _writer(m: Machine, raw) -> Optional[Writer]:
    """A register's recorded writer, (pc, cycle) or ("hardware", cycle, event), decoded."""
    if not raw:
        return None
    if raw[0] == "hardware":
        _, cycle, cause = raw
        return Writer(-1, None, cycle, m.clock.seconds(cycle), cause)
    pc, cycle = raw
    return Writer(pc, m.describe(pc), cycle, m.clock.seconds(cycle))


def _observable(p, r) -> int:
    """The value a debugger would read, without the side effects of a bus read."""
    if p.name == "SysTick" and r.name == "VAL":
        return p.current_value()
    if p.name == "SysTick" and r.name == "CTRL":
        return r.value | (p.peek_countflag() << 16)
    if isinstance(p, Timer) and r.name == "CNT":
        return p.counter_value()
    return r.value


def in_system_memory(pc: int) -> bool:
    return SYSTEM_MEMORY[0] <= pc <= SYSTEM_MEMORY[1]


def run_to_bootloader_entry(m: Machine, max_seconds: float = 2.0):
    """Run until the first instruction in system memory; return the RunEnd."""
    m.loop.stop_on_entry(*SYSTEM_MEMORY)
    try:
        return m.run(max_seconds=max_seconds)
    finally:
        m.loop.clear_stops()


def check_restorable(m: Machine, snap: JumpSnapshot) -> None:
    """ValueError, before anything is restored, unless ``m`` can continue from ``snap``: the snapshot
    holds the memories, and its clock tree gives the core a clock with this machine's oscillators
    (RCC.CFGR.SWS names the SYSCLK source, RM0490 §6.4.3: a snapshot running on the HSE needs the
    HSE fitted, ``--hse``, and a source the snapshot says is selected must exist)."""
    if not snap.memories:
        raise ValueError("memories: none saved; this snapshot can be compared but not continued from")
    rcc = m.rcc
    before = {name: r.value for name, r in rcc.reg.items()}
    try:                                 # the model computes HCLK from the saved values, then they go back
        for key, state in snap.registers.items():
            if key.startswith("RCC.") and key[4:] in rcc.reg:
                rcc.reg[key[4:]].value = state.value
        hclk, sws = rcc.hclk_hz(), rcc.reg["CFGR"].get("SWS")
    finally:
        for name, value in before.items():
            rcc.reg[name].value = value
    if hclk <= 0:
        hint = "; it was saved running on the HSE: give --hse HZ as then" if sws == 1 and not rcc.hse_hz else ""
        raise ValueError(f"registers.RCC.CFGR: SWS = {sws} gives the core no clock on this machine{hint}")


def restore_snapshot(m: Machine, snap: JumpSnapshot) -> None:
    """Put a saved snapshot into a machine (same images loaded) so the run continues from it.

    Restored: memories, every register value, the exception book, the core registers,
    the 0x0 alias, the clock, SysTick's count, the timers' counts (their prescaler counters
    restart at 0).  Not restored: events that were in flight
    (an oscillator start-up, a flash operation, a host transaction) - a snapshot taken at
    a jump has none that matter; the IWDG restarts its count from its reload value.
    """
    check_restorable(m, snap)
    m.scheduler.clear()
    for mem in m.memories:
        if mem.name in snap.memories:
            mem.store(m.cpu.uc, mem.base, snap.memories[mem.name])
    for key, r in snap.registers.items():
        periph_name, reg_name = key.split(".", 1)
        p = next((p for p in m.peripherals if p.name == periph_name), None)
        if p is not None and reg_name in p.reg:
            p.reg[reg_name].value = r.value
    book, ex = m.book, snap.exceptions
    book.enabled, book.pending, book.active_stack = ex["enabled"], ex["pending"], list(ex["active"])
    book.irq_priority = list(ex["irq_priority"])
    book.system_priority = {int(k): v for k, v in ex["system_priority"].items()}
    m.map_alias(m.syscfg.mem_mode())
    m.clock.restore(snap.cycle, round(snap.seconds * 1e12), m.rcc.hclk_hz())     # the time, not just the count
    core = dict(snap.core)
    m.cpu.set_ipsr(core["xpsr"] & 0x3F)
    if core["xpsr"] & 0x3F == 0:
        m.cpu.set_control(core["control"])
    for name in ("r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "r12",
                 "lr", "msp", "psp", "primask"):
        m.cpu.write(name, core[name])
    m.cpu.write("xpsr", core["xpsr"])
    m.cpu.write("pc", core["pc"])
    st = m.systick
    st.reg["CTRL"].value &= 0x7
    st._start = snap.registers["SysTick.VAL"].value
    st._anchor = snap.cycle
    st._divider = 1 if st.reg["CTRL"].value & 4 else 8
    st._schedule()
    for timer in m.timers.values():
        timer.registers_restored()
    if ex.get("iwdg_running"):
        m.iwdg._start()
    m.loop.end = None
