"""The Cortex-M0+ core on Unicorn 2.1.4, and the few Unicorn internals we rely on.

Facts pinned by tests (tests/test_unicorn_contract.py), see ../shared/c071/UNICORN.md:
- ``UC_CPU_ARM_CORTEX_M0`` in plain Thumb mode is the ARMv6-M core (no M0+ model
  exists; ``UC_MODE_MCLASS`` would silently make it an M33).
- Inside an ``mmio_map`` callback the PC register names the accessing instruction
  only while ``emu_start`` runs with ``count=`` - the run loop always does.
- ``count=`` is implemented by an internal per-instruction hook that increments a
  64-bit counter in ``uc_struct`` *before* each instruction.  The binding does not
  expose it, so ``InstructionCounter`` finds its offset once per process by running
  a known number of instructions and looking for that number.  Reading it costs one
  ctypes load, which lets the run loop know exactly how many instructions a slice
  executed even when it ended early (WFI, SVC, a fault).
- The limit ``emu_count`` sits right after the counter.  Lowering it to the current
  counter from inside a callback ends the slice cleanly *at the next instruction
  boundary*: the current instruction completes (every word of an ``stm``), PC names
  the next one.  ``uc.emu_stop()`` from an MMIO callback instead abandons the
  instruction and leaves PC on it (an ``stm`` loses its later words, a ``str`` is
  repeated on resume) - so the emulator never calls it.
- Code hooks are bound-checked at translation time: a hook bounded to one address
  costs nothing elsewhere, but must exist before that code is translated.
"""
from __future__ import annotations

import ctypes
import struct
from functools import lru_cache

from unicorn import Uc, UcError, UC_ARCH_ARM, UC_MODE_THUMB
from unicorn.arm_const import (
    UC_CPU_ARM_CORTEX_M0, UC_ARM_REG_R0, UC_ARM_REG_R1, UC_ARM_REG_R2, UC_ARM_REG_R3,
    UC_ARM_REG_R4, UC_ARM_REG_R5, UC_ARM_REG_R6, UC_ARM_REG_R7, UC_ARM_REG_R8,
    UC_ARM_REG_R9, UC_ARM_REG_R10, UC_ARM_REG_R11, UC_ARM_REG_R12, UC_ARM_REG_SP,
    UC_ARM_REG_LR, UC_ARM_REG_PC, UC_ARM_REG_XPSR, UC_ARM_REG_MSP, UC_ARM_REG_PSP,
    UC_ARM_REG_PRIMASK, UC_ARM_REG_CONTROL, UC_ARM_REG_IPSR, UC_ARM_REG_APSR_NZCV,
)
from unicorn.unicorn_py3.unicorn import uclib

CORE_REGISTERS = {
    "r0": UC_ARM_REG_R0, "r1": UC_ARM_REG_R1, "r2": UC_ARM_REG_R2, "r3": UC_ARM_REG_R3,
    "r4": UC_ARM_REG_R4, "r5": UC_ARM_REG_R5, "r6": UC_ARM_REG_R6, "r7": UC_ARM_REG_R7,
    "r8": UC_ARM_REG_R8, "r9": UC_ARM_REG_R9, "r10": UC_ARM_REG_R10, "r11": UC_ARM_REG_R11,
    "r12": UC_ARM_REG_R12, "sp": UC_ARM_REG_SP, "lr": UC_ARM_REG_LR, "pc": UC_ARM_REG_PC,
    "xpsr": UC_ARM_REG_XPSR, "msp": UC_ARM_REG_MSP, "psp": UC_ARM_REG_PSP,
    "primask": UC_ARM_REG_PRIMASK, "control": UC_ARM_REG_CONTROL,
}
EPSR_T = 1 << 24


class RegisterBatch:
    """Raw ``uc_reg_read_batch``/``uc_reg_write_batch`` on a fixed list of registers.

    The binding's per-register calls cost ~2 us each; one raw batch of 8 costs ~1 us
    (UNICORN.md), which is what keeps exception entry and return cheap.
    """

    def __init__(self, handle: ctypes.c_void_p, register_ids: list[int]) -> None:
        n = len(register_ids)
        self._handle = handle
        self._n = n
        self._ids = (ctypes.c_int * n)(*register_ids)
        self._values = (ctypes.c_uint32 * n)()
        self._pointers = (ctypes.c_void_p * n)(
            *[ctypes.addressof(self._values) + 4 * i for i in range(n)])

    def read(self) -> list[int]:
        err = uclib.uc_reg_read_batch(self._handle, self._ids, self._pointers, self._n)
        if err:
            raise UcError(err)
        return list(self._values)

    def write(self, values: list[int]) -> None:
        for i, v in enumerate(values):
            self._values[i] = v & 0xFFFFFFFF
        err = uclib.uc_reg_write_batch(self._handle, self._ids, self._pointers, self._n)
        if err:
            raise UcError(err)


def new_unicorn() -> Uc:
    return Uc(UC_ARCH_ARM, UC_MODE_THUMB, cpu=UC_CPU_ARM_CORTEX_M0)


