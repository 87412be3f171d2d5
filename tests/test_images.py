"""Image loading: bad files are refused with a message naming the file and the problem."""
from __future__ import annotations

import struct
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from emulator.core.runloop import EndReason
from emulator.image import ImageError, load_elf, load_image
from emulator.machine import BootMode, Machine
from tests.conftest import elf

SYSMEM_BASE, SYSMEM_SIZE = 0x1FFF_0000, 28 * 1024
PT_LOAD = 1
P_PADDR = 12                      # Elf32_Phdr: p_type, p_offset, p_vaddr, p_paddr, p_filesz...


def loaded_phdr_offsets(path: Path) -> list[int]:
    """File offsets of the program headers of PT_LOAD segments that carry data."""
    with path.open("rb") as fh:
        e = ELFFile(fh)
        phoff, phentsize = e["e_phoff"], e["e_phentsize"]
        return [phoff + i * phentsize for i, seg in enumerate(e.iter_segments())
                if seg["p_type"] == "PT_LOAD" and seg["p_filesz"]]


def patched_copy(tmp_path: Path, name: str, patches: list[tuple[int, bytes]]) -> Path:
    data = bytearray(elf(name).read_bytes())
    for offset, raw in patches:
        data[offset:offset + len(raw)] = raw
    out = tmp_path / f"{name}-patched.elf"
    out.write_bytes(bytes(data))
    return out


def test_missing_file_is_refused(tmp_path):
    path = tmp_path / "nowhere.elf"
    with pytest.raises(ImageError, match="no such file") as exc:
        load_elf(path)
    assert str(path) in str(exc.value)


def test_a_file_that_is_not_elf_is_refused(tmp_path):
    path = tmp_path / "garbage.elf"
    path.write_bytes(b"this is not an ELF file\x00\x01\x02" * 8)
    with pytest.raises(ImageError, match="not an ELF file") as exc:
        load_elf(path)
    assert str(path) in str(exc.value)


def test_elf_for_another_machine_is_refused(tmp_path):
    path = patched_copy(tmp_path, "hello", [(18, b"\x3e\x00")])      # e_machine = EM_X86_64
    with pytest.raises(ImageError, match="not 32-bit little-endian ARM") as exc:
        load_elf(path)
    assert str(path) in str(exc.value) and "EM_X86_64" in str(exc.value)


def test_segment_outside_memory_is_refused(tmp_path):
    first = loaded_phdr_offsets(elf("hello"))[0]
    path = patched_copy(tmp_path, "hello", [(first + P_PADDR, struct.pack("<I", 0x3000_0000))])
    with pytest.raises(ImageError, match="0x30000000 lies outside") as exc:
        load_elf(path)
    assert str(path) in str(exc.value)


def test_segment_running_past_the_end_of_flash_is_refused(tmp_path):
    first = loaded_phdr_offsets(elf("hello"))[0]
    path = patched_copy(tmp_path, "hello", [(first + P_PADDR, struct.pack("<I", 0x0801_FF00))])
    with pytest.raises(ImageError, match="runs past the end of the 128 KiB main flash") as exc:
        load_elf(path)
    assert str(path) in str(exc.value)


def test_overlapping_segments_are_refused(tmp_path):
    offsets = loaded_phdr_offsets(elf("bench_compute"))
    assert len(offsets) >= 2
    same = struct.pack("<I", 0x0800_0000)
    path = patched_copy(tmp_path, "bench_compute", [(o + P_PADDR, same) for o in offsets[:2]])
    with pytest.raises(ImageError, match="overlap") as exc:
        load_elf(path)
    assert str(path) in str(exc.value)


def test_raw_binary_loads_into_system_memory_and_boots(tmp_path):
    (segment,) = load_elf(elf("boot_probe_sysmem")).segments
    assert segment.address == SYSMEM_BASE
    path = tmp_path / "bootloader.bin"
    path.write_bytes(segment.data)
    image = load_image(path, raw_base=SYSMEM_BASE, raw_limit=SYSMEM_SIZE, what="system memory")
    assert [(s.address, s.data) for s in image.segments] == [(SYSMEM_BASE, segment.data)]

    m = Machine()
    m.load(image)
    m.reset("power")
    end = m.run(max_seconds=1)
    assert m.boot_mode is BootMode.SYSTEM_MEMORY
    assert end.reason is EndReason.EXIT and m.guest_output == "hello from system memory\n"


def test_load_image_still_reads_elf_when_a_raw_base_is_given():
    image = load_image(elf("boot_probe_sysmem"), raw_base=SYSMEM_BASE, raw_limit=SYSMEM_SIZE, what="system memory")
    assert "main" in image.symbols


def test_raw_binary_too_large_for_system_memory_is_refused(tmp_path):
    path = tmp_path / "big.bin"
    path.write_bytes(b"\x00" * (SYSMEM_SIZE + 4))
    with pytest.raises(ImageError, match="do not fit the 28 KiB system memory") as exc:
        load_image(path, raw_base=SYSMEM_BASE, raw_limit=SYSMEM_SIZE, what="system memory")
    assert str(path) in str(exc.value)


def test_symbol_for_names_main_and_offsets_inside_it():
    image = load_elf(elf("hello"))
    main = image.address_of("main")
    assert main & 1 == 0
    assert image.symbol_for(main) == "main"
    assert image.symbol_for(main | 1) == "main"          # a Thumb address with bit 0 set
    assert image.symbol_for(main + 4) == "main+0x4"


def test_address_of_an_unknown_symbol_names_the_file():
    with pytest.raises(ImageError, match="no symbol named 'no_such_symbol'"):
        load_elf(elf("hello")).address_of("no_such_symbol")
