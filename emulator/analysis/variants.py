"""The diagnosis under every plausible ROM design: one jump, many bootloaders.

ST's ROM bootloader cannot be shipped; the bundled reference is one clean-room guess at
how it is written.  ``images/elf/bootloaders/`` holds variants of it, built from the same
sources with the design switches of ``images/bootloader/bl.h`` (README "Variants"): how
the vectors are found, whether USB runs on its interrupt, the timebase, PRIMASK, how the
flash is unlocked, the clock, the timeouts, where its RAM is.  This module

1. runs the application once, to its jump, and takes one snapshot (with the memories);
2. runs the whole diagnosis (diagnose.py) against each variant from that snapshot, one
   forked worker per variant, all at once, their replays sharing the cores through a pool
   of tokens (replay.py); the first two designs' blocking sets reach the others when
   those two are done, and the others' search for a 1-minimal blocking set starts from
   them when restoring one of them (or their union) suffices - until then the others'
   replays run in the background, so that the first two, which they wait for, go first;
3. verifies the combined fix - every item that blocks the operation under some design,
   restored together - by a replay under every variant, forked from that variant's own
   jump point in its worker, in one batch with the variant's own fix replay;
4. with the user's observed symptom (``--symptom enumerate=ok,upload=ok,erase=failed``),
   marks the designs whose jump outcome reproduces it and states what holds across them.

The snapshot is the application's state; under another ROM the application's jump code
would have read that ROM's vector pair, so a variant continues with its own system
memory, and the MSP and PC that were loaded from the first bootloader's vector pair are
replaced by the variant's own pair (nothing else the application read comes from system
memory).  No variant inspects residual state: every outcome comes from the models.
"""
from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from peripherals import c071

from ..image import Image, ImageError, load_bootloader
from ..triggers import as_trigger
from .diagnose import BootloaderNotStarted, diagnose, jump_run
from .flows import STEPS, FlowOutcome
from .items import warm_layouts
from .replay import (Worker, background, end_background, hold_core, limit_parallel_replays, release_core, shared_cores,
                     start_worker)
from .snapshot import JumpSnapshot, take_snapshot

VARIANTS_DIR = Path(__file__).resolve().parents[2] / "images" / "elf" / "bootloaders"
DEFAULT_VARIANT = "default"
CLASSIC_VARIANT = "classic"
SYMPTOM_STATUSES = ("ok", "failed")
FIRST_WAVE = 2          # designs diagnosed from scratch; the rest start from their blocking sets
# While the first wave runs, the later designs' replays yield to it (replay.background):
# least those of a design whose jump replay shows the operation failing (a search, maybe
# the last one to end, follows), then those not yet known, most those nothing waits for.
SEARCH_AHEAD, BACKGROUND, FILLER = 1, 2, 3


class VariantError(ValueError):
    """A --bootloader-variants or --symptom value that names nothing usable (one line)."""


def available_variants() -> list[str]:
    """The variant names: the default, the earlier reference (``classic``), then alphabetical."""
    names = sorted(p.stem for p in VARIANTS_DIR.glob("*.elf"))
    return sorted(names, key=lambda n: (n != DEFAULT_VARIANT, n != CLASSIC_VARIANT, n))


def select_variants(spec: str) -> list[tuple[str, Path]]:
    """``all`` or ``NAME,NAME,...`` -> (name, path) in the order given (``all``: default first)."""
    known = available_variants()
    if not known:
        raise VariantError(f"no bootloader variants in {VARIANTS_DIR} (make -C images builds them)")
    names = known if spec.strip() == "all" else [n.strip() for n in spec.split(",") if n.strip()]
    if not names:
        raise VariantError("--bootloader-variants: give 'all' or variant names separated by commas")
    unknown = [n for n in names if n not in known]
    if unknown:
        raise VariantError(f"--bootloader-variants: no variant named {', '.join(unknown)} "
                           f"(known: {', '.join(known)})")
    return [(n, VARIANTS_DIR / f"{n}.elf") for n in dict.fromkeys(names)]


