"""``c071emu bench``: the full machine against bare Unicorn, and real-firmware workloads.

"Bare Unicorn" runs the same compute image with no hooks and the same TLB mode, in
count-bounded slices of 1 M instructions - the ceiling for deterministic
instruction-count time (issue: machine).  Its peripheral space is plain RAM seeded
with the reset values the image reads (RCC_CR, FLASH_ACR), so it runs the same
instructions; it stops at the image's first semihosting call, after the compute.
Both rates are instructions per wall second over the same instruction stream, so
the ratio isolates what the machine adds: MMIO models, events, exception checks.

The targets (issue 13) are measured on firmware shaped like real firmware, each a
ratio printed next to its target with a pass/fail mark (and in ``--json``):
- ``bench_critical``: compute with HAL-style critical sections and a 1 kHz SysTick,
  against bare count-mode Unicorn on the same image in the same process (the two
  alternate three times; the fastest run of each is compared);
- ``bench_idle``: a HAL/TinyUSB idle loop (SysTick 1 kHz, WFI, NVIC disable/enable of
  the USB line every pass), real-time factor;
- ``bench_regs``: GPIO ODR read-modify-write loop, register accesses per wall second, with
  the bus path that served them (``native``: fastbus.c; ``python (...)``: why not);
- the DfuSe session of the diagnosis flow after a BOOT0 entry, real-time factor;
- a full diagnosis over one scenario run.
``repeat`` runs each measurement that many times and reports the median ratio: the
machine is shared, so single timings wander and ratios within one run are what count.
"""
from __future__ import annotations

import gc
import resource
import statistics
import struct
import time
from collections import Counter
from pathlib import Path
from typing import Callable

from unicorn import UC_PROT_ALL, UcError

from peripherals import c071

from .core.cpu import Cpu
from .image import load_elf
from .machine import Machine

IMAGES = Path(__file__).resolve().parent.parent / "images" / "elf"
SLICE = 1_000_000
TARGET_HZ = 48_000_000


def _machine_run(name: str, **config) -> tuple[Machine, float]:
    from .machine import MachineConfig
    m = Machine(MachineConfig(**config))
    m.load(load_elf(IMAGES / f"{name}.elf"))
    m.reset("power")
    started = time.perf_counter()
    end = m.run(max_seconds=30)
    wall = time.perf_counter() - started
    if end.exit_status != 0:
        raise RuntimeError(f"{name}: benchmark image failed: {end.detail}")
    return m, wall


def bare_core(name: str) -> tuple[Cpu, int]:
    """A bare Unicorn core (no models, no hooks) with image ``name`` loaded and its stack set; the
    reset handler's address.  RCC_CR and FLASH_ACR hold their reset values as plain memory."""
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
    return cpu, pc


def _bare_unicorn_rate(name: str) -> tuple[int, float]:
    cpu, pc = bare_core(name)
    uc = cpu.uc
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


