"""Command line: ``c071emu run`` and ``c071emu bench``.

Exit status of ``run``: the guest's semihosting exit status; 2 bad input; 3 core
lockup; 4 time limit reached; 5 strict-mode violation (an unmodelled access);
130 interrupted.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Optional, Sequence

from peripherals import c071
from peripherals.option_bytes import parse_option_bytes_spec

from .core.runloop import EndReason, RunEnd
from .image import ImageError, load_elf, load_image
from .machine import Machine, MachineConfig

EXIT_BAD_INPUT, EXIT_LOCKUP, EXIT_TIME_LIMIT, EXIT_STRICT, EXIT_INTERRUPTED = 2, 3, 4, 5, 130
DEFAULT_BOOTLOADER = Path(__file__).resolve().parent.parent / "images" / "elf" / "bootloader.elf"


class BadInput(Exception):
    pass


def _exit_status(end: RunEnd) -> int:
    return {EndReason.EXIT: end.exit_status, EndReason.LOCKUP: EXIT_LOCKUP, EndReason.TIME_LIMIT: EXIT_TIME_LIMIT,
            EndReason.STRICT: EXIT_STRICT, EndReason.INTERRUPTED: EXIT_INTERRUPTED,
            EndReason.STOP_AT: 0}[end.reason]


def build_machine(args: argparse.Namespace) -> Machine:
    try:
        option_bytes = parse_option_bytes_spec(args.option_bytes) if args.option_bytes else {}
    except ValueError as exc:
        raise BadInput(f"--option-bytes: {exc}") from None
    if args.boot_pin not in (0, 1):
        raise BadInput("--boot-pin takes 0 or 1")
    try:
        image = load_elf(args.image)
        bootloader = load_image(args.bootloader, raw_base=c071.SYSMEM_BASE, raw_limit=c071.SYSMEM_SIZE,
                                what="system memory") if args.bootloader else None
    except ImageError as exc:
        raise BadInput(str(exc)) from None
    if bootloader and bootloader.regions() != {"system memory"}:
        raise BadInput(f"{bootloader.path}: a bootloader must lie in system memory (0x1FFF0000, 28 KiB), "
                       f"this one has segments in {', '.join(sorted(bootloader.regions()))}")
    machine = Machine(MachineConfig(boot_pin=args.boot_pin, option_bytes=option_bytes, hse_hz=args.hse,
                                    strict=args.strict))
    for img in filter(None, (bootloader, image)):
        machine.load(img)
    if args.flash_file:
        try:
            if machine.load_persistent(args.flash_file):
                machine.event("flash_file", f"flash and option bytes from {args.flash_file} "
                              "(the image's flash segments are not loaded over them)")
        except (ValueError, OSError) as exc:
            raise BadInput(str(exc)) from None
    return machine


def run_command(args: argparse.Namespace) -> int:
    try:
        machine = build_machine(args)
    except BadInput as exc:
        print(f"c071emu: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    trace_file = open(args.trace_file, "w") if args.trace_file else None
    if trace_file and "mmio" in args.trace:
        machine.trace.mmio_out = trace_file
    if "events" in args.trace or "exc" in args.trace:
        out = trace_file or sys.stderr
        every_event = "events" in args.trace

        def echo(line: str) -> None:
            if every_event or "exception" in line:
                out.write(line + "\n")
        machine.trace.echo = echo
    machine.reset("power")
    started = time.perf_counter()
    if not args.json and sys.stderr.isatty():
        machine.loop.progress = lambda: _show_progress(machine, args.max_time, started)
    try:
        end = run_with_ptys(machine, args) if args.usart1_pty or args.usart2_pty else run_with_snapshots(machine, args)
    except BadInput as exc:
        print(f"c071emu: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    wall = time.perf_counter() - started
    if args.flash_file:
        machine.save_persistent(args.flash_file)
    if machine.loop.progress:
        sys.stderr.write("\r\033[K")
    if trace_file:
        trace_file.close()
    status = _exit_status(end)
    report = run_report(machine, end, wall, status)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_report(machine, report)
    return status


def _show_progress(machine: Machine, max_time: float, started: float) -> None:
    wall = time.perf_counter() - started
    if wall > 1.0:
        sys.stderr.write(f"\r  simulated {machine.seconds():.3f} s of {max_time:g} s limit, "
                         f"{machine.loop.instructions / 1e6:.0f} M instructions, {wall:.1f} s wall")
        sys.stderr.flush()


def run_report(machine: Machine, end: RunEnd, wall: float, status: int) -> dict:
    regs = machine.cpu.registers()
    return {
        "schema": "c071emu.run/1",
        "end": {"reason": end.reason.value, "detail": end.detail, "exit_status": status,
                "pc": f"0x{end.pc:08X}", "where": machine.describe(end.pc)},
        "boot_mode": machine.boot_mode.name.lower(),
        "simulated_seconds": machine.seconds(),
        "cycles": machine.clock.cycles,
        "instructions_executed": machine.loop.instructions,
        "instructions_skipped_by_poll_fast_forward": machine.loop.instructions_skipped,
        "hclk_hz": machine.clock.hz,
        "wall_seconds": round(wall, 6),
        "registers": {k: f"0x{v:08X}" for k, v in regs.items()},
        "guest_output": machine.guest_output,
        "unmodelled_accesses": [a.line() for a in machine.trace.unmodelled.values()],
        "events": [e.line() for e in machine.trace.events if e.kind in ("reset", "exception.fault", "unmodelled")],
    }


def print_report(machine: Machine, report: dict) -> None:
    out = sys.stdout
    if report["guest_output"]:
        out.write(report["guest_output"] if report["guest_output"].endswith("\n") else report["guest_output"] + "\n")
    end = report["end"]
    where = f" in {end['where']}" if end["where"] else ""
    print(f"-- run ended: {end['reason']} ({end['detail']}), exit status {end['exit_status']}, PC {end['pc']}{where}")
    print(f"-- simulated {report['simulated_seconds'] * 1e3:.3f} ms, {report['cycles']} cycles at "
          f"{report['hclk_hz'] / 1e6:g} MHz HCLK, {report['instructions_executed']} instructions executed "
          f"({report['instructions_skipped_by_poll_fast_forward']} skipped by poll fast-forward), "
          f"wall {report['wall_seconds']:.3f} s, booted from {report['boot_mode'].replace('_', ' ')}")
    regs = report["registers"]
    names = list(regs)
    for i in range(0, len(names), 6):
        print("   " + "  ".join(f"{n:>7}={regs[n]}" for n in names[i:i + 6]))
    for line in report["unmodelled_accesses"]:
        print(f"-- {line}")


def _address(machine: Machine, text: str) -> int:
    try:
        return int(text, 0) & ~1
    except ValueError:
        try:
            return machine.symbol(text)
        except KeyError:
            raise BadInput(f"--at: {text!r} is neither an address nor a symbol of the loaded images") from None


def run_with_ptys(machine: Machine, args: argparse.Namespace) -> RunEnd:
    """``--usart1-pty``/``--usart2-pty``: each USART as a pseudo-terminal for host tools (stm32flash)."""
    from .host.serial_port import PtyBridge, SerialPort, run_bridged
    bridges = [PtyBridge(SerialPort(machine, name)) for name, wanted in
               (("USART1", args.usart1_pty), ("USART2", args.usart2_pty)) if wanted]
    for b in bridges:
        print(f"{b.port.name} pty: {b.path}", flush=True)
    try:
        return run_bridged(machine, bridges, args.max_time)
    finally:
        for b in bridges:
            b.close()


def run_with_snapshots(machine: Machine, args: argparse.Namespace) -> RunEnd:
    """``--from-snapshot`` continues a saved state; ``--at``/``--save-snapshot`` stop and save one."""
    from .analysis.snapshot import JumpSnapshot, SYSTEM_MEMORY, restore_snapshot, take_snapshot
    if args.from_snapshot:
        try:
            restore_snapshot(machine, JumpSnapshot.load(args.from_snapshot))
        except (OSError, ValueError, KeyError) as exc:
            raise BadInput(f"--from-snapshot: {exc}") from None
    if not args.save_snapshot:
        return machine.run(max_seconds=args.max_time)
    if args.at:
        machine.loop.stop_at(_address(machine, args.at))
    else:
        machine.loop.stop_on_entry(*SYSTEM_MEMORY)           # default: the jump into the bootloader
    end = machine.run(max_seconds=args.max_time)
    machine.loop.clear_stops()
    take_snapshot(machine, f"stop at 0x{machine.cpu.pc():08X}", with_memories=True).save(args.save_snapshot)
    return end


def diagnose_command(args: argparse.Namespace) -> int:
    from .analysis.diagnose import diagnose
    from .analysis.flows import dfu_flow, usart_flow
    from .analysis.report import print_terminal, to_html, to_json
    try:
        app = load_elf(args.image)
        bootloader = load_image(args.bootloader or DEFAULT_BOOTLOADER, raw_base=c071.SYSMEM_BASE,
                                raw_limit=c071.SYSMEM_SIZE, what="system memory")
        option_bytes = parse_option_bytes_spec(args.option_bytes) if args.option_bytes else {}
    except (ImageError, ValueError) as exc:
        print(f"c071emu: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    flow = dfu_flow() if args.host == "dfu" else usart_flow()
    result = diagnose(app, bootloader, flow, operation=args.operation, option_bytes=option_bytes)
    if args.json:
        print(json.dumps(to_json(result), indent=2))
    else:
        print_terminal(result)
    if args.html:
        Path(args.html).write_text(to_html(result))
    return 1 if result.operation_failed else 0


def check_command(args: argparse.Namespace) -> int:
    from .scenario import ScenarioError, junit, load_scenario, run_scenario
    results = []
    try:
        scenarios = [load_scenario(f) for f in args.scenarios]
        for sc in scenarios:
            r = run_scenario(sc)
            results.append(r)
            verdict = "ok" if r.passed else "MISMATCH"
            print(f"{verdict:<8} {sc.name} ({sc.path}, {r.seconds:.2f} s)")
            for line in r.mismatches:
                print(f"         {line}")
    except ScenarioError as exc:
        print(f"c071emu: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.junit:
        Path(args.junit).write_text(junit(results))
    failed = sum(not r.passed for r in results)
    print(f"{len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


def bench_command(args: argparse.Namespace) -> int:
    from .bench import run_benchmarks
    result = run_benchmarks()
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        from .bench import print_benchmarks
        print_benchmarks(result)
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="c071emu", description="Instruction-level emulator of the STM32C071 boot path")
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run an application image until it exits, locks up or times out")
    run.add_argument("image", help="application ELF file")
    run.add_argument("--bootloader", metavar="FILE", help="system-memory image (ELF or raw binary at 0x1FFF0000)")
    run.add_argument("--boot-pin", type=int, default=0, metavar="0|1", help="level of the BOOT0 pin (PA14)")
    run.add_argument("--option-bytes", metavar="SPEC",
                     help="option bytes over the factory values, e.g. nBOOT_SEL=0,nBOOT0=1 or OPTR=0x3EEFFEAA")
    run.add_argument("--hse", type=int, metavar="HZ", help="frequency of an HSE crystal (default: none fitted)")
    run.add_argument("--max-time", type=float, default=10.0, metavar="SECONDS", help="simulated time limit (10 s)")
    run.add_argument("--flash-file", metavar="PATH",
                     help="keep flash and option bytes in PATH across runs (created from the image on first use)")
    run.add_argument("--strict", action="store_true", help="fail the run on the first unmodelled access")
    run.add_argument("--json", action="store_true", help="machine-readable report on stdout")
    run.add_argument("--trace", default="", help="comma-separated: events, exc, mmio")
    run.add_argument("--trace-file", metavar="FILE", help="where traces go (mmio needs a file)")
    run.add_argument("--usart1-pty", action="store_true", help="expose USART1 as a pseudo-terminal (path printed)")
    run.add_argument("--usart2-pty", action="store_true", help="expose USART2 as a pseudo-terminal (path printed)")
    run.add_argument("--at", metavar="ADDRESS|SYMBOL",
                     help="with --save-snapshot: stop there instead of at the jump into system memory")
    run.add_argument("--save-snapshot", metavar="FILE", help="stop at the jump (or --at) and save a snapshot")
    run.add_argument("--from-snapshot", metavar="FILE", help="continue from a saved snapshot")
    run.set_defaults(func=run_command)
    diag = sub.add_parser("diagnose", help="why does a flash operation fail after the application's jump?")
    diag.add_argument("image", help="application ELF file (jumps to the bootloader on USB request 0x42)")
    diag.add_argument("--bootloader", metavar="FILE", help="system-memory image (default: the bundled reference)")
    diag.add_argument("--host", choices=("dfu", "usart"), default="dfu")
    diag.add_argument("--operation", choices=("erase", "write"), default="erase")
    diag.add_argument("--option-bytes", metavar="SPEC")
    diag.add_argument("--json", action="store_true", help="machine-readable report (schema c071emu.diagnosis/1)")
    diag.add_argument("--html", metavar="OUT", help="also write a self-contained HTML report")
    diag.set_defaults(func=diagnose_command)
    check = sub.add_parser("check", help="run scenario files (TOML) and compare with their expected outcome")
    check.add_argument("scenarios", nargs="+", metavar="SCENARIO.toml")
    check.add_argument("--junit", metavar="OUT.xml", help="also write a JUnit report")
    check.set_defaults(func=check_command)
    bench = sub.add_parser("bench", help="compare the full machine with bare Unicorn on the bundled compute image")
    bench.add_argument("--json", action="store_true")
    bench.set_defaults(func=bench_command)
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
