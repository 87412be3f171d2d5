"""The run loop: Unicorn in instruction-count slices sized to the next event.

Between slices the loop fires due events, performs a requested reset, and lets the
exception engine take the highest-priority pending exception, so interrupts are
taken at exact instruction counts and a run is deterministic.  Nothing Python runs
per instruction: MMIO arrives through ``mmio_map`` callbacks, and code hooks exist
only while they can matter.

Unmask points.  A pending interrupt that PRIMASK masks must be taken exactly at the
boundary after the ``cpsie i`` / ``msr primask, rN`` that unmasks it.  Code is scanned
for those instructions ("unmask sites"), but in ``count=`` mode every installed code
hook slows every instruction (emulator/core/cpu.py), so the sites are *armed* - one
hook bounded to each site, its translation dropped - only while an exception is
pending that PRIMASK alone keeps out.  The state is re-evaluated at every slice
boundary; an exception that becomes pending-but-masked inside a slice ends that slice
so the next one starts armed.  Once the exception is taken (or no longer pending) the
hooks are deleted, which costs nothing further.  ``sev`` sites are hooked only if the
scanned code contains a ``wfe`` at all, the only instruction that reads the event
register.

Exception-state changes (NVIC enable/pend/priority, SCB pend bits, a peripheral's IRQ
line) end the slice only when they make an exception takeable now, or takeable-but-
masked while the sites are not armed; enabling or disabling an idle line costs nothing.
"""
from __future__ import annotations

import ctypes
import enum
import signal
import struct
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np
from unicorn import UcError, UC_HOOK_INTR, UC_HOOK_INSN_INVALID, UC_HOOK_MEM_UNMAPPED, UC_HOOK_CODE, \
    UC_HOOK_MEM_FETCH_PROT, UC_HOOK_MEM_READ, UC_HOOK_MEM_WRITE, UC_MEM_READ_UNMAPPED, UC_MEM_WRITE_UNMAPPED, \
    UC_MEM_FETCH_UNMAPPED, UC_MEM_FETCH_PROT
from unicorn.unicorn_py3.unicorn import uclib

from peripherals import c071
from peripherals.nvic import ExceptionBook

from .clock import Scheduler, SimClock
from .cpu import Cpu, callback_failed, remove_translations
from .exceptions import ExceptionEngine, ExceptionRecord, Lockup
from .polling import PollDetector

_uc_emu_start = uclib.uc_emu_start
_uc_hook_add, _uc_hook_del = uclib.uc_hook_add, uclib.uc_hook_del
# A code hook's C signature, with the engine as a plain pointer: the site hooks are added
# and deleted through the raw calls with one callback object each, because the binding's
# hook_add builds new ctypes wrappers every time (~25 us), and arming adds one per site.
_HOOK_CODE = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint64, ctypes.c_uint32, ctypes.c_void_p)
_HOOK_INTR = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint32, ctypes.c_void_p)   # every exception return

MAX_SLICE = 1_000_000
PROGRESS_SLICES = 64
UNTIL_SENTINEL = 0xE00F_FFF0          # never a legitimate fetch address (XN region)
INTR_SVC, INTR_BKPT, INTR_UNALIGNED, INTR_EXCEPTION_EXIT = 2, 7, 4, 8
WFE, YIELD, WFI = 0xBF20, 0xBF10, 0xBF30
CPSIE_I, MSR_PRIMASK_SECOND, SEV = 0xB662, 0x8810, 0xBF40   # `msr primask, rN` = 0xF38n 0x8810
B_SELF = b"\xfe\xe7"                 # `b .` (0xE7FE)
SPIN_EVENTS = 64                     # events passed on `b .` between two looks at interruptions


class EndReason(enum.Enum):
    EXIT = "exit"
    LOCKUP = "lockup"
    TIME_LIMIT = "time-limit"
    INTERRUPTED = "interrupted"
    STRICT = "strict"
    STOP_AT = "stop-at"
    STEP = "step"                # ``run(max_instructions=…)`` executed its instructions
    HALTED = "halted"            # a debugger asked (Ctrl-C in gdb), a watchpoint hit, or a BKPT under a debugger


