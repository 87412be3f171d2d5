"""GDB remote packets: every packet gets a reply (or none, for ``k``), never an exception.

The stub is driven directly (no socket) on a halted machine; run-control packets are left
out of the random set because they run the guest (the protocol tests in tests/test_gdb.py
drive those with the real gdb-multiarch).
"""
from __future__ import annotations

import socket
import threading

import pytest
from hypothesis import given, strategies as st

from conftest import boot
from emulator.gdb.rsp import MAX_FRAME, RspConnection
from emulator.gdb.stub import GdbStub
from fuzzkit import case

FLASH_BASE = 0x0800_0000


class Wire:
    """Collects what the stub sends (acknowledgements off, as after QStartNoAckMode)."""
    acknowledging = False
    interrupt_pending = False

    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def send(self, payload) -> None:
        self.sent.append(payload)

    def poll_interrupt(self) -> bool:
        return False


@pytest.fixture(scope="module")
def stub():
    machine = boot("hello")
    return GdbStub(machine, Wire(), deadline_ps=machine.clock.time_ps())


def reply_to(stub, packet: bytes):
    flash_before = bytes(stub.m.flash.buffer)
    reply = stub.handle(packet)
    assert reply is None or isinstance(reply, str)
    if not packet.startswith(b"vFlash"):
        assert bytes(stub.m.flash.buffer) == flash_before, f"{packet!r} changed flash"
    return reply


HEADS = ["m", "M", "X", "g", "G", "p", "P", "Z0", "Z1", "Z2", "Z3", "Z4", "z0", "z1", "z2", "z4", "qCRC:",
         "vFlashErase:", "vFlashWrite:", "vFlashDone", "qXfer:features:read:target.xml:",
         "qXfer:memory-map:read::", "qRcmd,", "H", "T", "?", "qSupported", "qAttached", "q", "v", "Q"]
numbers = st.one_of(st.integers(-5, 0x1_0000_0010), st.sampled_from([0, 1, 0x0800_0000, 0x2000_0000, 0xFFFF_FFFF,
                                                                   0xFFF_FFFF_FFFF, 0x4000_0000]))
hexnum = numbers.map(lambda n: format(n, "x") if n >= 0 else f"-{-n:x}")
tails = st.one_of(
    st.binary(max_size=40),
    st.lists(hexnum, max_size=4).map(lambda xs: ",".join(xs).encode()),
    st.tuples(st.lists(hexnum, max_size=3).map(",".join), st.sampled_from([":", ":}", "::", ""]),
              st.binary(max_size=16)).map(lambda t: (t[0] + t[1]).encode() + t[2]),
)


@given(head=st.sampled_from(HEADS), tail=tails)
def test_random_packets_get_an_answer_never_an_exception(stub, head, tail):
    with case("gdb packets"):
        reply_to(stub, head.encode() + tail)


@pytest.mark.parametrize("packet", [b"Z0,8000000", b"z0,", b"Z4", b"Z0,-1,1", b"vFlashErase:8000000,0",
                                    b"X20000000,1:}", b"vFlashErase:8000000,fffffffffff", b"m0,ffffffff",
                                    b"mffffffff,10", b"G00", b"P1=", b"p", b"qCRC:0", b"qXfer:features:read:target.xml:x"])
def test_reproducers_from_the_fuzzing_campaign_are_answered_with_an_error(stub, packet):
    assert reply_to(stub, packet).startswith("E") or packet == b"vFlashErase:8000000,0"


def test_erasing_zero_bytes_of_flash_is_accepted_and_changes_nothing(stub):
    assert reply_to(stub, b"vFlashErase:8000000,0") == "OK"


def test_a_flash_erase_outside_flash_is_refused_before_anything_is_allocated(stub):
    assert reply_to(stub, b"vFlashErase:8000000,fffffffffff") == "E01"
    assert reply_to(stub, b"vFlashErase:8000000,fffffff") == "E01"


def test_garbage_without_a_frame_does_not_grow_the_buffer_and_a_good_packet_still_gets_through():
    left, right = socket.socketpair()
    conn = RspConnection(right)
    conn.acknowledging = False
    received = []
    reader = threading.Thread(target=lambda: received.append(conn.receive()))
    reader.start()
    chunk = bytes(range(4, 36)) * 2048           # no '$' anywhere
    for _ in range(64):                          # 4 MiB of garbage
        left.sendall(chunk)
    left.sendall(b"$" + b"A" * (MAX_FRAME * 2))  # an oversized frame with no end
    left.sendall(b"$g#67")
    reader.join(timeout=30)
    assert received == [b"g"]
    assert len(conn._buffer) <= MAX_FRAME
    left.close()
    right.close()


def test_ctrl_c_hidden_behind_garbage_is_still_seen():
    left, right = socket.socketpair()
    conn = RspConnection(right)
    left.sendall(b"xyz\x03abc")
    assert conn.poll_interrupt()
    left.close()
    right.close()
