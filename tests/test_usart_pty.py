"""The pseudo-terminal bridge: host tools talk AN3155 to the emulated bootloader through a pty.

``test_stm32flash_*`` runs Debian's unmodified ``stm32flash`` binary against
``c071emu run … --usart1-pty`` (skipped only when stm32flash is not installed;
.ci/run installs it).  Debian's stm32flash 0.7 has no entry for the C071's PID
0x493 in its device table, so after sync, Get, Get Version and Get ID it stops
with "Unknown/unsupported device (Device ID: 0x493)": the test pins that the
whole exchange up to the ID works through the pty.  Linux ptys drop PARENB,
so stm32flash needs ``-m 8n1`` to accept the port (the bridge supplies the
USART's 8E1 on the simulated line).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from emulator.host.serial_port import PtyBridge, SerialPort, run_bridged
from emulator.image import load_elf
from emulator.machine import Machine

from conftest import elf

REPO = Path(__file__).resolve().parents[1]


def _raw(fd: int, baud: int) -> None:
    attrs = termios.tcgetattr(fd)
    attrs[0] = attrs[1] = attrs[3] = 0
    attrs[2] = termios.CS8 | termios.CREAD | termios.CLOCAL
    attrs[4] = attrs[5] = getattr(termios, f"B{baud}")
    attrs[6][termios.VMIN], attrs[6][termios.VTIME] = 0, 0
    termios.tcsetattr(fd, termios.TCSANOW, attrs)


def test_pty_bridge_carries_sync_and_get_id_at_the_tools_baud_rate():
    m = Machine()
    m.load(load_elf(elf("usart_bl")))
    m.reset("power")
    bridge = PtyBridge(SerialPort(m, "USART1"))
    tool = os.open(bridge.path, os.O_RDWR | os.O_NOCTTY)
    try:
        _raw(tool, 57600)
        os.write(tool, b"\x7f")
        got = bytearray()

        def answered(n: int) -> bool:
            try:
                got.extend(os.read(tool, 64))
            except BlockingIOError:
                pass
            return len(got) >= n

        os.set_blocking(tool, False)
        run_bridged(m, [bridge], max_seconds=0.5, should_stop=lambda: answered(1))
        assert bytes(got) == b"\x79"
        assert m.usart1.reg["BRR"].value == round(12_000_000 / 57600)
        os.write(tool, b"\x02\xfd")
        run_bridged(m, [bridge], max_seconds=0.5, should_stop=lambda: answered(6))
        assert bytes(got) == b"\x79\x79\x01\x04\x93\x79"
    finally:
        os.close(tool)
        bridge.close()


@pytest.mark.skipif(shutil.which("stm32flash") is None, reason="stm32flash is not installed (apt-get install stm32flash)")
def test_stm32flash_syncs_and_reads_the_c071_id_through_the_pty():
    emu = subprocess.Popen([sys.executable, "-m", "emulator", "run", str(elf("usart_bl")), "--usart1-pty",
                            "--max-time", "30"], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True)
    try:
        line = emu.stdout.readline()
        assert line.startswith("USART1 pty: /dev/"), line
        pty = line.split(": ", 1)[1].strip()
        started = time.monotonic()
        tool = subprocess.run(["stm32flash", "-b", "57600", "-m", "8n1", pty], capture_output=True, text=True,
                              timeout=60)
        out = tool.stdout + tool.stderr
        assert "Interface serial_posix: 57600 8N1" in out, out
        assert "Device ID: 0x493" in out, out           # stm32flash 0.7: "Unknown/unsupported device"
        assert time.monotonic() - started < 30
    finally:
        emu.terminate()
        emu.wait(timeout=10)


def _bootloader_behind_a_pty(baud: int = 57600):
    m = Machine()
    m.load(load_elf(elf("usart_bl")))
    m.reset("power")
    bridge = PtyBridge(SerialPort(m, "USART1"))
    tool = os.open(bridge.path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    _raw(tool, baud)
    bridge.port.configure(baud=baud)
    bridge.port.follow_usart_format = True
    return m, bridge, tool


def test_a_transmitted_byte_reaches_the_pty_as_it_is_sent_not_at_a_slice_boundary():
    m, bridge, tool = _bootloader_behind_a_pty()
    try:
        bridge.port.send(b"\x7f")
        m.run(max_seconds=0.05)                         # no pump: only the transmit itself can deliver
        assert os.read(tool, 16) == b"\x79"
    finally:
        os.close(tool)
        bridge.close()


def test_the_pty_stays_open_after_the_run_until_the_tool_has_read_everything():
    from emulator.host.serial_port import linger
    import threading
    m, bridge, tool = _bootloader_behind_a_pty()
    got = []
    try:
        bridge.port.send(b"\x7f")
        m.run(max_seconds=0.05)
        waited = time.monotonic()             # the kernel moves it to the slave's queue a moment later
        while bridge.pending() == 0 and time.monotonic() - waited < 2.0:
            time.sleep(0.005)
        assert bridge.pending() == 1
        reader = threading.Timer(0.3, lambda: got.append(os.read(tool, 16)))
        reader.start()
        started = time.monotonic()
        linger([bridge], wall_seconds=5.0)
        assert 0.25 <= time.monotonic() - started < 5.0 and got == [b"\x79"] and bridge.pending() == 0
    finally:
        os.close(tool)
        bridge.close()


def test_ctrl_c_in_a_pty_run_prints_the_report_and_writes_the_flash_file(tmp_path):
    import signal
    emu = subprocess.Popen([sys.executable, "-m", "emulator", "run", str(elf("usart_bl")), "--usart1-pty",
                            "--max-time", "60", "--flash-file", str(tmp_path / "flash.bin")], cwd=REPO,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert emu.stdout.readline().startswith("USART1 pty: /dev/")
        time.sleep(0.5)
        emu.send_signal(signal.SIGINT)
        out, err = emu.communicate(timeout=30)
    finally:
        emu.kill()
    assert emu.returncode == 130, err
    assert "-- run ended: interrupted" in out and "Traceback" not in err
    assert (tmp_path / "flash.bin").stat().st_size > 0
