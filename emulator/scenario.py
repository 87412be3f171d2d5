"""Scenario files for CI: images, option bytes, entry, host flow, and the expected outcome.

```toml
[scenario]
name = "the forum's jump: erase fails"
application = "images/elf/jump_forum_v1.elf"   # paths are relative to this file
bootloader = "images/elf/bootloader.elf"       # optional: the bundled reference bootloader
entry = "jump"                                 # "jump" (the app's own jump) or "boot0"
trigger = "usb-control:0x40,0x42"              # what makes the app jump (emulator/triggers.py; default "none")
jump_within = 5.0                              # optional: simulated seconds after the trigger
host = "dfu"                                   # "dfu" or "usart"
option_bytes = ""                              # optional, as --option-bytes
operation = "erase"                            # what `blocking` is about

[expect]                                       # step -> "ok" | "failed" | "not run"
enumerate = "ok"
erase = "failed"
blocking = ["VTOR", "MEM_MODE"]                # optional: runs the full diagnosis
```

``c071emu check FILE...`` runs each scenario, compares every stated expectation and
exits 1 on any mismatch - an application that does not enter the bootloader is one, with
the reason - (2 on a malformed file, an unknown key included); ``--junit OUT.xml`` writes
one test case per scenario.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional
from xml.sax.saxutils import escape

from peripherals.option_bytes import parse_option_bytes_spec

from .analysis.diagnose import DEFAULT_JUMP_WITHIN, BootloaderNotStarted, diagnose, jump_run, reference_run
from .analysis.flows import STEPS, FlowOutcome, flow_for
from .arguments import MAX_SECONDS
from .image import BUNDLED_BOOTLOADER, ImageError, load_bootloader, load_elf
from .triggers import TriggerError, parse_trigger

STATUSES = ("ok", "failed", "not run")
OPERATIONS = ("erase", "write")
MAX_JUMP_WITHIN = MAX_SECONDS                # as a command-line time
SCENARIO_KEYS = ("name", "application", "bootloader", "entry", "trigger", "jump_within", "host", "option_bytes",
                 "operation")


class ScenarioError(Exception):
    """A scenario file that cannot be run as written."""


@dataclass
class Scenario:
    path: Path
    name: str
    application: Path
    bootloader: Path
    entry: str
    host: str
    option_bytes: dict[str, int]
    operation: str
    expect_steps: dict[str, str]
    expect_blocking: Optional[list[str]]
    diagnose: bool = False            # report the blamed items even when none are expected (sweeps)
    trigger: str = "none"
    jump_within: float = DEFAULT_JUMP_WITHIN


@dataclass
class ScenarioResult:
    scenario: Scenario
    mismatches: list[str] = field(default_factory=list)
    outcome: Optional[FlowOutcome] = None
    blocking: Optional[list[str]] = None
    seconds: float = 0.0
    failure: str = ""                 # why the scenario could not be run through (no jump, trigger, bootloader)

    @property
    def passed(self) -> bool:
        return not self.mismatches


MAX_TOML_BYTES = 1024 * 1024             # a scenario or matrix file is a page of text


def read_toml(path: Path, error: type[Exception]) -> dict:
    """A TOML file's tables; an unreadable, oversized, non-UTF-8, malformed or too deeply nested
    file raises ``error`` naming it (one line)."""
    try:
        with path.open("rb") as f:
            blob = f.read(MAX_TOML_BYTES + 1)
    except (OSError, ValueError) as exc:
        raise error(f"{path}: {getattr(exc, 'strerror', None) or exc}") from None
    if len(blob) > MAX_TOML_BYTES:
        raise error(f"{path}: larger than {MAX_TOML_BYTES // 1024} KiB, not a scenario or matrix file")
    try:
        text = blob.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{path}: not UTF-8 text (byte {exc.start}); TOML files are UTF-8") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{path}: not valid TOML ({exc})") from None
    except RecursionError:
        raise error(f"{path}: not valid TOML (arrays or tables nested too deeply)") from None


def _string(path: Path, where: str, key: str, value, choices: tuple[str, ...] = ()) -> str:
    """A string field of a TOML table, one of ``choices`` when given (ScenarioError otherwise)."""
    if not isinstance(value, str):
        raise ScenarioError(f"{path}: {where} {key} must be a string"
                            + (f" ({' or '.join(repr(c) for c in choices)})" if choices else "")
                            + f", not {_toml_type(value)}")
    if choices and value not in choices:
        raise ScenarioError(f"{path}: {where} {key} must be {' or '.join(repr(c) for c in choices)}, not {value!r}")
    return value


def _toml_type(value) -> str:
    """How a TOML value reads in a message: its type and, when short, the value."""
    kind = {bool: "a boolean", int: "an integer", float: "a float", str: "a string", list: "an array",
            dict: "a table"}.get(type(value), "a date or time")
    text = repr(value)
    return f"{kind} ({text})" if len(text) <= 30 else kind


def load_scenario(path: str | Path) -> Scenario:
    path = Path(path)
    data = read_toml(path, ScenarioError)
    for table in data:
        if table not in ("scenario", "expect"):
            raise ScenarioError(f"{path}: unknown table [{table}]; a scenario has [scenario] and [expect]")
    s, expect = data.get("scenario"), data.get("expect")
    if not isinstance(s, dict) or not isinstance(expect, dict):
        raise ScenarioError(f"{path}: needs a [scenario] table and an [expect] table")
    for key in s:
        if key not in SCENARIO_KEYS:
            raise ScenarioError(f"{path}: [scenario]: unknown key {key!r}; keys are {', '.join(SCENARIO_KEYS)}")
    if "application" not in s:
        raise ScenarioError(f"{path}: [scenario] needs application = \"path/to/app.elf\"")
    where = "[scenario]"
    name = _string(path, where, "name", s.get("name", path.stem))
    application = _string(path, where, "application", s["application"])
    bootloader = _string(path, where, "bootloader", s["bootloader"]) if "bootloader" in s else None
    base = path.parent
    trigger = _string(path, where, "trigger", s.get("trigger", "none"))
    try:
        parse_trigger(trigger)
    except TriggerError as exc:
        raise ScenarioError(f"{path}: [scenario] {exc}") from None
    jump_within = s.get("jump_within", DEFAULT_JUMP_WITHIN)
    if isinstance(jump_within, bool) or not isinstance(jump_within, (int, float)) \
            or not 0 < jump_within <= MAX_JUMP_WITHIN:
        raise ScenarioError(f"{path}: [scenario] jump_within must be a positive number of seconds "
                            f"(at most {MAX_JUMP_WITHIN:g}), not {_toml_type(jump_within)}")
    entry = _string(path, where, "entry", s.get("entry", "jump"), ("jump", "boot0"))
    host = _string(path, where, "host", s.get("host", "dfu"), ("dfu", "usart"))
    operation = _string(path, where, "operation", s.get("operation", "erase"), OPERATIONS)
    option_spec = _string(path, where, "option_bytes", s.get("option_bytes", ""))
    steps = {k: v for k, v in expect.items() if k != "blocking"}
    for step, status in steps.items():
        if step not in STEPS:
            raise ScenarioError(f"{path}: unknown step {step!r} in [expect]; steps are {', '.join(STEPS)}")
        if not isinstance(status, str) or status not in STATUSES:
            raise ScenarioError(f"{path}: [expect] {step} = {_toml_type(status)}; "
                                "use \"ok\", \"failed\" or \"not run\"")
    blocking = expect.get("blocking")
    if blocking is not None and (not isinstance(blocking, list) or not all(isinstance(b, str) for b in blocking)
                                 or entry != "jump"):
        raise ScenarioError(f"{path}: [expect] blocking = [...] is a list of item keys (strings) "
                            "and needs entry = \"jump\"")
    try:
        option_bytes = parse_option_bytes_spec(option_spec)
    except ValueError as exc:
        raise ScenarioError(f"{path}: [scenario] option_bytes: {exc}") from None
    return Scenario(path, name, base / application, base / bootloader if bootloader is not None else BUNDLED_BOOTLOADER,
                    entry, host, option_bytes, operation, steps, blocking, trigger=trigger,
                    jump_within=float(jump_within))


def run_scenario(sc: Scenario) -> ScenarioResult:
    import time
    started = time.perf_counter()
    result = ScenarioResult(sc)
    try:
        app = load_elf(sc.application)
        bootloader = load_bootloader(sc.bootloader)
    except ImageError as exc:
        raise ScenarioError(str(exc)) from None
    try:
        trigger = parse_trigger(sc.trigger)
        trigger.validate(app)
    except TriggerError as exc:
        raise ScenarioError(f"{sc.path}: {exc}") from None
    flow = flow_for(sc.host)
    if sc.expect_blocking is not None or sc.diagnose and sc.entry == "jump":
        d = diagnose(app, bootloader, flow, operation=sc.operation, option_bytes=sc.option_bytes, trigger=trigger,
                     jump_within=sc.jump_within)
        result.outcome, result.blocking = d.jump_outcome, [i.key for i in d.blamed]
        if not d.jumped:
            result.failure = f"{d.status}: {d.note}" + (f" (at {d.where})" if d.where else "")
            result.mismatches.append(result.failure)
        if sc.expect_blocking is not None and d.jumped and result.blocking != sc.expect_blocking:
            result.mismatches.append(f"blocking: expected {sc.expect_blocking}, got {result.blocking}")
    elif sc.entry == "boot0":
        try:
            result.outcome = flow.run(reference_run(app, bootloader, sc.option_bytes))
        except BootloaderNotStarted as exc:
            result.failure = f"bootloader-not-started: {exc}"
            result.mismatches.append(result.failure)
    else:
        run = jump_run(app, bootloader, sc.option_bytes, trigger, sc.jump_within)
        if run.status != "jumped":
            status = "no-jump" if run.status == "no-jump" else run.status
            result.failure = f"{status}: {run.detail} (trigger {sc.trigger})"
            result.mismatches.append(result.failure)
        else:
            result.outcome = flow.run(run.m)
    if result.failure:
        result.seconds = time.perf_counter() - started
        return result
    for step, expected in sc.expect_steps.items():
        got = result.outcome.step(step).status if result.outcome and result.outcome.step(step) else "not run"
        if got != expected:
            detail = result.outcome.step(step).detail if result.outcome and result.outcome.step(step) else ""
            result.mismatches.append(f"{step}: expected {expected}, got {got}" + (f" ({detail})" if detail else ""))
    result.seconds = time.perf_counter() - started
    return result


def junit(results: list[ScenarioResult]) -> str:
    failures = sum(not r.passed for r in results)
    cases = []
    for r in results:
        body = "" if r.passed else \
            f'<failure message="{escape(r.mismatches[0], {chr(34): "&quot;"})}">{escape(chr(10).join(r.mismatches))}</failure>'
        cases.append(f'  <testcase classname="c071emu.check" name="{escape(r.scenario.name, {chr(34): "&quot;"})}" '
                     f'file="{escape(str(r.scenario.path))}" time="{r.seconds:.3f}">{body}</testcase>')
    total = sum(r.seconds for r in results)
    return (f'<?xml version="1.0" encoding="utf-8"?>\n<testsuite name="c071emu check" tests="{len(results)}" '
            f'failures="{failures}" time="{total:.3f}">\n' + "\n".join(cases) + "\n</testsuite>\n")
