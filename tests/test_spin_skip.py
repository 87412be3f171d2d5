"""A core spinning on `b .` lets the time pass to the next event without executing it.

The run loop does this only after a slice that ran its whole budget ends on a branch to
itself; the run must be the same as executing every iteration: the same interrupts at
the same cycles, the same registers, the same time - only fewer instructions executed.
"""
from __future__ import annotations

import struct

import pytest

from emulator.core.runloop import RunLoop
from tests.conftest import boot

TABLE, CODE, HANDLER = 0x2000_1000, 0x2000_1100, 0x2000_1200
VTOR, SYST_CSR, SYST_RVR, SYST_CVR = 0xE000_ED08, 0xE000_E010, 0xE000_E014, 0xE000_E018
B_SELF, ADDS_R4_1, BX_LR = 0xE7FE, 0x3401, 0x4770
SYSTICK = 15


def spin_with_a_ticking_systick(milliseconds: float):
    """Thread mode on `b .`, SysTick every 1000 cycles counting in r4 from an SRAM handler."""
    m = boot("hello")
    m.sram.store(m.cpu.uc, TABLE, struct.pack("<16I", *([0] * 15 + [HANDLER | 1])))
    m.sram.store(m.cpu.uc, HANDLER, struct.pack("<2H", ADDS_R4_1, BX_LR))
    m.sram.store(m.cpu.uc, CODE, struct.pack("<H", B_SELF))
    m.bus_write(VTOR, TABLE)
    m.bus_write(SYST_RVR, 999)
    m.bus_write(SYST_CVR, 0)
    m.bus_write(SYST_CSR, 0b111)                   # processor clock, TICKINT, ENABLE
    m.cpu.write("r4", 0)
    m.cpu.write("pc", CODE)
    m.run(max_seconds=milliseconds * 1e-3)
    entries = [e.cycle for e in m.trace.events if e.kind == "exception.entry"]
    return m, entries


def test_a_spin_between_interrupts_runs_like_executing_every_iteration(monkeypatch):
    m, entries = spin_with_a_ticking_systick(5)
    monkeypatch.setattr(RunLoop, "_spinning", lambda self: False)
    executed, executed_entries = spin_with_a_ticking_systick(5)
    assert len(entries) > 50 and m.cpu.read("r4") in (len(entries) - 1, len(entries))   # the last may be entering
    assert entries == executed_entries
    assert (m.clock.cycles, m.cpu.read("r4"), m.cpu.pc()) == \
        (executed.clock.cycles, executed.cpu.read("r4"), executed.cpu.pc())
    assert m.loop.instructions_skipped > executed.loop.instructions_skipped
    assert m.loop.instructions * 10 < executed.loop.instructions


def test_a_stop_on_the_spinning_instruction_still_stops_there():
    m, _ = spin_with_a_ticking_systick(1)
    end = m.run(max_seconds=1e-3, stop_at=HANDLER)
    assert end.reason.value == "stop-at" and m.cpu.pc() == HANDLER


@pytest.mark.parametrize("steps", [1, 3])
def test_a_debugger_single_step_on_a_spin_executes_one_instruction(steps):
    m, _ = spin_with_a_ticking_systick(1)
    before = m.loop.instructions
    for _ in range(steps):
        m.loop.run(None, max_instructions=1)
    assert m.loop.instructions - before <= steps and m.cpu.pc() in (CODE, HANDLER, HANDLER + 2)
