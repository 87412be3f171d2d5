"""Firmware images: ELF files and raw binaries, checked before anything is loaded.

A bad image is refused with one line saying what is wrong and where (STYLE.md),
before any memory is touched, so a failed load never leaves a half-loaded machine.
"""
from __future__ import annotations

import bisect
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import struct

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection

from peripherals import c071

EM_ARM = 40
# What a damaged file can make pyelftools raise while it parses (it trusts the offsets and
# counts it reads): each becomes "malformed ELF file", never a traceback.
_PARSE_ERRORS = (ELFError, struct.error, ValueError, KeyError, IndexError, AttributeError, TypeError,
                 UnicodeDecodeError, OverflowError, MemoryError, RecursionError)
LOADABLE_REGIONS = (
    ("main flash", c071.FLASH_BASE, c071.FLASH_SIZE),
    ("system memory", c071.SYSMEM_BASE, c071.SYSMEM_SIZE),
    ("OTP", c071.OTP_BASE, c071.OTP_SIZE),
    ("SRAM", c071.SRAM_BASE, c071.SRAM_SIZE),
)


class ImageError(Exception):
    """An image that cannot be loaded; the message names the file and the problem."""


@dataclass
class Segment:
    address: int
    data: bytes


@dataclass
class Image:
    path: Path
    segments: list[Segment]
    symbols: dict[str, int] = field(default_factory=dict)
    entry: Optional[int] = None
    _sorted: list[tuple[int, str, int]] = field(default_factory=list, repr=False)

    def symbol_for(self, address: int) -> Optional[str]:
        """``name+offset`` of the function or object containing ``address``."""
        addr = address & ~1
        i = bisect.bisect_right(self._sorted, (addr, "\uffff", 0)) - 1
        if i < 0:
            return None
        start, name, size = self._sorted[i]
        if addr - start < max(size, 1) or size == 0 and addr - start < 0x100:
            return name if addr == start else f"{name}+0x{addr - start:X}"
        return None

    def address_of(self, name: str) -> int:
        try:
            return self.symbols[name] & ~1
        except KeyError:
            raise ImageError(f"{self.path}: no symbol named {name!r}") from None

    def regions(self) -> set[str]:
        return {region_of(s.address) for s in self.segments}


def region_of(address: int) -> str:
    for name, base, size in LOADABLE_REGIONS:
        if base <= address < base + size:
            return name
    return "outside memory"


def _check_segment(path: Path, address: int, length: int) -> None:
    for name, base, size in LOADABLE_REGIONS:
        if base <= address < base + size:
            if address + length > base + size:
                raise ImageError(f"{path}: segment at 0x{address:08X} ({length} bytes) runs past the end of "
                                 f"the {size // 1024} KiB {name}")
            return
    raise ImageError(f"{path}: segment at 0x{address:08X} lies outside flash, system memory, OTP and SRAM")


def _require_file(path: Path) -> None:
    """ImageError unless ``path`` names a file (a name too long or a loop of links is refused too)."""
    try:
        exists = path.is_file()
    except (OSError, ValueError) as exc:
        raise ImageError(f"{path}: cannot read ({getattr(exc, 'strerror', None) or exc})") from None
    if not exists:
        raise ImageError(f"{path}: no such file")


def _read(path: Path, limit: Optional[int] = None) -> bytes:
    """The file's bytes (the first ``limit`` of them), or ImageError naming it."""
    _require_file(path)
    try:
        if limit is None:
            return path.read_bytes()
        with path.open("rb") as fh:
            return fh.read(limit)
    except OSError as exc:
        raise ImageError(f"{path}: cannot read ({exc.strerror or exc})") from None


def load_elf(path: str | Path) -> Image:
    path = Path(path)
    blob = _read(path)
    if blob[:4] != b"\x7fELF":
        raise ImageError(f"{path}: not an ELF file")
    try:
        segments, symbols, entries, entry = _parse_elf(path, blob)
    except ImageError:
        raise
    except _PARSE_ERRORS as exc:
        raise ImageError(f"{path}: malformed ELF file ({type(exc).__name__}: {exc})") from None
    if not segments:
        raise ImageError(f"{path}: no loadable segments")
    _check_overlaps(path, segments)
    return Image(path, segments, symbols, entry, sorted(entries))