# Ends after which a caller may run on; every other end is final for the guest.
PAUSES = frozenset({EndReason.TIME_LIMIT, EndReason.STOP_AT, EndReason.STEP, EndReason.HALTED})


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
    kind: str = "count"          # count | fault | lockup | wfi | wfe | svc | exit | stop | halt
    fault: str = ""
    fault_pc: int = 0            # fault: faulting PC; svc: return address
    exit_status: int = 0


COUNT_END = SliceEnd()          # the usual end of a slice: its budget ran out (shared, never changed)


class RunLoop:
    def __init__(self, cpu: Cpu, clock: SimClock, scheduler: Scheduler, book: ExceptionBook,
                 vtor: Callable[[], int], on_exception: Callable[[ExceptionRecord], None]) -> None:
        self.cpu = cpu
        self.clock = clock
        self.scheduler = scheduler
        self.book = book
        self.engine = ExceptionEngine(cpu, book, vtor, self.instruction_cycle, on_exception)
        self.polls = PollDetector(cpu.state, self.instruction_cycle, cpu.pc)
        self.end: Optional[RunEnd] = None
        self.sleeping = False
        self.reset_request: Optional[str] = None
        self.semihosting: Callable[[], Optional[int]] = lambda: None
        self.perform_reset: Callable[[str], None] = lambda cause: None
        self.clock_source: Callable[[], int] = lambda: clock.hz
        self.sleep_on_exit: Callable[[], bool] = lambda: False
        # The machine's say over a sleeping core, asked once per step while it sleeps: True when
        # a deep-sleep mode (Stop, Standby) owns the time, False for plain Sleep (ARMv6-M B1.5.19).
        self.deep_sleep: Callable[[Optional[int]], bool] = lambda deadline_ps: False
        self.sleep_kind = "wfi"                                 # the instruction the core sleeps in
        self.progress: Optional[Callable[[], None]] = None      # called every PROGRESS_SLICES slices
        self.housekeeping: Callable[[], None] = lambda: None    # the machine's work between slices
        # Told when a slice starts (its first cycle) and ends: state kept outside Python, such
        # as the native bus path's view of the slice (emulator/core/native/bus.py).
        self.slice_started: Optional[Callable[[int], None]] = None
        self.slice_ended: Optional[Callable[[], None]] = None
        self.run_started: Optional[Callable[[], None]] = None     # once per run(): state Python may have set directly
        self.clock_dirty = True                                 # HCLK must be re-read from the clock tree
        self._bus_error: Optional[tuple[str, int]] = None
        self.instructions = 0
        self.instructions_skipped = 0
        self.slices = 0
        self._deadline: Optional[int] = None
        # the current slice's first cycle, moved on by a poll skip taken inside the slice; a
        # ctypes cell, so that the native bus reads the same one (emulator/core/native)
        self.slice_start_cell = ctypes.c_uint64(0)
        self.in_slice = False
        self.firing: Optional[str] = None        # the scheduled event whose action is running
        self._slice = SliceEnd()
        self._stop_hooks: dict[int, tuple[int, int]] = {}   # first address -> (hook handle, last address)
        self._hooked_sites: set[int] = set()        # every scanned site (unmask or sev), hooked or not
        # fast paths (False: the reference behaviour the equivalence tests compare against):
        # unmask hooks armed only while needed, exception-state changes filtered
        self.fast_paths = True
        self._unmask_sites: list[int] = []          # scanned `cpsie i` / `msr primask` addresses
        self._armed: list[int] = []                 # hook handles while the unmask sites are armed
        self._sev_sites: list[int] = []
        self._wfe_seen = False                      # a `wfe` exists in scanned code: sev sites are hooked
        self.unmask_armings = 0
        self.skips_in_slice = 0                     # poll skips taken without ending their slice
        self._resuming_at, self._resumed_after = -1, -1
        self._step_until: Optional[int] = None
        # the last slice ran to its budget, or an exception returned onto `b .`: the core may be spinning
        self._spin_suspected = self._returned_to_spin = False
        self._not_spinning: set[int] = set()      # addresses seen holding something else than `b .`
        # debugger support (emulator/gdb): all idle unless a debugger attaches
        self.debugger_attached = False          # a BKPT halts instead of faulting
        self.halt_requested: Optional[Callable[[], bool]] = None    # polled between slices
        # Ctrl-C ends a run with INTERRUPTED for a caller that reports it (`c071emu run`, its
        # servers and debugger); for any other (a host flow, a diagnosis, the bench) it raises
        # KeyboardInterrupt once the slice has ended, rather than look like a device gone quiet.
        self.interrupts_end_runs = False
        self.watch_hit: Optional[WatchHit] = None
        self._watch_hooks: dict[tuple[int, int, str], int] = {}
        book.on_change = self._exception_state_changed
        uc = cpu.uc
        self._unmask_hook = self._raw_code_hook(self._on_unmask_site)
        self._sev_hook = self._raw_code_hook(self._on_sev)
        on_interrupt = self._on_interrupt

        def interrupt(handle, intno, user_data):
            try:
                on_interrupt(uc, intno, None)
            except BaseException as exc:
                callback_failed(uc, exc)
        self._interrupt_hook = _HOOK_INTR(interrupt)
        handle = ctypes.c_size_t()
        status = _uc_hook_add(cpu.handle, ctypes.byref(handle), UC_HOOK_INTR, self._interrupt_hook, None, 1, 0)
        if status:
            raise UcError(status)
        uc.hook_add(UC_HOOK_INSN_INVALID, self._on_invalid_instruction)
        uc.hook_add(UC_HOOK_MEM_UNMAPPED | UC_HOOK_MEM_FETCH_PROT, self._on_bad_access)

    # -- time as seen from inside a slice --------------------------------------
    def instruction_cycle(self) -> int:
        """Cycle of the instruction executing now (or the next one, between slices)."""
        if self.in_slice:
            return self.slice_start_cell.value + max(self.cpu.counter() - 1, 0)
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

    def event_scheduled(self, cycle: int) -> None:
        """An event was put on the queue from inside a slice: the slice must not run past it
        (its budget was sized to the events known at its start); a later event is reached by
        the budget of a following slice anyway."""
        if not self.in_slice:
            return
        if not self.fast_paths:
            self.cpu.end_slice_at_next_boundary()
            return
        # Shrink the budget so the slice ends exactly where the event falls, rather than
        # ending it now and starting a slice sized to the event at the boundary: the same
        # instructions run before the event, with one slice less.
        cpu = self.cpu
        limit = max(cycle - self.slice_start_cell.value, cpu.counter())
        if limit < cpu.slice_limit():
            cpu.set_slice_limit(limit)

    # -- code scanning for the bounded hooks -------------------------------------
    def watch_code(self, base: int, code: bytes) -> None:
        """Record the instructions in ``code`` that unmask interrupts or signal an event.

        Data that happens to look like one of them only costs a harmless check when
        executed, which data never is.  Code copied into SRAM at run time is not
        scanned: an unmask there takes effect at the end of the slice instead.
        """
        halfwords = np.frombuffer(code[: len(code) // 2 * 2], dtype="<u2")
        if not self._wfe_seen and (halfwords == WFE).any():
            self._wfe_seen = True
            for address in self._sev_sites:
                self._hook_site(address, self._sev_hook)
        msr_primask = np.zeros(len(halfwords), dtype=bool)
        msr_primask[:-1] = ((halfwords[:-1] & 0xFFF0) == 0xF380) & (halfwords[1:] == MSR_PRIMASK_SECOND)
        for i in np.flatnonzero((halfwords == CPSIE_I) | msr_primask | (halfwords == SEV)).tolist():
            hw = int(halfwords[i])
            address = base + 2 * i
            if address in self._hooked_sites:
                continue
            if hw == CPSIE_I or msr_primask[i]:
                self._unmask_sites.append(address)
                if not self.fast_paths:
                    self._hook_site(address, self._unmask_hook)     # the reference: hooked for good
                elif self._armed:
                    self._armed.append(self._hook_site(address, self._unmask_hook))
            elif hw == SEV:
                self._sev_sites.append(address)
                if self._wfe_seen or not self.fast_paths:
                    self._hook_site(address, self._sev_hook)
            else:
                continue
            self._hooked_sites.add(address)

    def _raw_code_hook(self, callback):
        uc = self.cpu.uc

        def hook(handle, address, size, user_data):
            try:
                callback(uc, address, size, None)
            except BaseException as exc:
                callback_failed(uc, exc)
        return _HOOK_CODE(hook)

    def _hook_site(self, address: int, hook) -> int:
        handle = ctypes.c_size_t()
        status = _uc_hook_add(self.cpu.handle, ctypes.byref(handle), UC_HOOK_CODE, hook, None, address, address)
        if status:
            raise UcError(status)
        remove_translations(self.cpu.uc, address, address + 4)     # a hook must exist before its code is translated
        return handle.value

    def _update_unmask_hooks(self) -> None:
        """Arm the unmask sites while an exception is pending that only PRIMASK keeps out."""
        book = self.book
        wanted = bool(book.pending) and bool(self._unmask_sites) and book.next_to_take(primask=0) is not None \
            and self.cpu.primask() == 1
        if wanted and not self._armed:
            self.unmask_armings += 1
            self._armed = [self._hook_site(address, self._unmask_hook) for address in self._unmask_sites]
        elif self._armed and not wanted:
            for handle in self._armed:
                _uc_hook_del(self.cpu.handle, handle)    # a deleted hook no longer costs, translations may stay
            self._armed = []

    def _exception_state_changed(self) -> None:
        """ExceptionBook.on_change, inside a slice: end it only if an exception became takeable
        (B1.5.4: pending, enabled, priority above the execution priority), or takeable but
        masked by PRIMASK while the unmask sites are not armed (the next slice arms them)."""
        if not self.in_slice:
            return
        if not self.fast_paths:
            self.cpu.end_slice_at_next_boundary()
            return
        book = self.book
        if not book.pending:
            return
        n = book.highest_pending()
        if n is None or book.priority(n) >= book.execution_priority(0):
            return
        if self._armed and self.cpu.primask():
            return              # an armed unmask site ends the slice when PRIMASK clears
        self.cpu.end_slice_at_next_boundary()

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
        self._stop_hooks[address] = (uc.hook_add(UC_HOOK_CODE, self._on_stop_hook, None, address, address), address)
        remove_translations(uc, address, address + 2)

    def stop_on_entry(self, lo: int, hi: int) -> None:
        """Stop before the first instruction executed in [lo, hi] - by a branch, a return or an
        exception - however it is reached (jump detection).  The hook is bounded to the range,
        so code elsewhere runs at full speed."""
        uc = self.cpu.uc
        self._stop_hooks[lo] = (uc.hook_add(UC_HOOK_CODE, self._on_stop_hook, None, lo, hi), hi)
        remove_translations(uc, lo, hi + 1)

    def clear_stops(self) -> None:
        for address, (h, _) in self._stop_hooks.items():
            self.cpu.uc.hook_del(h)
            remove_translations(self.cpu.uc, address, address + 2)
        self._stop_hooks.clear()

    def remove_stop(self, address: int) -> None:
        hook = self._stop_hooks.pop(address, None)
        if hook is not None:
            self.cpu.uc.hook_del(hook[0])
            remove_translations(self.cpu.uc, address, address + 2)

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
            elif self.fast_paths:
                self._exception_state_changed()      # the return lowered the execution priority
            elif self.book.next_to_take(self.cpu.primask()) is not None:
                self.cpu.end_slice_at_next_boundary()
            if self._spinning():                     # back onto `b .`: the step passes the time (_step)
                self._returned_to_spin = True
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
        previous = struct.unpack("<H", self.cpu.mem_read(pc - 2, 2))[0] if pc & ~3 else 0
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
        if self.run_started is not None:
            self.run_started()
        self._resuming_at, self._resumed_after = self.cpu.pc(), self.instructions
        self._step_until = None if max_instructions is None else self.instructions + max_instructions
        interrupted = []
        previous = signal.getsignal(signal.SIGINT)
        if previous is signal.SIG_IGN:
            previous = None         # a process that leaves Ctrl-C to its parent (a replay, a sweep worker)
        else:
            try:
                # Ending the slice matters when Python runs inside it (tracing hooks): the
                # handler runs there, and the slice would otherwise finish its whole budget.
                signal.signal(signal.SIGINT, lambda *a: (interrupted.append(1), self.end_slice()))
            except ValueError:      # not the main thread
                previous = None
        try:
            while self.end is None and not interrupted:
                if self.halt_requested is not None and self.halt_requested():
                    self.end = RunEnd(EndReason.HALTED, "halted by the debugger", pc=self.cpu.pc())
                    break
                self._step(deadline_ps)
        finally:
            if previous is not None:
                signal.signal(signal.SIGINT, previous)
        if interrupted:
            if not self.interrupts_end_runs:
                raise KeyboardInterrupt
            if self.end is None or self.end.reason in PAUSES:
                # also when it came in the slice that reached a pause: a caller that goes on
                # after a pause (a served run, a debugger) would otherwise never hear of it
                self.end = RunEnd(EndReason.INTERRUPTED, "interrupted (Ctrl-C)", pc=self.cpu.pc())
        return self.end

    def _deadline_cycle(self, deadline_ps: Optional[int]) -> Optional[int]:
        return None if deadline_ps is None else self.clock.cycle_at(deadline_ps)

    def _step(self, deadline_ps: Optional[int]) -> None:
        if self.scheduler.due(self.clock.cycles):
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
            if self.deep_sleep(deadline_ps):
                return
            if self.wake_pending():
                self.sleeping = False
                self.engine.event_register = False      # a WFE woken by an event consumes it (B1.5.18)
            else:
                self._advance_to_next_event(deadline, "core asleep (WFI/WFE)")
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
        if self.fast_paths and (self._armed or self.book.enabled_pending()):
            self._update_unmask_hooks()
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
        budget = max(budget, 1)
        if self._spin_suspected and not entered and self._spinning():
            # `b .` (a fault handler's or an idle `while (1);`): nothing but an exception moves
            # the core on, and one can only come with an event, so the slice's instructions
            # would all be this one - the time passes without executing them
            self._pass_spin(budget, deadline)
            return
        self._run_slice(budget)

    def _pass_spin(self, budget: int, deadline: Optional[int]) -> None:
        """Let ``budget`` cycles pass on `b .`, and go on from event to event while the events
        leave the exceptions as they were (pending, enabled: what decides, with the active
        stack and PRIMASK that a spinning core cannot change, whether one is taken) and the
        core still spins: ``_step`` would find nothing else to do at each of them.  A few
        events at a time, so that an interruption (Ctrl-C, a debugger) is still seen."""
        clock, scheduler, book, cpu = self.clock, self.scheduler, self.book, self.cpu
        for _ in range(SPIN_EVENTS):
            clock.cycles += budget
            self.instructions_skipped += budget
            if not scheduler.due(clock.cycles):
                return
            before = book.pending, book.enabled
            self._fire_due_events()
            if self.reset_request or self.end or self.clock_dirty or self.sleeping or self._bus_error \
                    or (book.pending, book.enabled) != before:
                return
            self.housekeeping()
            nxt = scheduler.next_cycle()
            if nxt is None or deadline is not None and deadline <= nxt:
                return
            if cpu.mem_read(cpu.pc() & ~1, 2) != B_SELF:      # an event rewrote the code there
                return
            budget = min(MAX_SLICE, nxt - clock.cycles)
            if budget < 1:
                return

    def _spinning(self) -> bool:
        """The core sits on a branch to itself and nothing watches single instructions
        there (a stop, a watchpoint, a debugger's step)."""
        if self._step_until is not None or self._watch_hooks:
            return False
        pc = self.cpu.pc() & ~1
        if pc in self._not_spinning or any(lo <= pc <= hi for lo, (_, hi) in self._stop_hooks.items()):
            return False
        try:
            spinning = self.cpu.mem_read(pc, 2) == B_SELF
        except UcError:
            return False
        if not spinning and len(self._not_spinning) < 4096:
            # remembered: slices end at few places (a tick lands in the same loop); code that
            # changes later into `b .` is only not skipped, never skipped wrongly
            self._not_spinning.add(pc)
        return spinning

    def wake_pending(self) -> bool:
        """A sleeping core wakes on an interrupt that would preempt, and a WFE also on an event
        (an EXTI event line, RXEV) that set the event register while it slept (B1.5.18-19)."""
        return self.book.has_wakeup() or self.sleep_kind == "wfe" and self.engine.event_register

    def _fire_due_events(self) -> None:
        while True:
            ev = self.scheduler.pop_due(self.clock.cycles)
            if ev is None:
                return
            self.firing = ev.name           # what a model's hardware-side change is attributed to
            ev.action()
            self.firing = None

    def _advance_to_next_event(self, deadline: Optional[int], why: str) -> None:
        nxt = self.scheduler.next_cycle()
        if nxt is None:
            why += " with no wake-up source"    # nothing scheduled: only a debugger or host can wake it
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
        if not self.book.enabled_pending():
            return False
        number = self.book.next_to_take(self.cpu.primask())
        if number is None:
            return False
        self.sleeping = False
        self.engine.enter(number)
        return True

    def poll_confirmed(self) -> None:
        """The access running now confirmed a poll loop at a fixed point (PollDetector, here or
        natively).  When this slice ends right at the event or deadline the skip would run up
        to (the budget was sized to it, nothing asked to end the slice sooner), the skip is
        taken here: the slice's first cycle and its instruction limit move on by the skipped
        iterations, and the slice runs the rest of the last iteration up to the event - the
        same instructions and cycles as ending the slice, skipping between slices and
        running the rest in a slice of its own.  Otherwise the slice ends after this
        instruction and the skip is taken between slices (``_finish_slice``)."""
        cpu, polls = self.cpu, self.polls
        counter, limit, start = cpu.counter(), cpu.slice_limit(), self.slice_start_cell.value
        target = self.scheduler.next_cycle()
        if target is None or self._deadline is not None and self._deadline < target:
            target = self._deadline
        if not self.fast_paths or target is None or start + limit != target or self._bus_error is not None:
            cpu.end_slice_at_next_boundary()
            return
        iteration = polls.take_skip()
        self.skips_in_slice += 1
        count = (target - (start + counter)) // iteration
        if count > 0:
            skipped = count * iteration
            self.slice_start_cell.value = start + skipped
            cpu.set_slice_limit(limit - skipped)
            self.instructions_skipped += skipped

    def _run_slice(self, budget: int) -> None:
        cpu = self.cpu
        pc = cpu.pc()
        self._slice = COUNT_END
        start = self.slice_start_cell.value = self.clock.cycles
        if self.slice_started is not None:
            self.slice_started(start)
        self.in_slice = True
        error = None
        uc = cpu.uc
        uc._hook_exception = None
        try:
            # uc_emu_start without the binding's wrapper; callbacks record their exceptions
            # on the Uc object as the binding's own wrappers do
            status = _uc_emu_start(cpu.handle, pc | 1, UNTIL_SENTINEL, 0, budget)
        finally:
            self.in_slice = False
            if self.slice_ended is not None:
                self.slice_ended()
        if status:
            error = UcError(status)
        elif uc._hook_exception is not None:
            if not isinstance(uc._hook_exception, UcError):
                raise uc._hook_exception
            error = uc._hook_exception
        counter, limit = cpu.counter(), cpu.slice_limit()
        end = self._slice
        if error is not None or end.kind in ("fault", "stop"):
            executed = counter - 1
        elif counter > limit:
            executed = counter - 1
        else:
            executed = counter
        self._spin_suspected = self._returned_to_spin or executed == budget and end is COUNT_END and error is None
        self._returned_to_spin = False
        self.instructions += executed
        self.slices += 1
        if self.progress and self.slices % PROGRESS_SLICES == 0:
            self.progress()
        self.clock.cycles = self.slice_start_cell.value + executed       # with the skips taken in the slice
        if self.clock_dirty:
            self._sync_clock_frequency()
        if error is not None and end.kind != "fault":
            end = SliceEnd("fault", f"{error}", cpu.pc())
        if end.kind == "count" and error is None and counter <= limit:
            last = struct.unpack("<H", cpu.mem_read(cpu.pc() - 2, 2))[0]
            if cpu.pc() == UNTIL_SENTINEL:
                end = SliceEnd("fault", f"bus fault: instruction fetch from 0x{UNTIL_SENTINEL:08X}", UNTIL_SENTINEL)
            elif last == WFI:
                end = SliceEnd("wfi")
        self._finish_slice(end)

    def _finish_slice(self, end: SliceEnd) -> None:
        if self.polls.skip_ready():
            self._skip_poll_iterations(self.polls.take_skip())
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
            self.sleep_kind = end.kind
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
