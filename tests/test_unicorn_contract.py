"""The Unicorn 2.1.4 behaviours the emulator is built on (../shared/c071/UNICORN.md).

Each test pins one fact that ``emulator/core`` relies on, using raw Unicorn (or the
thin ``Cpu`` wrapper) and hand-assembled Thumb halfwords.  If an upgrade changes one
of them, the failing test names what to revisit.
"""
from __future__ import annotations

import struct

import pytest
import unicorn
from unicorn import (UcError, UC_ERR_FETCH_UNMAPPED, UC_ERR_INSN_INVALID, UC_HOOK_CODE, UC_HOOK_INSN_INVALID,
                     UC_HOOK_INTR)
from unicorn.arm_const import UC_ARM_REG_IPSR, UC_ARM_REG_PC, UC_ARM_REG_R0, UC_ARM_REG_R1, UC_ARM_REG_R2, \
    UC_ARM_REG_R3, UC_ARM_REG_XPSR

from emulator.core.cpu import EPSR_T, Cpu, instruction_counter_offset

CODE = 0x1000
RAM = 0x2000_0000
MMIO = 0x4000_0000
END = 0xFFF0                     # `until` address never reached

# Thumb (ARMv6-M) encodings
MOVS_R0_R0 = 0x0000              # lsls r0, r0, #0
LDR_R1_R0 = 0x6801               # ldr r1, [r0]
STM_R0_R1_R3 = 0xC00E            # stmia r0!, {r1, r2, r3}
BX_LR = 0x4770
WFI, WFE = 0xBF30, 0xBF20
B_SELF = 0xE7FE                  # b .
MOV_W_R0_0 = (0xF04F, 0x0000)    # mov.w r0, #0 (Thumb-2 data processing: not in ARMv6-M)


def thumb(*halfwords: int) -> bytes:
    return struct.pack(f"<{len(halfwords)}H", *halfwords)


@pytest.fixture
def cpu() -> Cpu:
    """A bare M0 core with 4 KiB of code at 0x1000 and 4 KiB of RAM at 0x2000_0000."""
    c = Cpu()
    c.uc.mem_map(CODE, 0x1000)
    c.uc.mem_map(RAM, 0x1000)
    c.write("msp", RAM + 0x800)
    return c


def test_unicorn_is_version_2_1_4():
    assert unicorn.__version__ == "2.1.4"
    major, minor, combined = unicorn.uc_version()
    assert (major, minor) == (2, 1) and combined >> 8 == 0x020104


def test_m0_model_rejects_thumb2_data_processing(cpu):
    """UC_CPU_ARM_CORTEX_M0 is ARMv6-M: `mov.w` is undefined, reported on the instruction."""
    cpu.uc.mem_write(CODE, thumb(*MOV_W_R0_0, B_SELF))
    with pytest.raises(UcError) as exc:
        cpu.uc.emu_start(CODE | 1, END, count=10)
    assert exc.value.errno == UC_ERR_INSN_INVALID
    assert cpu.pc() == CODE


def test_instruction_counter_reads_count_plus_one_after_a_limited_slice(cpu):
    """The counter is incremented before each instruction, so the one refused by the limit counts too."""
    assert instruction_counter_offset() > 0
    cpu.uc.mem_write(CODE, thumb(*[MOVS_R0_R0] * 20, B_SELF))
    cpu.uc.emu_start(CODE | 1, END, count=7)
    assert cpu.slice_limit() == 7
    assert cpu.counter() == 8
    assert cpu.pc() == CODE + 2 * 7


def _mmio_recorder(cpu: Cpu, on_first_write):
    writes, read_pcs = [], []

    def read(uc, offset, size, user_data):
        read_pcs.append(cpu.pc())
        return 0x55

    def write(uc, offset, size, value, user_data):
        writes.append((offset, value))
        if len(writes) == 1:
            on_first_write(uc)

    cpu.uc.mmio_map(MMIO, 0x400, read, None, write, None)
    return writes, read_pcs


