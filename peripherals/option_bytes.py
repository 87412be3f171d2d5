"""Option bytes: their layout, encoding in the 2 KiB area, safe values, and the CLI spec.

Every used word of the area at 0x1FFF_7800 is a double word: value in the low word,
bitwise complement in the high word (RM0490 §4.4, Table 18).  The FLASH controller
loads them into its option registers; the CLI's ``--option-bytes`` edits them.
"""
from __future__ import annotations

import struct
from typing import Optional

from . import c071

# -- option register layouts (RM0490 §4.7.6-§4.7.13; widths as in ST's SVD/CMSIS header) --
OPTR_FIELDS = (
    ("RDP", 0, 8), ("BOR_EN", 8, 1), ("BORR_LEV", 9, 2), ("BORF_LEV", 11, 2),
    ("nRST_STOP", 13, 1), ("nRST_STDBY", 14, 1), ("nRST_SHDW", 15, 1), ("IWDG_SW", 16, 1),
    ("IWDG_STOP", 17, 1), ("IWDG_STDBY", 18, 1), ("WWDG_SW", 19, 1), ("HSE_NOT_REMAPPED", 21, 1),
    ("RAM_PARITY_CHECK", 22, 1), ("SECURE_MUXING_EN", 23, 1), ("nBOOT_SEL", 24, 1),
    ("nBOOT1", 25, 1), ("nBOOT0", 26, 1), ("NRST_MODE", 27, 2), ("IRHEN", 29, 1),
)
SECR_FIELDS = (("SEC_SIZE", 0, 6), ("BOOT_LOCK", 16, 1))
OPTION_FIELDS = {
    "OPTR": OPTR_FIELDS,
    "PCROP1ASR": (("PCROP1A_STRT", 0, 8),),
    "PCROP1AER": (("PCROP1A_END", 0, 8), ("PCROP_RDP", 31, 1)),
    "WRP1AR": (("WRP1A_STRT", 0, 6), ("WRP1A_END", 16, 6)),
    "WRP1BR": (("WRP1B_STRT", 0, 6), ("WRP1B_END", 16, 6)),
    "PCROP1BSR": (("PCROP1B_STRT", 0, 8),),
    "PCROP1BER": (("PCROP1B_END", 0, 8),),
    "SECR": SECR_FIELDS,
}
OPTION_OFFSETS = {"OPTR": 0x20, "PCROP1ASR": 0x24, "PCROP1AER": 0x28, "WRP1AR": 0x2C,
                  "WRP1BR": 0x30, "PCROP1BSR": 0x34, "PCROP1BER": 0x38, "SECR": 0x80}

RDP_LEVEL0, RDP_LEVEL2 = 0xAA, 0xCC     # any other RDP value is level 1 (RM0490 §4.5.1)


def _field_mask(fields) -> int:
    return sum(((1 << w) - 1) << lsb for _, lsb, w in fields)


# Safe values forced on a complement mismatch (RM0490 §4.4.2; FACTS §3.6).
# OPTR: every option bit 1 except BOR_EN = 0; RDP = 0xFF (level 1: neither 0xAA nor
# 0xCC); reserved bits 20, 31:30 = 0.  WRP none: STRT > END.  PCROP all: zone from
# subpage 0 to 0xFF (the whole 128 KiB in 512-byte subpages).  SECR: BOOT_LOCK = 1.
SAFE_VALUES = {
    "OPTR": _field_mask(OPTR_FIELDS) & ~(1 << 8),
    "PCROP1ASR": 0x0000_0000, "PCROP1AER": 0x0000_00FF,
    "WRP1AR": 0x0000_003F, "WRP1BR": 0x0000_003F,
    "PCROP1BSR": 0x0000_0000, "PCROP1BER": 0x0000_00FF,
    "SECR": 0x0001_0000,
}


# -- option-byte area helpers -------------------------------------------------------------
def _area_offset(name: str) -> int:
    return c071.OPTION_WORDS[name] - c071.OPTION_BYTES_BASE


