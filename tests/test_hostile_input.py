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
