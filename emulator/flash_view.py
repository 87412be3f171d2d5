"""How the core's bus sees the non-volatile memories while the FLASH controller acts on them.

- A store into main flash or OTP is the start of a program (the controller decides), any
  other store into a read-only memory is reported; the bytes Unicorn stores anyway are
  put back at the next instruction boundary.
- PCROP subpages are execute-only: a data read of one reads 0 (RM0490 §4.6.2).
- SEC_PROT hides the securable area until reset: every access is a bus error (§4.6.5).
- RDP level 1 with a boot from system memory or SRAM makes main flash inaccessible (§4.5.1).
- While an erase runs, main flash is swapped for a stalling view: a read or fetch waits
  for the operation to end (§4.3.4); shorter operations charge their stall between slices.

The machine owns the memories and the 0x0 alias; this file owns how main flash is mapped.
"""
from __future__ import annotations

import ctypes
from typing import TYPE_CHECKING, Optional

from unicorn import UC_HOOK_MEM_READ_PROT, UC_HOOK_MEM_WRITE_PROT, UC_PROT_EXEC, UcError
from unicorn.unicorn_py3.unicorn import uclib

from peripherals import c071

from .core.cpu import callback_failed, remove_translations
from .core.memory import Memory

if TYPE_CHECKING:
    from .machine import Machine

# uc_cb_hookmem_t, with the engine handle as a plain pointer
_MEM_PROT = ctypes.CFUNCTYPE(ctypes.c_bool, ctypes.c_void_p, ctypes.c_int, ctypes.c_uint64, ctypes.c_int, ctypes.c_int64,
                             ctypes.c_void_p)


