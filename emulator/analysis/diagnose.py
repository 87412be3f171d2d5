"""The diagnosis: why does a flash operation fail after the application's jump?

1. Reference: the bootloader's first instruction after a clean BOOT0 reset with the
   same option bytes (nBOOT_SEL cleared so the pin decides); snapshot; host flow.
2. Jump: the application boots from flash, the host enumerates it and asks it to enter
   the bootloader; the run stops at the first instruction in system memory; snapshot
   with provenance; the residual items are what differs from the reference.
3. Outcome: the same host flow from the jump point (in a forked replay).
4. Blame: delta debugging over the items, each oracle call a forked replay that puts a
   subset back to its reference values; the result is checked to be 1-minimal.
5. Mechanism: the failing replay's events from the jump to the failure.
6. Fix: for each blamed item the application-side change, verified by a replay with
   those items restored in which every step passes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

from peripherals import c071
from peripherals.option_bytes import read_option_word, write_factory_option_bytes

from ..core.runloop import EndReason
from ..image import Image
from ..machine import Machine, MachineConfig
from ..triggers import AppEnded, Bench, Jumped, NoTrigger, NotDelivered, Trigger, as_trigger, describe_device, \
    interfaces_of, suggestions
from .ddmin import ddmin
from .flows import OPERATION_STEP, FlowOutcome, HostFlow
from .items import Item, residual_items
from .replay import restore_items, run_forked
from .snapshot import JumpSnapshot, in_system_memory, restore_snapshot, run_to_bootloader_entry, take_snapshot

N_BOOT_SEL = 1 << 24
DEFAULT_JUMP_WITHIN = 5.0
MECHANISM_KINDS = ("flash.", "exception.fault", "exception.entry", "reset", "lockup", "iwdg", "wwdg", "pwr",
                   "scb.sysresetreq")

# The outcome of a diagnosis and the exit status of `c071emu diagnose` for it.
STATUS_EXIT = {
    "ok": 0,                          # the application jumped; the operation works afterwards
    "operation-fails": 1,             # the application jumped; the operation fails (the diagnosis says why)
    "no-jump": 3,                     # the application did not enter the bootloader within the window
    "trigger-not-delivered": 3,       # the simulated world could not deliver the trigger
    "bootloader-not-started": 2,      # the bootloader image does not start after a BOOT0 reset
}


# Whole-flow replays from a diagnosis' jump point: one per key set, those residual items restored.
WholeFlowReplays = Callable[[list[list[str]]], list[FlowOutcome]]


class BootloaderNotStarted(Exception):
    """The bootloader image did not reach its first instruction after a BOOT0 reset."""


@dataclass
class Diagnosis:
    app: str
    bootloader: str
    operation: str
    reference: Optional[JumpSnapshot]
    jump: Optional[JumpSnapshot]
    items: list[Item]
    reference_outcome: Optional[FlowOutcome]
    jump_outcome: Optional[FlowOutcome]
    blamed: list[Item] = field(default_factory=list)
    oracle_calls: int = 0
    one_minimal: bool = False
    fix_outcome: Optional[FlowOutcome] = None
    mechanism: list[dict] = field(default_factory=list)
    note: str = ""
    status: str = "ok"
    trigger: str = "none"
    injection: bool = False           # the jump was made to happen (call:), not caused by the app's own trigger
    world: list[str] = field(default_factory=list)        # what the simulated world did, with times
    where: str = ""                   # no jump: where the application was at the end of the window
    presented: list[str] = field(default_factory=list)    # no jump: what it showed the world (USB, USARTs)
    suggested: list[str] = field(default_factory=list)    # no jump: --trigger values that match
    host: str = ""                    # the host flow: "dfu" or "usart"

    @property
    def jumped(self) -> bool:
        return self.jump is not None

    @property
    def operation_failed(self) -> bool:
        return self.jump_outcome is not None and not self.jump_outcome.step_ok(self.operation)

    @property
    def fix_verified(self) -> bool:
        return self.fix_outcome is not None and self.fix_outcome.all_ok

    @property
    def exit_status(self) -> int:
        return STATUS_EXIT[self.status]


def _machine(app: Image, bootloader: Image, config: MachineConfig) -> Machine:
    m = Machine(config)
    m.load(bootloader)
    m.load(app)
    return m


def reference_run(app: Image, bootloader: Image, option_bytes: dict[str, int], hse_hz: Optional[int] = None) -> Machine:
    """BOOT0 entry with the same option bytes, nBOOT_SEL cleared so that the pin selects."""
    optr = read_option_word(write_factory_option_bytes(bytearray(c071.OPTION_BYTES_SIZE), option_bytes), "OPTR")[0]
    m = _machine(app, bootloader, MachineConfig(boot_pin=1, hse_hz=hse_hz,
                                                option_bytes={**option_bytes, "OPTR": optr & ~N_BOOT_SEL}))
    m.reset("power")
    end = run_to_bootloader_entry(m)
    if end.reason is not EndReason.STOP_AT:
        raise BootloaderNotStarted(f"{bootloader.path}: the bootloader did not start after a BOOT0 reset "
                                   f"({end.reason.value}: {end.detail}, PC 0x{end.pc:08X})")
    return m


@dataclass
class JumpRun:
    """The application's run from power-on to its jump (or to the end of the window)."""
    m: Machine
    bench: Bench
    trigger: Trigger
    status: str                       # "jumped" | "no-jump" | "trigger-not-delivered"
    detail: str = ""
    jumped_during_delivery: bool = False
    end_reason: str = ""


