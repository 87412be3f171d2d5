"""Flash interface registers (FLASH) - RM0490 §4, register map §4.7.

Only what the machine needs to boot is implemented: the access control register,
the option registers loaded from the option-byte area, the EMPTY check and
OPTVERR.  Unlock keys, erase and programming are a later issue: KEYR, OPTKEYR,
CR and the SR flags are declared ``todo`` so that firmware touching them is
reported, never silently accepted.

Option-byte loading (RM0490 §4.4.2, Table 18): every used word of the 2 KiB area
at 0x1FFF_7800 is a double word - value in the low word, bitwise complement in
the high word.  A pair that does not match sets SR.OPTVERR and that register is
loaded with a safe value (FACTS §3.6): user options all 1 except BOR_EN = 0 and
RDP at level 1, no write protection, PCROP over the whole flash, BOOT_LOCK = 1.
The values chosen for "level 1" and "whole flash" are listed in ``SAFE_VALUES``.
Option bytes are loaded at power-on reset (and OBL_LAUNCH); a system reset keeps
the loaded values (RM0490 §4.4.2), as it keeps ACR.EMPTY (RM0490 §3.1.4).
"""
from __future__ import annotations

import struct
from functools import partial
from typing import Optional

from . import c071
from .regs import Access, BusKind, Peripheral, reg, ro, rw, todo, w1c
from .services import ChipServices

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

ACR_RESET = 0x0004_0600     # DBG_SWEN = 1, bit 10 reads 1, ICEN = 1 (RM0490 §4.7.1; SVD)
_EMPTY = 1 << 16
_OPTVERR = 1 << 15
ERASED_DWORD = 0xFFFF_FFFF_FFFF_FFFF


class FlashInterface(Peripheral):
    name = "FLASH"
    bus = BusKind.AHB
    manual = "RM0490 §4"

    def __init__(self, base: int, services: ChipServices | None = None,
                 option_area=None) -> None:
        option_regs = [
            reg(name, OPTION_OFFSETS[name], c071.FACTORY_OPTION_BYTES[name],
                *[ro(f, lsb, w) for f, lsb, w in fields],
                on_write=partial(self._option_register_written, name))
            for name, fields in OPTION_FIELDS.items()
        ]
        super().__init__(base, services, registers=[
            reg("ACR", 0x00, ACR_RESET, rw("LATENCY", 0, 3), rw("PRFTEN", 8), rw("ICEN", 9),
                rw("ICRST", 11), rw("EMPTY", 16), rw("DBG_SWEN", 18)),
            reg("KEYR", 0x08, 0, todo("KEY", 0, 32, Access.WO), on_write=self._key_written),
            reg("OPTKEYR", 0x0C, 0, todo("OPTKEY", 0, 32, Access.WO), on_write=self._optkey_written),
            reg("SR", 0x10, 0,
                *[todo(n, b, 1, Access.W1C) for n, b in (
                    ("EOP", 0), ("OPERR", 1), ("PROGERR", 3), ("WRPERR", 4), ("PGAERR", 5),
                    ("SIZERR", 6), ("PGSERR", 7), ("MISSERR", 8), ("FASTERR", 9), ("RDERR", 14))],
                w1c("OPTVERR", 15), todo("BSY1", 16, 1, Access.RO), todo("CFGBSY", 18, 1, Access.RO)),
            reg("CR", 0x14, 0xC000_0000,
                todo("PG", 0), todo("PER", 1), todo("MER1", 2), todo("PNB", 3, 6),
                todo("STRT", 16, 1, Access.RS), todo("OPTSTRT", 17, 1, Access.RS), todo("FSTPG", 18),
                todo("EOPIE", 24), todo("ERRIE", 25), todo("RDERRIE", 26), todo("OBL_LAUNCH", 27),
                todo("SEC_PROT", 28, 1, Access.RS), todo("OPTLOCK", 30, 1, Access.RS),
                todo("LOCK", 31, 1, Access.RS)),
            *option_regs,
        ])
        self.option_area = option_area
        self._loaded = {name: self.reg[name].reset for name in OPTION_FIELDS}
        self.option_mismatches: list[str] = []

    # -- reset ----------------------------------------------------------------------
    def reset(self) -> None:
        """System reset: option registers, ACR.EMPTY and SR.OPTVERR keep their value."""
        empty = self.reg["ACR"].value & _EMPTY
        optverr = self.reg["SR"].value & _OPTVERR
        super().reset()
        self.reg["ACR"].value |= empty
        self.reg["SR"].value |= optverr

    def on_reset(self) -> None:
        for name, value in self._loaded.items():
            self.reg[name].value = value
        # BOOT_LOCK with RDP level 1 disables debug: DBG_SWEN resets to 0 (RM0490 §4.5.6)
        rdp = self.optr & 0xFF
        if self.secr >> 16 & 1 and rdp not in (RDP_LEVEL0, RDP_LEVEL2):
            self.reg["ACR"].set("DBG_SWEN", 0)

    def power_on_reset(self) -> None:
        """Power-on reset: registers to reset values, then option-byte loading.

        The machine calls ``evaluate_empty`` afterwards (it owns the flash contents).
        """
        super().reset()
        if self.option_area is not None:
            self.load_option_bytes()

    # -- option bytes ------------------------------------------------------------------
    def load_option_bytes(self) -> None:
        """Load the option registers from ``option_area`` (RM0490 §4.4.2)."""
        if self.option_area is None:
            raise ValueError("FLASH: no option-byte area to load from")
        self.option_mismatches = []
        sr = self.reg["SR"]
        sr.value &= ~_OPTVERR
        for name in OPTION_FIELDS:
            value, complement = read_option_word(self.option_area, name)
            if value != ~complement & 0xFFFF_FFFF:
                self.option_mismatches.append(name)
                sr.value |= _OPTVERR
                self.services.event("option_bytes",
                                    f"option byte {name}: value {value:#010x} does not match "
                                    f"complement {complement:#010x}; safe value "
                                    f"{SAFE_VALUES[name]:#010x} loaded, OPTVERR set")
                value = SAFE_VALUES[name]
            self._loaded[name] = value
        self.on_reset()

    def evaluate_empty(self, flash_first_dword: int) -> None:
        """ACR.EMPTY = 1 iff the double word at 0x0800_0000 is erased (RM0490 §3.1.4)."""
        self.reg["ACR"].set("EMPTY", 1 if flash_first_dword == ERASED_DWORD else 0)

    @property
    def optr(self) -> int:
        return self.reg["OPTR"].value

    @property
    def secr(self) -> int:
        return self.reg["SECR"].value

    @property
    def empty(self) -> bool:
        return bool(self.reg["ACR"].get("EMPTY"))

    @property
    def latency(self) -> int:
        return self.reg["ACR"].get("LATENCY")

    # -- register behaviour ---------------------------------------------------------------
    def _key_written(self, old: int, new: int) -> None:
        # write-only key: clear the stored copy so a repeated key is reported again
        self.reg["KEYR"].value = 0

    def _optkey_written(self, old: int, new: int) -> None:
        self.reg["OPTKEYR"].value = 0

    def _option_register_written(self, name: str, old: int, new: int) -> None:
        """Option registers are loaded from the option bytes; programming them is not modelled yet."""
        r = self.reg[name]
        if r.last_written != old:
            self.services.unmodelled(self, r.offset, 4, is_write=True, value=r.last_written, reg=r)


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
