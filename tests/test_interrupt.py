"""Ctrl-C: whatever it lands in, it ends the work with one line and status 130.

- A run: a served run (USB/IP, the USART bridge) or a debugger calls ``run`` again after
  every pause (a time limit, a stop); an interrupt that arrived in the slice that also
  reached the pause must still end the run, or the caller goes on serving and Ctrl-C is lost.
- Forked replays: a terminal's Ctrl-C reaches the whole process group; only the parent acts
  on it, and no replay may outlive it or come back into the parent's code.
- Start-up: importing Unicorn, numpy and the models takes a few tenths of a second.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest

from emulator.__main__ import run as entry_point
from emulator.analysis.replay import _run_child, run_forked
from emulator.core.runloop import EndReason
from tests.conftest import boot

REPO = Path(__file__).resolve().parents[1]
ELF = REPO / "images" / "elf"


def ctrl_c() -> None:
    os.kill(os.getpid(), signal.SIGINT)


def reporting(m):
    """A machine whose runs end INTERRUPTED on Ctrl-C, as `c071emu run` sets it up."""
    m.loop.interrupts_end_runs = True
    return m


RUNS_FOREVER = "trigger_never"          # a HAL app on a TIM timebase that never jumps


@pytest.mark.parametrize("ps_before_the_limit", [0, 1, 50_000_000])
def test_ctrl_c_in_the_last_slice_before_the_time_limit_ends_the_run_interrupted(ps_before_the_limit):
    m = reporting(boot(RUNS_FOREVER))
    limit_s = 1e-3
    limit_ps = m.clock.time_ps() + int(limit_s * 1e12)
    m.scheduler.at_time_ps(limit_ps - ps_before_the_limit, ctrl_c, "Ctrl-C")
    end = m.run(max_seconds=limit_s)
    assert end.reason is EndReason.INTERRUPTED
    assert m.clock.time_ps() >= limit_ps - ps_before_the_limit        # it came, in the last slice


def test_ctrl_c_on_a_stop_ends_the_run_interrupted():
    m = reporting(boot(RUNS_FOREVER))
    m.run(max_seconds=2e-3)
    here = m.cpu.pc()
    m.scheduler.at_cycle(m.clock.cycles, ctrl_c, "Ctrl-C")
    assert m.run(max_seconds=1e-3, stop_at=here).reason is EndReason.INTERRUPTED


def test_an_interrupt_is_spent_by_the_run_it_ended():
    m = reporting(boot(RUNS_FOREVER))
    m.scheduler.at_cycle(m.clock.cycles + 1000, ctrl_c, "Ctrl-C")
    assert m.run(max_seconds=1e-3).reason is EndReason.INTERRUPTED
    assert m.run(max_seconds=1e-3).reason is EndReason.TIME_LIMIT


@pytest.mark.parametrize("ps_before_the_limit", [0, 50_000_000])
def test_without_a_report_ctrl_c_in_a_run_raises_keyboard_interrupt_at_the_slice_end(ps_before_the_limit):
    # a host flow, a diagnosis or the bench must not take an interrupted run for a device gone quiet
    m = boot(RUNS_FOREVER)
    limit_ps = m.clock.time_ps() + 10**9
    m.scheduler.at_time_ps(limit_ps - ps_before_the_limit, ctrl_c, "Ctrl-C")
    with pytest.raises(KeyboardInterrupt):
        m.run(max_seconds=1e-3)
    assert m.clock.time_ps() >= limit_ps - ps_before_the_limit
    assert m.run(max_seconds=1e-3).reason is EndReason.TIME_LIMIT      # the machine runs on


def test_the_handler_in_place_before_the_run_is_back_after_it():
    m = boot(RUNS_FOREVER)
    before = signal.getsignal(signal.SIGINT)
    m.run(max_seconds=1e-4)
    assert signal.getsignal(signal.SIGINT) is before


def test_a_process_that_ignores_ctrl_c_keeps_ignoring_it_through_a_run():
    # forked replays and sweep workers leave Ctrl-C to their parent
    m = boot(RUNS_FOREVER)
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        m.scheduler.at_cycle(m.clock.cycles + 1000, ctrl_c, "Ctrl-C")
        assert m.run(max_seconds=1e-3).reason is EndReason.TIME_LIMIT
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)


# -- forked replays --------------------------------------------------------------------------------
def test_a_failed_replay_ends_the_replays_still_running(tmp_path):
    marker = tmp_path / "pid"

    def fail_once_the_other_runs():
        while not marker.exists():
            time.sleep(0.01)
        raise ValueError("boom")

    def run_long():
        written = tmp_path / "pid.tmp"
        written.write_text(str(os.getpid()))
        written.rename(marker)                      # whole, or not there: the other may be killed at once
        time.sleep(60)

    with pytest.raises(RuntimeError, match="boom"):
        run_forked([fail_once_the_other_runs, run_long], parallel=2)
    with pytest.raises(ProcessLookupError):
        os.kill(int(marker.read_text()), 0)         # killed and reaped, not left running


def test_a_replay_that_cannot_leave_its_result_ends_in_its_own_code():
    pid = os.fork()
    if pid == 0:
        try:
            _run_child(lambda: 1, "/nonexistent/c071emu/result.pickle", None)
        finally:
            os._exit(99)                             # reached only if the child came back
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 1


# -- the command line ------------------------------------------------------------------------------
def _group_alive(pgid: int) -> list[str]:
    """Processes of the group still running (zombies waiting for init do not count)."""
    out = subprocess.run(["ps", "-o", "pid=,stat=", "-g", str(pgid)], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if line.split()[1][0] != "Z"]


def test_ctrl_c_while_a_diagnosis_runs_replays_ends_it_with_one_line_and_no_replay_left():
    proc = subprocess.Popen([sys.executable, "-m", "emulator", "diagnose", str(ELF / "jump_forum_v1.elf"),
                             "--trigger", "usb-control:0x40,0x42"], cwd=REPO, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        for _ in range(3000):                         # until the first replays are forked
            children = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout
            if children.split() or proc.poll() is not None:
                break
            time.sleep(0.01)
        assert children.split(), "the diagnosis forked no replay"
        os.killpg(proc.pid, signal.SIGINT)           # what a terminal's Ctrl-C does
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert proc.returncode == 130
    assert "Traceback" not in out and out.strip() == "c071emu: interrupted", out
    for _ in range(100):
        if not _group_alive(proc.pid):
            break
        time.sleep(0.05)
    assert _group_alive(proc.pid) == []


def test_ctrl_c_while_the_command_line_starts_is_one_line_and_status_130(monkeypatch, capsys):
    class Interrupted(types.ModuleType):
        def __getattr__(self, name):
            raise KeyboardInterrupt
    monkeypatch.setitem(sys.modules, "emulator.cli", Interrupted("emulator.cli"))
    assert entry_point() == 130
    assert capsys.readouterr().err.strip() == "c071emu: interrupted"


def _interrupt_when_running(args: list[str], ready) -> tuple[int, str]:
    """Start ``c071emu ARGS`` in its own process group, send Ctrl-C once ``ready(proc)``."""
    proc = subprocess.Popen([sys.executable, "-m", "emulator", *args], cwd=REPO, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        for _ in range(3000):
            if ready(proc) or proc.poll() is not None:
                break
            time.sleep(0.01)
        assert proc.poll() is None, "it ended before it was interrupted"
        os.killpg(proc.pid, signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    return proc.returncode, out


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_ctrl_c_during_a_scenario_check_ends_it_instead_of_failing_the_scenario():
    # the USART flow of a BOOT0 scenario: an interrupted run must not read as "no answer"
    status, out = _interrupt_when_running(["check", str(REPO / "scenarios" / "boot0_usart.toml")],
                                          lambda proc: _cpu_seconds(proc.pid) > 0.6)
    assert status == 130 and out.strip() == "c071emu: interrupted", out


def test_ctrl_c_while_a_pyusb_tool_runs_in_process_is_one_line_and_130(monkeypatch, capsys):
    from emulator.host import pyusb_run

    def tool_interrupted(argv=None):
        raise KeyboardInterrupt
    monkeypatch.setattr(pyusb_run, "main", tool_interrupted)
    assert pyusb_run._main_interruptible() == 130
    assert capsys.readouterr().err.strip() == "pyusb_run: interrupted"