def read_option_word(option_area, name: str) -> tuple[int, int]:
    """(value, complement) of option word ``name`` in a 2 KiB option-byte area."""
    return struct.unpack_from("<II", option_area, _area_offset(name))


def write_factory_option_bytes(option_area, overrides: Optional[dict[str, int]] = None):
    """Fill ``option_area`` as an erased area holding the factory option bytes.

    Every byte becomes 0xFF, then each used word is written as value + complement
    (RM0490 Table 18) from ``c071.FACTORY_OPTION_BYTES`` updated with ``overrides``.
    Returns ``option_area``.
    """
    values = dict(c071.FACTORY_OPTION_BYTES)
    for name, value in (overrides or {}).items():
        if name not in values:
            raise ValueError(f"unknown option word {name!r}; known: {', '.join(values)}")
        values[name] = value & 0xFFFF_FFFF
    view = memoryview(option_area).cast("B")
    if len(view) < c071.OPTION_BYTES_SIZE:
        raise ValueError(f"option-byte area is {len(view)} bytes, expected {c071.OPTION_BYTES_SIZE}")
    view[:c071.OPTION_BYTES_SIZE] = b"\xff" * c071.OPTION_BYTES_SIZE
    for name, value in values.items():
        struct.pack_into("<II", view, _area_offset(name), value, ~value & 0xFFFF_FFFF)
    return option_area


_SPEC_FIELDS = {f.upper(): (word, f, lsb, width)
                for word in ("OPTR", "SECR")
                for f, lsb, width in OPTION_FIELDS[word]}


def parse_option_bytes_spec(spec: str) -> dict[str, int]:
    """Parse a ``--option-bytes`` spec into option-word overrides.

    ``spec`` is comma-separated ``NAME=VALUE`` tokens; NAME is an option word
    (``OPTR=0x3FEFFEAA``, ``SECR=0x10000``, ``WRP1AR=...``) or a field of OPTR or
    SECR (``nBOOT_SEL=0``, ``RDP=0xBB``, ``BOOT_LOCK=1``; case-insensitive).
    Tokens apply left to right on top of the factory values; the result holds
    every word a token touched.
    """
    words: dict[str, int] = {}
    for raw_token in spec.split(","):
        token = raw_token.strip()
        if not token:
            continue
        name, sep, text = token.partition("=")
        name = name.strip()
        if not sep or not name or not text.strip():
            raise ValueError(f"option bytes: {token!r} is not NAME=VALUE")
        try:
            value = int(text.strip(), 0)
        except ValueError:
            raise ValueError(f"option bytes: {token!r}: {text.strip()!r} is not a number") from None
        if value < 0:
            raise ValueError(f"option bytes: {token!r}: negative value")
        key = name.upper()
        if key in OPTION_FIELDS:
            if value > 0xFFFF_FFFF:
                raise ValueError(f"option bytes: {token!r}: value does not fit 32 bits")
            words[key] = value
        elif key in _SPEC_FIELDS:
            word, field_name, lsb, width = _SPEC_FIELDS[key]
            if value >= 1 << width:
                raise ValueError(f"option bytes: {token!r}: {field_name} is {width} bit(s) wide")
            current = words.get(word, c071.FACTORY_OPTION_BYTES[word])
            mask = ((1 << width) - 1) << lsb
            words[word] = (current & ~mask) | (value << lsb)
        else:
            known = ", ".join([*OPTION_FIELDS, *(f for f, _, _ in OPTR_FIELDS + SECR_FIELDS)])
            raise ValueError(f"option bytes: unknown name {name!r} in {token!r}; known: {known}")
    return words


def write_option_words(option_area, values: dict[str, int]) -> None:
    """Program the option-byte area as OPTSTRT does: erase it, then write every word with its complement."""
    view = memoryview(option_area).cast("B")
    view[:c071.OPTION_BYTES_SIZE] = b"\xff" * c071.OPTION_BYTES_SIZE
    for name, value in values.items():
        struct.pack_into("<II", view, _area_offset(name), value & 0xFFFF_FFFF, ~value & 0xFFFF_FFFF)
