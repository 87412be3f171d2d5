"""The README runs as written.

Convention: a fenced block is runnable when the line before its opening fence is
``<!-- runnable -->`` (a ``python`` or ``sh`` block), or ``<!-- runnable as PATH -->``
(a ``toml`` matrix, written to PATH and run with ``c071emu sweep``).  Each runs from a
scratch directory that sees the repository's images/, scenarios/ and sweeps/ (files the
block writes stay there), with ``c071emu`` on PATH, under a time limit; an ``sh`` block
runs with ``set -e``, so every command in it must succeed.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TIME_LIMIT_S = 600
MARKER = re.compile(r"^<!-- runnable(?: as (?P<path>\S+))? -->\n```(?P<lang>\w+)\n(?P<code>.*?)^```", re.M | re.S)


def runnable_blocks() -> list[tuple[int, str, str, str]]:
    """(line, language, code, path) of each block marked runnable in README.md."""
    text = (ROOT / "README.md").read_text()
    return [(text[:m.start()].count("\n") + 1, m["lang"], m["code"], m["path"] or "")
            for m in MARKER.finditer(text)]


BLOCKS = runnable_blocks()


def test_readme_marks_its_runnable_blocks():
    langs = [lang for _, lang, _, _ in BLOCKS]
    assert langs.count("python") >= 3 and langs.count("sh") >= 3 and "toml" in langs
    assert all(lang in ("python", "sh") or (lang == "toml" and path) for _, lang, _, path in BLOCKS)


@pytest.fixture
def workdir(tmp_path: Path) -> tuple[Path, dict]:
    for name in ("images", "scenarios", "sweeps"):
        (tmp_path / name).symlink_to(ROOT / name)
    bin_dir = tmp_path / ".bin"
    bin_dir.mkdir()
    shim = bin_dir / "c071emu"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m emulator "$@"\n')
    shim.chmod(0o755)
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}",
               PYTHONPATH=f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}".rstrip(os.pathsep))
    return tmp_path, env


@pytest.mark.parametrize("line, lang, code, path", BLOCKS, ids=[f"README.md:{b[0]}-{b[1]}" for b in BLOCKS])
def test_readme_block_runs_as_written(workdir, line, lang, code, path):
    cwd, env = workdir
    if lang == "python":
        command = [sys.executable, "-c", code]
    elif lang == "sh":
        command = ["sh", "-ec", code]
    else:                                            # a sweep matrix: where the README says it lives
        target = cwd / "readme_matrices" / Path(path).name
        target.parent.mkdir()
        target.write_text(code)
        command = [str(cwd / ".bin" / "c071emu"), "sweep", str(target), "--jobs", "2"]
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=TIME_LIMIT_S)
    assert result.returncode == 0, f"README.md line {line} ({lang}) failed:\n{result.stdout[-3000:]}\n" \
                                   f"{result.stderr[-3000:]}"
    assert "Traceback" not in result.stderr