def _parse_elf(path: Path, blob: bytes):
    """Segments, symbols and entry point of an ELF image, each header checked against the file."""
    elf = ELFFile(io.BytesIO(blob))
    if elf["e_machine"] != "EM_ARM" or elf.elfclass != 32 or not elf.little_endian:
        raise ImageError(f"{path}: ELF for {elf['e_machine']} ({elf.elfclass}-bit), "
                         "not 32-bit little-endian ARM; is this an image for another chip?")
    if elf["e_type"] != "ET_EXEC":
        raise ImageError(f"{path}: ELF type {elf['e_type']}, not an executable (ET_EXEC); "
                         "link the program (an object file or library cannot run)")
    if elf["e_version"] != "EV_CURRENT":
        raise ImageError(f"{path}: ELF version {elf['e_version']}, not 1 (EV_CURRENT)")
    segments = []
    for seg in elf.iter_segments():
        if seg["p_type"] != "PT_LOAD" or seg["p_filesz"] == 0:
            continue
        address, offset, size = seg["p_paddr"], seg["p_offset"], seg["p_filesz"]   # LMA: .data lives in flash
        if offset + size > len(blob):
            raise ImageError(f"{path}: segment at 0x{address:08X} claims {size} bytes at file offset {offset}, "
                             f"past the end of the {len(blob)}-byte file (truncated?)")
        _check_segment(path, address, size)
        segments.append(Segment(address, blob[offset:offset + size]))
    symbols, entries = {}, []
    table = elf.get_section_by_name(".symtab")
    if table is not None:
        if not isinstance(table, SymbolTableSection):
            raise ImageError(f"{path}: section .symtab has type {table['sh_type']}, not a symbol table")
        for sym in table.iter_symbols():
            kind = sym["st_info"]["type"]
            if sym.name and kind in ("STT_FUNC", "STT_OBJECT", "STT_NOTYPE") \
                    and sym["st_shndx"] != "SHN_UNDEF" and not sym.name.startswith("$"):
                symbols[sym.name] = sym["st_value"]
                entries.append((sym["st_value"] & ~1, sym.name, sym["st_size"]))
    return segments, symbols, entries, elf["e_entry"]


def load_binary(path: str | Path, base: int, limit: int, what: str) -> Image:
    path = Path(path)
    data = _read(path)
    if not data:
        raise ImageError(f"{path}: empty file")
    if len(data) > limit:
        raise ImageError(f"{path}: {len(data)} bytes do not fit the {limit // 1024} KiB {what}")
    return Image(path, [Segment(base, data)])


def load_image(path: str | Path, raw_base: int | None = None, raw_limit: int = 0, what: str = "") -> Image:
    """An ELF file, or (when ``raw_base`` is given) a raw binary placed at that address."""
    p = Path(path)
    if raw_base is not None and _head(p) != b"\x7fELF":
        return load_binary(p, raw_base, raw_limit, what)
    return load_elf(p)


def _head(path: Path) -> bytes:
    return _read(path, 4)


BUNDLED_BOOTLOADER = Path(__file__).resolve().parent.parent / "images" / "elf" / "bootloader.elf"


def load_bootloader(path: str | Path | None = None) -> Image:
    """A system-memory image: an ELF, or a raw dump of a chip's system memory placed at
    0x1FFF0000 (default: the bundled reference bootloader).  Every segment must lie in
    system memory, where the boot path looks for it."""
    image = load_image(path or BUNDLED_BOOTLOADER, raw_base=c071.SYSMEM_BASE, raw_limit=c071.SYSMEM_SIZE,
                       what="system memory")
    if image.regions() != {"system memory"}:
        raise ImageError(f"{image.path}: a bootloader must lie in system memory (0x1FFF0000, 28 KiB), "
                         f"this one has segments in {', '.join(sorted(image.regions()))}")
    return image


