"""Command lines: any option with any value either parses into a value of its documented range or
is refused with one ``c071emu: ...`` line and exit status 2, before anything runs.

Only the parsing is fuzzed (no run starts): the values that pass are checked against the
ranges of emulator/arguments.py, which is what the runs rely on.
"""
from __future__ import annotations

import contextlib
import io
import math
import os

from hypothesis import event, given, strategies as st

from emulator.arguments import HSE_MAX_HZ, HSE_MIN_HZ, MAX_SECONDS
from emulator.cli import parser
from fuzzkit import case

NUMBERS = ["0", "1", "-1", "nan", "inf", "-inf", "1e308", "1e-308", "70000", "65535", "65536", "0x10", "4e6",
           "48000000", "48000001", "3999999", "1_000", " 5", "", "x", "9" * 5000, "0.5", "86400", "86400.1"]
PATHS = ["out.json", "nodir/out.json", ".", "/", "/proc/version", "/dev/null", "a\x00b", "x" * 5000, ""]
OPTIONS = {
    "run": {"--max-time": NUMBERS, "--hse": NUMBERS, "--gdb": NUMBERS, "--usbip": NUMBERS,
            "--usart1-rfc2217": NUMBERS, "--usart2-rfc2217": NUMBERS, "--boot-pin": NUMBERS,
            "--save-snapshot": PATHS, "--flash-file": PATHS, "--trace-file": PATHS, "--vcd": PATHS},
    "diagnose": {"--max-time": NUMBERS, "--jump-within": NUMBERS, "--hse": NUMBERS, "--html": PATHS},
    "check": {"--junit": PATHS},
    "sweep": {"--jobs": NUMBERS, "--json": PATHS, "--junit": PATHS},
}
SECONDS = {"max_time", "jump_within"}
PORTS = {"gdb", "usbip", "usart1_rfc2217", "usart2_rfc2217"}
FILES = {"save_snapshot", "flash_file", "trace_file", "vcd", "html", "json", "junit"}


@st.composite
def command_lines(draw) -> list[str]:
    command = draw(st.sampled_from(sorted(OPTIONS)))
    argv = [command, "images/elf/hello.elf" if command in ("run", "diagnose") else "matrix.toml"]
    for option in draw(st.lists(st.sampled_from(sorted(OPTIONS[command])), max_size=3)):
        argv += [option, draw(st.sampled_from(OPTIONS[command][option]) | st.text(max_size=8))]
    if not draw(st.integers(0, 4)):
        argv.insert(draw(st.integers(0, len(argv))), draw(st.text(max_size=8)))     # a stray word anywhere
    return argv


def check_parsed(args) -> None:
    for name, value in vars(args).items():
        if value is None:
            continue
        if name in SECONDS:
            assert math.isfinite(value) and 0 < value <= MAX_SECONDS
        elif name in PORTS:
            assert 0 <= value <= 65535
        elif name == "hse":
            assert HSE_MIN_HZ <= value <= HSE_MAX_HZ
        elif name == "jobs":
            assert value >= 1
        elif name in FILES and isinstance(value, str):
            folder = os.path.dirname(value) or "."
            assert os.path.isdir(folder) and not os.path.isdir(value)


@given(argv=command_lines())
def test_a_command_line_parses_into_checked_values_or_is_refused_in_one_line(argv):
    with case("command lines"):                   # parsing only checks output paths: nothing is written
        err, out = io.StringIO(), io.StringIO()
        try:
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
                args = parser().parse_args(argv)
        except SystemExit as refused:
            if refused.code == 0 and out.getvalue().startswith("usage:"):     # a stray -h or --he: the help
                return
            lines = err.getvalue().strip().splitlines()
            assert refused.code == 2 and len(lines) == 1 and lines[0].startswith("c071emu: "), err.getvalue()
            event("refused")
            return
        event("parsed")
        check_parsed(args)
