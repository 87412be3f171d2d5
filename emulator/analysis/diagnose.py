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
from peripherals.option_bytes import read_option_word

from ..core.runloop import EndReason
from ..image import Image
from ..machine import Machine, MachineConfig
from .ddmin import ddmin
from .flows import FlowOutcome, HostFlow
from .items import Item, residual_items
from .replay import restore_items, run_forked
from .snapshot import JumpSnapshot, run_to_bootloader_entry, take_snapshot

N_BOOT_SEL = 1 << 24
APP_REQUEST_ENTER_BOOTLOADER = 0x42
MECHANISM_KINDS = ("flash.", "exception.fault", "reset", "lockup", "iwdg", "wwdg", "pwr", "scb.sysresetreq")


@dataclass
class Diagnosis:
    app: str
    bootloader: str
    operation: str
    reference: JumpSnapshot
    jump: Optional[JumpSnapshot]
    items: list[Item]
    reference_outcome: FlowOutcome
    jump_outcome: Optional[FlowOutcome]
    blamed: list[Item] = field(default_factory=list)
    oracle_calls: int = 0
    one_minimal: bool = False
    fix_outcome: Optional[FlowOutcome] = None
    mechanism: list[dict] = field(default_factory=list)
    note: str = ""

    @property
    def operation_failed(self) -> bool:
        return self.jump_outcome is not None and not self.jump_outcome.step_ok(self.operation)

    @property
    def fix_verified(self) -> bool:
        return self.fix_outcome is not None and self.fix_outcome.all_ok


def _machine(app: Image, bootloader: Image, config: MachineConfig) -> Machine:
    m = Machine(config)
    m.load(bootloader)
    m.load(app)
    return m


def reference_run(app: Image, bootloader: Image, option_bytes: dict[str, int]) -> Machine:
    """BOOT0 entry with the same option bytes, nBOOT_SEL cleared so that the pin selects."""
    probe = Machine(MachineConfig(option_bytes=option_bytes))
    optr = read_option_word(probe.option_area.buffer, "OPTR")[0]
    m = _machine(app, bootloader, MachineConfig(boot_pin=1, option_bytes={**option_bytes,
                                                                          "OPTR": optr & ~N_BOOT_SEL}))
    m.reset("power")
    end = run_to_bootloader_entry(m)
    if end.reason is not EndReason.STOP_AT:
        raise RuntimeError(f"the bootloader was not entered after a BOOT0 reset: {end.detail}")
    return m


def jump_run(app: Image, bootloader: Image, option_bytes: dict[str, int], trigger: Callable[[Machine], None],
             max_seconds: float = 2.0):
    m = _machine(app, bootloader, MachineConfig(option_bytes=option_bytes))
    m.reset("power")
    trigger(m)
    end = run_to_bootloader_entry(m, max_seconds=max_seconds)
    return m, end


def usb_request_trigger(m: Machine) -> None:
    """Enumerate the application and send it the 'enter bootloader' vendor request."""
    from ..host.usb_host import UsbHost
    host = UsbHost(m)
    host.enumerate()
    host.control_transfer(0x40, APP_REQUEST_ENTER_BOOTLOADER, 0, 0)
    m.usb_host = host


def diagnose(app: Image, bootloader: Image, flow: HostFlow, operation: str = "erase",
             option_bytes: Optional[dict[str, int]] = None,
             trigger: Callable[[Machine], None] = usb_request_trigger) -> Diagnosis:
    option_bytes = option_bytes or {}
    ref_m = reference_run(app, bootloader, option_bytes)
    reference = take_snapshot(ref_m, "BOOT0 entry")
    m, end = jump_run(app, bootloader, option_bytes, trigger)
    if end.reason is not EndReason.STOP_AT:
        reference_outcome = run_forked([lambda: flow.run(ref_m)])[0]
        return Diagnosis(str(app.path), str(bootloader.path), operation, reference, None, [], reference_outcome,
                         None, note=f"the application never entered system memory ({end.detail})")
    jump = take_snapshot(m, "software jump")
    items = residual_items(reference, jump)
    start = len(m.trace.events)
    outcomes: dict[tuple[str, ...], FlowOutcome] = {}     # replays already run, by restored items

    def replay(subset: list[Item]):
        def job():
            restore_items(m, reference, subset)
            outcome = flow.run(m)
            outcome.events = [_event(m, e) for e in m.trace.events[start:]
                              if e.kind.startswith(MECHANISM_KINDS)][:60]
            outcome.unmodelled = _unmodelled(m)
            return outcome
        return job

    def key(subset: list[Item]) -> tuple[str, ...]:
        return tuple(sorted(i.key for i in subset))

    def outcomes_of(candidates: list[list[Item]]) -> list[FlowOutcome]:
        missing = [c for c in dict.fromkeys(map(key, candidates)) if c not in outcomes]
        by_key = {key(c): c for c in candidates}
        for k, o in zip(missing, run_forked([replay(by_key[k]) for k in missing])):
            outcomes[k] = o
        return [outcomes[key(c)] for c in candidates]

    # The reference flow, the jump's own outcome and the all-items counterfactual are
    # independent: one parallel batch.
    def reference_job():
        outcome = flow.run(ref_m)
        outcome.unmodelled = _unmodelled(ref_m)
        return outcome

    jobs = [reference_job, replay([]), replay(items)] if items else [reference_job, replay([])]
    first = run_forked(jobs)
    reference_outcome, jump_outcome = first[0], first[1]
    outcomes[()] = jump_outcome
    if items:
        outcomes[key(items)] = first[2]
    diagnosis = Diagnosis(str(app.path), str(bootloader.path), operation, reference, jump, items,
                          reference_outcome, jump_outcome)
    diagnosis.mechanism = jump_outcome.events
    if not diagnosis.operation_failed:
        diagnosis.note = "no blocking residual state: the operation succeeds after the jump"
        return diagnosis
    if not reference_outcome.step_ok(operation):
        diagnosis.note = "the operation fails after a clean BOOT0 entry too: not caused by residual state"
        return diagnosis
    if not items or not outcomes[key(items)].step_ok(operation):
        diagnosis.note = "restoring every residual item does not make the operation succeed"
        return diagnosis

    def evaluate(candidates: list[list[Item]]) -> list[bool]:
        return [o.step_ok(operation) for o in outcomes_of(candidates)]

    blamed, calls = ddmin(items, evaluate)
    diagnosis.blamed = blamed
    diagnosis.one_minimal = len(blamed) == 1 or not any(
        evaluate([[x for x in blamed if x is not y] for y in blamed]))
    diagnosis.fix_outcome = outcomes_of([blamed])[0]          # the replay with the blamed items restored
    diagnosis.oracle_calls = len(outcomes)
    return diagnosis


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
