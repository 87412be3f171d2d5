"""The GDB stub, driven by the real gdb-multiarch in batch mode (CI installs it).

Each test starts ``c071emu run … --gdb 0`` as a user would, reads the port it prints,
and runs a gdb command script against it; assertions are on what gdb printed and on
how the emulator's run ended.
"""
from __future__ import annotations

import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import boot, elf
from emulator.core.runloop import EndReason

REPO = Path(__file__).resolve().parents[1]
GDB = shutil.which("gdb-multiarch")
needs_gdb = pytest.mark.skipif(GDB is None, reason="gdb-multiarch is not installed (apt install gdb-multiarch)")


class Session:
    def __init__(self, *run_args: str) -> None:
        self.emu = subprocess.Popen([sys.executable, "-m", "emulator", "run", *run_args, "--gdb", "0"], cwd=REPO,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.emu.stdout.readline()
        found = re.search(r"listening on ([\d.]+):(\d+)", line)
        assert found, f"no port announced: {line!r} {self.emu.stderr.read() if self.emu.poll() is not None else ''}"
        self.address = f"{found[1]}:{found[2]}"

    def gdb(self, symbol_file: str, *commands: str, extra_symbols: str | None = None) -> str:
        script = [f"target remote {self.address}"]
        if extra_symbols:
            script.insert(0, f"add-symbol-file {extra_symbols}")
        argv = [GDB, "-q", "-batch", "-nx", "-ex", "set confirm off", symbol_file]
        for c in [*script, *commands]:
            argv += ["-ex", c]
        done = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=60)
        return done.stdout + done.stderr

    def finish(self) -> tuple[int, str, str]:
        try:
            out, err = self.emu.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.emu.kill()
            out, err = self.emu.communicate()
        return self.emu.returncode, out, err


@needs_gdb
def test_breakpoint_backtrace_through_an_exception_and_a_watchpoint_with_old_and_new_values():
    s = Session(str(elf("systick")))
    out = s.gdb(str(elf("systick")),
                "info registers pc", "break SysTick_Handler", "continue", "bt", "print tick_count",
                "delete", "watch tick_count", "continue", "continue", "delete", "continue")
    status, stdout, _ = s.finish()
    assert re.search(r"pc\s+0x8000130\s+0x8000130 <Reset_Handler>", out)          # halted on the reset handler
    assert "Breakpoint 1, SysTick_Handler ()" in out
    # gdb unwinds through the exception frame: the handler was called from main's wfi loop
    assert re.search(r"#1\s+<signal handler called>\s+#2\s+\S*\s*main \(\)", out, re.S), out
    assert "$1 = 0" in out
    assert re.search(r"Old value = 0\s+New value = 1", out) and re.search(r"Old value = 1\s+New value = 2", out)
    assert "exited normally" in out
    assert status == 0 and "10 ticks" in stdout              # the guest's own exit ends the emulator's run


@needs_gdb
def test_registers_memory_and_peripherals_read_and_write_as_through_the_debug_port():
    s = Session(str(elf("systick")))
    out = s.gdb(str(elf("systick")),
                "break SysTick_Handler", "continue",
                "info registers xpsr msp psp primask control",
                "x/wx 0xE000E010",                      # SysTick CSR: ENABLE|TICKINT|CLKSOURCE, COUNTFLAG read
                "set var tick_count = 41", "print tick_count",
                "set {int}0x08000000 = 0",               # flash is read-only on the bus
                "x/wx 0x40022020",                       # FLASH_OPTR through the FLASH model
                "info mem", "kill")
    s.finish()
    assert re.search(r"xpsr\s+0x[0-9a-f]100000f", out), out    # Thumb bit and IPSR = 15 (SysTick)
    assert re.search(r"msp\s+0x20005f", out)
    assert re.search(r"0xe000e010:\s+0x0001000[67]", out), out
    assert "$1 = 41" in out
    assert "Writing to flash memory forbidden" in out          # the memory map marks it flash
    assert re.search(r"0x40022020:\s+0x3feffeaa", out), out      # the factory option bytes (conftest.FACTORY_OPTR)
    assert re.search(r"0x08000000 0x08020000 flash blocksize 0x800", out)