def jump_run(app: Image, bootloader: Image, option_bytes: dict[str, int], trigger: "str | Trigger | None" = None,
             jump_within: float = DEFAULT_JUMP_WITHIN, hse_hz: Optional[int] = None,
             snapshot: Optional[JumpSnapshot] = None) -> JumpRun:
    """Power on (or continue from ``snapshot``), deliver the trigger, and run until the first
    instruction in system memory or until ``jump_within`` simulated seconds after the trigger."""
    trig = as_trigger(trigger)
    m = _machine(app, bootloader, MachineConfig(option_bytes=option_bytes, hse_hz=hse_hz))
    m.reset("power")
    if snapshot is not None:
        restore_snapshot(m, snapshot)
    bench = Bench(m)
    trig.prepare(bench)
    run = JumpRun(m, bench, trig, "no-jump")
    if in_system_memory(m.cpu.pc()):
        run.status = "jumped"
        return run
    m.loop.stop_on_entry(c071.SYSMEM_BASE, c071.SYSMEM_BASE + c071.SYSMEM_SIZE - 1)
    try:
        trig.deliver(bench)
        deadline = m.seconds() + jump_within
        while m.seconds() < deadline:
            end = m.run(max_seconds=deadline - m.seconds())
            run.end_reason = end.reason.value
            if in_system_memory(m.cpu.pc()):
                run.status = "jumped"
                break
            if end.reason in (EndReason.EXIT, EndReason.LOCKUP, EndReason.STRICT, EndReason.INTERRUPTED):
                run.detail = _ended(end)
                break
        else:
            run.detail = f"no jump within {jump_within:g} s of simulated time after the trigger"
    except Jumped:
        run.status, run.jumped_during_delivery = "jumped", True
    except AppEnded as ended:
        run.detail, run.end_reason = _ended(ended.end) + " while the trigger was being delivered", \
            ended.end.reason.value
    except NotDelivered as exc:
        run.status, run.detail = "trigger-not-delivered", str(exc)
    finally:
        m.loop.clear_stops()
    return run


def _ended(end) -> str:
    if end.reason is EndReason.EXIT:
        return f"the application exited (semihosting, status {end.exit_status})"
    if end.reason is EndReason.LOCKUP:
        return f"the core locked up ({end.detail})"
    return f"the run ended: {end.reason.value} ({end.detail})"


