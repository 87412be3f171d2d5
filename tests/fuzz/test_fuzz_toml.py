"""TOML files: generated and damaged scenario files and sweep matrices are refused in one line
naming the file, or load into a scenario or matrix whose every field has its documented type.

Generated documents put values of every TOML type (strings, integers, floats with nan and
inf, booleans, arrays, tables, dates) under the known keys, plus strangers; damaged ones flip
bytes of a valid file, cut it, insert invalid UTF-8 or nest arrays thousands deep.
"""
from __future__ import annotations

import json
import math

from hypothesis import event, given, strategies as st

from conftest import elf
from emulator.scenario import SCENARIO_KEYS, Scenario, ScenarioError, load_scenario
from emulator.sweep import AXES, Matrix, SweepError, load_matrix
from fuzzkit import case

HELLO = str(elf("hello"))
BOOTLOADER = str(elf("bootloader"))
VALID_SCENARIO = f"""[scenario]
name = "forum"
application = "{elf("jump_forum_v1")}"
trigger = "usb-control:0x40,0x42"
entry = "jump"
host = "dfu"
operation = "erase"
option_bytes = "RDP=0xAA"
jump_within = 5.0
[expect]
enumerate = "ok"
erase = "failed"
blocking = ["VTOR", "MEM_MODE"]
""".encode()
VALID_MATRIX = f"""[sweep]
name = "m"
diagnose = false
[axes]
application = ["{HELLO}"]
option_bytes = ["", "RDP=0xBB"]
host = ["dfu", "usart"]
entry = ["jump", "boot0"]
operation = ["erase"]
trigger = ["none", "cdc:DFU"]
[[expect]]
match = {{ host = "dfu", entry = "jump" }}
enumerate = "ok"
""".encode()


class Raw(str):
    """A TOML value written as is (dates, bare words)."""


def toml_value(value) -> str:
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return "{ " + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + " }"


def toml_document(tables: dict[str, dict], arrays: dict[str, list[dict]] = {}) -> bytes:
    lines = []
    for name, table in tables.items():
        lines.append(f"[{name}]")
        lines += [f"{json.dumps(k)} = {toml_value(v)}" for k, v in table.items()]
    for name, blocks in arrays.items():
        for block in blocks:
            lines.append(f"[[{name}]]")
            lines += [f"{json.dumps(k)} = {toml_value(v)}" for k, v in block.items()]
    return ("\n".join(lines) + "\n").encode()


words = st.sampled_from(["", "ok", "failed", "not run", "jump", "boot0", "dfu", "usart", "erase", "write", "bogus",
                         "none", "cdc:DFU", "usb-control:0x40,0x42", "call:main", "pin:PC13=0@1ms", "usb",
                         "RDP=0xBB", "nBOOT_SEL=0", "RDP", "OPTR=0x1FFFFFFFF", HELLO, BOOTLOADER, "missing.elf",
                         "VTOR", "hello", "a\x00b", "x" * 300])
scalars = st.one_of(words, st.text(max_size=10), st.booleans(), st.integers(), st.floats(),
                    st.sampled_from([5, 0, -1, 2 ** 63 - 1, math.nan, math.inf, 1e308]),
                    st.sampled_from([Raw("1979-05-27"), Raw("07:32:00"), Raw("1979-05-27T07:32:00Z")]))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.sampled_from([*AXES, "x", "ok"]), inner, max_size=2), max_leaves=5)
nested = st.integers(1, 5000).map(lambda depth: Raw("[" * depth + "]" * depth))
plausible = st.one_of(words, words, words, words, values, nested)      # mostly right, sometimes anything


