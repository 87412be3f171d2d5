"""`c071emu sweep`: a matrix of images x option bytes x hosts, driven as a user would.

Every outcome below comes from the real machine running the bundled images.
"""
from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from emulator.cli import main
from emulator.sweep import Progress, load_matrix
from tests.conftest import ELF_DIR

ROOT = Path(__file__).resolve().parents[1]
NOT_RUN_AFTER_ERASE = {"write": "not run", "verify": "not run", "leave": "not run"}


def matrix_file(tmp_path: Path, text: str, name: str = "matrix.toml") -> Path:
    """A matrix in tmp_path, next to an ``elf/`` link to the bundled images (paths are relative)."""
    if not (tmp_path / "elf").exists():
        (tmp_path / "elf").symlink_to(ELF_DIR)
    path = tmp_path / name
    path.write_text(text)
    return path


def sweep(capsys, *args: str) -> tuple[int, str, str]:
    status = main(["sweep", *map(str, args)])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def statuses(cell: dict) -> dict[str, str]:
    return {s["name"]: s["status"] for s in cell["steps"]}


def table_rows(out: str) -> list[list[str]]:
    """The summary table's rows, split on its two-space column gaps (header and rule dropped)."""
    lines = out.splitlines()
    rule = next(i for i, line in enumerate(lines) if line and set(line) <= {"-", " "})
    rows = []
    for line in lines[rule + 1:]:
        if not line.strip():
            break
        rows.append([field.strip() for field in line.split("  ") if field.strip()])
    return rows


def timeless(doc: dict) -> dict:
    """A --json document without what depends on the run rather than the matrix."""
    doc = dict(doc)
    doc.pop("run")
    doc["cells"] = [{k: v for k, v in c.items() if k != "seconds"} for c in doc["cells"]]
    return doc


def test_outcomes_come_back_in_matrix_order_with_table_json_and_progress(capsys, tmp_path):
    # The first cell (reset-first over USART) takes several times longer than the others, so
    # with two workers it finishes last; the table and the JSON keep the matrix order anyway.
    path = matrix_file(tmp_path, """
[sweep]
name = "forum v1 against reset-first"
[axes]
application = ["elf/jump_reset_first.elf", "elf/jump_forum_v1.elf"]
option_bytes = ["", "RDP=0xBB"]
host = ["usart", "dfu"]
trigger = "usb-control:0x40,0x42"
""")
    status, out, err = sweep(capsys, path, "--jobs", "2", "--json", tmp_path / "out.json")
    assert status == 0, out + err                           # no expectations: outcomes only
    doc = json.loads((tmp_path / "out.json").read_text())
    assert doc["schema"] == "c071emu.sweep/1" and doc["name"] == "forum v1 against reset-first"
    assert doc["summary"] == {"cells": 8, "pass": 0, "mismatch": 0, "failed": 0, "error": 0, "unchecked": 8}
    order = [(c["label"], c["option_bytes"], c["host"]) for c in doc["cells"]]
    assert order == [(app, ob, host) for app in ("jump_reset_first", "jump_forum_v1")
                     for ob in ("", "RDP=0xBB") for host in ("usart", "dfu")]
    assert [c["index"] for c in doc["cells"]] == list(range(8))
    for cell in doc["cells"]:
        got = statuses(cell)
        if cell["option_bytes"] == "RDP=0xBB":             # read-out protection: no flash upload
            assert got["enumerate"] == "ok" and got["upload flash"] == "failed", cell
        elif cell["label"] == "jump_reset_first":
            assert set(got.values()) == {"ok"}, cell
        else:                                               # the forum's jump: the erase fails
            assert got["upload option bytes"] == "ok" and got["erase"] == "failed", cell
            assert {k: got[k] for k in NOT_RUN_AFTER_ERASE} == NOT_RUN_AFTER_ERASE
        assert cell["verdict"] is None and cell["error"] is None
    assert doc["cells"][0]["application_path"] == str(tmp_path / "elf" / "jump_reset_first.elf")

    rows = table_rows(out)
    assert [r[:4] for r in rows] == [[str(i), app, ob or "factory", host] for i, (app, ob, host) in enumerate(order)]
    forum_dfu = rows[order.index(("jump_forum_v1", "", "dfu"))]
    assert forum_dfu[4:14] == ["jump", "erase", "usb-control:0x40,0x42", "ok", "ok", "ok", "failed", "not run",
                               "not run", "not run"]
    assert rows[order.index(("jump_reset_first", "", "dfu"))][7:14] == ["ok"] * 7
    assert "#5 jump_forum_v1 / factory / dfu / jump / erase: erase failed: " in out     # the why, under the table
    assert "8 cells: 0 as expected, 0 mismatched, 0 failed, 0 errors, 8 without expectations" in out
    progress = [line for line in err.splitlines() if line.startswith("[")]           # not a tty: plain lines
    assert len(progress) == 8 and progress[-1].startswith("[8/8]")


