"""A named block that exists on the silicon but has no model: every access is reported.

QEMU's "unimplemented device" habit (STYLE.md §2): reads return 0, writes are
dropped, and each access reaches ``services.unmodelled`` with the block's name, so
the report says "USART1+0x0C" rather than a bare address.
"""
from __future__ import annotations

from .regs import BusKind, Peripheral


class UnmodelledBlock(Peripheral):
    bus = BusKind.APB

    def __init__(self, name: str, base: int, size: int = 0x400, services=None) -> None:
        self.name = name
        self.size = size
        super().__init__(base, services)

    def read(self, offset: int, size: int) -> int:
        self.services.unmodelled(self, offset, size, is_write=False, value=None, reg=None)
        return 0

    def write(self, offset: int, size: int, data: int) -> None:
        self.services.unmodelled(self, offset, size, is_write=True, value=data, reg=None)
