"""Sweeps: one scenario per cell of images × option bytes × hosts × entries × operations × triggers.

```toml
[sweep]
name = "jump patterns x option bytes"          # optional (default: the file's stem)
bootloader = "../images/elf/bootloader.elf"    # optional (default: the bundled reference bootloader)
diagnose = false                               # optional: true runs the full diagnosis in every jump cell

[axes]                                         # each a list (a single string is a one-value axis)
application = ["../images/elf/jump_forum_v1.elf", "../images/elf/jump_reset_first.elf"]   # required
option_bytes = ["", "RDP=0xBB"]                # default [""]: the factory option bytes
host = ["dfu", "usart"]                        # default ["dfu"]
entry = ["jump"]                               # default ["jump"]; "jump" | "boot0"
operation = ["erase"]                          # default ["erase"]; "erase" | "write"
trigger = ["usb-control:0x40,0x42"]            # default ["none"]; trigger specs (emulator/triggers.py)

[[expect]]                                     # optional, any number, applied in file order
match = { application = "jump_forum_v1" }      # axis -> value or list of values; no match: every cell
erase = "failed"                               # step -> "ok" | "failed" | "not run", as in scenario files
blocking = ["VTOR", "MEM_MODE"]                # optional: diagnoses the matched cells (jump entry only)
```

Paths are relative to the matrix file.  A ``match`` value is a value as written in
``[axes]``; an application may also be named by its file name or stem.  A cell takes the
steps of every ``[[expect]]`` that matches it, a later block overriding an earlier one for
the same step.  Cells run in the order application, option_bytes, host, entry, operation,
trigger (the first varies slowest) and come back in that order whatever order they finish in.
A jump cell whose application does not enter the bootloader (or whose trigger cannot be
delivered) is a failed cell, with the reason, whether or not it has expectations.

Each cell is a :class:`~emulator.scenario.Scenario` run by :func:`run_scenario`.  Workers
get a plain-dict description of their cell and send a plain dict back: the machine holds
Unicorn objects, which do not pickle, so each worker builds its own.
"""
from __future__ import annotations

import itertools
import json
import multiprocessing
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional

from peripherals.option_bytes import parse_option_bytes_spec

from .analysis.flows import STEPS
from .image import BUNDLED_BOOTLOADER, ImageError, load_bootloader, load_elf
from .scenario import STATUSES, Scenario, ScenarioResult, junit, read_toml, run_scenario
from .triggers import TriggerError, parse_trigger

SCHEMA = "c071emu.sweep/1"
AXES = ("application", "option_bytes", "host", "entry", "operation", "trigger")
AXIS_DEFAULTS = {"option_bytes": [""], "host": ["dfu"], "entry": ["jump"], "operation": ["erase"],
                 "trigger": ["none"]}
AXIS_CHOICES = {"host": ("dfu", "usart"), "entry": ("jump", "boot0"), "operation": ("erase", "write")}
EXIT_OK, EXIT_MISMATCH, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130


class SweepError(Exception):
    """A matrix file (or a command line) that cannot be run as written."""


@dataclass
class Expectation:
    where: str                                   # "[[expect]] #2", for messages
    match: dict[str, tuple[str, ...]]            # axis -> accepted values, as written in [axes]
    steps: dict[str, str]
    blocking: Optional[list[str]]

    def matches(self, cell: dict[str, str]) -> bool:
        return all(cell[axis] in values for axis, values in self.match.items())


