"""ELF mutants: every damaged image is refused with ImageError (one line naming the file), or loads
and runs to a documented end."""
from __future__ import annotations

import struct

from hypothesis import given, strategies as st

from conftest import elf
from emulator.core.runloop import EndReason
from emulator.image import ImageError, load_elf
from emulator.machine import Machine
from fuzzkit import case

ORIGINAL = elf("hello").read_bytes()
HEADER_FIELDS = {            # offset, struct format of the ELF32 header fields worth damaging
    "e_type": (16, "<H"), "e_machine": (18, "<H"), "e_version": (20, "<I"), "e_entry": (24, "<I"),
    "e_phoff": (28, "<I"), "e_shoff": (32, "<I"), "e_phentsize": (42, "<H"), "e_phnum": (44, "<H"),
    "e_shentsize": (46, "<H"), "e_shnum": (48, "<H"), "e_shstrndx": (50, "<H"),
}


def program_header_offset(blob: bytes) -> int:
    return struct.unpack_from("<I", blob, 28)[0]


mutations = st.one_of(
    st.tuples(st.just("field"), st.sampled_from(sorted(HEADER_FIELDS)), st.integers(0, 0xFFFF_FFFF)),
    st.tuples(st.just("phdr"), st.integers(0, 31), st.integers(0, 0xFFFF_FFFF)),
    st.tuples(st.just("flip"), st.integers(0, len(ORIGINAL) - 1), st.integers(1, 255)),
    st.tuples(st.just("truncate"), st.integers(4, len(ORIGINAL) - 1), st.just(0)),
)


def mutate(blob: bytes, steps) -> bytes:
    data = bytearray(blob)
    for kind, where, value in sorted(steps, key=lambda step: step[0] == "truncate"):   # truncations last
        if kind == "field":
            offset, fmt = HEADER_FIELDS[where]
            struct.pack_into(fmt, data, offset, value & (0xFFFF if fmt == "<H" else 0xFFFF_FFFF))
        elif kind == "phdr":              # a word of the first program header (offset, addresses, sizes)
            at = program_header_offset(blob) + 4 * (where % 8)
            struct.pack_into("<I", data, at, value)
        elif kind == "flip":
            data[where % len(data)] ^= value
        else:
            del data[where:]
    return bytes(data)


@given(steps=st.lists(mutations, min_size=1, max_size=3))
def test_a_damaged_elf_is_refused_in_one_line_or_runs_to_a_documented_end(tmp_path_factory, steps):
    with case("elf mutants"):
        path = tmp_path_factory.mktemp("elf") / "mutant.elf"
        path.write_bytes(mutate(ORIGINAL, steps))
        try:
            image = load_elf(path)
        except ImageError as exc:
            message = str(exc)
            assert message.startswith(str(path)) and "\n" not in message
            return
        m = Machine()
        m.load(image)
        m.reset("power")
        end = m.run(max_seconds=2e-3)
        assert isinstance(end.reason, EndReason)
