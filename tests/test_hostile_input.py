"""Bad input at every boundary of the command line ends in one line and its exit status, never a traceback.

Each case is a reproducer from the fuzzing campaign (issue: hostile input never crashes
c071emu); the property-based targets live in tests/fuzz/.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

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


# -- damaged images ---------------------------------------------------------------------------------------
def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "emulator", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=120)


def _refused_in_one_line(done: subprocess.CompletedProcess, *words: str) -> None:
    assert done.returncode == 2, done
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("c071emu: "), done.stderr
    for word in words:
        assert word in lines[0], lines[0]


def _damaged(tmp_path, name: str, change) -> Path:
    import struct as _struct
    blob = bytearray(elf("hello").read_bytes())
    change(blob, _struct)
    path = tmp_path / name
    path.write_bytes(bytes(blob))
    return path


def _first_load_header(blob, struct_):
    phoff, = struct_.unpack_from("<I", blob, 28)
    phentsize, phnum = struct_.unpack_from("<HH", blob, 42)
    for i in range(phnum):
        at = phoff + i * phentsize
        if struct_.unpack_from("<I", blob, at)[0] == 1:        # PT_LOAD
            return at
    raise AssertionError("no PT_LOAD")


def test_a_segment_whose_data_lies_past_the_end_of_the_file_is_refused(tmp_path):
    def push_past_eof(blob, struct_):
        at = _first_load_header(blob, struct_)
        struct_.pack_into("<I", blob, at + 4, len(blob) - 8)            # p_offset near EOF, p_filesz unchanged
    done = _cli("run", str(_damaged(tmp_path, "past_eof.elf", push_past_eof)))
    _refused_in_one_line(done, "past_eof.elf", "past the end")


def test_a_symtab_that_is_not_a_symbol_table_is_refused(tmp_path):
    def retype_symtab(blob, struct_):
        shoff, = struct_.unpack_from("<I", blob, 32)
        shentsize, shnum, shstrndx = struct_.unpack_from("<HHH", blob, 46)
        names_at = struct_.unpack_from("<I", blob, shoff + shstrndx * shentsize + 16)[0]
        for i in range(shnum):
            header = shoff + i * shentsize
            name_offset = struct_.unpack_from("<I", blob, header)[0]
            if bytes(blob[names_at + name_offset:names_at + name_offset + 8]) == b".symtab\0":
                struct_.pack_into("<I", blob, header + 4, 1)            # SHT_PROGBITS
                return
        raise AssertionError("no .symtab")
    done = _cli("run", str(_damaged(tmp_path, "symtab.elf", retype_symtab)))
    _refused_in_one_line(done, "symtab.elf", ".symtab")


def test_an_object_file_is_refused_as_not_an_executable(tmp_path):
    done = _cli("run", str(_damaged(tmp_path, "object.o", lambda blob, s: s.pack_into("<H", blob, 16, 1))))
    _refused_in_one_line(done, "object.o", "ET_EXEC")


def test_an_unreadable_image_is_refused(monkeypatch, tmp_path, capsys):
    from emulator.cli import main
    path = tmp_path / "locked.elf"
    path.write_bytes(elf("hello").read_bytes())

    def refuse(self):
        raise PermissionError(13, "Permission denied")
    monkeypatch.setattr(Path, "read_bytes", refuse)          # as root, file modes cannot make this happen
    assert main(["run", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.strip() == f"c071emu: {path}: cannot read (Permission denied)"


# -- damaged snapshots ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def saved_snapshot(tmp_path_factory) -> Path:
    """A snapshot saved by `run --save-snapshot` at the SysTick handler (an exception active)."""
    from emulator.cli import main
    path = tmp_path_factory.mktemp("snapshot") / "systick.json"
    assert main(["run", str(elf("systick")), "--at", "SysTick_Handler", "--save-snapshot", str(path)]) == 0
    return path


def _memory(data: bytes) -> str:
    import base64
    import zlib
    return base64.b64encode(zlib.compress(data)).decode()


def _set(*keys_and_value):
    *keys, value = keys_and_value

    def change(doc):
        node = doc
        for key in keys[:-1]:
            node = node[key]
        node[keys[-1]] = value
        return doc
    return change


def _drop(*keys):
    def change(doc):
        node = doc
        for key in keys[:-1]:
            node = node[key]
        del node[keys[-1]]
        return doc
    return change


SNAPSHOT_REPRODUCERS = [       # (name, change of the JSON document or raw bytes, what the one line names)
    ("non-object JSON", b"[1, 2, 3]", "not an object"),
    ("invalid JSON", b'{"schema": ', "not valid JSON"),
    ("invalid UTF-8", b'{"schema": "\xff\xfe"}', "not UTF-8"),
    ("deep nesting", b"[" * 100_000, "nested too deeply"),
    ("non-base64 memory", _set("memories", "SRAM", "not base64!"), "memories.SRAM: not base64"),
    ("non-zlib memory", _set("memories", "SRAM", "aGVsbG8="), "memories.SRAM: not a zlib stream"),
    ("truncated memory image", _set("memories", "SRAM", _memory(bytes(100))), "memories.SRAM: 100 bytes"),
    ("memory too long", _set("memories", "OTP", _memory(bytes(4096))), "memories.OTP: holds more than"),
    ("missing memory", _drop("memories", "main flash"), "memories.main flash: missing"),
    ("missing field", _drop("core"), "core: missing"),
    ("missing core register", _drop("core", "msp"), "core.msp: missing"),
    ("wrong type", _set("cycle", "1043"), "cycle: '1043' is not a whole number"),
    ("negative cycle", _set("cycle", -5), "cycle: -5"),
    ("pc past 32 bits", _set("pc", 2 ** 40), "pc: 1099511627776"),
    ("core value past 32 bits", _set("core", "r4", 2 ** 32), "core.r4: 4294967296"),
    ("active exception 999", _set("exceptions", "active", [999]), "exceptions.active[0]: 999"),
    ("an exception active twice", _set("exceptions", "active", [15, 15]), "exceptions.active[1]"),
    ("IPSR not the active exception", _set("exceptions", "active", []), "core.xpsr: IPSR 15"),
    ("priority the NVIC cannot store", _set("exceptions", "irq_priority", [1] * 32), "irq_priority[0]: 1"),
    ("unknown peripheral register", _set("registers", "RCC.BOGUS", {}), "registers.RCC.BOGUS: no peripheral model"),
    ("unknown core register", _set("core", "r13", 0), "core.r13: not a field"),
    ("register value past 32 bits", _set("registers", "RCC.CR", "value", 2 ** 33), "registers.RCC.CR.value"),
    ("non-finite seconds", _set("seconds", float("inf")), "seconds: inf"),
    ("bad image digest", _set("images", [{"path": "x.elf", "sha256": "beef"}]), "images[0].sha256"),
    ("no memories", _set("memories", {}), "memories: none saved"),
]


@pytest.mark.parametrize("change, named", [case[1:] for case in SNAPSHOT_REPRODUCERS],
                         ids=[case[0] for case in SNAPSHOT_REPRODUCERS])
def test_a_damaged_snapshot_is_refused_naming_the_file_and_field_before_anything_runs(
        saved_snapshot, tmp_path, capsys, change, named):
    import json

    from emulator.cli import main
    path = tmp_path / "damaged.json"
    if isinstance(change, bytes):
        path.write_bytes(change)
    else:
        path.write_text(json.dumps(change(json.loads(saved_snapshot.read_text()))))
    capsys.readouterr()
    for command in (["run", str(elf("systick"))], ["diagnose", str(elf("systick"))]):
        assert main([*command, "--from-snapshot", str(path)]) == 2
        out, err = capsys.readouterr()
        assert out == ""                                       # no run, no report
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"c071emu: --from-snapshot {path}"), err
        assert named in lines[0], lines[0]


def test_the_saved_snapshot_itself_is_accepted_and_continues(saved_snapshot, capsys):
    """The checks refuse damage, not snapshots c071emu writes."""
    from emulator.cli import main
    capsys.readouterr()
    assert main(["run", str(elf("systick")), "--from-snapshot", str(saved_snapshot)]) == 0
    assert "10 ticks" in capsys.readouterr().out


def test_a_snapshot_whose_stack_lies_past_ram_ends_in_lockup_not_a_traceback(saved_snapshot, tmp_path, capsys):
    """Found by the snapshot fuzz target: the SysTick handler returns with MSP past the end of SRAM;
    unstacking faults, and so does stacking the HardFault frame: lockup (ARMv6-M B1.5.15)."""
    import json

    from emulator.cli import main
    doc = json.loads(saved_snapshot.read_text())
    doc["core"]["msp"] = doc["core"]["sp"] = 0x2000_67A0
    path = tmp_path / "stack_past_ram.json"
    path.write_text(json.dumps(doc))
    capsys.readouterr()
    assert main(["run", str(elf("systick")), "--from-snapshot", str(path)]) == 3
    out = capsys.readouterr().out
    assert "run ended: lockup" in out and "not RAM" in out


# -- damaged TOML files -----------------------------------------------------------------------------------
HELLO_PATH = str(elf("hello"))
TOML_REPRODUCERS = [          # (name, command, file contents, what the one line names)
    ("invalid UTF-8", "check", b'[scenario]\napplication = "\xff"\n[expect]\n', "not UTF-8"),
    ("application = 5", "check", b"[scenario]\napplication = 5\n[expect]\n", "application must be a string"),
    ("option_bytes = 5", "check", f'[scenario]\napplication = "{HELLO_PATH}"\noption_bytes = 5\n[expect]\n'.encode(),
     "option_bytes must be a string"),
    ('operation = "bogus"', "check",
     f'[scenario]\napplication = "{HELLO_PATH}"\noperation = "bogus"\n[expect]\n'.encode(), "operation must be"),
    ("3,000 nested arrays", "check", b"[scenario]\napplication = " + b"[" * 3000 + b"]" * 3000 + b"\n[expect]\n",
     "nested too deeply"),
    ("jump_within = nan", "check", f'[scenario]\napplication = "{HELLO_PATH}"\njump_within = nan\n[expect]\n'.encode(),
     "jump_within must be a positive number"),
    ("a status that is not a string", "check",
     f'[scenario]\napplication = "{HELLO_PATH}"\n[expect]\nerase = 5\n'.encode(), "[expect] erase = an integer"),
    ("blocking of numbers", "check",
     f'[scenario]\napplication = "{HELLO_PATH}"\n[expect]\nblocking = [1]\n'.encode(), "blocking"),
    ("an unknown table", "check", f'[scenario]\napplication = "{HELLO_PATH}"\n[expect]\n[extra]\n'.encode(),
     "unknown table [extra]"),
    ("matrix: invalid UTF-8", "sweep", b'[axes]\napplication = ["\xfe"]\n', "not UTF-8"),
    ("matrix: application = 5", "sweep", b"[axes]\napplication = 5\n", "application must be a list of strings"),
    ("matrix: option_bytes = 5", "sweep", f'[axes]\napplication = ["{HELLO_PATH}"]\noption_bytes = 5\n'.encode(),
     "option_bytes must be a list of strings"),
    ('matrix: operation = "bogus"', "sweep", f'[axes]\napplication = ["{HELLO_PATH}"]\noperation = "bogus"\n'.encode(),
     "'bogus' is not one of erase, write"),
    ("matrix: 3,000 nested arrays", "sweep", b"[axes]\napplication = " + b"[" * 3000 + b"]" * 3000 + b"\n",
     "nested too deeply"),
    ("matrix: a status that is not a string", "sweep",
     f'[axes]\napplication = ["{HELLO_PATH}"]\n[[expect]]\nerase = 5\n'.encode(), "erase = 5"),
]


@pytest.mark.parametrize("command, contents, named", [case[1:] for case in TOML_REPRODUCERS],
                         ids=[case[0] for case in TOML_REPRODUCERS])
def test_a_damaged_toml_file_is_refused_in_one_line_naming_the_file_and_key(tmp_path, capsys, command, contents,
                                                                              named):
    from emulator.cli import main
    path = tmp_path / "damaged.toml"
    path.write_bytes(contents)
    assert main([command, str(path)]) == 2
    out, err = capsys.readouterr()
    assert "passed" not in out                                # nothing ran
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"c071emu: {path}"), err
    assert named in lines[0], lines[0]


# -- command-line numbers and output paths ----------------------------------------------------------------
ARGUMENT_REPRODUCERS = [       # (command line after the image, what the one line names)
    (["--max-time", "nan"], "argument --max-time: 'nan'"),
    (["--max-time", "inf"], "argument --max-time: 'inf'"),
    (["--max-time", "1e308"], "argument --max-time: '1e308': at most 86400 s"),
    (["--max-time", "-1"], "argument --max-time: '-1': a time must be a positive number"),
    (["--max-time", "soon"], "argument --max-time: 'soon' is not a number of seconds"),
    (["--gdb", "70000"], "argument --gdb: 70000: a TCP port is 0..65535"),
    (["--usbip", "-1"], "argument --usbip: -1: a TCP port"),
    (["--usart1-rfc2217", "65536"], "argument --usart1-rfc2217: 65536"),
    (["--usart2-rfc2217", "x"], "argument --usart2-rfc2217: 'x' is not a TCP port number"),
    (["--hse", "0"], "argument --hse: 0 Hz: the C071's HSE runs at 4-48 MHz"),
    (["--hse", "100e6"], "argument --hse: 100000000 Hz"),
    (["--save-snapshot", "nodir/s.json"], "argument --save-snapshot: nodir/s.json: folder nodir does not exist"),
    (["--flash-file", "nodir/f.bin"], "argument --flash-file: nodir/f.bin: folder nodir does not exist"),
    (["--trace-file", "nodir/t.txt", "--trace", "insn"], "argument --trace-file: nodir/t.txt"),
    (["--vcd", "nodir/w.vcd"], "argument --vcd: nodir/w.vcd"),
    (["--save-snapshot", "."], "argument --save-snapshot: .: is a folder"),
]


@pytest.mark.parametrize("arguments, named", ARGUMENT_REPRODUCERS, ids=[" ".join(a) for a, _ in ARGUMENT_REPRODUCERS])
def test_a_bad_run_option_is_refused_in_one_line_before_the_run(monkeypatch, tmp_path, capsys, arguments, named):
    from emulator.cli import main
    monkeypatch.chdir(tmp_path)
    assert main(["run", str(elf("hello")), *arguments]) == 2
    out, err = capsys.readouterr()
    assert out == ""                                           # no run, no report
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("c071emu: run: "), err
    assert named in lines[0], lines[0]
    assert not list(tmp_path.iterdir())                        # nothing written


OTHER_COMMAND_REPRODUCERS = [
    (["diagnose", str(elf("hello")), "--max-time", "inf"], "diagnose: argument --max-time"),
    (["diagnose", str(elf("hello")), "--jump-within", "nan"], "diagnose: argument --jump-within"),
    (["diagnose", str(elf("hello")), "--hse", "0"], "diagnose: argument --hse: 0 Hz"),
    (["diagnose", str(elf("hello")), "--html", "nodir/r.html"], "diagnose: argument --html: nodir/r.html"),
    (["check", "any.toml", "--junit", "nodir/j.xml"], "check: argument --junit: nodir/j.xml"),
    (["sweep", "any.toml", "--jobs", "0"], "sweep: argument --jobs: 0: must be 1 or more"),
    (["sweep", "any.toml", "--jobs", "many"], "sweep: argument --jobs: 'many' is not a whole number"),
    (["sweep", "any.toml", "--json", "nodir/out.json"], "sweep: argument --json: nodir/out.json"),
    (["sweep", "any.toml", "--junit", "nodir/j.xml"], "sweep: argument --junit: nodir/j.xml"),
    (["frobnicate"], "argument command: invalid choice"),
    ([], "the following arguments are required: command"),
]


@pytest.mark.parametrize("argv, named", OTHER_COMMAND_REPRODUCERS,
                         ids=[" ".join(a[:1] + a[2:]) or "nothing" for a, _ in OTHER_COMMAND_REPRODUCERS])
def test_a_bad_option_of_any_command_is_refused_in_one_line(monkeypatch, tmp_path, capsys, argv, named):
    from emulator.cli import main
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert out == "" and len(lines) == 1 and lines[0].startswith("c071emu: "), err
    assert named in lines[0], lines[0]


@pytest.mark.parametrize("address", ["0x10000000000", "-5"])
def test_a_stop_address_beyond_32_bits_is_refused(tmp_path, capsys, address):
    from emulator.cli import main
    assert main(["run", str(elf("hello")), "--save-snapshot", str(tmp_path / "s.json"), "--at", address]) == 2
    err = capsys.readouterr().err
    assert err.strip() == f"c071emu: --at {address}: not a 32-bit address (0..0xFFFFFFFF)"
    assert not (tmp_path / "s.json").exists()


@pytest.mark.parametrize("spec", ["pin:PC13=0@1e308s", "pin:PC13=0@1e400", "call:main@1e9s"])
def test_a_trigger_time_beyond_any_run_is_refused(capsys, spec):
    from emulator.cli import main
    assert main(["diagnose", str(elf("hello")), "--trigger", spec]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "is beyond 86400 s of simulated time" in lines[0], lines


def test_a_snapshot_whose_clock_source_this_machine_lacks_is_refused_before_anything_is_restored(
        saved_snapshot, tmp_path, capsys):
    """Found by the snapshot fuzz target: RCC.CFGR.SWS = 1 (HSE) with no HSE fitted gave HCLK 0 Hz
    and a ZeroDivisionError; a snapshot saved running on the HSE needs --hse again."""
    import json

    from emulator.cli import main
    doc = json.loads(saved_snapshot.read_text())
    doc["registers"]["RCC.CFGR"]["value"] = 1 << 3                 # SWS = 1: HSE
    path = tmp_path / "on_hse.json"
    path.write_text(json.dumps(doc))
    capsys.readouterr()
    for command in ("run", "diagnose"):
        assert main([command, str(elf("systick")), "--from-snapshot", str(path)]) == 2
        out, err = capsys.readouterr()
        assert out == "" and err.strip() == (
            f"c071emu: --from-snapshot {path}: registers.RCC.CFGR: SWS = 1 gives the core no clock on this machine; "
            "it was saved running on the HSE: give --hse HZ as then")
