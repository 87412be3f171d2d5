"""ARMv6-M exception entry, return, escalation and lockup on top of Unicorn.

Unicorn has no NVIC and never vectors through the guest's table (UNICORN.md), so
this module does what the core does (ARM DDI 0419E B1.5.6-B1.5.8):
- entry: push the 8-word frame on the active stack with 8-byte alignment (xPSR bit 9
  records the padding), leave thread-mode PSP for MSP, set IPSR and LR = EXC_RETURN,
  fetch the vector from VTOR + 4·N;
- return: Unicorn reports a branch to 0xFFFF_FFFx in handler mode as interrupt 8 and
  does not unstack; we pop the frame, restore IPSR/SPSEL/SP and write PC last;
- a fault escalates to HardFault, and a fault while HardFault or NMI is active is a
  lockup (B1.5.15), which ends the run with a report.
"""
from __future__ import annotations

import struct
from typing import Callable, Optional

from unicorn import UC_ERR_EXCEPTION, UcError
from unicorn.arm_const import (UC_ARM_REG_APSR_NZCV, UC_ARM_REG_CONTROL, UC_ARM_REG_IPSR, UC_ARM_REG_LR,
                               UC_ARM_REG_MSP, UC_ARM_REG_PC, UC_ARM_REG_PSP, UC_ARM_REG_R0, UC_ARM_REG_R1,
                               UC_ARM_REG_R2, UC_ARM_REG_R3, UC_ARM_REG_R12, UC_ARM_REG_XPSR)

from peripherals import c071
from peripherals.nvic import ExceptionBook

from .cpu import Cpu, EPSR_T
from .native import frames as native_frames

EXC_RETURN_HANDLER = 0xFFFF_FFF1
EXC_RETURN_THREAD_MSP = 0xFFFF_FFF9
EXC_RETURN_THREAD_PSP = 0xFFFF_FFFD
NON_EXECUTABLE_BASE = 0xE000_0000     # PPB and vendor system region are execute-never (B3.1)
FRAME_ALIGN_BIT = 1 << 9
APSR_FLAGS = 0xF000_0000

_FRAME = (UC_ARM_REG_R0, UC_ARM_REG_R1, UC_ARM_REG_R2, UC_ARM_REG_R3, UC_ARM_REG_R12, UC_ARM_REG_LR, UC_ARM_REG_PC,
          UC_ARM_REG_XPSR)
_ENTRY_READ = (UC_ARM_REG_XPSR, UC_ARM_REG_MSP, UC_ARM_REG_PSP, UC_ARM_REG_CONTROL, UC_ARM_REG_IPSR)
_ENTRY_WRITE_MSP = (UC_ARM_REG_MSP, UC_ARM_REG_IPSR, UC_ARM_REG_APSR_NZCV, UC_ARM_REG_LR)
_ENTRY_WRITE_PSP = (UC_ARM_REG_PSP, UC_ARM_REG_CONTROL, UC_ARM_REG_IPSR, UC_ARM_REG_APSR_NZCV, UC_ARM_REG_LR)
_ENTRY_VECTOR = (UC_ARM_REG_PC, UC_ARM_REG_XPSR)
_ENTRY_WITH_VECTOR = {ids: ids + _ENTRY_VECTOR for ids in (_ENTRY_WRITE_MSP, _ENTRY_WRITE_PSP)}
_RETURN_READ = (UC_ARM_REG_MSP, UC_ARM_REG_PSP, UC_ARM_REG_CONTROL, UC_ARM_REG_APSR_NZCV)
_AGAIN = (UC_ARM_REG_IPSR, UC_ARM_REG_APSR_NZCV, UC_ARM_REG_PC)
_RETURN_WRITE_MSP_HANDLER = (UC_ARM_REG_MSP, UC_ARM_REG_IPSR, UC_ARM_REG_APSR_NZCV) + _FRAME + _AGAIN
_RETURN_WRITE_MSP_THREAD = (UC_ARM_REG_MSP, UC_ARM_REG_IPSR, UC_ARM_REG_APSR_NZCV, UC_ARM_REG_CONTROL) + _FRAME + _AGAIN
_RETURN_WRITE_PSP = (UC_ARM_REG_PSP, UC_ARM_REG_IPSR, UC_ARM_REG_APSR_NZCV, UC_ARM_REG_CONTROL) + _FRAME + _AGAIN


