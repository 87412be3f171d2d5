"""The bus matrix as a bus master other than the core sees it (DMA1's AHB master port).

RM0490 "System architecture": the DMA reaches the memories (flash, SRAM, system memory,
OTP, option bytes) and the AHB and APB peripherals, not the core's private peripheral
bus (NVIC, SysTick, SCB).  Reads and writes of peripheral registers go through the
models (so reading a USART's RDR clears RXNE, as on silicon), with the access size of
the transfer.  Writes to main flash and OTP go to the FLASH controller as a core store
does (programming when PG is set, an error otherwise); other memories are read-only and
a write to them, like an access to a reserved address, is refused (the DMA then flags a
transfer error).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from peripherals import c071

if TYPE_CHECKING:  # pragma: no cover
    from .machine import Machine


class SystemBusPort:
    def __init__(self, machine: "Machine") -> None:
        self.m = machine

    def read(self, address: int, size: int) -> Optional[int]:
        memory, native = self.m.memory_at(address)
        if memory is not None:
            if not memory.contains(native, size):
                return None
            return int.from_bytes(memory.load(native, size), "little")
        p = self._peripheral(address)
        return None if p is None else p.read(address - p.base, size)

    def write(self, address: int, size: int, value: int) -> bool:
        m = self.m
        memory, native = m.memory_at(address)
        if memory is m.sram and memory.contains(native, size):
            memory.store(m.cpu.uc, native, value.to_bytes(size, "little"))
            return True
        if memory is m.flash or memory is m.otp:
            m.flash_controller.memory_write(native, size, value)
            return True
        if memory is not None:
            return False
        p = self._peripheral(address)
        if p is None:
            return False
        p.write(address - p.base, size, value)
        return True

    def _peripheral(self, address: int):
        if address >= c071.PPB_SCS:
            return None                   # the private peripheral bus belongs to the core alone
        return self.m.peripheral_at(address)
