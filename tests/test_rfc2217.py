"""USARTs as RFC 2217 network serial ports, with DTR -> NRST and RTS -> BOOT0 wired as a USB-UART
adapter does (emulator/host/rfc2217.py), driven by stm32loader 0.7.1 from PyPI, unmodified: it
opens device paths, so tests/tools/stm32loader_url.py hands it ``serial.serial_for_url`` ports."""
from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import serial

from emulator.host.rfc2217 import Rfc2217Bridge, SerialWiring
from emulator.host.serial_port import SerialPort, run_bridged
from tests.conftest import boot, elf
from tests.test_bootloader_dfu import BOOT0_OPTR, FLASH, flash_image

REPO = Path(__file__).resolve().parents[1]
LAUNCHER = REPO / "tests" / "tools" / "stm32loader_url.py"


def bootloader_running(app: str = "hello", boot_pin: int = 1):
    """A board in its bootloader (BOOT0 strapped high, nBOOT_SEL = 0: the pin selects)."""
    return boot("bootloader", app, boot_pin=boot_pin, option_bytes={"OPTR": BOOT0_OPTR})


def resets(m) -> list[str]:
    return [e.text for e in m.trace.events if e.kind == "reset"]


def stm32loader(url: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(LAUNCHER), "-p", url, *args], cwd=REPO, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def test_stm32loader_erases_writes_verifies_and_runs_an_image_using_rts_dtr(tmp_path):
    m = bootloader_running("hello")
    bridge = Rfc2217Bridge(SerialPort(m, "USART1"), wiring=SerialWiring(m, "boot0-reset"))
    image = flash_image("systick", 3000)
    (tmp_path / "app.bin").write_bytes(image)
    tool = stm32loader(bridge.url, "-e", "-w", "-v", "-a", f"{FLASH:#x}", str(tmp_path / "app.bin"))
    try:
        end = run_bridged(m, [bridge], 60, should_stop=lambda: tool.poll() is not None)
        out = tool.communicate(timeout=30)[0]
    finally:
        bridge.close()
    assert tool.returncode == 0, out
    assert "Chip id: 0x493" in out and "Extended erase (0x44)" in out and "Verification OK" in out
    assert m.flash.load(FLASH, len(image)) == image
    # stm32loader's reset_from_system_memory, then its final reset_from_flash: RTS/DTR did both
    assert [r for r in resets(m) if "pin reset" in r] == ["pin reset; boot from system memory",
                                                          "pin reset; boot from main flash"]
    assert end.reason.value == "exit" and "10 ticks" in m.guest_output       # the new image ran


def test_cli_serves_usart1_over_rfc2217_for_stm32loader(tmp_path):
    image = flash_image("systick", 2048)
    (tmp_path / "app.bin").write_bytes(image)
    emu = subprocess.Popen([sys.executable, "-m", "emulator", "run", str(elf("hello")), "--bootloader",
                            str(elf("bootloader")), "--boot-pin", "1", "--option-bytes", f"OPTR={BOOT0_OPTR:#x}",
                            "--usart1-rfc2217", "0", "--max-time", "60", "--flash-file", str(tmp_path / "flash")],
                           cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        line = emu.stdout.readline()
        assert line.startswith("USART1 RFC 2217: rfc2217://127.0.0.1:"), line
        tool = stm32loader(line.split(": ", 1)[1].strip(), "-e", "-w", "-v", "-a", f"{FLASH:#x}",
                           str(tmp_path / "app.bin"))
        out = tool.communicate(timeout=120)[0]
        report = emu.communicate(timeout=60)[0]
    finally:
        emu.kill()
    assert tool.returncode == 0 and "Verification OK" in out, out
    assert "10 ticks" in report and "booted from main flash" in report, report
    assert emu.returncode == 0


def _client_thread(m, url: str, work) -> tuple[threading.Thread, dict]:
    result: dict = {}

    def client():
        try:
            result["value"] = work(url)
        except Exception as exc:        # reported by the test
            result["error"] = exc
    thread = threading.Thread(target=client)
    thread.start()
    return thread, result


def test_client_baud_rate_and_format_set_the_host_end_of_the_line():
    m = bootloader_running()
    port = SerialPort(m, "USART1")
    bridge = Rfc2217Bridge(port, wiring=SerialWiring(m, "none"))

    def sync(url):
        with serial.serial_for_url(url, baudrate=19200, parity="E", timeout=2) as s:
            s.write(b"\x7f")
            first = s.read(1)
            s.baudrate, s.parity = 57600, "N"         # the bootloader stays at 19200 8E1
            s.write(b"\x00\xff")
            return first, s.read(1)

    thread, result = _client_thread(m, bridge.url, sync)
    try:
        run_bridged(m, [bridge], 10, should_stop=lambda: not thread.is_alive())
    finally:
        thread.join(5)
        bridge.close()
    first, second = result["value"]
    assert first == b"\x79"                                            # auto-baud at the client's rate
    assert m.usart1.reg["BRR"].value == round(12_000_000 / 19200)
    assert port.framing.baud == 57600 and port.framing.parity == "N"
    assert second != b"\x79"                                           # a mismatched line: no ACK


def test_dtr_holds_nrst_and_boot0_is_sampled_from_rts_at_release():
    m = bootloader_running(boot_pin=0)              # main flash: hello
    wiring = SerialWiring(m, "boot0-reset")
    wiring.set_rts(False)                           # RTS released: high, BOOT0 = 1
    wiring.set_dtr(True)
    assert wiring.nrst_held and m.boot_mode.name == "MAIN_FLASH"
    wiring.set_dtr(False)
    assert not wiring.nrst_held and m.boot_mode.name == "SYSTEM_MEMORY"
    wiring.set_rts(True)                            # asserted: low, BOOT0 = 0 - sampled only at the next release
    assert m.boot_mode.name == "SYSTEM_MEMORY"
    wiring.set_dtr(True)
    wiring.set_dtr(False)
    assert m.boot_mode.name == "MAIN_FLASH"
    assert m.rcc.reg["CSR2"].value >> 26 & 1        # PINRSTF (RM0490 §6.4.27)


def test_wiring_none_leaves_reset_and_boot0_alone():
    m = bootloader_running(boot_pin=0)
    wiring = SerialWiring(m, "none")
    wiring.set_rts(False)
    wiring.set_dtr(True)
    wiring.set_dtr(False)
    assert not wiring.nrst_held and m.boot_mode.name == "MAIN_FLASH"
    assert not [r for r in resets(m) if "pin" in r]


def test_one_usart_cannot_be_both_a_pty_and_an_rfc2217_port():
    done = subprocess.run([sys.executable, "-m", "emulator", "run", str(elf("hello")), "--usart1-pty",
                           "--usart1-rfc2217", "0"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "either a pty" in done.stderr and "Traceback" not in done.stderr