@dataclass
class Matrix:
    path: Path
    name: str
    bootloader: Path
    diagnose: bool
    axes: dict[str, list[str]]
    expectations: list[Expectation] = field(default_factory=list)

    def labels(self) -> dict[str, str]:
        """Short names of the applications for tables: the file stem, unless two share one."""
        stems = [Path(a).stem for a in self.axes["application"]]
        unique = len(set(stems)) == len(stems)
        return {a: (Path(a).stem if unique else a) for a in self.axes["application"]}

    def cells(self) -> list[dict]:
        """Plain-dict descriptions of every cell, in matrix order (what workers receive)."""
        labels = self.labels()
        cells = []
        for index, values in enumerate(itertools.product(*(self.axes[a] for a in AXES))):
            cell = dict(zip(AXES, values))
            steps: dict[str, str] = {}
            blocking = None
            matched = [e for e in self.expectations if e.matches(cell)]
            for e in matched:
                steps.update(e.steps)
                blocking = e.blocking if e.blocking is not None else blocking
            if blocking is not None and cell["entry"] != "jump":
                raise SweepError(f"{self.path}: {matched[-1].where}: blocking = [...] matches a cell with "
                                 f"entry = \"{cell['entry']}\"; the diagnosis needs entry = \"jump\" "
                                 "(narrow its match, e.g. match = { entry = \"jump\" })")
            cells.append({
                "index": index,
                "name": " / ".join([labels[cell["application"]], cell["option_bytes"] or "factory",
                                    cell["host"], cell["entry"], cell["operation"]]
                                   + [cell["trigger"]] * (len(self.axes["trigger"]) > 1)),
                **cell,
                "label": labels[cell["application"]],
                "application_path": str(self.path.parent / cell["application"]),
                "bootloader_path": str(self.bootloader),
                "matrix": str(self.path),
                "diagnose": self.diagnose or blocking is not None,
                "expect": {"steps": steps, "blocking": blocking} if matched else None,
            })
        return cells


def load_matrix(path: str | Path) -> Matrix:
    path = Path(path).absolute()              # workers elsewhere (Dask) need absolute paths
    data = read_toml(path, SweepError)
    unknown = set(data) - {"sweep", "axes", "expect"}
    if unknown:
        raise SweepError(f"{path}: unknown table [{sorted(unknown)[0]}]; a matrix has [sweep], [axes] and [[expect]]")
    sweep = _table(path, data, "sweep", required=False)
    axes_table = _table(path, data, "axes", required=True)
    _known_keys(path, "[sweep]", sweep, ("name", "bootloader", "diagnose"))
    _known_keys(path, "[axes]", axes_table, AXES)
    name = sweep.get("name", path.stem)
    if not isinstance(name, str):
        raise SweepError(f"{path}: [sweep] name must be a string")
    diagnose = sweep.get("diagnose", False)
    if not isinstance(diagnose, bool):
        raise SweepError(f"{path}: [sweep] diagnose must be true or false, not {diagnose!r}")
    bootloader = BUNDLED_BOOTLOADER
    if "bootloader" in sweep:
        if not isinstance(sweep["bootloader"], str):
            raise SweepError(f"{path}: [sweep] bootloader must be a path (a string)")
        bootloader = path.parent / sweep["bootloader"]
    try:
        load_bootloader(bootloader)
    except ImageError as exc:
        raise SweepError(f"{path}: [sweep] bootloader: {exc}") from None
    if "application" not in axes_table:
        raise SweepError(f"{path}: [axes] needs application = [\"path/to/app.elf\", ...]")
    axes = {axis: _axis(path, axis, axes_table.get(axis, AXIS_DEFAULTS.get(axis))) for axis in AXES}
    for i, app in enumerate(axes["application"]):
        try:
            load_elf(path.parent / app)
        except ImageError as exc:
            raise SweepError(f"{path}: [axes] application[{i}]: {exc}") from None
    for i, spec in enumerate(axes["option_bytes"]):
        try:
            parse_option_bytes_spec(spec)
        except ValueError as exc:
            raise SweepError(f"{path}: [axes] option_bytes[{i}] = {spec!r}: {exc}") from None
    for i, spec in enumerate(axes["trigger"]):
        try:
            parse_trigger(spec)
        except TriggerError as exc:
            raise SweepError(f"{path}: [axes] trigger[{i}]: {exc}") from None
    for axis, choices in AXIS_CHOICES.items():
        for value in axes[axis]:
            if value not in choices:
                raise SweepError(f"{path}: [axes] {axis}: {value!r} is not one of {', '.join(choices)}")
    matrix = Matrix(path, name, bootloader, diagnose, axes)
    blocks = data.get("expect", [])
    if isinstance(blocks, dict):                       # [expect] as in scenario files: one block
        blocks = [blocks]
    if not isinstance(blocks, list) or not all(isinstance(b, dict) for b in blocks):
        raise SweepError(f"{path}: expect must be [[expect]] tables")
    matrix.expectations = [_expectation(matrix, f"[[expect]] #{n}", block) for n, block in enumerate(blocks, 1)]
    matrix.cells()                                     # raises on a blocking expectation for a boot0 cell
    return matrix