TWO_CELLS_WITH_EXPECTATIONS = """
[axes]
application = ["elf/jump_forum_v1.elf", "elf/jump_reset_first.elf"]
trigger = "usb-control:0x40,0x42"
[[expect]]
enumerate = "ok"                                   # every cell
[[expect]]
match = { application = "jump_forum_v1" }
erase = "ok"                                       # wrong: the forum's jump cannot erase
[[expect]]
match = { application = "jump_reset_first.elf", host = "dfu" }
erase = "ok"
leave = "ok"
"""


def test_a_wrong_expectation_exits_1_and_fails_its_junit_case(capsys, tmp_path):
    path = matrix_file(tmp_path, TWO_CELLS_WITH_EXPECTATIONS)
    status, out, err = sweep(capsys, path, "--jobs", "2", "--json", tmp_path / "a.json",
                             "--junit", tmp_path / "junit.xml")
    assert status == 1, out + err
    doc = json.loads((tmp_path / "a.json").read_text())
    forum, reset_first = doc["cells"]
    assert forum["expect"] == {"steps": {"enumerate": "ok", "erase": "ok"}, "blocking": None}
    assert forum["verdict"] == "mismatch" and forum["mismatches"][0].startswith("erase: expected ok, got failed")
    assert reset_first["expect"]["steps"] == {"enumerate": "ok", "erase": "ok", "leave": "ok"}
    assert reset_first["verdict"] == "pass" and reset_first["mismatches"] == []
    assert [r[-2] for r in table_rows(out)] == ["mismatch", "pass"]
    assert "MISMATCH erase: expected ok, got failed" in out
    xml = (tmp_path / "junit.xml").read_text()
    assert 'tests="2" failures="1"' in xml
    assert 'name="jump_forum_v1 / factory / dfu / jump / erase"' in xml
    assert '<failure message="erase: expected ok, got failed' in xml

    # One process or a pool: the same document apart from timing.
    assert sweep(capsys, path, "--jobs", "1", "--json", tmp_path / "b.json")[0] == 1
    assert timeless(json.loads((tmp_path / "b.json").read_text())) == timeless(doc)


def test_diagnose_reports_the_blocking_items_of_jump_cells(capsys, tmp_path):
    path = matrix_file(tmp_path, """
[sweep]
diagnose = true
[axes]
application = ["elf/jump_forum_v1.elf"]
entry = ["jump", "boot0"]
trigger = "usb-control:0x40,0x42"
[[expect]]
match = { entry = "boot0" }
erase = "ok"                                       # a clean BOOT0 entry erases
""")
    status, out, err = sweep(capsys, path, "--jobs", "2", "--json", tmp_path / "d.json")
    assert status == 0, out + err
    jump, boot0 = json.loads((tmp_path / "d.json").read_text())["cells"]
    assert jump["blocking"] == ["RCC.CR"] and statuses(jump)["erase"] == "failed"
    assert boot0["blocking"] is None and set(statuses(boot0).values()) == {"ok"}
    assert [r[14] for r in table_rows(out)] == ["RCC.CR", "n/a"]


