"""ARM semihosting for test images (``bkpt 0xAB``), with QEMU's exit contract.

Operations (ARM "Semihosting for AArch32 and AArch64", v2): SYS_WRITEC 0x03,
SYS_WRITE0 0x04, SYS_WRITE 0x05, SYS_EXIT 0x18, SYS_EXIT_EXTENDED 0x20.  On
AArch32 SYS_EXIT passes the reason in r1: ADP_Stopped_ApplicationExit (0x20026)
ends with status 0, any other reason with 1; SYS_EXIT_EXTENDED points r1 at
{reason, subcode} and ends with the subcode - as QEMU does, so one test image
runs on both.  Any other operation is reported and answers -1.
"""
from __future__ import annotations

import struct
from typing import Callable, Optional

from .core.cpu import Cpu

SYS_WRITEC, SYS_WRITE0, SYS_WRITE, SYS_EXIT, SYS_EXIT_EXTENDED = 0x03, 0x04, 0x05, 0x18, 0x20
ADP_STOPPED_APPLICATION_EXIT = 0x20026
MAX_STRING = 4096


class Semihosting:
    def __init__(self, cpu: Cpu, write: Callable[[str], None], report: Callable[[str], None]) -> None:
        self.cpu = cpu
        self.write = write
        self.report = report

    def __call__(self) -> Optional[int]:
        cpu = self.cpu
        op, arg = cpu.read("r0"), cpu.read("r1")
        if op == SYS_WRITEC:
            self.write(chr(cpu.uc.mem_read(arg, 1)[0]))
        elif op == SYS_WRITE0:
            self.write(self._string(arg))
        elif op == SYS_WRITE:
            handle, address, length = struct.unpack("<3I", cpu.uc.mem_read(arg, 12))
            self.write(cpu.uc.mem_read(address, length).decode("latin-1"))
            cpu.write("r0", 0)
        elif op == SYS_EXIT:
            return 0 if arg == ADP_STOPPED_APPLICATION_EXIT else 1
        elif op == SYS_EXIT_EXTENDED:
            reason, subcode = struct.unpack("<2I", cpu.uc.mem_read(arg, 8))
            return subcode & 0xFF if reason == ADP_STOPPED_APPLICATION_EXIT else 1
        else:
            self.report(f"semihosting operation 0x{op:02X} is not supported; returned -1")
            cpu.write("r0", 0xFFFFFFFF)
        return None

    def _string(self, address: int) -> str:
        out = bytearray()
        while len(out) < MAX_STRING:
            chunk = bytes(self.cpu.uc.mem_read(address + len(out), 64 - (address + len(out)) % 64))
            end = chunk.find(b"\0")
            if end >= 0:
                out += chunk[:end]
                break
            out += chunk
        return out.decode("latin-1")