def _table(path: Path, data: dict, name: str, required: bool) -> dict:
    value = data.get(name, {} if not required else None)
    if not isinstance(value, dict):
        raise SweepError(f"{path}: needs an [{name}] table" if value is None else f"{path}: {name} must be a table")
    return value


def _known_keys(path: Path, where: str, table: dict, known: Iterable[str]) -> None:
    known = tuple(known)
    for key in table:
        if key not in known:
            raise SweepError(f"{path}: {where}: unknown key {key!r}; keys are {', '.join(known)}")


def _axis(path: Path, axis: str, value) -> list[str]:
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise SweepError(f"{path}: [axes] {axis} must be a list of strings")
    if not values:
        raise SweepError(f"{path}: [axes] {axis} is empty; leave it out for the default or give at least one value")
    duplicates = sorted({v for v in values if values.count(v) > 1})
    if duplicates:
        raise SweepError(f"{path}: [axes] {axis} lists {duplicates[0]!r} twice")
    return values


def _expectation(matrix: Matrix, where: str, block: dict) -> Expectation:
    path = matrix.path
    _known_keys(path, where, block, ("match", "blocking", *STEPS))
    match_table = block.get("match", {})
    if not isinstance(match_table, dict):
        raise SweepError(f"{path}: {where}: match must be a table, e.g. match = {{ host = \"dfu\" }}")
    _known_keys(path, f"{where} match", match_table, AXES)
    match = {}
    for axis, wanted in match_table.items():
        wanted = [wanted] if isinstance(wanted, str) else wanted
        if not isinstance(wanted, list) or not wanted or not all(isinstance(w, str) for w in wanted):
            raise SweepError(f"{path}: {where}: match.{axis} must be a value or a list of values of the {axis} axis")
        match[axis] = tuple(_axis_value(matrix, where, axis, w) for w in wanted)
    steps = {k: v for k, v in block.items() if k in STEPS}
    for step, status in steps.items():
        if status not in STATUSES:
            raise SweepError(f"{path}: {where}: {step} = {status!r}; use \"ok\", \"failed\" or \"not run\"")
    blocking = block.get("blocking")
    if blocking is not None and (not isinstance(blocking, list) or not all(isinstance(b, str) for b in blocking)):
        raise SweepError(f"{path}: {where}: blocking must be a list of item keys, e.g. [\"VTOR\", \"MEM_MODE\"]")
    if not steps and blocking is None:
        raise SweepError(f"{path}: {where}: expects nothing; give step = \"ok\"|\"failed\"|\"not run\" or blocking")
    return Expectation(where, match, steps, blocking)


def _axis_value(matrix: Matrix, where: str, axis: str, wanted: str) -> str:
    values = matrix.axes[axis]
    if wanted in values:
        return wanted
    if axis == "application":
        named = [a for a in values if wanted in (Path(a).name, Path(a).stem)]
        if len(named) == 1:
            return named[0]
        if len(named) > 1:
            raise SweepError(f"{matrix.path}: {where}: match.application = {wanted!r} names {len(named)} "
                             "applications; write the path as in [axes]")
    raise SweepError(f"{matrix.path}: {where}: match.{axis} = {wanted!r} is not on the {axis} axis "
                     f"({', '.join(repr(v) for v in values)})")


# --- one cell, in a worker ---------------------------------------------------

