"""Snapshots: taken at the jump with provenance, saved, loaded, and continued from."""
from __future__ import annotations

from emulator.analysis.snapshot import JumpSnapshot, restore_snapshot, take_snapshot
from emulator.cli import main
from emulator.image import load_elf
from emulator.machine import Machine
from tests.conftest import boot, elf


def events(m: Machine, since: int = 0):
    return [(e.cycle, e.kind, e.text) for e in m.trace.events[since:]]


def test_continuing_from_a_saved_snapshot_gives_the_same_trace_as_never_stopping(tmp_path):
    straight = boot("priority")
    straight.run(max_seconds=1)
    stopped = boot("priority")
    stopped.run(stop_at=stopped.symbol("after_cpsie") - 2)        # mid-run, with interrupts pending
    snap = take_snapshot(stopped, "mid", with_memories=True)
    snap.save(tmp_path / "mid.json")
    resumed = Machine()
    resumed.load(load_elf(elf("priority")))
    resumed.reset("power")
    restore_snapshot(resumed, JumpSnapshot.load(tmp_path / "mid.json"))
    before = len(resumed.trace.events)
    end = resumed.run(max_seconds=1)
    assert end.exit_status == 0
    tail = [e for e in events(straight) if e[0] >= snap.cycle]
    assert events(resumed, before) == tail
    assert resumed.clock.cycles == straight.clock.cycles


def test_snapshot_records_the_last_writer_of_each_register():
    m = boot("vtor")
    m.run(max_seconds=1)
    snap = take_snapshot(m, "end")
    writer = snap.registers["SCB.VTOR"].writer
    assert writer is not None and writer.where.startswith("main")
    assert snap.registers["SCB.VTOR"].fields["TBLOFF"] << 8 == snap.registers["SCB.VTOR"].value


def test_cli_saves_a_snapshot_at_a_symbol_and_continues_from_it(tmp_path, capsys):
    path = tmp_path / "at.json"
    assert main(["run", str(elf("systick")), "--at", "SysTick_Handler", "--save-snapshot", str(path)]) == 0
    snap = JumpSnapshot.load(path)
    assert snap.where.startswith("SysTick_Handler") and snap.ipsr == 15
    capsys.readouterr()
    assert main(["run", str(elf("systick")), "--from-snapshot", str(path)]) == 0
    assert "10 ticks" in capsys.readouterr().out
