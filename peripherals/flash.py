"""FLASH controller at 0x4002_2000: keys, status, erase, programming, option bytes (RM0490 §4).

What the seed question turns on lives here, so every rule is the manual's:
- Keys (§4.3.4, §4.4.2): KEY1 then KEY2 in KEYR clears CR.LOCK; OPTKEY1 then
  OPTKEY2 in OPTKEYR clears OPTLOCK once LOCK is clear.  A wrong key is a bus error
  and latches the lock until the next system reset.  RM0490 does not say what a key
  write does while already unlocked; this model treats it as a wrong sequence (bus
  error + latched LOCK), as measured on the STM32G081, which shares this flash
  interface (FACTS §3.2: embassy-rs PR #2032); the trace names it
  ``flash.key_while_unlocked`` so the choice is visible.
- CR while LOCK=1 ignores every write but the set-only LOCK/OPTLOCK (§4.7.5); a CR
  write while CFGBSY=1 is a bus error (§4.7.4); a CR write while BSY1=1 stalls the
  bus until the operation ends (§4.3.4 note).
- Status (§4.7.4): error flags are rc_w1.  An operation started while any of
  PROGERR, SIZERR, PGAERR, WRPERR, MISSERR, FASTERR or PGSERR is still set fails with
  PGSERR (§4.3.6 "Programming errors") - stale flags poison the next operation.
  EOP and OPERR are set only when EOPIE / ERRIE are set (§4.6 Table 25 notes).
- Operations (§4.3.5-§4.3.6): page erase (PER + PNB + STRT), mass erase (MER1 +
  STRT), double-word programming (two word writes, first 8-byte aligned), fast
  programming of a 256-byte row (FSTPG, words back to back).  A write to flash while
  locked or with PG=0 sets PGSERR and CFGBSY until a whole double word has been
  sent (§4.7.4 CFGBSY note).
- Protection (§4.5): WRP areas refuse erase/program of their pages with WRPERR; in
  RDP level 1 with a boot from system memory or SRAM, main flash is inaccessible
  (the machine unmaps it, so accesses are bus errors) and erase/program set WRPERR.
  RDP level 2 keeps the boot in main flash and makes the option bytes unchangeable
  (OPTSTRT sets WRPERR); programming RDP from level 1 back to 0xAA mass-erases main
  flash first - all of it when PCROP_RDP is set or no PCROP zone exists, otherwise
  the pages that hold no PCROP subpage (RM0444 §3.5.1 for the G0 flash interface this
  one shares; RM0490 §4.5.1).  SEC_PROT hides the securable area (the first SECR.SEC_SIZE pages) until the next
  reset: any access is a bus error (RM0490 §4.5.6; FACTS §3.4 Tables 15/16).
  PCROP zones (512-byte subpages from STRT to END) are
  execute-only: a data read sets RDERR (IRQ with RDERRIE) and reads 0 - the value is an
  INFERENCE from the G0/G4/L4 manuals, which say the read "triggers RDERR" - and an
  erase or program of a page holding a PCROP subpage sets WRPERR.

Durations: DS14693 (the C071 datasheet) was not retrieved.  The figures below are
the typical values of the same flash interface in the STM32G0 family datasheets
(DS12991 "Flash memory characteristics": tprog 85 us per double word, tprog_row
2.7 ms fast, tERASE 22 ms per page, tME 22.1 ms) - closest family, stated as such.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Callable, Optional, Protocol

from . import c071
from .option_bytes import (OPTION_FIELDS, OPTION_OFFSETS, RDP_LEVEL0, RDP_LEVEL2, SAFE_VALUES,
                           read_option_word, write_option_words)
from .regs import BusKind, Peripheral, Register, reg, ro, rs, rw, w1c, wo
from .services import ChipServices

KEY1, KEY2 = 0x4567_0123, 0xCDEF_89AB             # RM0490 §4.7.2
OPTKEY1, OPTKEY2 = 0x0819_2A3B, 0x4C5D_6E7F       # RM0490 §4.7.3

T_PROGRAM_DWORD = 85e-6
T_PROGRAM_ROW = 2.7e-3
T_ERASE_PAGE = 22e-3
T_MASS_ERASE = 22.1e-3
T_OPTION_PROGRAM = T_ERASE_PAGE + 8 * T_PROGRAM_DWORD
FAST_GAP_MISS = 20e-6          # next double word later than this: MISSERR (RM0490 §4.3.6)
FAST_ROW_TIMEOUT = 8e-3        # row not complete after this: FASTERR (RM0490 §4.3.6, FACTS §3.4)
ROW_BYTES = 256

ACR_RESET = 0x0004_0600        # DBG_SWEN = 1, bit 10 reads 1, ICEN = 1 (RM0490 §4.7.1; SVD)
ERASED_DWORD = 0xFFFF_FFFF_FFFF_FFFF

# SR bits (RM0490 §4.7.4)
EOP, OPERR, PROGERR, WRPERR, PGAERR, SIZERR, PGSERR, MISSERR, FASTERR = (
    1 << 0, 1 << 1, 1 << 3, 1 << 4, 1 << 5, 1 << 6, 1 << 7, 1 << 8, 1 << 9)
RDERR, OPTVERR, BSY1, CFGBSY = 1 << 14, 1 << 15, 1 << 16, 1 << 18
POISON = PROGERR | SIZERR | PGAERR | WRPERR | MISSERR | FASTERR | PGSERR
ERROR_NAMES = {PROGERR: "PROGERR", WRPERR: "WRPERR", PGAERR: "PGAERR", SIZERR: "SIZERR",
               PGSERR: "PGSERR", MISSERR: "MISSERR", FASTERR: "FASTERR", EOP: "EOP", OPERR: "OPERR"}
# CR bits (RM0490 §4.7.5)
PG, PER, MER1, STRT, OPTSTRT, FSTPG = 1 << 0, 1 << 1, 1 << 2, 1 << 16, 1 << 17, 1 << 18
EOPIE, ERRIE, RDERRIE, OBL_LAUNCH, SEC_PROT, OPTLOCK, LOCK = (
    1 << 24, 1 << 25, 1 << 26, 1 << 27, 1 << 28, 1 << 30, 1 << 31)


class FlashArray(Protocol):
    """The main-flash bytes as the controller changes them (the machine drops stale code)."""
    def read(self, address: int, length: int) -> bytes: ...
    def write(self, address: int, data: bytes) -> None: ...


@dataclass
class Operation:
    kind: str                  # "page erase" | "mass erase" | "program" | "fast program" | "option bytes"
    address: int
    data: bytes = b""
    start: float = 0.0
    event: object = None


def describe_flags(sr: int) -> str:
    names = [n for bit, n in ERROR_NAMES.items() if sr & bit]
    return "+".join(names) if names else "no flags"


@dataclass
class KeyLock:
    """The two-key unlock sequence of one lock bit (FLASH_CR.LOCK or OPTLOCK)."""
    register: str            # "KEYR" | "OPTKEYR"
    bit: int
    key1: int
    key2: int
    noun: str                # for messages: "key" | "option key"
    event_prefix: str        # "flash.key" | "flash.optkey"
    state: str = "locked"    # locked | key1 | unlocked | latched

    def accept(self, key: int) -> bool:
        """Advance on the right key; False on a wrong one."""
        if self.state == "locked" and key == self.key1:
            self.state = "key1"
        elif self.state == "key1" and key == self.key2:
            self.state = "unlocked"
        else:
            return False
        return True


def _operation_text(kind: str, address: int, start: float, end: float, result: str, text: str) -> str:
    where = f" 0x{address:08X}" if address else ""
    if kind == "page erase":
        where = f" page {(address - c071.FLASH_BASE) // c071.FLASH_PAGE_SIZE} (0x{address:08X})"
    detail = f": {text}" if text else ""
    return f"{kind}{where} {start * 1e3:.3f} ms -> {end * 1e3:.3f} ms, {result}{detail}"


class FlashController(Peripheral):
    name = "FLASH"
    bus = BusKind.AHB
    manual = "RM0490 §4"

    def __init__(self, base: int = c071.FLASH_REGS, services: ChipServices | None = None, option_area=None,
                 array: FlashArray | None = None,
                 rdp_restricted: Callable[[], bool] = lambda: False,
                 busy_changed: Callable[[bool], None] = lambda busy: None,
                 secure_area_locked: Callable[[int], None] = lambda size: None) -> None:
        self.secure_area_locked = secure_area_locked
        self.option_area = option_area
        self.array = array
        self.rdp_restricted = rdp_restricted
        self.busy_changed = busy_changed
        option_regs = [
            reg(name, OPTION_OFFSETS[name], c071.FACTORY_OPTION_BYTES[name],
                *[rw(f, lsb, w) for f, lsb, w in fields])
            for name, fields in OPTION_FIELDS.items()
        ]
        super().__init__(base, services, registers=[
            reg("ACR", 0x00, ACR_RESET, rw("LATENCY", 0, 3), rw("PRFTEN", 8), rw("ICEN", 9),
                rw("ICRST", 11), rw("EMPTY", 16), rw("DBG_SWEN", 18)),
            reg("KEYR", 0x08, 0, wo("KEY", 0, 32), on_write=self._key_written),
            reg("OPTKEYR", 0x0C, 0, wo("OPTKEY", 0, 32), on_write=self._optkey_written),
            reg("SR", 0x10, 0, w1c("EOP", 0), w1c("OPERR", 1), w1c("PROGERR", 3), w1c("WRPERR", 4),
                w1c("PGAERR", 5), w1c("SIZERR", 6), w1c("PGSERR", 7), w1c("MISSERR", 8), w1c("FASTERR", 9),
                w1c("RDERR", 14), w1c("OPTVERR", 15), ro("BSY1", 16), ro("CFGBSY", 18),
                on_write=lambda old, new: self._update_irq()),
            reg("CR", 0x14, LOCK | OPTLOCK, rw("PG", 0), rw("PER", 1), rw("MER1", 2), rw("PNB", 3, 6),
                rs("STRT", 16), rs("OPTSTRT", 17), rw("FSTPG", 18), rw("EOPIE", 24), rw("ERRIE", 25),
                rw("RDERRIE", 26), rs("OBL_LAUNCH", 27), rs("SEC_PROT", 28), rs("OPTLOCK", 30), rs("LOCK", 31),
                on_write=self._cr_written),
            *option_regs,
        ])
        self.sr: Register = self.reg["SR"]
        self.cr: Register = self.reg["CR"]
        self._loaded = {name: self.reg[name].reset for name in OPTION_FIELDS}
        self.option_mismatches: list[str] = []
        self.stall_debt_s = 0.0
        self.operations: list[tuple[str, int, float, float, str]] = []   # kind, address, start, end, result

    # -- resets --------------------------------------------------------------------------
    def reset(self) -> None:
        """System reset: option registers, ACR.EMPTY and SR.OPTVERR keep their value (§3.1.4, §4.4.2)."""
        empty = self.reg["ACR"].value & (1 << 16)
        optverr = self.sr.value & OPTVERR
        super().reset()
        self.reg["ACR"].value |= empty
        self.sr.value |= optverr

    def on_reset(self) -> None:
        self.keys = KeyLock("KEYR", LOCK, KEY1, KEY2, "key", "flash.key")
        self.option_keys = KeyLock("OPTKEYR", OPTLOCK, OPTKEY1, OPTKEY2, "option key", "flash.optkey")
        self._latched = False
        self._pending_word: Optional[tuple[int, int]] = None      # (address, value) of a first word
        self._stray_word: Optional[int] = None                   # address of a half-sent locked write
        self._row: list[int] = []
        self._row_base = 0
        self._last_fast_word_s = 0.0
        self._operation: Optional[Operation] = None
        for name, value in self._loaded.items():
            self.reg[name].value = value
        rdp = self.optr & 0xFF
        if self.secr >> 16 & 1 and rdp not in (RDP_LEVEL0, RDP_LEVEL2):
            self.reg["ACR"].set("DBG_SWEN", 0)        # BOOT_LOCK with RDP 1 disables debug (§4.5.6)

    def power_on_reset(self) -> None:
        """Registers to reset values, then option-byte loading (the machine then evaluates EMPTY)."""
        super().reset()
        if self.option_area is not None:
            self.load_option_bytes()

    # -- option bytes ----------------------------------------------------------------------
    def load_option_bytes(self) -> None:
        """Load the option registers from the option-byte area (RM0490 §4.4.2)."""
        self.option_mismatches = []
        self.sr.value &= ~OPTVERR
        for name in OPTION_FIELDS:
            value, complement = read_option_word(self.option_area, name)
            if value != ~complement & 0xFFFF_FFFF:
                self.option_mismatches.append(name)
                self.sr.value |= OPTVERR
                self.services.event("flash.option_mismatch",
                                    f"option byte {name}: value {value:#010x} does not match complement "
                                    f"{complement:#010x}; safe value {SAFE_VALUES[name]:#010x} loaded, OPTVERR set")
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

    @property
    def busy(self) -> bool:
        return self._operation is not None

    def rdp_level(self) -> int:
        """The protection in force: from the loaded option bytes, not from an OPTR being edited."""
        rdp = self._loaded["OPTR"] & 0xFF
        return 0 if rdp == RDP_LEVEL0 else 2 if rdp == RDP_LEVEL2 else 1

    # -- the bus -------------------------------------------------------------------------------
    def write_register(self, reg: Register, data: int, lanes: int = 0xFFFF_FFFF) -> None:
        if reg is self.cr:
            if self.sr.value & CFGBSY:
                self.services.bus_error("FLASH_CR written while CFGBSY is set (RM0490 §4.7.5)")
                self.services.event("flash.cr_while_cfgbsy", f"CR write 0x{data:08X} while CFGBSY=1: bus error")
                return
            if self.busy:
                self._stall_until_done("FLASH_CR write")
            if self.cr.value & LOCK:
                data = (self.cr.value & ~(LOCK | OPTLOCK)) | (data & (LOCK | OPTLOCK))
            elif self.cr.value & OPTLOCK:
                data &= ~(OPTSTRT | OBL_LAUNCH)
        elif reg.name in OPTION_FIELDS and self.cr.value & OPTLOCK:
            return                                     # option registers are write-protected by OPTLOCK
        super().write_register(reg, data, lanes)

    # -- keys ------------------------------------------------------------------------------------
    def _key_fault(self, register: str, kind: str, text: str) -> None:
        self._latched = True
        self.keys.state = self.option_keys.state = "latched"
        self.cr.value |= LOCK | OPTLOCK
        self.services.event(kind, f"{text}: bus error, LOCK latched until the next system reset")
        self.services.bus_error(f"{register}: {text}")

    def _key_written(self, old: int, new: int) -> None:
        key = self.reg["KEYR"].last_written
        if self._latched:
            self._key_fault("FLASH_KEYR", "flash.key_after_latch", f"key 0x{key:08X} written after a failed unlock")
        else:
            self._key_sequence(self.keys, key, "FLASH_CR is", "flash.unlock", "FLASH_CR unlocked")

    def _optkey_written(self, old: int, new: int) -> None:
        key = self.reg["OPTKEYR"].last_written
        if self._latched or self.cr.value & LOCK:
            self._key_fault("FLASH_OPTKEYR", "flash.optkey_while_locked",
                            f"option key 0x{key:08X} written while FLASH_CR is locked")
        else:
            self._key_sequence(self.option_keys, key, "options are", "flash.option_unlock", "option bytes unlocked")

    def _key_sequence(self, lock: "KeyLock", key: int, what: str, event: str, text: str) -> None:
        """RM0490 §4.3.4 / §4.4.2: KEY1 then KEY2 clears the lock bit; anything else is a fault."""
        register = f"FLASH_{lock.register}"
        if not self.cr.value & lock.bit:
            self._key_fault(register, lock.event_prefix + "_while_unlocked",
                            f"{lock.noun} 0x{key:08X} written while {what} already unlocked")
        elif lock.accept(key):
            if lock.state == "unlocked":
                before = self.cr.value
                self.cr.value &= ~lock.bit
                self.cr.note_hardware_change(before)      # provenance: the KEY2 store cleared LOCK
                self.services.event(event, text)
        else:
            self._key_fault(register, "flash.wrong_" + lock.event_prefix.split(".")[1],
                            f"wrong {lock.noun} sequence (0x{key:08X})")

    # -- control register ------------------------------------------------------------------------
    def _cr_written(self, old: int, new: int) -> None:
        if new & LOCK and not old & LOCK:
            before = self.cr.value
            self.cr.value |= OPTLOCK                   # setting LOCK also sets OPTLOCK (§4.4.2 note)
            self.cr.note_hardware_change(before)
            self.keys.state = "latched" if self._latched else "locked"
        if new & OPTLOCK and not old & OPTLOCK and not self._latched:
            self.option_keys.state = "locked"
        if new & STRT and not old & STRT:
            self._start_erase()
        if new & OPTSTRT and not old & OPTSTRT:
            self._start_option_program()
        if new & SEC_PROT and not old & SEC_PROT:
            size = (self.secr & 0x3F) * c071.FLASH_PAGE_SIZE
            self.services.event("flash.sec_prot", f"SEC_PROT: the securable area (first {size // 1024} KiB) "
                                "is inaccessible until the next reset")
            if size:
                self.secure_area_locked(size)
        if new & OBL_LAUNCH:
            self.services.event("flash.obl_launch", "OBL_LAUNCH: option bytes reload and system reset")
            self.services.request_reset("obl")
        self._update_irq()

    def _poisoned(self) -> bool:
        """§4.3.6: an error flag left from an earlier operation fails the next one with PGSERR."""
        if self.sr.value & POISON:
            self._error(PGSERR, f"error flags {describe_flags(self.sr.value & POISON)} still set from an "
                                "earlier operation")
            return True
        return False

    def _start_erase(self) -> None:
        cr = self.cr.value
        if not cr & (PER | MER1):
            self.cr.value &= ~STRT
            return
        if self._poisoned() or cr & PER and cr & (MER1 | PG | FSTPG) or cr & MER1 and cr & (PG | FSTPG):
            if not self.sr.value & PGSERR:
                self._error(PGSERR, "inconsistent PG/PER/MER1/FSTPG bits at STRT")
            self.cr.value &= ~STRT
            return
        if cr & PER:
            page = cr >> 3 & 0x3F
            address = c071.FLASH_BASE + page * c071.FLASH_PAGE_SIZE
            refusal = self._write_refusal(page)
            if refusal:
                self._error(WRPERR, f"page {page} not erased: {refusal}")
                self.cr.value &= ~STRT
                return
            self._begin(Operation("page erase", address, b"\xff" * c071.FLASH_PAGE_SIZE), T_ERASE_PAGE)
        else:
            refusal = self._mass_erase_refusal()
            if refusal:
                self._error(WRPERR, f"mass erase refused: {refusal}")
                self.cr.value &= ~STRT
                return
            self._begin(Operation("mass erase", c071.FLASH_BASE, b"\xff" * c071.FLASH_SIZE), T_MASS_ERASE)

    def pcrop_ranges(self) -> list[tuple[int, int]]:
        """[start, end) byte ranges of the PCROP zones A and B (512-byte subpages, RM0490 §4.5.2)."""
        ranges = []
        for start_reg, end_reg in (("PCROP1ASR", "PCROP1AER"), ("PCROP1BSR", "PCROP1BER")):
            first, last = self.reg[start_reg].value & 0xFF, self.reg[end_reg].value & 0xFF
            if first <= last:
                ranges.append((c071.FLASH_BASE + first * 512, c071.FLASH_BASE + (last + 1) * 512))
        return ranges

    def in_pcrop(self, address: int) -> bool:
        return any(lo <= address < hi for lo, hi in self.pcrop_ranges())

    def _page_has_pcrop(self, page: int) -> bool:
        start = c071.FLASH_BASE + page * c071.FLASH_PAGE_SIZE
        return any(lo < start + c071.FLASH_PAGE_SIZE and start < hi for lo, hi in self.pcrop_ranges())

    def pcrop_read(self, address: int) -> None:
        """A data read of a PCROP subpage (the machine returns 0 for it)."""
        self.sr.value |= RDERR
        self.services.event("flash.pcrop_read", f"data read of PCROP-protected 0x{address:08X}: RDERR, reads 0")
        self._update_irq()

    def _write_refusal(self, page: int) -> str:
        if self.rdp_restricted():
            return "RDP level 1 with boot from system memory or SRAM (RM0490 §4.5.1)"
        if self._page_has_pcrop(page):
            return "the page holds PCROP-protected subpages"
        for name in ("WRP1AR", "WRP1BR"):
            v = self.reg[name].value
            start, end = v & 0x3F, v >> 16 & 0x3F
            if start <= page <= end:
                return f"write-protected by {name} (pages {start}-{end})"
        if self.cr.value & SEC_PROT and page < (self.secr & 0x3F):
            return "inside the secured area (SEC_PROT set)"
        return ""

    def _mass_erase_refusal(self) -> str:
        return next((r for r in (self._write_refusal(p) for p in range(c071.FLASH_PAGES)) if r), "")

    def _start_option_program(self) -> None:
        if self._poisoned():
            self.cr.value &= ~OPTSTRT
            return
        if self.rdp_level() == 2:
            self._error(WRPERR, "option bytes cannot be changed in RDP level 2")
            self.cr.value &= ~OPTSTRT
            return
        values = {name: self.reg[name].value for name in OPTION_FIELDS}
        regression = self.rdp_level() == 1 and values["OPTR"] & 0xFF == RDP_LEVEL0
        kind = "RDP regression" if regression else "option bytes"
        self._begin(Operation(kind, c071.OPTION_BYTES_BASE, struct.pack("<8I", *values.values())),
                    T_OPTION_PROGRAM + (T_MASS_ERASE if regression else 0), option_values=values)

    def _regression_erase(self, values: dict[str, int]) -> None:
        """RDP 1 -> 0: full mass erase, or only pages without PCROP subpages when PCROP_RDP = 0."""
        keep_pcrop = not values["PCROP1AER"] >> 31 & 1
        for page in range(c071.FLASH_PAGES):
            if keep_pcrop and self._page_has_pcrop(page):
                continue
            self.array.write(c071.FLASH_BASE + page * c071.FLASH_PAGE_SIZE, b"\xff" * c071.FLASH_PAGE_SIZE)

    # -- writes to the flash array (from the machine's write-protect hook) -------------------------
    def memory_write(self, address: int, size: int, value: int) -> bool:
        """A CPU store into main flash: a programming step or a programming error.  True when
        the store completed a double word and started its programming: the array will hold
        exactly the stored bytes, and a read of them meanwhile stalls until it does (§4.3.4);
        False for any other store (a first word, an error)."""
        cr = self.cr.value
        if cr & LOCK or not cr & (PG | FSTPG):
            self._stray_write(address, size, value)
            return False
        if size != 4:
            self._error(SIZERR, f"{size * 8}-bit write to 0x{address:08X} while programming")
            self._pending_word = None
            return False
        if cr & (PER | MER1):
            self._error(PGSERR, "PER/MER1 set while programming")
            return False
        if cr & FSTPG:
            self._fast_word(address, value)
            return False
        if self._pending_word is None:
            if self._poisoned():
                return False
            if address & 7:
                self._error(PGAERR, f"first word at 0x{address:08X} is not double-word aligned")
                return False
            self._pending_word = (address, value)
            before = self.sr.value
            self.sr.value |= CFGBSY
            self.sr.note_hardware_change(before)
            return False
        first_address, first = self._pending_word
        self._pending_word = None
        if address != first_address + 4:
            self.sr.value &= ~CFGBSY
            self._error(PGAERR, f"second word at 0x{address:08X} does not follow 0x{first_address:08X}")
            return False
        data = struct.pack("<II", first, value)
        refusal = self._write_refusal((first_address - c071.FLASH_BASE) // c071.FLASH_PAGE_SIZE)
        if refusal:
            self.sr.value &= ~CFGBSY
            self._error(WRPERR, f"0x{first_address:08X} not programmed: {refusal}")
            return False
        current = self.array.read(first_address, 8)
        if current != b"\xff" * 8 and data != b"\x00" * 8:
            self.sr.value &= ~CFGBSY
            self._error(PROGERR, f"0x{first_address:08X} is not erased (holds {current.hex()})")
            return False
        self._begin(Operation("program", first_address, data), T_PROGRAM_DWORD)
        return True

    def _stray_write(self, address: int, size: int, value: int) -> None:
        """A store to flash outside a programming sequence (§4.7.4): PGSERR, CFGBSY until a double word."""
        if self._stray_word is None:
            self._stray_word = address & ~7
            before = self.sr.value
            self.sr.value |= CFGBSY
            self.sr.note_hardware_change(before)
            self._error(PGSERR, f"write of 0x{value:X} to 0x{address:08X} while "
                                f"{'locked' if self.cr.value & LOCK else 'PG and FSTPG are clear'}")
        if address + size >= self._stray_word + 8:
            self._stray_word = None
            self.sr.value &= ~CFGBSY

    def _fast_word(self, address: int, value: int) -> None:
        now = self.services.now_seconds()
        if not self._row:
            if self._poisoned():
                return
            if address % ROW_BYTES:
                self._error(PGAERR, f"fast programming must start on a 256-byte row, not 0x{address:08X}")
                return
            if self.array.read(address, ROW_BYTES) != b"\xff" * ROW_BYTES:
                self._error(PGSERR, f"fast programming of row 0x{address:08X} without a prior erase")
                return
            self._row_base = address
            self.sr.value |= CFGBSY
            self._row_deadline = self.services.after_seconds(FAST_ROW_TIMEOUT, self._fast_timeout,
                                                             "flash fast-programming timeout")
        elif now - self._last_fast_word_s > FAST_GAP_MISS:
            self._row = []
            self._row_deadline.cancel()
            self.sr.value &= ~CFGBSY
            self._error(MISSERR, f"fast programming: next word at 0x{address:08X} came "
                                 f"{(now - self._last_fast_word_s) * 1e6:.1f} us late")
            return
        elif address != self._row_base + 4 * len(self._row):
            self._row = []
            self._row_deadline.cancel()
            self.sr.value &= ~CFGBSY
            self._error(PGAERR, f"fast programming: word at 0x{address:08X} out of sequence")
            return
        self._row.append(value)
        self._last_fast_word_s = now
        if len(self._row) == ROW_BYTES // 4:
            data = struct.pack(f"<{len(self._row)}I", *self._row)
            self._row = []
            self._row_deadline.cancel()
            self._begin(Operation("fast program", self._row_base, data), T_PROGRAM_ROW)

    def _fast_timeout(self) -> None:
        if self._row:
            self._row = []
            self.sr.value &= ~CFGBSY
            self._error(FASTERR, f"fast programming of row 0x{self._row_base:08X} not completed within 8 ms")

    # -- operation life cycle --------------------------------------------------------------------------
    def _begin(self, op: Operation, seconds: float, option_values: Optional[dict] = None) -> None:
        op.start = self.services.now_seconds()
        self._operation = op
        self._option_values = option_values
        self.sr.value |= BSY1 | CFGBSY
        op.event = self.services.after_seconds(seconds, self._finish, f"flash {op.kind}")
        self.busy_changed(True)

    def _finish(self) -> None:
        op = self._operation
        if op is None:
            return
        self._operation = None
        sr_before, cr_before = self.sr.value, self.cr.value
        if op.kind == "RDP regression":
            self._regression_erase(self._option_values)
            write_option_words(self.option_area, self._option_values)
        elif op.kind == "option bytes":
            write_option_words(self.option_area, self._option_values)
        else:
            self.array.write(op.address, op.data)
        self.sr.value &= ~(BSY1 | CFGBSY)
        self.cr.value &= ~(STRT | OPTSTRT)
        if self.cr.value & EOPIE:
            self.sr.value |= EOP
        self.sr.note_hardware_change(sr_before)           # provenance: the operation's end
        self.cr.note_hardware_change(cr_before)
        end = self.services.now_seconds() + self.stall_debt_s
        self._log(op.kind, op.address, op.start, end, self.sr.value)
        self._update_irq()
        self.busy_changed(False)

    def _stall_until_done(self, why: str) -> None:
        """The bus stalls until the running operation ends (RM0490 §4.3.4): finish it now, owe the time."""
        op = self._operation
        remaining = max(op.start + self._duration(op) - self.services.now_seconds(), 0.0)
        op.event.cancel()
        self.stall_debt_s += remaining
        self.services.event("flash.stall", f"{why} stalls {remaining * 1e3:.3f} ms until the {op.kind} ends")
        self._finish()

    @staticmethod
    def _duration(op: Operation) -> float:
        return {"page erase": T_ERASE_PAGE, "mass erase": T_MASS_ERASE, "program": T_PROGRAM_DWORD,
                "fast program": T_PROGRAM_ROW, "option bytes": T_OPTION_PROGRAM,
                "RDP regression": T_OPTION_PROGRAM + T_MASS_ERASE}[op.kind]

    def take_stall_debt(self) -> float:
        debt, self.stall_debt_s = self.stall_debt_s, 0.0
        return debt

    def finish_for_stall(self, why: str) -> None:
        """A flash read or fetch arrived while busy: the machine waits out the operation."""
        if self._operation is not None:
            self._stall_until_done(why)

    def operation_seconds(self) -> float:
        return self._duration(self._operation) if self._operation else 0.0

    def operation_end_cycle(self) -> Optional[int]:
        return self._operation.event.cycle if self._operation else None

    def _error(self, flag: int, text: str) -> None:
        before = self.sr.value
        self.sr.value |= flag
        if self.cr.value & ERRIE:
            self.sr.value |= OPERR
        self.sr.note_hardware_change(before)              # provenance: which access or event set the flag
        now = self.services.now_seconds()
        self._log("refused" if flag != PGSERR else "sequence error", 0, now, now, self.sr.value, text)
        self._update_irq()

    def _log(self, kind: str, address: int, start: float, end: float, flags: int, text: str = "") -> None:
        result = describe_flags(flags & (POISON | EOP | OPERR))
        self.operations.append((kind, address, start, end, result))
        # formatted when the event log is read: a download logs one operation per double word
        self.services.event("flash.op", lambda: _operation_text(kind, address, start, end, result, text))

    def _update_irq(self) -> None:
        sr, cr = self.sr.value, self.cr.value
        level = bool(sr & EOP and cr & EOPIE or sr & OPERR and cr & ERRIE or sr & RDERR and cr & RDERRIE)
        self.services.set_irq_line(c071.IRQ_FLASH, level)