def scenario_of(cell: dict) -> Scenario:
    expect = cell["expect"] or {"steps": {}, "blocking": None}
    return Scenario(Path(cell["matrix"]), cell["name"], Path(cell["application_path"]), Path(cell["bootloader_path"]),
                    cell["entry"], cell["host"], parse_option_bytes_spec(cell["option_bytes"]), cell["operation"],
                    dict(expect["steps"]), expect["blocking"], diagnose=cell["diagnose"], trigger=cell["trigger"])


def blank_result(index: int, error: Optional[str] = None) -> dict:
    return {"index": index, "steps": [{"name": s, "status": "not run", "detail": ""} for s in STEPS],
            "blocking": None, "mismatches": [], "note": "", "failure": "", "error": error, "seconds": 0.0}


def run_cell(cell: dict) -> dict:
    """Run one cell; a plain, picklable dict back.  Never raises: an error is the cell's result."""
    started = time.perf_counter()
    result = blank_result(cell["index"])
    try:
        sc = scenario_of(cell)
        r = run_scenario(sc)
    except Exception as exc:                     # noqa: BLE001 - reported in the cell's row
        result["error"] = f"{type(exc).__name__}: {exc}"
    else:
        if r.outcome is not None:
            result["steps"] = [{"name": s.name, "status": s.status, "detail": s.detail} for s in r.outcome.steps]
        result["blocking"] = r.blocking
        result["failure"] = r.failure           # no jump, trigger not delivered, bootloader not started
        if cell["expect"] is not None:
            result["mismatches"] = [m for m in r.mismatches if m != r.failure]
    result["seconds"] = round(time.perf_counter() - started, 3)
    return result


# --- engines -----------------------------------------------------------------