def diagnose(app: Image, bootloader: Image, flow: HostFlow, operation: str = "erase",
             option_bytes: Optional[dict[str, int]] = None, trigger: "str | Trigger | None" = None,
             jump_within: float = DEFAULT_JUMP_WITHIN, hse_hz: Optional[int] = None,
             snapshot: Optional[JumpSnapshot] = None,
             priors: "Optional[list[list[str]] | Callable[[], list[list[str]]]]" = None,
             afterwards: "Optional[Callable[[Diagnosis, WholeFlowReplays], None]]" = None,
             speculate: bool = True, on_jump_outcome: Optional[Callable[[bool], None]] = None,
             progress: Callable[[str], None] = lambda phase: None) -> Diagnosis:
    """The whole diagnosis; ``trigger`` is a spec (``triggers.py``), default ``none``.  A
    malformed spec or a ``call:`` symbol the application lacks raises ``TriggerError``.
    ``priors`` are item-key sets that blocked the operation elsewhere (another bootloader
    design): the first of them whose restoration makes the operation succeed is where the
    search for a 1-minimal set starts, instead of the whole residual state; when none
    suffices, the search starts from the whole residual state with their items first.  They
    may be given as a function, called only when the search needs them (another design's
    diagnosis may still be running).  ``afterwards(diagnosis, replays)``, when the
    application jumped, is called once the diagnosis is complete, while the jump point is
    still at hand: ``replays(key_sets)`` runs the whole host flow from the jump once per
    key set, with the residual items it names restored (variants.py verifies the combined
    fix of several designs this way).  When a blocking set was found, its fix replay runs
    with the first call of ``replays`` (``replays([])``: alone), or after ``afterwards``
    returns, so that a caller who waits for other diagnoses first need not wait for it
    too: ``fix_outcome`` is set then.  ``speculate``: the replay with every residual item
    restored runs with the first replays, before it is known to be needed (it is when the
    operation fails): a diagnosis alone gains time on an idle core; diagnoses that share
    the cores (variants.py) turn it off and lose none on designs whose operation works;
    the jump's own replay then runs first, and ``on_jump_outcome(failed)`` is told at once
    whether it shows the operation failing (a search may follow: variants.py gives such a
    diagnosis precedence, and the others' remaining replays the least).  ``progress(phase)``
    is told what the diagnosis does next (the CLI's status line on a terminal)."""
    option_bytes = option_bytes or {}
    trig = as_trigger(trigger)
    trig.validate(app)
    progress("BOOT0 entry: starting the bootloader")
    try:
        ref_m = reference_run(app, bootloader, option_bytes, hse_hz)
    except BootloaderNotStarted as exc:
        return Diagnosis(str(app.path), str(bootloader.path), operation, None, None, [], None, None,
                         note=str(exc), status="bootloader-not-started", trigger=trig.spec)
    reference = take_snapshot(ref_m, "BOOT0 entry")
    progress("the application: running to its jump")
    run = jump_run(app, bootloader, option_bytes, trig, jump_within, hse_hz, snapshot)
    m = run.m
    if run.status != "jumped":
        progress("the host flow after a BOOT0 entry")
        reference_outcome = run_forked([lambda: flow.run(ref_m)])[0]
        d = Diagnosis(str(app.path), str(bootloader.path), operation, reference, None, [], reference_outcome,
                      None, note=run.detail, status=run.status, trigger=trig.spec, injection=trig.injection,
                      world=run.bench.actions)
        _observe(d, run, app)
        return d
    label = "software jump (injected call)" if trig.injection else "software jump"
    jump = take_snapshot(m, label)
    items = residual_items(reference, jump)
    start = len(m.trace.events)
    outcomes: dict[tuple[str, ...], FlowOutcome] = {}     # replays already run, by restored items

    def replay(subset: list[Item], full: bool = False):
        """A counterfactual; an oracle replay (not ``full``) stops after the operation's step."""
        def job():
            restore_items(m, reference, subset)
            if not full and hasattr(flow, "stop_after"):        # in the forked child only
                flow.stop_after = OPERATION_STEP.get(operation, operation)
            outcome = flow.run(m)
            outcome.events = _mechanism_events(m, start)
            outcome.unmodelled = _unmodelled(m)
            return outcome
        return job

    def whole_flow_job(keys: list[str]):
        def run() -> FlowOutcome:
            restore_items(m, reference, [i for i in items if i.key in keys])
            return flow.run(m)
        return run

    def whole_flow_with(key_sets: list[list[str]]) -> list[FlowOutcome]:
        return run_forked([whole_flow_job(k) for k in key_sets])

    def finish(d: Diagnosis) -> Diagnosis:
        if afterwards is not None:
            afterwards(d, whole_flow_with)
        return d

    def key(subset: list[Item]) -> tuple[str, ...]:
        return tuple(sorted(i.key for i in subset))

    whole: set[tuple[str, ...]] = set()                # ... of which these ran every step

    def outcomes_of(candidates: list[list[Item]]) -> list[FlowOutcome]:
        # A single item whose restoration makes the operation succeed is the search's answer
        # (ddmin returns as soon as one does), so its replay runs every step: it is then the
        # fix replay too.  One that fails stops at the failing step either way.
        missing = [c for c in dict.fromkeys(map(key, candidates)) if c not in outcomes]
        if missing:
            progress(f"searching for the blocking state: replays {len(outcomes) + 1}-{len(outcomes) + len(missing)}")
        by_key = {key(c): c for c in candidates}
        for k, o in zip(missing, run_forked([replay(by_key[k], full=len(k) == 1) for k in missing])):
            outcomes[k] = o
            if len(k) == 1:
                whole.add(k)
        return [outcomes[key(c)] for c in candidates]

    # The reference flow, the jump's own outcome and the all-items counterfactual are
    # independent: one parallel batch (the last one only when speculating).
    def reference_job():
        ref_start = len(ref_m.trace.events)
        outcome = flow.run(ref_m)
        outcome.unmodelled = _unmodelled(ref_m)
        outcome.events = _mechanism_events(ref_m, ref_start)
        return outcome

    progress("the host flow after the jump and after a BOOT0 entry")
    if speculate:
        first = run_forked([reference_job, replay([], full=True)] + ([replay(items)] if items else []))
        reference_outcome, jump_outcome = first[0], first[1]
    else:                               # the jump's outcome first: it says whether a search follows
        jump_outcome = run_forked([replay([], full=True)])[0]
        if on_jump_outcome is not None:
            on_jump_outcome(not jump_outcome.step_ok(operation))
        reference_outcome = run_forked([reference_job])[0]
    outcomes[()] = jump_outcome
    if items and speculate:
        outcomes[key(items)] = first[2]
    diagnosis = Diagnosis(str(app.path), str(bootloader.path), operation, reference, jump, items,
                          reference_outcome, jump_outcome, trigger=trig.spec, injection=trig.injection,
                          world=run.bench.actions)
    if run.jumped_during_delivery and not isinstance(trig, NoTrigger):
        diagnosis.world.append(f"{m.seconds() * 1e3:.3f} ms: the application entered the bootloader while the "
                               "trigger was being delivered")
    diagnosis.host = flow.name
    diagnosis.mechanism = jump_outcome.events
    if not diagnosis.operation_failed:
        diagnosis.note = "no blocking residual state: the operation succeeds after the jump"
        return finish(diagnosis)
    diagnosis.status = "operation-fails"
    if not reference_outcome.step_ok(operation):
        diagnosis.note = "the operation fails after a clean BOOT0 entry too: not caused by residual state"
        return finish(diagnosis)
    if not items or not outcomes_of([items])[0].step_ok(operation):
        diagnosis.note = "restoring every residual item does not make the operation succeed"
        return finish(diagnosis)

    def evaluate(candidates: list[list[Item]]) -> list[bool]:
        return [o.step_ok(operation) for o in outcomes_of(candidates)]

    search = items
    if callable(priors):
        priors = priors()
    if priors:
        by_key = {i.key: i for i in items}
        seeds = [[by_key[k] for k in p if k in by_key] for p in priors]
        seeds = [c for c in seeds if c and len(c) < len(items)]
        if seeds:
            search = next((c for c, ok in zip(seeds, evaluate(seeds)) if ok), None)
        if search is None or not seeds:       # none suffices: the search splits with their items together first
            known = {k for p in priors for k in p}
            search = sorted(items, key=lambda i: i.key not in known)
    blamed, calls = ddmin(search, evaluate)
    diagnosis.blamed = blamed
    diagnosis.one_minimal = len(blamed) == 1 or not any(
        evaluate([[x for x in blamed if x is not y] for y in blamed]))
    diagnosis.oracle_calls = len(outcomes)
    fix = replay(blamed, full=True)                 # every step, with the blamed items restored
    if key(blamed) in whole:                        # that replay already ran (the same restored set)
        diagnosis.fix_outcome = outcomes[key(blamed)]
    if afterwards is None:
        if diagnosis.fix_outcome is None:
            progress("verifying the fix by replay")
            diagnosis.fix_outcome = run_forked([fix])[0]
        return diagnosis

    def fix_with(key_sets: list[list[str]]) -> list[FlowOutcome]:
        pending = diagnosis.fix_outcome is None
        done = run_forked(([fix] if pending else []) + [whole_flow_job(k) for k in key_sets])
        if pending:
            diagnosis.fix_outcome, done = done[0], done[1:]
        return done

    afterwards(diagnosis, fix_with)
    if diagnosis.fix_outcome is None:               # no replays were asked for
        diagnosis.fix_outcome = run_forked([fix])[0]
    return diagnosis