def _stm_three_words(cpu: Cpu) -> None:
    cpu.uc.mem_write(CODE, thumb(STM_R0_R1_R3, MOVS_R0_R0, MOVS_R0_R0, B_SELF))
    for reg, value in ((UC_ARM_REG_R0, MMIO), (UC_ARM_REG_R1, 1), (UC_ARM_REG_R2, 2), (UC_ARM_REG_R3, 3)):
        cpu.uc.reg_write(reg, value)
    cpu.uc.emu_start(CODE | 1, END, count=100)


def test_lowering_the_limit_ends_the_slice_after_the_whole_stm(cpu):
    """``end_slice_at_next_boundary`` from a write callback: every word of the stm, PC after it, no repeat."""
    writes, _ = _mmio_recorder(cpu, lambda uc: cpu.end_slice_at_next_boundary())
    _stm_three_words(cpu)
    assert writes == [(0, 1), (4, 2), (8, 3)]
    assert cpu.pc() == CODE + 2
    assert cpu.read("r0") == MMIO + 12
    assert cpu.counter() > cpu.slice_limit()     # the slice ended on the limit, not on an error


def test_emu_stop_in_a_write_callback_abandons_the_stm(cpu):
    """Why the emulator never calls emu_stop() from MMIO: later words are lost and PC stays on the stm."""
    writes, _ = _mmio_recorder(cpu, lambda uc: uc.emu_stop())
    _stm_three_words(cpu)
    assert writes == [(0, 1)]
    assert cpu.pc() == CODE


@pytest.mark.parametrize("count, expected_pc", [(100, CODE + 4), (0, CODE)])
def test_pc_in_an_mmio_callback_names_the_access_only_with_count(cpu, count, expected_pc):
    """With count= the PC is synced per instruction; without it PC is the start of the block."""
    _, read_pcs = _mmio_recorder(cpu, lambda uc: None)
    cpu.uc.mem_write(CODE, thumb(MOVS_R0_R0, MOVS_R0_R0, LDR_R1_R0, MOVS_R0_R0, WFI))
    cpu.uc.reg_write(UC_ARM_REG_R0, MMIO)
    cpu.uc.emu_start(CODE | 1, END, count=count)
    assert read_pcs == [expected_pc]


def test_pc_write_with_bit0_clear_leaves_thumb_state(cpu):
    """A raw PC write copies bit 0 into EPSR.T; with T = 0 the next fetch is an invalid-state fault.

    This is why ``Cpu.write("pc", ...)`` always sets bit 0 (and ``emu_start`` is given ``addr | 1``).
    """
    cpu.uc.mem_write(CODE, thumb(MOVS_R0_R0, MOVS_R0_R0, MOVS_R0_R0, B_SELF))
    cpu.uc.reg_write(UC_ARM_REG_PC, CODE + 4)
    assert not cpu.uc.reg_read(UC_ARM_REG_XPSR) & EPSR_T
    cpu.uc.reg_write(UC_ARM_REG_PC, CODE + 5)
    assert cpu.uc.reg_read(UC_ARM_REG_XPSR) & EPSR_T and cpu.pc() == CODE + 4
    cpu.write("pc", CODE + 2)
    assert cpu.uc.reg_read(UC_ARM_REG_XPSR) & EPSR_T and cpu.pc() == CODE + 2
    with pytest.raises(UcError) as exc:
        cpu.uc.emu_start(CODE, END, count=10)            # even start address: not Thumb
    assert exc.value.errno == UC_ERR_INSN_INVALID


def _record_interrupts(cpu: Cpu) -> list:
    seen = []

    def on_intr(uc, intno, user_data):
        seen.append((intno, cpu.pc()))
        uc.emu_stop()

    cpu.uc.hook_add(UC_HOOK_INTR, on_intr)
    return seen


def test_exc_return_in_handler_mode_raises_interrupt_8(cpu):
    """After Cpu.set_ipsr (which rebuilds QEMU's cached flags) `bx lr` to 0xFFFFFFF9 is INTR 8, PC 0xFFFFFFF8."""
    seen = _record_interrupts(cpu)
    cpu.uc.mem_write(CODE, thumb(BX_LR, B_SELF))
    cpu.set_ipsr(3)
    cpu.write("lr", 0xFFFF_FFF9)
    cpu.uc.emu_start(CODE | 1, END, count=10)
    assert seen == [(8, 0xFFFF_FFF8)]


