"""Every way `diagnose`, `check`, `sweep` and `run` can refuse or fail ends in a clear line
and its own exit status, never a Python traceback (STYLE.md; issue 11).  Each case runs the
CLI in a fresh process, as a user would, and reads its stderr."""
from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from emulator.cli import main
from tests.conftest import ELF_DIR, elf

ROOT = Path(__file__).resolve().parents[1]
HELLO, FORUM = str(elf("hello")), str(elf("jump_forum_v1"))


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, str]:
    d = tmp_path_factory.mktemp("inputs")
    (d / "not.elf").write_text("plain text\n")
    (d / "raw.bin").write_bytes(bytes(64))
    (d / "zeros.bin").write_bytes(bytes(1024))                     # a "bootloader" that cannot start
    (d / "not.json").write_text("{")
    (d / "other.json").write_text(json.dumps({"schema": "something/1"}))
    (d / "old.json").write_text(json.dumps({"schema": "c071emu.snapshot/1", "label": "x", "pc": 0, "where": None,
                                            "cycle": 0, "seconds": 0, "core": {}, "exceptions": {},
                                            "registers": {}, "memories": {}}))
    (d / "a_dir").mkdir()
    (d / "elf").symlink_to(ELF_DIR)
    (d / "unknown_key.toml").write_text(f'[scenario]\napplication = "{HELLO}"\nhosst = "dfu"\n[expect]\n')
    (d / "no_app.toml").write_text('[scenario]\napplication = "missing.elf"\n[expect]\nenumerate = "ok"\n')
    (d / "no_jump.toml").write_text(f'[scenario]\napplication = "{HELLO}"\n[expect]\nenumerate = "ok"\n')
    (d / "bad_trigger.toml").write_text('[axes]\napplication = ["elf/hello.elf"]\ntrigger = ["cdc"]\n')
    (d / "no_jump_sweep.toml").write_text('[axes]\napplication = ["elf/hello.elf"]\n')
    # issue 16: damaged snapshots, TOML files of the wrong types, encoding or depth
    (d / "list.json").write_text("[1, 2]")
    (d / "latin1.json").write_bytes(b'{"schema": "\xe9"}')
    (d / "deep.json").write_text("[" * 100_000)
    snapshot = d / "systick.json"
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["run", str(elf("systick")), "--at", "SysTick_Handler", "--save-snapshot", str(snapshot)]) == 0
    saved = json.loads(snapshot.read_text())
    for name, change in (("cycle_minus_5", lambda doc: doc.update(cycle=-5)),
                         ("pc_2_40", lambda doc: doc.update(pc=2 ** 40)),
                         ("active_999", lambda doc: doc["exceptions"].update(active=[999])),
                         ("no_core", lambda doc: doc.pop("core")),
                         ("short_sram", lambda doc: doc["memories"].update(SRAM="eJwDAAAAAAE="))):
        doc = json.loads(json.dumps(saved))
        change(doc)
        (d / f"{name}.json").write_text(json.dumps(doc))
    (d / "latin1.toml").write_bytes(b'[scenario]\napplication = "\xe9.elf"\n[expect]\n')
    (d / "app_5.toml").write_text("[scenario]\napplication = 5\n[expect]\n")
    (d / "deep.toml").write_text("[scenario]\napplication = " + "[" * 3000 + "]" * 3000 + "\n[expect]\n")
    (d / "operation_bogus.toml").write_text(f'[scenario]\napplication = "{HELLO}"\noperation = "bogus"\n[expect]\n')
    (d / "option_bytes_5.toml").write_text('[axes]\napplication = ["elf/hello.elf"]\noption_bytes = 5\n')
    (d / "deep_sweep.toml").write_text("[axes]\napplication = " + "[" * 3000 + "]" * 3000 + "\n")
    return {p.name.replace(".", "_"): str(p) for p in d.iterdir()} | {"dir": str(d)}