def _observe(d: Diagnosis, run: JumpRun, app: Image) -> None:
    """Where an application that did not jump was, what it presented, and which triggers match."""
    m, bench = run.m, run.bench
    pc = m.cpu.pc()
    state = "asleep (WFI/WFE)" if m.loop.sleeping else \
        f"in handler mode ({c071.exception_name(m.cpu.ipsr())})" if m.cpu.ipsr() else "running in thread mode"
    polled = _polled_registers(m)
    d.where = f"PC 0x{pc:08X}" + (f" in {m.describe(pc)}" if m.describe(pc) else "") + f", {state}" + \
        (f", polling {', '.join(polled)}" if polled else "") + f", at {m.seconds() * 1e3:.3f} ms"
    interfaces = []
    info = bench.usb.info if bench.usb is not None else None
    ended = run.end_reason in (EndReason.EXIT.value, EndReason.LOCKUP.value)
    if info is not None:
        d.presented.append(describe_device(info))
        interfaces = interfaces_of(info.config_descriptor)
    elif m.usb.attached() and not ended:
        probe = run_forked([lambda: _probe_usb(m)])[0]
        if isinstance(probe, str):
            d.presented.append(f"USB: a device is on the bus (D+ pull-up) but does not enumerate: {probe}")
        else:
            text, config = probe
            d.presented.append(text)
            interfaces = interfaces_of(config)
    else:
        d.presented.append("USB: no device on the bus (no D+ pull-up, or the USB peripheral is not clocked)")
    usarts: dict[str, dict] = {}
    for name, monitor in bench.usarts.items():
        u = monitor.usart
        cr1 = u.reg["CR1"].value
        sent = bytes(monitor.sent)
        if not cr1 & 1 and not sent:
            continue
        framing = u.framing()
        usarts[name] = {"receiving": bool(cr1 & 1 and cr1 & 4), "baud": round(framing.baud)}
        parts = [f"{name}: " + ("enabled" if cr1 & 1 else "disabled") + f" at {framing.describe()}",
                 "receiver on" if cr1 & 1 and cr1 & 4 else "receiver off"]
        if sent:
            parts.append(f"transmitted {len(sent)} B {sent[:48]!r}" + (" ..." if len(sent) > 48 else ""))
        d.presented.append(", ".join(parts))
    if not usarts:
        d.presented.append("USART1, USART2: not enabled, nothing transmitted")
    inputs = _pulled_inputs(m)
    if inputs:
        d.presented.append("GPIO inputs with a pull resistor (buttons?): " +
                           ", ".join(f"{pin} pull-{pull}" for pin, pull in inputs))
    d.suggested = suggestions(interfaces, usarts, app.symbols, polled, inputs)


