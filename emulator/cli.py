"""Command line: ``c071emu run | diagnose | check | sweep | bench``.

Exit status of ``run``: the guest's semihosting exit status; 2 bad input; 3 core
lockup; 4 time limit reached (with ``--save-snapshot``: the stop point was never
reached, nothing written); 5 strict-mode violation (an unmodelled access);
130 interrupted; 0 when a debugger ended the session (``--gdb``: kill).

Exit status of ``diagnose``: 0 the operation works after the jump; 1 it fails (the
report says why); 2 bad input, or the bootloader image does not start after a BOOT0
reset; 3 the application did not enter the bootloader (no jump within the window, or
the trigger could not be delivered).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Optional, Sequence

from peripherals.adc import parse_channel_spec
from peripherals.option_bytes import parse_option_bytes_spec

from .arguments import OneLineParser, hse_hz, output_file, positive_int, seconds, tcp_port
from .core.runloop import EndReason, RunEnd
from .image import ImageError, load_bootloader, load_elf
from .machine import Machine, MachineConfig
from .tracing import TraceSession, TraceSetupError

EXIT_BAD_INPUT, EXIT_LOCKUP, EXIT_TIME_LIMIT, EXIT_STRICT, EXIT_INTERRUPTED = 2, 3, 4, 5, 130
EXIT_BROKEN_PIPE = 128 + 13          # what a shell reports for a process killed by SIGPIPE
DEFAULT_MAX_TIME = 10.0


TRIGGER_HELP = """triggers (--trigger SPEC; also trigger = "..." in scenario and sweep files):
  none                         nothing: the application enters the bootloader by itself (default)
  usb-control:TYPE,REQUEST[,VALUE[,INDEX[,HEXDATA]]]
                               enumerate, SET_CONFIGURATION, then this control transfer
                               (the bundled jump_*.elf apps: usb-control:0x40,0x42)
  dfu-detach                   DFU 1.1 runtime: DFU_DETACH with the functional descriptor's
                               wDetachTimeOut; a bus reset after it if bitWillDetach is clear
  cdc:TEXT                     CDC ACM: SET_LINE_CODING 115200 8N1, DTR+RTS, TEXT on bulk OUT
  cdc-1200                     the 1200-baud touch: SET_LINE_CODING 1200, DTR on, then off
  usart1:TEXT[@BAUD[,FORMAT]]  TEXT on USART1 RX once its receiver is on (default 115200,8N1)
  usart2:TEXT[@BAUD[,FORMAT]]  the same on USART2
  pin:PORTPIN=LEVEL@TIME[+DURATION]
                               drive a GPIO input (a button), e.g. pin:PC13=0@100ms+50ms
  call:SYMBOL[@TIME]           an injection: at TIME (default the first WFI/WFE, else 100 ms)
                               the core calls SYMBOL, the application's jump function
TEXT takes C escapes ('cdc:DFU\\n').  Without a jump, the report says where the application
was, what it presented (USB interfaces, USARTs, pulled-up inputs) and which trigger fits."""


class BadInput(Exception):
    pass


def _exit_status(end: RunEnd) -> int:
    return {EndReason.EXIT: end.exit_status, EndReason.LOCKUP: EXIT_LOCKUP, EndReason.TIME_LIMIT: EXIT_TIME_LIMIT,
            EndReason.STRICT: EXIT_STRICT, EndReason.INTERRUPTED: EXIT_INTERRUPTED,
            EndReason.STOP_AT: 0, EndReason.STEP: 0, EndReason.HALTED: 0}[end.reason]


def build_machine(args: argparse.Namespace) -> Machine:
    try:
        option_bytes = parse_option_bytes_spec(args.option_bytes) if args.option_bytes else {}
    except ValueError as exc:
        raise BadInput(f"--option-bytes: {exc}") from None
    if args.boot_pin not in (0, 1):
        raise BadInput("--boot-pin takes 0 or 1")
    try:
        image = load_elf(args.image)
        bootloader = load_bootloader(args.bootloader) if args.bootloader else None
    except ImageError as exc:
        raise BadInput(str(exc)) from None
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


def set_adc_inputs(machine: Machine, specs: Optional[Sequence[str]]) -> None:
    """``--adc CH=VALUE``: what each ADC channel's pin carries (peripherals/adc.py)."""
    for spec in specs or ():
        try:
            machine.adc.set_channel(*parse_channel_spec(spec))
        except ValueError as exc:
            raise BadInput(f"--adc {exc}") from None