def _cpu_seconds() -> float:
    """CPU time of this process and of its ended children (the forked replays and workers)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _variants_timing(name: str = "jump_forum_v1") -> dict:
    """Wall time of the diagnosis under every bootloader design (one jump snapshot, the
    designs in parallel) against a single-design diagnosis (the default bootloader), both
    measured here the same way, with the CPU time each took in all its processes."""
    from .analysis.diagnose import diagnose
    from .analysis.flows import dfu_flow
    from .analysis.variants import diagnose_variants, select_variants
    trigger = "usb-control:0x40,0x42"
    app, variants = load_elf(IMAGES / f"{name}.elf"), select_variants("all")
    started, cpu = time.perf_counter(), _cpu_seconds()
    diagnose(app, load_elf(variants[0][1]), dfu_flow(), trigger=trigger)
    single, single_cpu = time.perf_counter() - started, _cpu_seconds() - cpu
    started, cpu = time.perf_counter(), _cpu_seconds()
    m = diagnose_variants(app, variants, dfu_flow(), trigger=trigger)
    every, every_cpu = time.perf_counter() - started, _cpu_seconds() - cpu
    return {"scenario": name, "designs": len(variants), "single_design_wall_seconds": round(single, 3),
            "all_designs_wall_seconds": round(every, 3), "all_over_single": round(every / single, 2),
            "single_design_cpu_seconds": round(single_cpu, 2), "all_designs_cpu_seconds": round(every_cpu, 2),
            "replays": sum(v.replays for v in m.variants), "failing_designs": len(m.failing)}


def _print_variants_timing(v: dict) -> None:
    print(f"diagnosis of {v['scenario']} under all {v['designs']} bootloader designs: {v['all_designs_wall_seconds']:.2f} s "
          f"wall vs {v['single_design_wall_seconds']:.2f} s for one = {v['all_over_single']:.1f}x (target <= 3x on 2 "
          f"cores; CPU {v['all_designs_cpu_seconds']:.1f} s vs {v['single_design_cpu_seconds']:.1f} s); "
          f"{v['failing_designs']} designs fail, {v['replays']} oracle replays")


def _boot0_session_machine() -> Machine:
    from .machine import MachineConfig
    m = Machine(MachineConfig(boot_pin=1, option_bytes={"OPTR": BOOT0_OPTR}))
    m.load(load_elf(IMAGES / "bootloader.elf"))
    m.load(load_elf(IMAGES / "hello.elf"))
    m.reset("power")
    return m


def _dfuse_after_boot0() -> dict:
    """The diagnosis flow's DfuSe session (enumerate, upload, erase, download, verify,
    leave) on the reference bootloader entered through the BOOT0 pin."""
    from .analysis.flows import dfu_flow
    m = _boot0_session_machine()
    started = time.perf_counter()
    outcome = dfu_flow().run(m)
    wall = time.perf_counter() - started
    if any(step.status != "ok" for step in outcome.steps):
        raise RuntimeError(f"DfuSe benchmark session failed: {outcome.steps}")
    return {"simulated_seconds": m.seconds(), "wall_seconds": round(wall, 4), "slices": m.loop.slices,
            "instructions_executed": m.loop.instructions, "real_time_factor": m.seconds() / wall,
            "wall_us_per_slice": round(wall / m.loop.slices * 1e6, 1)}


def _dfuse_slice_budget() -> dict:
    """What ends the DfuSe session's slices, from a second, instrumented run (the timed run
    carries no counters): scheduled events by name, and the slices a model or hook ended
    early (a store into flash, a confirmed poll loop, an interrupt made takeable)."""
    from .analysis.flows import dfu_flow
    m = _boot0_session_machine()
    events: Counter = Counter()
    pop_due = m.scheduler.pop_due

    def counted_pop_due(now: int):
        ev = pop_due(now)
        if ev is not None:
            events[ev.name] += 1
        return ev
    m.scheduler.pop_due = counted_pop_due
    early = [0]
    end_slice = m.cpu.end_slice_at_next_boundary

    def counted_end_slice():
        early[0] += 1
        end_slice()
    m.cpu.end_slice_at_next_boundary = counted_end_slice
    dfu_flow().run(m)
    return {"slices": m.loop.slices, "events": dict(events.most_common()), "ended_early": early[0],
            "poll_skips": m.loop.polls.skips, "poll_skips_in_slice": m.loop.skips_in_slice}


PAIRS = 3


def _critical_sections() -> dict:
    """Machine and bare Unicorn alternate PAIRS times and the fastest run of each counts: on a
    shared machine a run is only ever slowed by its neighbours, so the least-disturbed run of
    each is the fairest pair for the ratio."""
    machine_rate = bare_rate = 0.0
    for _ in range(PAIRS):
        machine, wall = _machine_run("bench_critical")
        bare_executed, bare_wall = _bare_unicorn_rate("bench_critical")
        machine_rate = max(machine_rate, machine.loop.instructions / wall)
        bare_rate = max(bare_rate, bare_executed / bare_wall)
    return {"instructions": machine.loop.instructions, "machine_minsn_per_s": round(machine_rate / 1e6, 1),
            "bare_unicorn_minsn_per_s": round(bare_rate / 1e6, 1), "unmask_armings": machine.loop.unmask_armings,
            "machine_over_bare": machine_rate / bare_rate}


def _idle_loop() -> dict:
    m, wall = _machine_run("bench_idle")
    return {"simulated_seconds": m.seconds(), "wall_seconds": round(wall, 4), "slices": m.loop.slices,
            "real_time_factor": m.seconds() / wall}


def _register_loop() -> dict:
    m, wall = _machine_run("bench_regs")
    accesses = m.read32(m.symbol("odr_accesses"))
    served = sum(m.native_bus.served) if m.native_bus is not None else 0
    return {"accesses": accesses, "wall_seconds": round(wall, 4), "accesses_per_second": accesses / wall,
            "bus_path": m.bus_path, "served_natively": served}


# name, what, how to measure, the figure, target, "min" (figure >= target) or "max" (<=), unit
TARGETS = [
    ("critical_sections", "compute with critical sections / bare count-mode Unicorn", _critical_sections,
     "machine_over_bare", 0.9, "min", "x"),
    ("idle_loop", "HAL/TinyUSB idle loop, real-time factor", _idle_loop, "real_time_factor", 3.0, "min", "x"),
    ("register_loop", "GPIO ODR loop, register accesses per wall second", _register_loop,
     "accesses_per_second", 2e6, "min", "/s"),
    ("dfuse_after_boot0", "DfuSe session after BOOT0, real-time factor", _dfuse_after_boot0,
     "real_time_factor", 10.0, "min", "x"),
]
BOOT0_OPTR = 0x3EEF_FEAA            # factory OPTR with nBOOT_SEL = 0: the BOOT0 pin selects


def _collected(measure):
    """``measure()`` after a full garbage collection: the heap earlier measurements left would
    otherwise make Python's collector pass over all of it during this one (tens of ms at
    random places), which says nothing about the emulator."""
    gc.collect()
    return measure()


def _median_run(measure, key: str, repeat: int) -> dict:
    runs = [_collected(measure) for _ in range(repeat)]
    runs.sort(key=lambda r: r[key])
    median = dict(runs[(len(runs) - 1) // 2])
    median[key] = statistics.median(r[key] for r in runs)
    median["runs"] = [round(r[key], 3) for r in runs]
    return median


def _verdict(name: str, what: str, result: dict, key: str, target: float, sense: str, unit: str) -> dict:
    value = result[key]
    passed = value >= target if sense == "min" else value <= target
    return {"name": name, "what": what, "value": round(value, 3), "target": target,
            "comparison": ">=" if sense == "min" else "<=", "unit": unit, "pass": passed}


def run_benchmarks(repeat: int = 1, progress: Callable[[str], None] = lambda what: None) -> dict:
    """Every measurement; ``progress(what)`` is told each one before it starts (never inside
    a timed section)."""
    targets, details = [], {}
    for name, what, measure, key, target, sense, unit in TARGETS:
        progress(what)
        details[name] = _median_run(measure, key, repeat)
        targets.append(_verdict(name, what, details[name], key, target, sense, unit))
    progress("full diagnosis / one scenario run")
    diagnosis = _median_run(_diagnosis_timing, "diagnosis_over_one_run", repeat)
    targets.append(_verdict("diagnosis", "full diagnosis / one scenario run", diagnosis,
                            "diagnosis_over_one_run", 6.0, "max", "x"))
    progress("compute image, full machine and bare Unicorn")
    machine, wall = _machine_run("bench_compute")
    machine_rate = machine.loop.instructions / wall
    bare_executed, bare_wall = _bare_unicorn_rate("bench_compute")
    bare_rate = bare_executed / bare_wall
    progress("polling, flash erase and TIM timebase images")
    poll, poll_wall = _machine_run("bench_poll")
    erase, erase_wall = _machine_run("flash_erase_all")
    timebase, timebase_wall = _machine_run("tim3_timebase")
    progress("diagnosis under all bootloader designs")
    variants = _variants_timing()
    progress("what ends the DfuSe session's slices")
    slice_budget = _dfuse_slice_budget()
    return {
        "schema": "c071emu.bench/2",
        "repeat": repeat,
        "targets": targets,
        **details,
        "diagnosis": diagnosis,
        "variants": variants,
        "dfuse_slice_budget": slice_budget,
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
        "tim3_timebase": {
            "image": "tim3_timebase",
            "simulated_seconds": timebase.seconds(),
            "wall_seconds": round(timebase_wall, 4),
            "tim3_interrupts": len([e for e in timebase.trace.of_kind("exception.entry") if e.text.startswith("TIM3")]),
            "instructions_executed": timebase.loop.instructions,
            "simulated_over_wall": round(timebase.seconds() / timebase_wall, 1),
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


def _figure(value: float, unit: str) -> str:
    return f"{value / 1e6:.2f} M/s" if unit == "/s" else f"{value:.2f}x"


def print_benchmarks(r: dict) -> None:
    print(f"targets (median of {r['repeat']} run{'s' if r['repeat'] > 1 else ''}):")
    for t in r["targets"]:
        mark = "PASS" if t["pass"] else "FAIL"
        print(f"  [{mark}] {t['what']:<58} {_figure(t['value'], t['unit']):>10}  "
              f"(target {t['comparison']} {_figure(t['target'], t['unit'])})")
    regs = r["register_loop"]
    print(f"GPIO ODR loop: {regs['accesses']:,} register accesses in {regs['wall_seconds']:.3f} s wall; bus path: "
          f"{regs['bus_path']} ({regs['served_natively']:,} accesses served in C)")
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
          f"(target <= 6x); blocking: {', '.join(d['blocking_items'])}")
    _print_variants_timing(r["variants"])
    dfu, budget = r["dfuse_after_boot0"], r["dfuse_slice_budget"]
    events = ", ".join(f"{n} {name}" for name, n in list(budget["events"].items())[:6])
    print(f"DfuSe session after BOOT0: {dfu['simulated_seconds'] * 1e3:.0f} ms simulated, {dfu['slices']:,} slices at "
          f"{dfu['wall_us_per_slice']:.1f} us wall each; slice ends: {budget['ended_early']:,} early (flash stores, "
          f"poll loops, interrupts), {sum(budget['events'].values()):,} events ({events}); "
          f"{budget['poll_skips']:,} poll skips, {budget['poll_skips_in_slice']:,} of them inside their slice")
    e = r["flash_erase_all"]
    print(f"flash erase of all {e['pages']} pages, BSY1 polled from SRAM: {e['simulated_seconds']:.3f} s simulated in "
          f"{e['wall_seconds']:.3f} s wall ({e['simulated_over_wall']:.0f}x real time); "
          f"{e['instructions_executed']:,} instructions executed, {e['instructions_skipped']:,} skipped")
    t = r["tim3_timebase"]
    print(f"TIM3 1 kHz HAL timebase, two HAL_Delay(10) then 1 s idle in wfi: {t['simulated_seconds']:.3f} s simulated in "
          f"{t['wall_seconds']:.3f} s wall ({t['simulated_over_wall']:.1f}x real time; {t['tim3_interrupts']} TIM3 "
          f"interrupts)")