@lru_cache(maxsize=1)
def instruction_counter_offset() -> int:
    """Offset of ``uc_struct.emu_counter`` in this libunicorn build (found by experiment)."""
    uc = new_unicorn()
    uc.mem_map(0x1000, 0x1000)
    # n x `movs r0, r0` then `wfi`: emu_start returns after the wfi with the
    # counter equal to the number of instructions executed.
    handle = ctypes.cast(uc._uch, ctypes.c_void_p).value
    candidates = None
    for start, n in ((0x1000, 37), (0x1400, 211)):   # separate code: no stale translations
        uc.mem_write(start, b"\x00\x00" * n + b"\x30\xbf" + b"\xfe\xe7")
        uc.emu_start(start | 1, 0x1FF0, count=10_000)
        blob = ctypes.string_at(handle, 4096)
        found = {i for i in range(0, 4096 - 8, 8) if struct.unpack_from("<Q", blob, i)[0] == n + 1}
        candidates = found if candidates is None else candidates & found
    if not candidates or len(candidates) != 1:
        raise RuntimeError("cannot locate Unicorn's instruction counter; is unicorn 2.1.4 installed?")
    offset = candidates.pop()
    if struct.unpack_from("<Q", ctypes.string_at(handle + offset + 8, 8))[0] != 10_000:
        raise RuntimeError("Unicorn's instruction limit is not beside its counter; unicorn 2.1.4 expected")
    return offset


class Cpu:
    """Unicorn plus fast register access and the per-slice instruction count."""

    def __init__(self) -> None:
        self.uc = new_unicorn()
        handle = ctypes.cast(self.uc._uch, ctypes.c_void_p)
        offset = instruction_counter_offset()
        self._counter = ctypes.c_uint64.from_address(handle.value + offset)
        self._limit = ctypes.c_uint64.from_address(handle.value + offset + 8)
        self.frame_regs = RegisterBatch(handle, [UC_ARM_REG_R0, UC_ARM_REG_R1, UC_ARM_REG_R2, UC_ARM_REG_R3,
                                                 UC_ARM_REG_R12, UC_ARM_REG_LR, UC_ARM_REG_PC, UC_ARM_REG_XPSR])
        self.mode_regs = RegisterBatch(handle, [UC_ARM_REG_MSP, UC_ARM_REG_PSP, UC_ARM_REG_CONTROL,
                                                UC_ARM_REG_PRIMASK, UC_ARM_REG_IPSR, UC_ARM_REG_SP])
        self.all_regs = RegisterBatch(handle, list(CORE_REGISTERS.values()))
        self.pc_reg = RegisterBatch(handle, [UC_ARM_REG_PC])
        self.primask_reg = RegisterBatch(handle, [UC_ARM_REG_PRIMASK])

    # -- counting -------------------------------------------------------------
    def counter(self) -> int:
        """Instructions started in the current/last ``emu_start`` (incl. one that was aborted)."""
        return self._counter.value

    def end_slice_at_next_boundary(self) -> None:
        """From a callback: finish the current instruction, then return from ``emu_start``."""
        self._limit.value = self._counter.value

    def slice_limit(self) -> int:
        return self._limit.value

    # -- registers ------------------------------------------------------------
    def pc(self) -> int:
        return self.pc_reg.read()[0]

    def primask(self) -> int:
        return self.primask_reg.read()[0] & 1

    def read(self, name: str) -> int:
        return self.uc.reg_read(CORE_REGISTERS[name])

    def write(self, name: str, value: int) -> None:
        if name == "pc":
            value |= 1        # on this M-profile core a PC write with bit 0 clear leaves Thumb state
        self.uc.reg_write(CORE_REGISTERS[name], value & 0xFFFFFFFF)

    def registers(self) -> dict[str, int]:
        return dict(zip(CORE_REGISTERS, self.all_regs.read()))

    def set_ipsr(self, number: int) -> None:
        """Write IPSR and rebuild QEMU's cached flags so EXC_RETURN is recognised (UNICORN.md)."""
        self.uc.reg_write(UC_ARM_REG_IPSR, number)
        self.uc.reg_write(UC_ARM_REG_APSR_NZCV, self.uc.reg_read(UC_ARM_REG_APSR_NZCV))

    def ipsr(self) -> int:
        return self.uc.reg_read(UC_ARM_REG_IPSR) & 0x3F

    def control(self) -> int:
        return self.uc.reg_read(UC_ARM_REG_CONTROL) & 3

    def set_control(self, value: int) -> None:
        self.uc.reg_write(UC_ARM_REG_CONTROL, value & 3)

    # -- memory through the bus -----------------------------------------------
    def read32(self, address: int) -> int:
        return struct.unpack("<I", self.uc.mem_read(address, 4))[0]

    def write32(self, address: int, value: int) -> None:
        self.uc.mem_write(address, struct.pack("<I", value & 0xFFFFFFFF))