def parse_symptom(spec: str) -> dict[str, str]:
    """``STEP=ok|failed,...`` -> {host-flow step: status}.  A STEP is a step name or the first
    word of one (``upload`` is both uploads), spaces may be written as ``-`` or ``_``."""
    symptom: dict[str, str] = {}
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        step, sep, status = part.partition("=")
        step, status = step.strip().lower().replace("-", " ").replace("_", " "), status.strip().lower()
        if not sep or status not in SYMPTOM_STATUSES:
            raise VariantError(f"--symptom {part!r}: write STEP=ok or STEP=failed (steps: {', '.join(STEPS)})")
        matches = [s for s in STEPS if s == step] or [s for s in STEPS if s.split()[0] == step]
        if not matches:
            raise VariantError(f"--symptom {part!r}: no host-flow step {step!r} (steps: {', '.join(STEPS)})")
        for s in matches:
            symptom[s] = status
    if not symptom:
        raise VariantError("--symptom: give at least one STEP=ok|failed")
    return symptom


def design_of(image: Image) -> str:
    """The design string a variant carries (symbol ``bl_design``), or "" for other images."""
    address = image.symbols.get("bl_design")
    if address is None:
        return ""
    for seg in image.segments:
        if seg.address <= address < seg.address + len(seg.data):
            raw = seg.data[address - seg.address:]
            return raw[:raw.index(0)].decode("ascii", "replace") if 0 in raw else ""
    return ""


def _vector_pair(image: Image) -> Optional[tuple[int, int]]:
    for seg in image.segments:
        if seg.address <= c071.SYSMEM_BASE and c071.SYSMEM_BASE + 8 <= seg.address + len(seg.data):
            at = c071.SYSMEM_BASE - seg.address
            return int.from_bytes(seg.data[at:at + 4], "little"), int.from_bytes(seg.data[at + 4:at + 8], "little")
    return None


def snapshot_for(snap: JumpSnapshot, taken_with: Image, bootloader: Image) -> JumpSnapshot:
    """The jump snapshot continued under another bootloader: its own system memory, and the
    MSP / PC the application loaded from the first bootloader's vector pair replaced by
    this bootloader's pair."""
    s = copy.copy(snap)
    s.core = dict(snap.core)
    s.memories = {k: v for k, v in snap.memories.items() if k != "system memory"}
    old, new = _vector_pair(taken_with), _vector_pair(bootloader)
    if old and new:
        if s.core["msp"] == old[0]:
            s.core["msp"] = new[0]
        if s.core["pc"] == old[1] & ~1:
            s.core["pc"] = new[1] & ~1
    return s


@dataclass
class VariantOutcome:
    name: str
    path: str
    design: str
    status: str                          # diagnose.py's status for this variant
    note: str
    boot0: Optional[FlowOutcome]
    jump: Optional[FlowOutcome]
    blocking: list[str] = field(default_factory=list)       # item keys, 1-minimal
    titles: dict[str, str] = field(default_factory=dict)    # key -> title
    fixes: dict[str, str] = field(default_factory=dict)     # key -> C
    one_minimal: bool = False
    fix_verified: Optional[bool] = None                      # None: nothing to fix
    fix: Optional[FlowOutcome] = None                        # the replay with the blocking items restored
    replays: int = 0
    mechanism: list[dict] = field(default_factory=list)
    combined: Optional[FlowOutcome] = None                   # the combined fix's replay
    consistent: Optional[bool] = None                        # with the user's symptom (None: none given)
    consistent_fix: Optional[FlowOutcome] = None             # the consistent designs' fix, when it differs

    @property
    def failed(self) -> bool:
        return self.status == "operation-fails"

    @property
    def failing_step(self) -> Optional[str]:
        f = self.jump.first_failure if self.jump else None
        return f.name if f else None

    @property
    def combined_ok(self) -> Optional[bool]:
        return None if self.combined is None else self.combined.all_ok


