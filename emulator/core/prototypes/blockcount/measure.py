"""Moonshot prototype (issue 13): count instructions per translated block in native code.

Build the hook and measure bench_compute three ways in one process (CPU time):
    gcc -O2 -shared -fPIC -I$VENV/lib/python3.11/site-packages/unicorn/include \
        -o /tmp/libblockcount.so emulator/core/prototypes/blockcount/blockcount.c \
        $VENV/lib/python3.11/site-packages/unicorn/lib/libunicorn.so.2
    PYTHONPATH=$PWD python emulator/core/prototypes/blockcount/measure.py /tmp/libblockcount.so
"free" is Unicorn with no hook and no count (the ceiling, not deterministic), "count" is
what the run loop does today (count= slices of 1 M), "blocks" is the UC_HOOK_BLOCK
counter in C.  Not wired into the machine: see the design notes in the issue-13 report.
"""
from __future__ import annotations

import ctypes
import sys
import time

from unicorn import UC_HOOK_BLOCK, UcError
from unicorn.unicorn_py3.unicorn import uclib

from emulator.bench import bare_core


def prepared(name: str = "bench_compute"):
    return bare_core(name)


def free() -> tuple[float, None]:
    cpu, pc = prepared()
    started = time.process_time()
    try:
        cpu.uc.emu_start(pc | 1, 0xE00F_FFF0)
    except UcError:
        pass
    return time.process_time() - started, None


def counted() -> tuple[float, int]:
    cpu, pc = prepared()
    started, executed = time.process_time(), 0
    while True:
        try:
            cpu.uc.emu_start(pc | 1, 0xE00F_FFF0, count=1_000_000)
        except UcError:
            executed += cpu.counter() - 1
            break
        executed += 1_000_000
        pc = cpu.pc()
    return time.process_time() - started, executed


def blocks(lib) -> tuple[float, int]:
    cpu, pc = prepared()
    executed = ctypes.c_uint64.in_dll(lib, "executed")
    ctypes.c_uint64.in_dll(lib, "limit").value = 2**63
    executed.value = 0
    handle = ctypes.c_size_t()
    err = uclib.uc_hook_add(cpu.uc._uch, ctypes.byref(handle), UC_HOOK_BLOCK, ctypes.cast(lib.on_block, ctypes.c_void_p),
                            None, ctypes.c_uint64(1), ctypes.c_uint64(0))
    assert err == 0, err
    started = time.process_time()
    try:
        cpu.uc.emu_start(pc | 1, 0xE00F_FFF0)
    except UcError:
        pass
    return time.process_time() - started, executed.value - 1     # the block entered at the bkpt counts it


def main() -> None:
    lib = ctypes.CDLL(sys.argv[1])
    _, reference = counted()
    for _ in range(3):
        for name, run in (("free", free), ("count", counted), ("blocks", lambda: blocks(lib))):
            seconds, n = run()
            print(f"{name:7} {reference / seconds / 1e6:7.0f} M insn/s  counted {n}")


if __name__ == "__main__":
    main()
