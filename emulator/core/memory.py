"""Host buffers behind the guest's memories, shared with Unicorn by pointer.

Each memory is one ctypes buffer mapped with ``mem_map_ptr``; the 0x0 alias maps the
same buffer a second time, so writes through either address are one write
(UNICORN.md).  Python-side writes into code must be followed by a translation-cache
flush, which ``Memory.store`` does.
"""
from __future__ import annotations

import ctypes

import numpy as np
from unicorn import Uc

from .cpu import remove_translations


class Memory:
    def __init__(self, name: str, base: int, size: int, perms: int, fill: int = 0x00) -> None:
        self.name = name
        self.base = base
        self.size = size
        self.perms = perms
        self.buffer = (ctypes.c_ubyte * size)()
        self.array = np.frombuffer(self.buffer, dtype=np.uint8)
        self.array[:] = fill
        self.mapped_at: list[int] = []

    def contains(self, address: int, length: int = 1) -> bool:
        return self.base <= address and address + length <= self.base + self.size

    def map(self, uc: Uc, address: int | None = None, size: int | None = None, offset: int = 0) -> None:
        at = self.base if address is None else address
        uc.mem_map_ptr(at, size or self.size, self.perms, ctypes.addressof(self.buffer) + offset)
        self.mapped_at.append(at)

    def unmap(self, uc: Uc, address: int) -> None:
        uc.mem_unmap(address, self.size)
        self.mapped_at.remove(address)

    def store(self, uc: Uc | None, address: int, data: bytes) -> None:
        """Write bytes from the host (image loading, flash operations) and drop stale translations."""
        offset = address - self.base
        self.array[offset:offset + len(data)] = np.frombuffer(bytes(data), dtype=np.uint8)
        if uc is not None:
            for at in self.mapped_at:
                remove_translations(uc, at + offset, at + offset + len(data))

    def load(self, address: int, length: int) -> bytes:
        offset = address - self.base
        return self.array[offset:offset + length].tobytes()

    def word(self, address: int) -> int:
        return int.from_bytes(self.load(address, 4), "little")