def test_exc_return_without_the_flag_rebuild_is_an_unmapped_fetch(cpu):
    """The regression Cpu.set_ipsr guards against (UNICORN.md; upstream PR #2268)."""
    seen = _record_interrupts(cpu)
    cpu.uc.mem_write(CODE, thumb(BX_LR, B_SELF))
    cpu.uc.reg_write(UC_ARM_REG_IPSR, 3)
    cpu.write("lr", 0xFFFF_FFF9)
    with pytest.raises(UcError) as exc:
        cpu.uc.emu_start(CODE | 1, END, count=10)
    assert exc.value.errno == UC_ERR_FETCH_UNMAPPED and seen == []


def test_wfi_returns_from_emu_start_with_pc_after_it(cpu):
    cpu.uc.mem_write(CODE, thumb(MOVS_R0_R0, WFI, MOVS_R0_R0, MOVS_R0_R0, B_SELF))
    cpu.uc.emu_start(CODE | 1, END, count=100)
    assert cpu.pc() == CODE + 4
    assert cpu.counter() == 2


def test_wfe_is_reported_as_invalid_with_pc_after_it(cpu):
    seen = []

    def on_invalid(uc, user_data):
        seen.append(cpu.pc())
        return True                 # treat as a hint and go on

    cpu.uc.hook_add(UC_HOOK_INSN_INVALID, on_invalid)
    cpu.uc.mem_write(CODE, thumb(MOVS_R0_R0, WFE, MOVS_R0_R0, MOVS_R0_R0, B_SELF))
    cpu.uc.emu_start(CODE | 1, END, count=4)
    assert seen == [CODE + 4]
    assert cpu.pc() == CODE + 8


def test_code_hook_added_after_translation_needs_a_cache_flush(cpu):
    """Bounded code hooks are checked at translation time (why watch_code/stop_at call ctl_remove_cache)."""
    cpu.uc.mem_write(CODE, thumb(MOVS_R0_R0, MOVS_R0_R0, MOVS_R0_R0, WFI))
    cpu.uc.emu_start(CODE | 1, END, count=100)
    hits = []
    cpu.uc.hook_add(UC_HOOK_CODE, lambda uc, address, size, ud: hits.append(address), None, CODE + 2, CODE + 2)
    cpu.uc.emu_start(CODE | 1, END, count=100)
    assert hits == []
    cpu.uc.ctl_remove_cache(CODE, CODE + 8)
    cpu.uc.emu_start(CODE | 1, END, count=100)
    assert hits == [CODE + 2]


def test_store_to_pointer_mapped_read_only_memory_lands_when_the_protection_hook_returns_true():
    """Why the machine saves and restores the bytes under a store to flash (FlashView.on_write_to_read_only, emulator/flash_view.py).

    Set up as the machine maps flash: a host buffer mapped read+exec with mem_map_ptr at
    0x0800_0000, code placed by the host.  The hook sees the store first; once it returns
    True the store reaches the buffer.
    """
    import ctypes
    from unicorn import UC_HOOK_MEM_WRITE_PROT, UC_PROT_EXEC, UC_PROT_READ
    cpu = Cpu()
    uc = cpu.uc
    flash = 0x0800_0000
    buffer = (ctypes.c_ubyte * 0x1000)()
    uc.mem_map_ptr(flash, 0x1000, UC_PROT_READ | UC_PROT_EXEC, ctypes.addressof(buffer))
    code = thumb(0x6001, B_SELF)                       # str r1, [r0]; b .
    ctypes.memmove(ctypes.addressof(buffer), code, len(code))
    uc.reg_write(UC_ARM_REG_R0, flash + 0x100)
    uc.reg_write(UC_ARM_REG_R1, 0xAABBCCDD)
    seen = []
    uc.hook_add(UC_HOOK_MEM_WRITE_PROT, lambda *args: seen.append(args[2]) or True)
    uc.emu_start(flash | 1, END, count=2)
    assert seen == [flash + 0x100]
    assert bytes(buffer[0x100:0x104]) == bytes.fromhex("ddccbbaa")