@st.composite
def scenario_files(draw) -> bytes:
    keys = draw(st.lists(st.sampled_from([*SCENARIO_KEYS, "hosst"]), unique=True, max_size=6))
    scenario = {k: draw(plausible) for k in keys}
    if draw(st.booleans()):
        scenario["application"] = draw(st.sampled_from([HELLO, str(elf("jump_forum_v1"))]))
    expect = {k: draw(plausible) for k in draw(st.lists(st.sampled_from(
        ["enumerate", "erase", "write", "leave", "blocking", "flash"]), unique=True, max_size=3))}
    tables = {"scenario": scenario, "expect": expect}
    if not draw(st.integers(0, 4)):
        tables[draw(st.sampled_from(["extra", "sweep"]))] = {}
    return toml_document(tables)


@st.composite
def matrix_files(draw) -> bytes:
    axes = {k: draw(st.lists(words, min_size=0, max_size=3, unique=True) | plausible)
            for k in draw(st.lists(st.sampled_from([*AXES, "colour"]), unique=True, max_size=4))}
    if draw(st.booleans()):
        axes["application"] = [HELLO]
    sweep = {k: draw(values | words) for k in draw(st.lists(st.sampled_from(["name", "bootloader", "diagnose", "x"]),
                                                            unique=True, max_size=2))}
    blocks = [{k: draw(plausible) for k in draw(st.lists(st.sampled_from(
        ["match", "enumerate", "erase", "blocking", "nope"]), unique=True, min_size=1, max_size=3))}
        for _ in range(draw(st.integers(0, 2)))]
    return toml_document({"sweep": sweep, "axes": axes}, {"expect": blocks})


@st.composite
def damaged(draw, original: bytes) -> bytes:
    data = bytearray(original)
    how = draw(st.sampled_from(["flip", "cut", "utf8", "nest"]))
    if how == "flip":
        for at, bits in draw(st.lists(st.tuples(st.integers(0, len(data) - 1), st.integers(1, 255)), min_size=1,
                                      max_size=4)):
            data[at] ^= bits
    elif how == "cut":
        del data[draw(st.integers(0, len(data) - 1)):]
    elif how == "utf8":
        at = draw(st.integers(0, len(data)))
        data[at:at] = draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80"]))
    else:
        depth = draw(st.integers(500, 5000))
        data += b"\nzz = " + b"[" * depth + b"]" * depth + b"\n"
    return bytes(data)


def check_loaded(loaded) -> None:
    """What a file that loads must give: every field of its documented type."""
    if isinstance(loaded, Scenario):
        assert isinstance(loaded.name, str) and loaded.entry in ("jump", "boot0") and loaded.host in ("dfu", "usart")
        assert loaded.operation in ("erase", "write") and isinstance(loaded.trigger, str)
        assert all(isinstance(v, int) for v in loaded.option_bytes.values())
        assert math.isfinite(loaded.jump_within) and loaded.jump_within > 0
        assert all(s in ("ok", "failed", "not run") for s in loaded.expect_steps.values())
    else:
        assert isinstance(loaded, Matrix) and isinstance(loaded.name, str)
        assert all(isinstance(v, str) for axis in loaded.axes.values() for v in axis)
        loaded.cells()


def load_or_refuse(tmp_path_factory, blob: bytes, loader, error) -> None:
    path = tmp_path_factory.mktemp("toml") / "file.toml"
    path.write_bytes(blob)
    try:
        loaded = loader(path)
    except error as exc:
        message = str(exc)
        assert message.startswith((str(path), str(path.absolute()))) and "\n" not in message, message
        event("refused")
        return
    event("loaded")
    check_loaded(loaded)


@given(blob=st.one_of(scenario_files(), damaged(VALID_SCENARIO)))
def test_a_scenario_file_is_refused_in_one_line_or_loads_with_every_field_typed(tmp_path_factory, blob):
    with case("toml scenarios"):
        load_or_refuse(tmp_path_factory, blob, load_scenario, ScenarioError)


@given(blob=st.one_of(matrix_files(), damaged(VALID_MATRIX)))
def test_a_sweep_matrix_is_refused_in_one_line_or_loads_with_every_field_typed(tmp_path_factory, blob):
    with case("toml matrices"):
        load_or_refuse(tmp_path_factory, blob, load_matrix, SweepError)