def run_command(args: argparse.Namespace) -> int:
    try:
        machine = build_machine(args)
        set_adc_inputs(machine, args.adc)
    except BadInput as exc:
        print(f"c071emu: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    machine.loop.interrupts_end_runs = True         # Ctrl-C ends the run with its report
    try:
        traces = TraceSession.open(machine, args.trace, args.trace_file, args.vcd, args.vcd_signals)
    except TraceSetupError as exc:
        print(f"c071emu: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    machine.reset("power")
    if args.max_time is None and args.gdb is None and args.usbip is None:
        args.max_time = DEFAULT_MAX_TIME
    started = time.perf_counter()
    if not args.json and sys.stderr.isatty() and args.gdb is None and args.usbip is None:
        machine.loop.progress = lambda: _show_progress(machine, args.max_time, started)
    try:
        if args.gdb is not None:
            end = run_with_gdb(machine, args)
        elif args.usbip is not None:
            end = run_with_usbip(machine, args)
        elif args.usart1_pty or args.usart2_pty or _rfc2217_wanted(args):
            end = run_with_ptys(machine, args)
        else:
            end = run_with_snapshots(machine, args)
    except BadInput as exc:
        print(f"c071emu: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    finally:
        traces.close(machine.loop.end)          # flushed and closed on every end, Ctrl-C included
    wall = time.perf_counter() - started
    if args.flash_file:
        machine.save_persistent(args.flash_file)
    if machine.loop.progress:
        sys.stderr.write("\r\033[K")
    status = EXIT_TIME_LIMIT if getattr(args, "snapshot_missed", False) else _exit_status(end)
    report = run_report(machine, end, wall, status)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_report(machine, report)
    return status


class StatusLine:
    """One line on a terminal's stderr saying what a long command does now; it appears only
    once the command has taken a second (short ones stay quiet) and is erased before the
    report is printed."""
    SHOW_AFTER_S = 1.0

    def __init__(self, enabled: bool) -> None:
        self.enabled, self.started, self.shown = enabled, time.perf_counter(), False

    def show(self, text: str) -> None:
        wall = time.perf_counter() - self.started
        if self.enabled and wall >= self.SHOW_AFTER_S:
            sys.stderr.write(f"\r\x1b[K  {text} ({wall:.1f} s)")
            sys.stderr.flush()
            self.shown = True

    def clear(self) -> None:
        if self.shown:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()
            self.shown = False


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
        # the event log holds the first and last events and every decisive one; this many others went
        "events_dropped": machine.trace.events.dropped,
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
    if report["events_dropped"]:
        print(f"-- event log: {report['events_dropped']} events from the middle of the run were not kept "
              "(faults and resets always are)")


def _address(machine: Machine, text: str) -> int:
    try:
        address = int(text, 0)
    except ValueError:
        try:
            return machine.symbol(text)
        except KeyError:
            raise BadInput(f"--at: {text!r} is neither an address nor a symbol of the loaded images") from None
    if not 0 <= address <= 0xFFFF_FFFF:
        raise BadInput(f"--at {text}: not a 32-bit address (0..0xFFFFFFFF)")
    return address & ~1


def _rfc2217_wanted(args: argparse.Namespace) -> bool:
    return args.usart1_rfc2217 is not None or args.usart2_rfc2217 is not None


def run_with_ptys(machine: Machine, args: argparse.Namespace) -> RunEnd:
    """``--usart1-pty``/``--usart2-pty``: each USART as a pseudo-terminal for host tools (stm32flash);
    ``--usart1-rfc2217``/``--usart2-rfc2217``: as an RFC 2217 port, modem lines per ``--serial-wiring``."""
    from .host.rfc2217 import Rfc2217Bridge, SerialWiring
    from .host.serial_port import PtyBridge, SerialPort, linger, run_bridged
    out = sys.stderr if args.json else sys.stdout
    for n in (1, 2):
        if getattr(args, f"usart{n}_pty") and getattr(args, f"usart{n}_rfc2217") is not None:
            raise BadInput(f"USART{n} is either a pty (--usart{n}-pty) or an RFC 2217 port (--usart{n}-rfc2217), "
                           "not both")
    wiring = SerialWiring(machine, args.serial_wiring)
    bridges: list = [PtyBridge(SerialPort(machine, name)) for name, wanted in
                     (("USART1", args.usart1_pty), ("USART2", args.usart2_pty)) if wanted]
    try:
        for name, listen_port, bind in (("USART1", args.usart1_rfc2217, args.usart1_rfc2217_bind),
                                     ("USART2", args.usart2_rfc2217, args.usart2_rfc2217_bind)):
            if listen_port is None:
                continue
            try:
                bridges.append(Rfc2217Bridge(SerialPort(machine, name), bind, listen_port, wiring))
            except OSError as exc:
                raise BadInput(f"--{name.lower()}-rfc2217: cannot listen on {bind}:{listen_port} "
                               f"({exc.strerror or exc}); choose another port, or 0 for a free one") from None
        for b in bridges:
            where = b.url if isinstance(b, Rfc2217Bridge) else b.path
            kind = "RFC 2217" if isinstance(b, Rfc2217Bridge) else "pty"
            print(f"{b.port.name} {kind}: {where}", file=out, flush=True)
        end = run_bridged(machine, bridges, args.max_time)
        linger(bridges)               # the tool reads the last bytes (a Go ACK) after the guest has left
        return end
    finally:
        for b in bridges:
            b.close()


def run_with_usbip(machine: Machine, args: argparse.Namespace) -> RunEnd:
    """``--usbip PORT``: the USB device exported over USB/IP, paced to wall-clock time (host/usbip.py)."""
    from .host.usbip import UsbipServer, serve
    if args.usart1_pty or args.usart2_pty or _rfc2217_wanted(args) or args.save_snapshot or args.from_snapshot:
        raise BadInput("--usbip cannot be combined with the USART ptys or RFC 2217 ports or the snapshot options")
    try:
        server = UsbipServer(machine, args.usbip, args.usbip_bind)
    except OSError as exc:
        raise BadInput(f"--usbip: cannot listen on {args.usbip_bind}:{args.usbip} ({exc.strerror or exc}); "
                       "choose another port, or 0 for a free one") from None
    try:
        ended = server.wait_for_device()
        print(server.banner(), file=sys.stderr if args.json else sys.stdout, flush=True)
        return ended or serve(machine, server, args.max_time)
    finally:
        server.close()


def run_with_gdb(machine: Machine, args: argparse.Namespace) -> RunEnd:
    """``--gdb PORT``: halt after reset and serve one GDB session (emulator/gdb)."""
    from .gdb.stub import listen, serve_gdb
    if (args.save_snapshot or args.at or args.usart1_pty or args.usart2_pty or _rfc2217_wanted(args)
            or args.usbip is not None):
        raise BadInput("--gdb runs one debugging session: it does not combine with --save-snapshot, --at, "
                       "--usbip or the USART ptys and RFC 2217 ports (--from-snapshot does: debug from a saved jump)")
    _restore_snapshot(machine, args)
    try:
        listener = listen(args.gdb_bind, args.gdb)
    except OSError as exc:
        raise BadInput(f"--gdb: cannot listen on {args.gdb_bind}:{args.gdb} ({exc.strerror or exc})") from None
    host, port = listener.getsockname()[:2]
    print(f"GDB: listening on {host}:{port} (in gdb-multiarch: target remote {host}:{port})",
          file=sys.stderr if args.json else sys.stdout, flush=True)
    return serve_gdb(machine, listener, args.max_time, lambda text: sys.stderr.write(text))


def load_snapshot(path: str, application, bootloader=None):
    """A saved snapshot, every field checked, taken with the images named and holding the memories
    a run continues from (BadInput otherwise: one line naming the file and the field)."""
    from .analysis.snapshot import JumpSnapshot, SnapshotError
    try:
        snap = JumpSnapshot.load(path)
    except SnapshotError as exc:
        raise BadInput(f"--from-snapshot {exc}") from None
    try:
        snap.check_images(application, bootloader)
    except ValueError as exc:
        raise BadInput(f"--from-snapshot {path}: images: {exc}") from None
    return snap


def restorable_snapshot(path: str, machine: Machine):
    """A snapshot ``machine`` (its images loaded) can continue from (BadInput otherwise, nothing restored)."""
    from .analysis.snapshot import check_restorable
    images = machine.images
    snap = load_snapshot(path, images[-1], images[0] if len(images) > 1 else None)
    try:
        check_restorable(machine, snap)
    except ValueError as exc:
        raise BadInput(f"--from-snapshot {path}: {exc}") from None
    return snap


def _restore_snapshot(machine: Machine, args: argparse.Namespace) -> None:
    from .analysis.snapshot import restore_snapshot
    if args.from_snapshot:
        restore_snapshot(machine, restorable_snapshot(args.from_snapshot, machine))


def run_with_snapshots(machine: Machine, args: argparse.Namespace) -> RunEnd:
    """``--from-snapshot`` continues a saved state; ``--at``/``--save-snapshot`` stop and save one."""
    from .analysis.snapshot import SYSTEM_MEMORY, take_snapshot
    _restore_snapshot(machine, args)
    if not args.save_snapshot:
        return machine.run(max_seconds=args.max_time)
    if args.at:
        machine.loop.stop_at(_address(machine, args.at))
    else:
        machine.loop.stop_on_entry(*SYSTEM_MEMORY)           # default: the jump into the bootloader
    end = machine.run(max_seconds=args.max_time)
    machine.loop.clear_stops()
    if end.reason is not EndReason.STOP_AT:
        where = f"--at {args.at}" if args.at else "the jump into system memory"
        print(f"c071emu: --save-snapshot: the run never reached {where} ({end.reason.value}: {end.detail}); "
              f"no snapshot written to {args.save_snapshot}", file=sys.stderr)
        args.snapshot_missed = True
        return end
    try:
        take_snapshot(machine, f"stop at 0x{machine.cpu.pc():08X}", with_memories=True).save(args.save_snapshot)
    except OSError as exc:
        raise BadInput(f"--save-snapshot {args.save_snapshot}: {exc.strerror or exc}") from None
    return end


def diagnose_command(args: argparse.Namespace) -> int:
    from .analysis.diagnose import diagnose
    from .analysis.flows import flow_for
    from .analysis.report import print_terminal, to_html, to_json
    try:
        inputs = _diagnose_inputs(args)
    except BadInput as exc:
        return _refuse(args, str(exc))
    app, bootloader, option_bytes, trigger, payload, snapshot = inputs
    flow = flow_for(args.host, payload)
    flow.max_time = args.max_time
    if args.bootloader_variants:
        return _diagnose_variants(args, app, flow, option_bytes, trigger)
    status = StatusLine(enabled=not args.json and sys.stderr.isatty())
    try:
        result = diagnose(app, bootloader, flow, operation=args.operation, option_bytes=option_bytes,
                          trigger=trigger, jump_within=args.jump_within, hse_hz=args.hse, snapshot=snapshot,
                          progress=status.show)
    finally:
        status.clear()
    if args.json:
        print(json.dumps(to_json(result), indent=2))
    else:
        print_terminal(result, style=args.fix_style, all_fields=args.all_fields)
    if result.status == "bootloader-not-started":
        print(f"c071emu: {result.note}", file=sys.stderr)
    if args.html:
        try:
            Path(args.html).write_text(to_html(result, style=args.fix_style))
            print(f"HTML report: {Path(args.html).resolve()}", file=sys.stderr if args.json else sys.stdout)
        except OSError as exc:
            print(f"c071emu: --html {args.html}: {exc.strerror or exc}", file=sys.stderr)
            return EXIT_BAD_INPUT
    return result.exit_status


def _diagnose_variants(args: argparse.Namespace, app, flow, option_bytes, trigger) -> int:
    """``diagnose --bootloader-variants``: the same jump under every named bootloader design."""
    from .analysis.variants import VariantError, diagnose_variants, parse_symptom, select_variants
    from .analysis.variants_report import print_variants, to_html, to_json
    try:
        variants = select_variants(args.bootloader_variants)
        symptom = parse_symptom(args.symptom) if args.symptom else None
        status = StatusLine(enabled=not args.json and sys.stderr.isatty())
        try:
            matrix = diagnose_variants(app, variants, flow, operation=args.operation, option_bytes=option_bytes,
                                       trigger=trigger, jump_within=args.jump_within, hse_hz=args.hse,
                                       symptom=symptom, progress=status.show)
        finally:
            status.clear()
    except VariantError as exc:
        return _refuse(args, str(exc))
    if args.json:
        print(json.dumps(to_json(matrix), indent=2))
    else:
        print_variants(matrix)
    if args.html:
        try:
            Path(args.html).write_text(to_html(matrix))
        except OSError as exc:
            print(f"c071emu: --html {args.html}: {exc.strerror or exc}", file=sys.stderr)
            return EXIT_BAD_INPUT
    return matrix.exit_status


def _diagnose_inputs(args: argparse.Namespace):
    """Everything a diagnosis needs, checked before anything runs (BadInput: one line)."""
    from .image import load_payload
    from .triggers import TriggerError, parse_trigger
    try:
        app = load_elf(args.image)
        bootloader = load_bootloader(args.bootloader)
        option_bytes = parse_option_bytes_spec(args.option_bytes) if args.option_bytes else {}
    except (ImageError, ValueError) as exc:
        raise BadInput(str(exc)) from None
    try:
        trigger = parse_trigger(args.trigger)
        trigger.validate(app)
    except TriggerError as exc:
        raise BadInput(f"--trigger: {exc}") from None
    payload = None
    if args.payload_address is not None and not args.payload:
        raise BadInput("--payload-address places a raw binary --payload; give --payload FILE")
    if args.payload:
        try:
            address = int(args.payload_address, 0) if args.payload_address is not None else None
        except ValueError:
            raise BadInput(f"--payload-address {args.payload_address!r}: not an address (e.g. 0x08000000)") from None
        try:
            payload = load_payload(args.payload, address)
        except ImageError as exc:
            raise BadInput(f"--payload: {exc}") from None
    if args.bootloader_variants and (args.bootloader or args.from_snapshot):
        raise BadInput("--bootloader-variants runs the bundled designs from one jump of its own: leave out "
                       + ("--bootloader" if args.bootloader else "--from-snapshot"))
    if args.symptom and not args.bootloader_variants:
        raise BadInput("--symptom selects among bootloader designs: give --bootloader-variants all|NAME,...")
    snapshot = load_snapshot(args.from_snapshot, app, bootloader) if args.from_snapshot else None
    if snapshot is not None:
        from .analysis.snapshot import check_restorable
        try:
            check_restorable(Machine(MachineConfig(hse_hz=args.hse)), snapshot)
        except ValueError as exc:
            raise BadInput(f"--from-snapshot {args.from_snapshot}: {exc}") from None
    if args.from_snapshot and args.trigger != "none":
        raise BadInput("--from-snapshot continues from a saved state: the trigger is already behind it "
                       "(leave out --trigger)")
    return app, bootloader, option_bytes, trigger, payload, snapshot


def _refuse(args: argparse.Namespace, message: str) -> int:
    print(f"c071emu: {message}", file=sys.stderr)
    if getattr(args, "json", False):
        print(json.dumps({"schema": "c071emu.diagnosis/1", "status": "bad-input", "exit_status": EXIT_BAD_INPUT,
                          "note": message}, indent=2))
    return EXIT_BAD_INPUT


def check_command(args: argparse.Namespace) -> int:
    from .scenario import ScenarioError, ScenarioResult, junit, load_scenario, run_scenario
    results = []
    try:
        scenarios = [load_scenario(f) for f in args.scenarios]
        for sc in scenarios:
            try:
                r = run_scenario(sc)
            except ScenarioError:
                raise
            except Exception as exc:          # noqa: BLE001 - an internal error is this scenario's failure
                r = ScenarioResult(sc, mismatches=[f"internal error: {type(exc).__name__}: {exc}"])
            results.append(r)
            verdict = "ok" if r.passed else "FAILED" if r.failure else "MISMATCH"
            print(f"{verdict:<8} {sc.name} ({sc.path}, {r.seconds:.2f} s)")
            for line in r.mismatches:
                print(f"         {line}")
    except (ScenarioError, BadInput) as exc:
        print(f"c071emu: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.junit:
        try:
            Path(args.junit).write_text(junit(results))
        except OSError as exc:
            print(f"c071emu: --junit {args.junit}: {exc.strerror or exc}", file=sys.stderr)
            return EXIT_BAD_INPUT
    failed = sum(not r.passed for r in results)
    print(f"{len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


def sweep_command(args: argparse.Namespace) -> int:
    from . import sweep
    return sweep.command(args)


def bench_command(args: argparse.Namespace) -> int:
    from .bench import run_benchmarks
    status = StatusLine(enabled=not args.json and sys.stderr.isatty())
    try:
        result = run_benchmarks(repeat=args.repeat, progress=lambda what: status.show(f"measuring: {what}"))
    finally:
        status.clear()
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        from .bench import print_benchmarks
        print_benchmarks(result)
    return 0


def _add_listener(run: argparse.ArgumentParser, name: str, what: str) -> None:
    """``--NAME PORT`` and ``--NAME-bind ADDRESS``: a TCP service on loopback unless told otherwise."""
    run.add_argument(f"--{name}", type=tcp_port, metavar="PORT", help=f"{what} (PORT 0: any free port)")
    run.add_argument(f"--{name}-bind", default="127.0.0.1", metavar="ADDRESS",
                     help=f"address the --{name} port listens on (default loopback only)")


def parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog="c071emu", description="Instruction-level emulator of the STM32C071 boot path")
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run an application image until it exits, locks up or times out")
    run.add_argument("image", help="application ELF file")
    run.add_argument("--bootloader", metavar="FILE", help="system-memory image (ELF or raw binary at 0x1FFF0000)")
    run.add_argument("--boot-pin", type=int, default=0, metavar="0|1", help="level of the BOOT0 pin (PA14)")
    run.add_argument("--option-bytes", metavar="SPEC",
                     help="option bytes over the factory values, e.g. nBOOT_SEL=0,nBOOT0=1 or OPTR=0x3EEFFEAA")
    run.add_argument("--hse", type=hse_hz, metavar="HZ", help="frequency of an HSE crystal, 4-48 MHz (default: none fitted)")
    run.add_argument("--adc", action="append", metavar="CH=VALUE",
                     help="the input of ADC channel CH (0-22): a 12-bit code (2048, 0x800) or a voltage over "
                          "VDDA = 3.3 V (1.65V); repeat for more channels (default: pins read 0, VREFINT and "
                          "the temperature sensor their typical values)")
    run.add_argument("--max-time", type=seconds, metavar="SECONDS",
                     help="simulated time limit (default 10 s; none while a debugger is attached or with --usbip)")
    _add_listener(run, "gdb", "wait for GDB on PORT, halted on the reset handler")
    run.add_argument("--flash-file", type=output_file, metavar="PATH",
                     help="keep flash and option bytes in PATH across runs (created from the image on first use)")
    run.add_argument("--strict", action="store_true", help="fail the run on the first unmodelled access")
    run.add_argument("--json", action="store_true", help="machine-readable report on stdout")
    run.add_argument("--trace", default="", metavar="KINDS",
                     help="comma-separated: insn (each instruction), mmio (register accesses, decoded), "
                          "exc (exception entry/return/faults), events")
    run.add_argument("--trace-file", type=output_file, metavar="FILE",
                     help="where traces go (insn and mmio need a file; exc and events default to stderr)")
    run.add_argument("--vcd", type=output_file, metavar="OUT.vcd", help="record registers and core state over simulated time (GTKWave)")
    run.add_argument("--vcd-signals", metavar="SPEC",
                     help="registers for --vcd: PERIPH.REG,... or PERIPH.* (default: FLASH.SR, FLASH.CR, RCC.CR, "
                          "SYSCFG.CFGR1, SCB.VTOR, SysTick.CTRL, USB.CNTR, USB.ISTR)")
    run.add_argument("--usart1-pty", action="store_true", help="expose USART1 as a pseudo-terminal (path printed)")
    run.add_argument("--usart2-pty", action="store_true", help="expose USART2 as a pseudo-terminal (path printed)")
    _add_listener(run, "usart1-rfc2217", "serve USART1 as an RFC 2217 serial port (rfc2217://HOST:PORT) on PORT")
    _add_listener(run, "usart2-rfc2217", "serve USART2 as an RFC 2217 serial port (rfc2217://HOST:PORT) on PORT")
    run.add_argument("--serial-wiring", choices=("boot0-reset", "none"), default="boot0-reset",
                     help="RFC 2217 modem lines: boot0-reset (default) wires DTR to NRST and RTS to BOOT0 as a "
                          "USB-UART adapter does (asserted = low: DTR holds the chip in reset, RTS asserted = "
                          "BOOT0 0); none leaves them unconnected")
    _add_listener(run, "usbip", "serve the USB device over USB/IP on PORT for `usbip attach -b 1-1`")
    run.add_argument("--at", metavar="ADDRESS|SYMBOL",
                     help="with --save-snapshot: stop there instead of at the jump into system memory")
    run.add_argument("--save-snapshot", type=output_file, metavar="FILE", help="stop at the jump (or --at) and save a snapshot")
    run.add_argument("--from-snapshot", metavar="FILE", help="continue from a saved snapshot")
    run.set_defaults(func=run_command)
    diag = sub.add_parser(
        "diagnose", help="why does a flash operation fail after the application's jump to the bootloader?",
        description="Run the application, make it enter the system bootloader with --trigger, and compare a\n"
                    "programming tool's session after that jump with one after a clean BOOT0 entry: which\n"
                    "state the application left behind blocks the operation, how, and the fix.\n"
                    "Exit status: 0 the operation works after the jump, 1 it fails, 2 bad input or a bootloader\n"
                    "that does not start, 3 the application did not enter the bootloader (no jump within\n"
                    "--jump-within, or the trigger could not be delivered).",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=TRIGGER_HELP)
    diag.add_argument("image", help="application ELF file")
    diag.add_argument("--trigger", default="none", metavar="SPEC",
                      help="what the simulated world does to make the application jump (default: none); see below")
    diag.add_argument("--jump-within", type=seconds, default=5.0, metavar="SECONDS",
                      help="simulated time the application has to enter the bootloader after the trigger (default 5)")
    diag.add_argument("--bootloader", metavar="FILE",
                      help="system-memory image, ELF or raw dump at 0x1FFF0000 (default: the bundled reference)")
    diag.add_argument("--host", choices=("dfu", "usart"), default="dfu",
                      help="the programming tool: dfu (dfu-util over USB DfuSe) or usart (stm32flash, AN3155 on "
                           "USART1) (default dfu)")
    diag.add_argument("--operation", choices=("erase", "write"), default="erase",
                      help="the flash operation the diagnosis is about (default erase)")
    diag.add_argument("--option-bytes", metavar="SPEC",
                      help="option bytes over the factory values, e.g. nBOOT_SEL=0 or RDP=0xBB")
    diag.add_argument("--hse", type=hse_hz, metavar="HZ",
                      help="frequency of an HSE crystal, 4-48 MHz (default: none fitted)")
    diag.add_argument("--max-time", type=seconds, metavar="SECONDS",
                      help="simulated time limit of each host flow (default: each step's own timeout)")
    diag.add_argument("--payload", metavar="FILE",
                      help="what the host flow programs: ELF, Intel HEX, or raw binary with --payload-address "
                           "(default: the bundled hello image); the leave step passes when its reset handler runs")
    diag.add_argument("--payload-address", metavar="ADDRESS", help="where a raw binary --payload goes (0x08000000)")
    diag.add_argument("--from-snapshot", metavar="FILE",
                      help="start from a snapshot saved at the jump (run --save-snapshot) instead of running the "
                           "application; refused if it was taken with other images")
    diag.add_argument("--bootloader-variants", metavar="all|NAME,...",
                      help="diagnose the same jump under each bundled bootloader design (images/elf/bootloaders/, "
                           "images/bootloader/README.md) and print a matrix and a verdict")
    diag.add_argument("--symptom", metavar="STEP=ok|failed,...",
                      help="with --bootloader-variants: what you saw on your hardware, e.g. "
                           "enumerate=ok,upload=ok,erase=failed; marks the designs that reproduce it")
    diag.add_argument("--json", action="store_true",
                      help="machine-readable report (schema c071emu.diagnosis/1, with a status field; "
                           "c071emu.variants/1 with --bootloader-variants)")
    diag.add_argument("--html", type=output_file, metavar="OUT",
                      help="also write a self-contained HTML report (checked before the run; the path written is "
                           "printed)")
    diag.add_argument("--fix-style", choices=("cmsis", "hal", "ll"), default="cmsis",
                      help="the fix's terms: CMSIS device-header names (default), or STM32Cube HAL or LL macros")
    diag.add_argument("--all-fields", action="store_true",
                      help="list every residual field (default: counts per peripheral, blocking ones named)")
    diag.set_defaults(func=diagnose_command)
    check = sub.add_parser("check", help="run scenario files (TOML) and compare with their expected outcome")
    check.add_argument("scenarios", nargs="+", metavar="SCENARIO.toml")
    check.add_argument("--junit", type=output_file, metavar="OUT.xml", help="also write a JUnit report")
    check.set_defaults(func=check_command)
    sweep = sub.add_parser("sweep", help="run a matrix (TOML) of images x option bytes x hosts on all cores")
    sweep.add_argument("matrix", metavar="MATRIX.toml")
    sweep.add_argument("--jobs", type=positive_int, metavar="N", help="cells run at a time (default: the number of cores)")
    sweep.add_argument("--engine", choices=("local", "dask"), default="local",
                       help="local: a process pool here; dask: a Dask cluster")
    sweep.add_argument("--scheduler", metavar="ADDRESS",
                       help="with --engine dask: tcp://HOST:8786 (default: a LocalCluster of --jobs workers)")
    sweep.add_argument("--json", type=output_file, metavar="OUT", help="also write the results as JSON (schema c071emu.sweep/1)")
    sweep.add_argument("--junit", type=output_file, metavar="OUT.xml",
                       help="also write a JUnit report of the cells with expectations")
    sweep.set_defaults(func=sweep_command)
    bench = sub.add_parser("bench", help="compare the full machine with bare Unicorn on the bundled compute image")
    bench.add_argument("--json", action="store_true")
    bench.add_argument("--repeat", type=int, default=1, metavar="N",
                       help="run each target measurement N times and report the median")
    bench.set_defaults(func=bench_command)
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    try:
        args = parser().parse_args(argv)
    except SystemExit as refused:           # bad arguments (one line, 2) or --help (0): a status, as for a run
        return refused.code if isinstance(refused.code, int) else EXIT_BAD_INPUT
    try:
        return args.func(args)
    except KeyboardInterrupt:
        # Ctrl-C outside a run (waiting for a debugger or a client, writing a report)
        print("\nc071emu: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`c071emu run ... --json | head`): end quietly, as Unix tools do,
        # and keep Python from complaining again when it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE


if __name__ == "__main__":
    sys.exit(main())