def _probe_usb(m: Machine):
    """Enumerate the device as it is now (in a forked process: the run itself is untouched)."""
    from ..host.usb_host import UsbError, UsbHost
    host = UsbHost(m)
    try:
        info = host.enumerate(timeout_s=1.5)
    except UsbError as exc:
        return f"{type(exc).__name__}: {exc}"
    return describe_device(info), info.config_descriptor


def _pulled_inputs(m: Machine) -> list[tuple[str, str]]:
    """Pins in input mode (MODER = 00) with a pull-up or pull-down (PUPDR = 01/10), RM0490 §7.4."""
    out = []
    for name, port in sorted(m.gpio.items()):
        pupdr = port.reg["PUPDR"].value
        for pin in range(16):
            pull = pupdr >> (2 * pin) & 3
            if port.mode(pin) == 0 and pull in (1, 2):
                out.append((f"P{name[4]}{pin}", "up" if pull == 1 else "down"))
    return out


def _polled_registers(m: Machine) -> list[str]:
    names: dict[str, None] = {}
    for _pc, address, _value in m.loop.polls.recent_reads():
        p = m.peripheral_at(address)
        if p is None:
            continue
        reg = next((r for r in p.registers if p.base + r.offset == address), None)
        names.setdefault(f"{p.name}.{reg.name}" if reg else f"{p.name}+0x{address - p.base:X}")
    return list(names)


