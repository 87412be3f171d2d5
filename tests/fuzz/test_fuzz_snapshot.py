"""Snapshot files: mutants of a real one (saved by ``run --save-snapshot``) are refused in one line
naming the file, or restore and run to a documented end.

Mutations: any field of the JSON document replaced by a value of any JSON type (the ranges
that matter - negative, past 32 bits, past 64 bits, non-finite - drawn often), removed, or
joined by a stranger; a memory replaced by other bytes, compressed or not, cut short or too
long; peripheral registers and core registers set to other 32-bit values (which pass the
checks and must then run); the file's bytes flipped or cut.
"""
from __future__ import annotations

import base64
import contextlib
import copy
import functools
import io
import json
import tempfile
import zlib
from pathlib import Path

from hypothesis import event, given, strategies as st

from conftest import elf
from emulator.analysis.snapshot import restore_snapshot
from emulator.cli import BadInput, main, restorable_snapshot
from emulator.core.runloop import EndReason
from emulator.image import load_elf
from emulator.machine import Machine
from fuzzkit import case

APPLICATION = elf("systick")


@functools.cache
def original() -> tuple[bytes, dict]:
    """A snapshot saved by the CLI at the SysTick handler (an exception active, interrupts on)."""
    with tempfile.TemporaryDirectory(prefix="c071-fuzz-snapshot-") as folder:
        path = Path(folder) / "systick.json"
        with contextlib.redirect_stdout(io.StringIO()):
            assert main(["run", str(APPLICATION), "--at", "SysTick_Handler", "--save-snapshot", str(path)]) == 0
        blob = path.read_bytes()
    return blob, json.loads(blob)


@functools.cache
def application():
    return load_elf(APPLICATION)


edge_numbers = st.sampled_from([-5, -1, 0, 1, 2, 3, 15, 16, 47, 48, 999, 0x40, 0xC0, 0xFF, 2 ** 31, 2 ** 32 - 1,
                                2 ** 32, 2 ** 40, 2 ** 63, 2 ** 64, 10 ** 30])
scalars = st.one_of(st.none(), st.booleans(), edge_numbers, st.integers(), st.floats(allow_nan=True),
                    st.text(max_size=12), st.sampled_from(["", "NVIC.ISER", "SRAM", "eJwDAAAAAAE=", "@@"]))
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=6)


def walk(data, document):
    """A path into the document, drawn one level at a time (stopping at any level)."""
    path, node = [], document
    while isinstance(node, (dict, list)) and node and data.draw(st.integers(0, 3)) > 0:
        key = data.draw(st.sampled_from(sorted(node)) if isinstance(node, dict) else st.integers(0, len(node) - 1))
        path.append(key)
        node = node[key]
    return path


def put(document, path, change):
    if not path:
        return change(document)
    parent = document
    for key in path[:-1]:
        parent = parent[key]
    change_at(parent, path[-1], change)
    return document


def change_at(parent, key, change):
    result = change(parent[key])
    if result is DELETE:
        del parent[key]
    else:
        parent[key] = result


DELETE = object()
FOCUS = ("RCC", "SCB", "SysTick", "FLASH", "IWDG", "WWDG", "USART1", "USART2", "TIM1", "TIM2", "TIM3", "TIM14",
         "TIM16", "TIM17", "RTC", "PWR", "SYSCFG", "USB", "DMA")   # what drives time, faults and events


class Mutant(bytes):
    """A mutant file's bytes, shown in a failure report by how it was made (the file is ~90 kB)."""
    how = ""

    def __repr__(self) -> str:
        return f"<snapshot mutant: {self.how}>"


def mutant(blob: bytes, how: str) -> Mutant:
    made = Mutant(blob)
    made.how = how[:400]
    return made


@st.composite
def mutants(draw) -> Mutant:
    blob, doc = original()
    doc = copy.deepcopy(doc)
    kind = draw(st.sampled_from(["replace", "delete", "add", "memory", "registers", "core", "bytes", "cut"]))
    data = draw(st.data())
    how = kind
    if kind in ("replace", "delete", "add"):
        path = walk(data, doc)
        how = f"{kind} at {path}"
        if kind == "replace":
            value = draw(json_values)
            how += f" by {value!r}"
            doc = put(doc, path, lambda old: value)
        elif kind == "delete" and path:
            doc = put(doc, path, lambda old: DELETE)
        else:
            name, value = draw(st.text(max_size=6)), draw(json_values)
            how += f" key {name!r} = {value!r}"
            doc = put(doc, path, lambda old: {**old, name: value} if isinstance(old, dict) else old)
    elif kind == "memory":
        name = draw(st.sampled_from(sorted(doc["memories"])))
        raw = draw(st.binary(max_size=64) | st.integers(0, 40_000).map(bytes))
        how = draw(st.sampled_from(["zlib", "raw", "cut", "long"]))
        packed = zlib.compress(raw) if how != "raw" else raw
        if how == "cut":
            packed = zlib.compress(bytes(len(zlib.decompress(base64.b64decode(doc["memories"][name])))))[:-3]
        elif how == "long":
            packed = zlib.compress(bytes(200_000))
        doc["memories"][name] = base64.b64encode(packed).decode()
        how = f"memory {name} {how} ({len(raw)} bytes)"
    elif kind == "registers":       # valid words in registers: these pass the checks and must run
        keys = sorted(doc["registers"])
        clocks_and_timers = [k for k in keys if k.split(".")[0] in FOCUS]
        for key in draw(st.lists(st.sampled_from(keys) | st.sampled_from(clocks_and_timers), min_size=1, max_size=8)):
            doc["registers"][key]["value"] = draw(st.integers(0, 2 ** 32 - 1) | edge_numbers.filter(
                lambda n: 0 <= n < 2 ** 32))
            how += f" {key}={doc['registers'][key]['value']:#x}"
    elif kind == "core":
        for name in draw(st.lists(st.sampled_from(["r0", "r4", "lr", "msp", "psp", "pc", "xpsr", "primask",
                                                   "control"]), min_size=1, max_size=4)):
            value = draw(st.integers(0, 2 ** 32 - 1) | edge_numbers)
            doc["core"][name] = value
            how += f" {name}={value:#x}"
            if name == "pc" and draw(st.booleans()):
                doc["pc"] = value                       # consistent, so the run is tried
    if kind == "bytes":
        data_ = bytearray(blob)
        for at, bits in draw(st.lists(st.tuples(st.integers(0, len(blob) - 1), st.integers(1, 255)),
                                      min_size=1, max_size=4)):
            data_[at] ^= bits
            how += f" [{at}]^={bits:#x}"
        return mutant(bytes(data_), how)
    if kind == "cut":
        at = draw(st.integers(0, len(blob) - 1))
        return mutant(blob[:at], f"cut at {at}")
    return mutant(json.dumps(doc).encode(), how)


@given(blob=mutants())
def test_a_damaged_snapshot_is_refused_in_one_line_or_restores_and_runs_to_a_documented_end(tmp_path_factory,
                                                                                            blob):
    with case("snapshot files"):
        path = tmp_path_factory.mktemp("snap") / "mutant.json"
        path.write_bytes(blob)
        m = Machine()
        m.load(application())
        m.reset("power")
        try:
            snap = restorable_snapshot(str(path), m)        # as `run --from-snapshot` takes it
        except BadInput as exc:
            message = str(exc)
            assert message.startswith(f"--from-snapshot {path}") and "\n" not in message, message
            event("refused")
            return
        event("restored")
        restore_snapshot(m, snap)
        end = m.run(max_seconds=2e-3)
        assert isinstance(end.reason, EndReason)