class Lockup(Exception):
    def __init__(self, pc: int, reason: str) -> None:
        super().__init__(f"core locked up at PC 0x{pc:08X} because {reason}")
        self.pc = pc
        self.reason = reason


class ExceptionRecord:
    """One exception entry, return or fault.  ``detail`` is formatted when first read: a
    1 kHz tick makes two records a millisecond, and few are ever printed."""
    __slots__ = ("kind", "number", "cycle", "pc", "_detail", "vtor", "vector_address", "vector_source")

    def __init__(self, kind: str, number: int, cycle: int, pc: int, detail,
                 vtor: Optional[int] = None, vector_address: Optional[int] = None, vector_source: str = "") -> None:
        self.kind = kind                  # "entry" | "return" | "fault"
        self.number = number
        self.cycle = cycle
        self.pc = pc                      # entry: handler address; return: return address; fault: faulting PC
        self._detail = detail             # a string, or (format, *arguments) formatted on first read
        # entry only: where the vector came from (ARMv6-M B1.5.6: the word at VTOR + 4·N)
        self.vtor = vtor
        self.vector_address = vector_address
        self.vector_source = vector_source   # the memory that answered, e.g. "system memory via the 0x0 alias"

    @property
    def detail(self) -> str:
        detail = self._detail
        if not isinstance(detail, str):
            detail = self._detail = detail[0].format(*detail[1:])
        return detail

    def __repr__(self) -> str:
        return (f"ExceptionRecord({self.kind!r}, {c071.exception_name(self.number)}, cycle={self.cycle}, "
                f"pc=0x{self.pc:08X}, {self.detail!r})")


_ENTRY_DETAIL = "vectored through 0x{:08X} (VTOR 0x{:08X}{}) -> 0x{:08X}"
_RETURN_DETAIL = "EXC_RETURN 0x{:08X}"


