"""What the stub tells GDB about the chip: registers (target description) and memory map.

Register order is the order of ``emulator.core.cpu.CORE_REGISTERS``: the ``g`` packet
carries them in that order.  ``org.gnu.gdb.arm.m-profile`` (r0-r12, sp, lr, pc, xpsr)
is the feature GDB requires for an M-profile core, ``org.gnu.gdb.arm.m-system`` names
the banked stack pointers (GDB manual, "ARM Features").  PRIMASK and CONTROL, the rest
of the ARMv6-M special registers (ARMv6-M ARM B1.4), go in a feature of our own;
GDB shows them as ``$primask`` and ``$control``.

The memory map (GDB manual, "Memory Map Format") declares main flash as ``flash`` with
its 2 KiB page (RM0490 §4.3.1), so ``load`` erases and writes it with ``vFlashErase``/
``vFlashWrite``, and marks every address GDB may touch: GDB refuses accesses outside
the map.  The 0x0 alias is ``rom``: writes to it would change whatever MEM_MODE shows.
"""
from __future__ import annotations

from peripherals import c071

from ..core.cpu import CORE_REGISTERS

M_PROFILE = [*(f"r{i}" for i in range(13)), "sp", "lr", "pc", "xpsr"]
M_SYSTEM = ["msp", "psp"]
OWN_SYSTEM = ["primask", "control"]
assert list(CORE_REGISTERS) == M_PROFILE + M_SYSTEM + OWN_SYSTEM

PERIPHERALS = (0x4000_0000, 0x5000_2000 - 0x4000_0000)      # APB, AHB and the IOPORT GPIOs
PRIVATE_PERIPHERAL_BUS = (0xE000_0000, 0x0010_0000)


def _reg(name: str) -> str:
    kind = {"sp": ' type="data_ptr"', "pc": ' type="code_ptr"', "lr": ' type="code_ptr"'}.get(name, "")
    return f'    <reg name="{name}" bitsize="32"{kind}/>'


def target_description() -> str:
    def feature(name: str, regs: list[str]) -> str:
        return f'  <feature name="{name}">\n' + "\n".join(map(_reg, regs)) + "\n  </feature>"
    return ('<?xml version="1.0"?>\n<!DOCTYPE target SYSTEM "gdb-target.dtd">\n<target version="1.0">\n'
            "  <architecture>arm</architecture>\n"
            + "\n".join([feature("org.gnu.gdb.arm.m-profile", M_PROFILE),
                         feature("org.gnu.gdb.arm.m-system", M_SYSTEM),
                         feature("org.c071emu.armv6m-system", OWN_SYSTEM)]) + "\n</target>\n")


def memory_map() -> str:
    def region(kind: str, start: int, length: int, extra: str = "") -> str:
        return f'  <memory type="{kind}" start="0x{start:x}" length="0x{length:x}">{extra}</memory>'
    otp_to_option_bytes_end = c071.OPTION_BYTES_BASE + c071.OPTION_BYTES_SIZE - c071.OTP_BASE
    return ('<?xml version="1.0"?>\n<!DOCTYPE memory-map PUBLIC "+//IDN gnu.org//DTD GDB Memory Map V1.0//EN" '
            '"http://sourceware.org/gdb/gdb-memory-map.dtd">\n<memory-map>\n' + "\n".join([
                region("rom", 0, c071.ALIAS_WINDOW),
                region("flash", c071.FLASH_BASE, c071.FLASH_SIZE,
                       f'<property name="blocksize">0x{c071.FLASH_PAGE_SIZE:x}</property>'),
                region("rom", c071.SYSMEM_BASE, c071.SYSMEM_SIZE),
                region("rom", c071.OTP_BASE, otp_to_option_bytes_end),       # OTP, engineering, option bytes
                region("ram", c071.SRAM_BASE, c071.SRAM_SIZE),
                region("ram", *PERIPHERALS),
                region("ram", *PRIVATE_PERIPHERAL_BUS),
            ]) + "\n</memory-map>\n")