@dataclass
class VariantMatrix:
    app: str
    operation: str
    trigger: str
    world: list[str]
    jump_status: str                     # "jumped" | "no-jump" | "trigger-not-delivered"
    jump_detail: str
    variants: list[VariantOutcome]
    combined: list[str] = field(default_factory=list)       # union of the blocking items
    symptom: dict[str, str] = field(default_factory=dict)
    consistent_fix: list[str] = field(default_factory=list)  # union over the consistent designs

    @property
    def failing(self) -> list[VariantOutcome]:
        return [v for v in self.variants if v.failed]

    @property
    def combined_passes_all(self) -> bool:
        return all(v.combined_ok for v in self.variants) if self.combined else not self.failing

    @property
    def exit_status(self) -> int:
        if self.jump_status != "jumped":
            return 3
        if any(v.status == "bootloader-not-started" for v in self.variants):
            return 2
        return 1 if self.failing else 0


def _summary(name: str, path: Path, d) -> VariantOutcome:
    blamed = {i.key for i in d.blamed}
    return VariantOutcome(
        name, str(path), "", d.status, d.note, d.reference_outcome, d.jump_outcome,
        blocking=[i.key for i in d.items if i.key in blamed],            # in the residual state's order
        titles={i.key: i.title for i in d.blamed},
        fixes={i.key: i.fix for i in d.blamed}, one_minimal=d.one_minimal,
        fix_verified=d.fix_verified if d.blamed else None, fix=d.fix_outcome, replays=d.oracle_calls,
        mechanism=d.mechanism[:12])


