"""Run an unmodified pyusb tool against the emulated chip::

    python -m emulator.host.pyusb_run [machine options] IMAGE -- TOOL [ARGS...]
    python -m emulator.host.pyusb_run --bootloader images/elf/bootloader.elf --boot-pin 1 \\
        --option-bytes OPTR=0x3EEFFEAA images/elf/hello.elf -- pydfuutil -l

The machine is built as ``c071emu run`` builds it (same image, bootloader, BOOT0, option-byte
and flash-file options), powered on and enumerated by the simulated host; then, with the
emulator backend installed as pyusb's default (``installed_as_default``), TOOL runs in this
process: a console script of an installed package (``pydfuutil``) or ``-m MODULE``.  Its
``usb.core.find()`` calls, with or without ``backend=None``, see the emulated device; nothing
else in the tool changes.  ``--flash-file`` keeps what the tool wrote for the next run.
"""
from __future__ import annotations

import argparse
import importlib.metadata
import runpy
import sys

from emulator.cli import BadInput, build_machine

from .pyusb_backend import installed_as_default
from .usb_host import UsbError, UsbHost


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m emulator.host.pyusb_run",
                                description="run a pyusb tool, unmodified, against the emulated C071")
    p.add_argument("image", help="application ELF file")
    p.add_argument("--bootloader", metavar="FILE", help="system-memory image (ELF or raw binary)")
    p.add_argument("--boot-pin", type=int, default=0, metavar="0|1", help="level of the BOOT0 pin (PA14)")
    p.add_argument("--option-bytes", metavar="SPEC", help="option bytes over the factory values")
    p.add_argument("--hse", type=int, metavar="HZ", help="frequency of an HSE crystal")
    p.add_argument("--flash-file", metavar="PATH", help="keep flash and option bytes in PATH across runs")
    p.add_argument("--enumerate-timeout", type=float, default=2.0, metavar="SECONDS",
                   help="simulated time allowed for the device to attach and enumerate (default 2 s)")
    return p


def _tool(argv: list[str]):
    """The callable that runs TOOL ARGS as its own command line would."""
    if argv[0] == "-m":
        if len(argv) < 2:
            raise BadInput("-m needs a module name")
        module, args = argv[1], argv[2:]
        return [module, *args], lambda: runpy.run_module(module, run_name="__main__", alter_sys=True)
    found = [e for e in importlib.metadata.entry_points(group="console_scripts") if e.name == argv[0]]
    if not found:
        raise BadInput(f"{argv[0]!r} is not a console script of an installed package (or use -m MODULE)")
    return argv, found[0].load()


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--" not in argv or argv.index("--") == len(argv) - 1:
        print("usage: python -m emulator.host.pyusb_run [options] IMAGE -- TOOL [ARGS...]", file=sys.stderr)
        return 2
    split = argv.index("--")
    args = _parser().parse_args(argv[:split])
    args.strict = False
    try:
        machine = build_machine(args)
        tool_argv, run_tool = _tool(argv[split + 1:])
    except BadInput as exc:
        print(f"pyusb_run: {exc}", file=sys.stderr)
        return 2
    machine.reset("power")
    host = UsbHost(machine)
    try:
        host.enumerate(timeout_s=args.enumerate_timeout)
    except UsbError as exc:
        print(f"pyusb_run: the emulated device did not enumerate: {exc}", file=sys.stderr)
        return 2
    saved, sys.argv = sys.argv, tool_argv
    status = 0
    try:
        with installed_as_default(host):
            result = run_tool()
        status = result if isinstance(result, int) else 0
    except SystemExit as exit_:
        status = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    finally:
        sys.argv = saved
        if args.flash_file:
            machine.save_persistent(args.flash_file)
    return status


def _main_interruptible() -> int:
    try:
        return main()
    except KeyboardInterrupt:       # Ctrl-C while the tool talks to the device: one line, 130
        print("\npyusb_run: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(_main_interruptible())
