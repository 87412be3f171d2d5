"""Ctrl-C during a run: whatever slice it lands in, the run ends "interrupted".

A served run (USB/IP, the USART bridge) or a debugger calls ``run`` again after every pause
(a time limit, a stop); an interrupt that arrived in the slice that also reached the pause
must still end the run, or the caller goes on serving and Ctrl-C is lost.
"""
from __future__ import annotations

import os
import signal

import pytest

from emulator.core.runloop import EndReason
from tests.conftest import boot


def ctrl_c() -> None:
    os.kill(os.getpid(), signal.SIGINT)


RUNS_FOREVER = "trigger_never"          # a HAL app on a TIM timebase that never jumps


@pytest.mark.parametrize("ps_before_the_limit", [0, 1, 50_000_000])
def test_ctrl_c_in_the_last_slice_before_the_time_limit_ends_the_run_interrupted(ps_before_the_limit):
    m = boot(RUNS_FOREVER)
    limit_s = 1e-3
    limit_ps = m.clock.time_ps() + int(limit_s * 1e12)
    m.scheduler.at_time_ps(limit_ps - ps_before_the_limit, ctrl_c, "Ctrl-C")
    end = m.run(max_seconds=limit_s)
    assert end.reason is EndReason.INTERRUPTED
    assert m.clock.time_ps() >= limit_ps - ps_before_the_limit        # it came, in the last slice


def test_ctrl_c_on_a_stop_ends_the_run_interrupted():
    m = boot(RUNS_FOREVER)
    m.run(max_seconds=2e-3)
    here = m.cpu.pc()
    m.scheduler.at_cycle(m.clock.cycles, ctrl_c, "Ctrl-C")
    assert m.run(max_seconds=1e-3, stop_at=here).reason is EndReason.INTERRUPTED


def test_an_interrupt_is_spent_by_the_run_it_ended():
    m = boot(RUNS_FOREVER)
    m.scheduler.at_cycle(m.clock.cycles + 1000, ctrl_c, "Ctrl-C")
    assert m.run(max_seconds=1e-3).reason is EndReason.INTERRUPTED
    assert m.run(max_seconds=1e-3).reason is EndReason.TIME_LIMIT


def test_the_handler_in_place_before_the_run_is_back_after_it():
    m = boot(RUNS_FOREVER)
    before = signal.getsignal(signal.SIGINT)
    m.run(max_seconds=1e-4)
    assert signal.getsignal(signal.SIGINT) is before