def test_pc_in_the_register_file_names_the_mmio_access_like_reg_read(cpu):
    """Cpu.pc() reads QEMU's regs[15] directly (core_register_file_offset); with count= it is the
    accessing instruction's PC inside an MMIO callback, as reg_read(PC) says."""
    seen = []

    def read(uc, offset, size, user_data):
        seen.append((cpu.pc(), uc.reg_read(UC_ARM_REG_PC), cpu.register_file[1]))
        return 0

    cpu.uc.mmio_map(MMIO, 0x400, read, None, None, None)
    cpu.uc.mem_write(CODE, thumb(MOVS_R0_R0, LDR_R1_R0, MOVS_R0_R0, LDR_R1_R0, WFI))
    cpu.uc.reg_write(UC_ARM_REG_R0, MMIO)
    cpu.uc.reg_write(UC_ARM_REG_R1, 0x1234_5678)
    cpu.uc.emu_start(CODE | 1, END, count=100)
    assert seen == [(CODE + 2, CODE + 2, 0x1234_5678), (CODE + 6, CODE + 6, 0)]
    cpu.write("r1", 0xCAFE_F00D)
    assert cpu.register_file[1] == 0xCAFE_F00D and cpu.pc() == CODE + 10


def test_a_deleted_code_hook_stops_firing_without_a_cache_flush(cpu):
    """Disarming the unmask sites is a plain hook_del: translations made while armed may stay."""
    cpu.uc.mem_write(CODE, thumb(MOVS_R0_R0, MOVS_R0_R0, MOVS_R0_R0, WFI))
    hits = []
    handle = cpu.uc.hook_add(UC_HOOK_CODE, lambda uc, address, size, ud: hits.append(address), None,
                             CODE + 2, CODE + 2)
    cpu.uc.emu_start(CODE | 1, END, count=100)
    assert hits == [CODE + 2]
    cpu.uc.hook_del(handle)
    cpu.uc.emu_start(CODE | 1, END, count=100)
    assert hits == [CODE + 2]


def test_a_register_batch_writes_in_order_and_may_repeat_a_register(cpu):
    """Exception entry/return write IPSR, the flags and PC twice in one batch (exceptions.py)."""
    cpu.write_registers((UC_ARM_REG_R0, UC_ARM_REG_R1, UC_ARM_REG_R0), [1, 2, 3])
    assert (cpu.read("r0"), cpu.read("r1")) == (3, 2)


def test_a_register_file_find_that_does_not_hold_for_a_new_engine_is_redone_on_it(monkeypatch):
    """The offsets are found once per process on a scratch engine; an engine where they do not
    hold (seen once under load) gets its own search instead of failing."""
    from emulator.core import cpu as cpu_module
    slot, at = cpu_module.core_register_file_offset()
    monkeypatch.setattr(cpu_module, "core_register_file_offset", lambda: (slot, at + 0x40))
    fresh = cpu_module.Cpu()
    assert list(fresh.register_file)[:13] == [0] * 13          # the search's patterns are cleared
    fresh.uc.reg_write(UC_ARM_REG_R1, 0x1234_5678)
    fresh.uc.reg_write(UC_ARM_REG_PC, 0x2001)
    assert fresh.register_file[1] == 0x1234_5678 and fresh.pc() == 0x2000


CPSID_I, CPSIE_I = 0xB672, 0xB662


def test_primask_is_one_word_of_the_cpu_state_that_cpsid_and_cpsie_change(cpu):
    """Cpu.primask() loads QEMU's v7m.primask (primask_offset) instead of a register read: the
    word follows the guest's own cpsid/cpsie, not only register writes."""
    assert cpu._primask is not None
    cpu.uc.mem_write(CODE, thumb(CPSID_I, WFI, CPSIE_I, WFI))
    cpu.uc.emu_start(CODE | 1, END, count=100)
    assert cpu.primask() == 1 and cpu.read("primask") == 1
    cpu.uc.emu_start((CODE + 4) | 1, END, count=100)
    assert cpu.primask() == 0 and cpu.read("primask") == 0


def test_primask_falls_back_to_a_register_read_where_the_found_word_does_not_follow(monkeypatch):
    from emulator.core import cpu as cpu_module
    offset = cpu_module.primask_offset()
    monkeypatch.setattr(cpu_module, "primask_offset", lambda: offset + 4)
    fresh = cpu_module.Cpu()
    assert fresh._primask is None
    fresh.write("primask", 1)
    assert fresh.primask() == 1
