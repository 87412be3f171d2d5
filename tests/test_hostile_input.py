"""Bad input at every boundary of the command line ends in one line and its exit status, never a traceback.

Each case is a reproducer from the fuzzing campaign (issue: hostile input never crashes
c071emu); the property-based targets live in tests/fuzz/.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import elf

REPO = Path(__file__).resolve().parents[1]


def test_a_json_report_into_a_closed_pipe_ends_quietly():
    """`c071emu run ... --json | head`: the reader is gone before the report is written."""
    emu = subprocess.Popen([sys.executable, "-m", "emulator", "run", str(elf("hello")), "--json"], cwd=REPO,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    emu.stdout.close()
    err = emu.stderr.read()
    emu.wait(timeout=60)
    assert "Traceback" not in err and "Error" not in err, err
    assert emu.returncode == 141


# -- no silent caps ---------------------------------------------------------------------------------------
def test_the_event_log_keeps_head_tail_and_every_fault_and_says_how_many_it_dropped():
    from emulator.trace import HeadTailLog, Trace, TraceEvent

    trace = Trace()
    trace.events = HeadTailLog(5, 5, trace.events._keep)
    for i in range(1000):
        trace.add(TraceEvent(i, i * 1e-3, "exception.entry", "SysTick: tick"))
        if i == 500:
            trace.add(TraceEvent(i, i * 1e-3, "exception.fault", "HardFault: erased vector"))
    kinds = [e.kind for e in trace.events]
    assert kinds.count("exception.fault") == 1 and len(kinds) == 11
    assert trace.events.dropped == 1001 - 11
    assert [e.cycle for e in trace.events][:5] == [0, 1, 2, 3, 4]
    assert [e.cycle for e in trace.events[-5:]] == [995, 996, 997, 998, 999]
    # positions stay absolute: "the events since the mark" after the middle was dropped
    mark = len(trace.events) - 3
    assert [e.cycle for e in trace.events[mark:]] == [997, 998, 999]


def test_a_run_whose_fault_comes_after_the_event_cap_still_reports_the_fault():
    from conftest import boot
    from emulator.cli import run_report
    from emulator.trace import HeadTailLog, decisive

    m = boot("double_fault")
    m.trace.events = HeadTailLog(2, 2, decisive)
    for i in range(100):                              # a long, eventful run before the fault
        m.event("gpio", f"PA5 toggled ({i})")
    end = m.run(max_seconds=1.0)
    report = run_report(m, end, 0.0, 3)
    assert report["events_dropped"] > 90
    assert any("exception.fault" in line for line in report["events"])


def test_the_usb_host_log_is_bounded():
    from emulator.host.usb_host import LOG_HEAD, LOG_TAIL, Transaction
    from emulator.host.usb_host import UsbHost

    from conftest import boot
    host = UsbHost(boot("usb_echo"))
    for i in range(LOG_HEAD + LOG_TAIL + 500):
        host.log.append(Transaction(i, "SOF"))
    assert sum(1 for _ in host.log) == LOG_HEAD + LOG_TAIL and host.log.dropped == 500