class ExceptionEngine:
    def __init__(self, cpu: Cpu, book: ExceptionBook, vtor: Callable[[], int],
                 now: Callable[[], int], record: Callable[..., None]) -> None:
        self.sram_aliased: Callable[[], bool] = lambda: False
        self.vector_source: Callable[[int], str] = lambda address: ""   # the memory behind an address
        self.cpu = cpu
        self.book = book
        self.vtor = vtor
        self.now = now
        self.record = record            # called with an ExceptionRecord's arguments
        self.event_register = False
        self.native: Optional[native_frames.NativeFrames] = None    # frames.c, when the native library is there

    # -- entry -----------------------------------------------------------------
    # Register traffic is batched (a raw call each, UNICORN.md): one read on entry, one
    # write before the vector fetch, one after it; on return one read and one write.  The
    # writes keep the order the core needs: SPSEL before IPSR on entry, IPSR before SPSEL on
    # return, and after every IPSR write the flags are rewritten (Cpu.set_ipsr).
    def enter(self, number: int, return_address: int | None = None) -> None:
        if self.native is not None:
            self._enter_native(number, return_address)
            return
        cpu = self.cpu
        regs = cpu.register_file
        r0, r1, r2, r3, r12, lr, pc = regs[0], regs[1], regs[2], regs[3], regs[12], regs[14], regs[15]
        xpsr, msp, psp, control, ipsr = cpu.read_registers(_ENTRY_READ)
        if return_address is None:
            return_address = pc
        on_psp = ipsr & 0x3F == 0 and control & 2
        frame_sp = psp if on_psp else msp
        padded = frame_sp & 4
        new_sp = (frame_sp - 0x20) & ~4 & 0xFFFFFFFF
        stacked_xpsr = (xpsr & ~FRAME_ALIGN_BIT) | (FRAME_ALIGN_BIT if padded else 0)
        frame = struct.pack("<8I", r0, r1, r2, r3, r12, lr, return_address & ~1, stacked_xpsr)
        if not self._is_ram(new_sp):
            # Unicorn's mem_write ignores protections, so the stack's memory is checked here
            self.fault(f"stacking the {c071.exception_name(number)} frame at SP 0x{new_sp:08X} failed: not RAM",
                       return_address, during_entry_of=number)
            return
        cpu.mem_write(new_sp, frame)
        if ipsr & 0x3F:
            exc_return = EXC_RETURN_HANDLER
        elif on_psp:
            exc_return = EXC_RETURN_THREAD_PSP
        else:
            exc_return = EXC_RETURN_THREAD_MSP
        flags = xpsr & APSR_FLAGS
        # One register batch for the whole entry, written once the vector is known (the
        # vector fetch reads memory only): SPSEL first, then IPSR (UNICORN.md), PC last.
        if on_psp:
            ids, values = _ENTRY_WRITE_PSP, [new_sp, control & ~2, number, flags, exc_return]
        else:
            ids, values = _ENTRY_WRITE_MSP, [new_sp, number, flags, exc_return]
        self.book.activate(number)
        self.event_register = True
        table = self.vtor() & 0xFFFF_FF80
        vector_address = table + 4 * number
        source = self.vector_source(vector_address)
        try:
            vector = cpu.read32(vector_address)
        except UcError:
            cpu.write_registers(ids, values)
            self._vector_unreadable(number, table, vector_address, source, return_address)
            return
        values += (vector | 1, (xpsr & ~0x3F) | number | EPSR_T)
        cpu.write_registers(_ENTRY_WITH_VECTOR[ids], values)
        self._entered(number, vector, table, vector_address, source, return_address)

    def _enter_native(self, number: int, return_address: int | None) -> None:
        """``enter`` with the frame and the registers written by frames.c, in the same order."""
        table = self.vtor() & 0xFFFF_FF80
        vector_address = table + 4 * number
        source = self.vector_source(vector_address)
        status, vector, stacked_pc = self.native.enter(number, return_address, vector_address, self.sram_aliased())
        if status == native_frames.STACK_NOT_RAM:
            self.fault(f"stacking the {c071.exception_name(number)} frame at SP 0x{self._entry_sp():08X} failed: "
                       "not RAM", self.cpu.pc() if return_address is None else return_address, during_entry_of=number)
            return
        if status == native_frames.FAILED:
            raise UcError(UC_ERR_EXCEPTION)
        self.book.activate(number)
        self.event_register = True
        if status == native_frames.UNREADABLE:
            self._vector_unreadable(number, table, vector_address, source, stacked_pc)
            return
        self._entered(number, vector, table, vector_address, source, stacked_pc)

    def _vector_unreadable(self, number: int, table: int, vector_address: int, source: str,
                           return_address: int) -> None:
        self.record("entry", number, self.now(), 0, f"vector fetch from 0x{vector_address:08X} failed",
                    table, vector_address, source)
        self.fault(f"the {c071.exception_name(number)} vector at 0x{vector_address:08X} is not readable",
                   return_address)

    def _entry_sp(self) -> int:
        xpsr, msp, psp, control, ipsr = self.cpu.read_registers(_ENTRY_READ)
        frame_sp = psp if ipsr & 0x3F == 0 and control & 2 else msp
        return (frame_sp - 0x20) & ~4 & 0xFFFFFFFF

    def _entered(self, number: int, vector: int, table: int, vector_address: int, source: str,
                 return_address: int) -> None:
        self.record("entry", number, self.now(), vector & ~1,
                    (_ENTRY_DETAIL, vector_address, table, f", {source}" if source else "", vector),
                    table, vector_address, source)
        if vector & 1 == 0:
            self.fault(f"the {c071.exception_name(number)} vector 0x{vector:08X} has bit 0 clear "
                       "(Thumb state required)", vector & ~1)
        elif vector & ~1 >= NON_EXECUTABLE_BASE:
            self.fault(f"the {c071.exception_name(number)} vector at 0x{vector_address:08X} reads 0x{vector:08X}: "
                       "instruction fetch from a non-executable address", vector & ~1)

    def _is_ram(self, address: int) -> bool:
        top = address + 0x20
        return c071.SRAM_BASE <= address and top <= c071.SRAM_BASE + c071.SRAM_SIZE or \
            self.sram_aliased() and top <= c071.SRAM_SIZE

    # -- faults ------------------------------------------------------------------
    def fault(self, reason: str, pc: int, during_entry_of: int | None = None) -> None:
        """A synchronous fault at ``pc``: HardFault, or lockup if HardFault/NMI is active (B1.5.15)."""
        primask = self.cpu.primask()
        in_fault_handler = self.book.execution_priority(primask) <= -1 or during_entry_of in (c071.HARDFAULT, c071.NMI)
        self.record("fault", c071.HARDFAULT, self.now(), pc, reason)
        if in_fault_handler:
            self.cpu.write("pc", 0xFFFF_FFFE)
            raise Lockup(pc, reason)
        self.enter(c071.HARDFAULT, return_address=pc)

    # -- return ------------------------------------------------------------------
    def exception_return(self, exc_return: int) -> None:
        cpu = self.cpu
        if exc_return not in (EXC_RETURN_HANDLER, EXC_RETURN_THREAD_MSP, EXC_RETURN_THREAD_PSP) \
                or not self.book.active_stack:
            self.fault(f"exception return with invalid EXC_RETURN 0x{exc_return:08X}", exc_return)
            return
        number = self.book.deactivate()
        to_thread = exc_return != EXC_RETURN_HANDLER
        if to_thread and self.book.active_stack or not to_thread and not self.book.active_stack:
            self.fault(f"EXC_RETURN 0x{exc_return:08X} does not match the active exceptions", exc_return)
            return
        if self.native is not None:
            status, pc = self.native.exception_return(exc_return, self.book.current() if not to_thread else 0)
            if status == native_frames.OK:
                self.event_register = True
                self.record("return", number, self.now(), pc & ~1, (_RETURN_DETAIL, exc_return))
                return
            if status == native_frames.FAILED:
                raise UcError(UC_ERR_EXCEPTION)
        use_psp = exc_return == EXC_RETURN_THREAD_PSP
        msp, psp, control, flags = cpu.read_registers(_RETURN_READ)
        frame_sp = psp if use_psp else msp
        try:
            r0, r1, r2, r3, r12, lr, pc, xpsr = struct.unpack("<8I", cpu.mem_read(frame_sp, 32))
        except UcError:
            self.fault(f"unstacking from SP 0x{frame_sp:08X} failed", exc_return)
            return
        new_sp = (frame_sp + 0x20 + (4 if xpsr & FRAME_ALIGN_BIT else 0)) & 0xFFFFFFFF
        target_ipsr = self.book.current() if not to_thread else 0
        stacked = [r0, r1, r2, r3, r12, lr, pc | 1, (xpsr & ~(0x3F | FRAME_ALIGN_BIT)) | target_ipsr]
        again = [target_ipsr, xpsr & APSR_FLAGS, (pc & ~1) | 1]
        if to_thread:                              # IPSR first, then SPSEL (UNICORN.md)
            cpu.write_registers(_RETURN_WRITE_PSP if use_psp else _RETURN_WRITE_MSP_THREAD,
                                [new_sp, target_ipsr, flags, (control & 3 & ~2) | (2 if use_psp else 0),
                                 *stacked, *again])
        else:
            cpu.write_registers(_RETURN_WRITE_MSP_HANDLER, [new_sp, target_ipsr, flags, *stacked, *again])
        self.event_register = True
        self.record("return", number, self.now(), pc & ~1, (_RETURN_DETAIL, exc_return))