@needs_gdb
def test_stepi_executes_one_instruction_and_monitor_reset_returns_to_the_reset_handler():
    s = Session(str(elf("systick")))
    out = s.gdb(str(elf("systick")),
                "x/3i $pc", "stepi", "info registers pc", "stepi", "info registers pc", "monitor time",
                "break main", "continue", "monitor reset", "maintenance flush register-cache",
                "info registers pc", "kill")
    s.finish()
    listed = re.findall(r"(?:=> )?\s*0x(8000[0-9a-f]+) <Reset_Handler(?:\+\d+)?>:", out)
    stepped = re.findall(r"pc\s+0x(8000[0-9a-f]+)\s+0x8000[0-9a-f]+ <Reset_Handler\+\d+>", out)
    assert stepped == listed[1:3], out                  # straight-line startup code: one instruction each
    assert re.search(r"simulated [\d.]+ ms, \d+ cycles at 12 MHz, 2 instructions", out), out
    assert "Breakpoint 1, main ()" in out
    assert "system reset: boot from main flash, PC 0x08000130 (Reset_Handler)" in out
    assert re.findall(r"pc\s+0x8000130 ", out)


@needs_gdb
def test_symbols_of_the_bootloader_and_the_application_together():
    s = Session(str(elf("hello")), "--bootloader", str(elf("bootloader")), "--boot-pin", "1",
                "--option-bytes", "nBOOT_SEL=0")
    out = s.gdb(str(elf("hello")), "info symbol $pc", "break bl_main", "continue", "bt 1",
                "info symbol main", "kill", extra_symbols=str(elf("bootloader")))
    s.finish()
    assert re.search(r"Reset_Handler in section \.text of .*bootloader\.elf", out), out   # BOOT0: system memory
    assert "Breakpoint 1, bl_main ()" in out
    assert "main in section .text" in out and "hello.elf" in out


def _interrupted_session(image: str, tmp_path, *before: str) -> tuple[str, int, str]:
    """continue, then the user's Ctrl-C to gdb (which sends 0x03 to the stub), then inspect."""
    s = Session(str(elf(image)))
    continuing = tmp_path / "continuing"
    argv = [GDB, "-q", "-batch", "-nx", str(elf(image)), "-ex", f"target remote {s.address}"]
    for command in before:
        argv += ["-ex", command]
    argv += ["-ex", f"shell touch {continuing}", "-ex", "continue",
            "-ex", "info registers pc", "-ex", "monitor time", "-ex", "kill"]
    gdb = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 30
    while not continuing.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)                        # let `continue` reach the stub
    gdb.send_signal(signal.SIGINT)
    out = gdb.communicate(timeout=60)[0]
    status, stdout, _ = s.finish()
    return out, status, stdout


@needs_gdb
def test_ctrl_c_halts_a_busy_target_between_instructions(tmp_path):
    out, status, stdout = _interrupted_session("usb_echo", tmp_path)      # polls USB for ever
    assert "received signal SIGINT" in out, out
    assert re.search(r"pc\s+0x80[0-9a-f]+\s+0x80[0-9a-f]+ <\w+", out)
    assert re.search(r"simulated [\d.]+ ms, \d+ cycles at 48 MHz, [1-9]\d* instructions", out), out
    assert status == 0 and "the debugger ended the session" in stdout


@needs_gdb
def test_a_core_asleep_with_nothing_to_wake_it_waits_for_ctrl_c(tmp_path):
    # `wfi; b .-2` in SRAM with no interrupt enabled: the run loop sees no future event at all
    out, status, stdout = _interrupted_session(
        "hello", tmp_path, "set {int}0x20001000 = 0xe7fdbf30", "set $pc = 0x20001000")
    assert "asleep (WFI/WFE) with no wake-up source" in out and "waiting for Ctrl-C" in out, out
    assert "received signal SIGINT" in out
    assert re.search(r"pc\s+0x20001002\s", out), out


@needs_gdb
def test_detach_lets_the_run_go_on_to_its_own_end():
    s = Session(str(elf("systick")))
    out = s.gdb(str(elf("systick")), "break SysTick_Handler", "continue", "detach")
    status, stdout, stderr = s.finish()
    assert "Breakpoint 1, SysTick_Handler ()" in out and "detached" in out
    assert status == 0 and "10 ticks" in stdout and "GDB: detached" in stderr