def diagnose_variants(app: Image, variants: list[tuple[str, Path]], flow, operation: str = "erase",
                      option_bytes: Optional[dict[str, int]] = None, trigger=None,
                      jump_within: float = 5.0, hse_hz: Optional[int] = None,
                      symptom: Optional[dict[str, str]] = None, parallel: Optional[int] = None,
                      progress: Callable[[str], None] = lambda phase: None) -> VariantMatrix:
    """The diagnosis of one application's jump under each named bootloader variant;
    ``progress(phase)`` is told what it does next (the CLI's status line on a terminal)."""
    option_bytes = option_bytes or {}
    trig = as_trigger(trigger)
    trig.validate(app)
    images = []
    for name, path in variants:
        try:
            images.append((name, path, load_bootloader(path)))
        except ImageError as exc:
            raise VariantError(str(exc)) from None
    first = images[0][2]
    progress("the application: running to its jump")
    run = jump_run(app, first, option_bytes, trig, jump_within, hse_hz)
    matrix = VariantMatrix(str(app.path), operation, trig.spec, list(run.bench.actions), run.status, run.detail,
                           [], symptom=dict(symptom or {}))
    if run.status != "jumped":
        return matrix
    snap = take_snapshot(run.m, "software jump", with_memories=True)
    warm_layouts()                      # every design's process inherits them
    cores = parallel or os.cpu_count() or 1

    def design(index: int, name: str, path: Path, bl: Image):
        """One design's diagnosis in its own process: it sends its outcome, then runs the
        whole-flow replays the parent asks for from its jump point and sends their outcomes.
        A design after the first wave receives the first wave's blocking sets (its priors)
        once that wave is done, whether or not its search needs them."""
        later = index >= FIRST_WAVE

        def body(connection) -> None:
            received: list[list[list[str]]] = []

            def first_wave_sets() -> list[list[str]]:
                if not received:
                    received.append(connection.recv())
                    limit_parallel_replays(cores)
                    background(0)
                return received[0]

            def serve(d, summary: VariantOutcome, replays) -> None:
                """The summary (its fix replay not run yet), then the fix replay - at once if
                nothing is asked for yet, else in one batch with the replays asked for (the
                last design's, while the others' combined-fix replays run) - and those."""
                release_core()                         # (held still if the diagnosis forked nothing)
                connection.send(("ok", summary))
                if later:
                    first_wave_sets()
                if replays is not None and not connection.poll():
                    replays([])
                key_sets = connection.recv()
                if key_sets and replays is None:
                    raise RuntimeError(f"{name}: no jump point to replay from")
                done = replays(key_sets) if replays is not None else []
                connection.send(("ok", (d.fix_outcome if d is not None else None, done)))

            limit_parallel_replays(1 if later else cores)
            background(BACKGROUND if later else 0)     # the first wave (the others wait for it) goes first
            hold_core()                                # the runs before the first replay are work too
            try:
                d = diagnose(app, bl, flow, operation, option_bytes, None, jump_within, hse_hz,
                             snapshot=snapshot_for(snap, first, bl), priors=first_wave_sets if later else [],
                             afterwards=lambda d, replays: serve(d, _summary(name, path, d), replays),
                             speculate=not later, on_jump_outcome=lambda failed: background(SEARCH_AHEAD if failed else FILLER))
            except BootloaderNotStarted as exc:        # raised before the diagnosis has a result
                d = None
                serve(None, VariantOutcome(name, str(path), "", "bootloader-not-started", str(exc), None, None), None)
            if d is not None and d.jump is None:       # no jump point: ``afterwards`` was not called
                serve(d, _summary(name, path, d), None)
        return body

    # All designs start at once and share the cores through tokens.  The first designs'
    # blocking sets seed the search under the others (a fixed split, not one that depends
    # on the core count or on timing: deterministic).
    workers: list[Worker] = []
    failed = True
    with shared_cores(cores):
        try:
            for index, (name, path, bl) in enumerate(images):
                workers.append(start_worker(design(index, name, path, bl), workers))
            diagnosed = 0

            def received(w: Worker) -> VariantOutcome:
                nonlocal diagnosed
                outcome = w.receive()
                diagnosed += 1
                progress(f"bootloader designs: {diagnosed} of {len(workers)} diagnosed")
                return outcome
            progress(f"bootloader designs: 0 of {len(workers)} diagnosed")
            outcomes: list[VariantOutcome] = [received(w) for w in workers[:FIRST_WAVE]]
            found = sorted({tuple(o.blocking) for o in outcomes if o.blocking}, key=lambda k: (len(k), k))
            priors = [list(k) for k in found] + \
                ([sorted({k for o in outcomes for k in o.blocking})] if len(found) > 1 else [])
            end_background()
            for w in workers[FIRST_WAVE:]:
                w.send(priors)
            outcomes += [received(w) for w in workers[FIRST_WAVE:]]
            for (_, _, bl), o in zip(images, outcomes):
                o.design = design_of(bl)
            matrix.variants = outcomes
            if symptom:
                for o in outcomes:
                    o.consistent = o.jump is not None and all(
                        (o.jump.step(step) is not None and o.jump.step(step).status == status)
                        for step, status in symptom.items())
            matrix.combined = sorted({k for o in outcomes for k in o.blocking})
            consistent = [o for o in outcomes if o.consistent]
            matrix.consistent_fix = sorted({k for o in consistent for k in o.blocking})

            # Verify the combined fix under every variant (and the consistent designs' own
            # union under each of them when it is smaller), each design replaying from its
            # own jump point together with its own fix replay; a variant whose own fix is
            # the same set needs no new replay (a blocking set always has a fix replay).
            progress("verifying the combined fix under every design")
            asked: list[list[tuple[str, Optional[int]]]] = []
            for w, o in zip(workers, outcomes):
                key_sets, where = [], []
                for which, keys in (("combined", matrix.combined), ("consistent_fix", matrix.consistent_fix)):
                    if o.status == "bootloader-not-started" or not keys or \
                            (which == "consistent_fix" and (not o.consistent or keys == matrix.combined)):
                        continue
                    if sorted(o.blocking) == keys:
                        where.append((which, None))    # the same replay: the variant's own fix is this set
                        continue
                    where.append((which, len(key_sets)))
                    key_sets.append(keys)
                w.send(key_sets)
                asked.append(where)
            for w, o, where in zip(workers, outcomes, asked):
                fix, done = w.receive()
                if o.blocking:
                    o.fix, o.fix_verified = fix, fix is not None and fix.all_ok
                for which, at in where:
                    setattr(o, which, o.fix if at is None else done[at])
            failed = False
        finally:
            for w in workers:
                w.end(kill=failed)
    return matrix

