"""``c071emu bench``: the full machine against bare Unicorn, and the polling image.

"Bare Unicorn" runs the same compute image with no hooks and the same TLB mode, in
count-bounded slices of 1 M instructions - the ceiling for deterministic
instruction-count time (issue: machine).  Its peripheral space is plain RAM seeded
with the reset values the image reads (RCC_CR, FLASH_ACR), so it runs the same
instructions; it stops at the image's first semihosting call, after the compute.
Both rates are instructions per wall second over the same instruction stream, so
the ratio isolates what the machine adds: MMIO models, events, exception checks.
"""
from __future__ import annotations

import struct
import time
from pathlib import Path

from unicorn import UC_PROT_ALL, UcError

from peripherals import c071

from .core.cpu import Cpu
from .image import load_elf
from .machine import Machine

IMAGES = Path(__file__).resolve().parent.parent / "images" / "elf"
SLICE = 1_000_000
TARGET_HZ = 48_000_000


def _machine_run(name: str) -> tuple[Machine, float]:
    m = Machine()
    m.load(load_elf(IMAGES / f"{name}.elf"))
    m.reset("power")
    started = time.perf_counter()
    end = m.run(max_seconds=30)
    wall = time.perf_counter() - started
    if end.exit_status != 0:
        raise RuntimeError(f"{name}: benchmark image failed: {end.detail}")
    return m, wall


def _bare_unicorn_rate(name: str) -> tuple[int, float]:
    image = load_elf(IMAGES / f"{name}.elf")
    cpu = Cpu()
    uc = cpu.uc
    for base, size in ((c071.FLASH_BASE, c071.FLASH_SIZE), (c071.SRAM_BASE, c071.SRAM_SIZE),
                       (0x4000_0000, 0x0003_0000), (0xE000_E000, 0x1000)):
        uc.mem_map(base, size, UC_PROT_ALL)
    for seg in image.segments:
        uc.mem_write(seg.address, seg.data)
    uc.mem_write(c071.RCC, struct.pack("<I", 0x0000_1540))           # RCC_CR reset value (HSIRDY set)
    uc.mem_write(c071.FLASH_REGS, struct.pack("<I", 0x0004_0600))    # FLASH_ACR reset value
    sp, pc = struct.unpack("<2I", bytes(uc.mem_read(c071.FLASH_BASE, 8)))
    cpu.write("msp", sp)
    executed = 0
    started = time.perf_counter()
    while True:
        try:
            uc.emu_start(pc | 1, 0xE00F_FFF0, count=SLICE)
        except UcError:
            executed += cpu.counter() - 1
            break
        executed += SLICE
        pc = cpu.pc()
    return executed, time.perf_counter() - started


def _diagnosis_timing(name: str = "jump_forum_v1") -> dict:
    """Wall time of one scenario run (app to jump, then the DFU flow) against a full diagnosis."""
    from .analysis.diagnose import diagnose, jump_run
    from .analysis.flows import dfu_flow
    trigger = "usb-control:0x40,0x42"             # the bundled apps' "enter bootloader" request
    app, bootloader = load_elf(IMAGES / f"{name}.elf"), load_elf(IMAGES / "bootloader.elf")
    flow = dfu_flow()
    started = time.perf_counter()
    flow.run(jump_run(app, bootloader, {}, trigger).m)
    one_run = time.perf_counter() - started
    started = time.perf_counter()
    d = diagnose(app, bootloader, flow, trigger=trigger)
    full = time.perf_counter() - started
    return {"scenario": name, "one_run_wall_seconds": round(one_run, 3), "diagnosis_wall_seconds": round(full, 3),
            "replays": d.oracle_calls, "diagnosis_over_one_run": round(full / one_run, 2),
            "blocking_items": [i.key for i in d.blamed]}