def _check_overlaps(path: Path, segments: list[Segment]) -> None:
    spans = sorted((s.address, s.address + len(s.data)) for s in segments)
    for (a0, a1), (b0, b1) in zip(spans, spans[1:]):
        if b0 < a1:
            raise ImageError(f"{path}: segments at 0x{a0:08X} and 0x{b0:08X} overlap")


def load_intel_hex(path: str | Path) -> Image:
    """An Intel HEX file (records 00 data, 01 end, 02/04 segment/linear base; 03/05 start
    addresses ignored), contiguous runs merged into segments."""
    path = Path(path)
    _require_file(path)
    chunks: dict[int, int] = {}
    base = 0
    try:
        lines = path.read_text(encoding="ascii").splitlines()
    except UnicodeDecodeError:
        raise ImageError(f"{path}: not an Intel HEX file (not ASCII text)") from None
    for number, line in enumerate(lines, 1):
        line = line.strip()
        if not line:
            continue
        try:
            if not line.startswith(":"):
                raise ValueError("a record starts with ':'")
            record = bytes.fromhex(line[1:])
            count, offset, kind = record[0], int.from_bytes(record[1:3], "big"), record[3]
            data = record[4:4 + count]
            if len(record) != count + 5 or sum(record) & 0xFF:
                raise ValueError("bad length or checksum")
        except (ValueError, IndexError) as exc:
            raise ImageError(f"{path}:{number}: not an Intel HEX record ({exc})") from None
        if kind == 0:
            for i, b in enumerate(data):
                chunks[base + offset + i] = b
        elif kind == 1:
            break
        elif kind == 2:
            base = int.from_bytes(data, "big") << 4
        elif kind == 4:
            base = int.from_bytes(data, "big") << 16
    if not chunks:
        raise ImageError(f"{path}: no data records")
    runs: list[tuple[int, bytearray]] = []
    for address in sorted(chunks):
        if runs and runs[-1][0] + len(runs[-1][1]) == address:
            runs[-1][1].append(chunks[address])
        else:
            runs.append((address, bytearray([chunks[address]])))
    segments = [Segment(a, bytes(d)) for a, d in runs]
    for s in segments:
        _check_segment(path, s.address, len(s.data))
    return Image(path, segments)


def load_payload(path: str | Path, address: Optional[int] = None) -> Image:
    """What a host flow programs: an ELF, an Intel HEX file, or a raw binary placed at
    ``address`` (needed for a raw binary).  It must put a vector table in main flash."""
    p = Path(path)
    head = _head(p)
    if head == b"\x7fELF":
        image = load_elf(p)
    elif head[:1] == b":":
        image = load_intel_hex(p)
    elif address is None:
        raise ImageError(f"{p}: a raw binary payload needs --payload-address (e.g. 0x08000000)")
    else:
        if not c071.FLASH_BASE <= address < c071.FLASH_BASE + c071.FLASH_SIZE:
            raise ImageError(f"{p}: payload address 0x{address:08X} is not in main flash")
        image = load_binary(p, address, c071.FLASH_BASE + c071.FLASH_SIZE - address, "main flash")
    flash = [s for s in image.segments if region_of(s.address) == "main flash"]
    if not flash:
        raise ImageError(f"{p}: nothing to program: no bytes in main flash (0x08000000)")
    first = min(flash, key=lambda s: s.address)
    if len(first.data) < 8:
        raise ImageError(f"{p}: the payload does not start with a vector table (initial SP, reset vector)")
    return image


def image_digest(image: Image) -> str:
    """SHA-256 of an image's loadable bytes (address and data of each segment, in address
    order): the same program gives the same digest whatever file format carried it."""
    import hashlib
    h = hashlib.sha256()
    for s in sorted(image.segments, key=lambda s: s.address):
        h.update(s.address.to_bytes(4, "little") + len(s.data).to_bytes(4, "little") + s.data)
    return h.hexdigest()