class FlashView:
    """Main flash's mapping ("memory", "stall" or "none"), and the stores and reads that the
    protection hooks see."""

    # An operation at least this long swaps in the stalling view (a page erase, 22 ms);
    # a shorter one (a double-word program, 85 us) keeps plain memory (busy_changed).
    STALL_MAPPING_MIN_S = 1e-3

    def __init__(self, machine: Machine) -> None:
        self.m = machine
        self.cpu, self.loop, self.clock = machine.cpu, machine.loop, machine.clock
        self.flash, self.otp, self.memories = machine.flash, machine.otp, machine.memories
        self.mapping = "memory"                # "memory" | "stall" | "none" (RDP-restricted)
        self._mapping_wanted: Optional[str] = None
        self._undo_writes: list[tuple[Memory, int, bytes]] = []
        self._secure_hidden = 0                # bytes of flash hidden by SEC_PROT until reset
        self._hooks: list = []

    def install_hooks(self) -> None:
        self._protection_hook(UC_HOOK_MEM_WRITE_PROT, self.on_write_to_read_only)
        self._protection_hook(UC_HOOK_MEM_READ_PROT, self.on_read_of_execute_only)

    def _protection_hook(self, hook_type: int, callback) -> None:
        """A raw uc_hook_add with one ctypes callback: every store into flash (each programmed
        word) calls it, and the binding's wrapper layers cost more than the callback."""
        uc = self.cpu.uc

        def on_access(handle, access, address, size, value, user_data):
            try:
                return callback(uc, access, address, size, value, None)
            except BaseException as exc:
                callback_failed(uc, exc)
                return False
        hook = _MEM_PROT(on_access)
        handle = ctypes.c_size_t()
        status = uclib.uc_hook_add(self.cpu.handle, ctypes.byref(handle), hook_type, hook, None,
                                   ctypes.c_uint64(1), ctypes.c_uint64(0))
        if status:
            raise UcError(status)
        self._hooks.append(hook)            # ctypes callbacks must outlive the hook

    def _places(self) -> list[int]:
        """Where main flash is mapped: its own address, and 0x0 while the alias shows it."""
        return [c071.FLASH_BASE] + ([0] if self.m.alias is self.flash else [])

    # -- the protection hooks -------------------------------------------------------------
    def on_write_to_read_only(self, uc, access, address, size, value, user_data) -> bool:
        # Unicorn stores into a pointer-mapped read-only region once this hook returns
        # True, so the original bytes are put back at the next instruction boundary -
        # except the store that starts a double-word program: the array will hold exactly
        # those bytes, and a read of them meanwhile would stall until it does (RM0490
        # §4.3.4), so they stay and the slice goes on (it ends if the core must stall:
        # busy_changed).
        native = self.m.native_address(address)
        if self.flash.contains(native) or self.otp.contains(native):
            if self.m.flash_controller.memory_write(native, size, value):
                return True
        else:
            memory = next((m for m in self.memories if m.contains(native)), None)
            name = memory.name if memory else f"0x{address:08X}"
            self.m.services.report_unmodelled(f"write to read-only {name} at 0x{address:08X}", True, value)
        memory = next((m for m in self.memories if m.contains(native, size)), None)
        if memory is not None:      # the hook runs before the store lands: these are the bytes to put back
            self._undo_writes.append((memory, native, memory.load(native, size)))
            self.loop.end_slice()
        return True            # the store never reaches the array directly; execution continues

    def on_read_of_execute_only(self, uc, access, address, size, value, user_data) -> bool:
        # PCROP pages are mapped execute-only.  A data read of a protected subpage reads 0
        # (the bytes are zeroed for this one instruction and put back at the boundary);
        # a read of the unprotected half of such a 1 KiB page reads normally.
        native = self.m.native_address(address)
        controller = self.m.flash_controller
        if controller.in_pcrop(native):
            self._undo_writes.append((self.flash, native, self.flash.load(native, size)))
            self.flash.array[native - self.flash.base:native - self.flash.base + size] = 0
            controller.pcrop_read(native)
            self.loop.end_slice()
        return True

    # -- protection set by the option bytes ----------------------------------------------------
    def hide_secure_area(self, size: int) -> None:
        """SEC_PROT: unmap the securable area so that every access is a bus error until reset."""
        if self.mapping != "memory":
            return
        uc = self.cpu.uc
        for at in self._places():
            uc.mem_unmap(at, size)
            remove_translations(uc, at, at + size)
        self._secure_hidden = size
        self.loop.end_slice()

    def _show_secure_area(self) -> None:
        size, self._secure_hidden = self._secure_hidden, 0
        if not size:
            return
        uc = self.cpu.uc
        for at in self._places():
            uc.mem_map_ptr(at, size, self.flash.perms, ctypes.addressof(self.flash.buffer))

    def _apply_pcrop(self) -> None:
        """Map the 1 KiB pages that hold PCROP subpages execute-only (native address and alias)."""
        uc = self.cpu.uc
        if self.mapping != "memory":
            return
        for at in self._places():
            uc.mem_protect(at, self.flash.size, self.flash.perms)
            for lo, hi in self.m.flash_controller.pcrop_ranges():
                first, last = lo & ~0x3FF, (hi + 0x3FF) & ~0x3FF
                uc.mem_protect(at + first - c071.FLASH_BASE, last - first, UC_PROT_EXEC)

    def before_reset(self) -> None:
        """Plain memory again, everything shown, before the machine maps the alias."""
        self._mapping_wanted = None
        self._show_secure_area()
        self._map("memory")

    def after_reset(self, rdp_restricted: bool) -> None:
        """PCROP and RDP as the option bytes just loaded say, once the alias is mapped
        (``rdp_restricted``: RDP level 1 with a boot from system memory or SRAM)."""
        self._apply_pcrop()
        if rdp_restricted:
            self._map("none")
            self.m.event("flash.rdp", "RDP level 1 with a boot from "
                         f"{self.m.boot_mode.name.lower().replace('_', ' ')}: main flash is not accessible")

    # -- stalls ----------------------------------------------------------------------------------
    def busy_changed(self, busy: bool) -> None:
        # The mapping cannot change under the instruction that started the operation (its
        # code may be in flash): the swap happens between slices.  A double-word program
        # (85 us) keeps plain memory: swapping costs more than the operation, and a data
        # read during it could only differ for the double word being programmed, which
        # reads erased until the operation ends.  Fetches stall either way (between_slices).
        if busy and self.m.flash_controller.operation_seconds() < self.STALL_MAPPING_MIN_S:
            if not self.loop.in_slice or self._in_flash(self.cpu.pc()):
                self.loop.end_slice()        # the next fetch stalls: between_slices charges it
            return
        self._mapping_wanted = "stall" if busy else "memory"
        self.loop.end_slice()

    def between_slices(self) -> None:
        while self._undo_writes:
            # No translation-cache flush: the slice ended right after the store, so no code
            # was translated from the stored bytes, and what was translated before them is
            # what is put back.
            memory, address, original = self._undo_writes.pop()
            memory.store(None, address, original)
        controller = self.m.flash_controller
        if controller.stall_debt_s:
            self.clock.cycles += int(controller.take_stall_debt() * self.clock.hz + 0.999999)
        if controller.busy and (self._in_flash(pc := self.cpu.pc()) or self._vector_fetch_from_flash()):
            start = self.clock.cycles
            controller.finish_for_stall(f"instruction or vector fetch at 0x{pc:08X}")
            self.clock.cycles = max(self.clock.cycles, start) + int(
                controller.take_stall_debt() * self.clock.hz + 0.999999)
        wanted = self._mapping_wanted
        if wanted and wanted != self.mapping:
            self._map(wanted)

    def _in_flash(self, address: int) -> bool:
        return self.flash.contains(self.m.native_address(address))

    def _vector_fetch_from_flash(self) -> bool:
        m = self.m
        return self._in_flash(m.scb.vtor) and m.book.next_to_take(self.cpu.primask()) is not None

    def _map(self, how: str) -> None:
        """Swap main flash between plain memory and a stalling view (reads wait for the operation)."""
        uc = self.cpu.uc
        if how == self.mapping:
            return
        for at in self._places():
            if self.mapping == "memory":
                self.flash.unmap(uc, at)
            elif self.mapping == "stall":
                uc.mem_unmap(at, self.flash.size)
            if how == "memory":
                self.flash.map(uc, at)
            elif how == "stall":
                uc.mmio_map(at, self.flash.size, self._stalled_read, at, self._stalled_write, at)
            remove_translations(uc, at, at + self.flash.size)
        self.mapping = how

    def _stalled_read(self, uc, offset: int, size: int, base: int) -> int:
        controller = self.m.flash_controller
        controller.finish_for_stall(f"read of 0x{base + offset:08X}")
        self._mapping_wanted = "memory" if not controller.busy else "stall"
        self.loop.end_slice()
        data = self.flash.load(c071.FLASH_BASE + offset, size)
        return int.from_bytes(data, "little")

    def _stalled_write(self, uc, offset: int, size: int, value: int, base: int) -> None:
        self.m.flash_controller.memory_write(c071.FLASH_BASE + offset, size, value)


class FlashArray:
    """Main flash and OTP as the FLASH controller reads and changes them."""

    def __init__(self, flash: Memory, otp: Memory, cpu) -> None:
        self.flash, self.otp, self.cpu = flash, otp, cpu

    def _memory(self, address: int) -> Memory:
        return self.flash if self.flash.contains(address) else self.otp

    def read(self, address: int, length: int) -> bytes:
        return self._memory(address).load(address, length)

    def write(self, address: int, data: bytes) -> None:
        self._memory(address).store(self.cpu.uc, address, data)   # also drops stale translations