def run_benchmarks() -> dict:
    machine, wall = _machine_run("bench_compute")
    machine_rate = machine.loop.instructions / wall
    bare_executed, bare_wall = _bare_unicorn_rate("bench_compute")
    bare_rate = bare_executed / bare_wall
    poll, poll_wall = _machine_run("bench_poll")
    erase, erase_wall = _machine_run("flash_erase_all")
    diagnosis = _diagnosis_timing()
    return {
        "diagnosis": diagnosis,
        "schema": "c071emu.bench/1",
        "compute": {
            "image": "bench_compute",
            "instructions": machine.loop.instructions,
            "machine_wall_seconds": round(wall, 4),
            "machine_minsn_per_s": round(machine_rate / 1e6, 1),
            "bare_unicorn_instructions": bare_executed,
            "bare_unicorn_wall_seconds": round(bare_wall, 4),
            "bare_unicorn_minsn_per_s": round(bare_rate / 1e6, 1),
            "machine_over_bare": round(machine_rate / bare_rate, 3),
            "simulated_seconds": machine.seconds(),
            "hclk_hz": machine.clock.hz,
            "real_time_factor_at_48mhz": round(machine_rate / TARGET_HZ, 2),
        },
        "polling": {
            "image": "bench_poll",
            "simulated_seconds": poll.seconds(),
            "wall_seconds": round(poll_wall, 4),
            "instructions_executed": poll.loop.instructions,
            "instructions_skipped": poll.loop.instructions_skipped,
            "simulated_over_wall": round(poll.seconds() / poll_wall, 1),
        },
        "flash_erase_all": {
            "image": "flash_erase_all",
            "pages": 64,
            "simulated_seconds": erase.seconds(),
            "wall_seconds": round(erase_wall, 4),
            "instructions_executed": erase.loop.instructions,
            "instructions_skipped": erase.loop.instructions_skipped,
            "simulated_over_wall": round(erase.seconds() / erase_wall, 1),
        },
    }


def print_benchmarks(r: dict) -> None:
    c, p = r["compute"], r["polling"]
    print(f"compute image ({c['instructions']:,} instructions, {c['simulated_seconds'] * 1e3:.1f} ms simulated "
          f"at {c['hclk_hz'] / 1e6:g} MHz)")
    print(f"  full machine : {c['machine_minsn_per_s']:8.1f} M insn/s  ({c['machine_wall_seconds']:.3f} s)")
    print(f"  bare Unicorn : {c['bare_unicorn_minsn_per_s']:8.1f} M insn/s  ({c['bare_unicorn_wall_seconds']:.3f} s, "
          f"1 M-instruction count slices, no hooks)")
    print(f"  ratio machine/bare      : {c['machine_over_bare']:.2f}  (target >= 0.70)")
    print(f"  real-time factor @48MHz : {c['real_time_factor_at_48mhz']:.1f}x  (target >= 3)")
    print(f"polling image: {p['simulated_seconds']:.3f} s simulated in {p['wall_seconds']:.3f} s wall "
          f"({p['simulated_over_wall']:.0f}x real time); {p['instructions_executed']:,} instructions executed, "
          f"{p['instructions_skipped']:,} skipped by poll fast-forward")
    d = r["diagnosis"]
    print(f"diagnosis of {d['scenario']}: one scenario run {d['one_run_wall_seconds']:.2f} s wall, full diagnosis "
          f"{d['diagnosis_wall_seconds']:.2f} s ({d['replays']} replays) = {d['diagnosis_over_one_run']:.1f}x one run "
          f"(target <= 10x); blocking: {', '.join(d['blocking_items'])}")
    e = r["flash_erase_all"]
    print(f"flash erase of all {e['pages']} pages, BSY1 polled from SRAM: {e['simulated_seconds']:.3f} s simulated in "
          f"{e['wall_seconds']:.3f} s wall ({e['simulated_over_wall']:.0f}x real time); "
          f"{e['instructions_executed']:,} instructions executed, {e['instructions_skipped']:,} skipped")
