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
from .image import BUNDLED_BOOTLOADER, ImageError, load_bootloader, load_elf
from .triggers import TriggerError, parse_trigger

STATUSES = ("ok", "failed", "not run")
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


def read_toml(path: Path, error: type[Exception]) -> dict:
    """A TOML file's tables; an unreadable or malformed file raises ``error`` naming it."""
    try:
        return tomllib.loads(path.read_text())
    except OSError as exc:
        raise error(f"{path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{path}: not valid TOML ({exc})") from None


def load_scenario(path: str | Path) -> Scenario:
    path = Path(path)
    data = read_toml(path, ScenarioError)
    s, expect = data.get("scenario"), data.get("expect")
    if not isinstance(s, dict) or not isinstance(expect, dict):
        raise ScenarioError(f"{path}: needs a [scenario] table and an [expect] table")
    for key in s:
        if key not in SCENARIO_KEYS:
            raise ScenarioError(f"{path}: [scenario]: unknown key {key!r}; keys are {', '.join(SCENARIO_KEYS)}")
    if "application" not in s:
        raise ScenarioError(f"{path}: [scenario] needs application = \"path/to/app.elf\"")
    base = path.parent
    trigger = s.get("trigger", "none")
    try:
        parse_trigger(trigger)
    except TriggerError as exc:
        raise ScenarioError(f"{path}: [scenario] {exc}") from None
    jump_within = s.get("jump_within", DEFAULT_JUMP_WITHIN)
    if isinstance(jump_within, bool) or not isinstance(jump_within, (int, float)) or jump_within <= 0:
        raise ScenarioError(f"{path}: [scenario] jump_within must be a positive number of seconds")
    entry, host = s.get("entry", "jump"), s.get("host", "dfu")
    if entry not in ("jump", "boot0"):
        raise ScenarioError(f"{path}: entry must be \"jump\" or \"boot0\", not {entry!r}")
    if host not in ("dfu", "usart"):
        raise ScenarioError(f"{path}: host must be \"dfu\" or \"usart\", not {host!r}")
    steps = {k: v for k, v in expect.items() if k != "blocking"}
    for step, status in steps.items():
        if step not in STEPS:
            raise ScenarioError(f"{path}: unknown step {step!r} in [expect]; steps are {', '.join(STEPS)}")
        if status not in STATUSES:
            raise ScenarioError(f"{path}: [expect] {step} = {status!r}; use \"ok\", \"failed\" or \"not run\"")
    blocking = expect.get("blocking")
    if blocking is not None and (not isinstance(blocking, list) or entry != "jump"):
        raise ScenarioError(f"{path}: blocking = [...] is a list of item keys and needs entry = \"jump\"")
    try:
        option_bytes = parse_option_bytes_spec(s.get("option_bytes", ""))
    except ValueError as exc:
        raise ScenarioError(f"{path}: {exc}") from None
    bootloader = base / s["bootloader"] if "bootloader" in s else BUNDLED_BOOTLOADER
    return Scenario(path, s.get("name", path.stem), base / s["application"], bootloader, entry, host,
                    option_bytes, s.get("operation", "erase"), steps, blocking, trigger=trigger,
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
