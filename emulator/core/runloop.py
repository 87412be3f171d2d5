"""The run loop: Unicorn in instruction-count slices sized to the next event.

Between slices the loop fires due events, performs a requested reset, and lets the
exception engine take the highest-priority pending exception, so interrupts are
taken at exact instruction counts and a run is deterministic.  Nothing Python runs
per instruction: MMIO arrives through ``mmio_map`` callbacks, and code hooks are
bounded to the few instructions that can unmask a pending interrupt (``cpsie i``,
``msr primask``) or set the event register (``sev``), found by scanning code.
"""
from __future__ import annotations

import enum
import signal
import struct
from dataclasses import dataclass
from typing import Callable, Optional

from unicorn import UcError, UC_HOOK_INTR, UC_HOOK_INSN_INVALID, UC_HOOK_MEM_UNMAPPED, UC_HOOK_CODE, \
    UC_HOOK_MEM_FETCH_PROT, UC_HOOK_MEM_READ, UC_HOOK_MEM_WRITE, UC_MEM_READ_UNMAPPED, UC_MEM_WRITE_UNMAPPED, \
    UC_MEM_FETCH_UNMAPPED, UC_MEM_FETCH_PROT

from peripherals import c071
from peripherals.nvic import ExceptionBook

from .clock import Scheduler, SimClock
from .cpu import Cpu
from .exceptions import ExceptionEngine, ExceptionRecord, Lockup
from .polling import PollDetector

MAX_SLICE = 1_000_000
PROGRESS_SLICES = 64
UNTIL_SENTINEL = 0xE00F_FFF0          # never a legitimate fetch address (XN region)
INTR_SVC, INTR_BKPT, INTR_UNALIGNED, INTR_EXCEPTION_EXIT = 2, 7, 4, 8
WFE, YIELD, WFI = 0xBF20, 0xBF10, 0xBF30
CPSIE_I, MSR_PRIMASK_SECOND, SEV = 0xB662, 0x8810, 0xBF40   # `msr primask, rN` = 0xF38n 0x8810


class EndReason(enum.Enum):
    EXIT = "exit"
    LOCKUP = "lockup"
    TIME_LIMIT = "time-limit"
    INTERRUPTED = "interrupted"
    STRICT = "strict"
    STOP_AT = "stop-at"
    STEP = "step"                # ``run(max_instructions=…)`` executed its instructions
    HALTED = "halted"            # a debugger asked (Ctrl-C in gdb), a watchpoint hit, or a BKPT under a debugger


@dataclass
class RunEnd:
    reason: EndReason
    detail: str = ""
    exit_status: int = 0
    pc: int = 0


@dataclass
class WatchHit:
    kind: str                    # "write" | "read" | "access"
    address: int


@dataclass
class SliceEnd:
    kind: str = "count"          # count | fault | lockup | wfi | wfe | svc | exit | stop
    fault: str = ""
    fault_pc: int = 0            # fault: faulting PC; svc: return address
    exit_status: int = 0