@needs_gdb
def test_load_programs_flash_through_the_memory_map_and_the_new_image_runs():
    s = Session(str(elf("systick")))
    out = s.gdb(str(elf("hello")), "compare-sections", "load", "compare-sections", "monitor reset",
                "maintenance flush register-cache", "continue")
    status, stdout, _ = s.finish()
    before, after = out.split("Transfer rate")
    assert "MIS-MATCHED" in before, out                     # flash still holds systick.elf
    assert re.search(r"Loading section \.text", before)
    assert "matched" in after and "MIS-MATCHED" not in after, out      # qCRC over what load wrote
    assert "exited normally" in out
    assert status == 0 and "hello" in stdout.lower() and "10 ticks" not in stdout


def test_port_in_use_is_bad_input():
    taken = socket.create_server(("127.0.0.1", 0))
    port = taken.getsockname()[1]
    try:
        done = subprocess.run([sys.executable, "-m", "emulator", "run", str(elf("hello")), "--gdb", str(port)],
                              cwd=REPO, capture_output=True, text=True, timeout=30)
    finally:
        taken.close()
    assert done.returncode == 2 and f"cannot listen on 127.0.0.1:{port}" in done.stderr


def test_bkpt_halts_under_a_debugger_and_faults_without_one():
    # `bkpt #1; b .` placed in SRAM and entered by setting PC: no image carries a stray BKPT
    for attached in (True, False):
        m = boot("hello")
        m.debug_write(0x2000_1000, bytes.fromhex("01be fee7"))
        m.cpu.write("pc", 0x2000_1000)
        m.loop.debugger_attached = attached
        end = m.run(max_seconds=0.01)
        faults = [e.text for e in m.trace.of_kind("exception.fault")]
        if attached:
            assert end.reason is EndReason.HALTED and end.detail == "BKPT at 0x20001000", end
            assert m.cpu.pc() & ~1 == 0x2000_1000 and not faults
        else:
            assert end.reason is not EndReason.HALTED and any("BKPT" in f for f in faults), (end, faults)


@needs_gdb
def test_debugging_from_a_saved_snapshot_starts_where_it_was_taken(tmp_path):
    snapshot = tmp_path / "at_handler.snapshot"
    saved = subprocess.run([sys.executable, "-m", "emulator", "run", str(elf("systick")), "--at", "SysTick_Handler",
                            "--save-snapshot", str(snapshot)], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert saved.returncode == 0, saved.stderr
    s = Session(str(elf("systick")), "--from-snapshot", str(snapshot))
    out = s.gdb(str(elf("systick")), "info registers pc", "bt", "continue")
    status, stdout, _ = s.finish()
    assert re.search(r"pc\s+0x80000c0\s+0x80000c0 <SysTick_Handler>", out), out
    assert "<signal handler called>" in out                 # the exception frame came back with the snapshot
    assert status == 0 and "10 ticks" in stdout


def test_gdb_does_not_combine_with_a_snapshot_stop():
    done = subprocess.run([sys.executable, "-m", "emulator", "run", str(elf("hello")), "--gdb", "0",
                           "--save-snapshot", "x.snapshot"], cwd=REPO, capture_output=True, text=True, timeout=30)
    assert done.returncode == 2 and "does not combine with --save-snapshot" in done.stderr


def test_qcrc_is_the_crc_gdb_computes_for_compare_sections():
    from emulator.gdb.stub import gdb_crc32
    assert gdb_crc32(b"123456789") == 0x0376_E6E7          # CRC-32/MPEG-2's check value: GDB's xcrc32


def test_ctrl_c_while_the_stub_waits_for_gdb_ends_cleanly_with_status_130():
    emu = subprocess.Popen([sys.executable, "-m", "emulator", "run", str(elf("hello")), "--gdb", "0"], cwd=REPO,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert "listening on" in emu.stdout.readline()
    emu.send_signal(signal.SIGINT)
    out, err = emu.communicate(timeout=30)
    assert emu.returncode == 130
    assert "Traceback" not in err and err.strip().endswith("c071emu: interrupted")

