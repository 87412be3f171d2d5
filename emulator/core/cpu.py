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
- Code hooks must exist before the code they cover is translated (add one, then
  ``ctl_remove_cache``).  In ``count=`` mode every instruction calls Unicorn's code-hook
  helper, which walks the *whole* list of code hooks with a bound check each: every
  installed hook slows every instruction (6 hooks: about 2x), wherever it points.  A
  deleted hook stops costing at once, with no cache flush.  So the run loop installs
  hooks only while they can fire (emulator/core/runloop.py, "Unmask points").
- The core's register file (QEMU's ``CPUARMState.regs[16]``) sits at a fixed offset
  from the CPU object that ``uc_struct`` points to; ``core_register_file_offset`` finds
  both once per process the same way, and ``primask_offset`` finds PRIMASK
  (``v7m.primask``) behind the register file.  In ``count=`` mode PC is written there before
  each instruction, so inside an MMIO callback one ctypes load gives the accessing
  instruction's PC - what ``reg_read(PC)`` returns, without a binding call (~2 us).
"""
from __future__ import annotations

import ctypes
import struct
from functools import lru_cache

from unicorn import Uc, UcError, UC_ARCH_ARM, UC_CTL_IO_WRITE, UC_CTL_TB_REMOVE_CACHE, UC_MODE_THUMB
from unicorn.arm_const import (
    UC_CPU_ARM_CORTEX_M0, UC_ARM_REG_R0, UC_ARM_REG_R1, UC_ARM_REG_R2, UC_ARM_REG_R3,
    UC_ARM_REG_R4, UC_ARM_REG_R5, UC_ARM_REG_R6, UC_ARM_REG_R7, UC_ARM_REG_R8,
    UC_ARM_REG_R9, UC_ARM_REG_R10, UC_ARM_REG_R11, UC_ARM_REG_R12, UC_ARM_REG_SP,
    UC_ARM_REG_LR, UC_ARM_REG_PC, UC_ARM_REG_XPSR, UC_ARM_REG_MSP, UC_ARM_REG_PSP,
    UC_ARM_REG_PRIMASK, UC_ARM_REG_CONTROL, UC_ARM_REG_IPSR, UC_ARM_REG_APSR_NZCV,
)
from unicorn.unicorn_py3.unicorn import uclib

_uc_reg_read, _uc_reg_write = uclib.uc_reg_read, uclib.uc_reg_write
_uc_mem_read, _uc_mem_write = uclib.uc_mem_read, uclib.uc_mem_write

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
        self._values[:] = values          # c_uint32 keeps the low 32 bits, as the mask did
        err = uclib.uc_reg_write_batch(self._handle, self._ids, self._pointers, self._n)
        if err:
            raise UcError(err)


_uc_ctl = uclib.uc_ctl
# uc_ctl's code for "remove the translations of [begin, end)", encoded as the binding's ctl() does
_REMOVE_CACHE = (UC_CTL_IO_WRITE << 30) | (2 << 26) | UC_CTL_TB_REMOVE_CACHE


def remove_translations(uc: Uc, begin: int, end: int) -> None:
    """``uc.ctl_remove_cache`` without the binding's layers: every programmed double word
    drops the translations of the bytes it changed."""
    status = _uc_ctl(uc._uch, _REMOVE_CACHE, ctypes.c_uint64(begin), ctypes.c_uint64(end))
    if status:
        raise UcError(status)


def callback_failed(uc: Uc, exc: BaseException) -> None:
    """A Python callback Unicorn called through a raw ctypes hook raised: keep the first
    exception on the Uc object and stop, as the binding's own wrappers do (the run loop
    re-raises it after ``emu_start``)."""
    if uc._hook_exception is None:
        uc._hook_exception = exc
    uc.emu_stop()


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


def _read_process_memory(address: int, length: int) -> bytes | None:
    """Bytes at a host address, or None where nothing is mapped (no segfault: /proc/self/mem)."""
    try:
        with open("/proc/self/mem", "rb", buffering=0) as mem:
            mem.seek(address)
            return mem.read(length)
    except (OSError, ValueError, OverflowError):
        return None


@lru_cache(maxsize=1)
def core_register_file_offset() -> tuple[int, int]:
    """(offset in ``uc_struct`` of the CPU pointer, offset of ``regs[16]`` from that CPU),
    found once per process on a scratch engine (``find_register_file``)."""
    uc = new_unicorn()
    uc.mem_map(0x1000, 0x1000)
    return find_register_file(uc)


def find_register_file(uc: Uc) -> tuple[int, int]:
    """Found by experiment: give r0-r12 recognisable values, look behind each pointer stored
    in ``uc_struct`` for them, then confirm the find with other values and a PC write.
    Clobbers the core registers of ``uc``."""
    handle = ctypes.cast(uc._uch, ctypes.c_void_p).value
    low = list(CORE_REGISTERS.values())[:13]

    def give(seed: int) -> bytes:
        values = [seed + 0x111 * i for i in range(13)]
        for reg_id, value in zip(low, values):
            uc.reg_write(reg_id, value)
        return struct.pack("<13I", *values)

    pattern = give(0xC0DE0000)
    blob = _read_process_memory(handle, 0x2000) or b""
    for slot in range(0, len(blob) - 8, 8):
        pointer = struct.unpack_from("<Q", blob, slot)[0]
        if pointer < 0x10000 or pointer >> 47:
            continue
        data = _read_process_memory(pointer, 0x20000)
        at = data.find(pattern) if data else -1
        if at < 0 or at % 4:
            continue
        check = give(0x5EED0000)
        uc.reg_write(UC_ARM_REG_PC, 0x1235)
        regs = _read_process_memory(pointer + at, 64) or b""
        if regs[:52] == check and struct.unpack_from("<I", regs, 60)[0] == 0x1234:
            return slot, at
        pattern = give(0xC0DE0000)
    raise RuntimeError("cannot locate the core's register file in Unicorn; is unicorn 2.1.4 installed?")


def find_primask(uc: Uc, register_file_address: int, span: int = 0x8000) -> int:
    """Offset from the register file of the word that holds PRIMASK (QEMU's
    ``v7m.primask``), found by experiment: the one word in ``span`` bytes after the
    register file that follows PRIMASK through several writes and nothing else does.
    Raises RuntimeError when there is not exactly one."""
    snapshots = []
    for value in (0, 1, 0, 1, 0):
        uc.reg_write(UC_ARM_REG_PRIMASK, value)
        data = _read_process_memory(register_file_address, span) or b""
        snapshots.append((value, memoryview(data).cast("I") if len(data) == span else None))
    if any(words is None for _, words in snapshots):
        raise RuntimeError("cannot read Unicorn's CPU state to find PRIMASK; is unicorn 2.1.4 installed?")
    candidates = [i for i in range(span // 4) if all(words[i] == value for value, words in snapshots)]
    if len(candidates) != 1:
        raise RuntimeError("cannot locate PRIMASK in Unicorn's CPU state; is unicorn 2.1.4 installed?")
    return 4 * candidates[0]


@lru_cache(maxsize=1)
def primask_offset() -> int:
    """``find_primask`` on a scratch engine, once per process."""
    uc = new_unicorn()
    uc.mem_map(0x1000, 0x1000)
    cpu_slot, regs_offset = find_register_file(uc)
    handle = ctypes.cast(uc._uch, ctypes.c_void_p).value
    cpu_object = ctypes.c_uint64.from_address(handle + cpu_slot).value
    return find_primask(uc, cpu_object + regs_offset)


class Cpu:
    """Unicorn plus fast register access and the per-slice instruction count."""

    # what ``state`` reads besides the register file
    STATE_REGISTERS = (UC_ARM_REG_XPSR, UC_ARM_REG_MSP, UC_ARM_REG_PSP, UC_ARM_REG_PRIMASK, UC_ARM_REG_CONTROL)

    def __init__(self) -> None:
        self.uc = new_unicorn()
        handle = ctypes.cast(self.uc._uch, ctypes.c_void_p)
        self.handle = self.uc._uch
        self._batches: dict[tuple[int, ...], RegisterBatch] = {}
        self._read_buffer = ctypes.create_string_buffer(64)
        self._scratch = ctypes.c_uint64()
        self._scratch_address = ctypes.addressof(self._scratch)
        offset = instruction_counter_offset()
        self.uc.reg_read(UC_ARM_REG_PC)          # Unicorn creates its CPU on first use
        if not self._view_register_file(*core_register_file_offset()):
            # the scratch engine's find does not hold for this one: find it on this engine
            if not self._view_register_file(*find_register_file(self.uc)):
                raise RuntimeError("Unicorn's register file is not where it was found; unicorn 2.1.4 expected")
        for reg_id in list(CORE_REGISTERS.values())[:13]:
            self.uc.reg_write(reg_id, 0)
        self.uc.reg_write(UC_ARM_REG_PC, 0)
        self._counter = self.counter_cell = ctypes.c_uint64.from_address(handle.value + offset)
        self._limit = self.limit_cell = ctypes.c_uint64.from_address(handle.value + offset + 8)
        self.frame_regs = RegisterBatch(handle, [UC_ARM_REG_R0, UC_ARM_REG_R1, UC_ARM_REG_R2, UC_ARM_REG_R3,
                                                 UC_ARM_REG_R12, UC_ARM_REG_LR, UC_ARM_REG_PC, UC_ARM_REG_XPSR])
        self.mode_regs = RegisterBatch(handle, [UC_ARM_REG_MSP, UC_ARM_REG_PSP, UC_ARM_REG_CONTROL,
                                                UC_ARM_REG_PRIMASK, UC_ARM_REG_IPSR, UC_ARM_REG_SP])
        self.all_regs = RegisterBatch(handle, list(CORE_REGISTERS.values()))
        self.pc_reg = RegisterBatch(handle, [UC_ARM_REG_PC])
        self._state_regs = RegisterBatch(handle, list(self.STATE_REGISTERS))
        self.primask_reg = RegisterBatch(handle, [UC_ARM_REG_PRIMASK])
        self._primask = self._view_primask()

    def _view_register_file(self, cpu_slot: int, regs_offset: int) -> bool:
        """Point ``register_file`` and ``pc_cell`` at the engine's registers; True if they follow
        register writes there (checked, since the offsets were found by experiment)."""
        handle = ctypes.cast(self.uc._uch, ctypes.c_void_p).value
        cpu_object = ctypes.c_uint64.from_address(handle + cpu_slot).value
        if cpu_object < 0x10000 or cpu_object >> 47:
            return False
        check = _read_process_memory(cpu_object + regs_offset, 64)
        if check is None or len(check) < 64:
            return False
        self.register_file = (ctypes.c_uint32 * 16).from_address(cpu_object + regs_offset)
        self._pc = self.pc_cell = ctypes.c_uint32.from_address(cpu_object + regs_offset + 60)
        self.uc.reg_write(UC_ARM_REG_R0, 0xA5C3_0710)
        self.uc.reg_write(UC_ARM_REG_PC, 0x0000_1235)
        return self.register_file[0] == 0xA5C3_0710 and self._pc.value == 0x1234

    # -- counting -------------------------------------------------------------
    def counter(self) -> int:
        """Instructions started in the current/last ``emu_start`` (incl. one that was aborted)."""
        return self._counter.value

    def end_slice_at_next_boundary(self) -> None:
        """From a callback: finish the current instruction, then return from ``emu_start``."""
        self._limit.value = self._counter.value

    def slice_limit(self) -> int:
        return self._limit.value

    def set_slice_limit(self, limit: int) -> None:
        """From a callback: end the slice once ``limit`` instructions have run (not below the counter)."""
        self._limit.value = limit

    # -- registers ------------------------------------------------------------
    def pc(self) -> int:
        """PC of the current instruction (inside a slice) or the next one (between slices)."""
        return self._pc.value

    def state(self) -> tuple:
        """Every core register (r0-r12, SP, LR, PC, xPSR, MSP, PSP, PRIMASK, CONTROL) as one
        comparable value: r0-PC straight from the register file, the rest in one batch."""
        return bytes(self.register_file), *self._state_regs.read()

    def read_registers(self, register_ids: tuple[int, ...]) -> list[int]:
        """Several registers in one raw batch call (the batch for each list is kept)."""
        batch = self._batches.get(register_ids)
        if batch is None:
            batch = self._batches[register_ids] = RegisterBatch(ctypes.c_void_p(self.handle.value), list(register_ids))
        return batch.read()

    def write_registers(self, register_ids: tuple[int, ...], values: list[int]) -> None:
        """Several register writes in one raw batch call, in the order given (a register
        may appear twice: Unicorn writes them one after the other)."""
        batch = self._batches.get(register_ids)
        if batch is None:
            batch = self._batches[register_ids] = RegisterBatch(ctypes.c_void_p(self.handle.value), list(register_ids))
        batch.write(values)

    def _view_primask(self):
        """A ctypes view of PRIMASK in the engine's CPU state, checked against register writes
        (the offset was found by experiment); None where it does not hold: ``primask`` then
        asks Unicorn."""
        address = ctypes.addressof(self.register_file)
        try:
            cell = ctypes.c_uint32.from_address(address + primask_offset())
        except RuntimeError:
            return None
        for value in (1, 0):
            self.uc.reg_write(UC_ARM_REG_PRIMASK, value)
            if cell.value != value:
                return None
        return cell

    def primask(self) -> int:
        """PRIMASK.PM: one memory load where the CPU state was found, a register read otherwise
        (it is asked before every exception entry)."""
        cell = self._primask
        if cell is not None:
            return cell.value & 1
        return self.primask_reg.read()[0] & 1

    # One raw uc_reg_read/uc_reg_write each (~1 us) instead of the binding's (~2-3 us):
    # exception entry and return make a dozen of them.
    def _reg_read(self, reg_id: int) -> int:
        err = _uc_reg_read(self.handle, reg_id, self._scratch_address)
        if err:
            raise UcError(err)
        return self._scratch.value

    def _reg_write(self, reg_id: int, value: int) -> None:
        self._scratch.value = value & 0xFFFFFFFF
        err = _uc_reg_write(self.handle, reg_id, self._scratch_address)
        if err:
            raise UcError(err)

    def read(self, name: str) -> int:
        return self._reg_read(CORE_REGISTERS[name])

    def write(self, name: str, value: int) -> None:
        if name == "pc":
            value |= 1        # on this M-profile core a PC write with bit 0 clear leaves Thumb state
        self._reg_write(CORE_REGISTERS[name], value)

    def registers(self) -> dict[str, int]:
        return dict(zip(CORE_REGISTERS, self.all_regs.read()))

    def set_ipsr(self, number: int) -> None:
        """Write IPSR and rebuild QEMU's cached flags so EXC_RETURN is recognised (UNICORN.md)."""
        self._reg_write(UC_ARM_REG_IPSR, number)
        self._reg_write(UC_ARM_REG_APSR_NZCV, self._reg_read(UC_ARM_REG_APSR_NZCV))

    def ipsr(self) -> int:
        return self._reg_read(UC_ARM_REG_IPSR) & 0x3F

    def control(self) -> int:
        return self._reg_read(UC_ARM_REG_CONTROL) & 3

    def set_control(self, value: int) -> None:
        self._reg_write(UC_ARM_REG_CONTROL, value & 3)

    # -- memory through the bus -----------------------------------------------
    def mem_read(self, address: int, length: int) -> bytes:
        """``uc.mem_read`` without the binding layer (raises UcError the same way)."""
        buffer = self._read_buffer if length <= 64 else ctypes.create_string_buffer(length)
        err = _uc_mem_read(self.handle, address, buffer, length)
        if err:
            raise UcError(err)
        return buffer.raw[:length]

    def mem_write(self, address: int, data: bytes) -> None:
        err = _uc_mem_write(self.handle, address, data, len(data))
        if err:
            raise UcError(err)

    def read32(self, address: int) -> int:
        return struct.unpack("<I", self.mem_read(address, 4))[0]

    def write32(self, address: int, value: int) -> None:
        self.mem_write(address, struct.pack("<I", value & 0xFFFFFFFF))