class RunLoop:
    def __init__(self, cpu: Cpu, clock: SimClock, scheduler: Scheduler, book: ExceptionBook,
                 vtor: Callable[[], int], on_exception: Callable[[ExceptionRecord], None]) -> None:
        self.cpu = cpu
        self.clock = clock
        self.scheduler = scheduler
        self.book = book
        self.engine = ExceptionEngine(cpu, book, vtor, self.instruction_cycle, on_exception)
        self.polls = PollDetector(cpu.all_regs.read, self.instruction_cycle, cpu.pc)
        self.end: Optional[RunEnd] = None
        self.sleeping = False
        self.reset_request: Optional[str] = None
        self.semihosting: Callable[[], Optional[int]] = lambda: None
        self.perform_reset: Callable[[str], None] = lambda cause: None
        self.clock_source: Callable[[], int] = lambda: clock.hz
        self.sleep_on_exit: Callable[[], bool] = lambda: False
        self.progress: Optional[Callable[[], None]] = None      # called every PROGRESS_SLICES slices
        self.housekeeping: Callable[[], None] = lambda: None    # the machine's work between slices
        self.clock_dirty = True                                 # HCLK must be re-read from the clock tree
        self._bus_error: Optional[tuple[str, int]] = None
        self.instructions = 0
        self.instructions_skipped = 0
        self.slices = 0
        self._deadline: Optional[int] = None
        self._slice_start = 0
        self.in_slice = False
        self._slice = SliceEnd()
        self._stop_hooks: dict[int, int] = {}
        self._hooked_sites: set[int] = set()
        self._resuming_at, self._resumed_after = -1, -1
        self._step_until: Optional[int] = None
        # debugger support (emulator/gdb): all idle unless a debugger attaches
        self.debugger_attached = False          # a BKPT halts instead of faulting
        self.halt_requested: Optional[Callable[[], bool]] = None    # polled between slices
        self.watch_hit: Optional[WatchHit] = None
        self._watch_hooks: dict[tuple[int, int, str], int] = {}
        book.on_change = self.end_slice
        uc = cpu.uc
        uc.hook_add(UC_HOOK_INTR, self._on_interrupt)
        uc.hook_add(UC_HOOK_INSN_INVALID, self._on_invalid_instruction)
        uc.hook_add(UC_HOOK_MEM_UNMAPPED | UC_HOOK_MEM_FETCH_PROT, self._on_bad_access)

    # -- time as seen from inside a slice --------------------------------------
    def instruction_cycle(self) -> int:
        """Cycle of the instruction executing now (or the next one, between slices)."""
        if self.in_slice:
            return self._slice_start + max(self.cpu.counter() - 1, 0)
        return self.clock.cycles

    def bus_error(self, reason: str) -> None:
        """A peripheral refused the current access: HardFault at this instruction (precise)."""
        if self.in_slice and self._bus_error is None:
            self._bus_error = (reason, self.cpu.pc())
            self.cpu.end_slice_at_next_boundary()

    def end_slice(self) -> None:
        """Make the current instruction the last of the slice (effects then apply at the boundary)."""
        if self.in_slice:
            self.cpu.end_slice_at_next_boundary()

    # -- code scanning for the bounded hooks -------------------------------------
    def watch_code(self, base: int, code: bytes) -> None:
        """Hook the instructions in ``code`` that unmask interrupts or signal an event.

        Data that happens to look like one of them only costs a harmless check when
        executed, which data never is.  Code copied into SRAM at run time is not
        scanned: an unmask there takes effect at the end of the slice instead.
        """
        uc = self.cpu.uc
        halfwords = struct.unpack(f"<{len(code) // 2}H", code[: len(code) // 2 * 2])
        added = False
        for i, hw in enumerate(halfwords):
            address = base + 2 * i
            if address in self._hooked_sites:
                continue
            if hw == CPSIE_I or (hw & 0xFFF0) == 0xF380 and i + 1 < len(halfwords) \
                    and halfwords[i + 1] == MSR_PRIMASK_SECOND:
                uc.hook_add(UC_HOOK_CODE, self._on_unmask_site, None, address, address)
            elif hw == SEV:
                uc.hook_add(UC_HOOK_CODE, self._on_sev, None, address, address)
            else:
                continue
            self._hooked_sites.add(address)
            added = True
        if added:
            uc.ctl_remove_cache(base, base + len(code))

    def _on_unmask_site(self, uc, address, size, user_data) -> None:
        # Before `cpsie i`/`msr primask`: if anything would preempt once unmasked, end the
        # slice right after this instruction so the exception is taken at that boundary.
        if self.book.next_to_take(primask=0) is not None:
            self.cpu.end_slice_at_next_boundary()

    def _on_sev(self, uc, address, size, user_data) -> None:
        self.engine.event_register = True

    def stop_at(self, address: int) -> None:
        """Stop the run before the instruction at ``address`` executes (tests, ``--at``)."""
        if address in self._stop_hooks:
            return
        uc = self.cpu.uc
        self._stop_hooks[address] = uc.hook_add(UC_HOOK_CODE, self._on_stop_hook, None, address, address)
        uc.ctl_remove_cache(address, address + 2)

    def stop_on_entry(self, lo: int, hi: int) -> None:
        """Stop before the first instruction executed in [lo, hi] - by a branch, a return or an
        exception - however it is reached (jump detection).  The hook is bounded to the range,
        so code elsewhere runs at full speed."""
        uc = self.cpu.uc
        self._stop_hooks[lo] = uc.hook_add(UC_HOOK_CODE, self._on_stop_hook, None, lo, hi)
        uc.ctl_remove_cache(lo, hi + 1)

    def clear_stops(self) -> None:
        for address, h in self._stop_hooks.items():
            self.cpu.uc.hook_del(h)
            self.cpu.uc.ctl_remove_cache(address, address + 2)
        self._stop_hooks.clear()

    def remove_stop(self, address: int) -> None:
        handle = self._stop_hooks.pop(address, None)
        if handle is not None:
            self.cpu.uc.hook_del(handle)
            self.cpu.uc.ctl_remove_cache(address, address + 2)

    def watch(self, address: int, length: int, kind: str) -> None:
        """Halt after the instruction that reads/writes [address, address+length) completes, as
        a DWT comparator does (ARMv6-M C1.8).  The memory hook is bounded to the range, but any
        memory hook sends loads and stores through Unicorn's slow path: speed is paid only while
        a watchpoint is set."""
        key = (address, length, kind)
        if key in self._watch_hooks:
            return
        types = {"write": UC_HOOK_MEM_WRITE, "read": UC_HOOK_MEM_READ,
                 "access": UC_HOOK_MEM_READ | UC_HOOK_MEM_WRITE}[kind]
        self._watch_hooks[key] = self.cpu.uc.hook_add(types, self._on_watch, kind, address, address + length - 1)
        self.cpu.uc.ctl_flush_tb()          # code translated before the hook existed would not call it

    def unwatch(self, address: int, length: int, kind: str) -> None:
        handle = self._watch_hooks.pop((address, length, kind), None)
        if handle is not None:
            self.cpu.uc.hook_del(handle)

    def _on_watch(self, uc, access, address, size, value, kind) -> None:
        if self.watch_hit is None:
            self.watch_hit = WatchHit(kind, address)
            self._slice = SliceEnd("halt")
            self.cpu.end_slice_at_next_boundary()

    def _on_stop_hook(self, uc, address, size, user_data) -> None:
        if self._resuming_at == address and self.instructions == self._resumed_after and self.cpu.counter() == 1:
            return          # a resumed run steps past the stop it is sitting on, as a debugger does
        self._slice = SliceEnd("stop")
        uc.emu_stop()

    # -- hooks ---------------------------------------------------------------------
    def _on_interrupt(self, uc, intno, user_data) -> None:
        pc = self.cpu.pc()
        if intno == INTR_EXCEPTION_EXIT:
            try:
                self.engine.exception_return(pc | 1)
            except Lockup as lockup:        # the return faulted, and so did the HardFault entry (B1.5.15)
                self._slice = SliceEnd("lockup", str(lockup), lockup.pc)
                uc.emu_stop()
                return
            if not self.book.active_stack and self.sleep_on_exit():
                self._slice = SliceEnd("wfi")
                self.cpu.end_slice_at_next_boundary()
            elif self.book.next_to_take(self.cpu.primask()) is not None:
                self.cpu.end_slice_at_next_boundary()
            return
        if intno == INTR_SVC:
            self._slice = SliceEnd("svc", fault_pc=pc)
        elif intno == INTR_BKPT:
            if self.cpu.uc.mem_read(pc, 2) == b"\xab\xbe":
                status = self.semihosting()
                self.cpu.write("pc", pc + 2)
                if status is not None:
                    self._slice = SliceEnd("exit", exit_status=status)
                    self.cpu.end_slice_at_next_boundary()
                return
            if self.debugger_attached:
                self._slice = SliceEnd("stop", "BKPT")  # halt on the BKPT, as halting debug does (C1.7)
            else:
                self._slice = SliceEnd("fault", f"BKPT 0x{self.cpu.uc.mem_read(pc, 1)[0]:02X} with no debugger attached", pc)
            uc.emu_stop()          # PC is on the instruction: stop before it restarts
            return
        elif intno == INTR_UNALIGNED:
            self._slice = SliceEnd("fault", "unaligned access (ARMv6-M supports aligned accesses only)", pc)
            uc.emu_stop()
            return
        else:
            self._slice = SliceEnd("fault", f"CPU exception {intno}", pc)
            uc.emu_stop()
            return
        self.cpu.end_slice_at_next_boundary()

    def _on_invalid_instruction(self, uc, user_data) -> bool:
        pc = self.cpu.pc()
        previous = struct.unpack("<H", uc.mem_read(pc - 2, 2))[0] if pc & ~3 else 0
        if previous in (WFE, YIELD):
            # Unicorn reports these hints as invalid with PC after them (UNICORN.md)
            if previous == WFE:
                if self.engine.event_register:
                    self.engine.event_register = False
                else:
                    self._slice = SliceEnd("wfe")
                    self.cpu.end_slice_at_next_boundary()
            return True
        hw = struct.unpack("<H", uc.mem_read(pc, 2))[0]
        self._slice = SliceEnd("fault", f"undefined instruction 0x{hw:04X}", pc)
        return False

    def _on_bad_access(self, uc, access, address, size, value, user_data) -> bool:
        pc = self.cpu.pc()
        what = {UC_MEM_READ_UNMAPPED: "read from", UC_MEM_WRITE_UNMAPPED: "write to",
                UC_MEM_FETCH_UNMAPPED: "instruction fetch from", UC_MEM_FETCH_PROT: "instruction fetch from"
                }.get(access, "access to")
        region = "a non-executable region" if access == UC_MEM_FETCH_PROT else "an unmapped or reserved address"
        self._slice = SliceEnd("fault", f"bus fault: {what} 0x{address:08X} ({region})",
                               address if access in (UC_MEM_FETCH_UNMAPPED, UC_MEM_FETCH_PROT) else pc)
        return False

    # -- the loop ------------------------------------------------------------------
    def run(self, deadline_ps: Optional[int], max_instructions: Optional[int] = None) -> RunEnd:
        """Run until the guest exits, locks up, hits a stop, reaches ``deadline_ps``, or - for a
        debugger's single step - has executed ``max_instructions`` (an exception entry counts
        as a step: the core halts on the handler's first instruction, as C1.5 halting does)."""
        self.end = None
        self.watch_hit = None
        self._resuming_at, self._resumed_after = self.cpu.pc(), self.instructions
        self._step_until = None if max_instructions is None else self.instructions + max_instructions
        interrupted = []
        previous = signal.getsignal(signal.SIGINT)
        try:
            # Ending the slice matters when Python runs inside it (tracing hooks): the
            # handler runs there, and the slice would otherwise finish its whole budget.
            signal.signal(signal.SIGINT, lambda *a: (interrupted.append(1), self.end_slice()))
        except ValueError:          # not the main thread
            previous = None
        try:
            while self.end is None:
                if interrupted:
                    self.end = RunEnd(EndReason.INTERRUPTED, "interrupted (Ctrl-C)", pc=self.cpu.pc())
                    break
                if self.halt_requested is not None and self.halt_requested():
                    self.end = RunEnd(EndReason.HALTED, "halted by the debugger", pc=self.cpu.pc())
                    break
                self._step(deadline_ps)
        finally:
            if previous is not None:
                signal.signal(signal.SIGINT, previous)
        return self.end

    def _deadline_cycle(self, deadline_ps: Optional[int]) -> Optional[int]:
        return None if deadline_ps is None else self.clock.cycle_at(deadline_ps)

    def _step(self, deadline_ps: Optional[int]) -> None:
        self._fire_due_events()
        if self.reset_request:
            cause, self.reset_request = self.reset_request, None
            self.sleeping = False
            self.perform_reset(cause)
            return
        if self.end:
            return
        self.housekeeping()
        deadline = self._deadline = self._deadline_cycle(deadline_ps)
        if self.sleeping:
            if self.book.has_wakeup():
                self.sleeping = False
            else:
                self._advance_to_next_event(deadline, "core asleep (WFI/WFE) with no wake-up source")
                return
        if self._step_until is not None and self.instructions >= self._step_until:
            self.end = RunEnd(EndReason.STEP, "single step", pc=self.cpu.pc())
            return
        try:
            entered = self._take_exception()
        except Lockup as lockup:
            self.end = RunEnd(EndReason.LOCKUP, str(lockup), pc=lockup.pc)
            return
        if self.sleeping:
            return
        budget = MAX_SLICE
        if self._step_until is not None:
            if entered:
                self.end = RunEnd(EndReason.STEP, "single step", pc=self.cpu.pc())
                return
            budget = self._step_until - self.instructions
        nxt = self.scheduler.next_cycle()
        if nxt is not None:
            budget = min(budget, nxt - self.clock.cycles)
        if deadline is not None:
            if deadline <= self.clock.cycles:
                self.end = RunEnd(EndReason.TIME_LIMIT, "time limit reached", pc=self.cpu.pc())
                return
            budget = min(budget, deadline - self.clock.cycles)
        self._run_slice(max(budget, 1))

    def _fire_due_events(self) -> None:
        while True:
            ev = self.scheduler.pop_due(self.clock.cycles)
            if ev is None:
                return
            ev.action()

    def _advance_to_next_event(self, deadline: Optional[int], why: str) -> None:
        nxt = self.scheduler.next_cycle()
        target = nxt if deadline is None else (deadline if nxt is None else min(nxt, deadline))
        if target is None:
            self.end = RunEnd(EndReason.TIME_LIMIT, f"{why}; no time limit set", pc=self.cpu.pc())
            return
        if deadline is not None and target >= deadline and (nxt is None or nxt > deadline):
            self.clock.cycles = max(self.clock.cycles, deadline)
            self.end = RunEnd(EndReason.TIME_LIMIT, f"time limit reached ({why})", pc=self.cpu.pc())
            return
        self.clock.cycles = max(self.clock.cycles, target)

    def _take_exception(self) -> bool:
        number = self.book.next_to_take(self.cpu.primask())
        if number is None:
            return False
        self.sleeping = False
        self.engine.enter(number)
        return True

    def _run_slice(self, budget: int) -> None:
        cpu = self.cpu
        pc = cpu.pc()
        self._slice = SliceEnd()
        self._slice_start = self.clock.cycles
        self.in_slice = True
        error = None
        try:
            cpu.uc.emu_start(pc | 1, UNTIL_SENTINEL, count=budget)
        except UcError as exc:
            error = exc
        finally:
            self.in_slice = False
        counter, limit = cpu.counter(), cpu.slice_limit()
        end = self._slice
        if error is not None or end.kind in ("fault", "stop"):
            executed = counter - 1
        elif counter > limit:
            executed = counter - 1
        else:
            executed = counter
        self.instructions += executed
        self.slices += 1
        if self.progress and self.slices % PROGRESS_SLICES == 0:
            self.progress()
        self.clock.cycles += executed
        self._sync_clock_frequency()
        if error is not None and end.kind != "fault":
            end = SliceEnd("fault", f"{error}", cpu.pc())
        if end.kind == "count" and error is None and counter <= limit:
            last = struct.unpack("<H", cpu.uc.mem_read(cpu.pc() - 2, 2))[0]
            if cpu.pc() == UNTIL_SENTINEL:
                end = SliceEnd("fault", f"bus fault: instruction fetch from 0x{UNTIL_SENTINEL:08X}", UNTIL_SENTINEL)
            elif last == WFI:
                end = SliceEnd("wfi")
        self._finish_slice(end)

    def _finish_slice(self, end: SliceEnd) -> None:
        skip = self.polls.take_skip()
        if skip:
            self._skip_poll_iterations(skip)
        if self._bus_error is not None:
            reason, pc = self._bus_error
            self._bus_error = None
            end = SliceEnd("fault", f"bus error: {reason}", pc)
        if end.kind == "count":
            return
        if end.kind == "lockup":
            self.end = RunEnd(EndReason.LOCKUP, end.fault, pc=end.fault_pc)
        elif end.kind == "exit":
            self.end = RunEnd(EndReason.EXIT, "guest exited via semihosting", exit_status=end.exit_status,
                              pc=self.cpu.pc())
        elif end.kind == "stop" and end.fault == "BKPT":
            self.end = RunEnd(EndReason.HALTED, f"BKPT at 0x{self.cpu.pc():08X}", pc=self.cpu.pc())
        elif end.kind == "stop":
            self.end = RunEnd(EndReason.STOP_AT, f"stopped at 0x{self.cpu.pc():08X}", pc=self.cpu.pc())
        elif end.kind == "halt":
            hit = self.watch_hit
            self.end = RunEnd(EndReason.HALTED, f"{hit.kind} watchpoint at 0x{hit.address:08X}", pc=self.cpu.pc())
        elif end.kind in ("wfi", "wfe"):
            self.sleeping = not self.book.has_wakeup()
            self.polls.forget()
        elif end.kind == "svc":
            self._svc(end.fault_pc)
        elif end.kind == "fault":
            try:
                self.engine.fault(end.fault, end.fault_pc)
            except Lockup as lockup:
                self.end = RunEnd(EndReason.LOCKUP, str(lockup), pc=lockup.pc)

    def _svc(self, return_address: int) -> None:
        # SVC is synchronous: if it cannot be taken now it escalates to HardFault (B1.5.6)
        prio = self.book.priority(c071.SVCALL)
        if prio >= self.book.execution_priority(self.cpu.primask()):
            try:
                self.engine.fault("SVC executed while its priority is masked or not higher than the current one",
                                  return_address - 2)
            except Lockup as lockup:
                self.end = RunEnd(EndReason.LOCKUP, str(lockup), pc=lockup.pc)
            return
        self.book.pend(c071.SVCALL)

    def _skip_poll_iterations(self, iteration: int) -> None:
        nxt = self.scheduler.next_cycle()
        if nxt is None or self._deadline is not None and self._deadline < nxt:
            nxt = self._deadline
        if nxt is None:
            return
        count = (nxt - self.clock.cycles) // iteration
        if count > 0:
            self.clock.cycles += count * iteration
            self.instructions_skipped += count * iteration

    def _sync_clock_frequency(self) -> None:
        if not self.clock_dirty:
            return
        self.clock_dirty = False
        hz = self.clock_source()
        if hz != self.clock.hz and hz > 0:
            self.clock.set_frequency(hz, self.clock.cycles)
            self.scheduler.frequency_changed()
