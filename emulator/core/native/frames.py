"""Exception entry and return's register and memory traffic in one native call (frames.c).

``ExceptionEngine`` (emulator/core/exceptions.py) keeps every decision - which exception,
the NVIC's active stack, the target IPSR, faults, records - and hands the rest to
``NativeFrames`` when the library is there: five ctypes calls and the frame arithmetic
become one call.  The C side writes exactly the registers, in exactly the order, that
the Python path writes, and returns a status for every case it leaves to Python with
nothing changed; tests/test_native_bus.py compares whole runs with and without it.
"""
from __future__ import annotations

import ctypes

from unicorn.arm_const import (UC_ARM_REG_APSR_NZCV, UC_ARM_REG_CONTROL, UC_ARM_REG_IPSR, UC_ARM_REG_LR,
                               UC_ARM_REG_MSP, UC_ARM_REG_PC, UC_ARM_REG_PSP, UC_ARM_REG_R0, UC_ARM_REG_R1,
                               UC_ARM_REG_R2, UC_ARM_REG_R3, UC_ARM_REG_R12, UC_ARM_REG_XPSR)
from unicorn.unicorn_py3.unicorn import uclib

from .bus import LAYOUT_SLOTS

# the order of frames.c's ID_* enumeration
REGISTER_IDS = (UC_ARM_REG_R0, UC_ARM_REG_R1, UC_ARM_REG_R2, UC_ARM_REG_R3, UC_ARM_REG_R12, UC_ARM_REG_LR,
                UC_ARM_REG_PC, UC_ARM_REG_XPSR, UC_ARM_REG_MSP, UC_ARM_REG_PSP, UC_ARM_REG_CONTROL,
                UC_ARM_REG_IPSR, UC_ARM_REG_APSR_NZCV)

OK, STACK_NOT_RAM, UNREADABLE, FAILED = 0, 1, 2, 3


class FxCore(ctypes.Structure):
    _fields_ = [("uc", ctypes.c_void_p), ("regs", ctypes.c_void_p),
                ("reg_read_batch", ctypes.c_void_p), ("reg_write_batch", ctypes.c_void_p),
                ("mem_read", ctypes.c_void_p), ("mem_write", ctypes.c_void_p),
                ("ids", ctypes.c_int * len(REGISTER_IDS)),
                ("sram_base", ctypes.c_uint32), ("sram_size", ctypes.c_uint32)]


def layout_matches(lib: ctypes.CDLL) -> bool:
    out = (ctypes.c_uint64 * LAYOUT_SLOTS)()
    lib.fx_layout(out)
    return list(out)[:4] == [ctypes.sizeof(FxCore), FxCore.ids.offset, FxCore.sram_size.offset, len(REGISTER_IDS)]


def _address(function) -> int:
    return ctypes.cast(function, ctypes.c_void_p).value


class NativeFrames:
    """One core's entry and return calls.  ``enter`` returns (status, vector, return
    address); ``exception_return`` returns (status, return address)."""

    def __init__(self, lib: ctypes.CDLL, cpu, sram_base: int, sram_size: int) -> None:
        core = self._core = FxCore()
        core.uc = ctypes.cast(cpu.handle, ctypes.c_void_p).value
        core.regs = ctypes.addressof(cpu.register_file)
        core.reg_read_batch = _address(uclib.uc_reg_read_batch)
        core.reg_write_batch = _address(uclib.uc_reg_write_batch)
        core.mem_read = _address(uclib.uc_mem_read)
        core.mem_write = _address(uclib.uc_mem_write)
        core.ids[:] = REGISTER_IDS
        core.sram_base, core.sram_size = sram_base, sram_size
        self._out = (ctypes.c_uint32 * 2)()
        enter, ret = lib.fx_enter, lib.fx_return
        enter.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint32,
                          ctypes.c_int, ctypes.c_void_p]
        ret.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_uint32, ctypes.c_void_p]
        enter.restype = ret.restype = ctypes.c_int
        self._enter, self._return = enter, ret
        self._core_address, self._out_address = ctypes.addressof(core), ctypes.addressof(self._out)

    def enter(self, number: int, return_address: int | None, vector_address: int,
              sram_aliased: bool) -> tuple[int, int, int]:
        status = self._enter(self._core_address, number, return_address or 0, return_address is None,
                             vector_address, sram_aliased, self._out_address)
        out = self._out
        return status, out[0], out[1]

    def exception_return(self, exc_return: int, target_ipsr: int) -> tuple[int, int]:
        status = self._return(self._core_address, exc_return, target_ipsr, self._out_address)
        return status, self._out[0]
