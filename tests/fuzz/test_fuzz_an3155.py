"""AN3155 frames on the USART bootloader: any byte stream leaves the bootloader running in thread
mode (no fault, no lockup: a command waiting for the rest of its frame is the protocol, as on
the ROM, which has no inter-byte timeout), and flash changes only after a Write Memory or
Extended Erase command frame (code + complement).

Each example runs in a process forked from one synchronised session."""
from __future__ import annotations

import signal

from hypothesis import given, strategies as st

from emulator.analysis.replay import run_forked
from emulator.host.an3155 import An3155Client, An3155Error
from emulator.host.serial_port import SerialPort
from emulator.machine import Machine
from fuzzkit import CASES, FINDINGS
from tests.conftest import boot

FLASH, FLASH_SIZE = 0x0800_0000, 0x2_0000
HANG_S = 60
CODES = [0x00, 0x01, 0x02, 0x11, 0x21, 0x31, 0x44, 0x63, 0x73, 0x82, 0x92, 0x7F, 0x55]


def frame_of(code: int, body: bytes, good_complement: bool) -> bytes:
    return bytes([code, code ^ 0xFF if good_complement else code]) + body


frames = st.one_of(
    st.builds(frame_of, st.sampled_from(CODES), st.binary(max_size=12), st.booleans()),
    st.binary(min_size=1, max_size=16),
)

_PARENT: dict[str, object] = {}


def synchronised():
    if "client" not in _PARENT:
        m: Machine = boot("bootloader", "hello", boot_pin=1, option_bytes={"OPTR": 0x3EEF_FEAA})
        m.run(max_seconds=0.005)
        client = An3155Client(SerialPort(m, "USART1", baud=115200, parity="E"))
        assert client.sync() == "ACK"
        _PARENT.update(machine=m, client=client)
    return _PARENT["machine"], _PARENT["client"]


def run_frames(m: Machine, client: An3155Client, stream: list[bytes]) -> dict:
    signal.alarm(HANG_S)
    before = bytes(m.flash.buffer)
    for frame in stream:
        client.port.send(frame)
        client.port.drain(0.002)
    client.port.drain(0.05)
    faults = [e.text for e in m.trace.events if e.kind.startswith("exception.fault")]
    wrote = any(frame[:2] in (b"\x31\xce", b"\x44\xbb") for frame in stream) or b"\x31\xce" in b"".join(stream) \
        or b"\x44\xbb" in b"".join(stream)
    return {"faults": faults, "thread_mode": m.cpu.ipsr() == 0,
            "flash_changed": bytes(m.flash.buffer) != before, "write_sent": wrote,
            "ended": m.loop.end.reason.value if m.loop.end else None}


@given(stream=st.lists(frames, min_size=1, max_size=8))
def test_any_frames_leave_the_bootloader_answering_and_flash_changed_only_by_write_or_erase(stream):
    CASES["an3155 frames"] += 1
    m, client = synchronised()
    try:
        (result,) = run_forked([lambda: run_frames(m, client, stream)], parallel=1)
    except RuntimeError as exc:
        FINDINGS["an3155 frames", "hang" if "no result" in str(exc) else "traceback"] += 1
        raise
    if result["flash_changed"] and not result["write_sent"]:
        FINDINGS["an3155 frames", "unauthorised-flash-change"] += 1
    assert not (result["flash_changed"] and not result["write_sent"]), "flash changed without a write or erase"
    assert not result["faults"] and result["ended"] != "lockup", f"the bootloader faulted: {result['faults']}"
    assert result["thread_mode"], "the bootloader is parked in an exception handler"
