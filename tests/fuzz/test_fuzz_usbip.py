"""USB/IP messages: the parsers take bytes or refuse them with UsbipProtocolError; the server keeps
serving a well-formed client after any stream a hostile one sends."""
from __future__ import annotations

import socket
import struct

import pytest
from hypothesis import given, strategies as st

from conftest import boot
from emulator.host.usbip import UsbipServer
from emulator.host.usbip_protocol import (CMD_SUBMIT, CMD_UNLINK, OP_REQ_DEVLIST, OP_REQ_IMPORT, VERSION,
                                          UsbipProtocolError, read_op_request, read_urb_command)
from fuzzkit import case

u32 = st.integers(0, 0xFFFF_FFFF)
i32 = st.integers(-(1 << 31), (1 << 31) - 1)
submit_headers = st.builds(
    lambda seq, direction, ep, flags, length, packets, setup: struct.pack(
        ">IIIIIIiiii8s", CMD_SUBMIT, seq, 1 << 16 | 1, direction, ep, flags, length, 0, packets, 0, setup),
    u32, st.integers(0, 3), st.integers(0, 16), u32, i32, st.integers(-2, 4), st.binary(min_size=8, max_size=8))
unlink_headers = st.builds(lambda seq, target: struct.pack(">IIIIII24x", CMD_UNLINK, seq, 1 << 16 | 1, 0, 0, target),
                           u32, u32)
op_requests = st.builds(lambda version, code, busid: struct.pack(">HHI32s", version, code, 0, busid),
                        st.sampled_from([VERSION, 0x0106, 0]), st.sampled_from([OP_REQ_DEVLIST, OP_REQ_IMPORT, 0x1234]),
                        st.sampled_from([b"1-1", b"2-1", b"\xff" * 32]))
streams = st.lists(st.one_of(submit_headers, unlink_headers, st.binary(max_size=64)), max_size=6).map(b"".join)


@given(stream=st.one_of(streams, op_requests.map(lambda r: r + b"junk")))
def test_parsers_consume_or_refuse_never_crash(stream):
    with case("usbip messages"):
        for reader in (read_op_request, read_urb_command):
            buffer = bytearray(stream)
            try:
                while True:
                    before = len(buffer)
                    message = reader(buffer)
                    if message is None:
                        break
                    assert len(buffer) < before                      # every message takes bytes off
            except UsbipProtocolError:
                pass


@pytest.fixture(scope="module")
def server():
    machine = boot("usb_echo")
    srv = UsbipServer(machine, 0)
    assert srv.wait_for_device() is None and srv.exported is not None
    yield srv
    srv.close()


def serve_for(server, seconds: float) -> None:
    end = server.m.seconds() + seconds
    while server.m.seconds() < end:
        server.poll()
        server.m.run(max_seconds=2e-3)
    server.poll()


def well_formed_echo(server) -> bytes:
    """Import, then a GET_DESCRIPTOR(device) control URB: the reply's status and data."""
    client = socket.create_connection(server.address, timeout=5)
    client.setblocking(False)
    client.sendall(struct.pack(">HHI32s", VERSION, OP_REQ_IMPORT, 0, b"1-1"))
    client.sendall(struct.pack(">IIIIIIiiii8s", CMD_SUBMIT, 7, 1 << 16 | 1, 1, 0, 0, 18, 0, -1, 0,
                               struct.pack("<BBHHH", 0x80, 6, 0x0100, 0, 18)))
    received = b""
    for _ in range(200):
        serve_for(server, 2e-3)
        try:
            received += client.recv(65536)
        except BlockingIOError:
            pass
        if len(received) >= 8 + 312 + 48 + 18:
            break
    client.close()
    serve_for(server, 2e-3)
    return received


@given(stream=st.one_of(op_requests.flatmap(lambda r: streams.map(lambda s: r + s)), streams))
def test_the_server_survives_any_stream_and_serves_the_next_client(server, stream):
    with case("usbip server"):
        hostile = socket.create_connection(server.address, timeout=5)
        try:
            hostile.sendall(stream)
        except OSError:
            pass
        serve_for(server, 4e-3)
        hostile.close()
        serve_for(server, 2e-3)
        reply = well_formed_echo(server)
        status = struct.unpack_from(">i", reply, 8 + 312 + 20)[0]
        assert status == 0 and reply[8 + 312 + 48:][:2] == b"\x12\x01"