class Progress:
    """Finished cells as a live bar on a terminal, as one plain line each otherwise (stderr)."""

    def __init__(self, total: int, stream=None) -> None:
        self.total, self.done = total, 0
        self.stream = stream or sys.stderr
        self.bar = None

    def start(self) -> None:
        if self.stream.isatty():
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress as Bar, TextColumn, TimeElapsedColumn
            from rich.table import Column
            last = Column(ratio=1, no_wrap=True, overflow="ellipsis")        # the bar keeps its width
            self.bar = Bar(TextColumn("sweep"), BarColumn(bar_width=24), MofNCompleteColumn(), TimeElapsedColumn(),
                           TextColumn("{task.fields[last]}", table_column=last), console=Console(file=self.stream),
                           expand=True)
            self.task = self.bar.add_task("sweep", total=self.total, last="")
            self.bar.start()

    def cell_done(self, cell: dict, result: dict) -> None:
        self.done += 1
        line = f"[{self.done:>{len(str(self.total))}}/{self.total}] #{cell['index']} {cell['name']}: {_summary(result)}"
        if self.bar is None:
            print(line, file=self.stream, flush=True)
            return
        self.bar.update(self.task, advance=1, last=f"{cell['name']}: {_summary(result)}")
        if result["error"] or result["mismatches"] or result.get("failure"):
            self.bar.console.print(line, markup=False, highlight=False)

    def stop(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def _summary(result: dict) -> str:
    if result["error"]:
        return f"error ({result['error']})"
    if result.get("failure"):
        return f"failed ({result['failure']}) ({result['seconds']:.2f} s)"
    failed = next((s for s in result["steps"] if s["status"] == "failed"), None)
    text = f"{failed['name']} failed" if failed else \
        "all steps ok" if all(s["status"] == "ok" for s in result["steps"]) else "not run"
    if result["mismatches"]:
        text += f", {len(result['mismatches'])} mismatch(es)"
    return f"{text} ({result['seconds']:.2f} s)"


def run_local(cells: list[dict], jobs: int, progress: Progress) -> list[dict]:
    """A process pool on this machine (fork where there is one: the workers start at once)."""
    results: list[Optional[dict]] = [None] * len(cells)
    if jobs == 1 or len(cells) == 1:
        progress.start()
        for cell in cells:
            results[cell["index"]] = run_cell(cell)
            progress.cell_done(cell, results[cell["index"]])
        return results
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    workers = min(jobs, len(cells))
    replays = max(1, (os.cpu_count() or 1) // workers)
    with ctx.Pool(processes=workers, initializer=_set_up_worker, initargs=(replays,)) as pool:  # before the bar's thread
        progress.start()
        for result in pool.imap_unordered(run_cell, cells):
            results[result["index"]] = result
            progress.cell_done(cells[result["index"]], result)
    return results


def _set_up_worker(replays: int) -> None:
    """Workers leave Ctrl-C to the parent, which terminates the pool, and share the cores
    with each other when their diagnoses fork replays."""
    from .analysis.replay import limit_parallel_replays
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    limit_parallel_replays(replays)


def run_cell_on_one_core(cell: dict) -> dict:
    """``run_cell`` for a cluster worker that owns one core (Dask: one thread per worker)."""
    from .analysis.replay import limit_parallel_replays
    limit_parallel_replays(1)
    return run_cell(cell)


def run_cells(cells: list[dict], engine: str, jobs: int, scheduler: Optional[str], progress: Progress) -> list[dict]:
    if engine == "dask":
        from .sweep_dask import run_dask
        return run_dask(cells, scheduler, jobs, progress)
    return run_local(cells, jobs, progress)


# --- reports -----------------------------------------------------------------

def verdict(cell: dict, result: dict) -> Optional[str]:
    if result["error"]:
        return "error"
    if result.get("failure"):
        return "failed"
    if cell["expect"] is None:
        return None
    return "mismatch" if result["mismatches"] else "pass"


def report(matrix: Matrix, cells: list[dict], results: list[dict], run: dict) -> dict:
    """The ``--json`` document.  All but ``run`` and each cell's ``seconds`` follow from the matrix."""
    rows = []
    for cell, result in zip(cells, results):
        rows.append({
            "index": cell["index"], "name": cell["name"], "label": cell["label"],
            **{axis: cell[axis] for axis in AXES},
            "application_path": cell["application_path"],
            "steps": result["steps"],
            "blocking": result["blocking"],
            "expect": cell["expect"],
            "verdict": verdict(cell, result),
            "mismatches": result["mismatches"],
            "note": result["note"],
            "failure": result.get("failure", ""),
            "error": result["error"],
            "seconds": result["seconds"],
        })
    counts = [r["verdict"] for r in rows]
    return {
        "schema": SCHEMA,
        "matrix": str(matrix.path),
        "name": matrix.name,
        "bootloader": str(matrix.bootloader),
        "diagnose": matrix.diagnose,
        "axes": matrix.axes,
        "cells": rows,
        "summary": {"cells": len(rows), "pass": counts.count("pass"), "mismatch": counts.count("mismatch"),
                    "failed": counts.count("failed"), "error": counts.count("error"),
                    "unchecked": counts.count(None)},
        "run": run,
    }


def table(doc: dict) -> str:
    """The summary table: one row per cell, each step's status, then what went wrong and why."""
    show_blocking = doc["diagnose"] or any(c["blocking"] is not None for c in doc["cells"])
    show_verdict = any(c["expect"] is not None for c in doc["cells"])
    show_trigger = any(c["trigger"] != "none" for c in doc["cells"])
    header = ["#", "application", "option bytes", "host", "entry", "operation", *(["trigger"] * show_trigger),
              *STEPS]
    header += ["blocking"] * show_blocking + ["expect"] * show_verdict + ["seconds"]
    rows = []
    for c in doc["cells"]:
        status = {s["name"]: s["status"] for s in c["steps"]}
        row = [str(c["index"]), c["label"], c["option_bytes"] or "factory", c["host"], c["entry"],
               c["operation"], *([c["trigger"]] * show_trigger),
               *(("error" if c["error"] else status.get(s, "not run")) for s in STEPS)]
        if show_blocking:
            row.append("n/a" if c["blocking"] is None else ", ".join(c["blocking"]) or "none")
        if show_verdict:
            row.append(c["verdict"] or "")
        rows.append(row + [f"{c['seconds']:.2f}"])
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = [f"{doc['name']} ({doc['matrix']})",
             "  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip(),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in rows]
    notes = []
    for c in doc["cells"]:
        failed = next((s for s in c["steps"] if s["status"] == "failed"), None)
        for text in ([f"error: {c['error']}"] if c["error"] else []) + \
                ([f"FAILED {c['failure']}"] if c.get("failure") else []) + \
                [f"MISMATCH {m}" for m in c["mismatches"]] + \
                ([f"note: {c['note']}"] if c["note"] else []) + \
                ([f"{failed['name']} failed: {failed['detail']}"] if failed else []):
            notes.append(f"#{c['index']} {c['name']}: {text}")
    if notes:
        lines += ["", *notes]
    s, run = doc["summary"], doc["run"]
    lines += ["", f"{s['cells']} cells: {s['pass']} as expected, {s['mismatch']} mismatched, {s['failed']} failed, "
                  f"{s['error']} errors, "
                  f"{s['unchecked']} without expectations ({run['wall_seconds']:.1f} s, {_engine(run)})"]
    return "\n".join(lines) + "\n"


def _engine(run: dict) -> str:
    if run["engine"] == "dask":
        return f"dask at {run['scheduler']}" if run["scheduler"] else f"dask LocalCluster, --jobs {run['jobs']}"
    return f"local, --jobs {run['jobs']}"


def junit_results(cells: list[dict], results: list[dict]) -> list[ScenarioResult]:
    """Cells with expectations (and cells that could not run) as scenario results for :func:`junit`."""
    out = []
    for cell, result in zip(cells, results):
        v = verdict(cell, result)
        if v is None:
            continue
        r = ScenarioResult(scenario_of(cell), seconds=result["seconds"], blocking=result["blocking"])
        r.mismatches = [f"error: {result['error']}"] if result["error"] else \
            [f"failed: {result['failure']}"] * bool(result.get("failure")) + list(result["mismatches"])
        out.append(r)
    return out


# --- the command -------------------------------------------------------------

def command(args) -> int:
    """``c071emu sweep MATRIX.toml [--jobs N] [--engine local|dask [--scheduler ADDRESS]]
    [--json OUT] [--junit OUT.xml]``: exit 0 all expectations hold, 1 a mismatch or error, 2 bad input."""
    try:
        if args.scheduler and args.engine != "dask":
            raise SweepError("--scheduler is the address of a Dask scheduler; add --engine dask")
        matrix = load_matrix(args.matrix)
        cells = matrix.cells()
        if args.junit and not matrix.expectations:
            raise SweepError(f"--junit: {matrix.path} has no [[expect]]: there is nothing to pass or fail "
                             "(add expectations or leave out --junit)")
    except SweepError as exc:
        print(f"c071emu: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    jobs = args.jobs or os.cpu_count() or 1
    progress = Progress(len(cells))
    started = time.perf_counter()
    try:
        results = run_cells(cells, args.engine, jobs, args.scheduler, progress)
    except SweepError as exc:
        print(f"c071emu: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("c071emu: sweep interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        progress.stop()
    run = {"engine": args.engine, "jobs": None if args.scheduler else jobs, "scheduler": args.scheduler,
           "wall_seconds": round(time.perf_counter() - started, 3)}
    doc = report(matrix, cells, results, run)
    sys.stdout.write(table(doc))
    for option, target, text in (("--json", args.json, lambda: json.dumps(doc, indent=2) + "\n"),
                                 ("--junit", args.junit, lambda: junit(junit_results(cells, results)))):
        if target:
            try:
                Path(target).write_text(text())
            except OSError as exc:
                print(f"c071emu: {option} {target}: {exc.strerror or exc}", file=sys.stderr)
                return EXIT_BAD_INPUT
    summary = doc["summary"]
    return EXIT_MISMATCH if summary["mismatch"] or summary["failed"] or summary["error"] else EXIT_OK