MECHANISM_HEAD, MECHANISM_TAIL = 40, 160


def _mechanism_events(m: Machine, start: int) -> list[dict]:
    """The decisive kinds of events from ``start`` on; a long run keeps its beginning and
    its end (the failure and what led to it), with one marker for what was left out."""
    events = [e for e in m.trace.events[start:] if e.kind.startswith(MECHANISM_KINDS)]
    if len(events) <= MECHANISM_HEAD + MECHANISM_TAIL:
        return [_event(m, e) for e in events]
    dropped = events[MECHANISM_HEAD:-MECHANISM_TAIL]
    marker = {"seconds": dropped[0].seconds, "kind": "...", "text": f"{len(dropped)} events left out "
              f"({dropped[0].seconds * 1e3:.3f}-{dropped[-1].seconds * 1e3:.3f} ms)", "pc": None, "where": None,
              "image": "", "dropped": len(dropped)}
    return [_event(m, e) for e in events[:MECHANISM_HEAD]] + [marker] + \
        [_event(m, e) for e in events[-MECHANISM_TAIL:]]


def _unmodelled(m: Machine) -> list[str]:
    return [a.line() for a in m.trace.unmodelled.values()]


def _event(m: Machine, e) -> dict:
    return {"seconds": e.seconds, "kind": e.kind, "text": e.text, "pc": e.pc, "where": e.where,
            "image": _image_of(m, e.pc)}


def _image_of(m: Machine, pc: Optional[int]) -> str:
    if pc is None:
        return ""
    if c071.SYSMEM_BASE <= pc < c071.SYSMEM_BASE + c071.SYSMEM_SIZE:
        return "bootloader"
    if c071.FLASH_BASE <= pc < c071.FLASH_BASE + c071.FLASH_SIZE or pc < c071.ALIAS_WINDOW:
        return "application"
    return ""
