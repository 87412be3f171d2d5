"""The command line as a user drives it: exit statuses, reports, bad input."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from emulator.cli import main

ELF = Path(__file__).resolve().parents[1] / "images" / "elf"


def run(capsys, *args: str) -> tuple[int, str, str]:
    status = main(["run", *map(str, args)])
    out = capsys.readouterr()
    return status, out.out, out.err


def test_guest_exit_status_becomes_the_process_status(capsys):
    status, out, _ = run(capsys, ELF / "erased_vector.elf")
    assert status == 42
    assert "HardFault after erased vector" in out


def test_report_names_end_time_instructions_and_registers(capsys):
    status, out, _ = run(capsys, ELF / "hello.elf")
    assert status == 0
    assert "run ended: exit" in out and "instructions executed" in out and "msp=0x" in out


def test_lockup_exits_3_with_the_reason(capsys):
    status, out, _ = run(capsys, ELF / "double_fault.elf")
    assert status == 3
    assert "core locked up at PC" in out and "undefined instruction" in out


def test_time_limit_exits_4(capsys):
    status, out, _ = run(capsys, ELF / "wfi_sleep.elf", "--max-time", "0.01")
    assert status == 4
    assert "time limit" in out


def test_json_report_is_machine_readable(capsys):
    status, out, _ = run(capsys, ELF / "iwdg.elf", "--json")
    report = json.loads(out)
    assert status == 0 and report["end"]["reason"] == "exit"
    assert report["guest_output"] == "watchdog started\nreset by IWDG\n"
    assert report["schema"] == "c071emu.run/1" and report["registers"]["pc"].startswith("0x")


def test_boot_pin_and_option_bytes_select_system_memory(capsys):
    status, out, _ = run(capsys, ELF / "hello.elf", "--bootloader", ELF / "boot_probe_sysmem.elf",
                         "--boot-pin", "1", "--option-bytes", "nBOOT_SEL=0")
    assert status == 0 and "hello from system memory" in out


def test_raw_binary_bootloader_is_placed_in_system_memory(capsys, tmp_path):
    from emulator.image import load_elf
    image = load_elf(ELF / "boot_probe_sysmem.elf")
    raw = tmp_path / "rom.bin"
    start = min(s.address for s in image.segments)
    blob = bytearray(b"\xff" * (max(s.address + len(s.data) for s in image.segments) - start))
    for s in image.segments:
        blob[s.address - start:s.address - start + len(s.data)] = s.data
    raw.write_bytes(bytes(blob))
    status, out, _ = run(capsys, ELF / "hello.elf", "--bootloader", raw, "--boot-pin", "1",
                         "--option-bytes", "nBOOT_SEL=0")
    assert status == 0 and "hello from system memory" in out


def test_unmodelled_access_is_reported_and_fails_in_strict_mode(capsys):
    status, out, _ = run(capsys, ELF / "unmodelled_access.elf")
    assert status == 0 and "unmodelled write I2C1.CR1 (" in out and "SMBHEN" in out and "in main" in out
    status, out, _ = run(capsys, ELF / "unmodelled_access.elf", "--strict")
    assert status == 5 and "strict mode" in out
    assert "after I2C1 write" not in out


@pytest.mark.parametrize("case", ["missing", "not_elf", "bad_options", "bad_pin", "bootloader_in_flash"])
def test_bad_input_exits_2_with_one_clear_line(capsys, tmp_path, case):
    args = {
        "missing": [tmp_path / "nope.elf"],
        "not_elf": [Path(__file__)],
        "bad_options": [ELF / "hello.elf", "--option-bytes", "nBOOT_SELL=0"],
        "bad_pin": [ELF / "hello.elf", "--boot-pin", "2"],
        "bootloader_in_flash": [ELF / "hello.elf", "--bootloader", ELF / "hello.elf"],
    }[case]
    status, out, err = run(capsys, *args)
    assert status == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1 and err.startswith("c071emu: ")


def test_module_entry_point_runs_an_image_in_a_fresh_process():
    import subprocess
    import sys
    done = subprocess.run([sys.executable, "-m", "emulator", "run", str(ELF / "erased_vector.elf")],
                          capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1], timeout=60)
    assert done.returncode == 42
    assert "HardFault after erased vector" in done.stdout


def test_flash_file_keeps_programmed_flash_and_option_bytes_across_runs(capsys, tmp_path):
    state = tmp_path / "c071.flash"
    status, out, _ = run(capsys, ELF / "flash_options.elf", "--flash-file", state)
    assert status == 0 and state.stat().st_size == 128 * 1024 + 2048
    blob = state.read_bytes()
    optr = int.from_bytes(blob[128 * 1024:128 * 1024 + 4], "little")
    assert not optr >> 24 & 1                                  # nBOOT_SEL cleared and saved
    # A second run with another image boots what the file holds, with the saved option bytes
    status, out, _ = run(capsys, ELF / "hello.elf", "--flash-file", state, "--json")
    report = json.loads(out)
    assert "hello from flash" not in report["guest_output"]
    assert report["guest_output"].startswith("option bytes programmed")   # the saved flash_options app ran


def test_flash_file_of_the_wrong_size_is_bad_input(capsys, tmp_path):
    state = tmp_path / "bad.flash"
    state.write_bytes(b"\xff" * 100)
    status, out, err = run(capsys, ELF / "hello.elf", "--flash-file", state)
    assert status == 2 and "a flash file holds" in err


def _raw_rom_touching_a_reserved_register(path: Path) -> Path:
    """A 20-byte system-memory dump: vectors, then `ldr r0, =0x4002100C; ldr r1, [r0]; b .` (RCC+0x0C is reserved)."""
    import struct
    rom = struct.pack("<II", 0x2000_6000, 0x1FFF_0009) + struct.pack("<4H", 0x4801, 0x6801, 0xE7FE, 0) \
        + struct.pack("<I", 0x4002_100C)
    path.write_bytes(rom)
    return path


def test_strict_mode_names_the_register_a_raw_rom_dump_touches(capsys, tmp_path):
    rom = _raw_rom_touching_a_reserved_register(tmp_path / "rom.bin")
    status, out, _ = run(capsys, ELF / "hello.elf", "--bootloader", rom, "--boot-pin", "1",
                         "--option-bytes", "nBOOT_SEL=0", "--strict")
    assert status == 5
    assert "unmodelled read RCC+0x00C" in out and "pc=0x1FFF000A" in out


def test_without_strict_the_raw_rom_runs_on_and_the_access_is_reported(capsys, tmp_path):
    rom = _raw_rom_touching_a_reserved_register(tmp_path / "rom.bin")
    status, out, _ = run(capsys, ELF / "hello.elf", "--bootloader", rom, "--boot-pin", "1",
                         "--option-bytes", "nBOOT_SEL=0", "--max-time", "0.01")
    assert status == 4 and "unmodelled read RCC+0x00C" in out
