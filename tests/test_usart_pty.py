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
