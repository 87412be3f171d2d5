"""What a long command says while it works: a status line on a terminal, nothing elsewhere."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from emulator.analysis.diagnose import diagnose
from emulator.analysis.variants import diagnose_variants, select_variants
from emulator.analysis.flows import dfu_flow
from emulator.cli import StatusLine
from emulator.image import load_elf
from tests.conftest import elf

REPO = Path(__file__).resolve().parents[1]
TRIGGER = "usb-control:0x40,0x42"


def test_a_diagnosis_says_each_phase_before_it_starts():
    phases: list[str] = []
    d = diagnose(load_elf(elf("jump_forum_v1")), load_elf(elf("bootloader")), dfu_flow(), trigger=TRIGGER,
                 progress=phases.append)
    assert d.blamed
    assert phases[:3] == ["BOOT0 entry: starting the bootloader", "the application: running to its jump",
                          "the host flow after the jump and after a BOOT0 entry"]
    searches = phases[3:]
    assert searches and all(p.startswith("searching for the blocking state: replays ") for p in searches)
    # the replay numbers run on from batch to batch, up to the diagnosis's oracle calls
    assert searches[-1].endswith(f"-{d.oracle_calls}")


def test_a_diagnosis_that_finds_no_jump_says_so_before_its_reference_flow():
    phases: list[str] = []
    diagnose(load_elf(elf("hello")), load_elf(elf("bootloader")), dfu_flow(), progress=phases.append)
    assert phases == ["BOOT0 entry: starting the bootloader", "the application: running to its jump",
                      "the host flow after a BOOT0 entry"]


def test_a_diagnosis_under_several_designs_counts_the_designs_then_verifies_the_combined_fix():
    phases: list[str] = []
    matrix = diagnose_variants(load_elf(elf("jump_forum_v1")), select_variants("default,classic,hal_like"),
                               dfu_flow(), trigger=TRIGGER, progress=phases.append)
    assert len(matrix.variants) == 3
    assert phases == ["the application: running to its jump"] + \
        [f"bootloader designs: {n} of 3 diagnosed" for n in range(4)] + \
        ["verifying the combined fix under every design"]


def test_the_status_line_waits_a_second_then_rewrites_itself_and_is_erased(monkeypatch, capsys):
    clock = iter([0.0, 0.5, 1.5, 2.0])
    monkeypatch.setattr("emulator.cli.time.perf_counter", lambda: next(clock))
    line = StatusLine(enabled=True)                  # started at 0.0
    line.show("first")                               # 0.5 s: too early
    assert capsys.readouterr().err == ""
    line.show("second")
    line.show("third")
    line.clear()
    assert capsys.readouterr().err == "\r\x1b[K  second (1.5 s)\r\x1b[K  third (2.0 s)\r\x1b[K"


def test_the_status_line_is_silent_when_disabled(monkeypatch, capsys):
    monkeypatch.setattr(StatusLine, "SHOW_AFTER_S", 0.0)
    line = StatusLine(enabled=False)
    line.show("anything")
    line.clear()
    assert capsys.readouterr().err == ""


def test_diagnose_writes_no_status_line_when_stderr_is_not_a_terminal():
    done = subprocess.run([sys.executable, "-m", "emulator", "diagnose", str(elf("jump_forum_v1")), "--trigger",
                           TRIGGER, "--host", "usart"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1 and done.stdout.startswith("VERDICT: erase FAILS")
    assert "\x1b[K" not in done.stderr and "searching" not in done.stderr
