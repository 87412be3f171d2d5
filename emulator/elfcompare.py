"""Compare two sets of ELF files in what matters: loadable bytes and symbols.

Debug sections carry build paths and are ignored.  Used by CI to check that the
committed images are what the sources build (``make images-check``).
"""
from __future__ import annotations

import sys
from pathlib import Path

from elftools.elf.elffile import ELFFile


def essence(path: Path) -> tuple:
    with path.open("rb") as fh:
        elf = ELFFile(fh)
        segments = tuple((s["p_paddr"], s["p_vaddr"], s["p_memsz"], s["p_flags"], s.data())
                         for s in elf.iter_segments() if s["p_type"] == "PT_LOAD")
        table = elf.get_section_by_name(".symtab")
        symbols = tuple(sorted((s.name, s["st_value"], s["st_size"], s["st_info"]["type"])
                               for s in table.iter_symbols() if s.name)) if table else ()
        return segments, symbols, elf["e_entry"]


def _images(folder: Path) -> list[str]:
    """The ELF files under ``folder``, subfolders included (images/elf/bootloaders/), as
    paths relative to it."""
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.elf"))


def compare(committed: Path, rebuilt: Path) -> list[str]:
    problems = []
    names = _images(committed)
    rebuilt_names = _images(rebuilt)
    if names != rebuilt_names:
        problems.append(f"image sets differ: committed {names} vs rebuilt {rebuilt_names}")
    for name in sorted(set(names) & set(rebuilt_names)):
        a, b = essence(committed / name), essence(rebuilt / name)
        if a[0] != b[0]:
            problems.append(f"{name}: loadable segments differ from a rebuild of the sources")
        if a[1] != b[1]:
            problems.append(f"{name}: symbols differ from a rebuild of the sources")
        if a[2] != b[2]:
            problems.append(f"{name}: entry point differs")
    return problems


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m emulator.elfcompare COMMITTED_DIR REBUILT_DIR", file=sys.stderr)
        return 2
    problems = compare(Path(argv[0]), Path(argv[1]))
    for p in problems:
        print(f"images-check: {p}", file=sys.stderr)
    if not problems:
        print(f"images-check: {len(_images(Path(argv[0])))} committed images match their sources")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