CASES = [
    # diagnose: bad input is refused before anything runs (2)
    ("diagnose", ["missing.elf"], 2, "no such file"),
    ("diagnose", ["{not_elf}"], 2, "not an ELF file"),
    ("diagnose", [HELLO, "--bootloader", "{not_elf}"], 2, "not.elf"),
    ("diagnose", [HELLO, "--option-bytes", "RDP"], 2, "RDP"),
    ("diagnose", [HELLO, "--trigger", "usb"], 2, "--trigger: trigger 'usb': unknown kind"),
    ("diagnose", [FORUM, "--trigger", "call:enter_dfu"], 2, "no symbol 'enter_dfu'"),
    ("diagnose", [HELLO, "--jump-within", "0"], 2, "argument --jump-within: '0'"),
    ("diagnose", [HELLO, "--jump-within", "soon"], 2, "argument --jump-within: 'soon' is not a number of seconds"),
    ("diagnose", [HELLO, "--max-time", "-1"], 2, "argument --max-time: '-1'"),
    ("diagnose", [HELLO, "--hse", "1"], 2, "argument --hse: 1 Hz"),
    ("diagnose", [HELLO, "--payload", "missing.hex"], 2, "--payload: missing.hex: no such file"),
    ("diagnose", [HELLO, "--payload", "{raw_bin}"], 2, "needs --payload-address"),
    ("diagnose", [HELLO, "--payload", "{raw_bin}", "--payload-address", "flash"], 2, "not an address"),
    ("diagnose", [HELLO, "--payload-address", "0x08000000"], 2, "give --payload FILE"),
    ("diagnose", [HELLO, "--from-snapshot", "missing.json"], 2, "--from-snapshot missing.json"),
    ("diagnose", [HELLO, "--from-snapshot", "{not_json}"], 2, "--from-snapshot"),
    ("diagnose", [HELLO, "--from-snapshot", "{other_json}"], 2, "not a c071emu snapshot"),
    ("diagnose", [HELLO, "--from-snapshot", "{old_json}"], 2, "records no image digests"),
    ("diagnose", [HELLO, "--html", "{dir}/missing/out.html"], 2, "does not exist"),
    ("diagnose", [HELLO, "--html", "{a_dir}"], 2, "is a folder, not a file"),
    ("diagnose", [HELLO, "--json", "--trigger", "pin:PC13"], 2, "pin takes PORTPIN=LEVEL@TIME"),
    # diagnose: the diagnosis cannot proceed (2: bootloader; 3: no jump, trigger not delivered)
    ("diagnose", [HELLO, "--bootloader", "{zeros_bin}"], 2, "the bootloader did not start after a BOOT0 reset"),
    ("diagnose", [HELLO], 3, ""),
    ("diagnose", [str(elf("usb_echo")), "--trigger", "usb-control:0x40,0x42"], 3, ""),
    ("diagnose", [str(elf("priority"))], 3, ""),
    # check
    ("check", ["missing.toml"], 2, "missing.toml"),
    ("check", ["{unknown_key_toml}"], 2, "unknown key 'hosst'"),
    ("check", ["{no_app_toml}"], 2, "no such file"),
    ("check", ["{no_jump_toml}", "--junit", "{dir}/missing/j.xml"], 2, "--junit"),
    ("check", ["{no_jump_toml}"], 1, ""),
    # sweep
    ("sweep", ["missing.toml"], 2, "missing.toml"),
    ("sweep", ["{bad_trigger_toml}"], 2, "cdc needs an argument"),
    ("sweep", ["{no_jump_sweep_toml}", "--jobs", "1"], 1, ""),
    ("sweep", ["{no_jump_sweep_toml}", "--jobs", "1", "--json", "{a_dir}"], 2, "--json"),
    # run
    ("run", ["missing.elf"], 2, "no such file"),
    ("run", [HELLO, "--boot-pin", "2"], 2, "--boot-pin takes 0 or 1"),
    ("run", [HELLO, "--save-snapshot", "{dir}/never.json"], 4, "no snapshot written"),
    ("run", [FORUM, "--save-snapshot", "{dir}/never.json", "--max-time", "0.05"], 4, "no snapshot written"),
    ("run", [HELLO, "--from-snapshot", "{not_json}"], 2, "--from-snapshot"),
    ("run", [HELLO, "--save-snapshot", "{dir}/s.json", "--at", "no_such_symbol"], 2, "--at"),
    ("run", [HELLO, "--save-snapshot", "{a_dir}", "--at", "main"], 2, "--save-snapshot"),
    # issue 16: numbers and output paths refused where they enter, before the run
    ("run", [HELLO, "--max-time", "nan"], 2, "argument --max-time: 'nan'"),
    ("run", [HELLO, "--max-time", "1e308"], 2, "argument --max-time: '1e308'"),
    ("run", [HELLO, "--gdb", "70000"], 2, "argument --gdb: 70000"),
    ("run", [HELLO, "--hse", "0"], 2, "argument --hse: 0 Hz"),
    ("run", [HELLO, "--save-snapshot", "nodir/s.json"], 2, "argument --save-snapshot: nodir/s.json"),
    ("run", [HELLO, "--flash-file", "nodir/f.bin"], 2, "argument --flash-file: nodir/f.bin"),
    ("diagnose", [HELLO, "--max-time", "inf"], 2, "argument --max-time: 'inf'"),
    ("check", ["{no_jump_toml}", "--junit", "nodir/j.xml"], 2, "argument --junit: nodir/j.xml"),
    ("sweep", ["{no_jump_sweep_toml}", "--jobs", "0"], 2, "argument --jobs: 0"),
    ("sweep", ["{no_jump_sweep_toml}", "--json", "nodir/out.json"], 2, "argument --json: nodir/out.json"),
    # issue 16: damaged snapshots, nothing restored
    ("run", [HELLO, "--from-snapshot", "{list_json}"], 2, "not an object"),
    ("run", [HELLO, "--from-snapshot", "{latin1_json}"], 2, "not UTF-8"),
    ("run", [HELLO, "--from-snapshot", "{deep_json}"], 2, "nested too deeply"),
    ("run", [str(elf("systick")), "--from-snapshot", "{cycle_minus_5_json}"], 2, "cycle: -5"),
    ("run", [str(elf("systick")), "--from-snapshot", "{pc_2_40_json}"], 2, "pc: 1099511627776"),
    ("run", [str(elf("systick")), "--from-snapshot", "{short_sram_json}"], 2, "memories.SRAM"),
    ("diagnose", [str(elf("systick")), "--from-snapshot", "{active_999_json}"], 2, "exceptions.active[0]: 999"),
    ("diagnose", [str(elf("systick")), "--from-snapshot", "{no_core_json}"], 2, "core: missing"),
    # issue 16: TOML files of the wrong encoding, types or depth
    ("check", ["{latin1_toml}"], 2, "not UTF-8"),
    ("check", ["{app_5_toml}"], 2, "application must be a string"),
    ("check", ["{deep_toml}"], 2, "nested too deeply"),
    ("check", ["{operation_bogus_toml}"], 2, "operation must be 'erase' or 'write'"),
    ("sweep", ["{option_bytes_5_toml}"], 2, "option_bytes must be a list of strings"),
    ("sweep", ["{deep_sweep_toml}"], 2, "nested too deeply"),
]


@pytest.mark.parametrize("command, args, status, message", CASES,
                         ids=[f"{c}-{i}" for i, (c, *_rest) in enumerate(CASES)])
def test_error_paths_end_in_one_clear_line_and_their_exit_status(files, command, args, status, message):
    argv = [a.format(**files) for a in args]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "emulator", command, *argv], capture_output=True, text=True,
                          cwd=files["dir"], env=env, timeout=300)
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout, proc.stderr
    assert proc.returncode == status, proc.stdout[-2000:] + proc.stderr
    assert message in proc.stderr, proc.stderr
    if status == 2:                                   # bad input: one line, "c071emu: ..."
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("c071emu: "), proc.stderr
    if command == "diagnose" and "--json" in argv:
        assert json.loads(proc.stdout)["status"] == "bad-input"
