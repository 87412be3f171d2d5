"""Traces and waveforms of ``c071emu run``: which observers a run gets, where they write,
and closing them on every end of the run (exit, lockup, time limit, Ctrl-C, an error).

- ``--trace events``: every named event (resets, clock switches, flash operations) as
  ``TraceEvent.line()`` (emulator/trace.py); to the trace file, or stderr without one;
- ``--trace exc``: exception entry/return/fault lines (``exception_log.py``); to the
  trace file, or stderr without one;
- ``--trace mmio``: one line per peripheral register access with the register's name
  and decoded fields, written by the bus (``MachineServices._log_mmio`` in
  emulator/services.py); needs a trace file;
- ``--trace insn``: one line per executed instruction (``instructions.py``); needs a
  trace file;
- ``--vcd OUT.vcd [--vcd-signals SPEC]``: a waveform (``waveform.py``).

All line traces share one file and one cycle column, so they interleave in the order
things happened.  Nothing here is installed unless asked for.
"""
from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Optional, TextIO

from .exception_log import ExceptionLog
from .instructions import InstructionTrace
from .waveform import SignalError, Waveform, select_registers

if TYPE_CHECKING:
    from ..core.runloop import RunEnd
    from ..machine import Machine

TRACE_KINDS = ("events", "exc", "mmio", "insn")
NEEDS_FILE = ("mmio", "insn")


class TraceSetupError(Exception):
    """Bad ``--trace``/``--vcd`` options; the message says which and what to do."""


def parse_trace_kinds(text: str) -> list[str]:
    kinds = [k.strip() for k in (text or "").split(",") if k.strip()]
    unknown = [k for k in kinds if k not in TRACE_KINDS]
    if unknown:
        raise TraceSetupError(f"--trace: unknown kind {', '.join(map(repr, unknown))}; "
                              f"choose from {', '.join(TRACE_KINDS)} (comma-separated)")
    return kinds


class TraceSession:
    """The observers of one run, opened together and closed together."""

    def __init__(self, machine: "Machine") -> None:
        self.m = machine
        self.out: Optional[TextIO] = None            # the --trace-file
        self.instructions: Optional[InstructionTrace] = None
        self.waveform: Optional[Waveform] = None
        self.exceptions: Optional[ExceptionLog] = None
        self.closed = False

    @classmethod
    def open(cls, machine: "Machine", trace: str, trace_file: Optional[str], vcd: Optional[str] = None,
             vcd_signals: Optional[str] = None) -> "TraceSession":
        """Check every option before opening any file, then attach what was asked for."""
        kinds = parse_trace_kinds(trace)
        without_file = [k for k in kinds if k in NEEDS_FILE]
        if without_file and not trace_file:
            raise TraceSetupError(f"--trace {','.join(without_file)} writes a line per "
                                  f"{'instruction' if 'insn' in without_file else 'register access'}: "
                                  "give it a file with --trace-file FILE")
        if vcd_signals is not None and not vcd:
            raise TraceSetupError("--vcd-signals chooses what --vcd OUT.vcd records: give --vcd too")
        try:
            registers = select_registers(machine, vcd_signals) if vcd else []
        except SignalError as exc:
            raise TraceSetupError(str(exc)) from None
        session = cls(machine)
        try:
            if trace_file:
                session.out = open(trace_file, "w", buffering=1 << 20)
            if vcd:
                session.waveform = Waveform(machine, vcd, registers)
        except OSError as exc:
            session.close()
            raise TraceSetupError(f"cannot write {exc.filename}: {exc.strerror}") from None
        session._attach(kinds)
        return session

    def _attach(self, kinds: list[str]) -> None:
        m, out = self.m, self.out
        line_out = out or sys.stderr
        if "mmio" in kinds:
            m.trace.mmio_out = out
        if "exc" in kinds:
            self.exceptions = ExceptionLog(m, line_out)
            self.exceptions.attach()
        if "events" in kinds:
            with_exceptions = "exc" not in kinds         # the exception log says more about them

            def echo(line: str) -> None:
                if with_exceptions or "exception." not in line:
                    line_out.write(line + "\n")
            m.trace.echo = echo
        if "insn" in kinds:
            self.instructions = InstructionTrace(m, out)
            self.instructions.attach()
        if self.waveform:
            self.waveform.attach()

    def close(self, end: Optional["RunEnd"] = None) -> None:
        """Flush and close everything; safe to call twice and after a failure."""
        if self.closed:
            return
        self.closed = True
        m = self.m
        if self.instructions:
            self.instructions.detach()
        m.trace.mmio_out = None
        m.trace.echo = None
        if self.exceptions and self.exceptions.record in m.trace.exception_observers:
            m.trace.exception_observers.remove(self.exceptions.record)
        try:
            if self.waveform:
                self.waveform.close()
        finally:
            if self.out:
                if end is not None:
                    self.out.write(f"{m.clock.cycles:>12} . run ended: {end.reason.value} ({end.detail})\n")
                self.out.close()