@pytest.mark.parametrize("text, key, message", [
    ("[axes\n", "", "not valid TOML"),
    ("[sweep]\nname = 'x'\n", "", "needs an [axes] table"),
    ("[axes]\nhost = ['dfu']\n", "[axes]", "needs application = "),
    ("[axes]\napplication = ['elf/hello.elf']\nhosts = ['dfu']\n", "[axes]", "unknown key 'hosts'"),
    ("[axes]\napplication = ['elf/hello.elf']\nhost = ['dfu', 'jtag']\n", "[axes] host",
     "'jtag' is not one of dfu, usart"),
    ("[axes]\napplication = ['elf/hello.elf']\nentry = []\n", "[axes] entry", "is empty"),
    ("[axes]\napplication = ['elf/no_such.elf']\n", "[axes] application[0]", "no_such.elf: no such file"),
    ("[axes]\napplication = ['elf/hello.elf']\noption_bytes = ['', 'nBOOT_SEL']\n",
     "[axes] option_bytes[1] = 'nBOOT_SEL'", "is not NAME=VALUE"),
    ("[axes]\napplication = ['elf/hello.elf']\n[[expect]]\nerse = 'ok'\n", "[[expect]] #1", "unknown key 'erse'"),
    ("[axes]\napplication = ['elf/hello.elf']\n[[expect]]\nerase = 'fine'\n", "[[expect]] #1", "erase = 'fine'"),
    ("[axes]\napplication = ['elf/hello.elf']\n[[expect]]\nmatch = { host = 'usart' }\nerase = 'ok'\n",
     "[[expect]] #1", "match.host = 'usart' is not on the host axis"),
    ("[axes]\napplication = ['elf/hello.elf']\nentry = ['jump', 'boot0']\n[[expect]]\nblocking = []\n",
     "[[expect]] #1", "needs entry = \"jump\""),
    ("[sweep]\ndiagnose = 'yes'\n[axes]\napplication = ['elf/hello.elf']\n", "[sweep] diagnose", "true or false"),
])
def test_a_malformed_matrix_exits_2_naming_the_file_and_key(capsys, tmp_path, text, key, message):
    path = matrix_file(tmp_path, text)
    status, out, err = sweep(capsys, path)
    assert status == 2 and out == ""
    assert err.startswith(f"c071emu: {path}: {key}"), err
    assert message in err


@pytest.mark.parametrize("args, message", [
    (["--junit", "out.xml"], "has no [[expect]]: there is nothing to pass or fail"),
    (["--scheduler", "tcp://127.0.0.1:8786"], "--scheduler is the address of a Dask scheduler; add --engine dask"),
    (["--jobs", "0"], "argument --jobs: 0: must be 1 or more"),
])
def test_bad_command_lines_exit_2_before_running(capsys, tmp_path, args, message):
    path = matrix_file(tmp_path, "[axes]\napplication = ['elf/hello.elf']\n")
    status, out, err = sweep(capsys, path, *args)
    assert status == 2 and out == "" and message in err


def test_the_bundled_example_matrix_checks_every_cell():
    matrix = load_matrix(ROOT / "sweeps" / "jump_patterns.toml")
    cells = matrix.cells()
    assert len(cells) == 20 and all(c["expect"] for c in cells)
    forum = next(c for c in cells if c["label"] == "jump_forum_v1" and c["option_bytes"] == "")
    assert forum["expect"]["steps"]["erase"] == "failed"


def test_progress_is_a_live_bar_on_a_terminal():
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Terminal()
    progress = Progress(2, stream=stream)
    progress.start()
    result = {"steps": [{"name": "erase", "status": "failed", "detail": ""}], "error": None, "mismatches": [],
              "seconds": 0.5}
    for index in range(2):
        progress.cell_done({"index": index, "name": f"cell {index}"}, result)
    progress.stop()
    text = stream.getvalue()
    assert "2/2" in text and "\x1b[" in text             # drawn with terminal control sequences
    assert "[1/2]" not in text                            # not the plain per-cell lines


def test_dask_local_cluster_gives_the_local_engines_result(capsys, tmp_path):
    distributed = pytest.importorskip("dask.distributed")
    path = matrix_file(tmp_path, TWO_CELLS_WITH_EXPECTATIONS)
    assert sweep(capsys, path, "--jobs", "2", "--json", tmp_path / "local.json")[0] == 1
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                  dashboard_address=None) as cluster:
        status, out, err = sweep(capsys, path, "--engine", "dask", "--scheduler", cluster.scheduler_address,
                                 "--json", tmp_path / "dask.json")
    assert status == 1, out + err
    local = json.loads((tmp_path / "local.json").read_text())
    on_dask = json.loads((tmp_path / "dask.json").read_text())
    assert on_dask["run"]["engine"] == "dask" and on_dask["run"]["scheduler"] == cluster.scheduler_address
    assert timeless(on_dask) == timeless(local)
    assert [statuses(c)["erase"] for c in on_dask["cells"]] == ["failed", "ok"]
