"""USB/IP export: ``c071emu run IMAGE --usbip 0`` as a subprocess, driven by a protocol-level
client written here from Linux ``Documentation/usb/usbip_protocol.rst`` (struct layouts
packed from the document, not imported from the server), doing what ``usbip list``,
``usbip attach`` and then a driver or dfu-util on a vhci-hcd host would send.

Sockets carry a 5 s timeout only so that a hang fails a test instead of blocking it;
no test asserts on timing.
"""
from __future__ import annotations

import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from emulator.host.usbip import MAX_CONNECTIONS
from emulator.image import load_elf

REPO = Path(__file__).resolve().parents[1]
ELF = REPO / "images" / "elf"
BANNER = re.compile(r"USB/IP: listening on ([0-9.]+):(\d+), bus id (\S+)")

# usbip_protocol.rst
VERSION = 0x0111
OP_REQ_DEVLIST, OP_REP_DEVLIST, OP_REQ_IMPORT, OP_REP_IMPORT = 0x8005, 0x0005, 0x8003, 0x0003
CMD_SUBMIT, CMD_UNLINK, RET_SUBMIT, RET_UNLINK = 1, 2, 3, 4
OUT, IN = 0, 1
DEVICE = struct.Struct(">256s32sIIIHHHBBBBBB")
HEADER = 48
EPIPE, ECONNRESET, EMSGSIZE = 32, 104, 90        # Linux errno values
DEVID = 1 << 16 | 1                    # (busnum << 16) | devnum of bus id 1-1

# DFU 1.1 / DfuSe (AN3156)
DFU_DNLOAD, DFU_UPLOAD, DFU_GETSTATUS, DFU_ABORT = 1, 2, 3, 6
DFU_IDLE, DFU_DNBUSY, DFU_DNLOAD_IDLE, DFU_MANIFEST = 2, 4, 5, 7


# -- the emulator as a user starts it ----------------------------------------------------------------
class Emulator:
    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "emulator", "run", *args, "--usbip", "0"], cwd=REPO,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise AssertionError("the emulator ended before listening:\n" + "".join(self.lines))
            self.lines.append(line)
            match = BANNER.search(line)
            if match:
                self.port, self.busid = int(match.group(2)), match.group(3)
                return

    def interrupt(self) -> tuple[int, str]:
        self.proc.send_signal(signal.SIGINT)
        rest, _ = self.proc.communicate(timeout=10)
        return self.proc.returncode, "".join(self.lines) + rest

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


@pytest.fixture(scope="module")
def echo():
    emu = Emulator(str(ELF / "usb_echo.elf"))
    yield emu
    emu.kill()


# -- a protocol-level client ------------------------------------------------------------------------------
class Client:
    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.seqnum = 0
        self.directions: dict[int, int] = {}

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def read(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise EOFError(f"connection closed after {len(data)} of {n} bytes")
            data += chunk
        return data

    def closed_by_server(self) -> bool:
        return self.sock.recv(1) == b""

    # operations
    def devlist(self) -> list[dict]:
        self.sock.sendall(struct.pack(">HHI", VERSION, OP_REQ_DEVLIST, 0))
        version, code, status, count = struct.unpack(">HHII", self.read(12))
        assert (version, code, status) == (VERSION, OP_REP_DEVLIST, 0)
        devices = []
        for _ in range(count):
            device = self._device(self.read(DEVICE.size))
            device["interfaces"] = [struct.unpack(">BBBx", self.read(4)) for _ in range(device["bNumInterfaces"])]
            devices.append(device)
        return devices

    def import_device(self, busid: str) -> tuple[int, dict | None]:
        self.sock.sendall(struct.pack(">HHI32s", VERSION, OP_REQ_IMPORT, 0, busid.encode()))
        version, code, status = struct.unpack(">HHI", self.read(8))
        assert (version, code) == (VERSION, OP_REP_IMPORT)
        return status, (self._device(self.read(DEVICE.size)) if status == 0 else None)

    @staticmethod
    def _device(raw: bytes) -> dict:
        names = ("path", "busid", "busnum", "devnum", "speed", "idVendor", "idProduct", "bcdDevice", "bDeviceClass",
                 "bDeviceSubClass", "bDeviceProtocol", "bConfigurationValue", "bNumConfigurations", "bNumInterfaces")
        device = dict(zip(names, DEVICE.unpack(raw)))
        device["path"] = device["path"].rstrip(b"\0").decode()
        device["busid"] = device["busid"].rstrip(b"\0").decode()
        return device

    # URBs
    def submit(self, ep: int, direction: int, length: int, data: bytes = b"", setup: bytes = bytes(8),
               flags: int = 0) -> int:
        self.seqnum += 1
        self.directions[self.seqnum] = direction
        header = struct.pack(">IIIIIIiiii8s", CMD_SUBMIT, self.seqnum, DEVID, direction, ep, flags, length, 0, -1, 0,
                             setup)
        self.sock.sendall(header + (data if direction == OUT else b""))
        return self.seqnum

    def unlink(self, seqnum: int) -> int:
        self.seqnum += 1
        self.sock.sendall(struct.pack(">IIIIII24x", CMD_UNLINK, self.seqnum, DEVID, 0, 0, seqnum))
        return self.seqnum

    def reply(self) -> dict:
        raw = self.read(HEADER)
        command, seqnum, devid, direction, ep, status = struct.unpack_from(">IIIIIi", raw)
        assert (devid, direction, ep) == (0, 0, 0)          # "for server this shall be 0"
        if command == RET_UNLINK:
            return {"command": command, "seqnum": seqnum, "status": status}
        assert command == RET_SUBMIT, command
        actual_length, _, packets, _ = struct.unpack_from(">iiii", raw, 24)
        data = self.read(actual_length) if self.directions[seqnum] == IN else b""
        return {"command": command, "seqnum": seqnum, "status": status, "actual_length": actual_length,
                "data": data, "number_of_packets": packets}

    def control(self, request_type: int, request: int, value: int = 0, index: int = 0, data: bytes = b"",
                length: int = 0) -> dict:
        direction = IN if request_type & 0x80 else OUT
        wlength = length if direction == IN else len(data)
        setup = struct.pack("<BBHHH", request_type, request, value, index, wlength)
        seqnum = self.submit(0, direction, wlength, data, setup)
        reply = self.reply()
        assert reply["seqnum"] == seqnum
        return reply

    def bulk(self, ep: int, direction: int, data: bytes = b"", length: int = 0) -> dict:
        seqnum = self.submit(ep, direction, len(data) if direction == OUT else length, data)
        reply = self.reply()
        assert reply["seqnum"] == seqnum
        return reply


def endpoint_addresses(config: bytes) -> list[int]:
    """bEndpointAddress of each endpoint descriptor in a configuration (USB 2.0 §9.6.6)."""
    found, offset = [], 0
    while offset < len(config):
        if config[offset + 1] == 5:
            found.append(config[offset + 2])
        offset += config[offset]
    return found


def imported(port: int) -> Client:
    client = Client(port)
    status, device = client.import_device("1-1")
    assert status == 0, "import of 1-1 refused"
    assert (device["busid"], device["devnum"], device["speed"], device["idVendor"]) == ("1-1", 1, 2, 0x0483)
    return client


# -- the echo firmware ------------------------------------------------------------------------------------
def test_devlist_shows_the_enumerated_echo_device_then_closes(echo):
    assert echo.busid == "1-1"
    with Client(echo.port) as client:
        devices = client.devlist()
        assert client.closed_by_server()
    assert len(devices) == 1
    d = devices[0]
    assert (d["busid"], d["busnum"], d["devnum"], d["speed"]) == ("1-1", 1, 1, 2)
    assert (d["idVendor"], d["idProduct"], d["bcdDevice"], d["bDeviceClass"]) == (0x0483, 0xC071, 0x0100, 0xFF)
    assert (d["bConfigurationValue"], d["bNumConfigurations"], d["bNumInterfaces"]) == (1, 1, 1)
    assert d["interfaces"] == [(0xFF, 0x00, 0x00)]            # the vendor-specific echo interface


def test_imported_device_answers_descriptors_configuration_control_and_bulk_echo(echo):
    with imported(echo.port) as client:
        reply = client.control(0x80, 6, 0x0100, length=18)           # GET_DESCRIPTOR(device)
        assert reply["status"] == 0 and reply["actual_length"] == 18 and len(reply["data"]) == 18
        assert struct.unpack_from("<HH", reply["data"], 8) == (0x0483, 0xC071)
        config = client.control(0x80, 6, 0x0200, length=9)["data"]
        total = struct.unpack_from("<H", config, 2)[0]
        full = client.control(0x80, 6, 0x0200, length=total)["data"]
        assert endpoint_addresses(full) == [0x01, 0x81]
        assert client.control(0x00, 9, 1)["status"] == 0              # SET_CONFIGURATION(1)
        assert client.control(0x40, 0x02, data=b"over usbip")["actual_length"] == 10
        assert client.control(0xC0, 0x03, length=64)["data"] == b"over usbip"
        assert client.control(0xC0, 0x55, length=4)["status"] == -EPIPE   # unknown request: STALL
        payload = bytes((i * 7 + 1) & 0xFF for i in range(1000))
        sent = client.bulk(0x01, OUT, payload)
        assert (sent["status"], sent["actual_length"], sent["data"]) == (0, 1000, b"")
        back = client.bulk(0x01, IN, length=1000)
        assert back["status"] == 0 and back["data"] == payload
        assert back["number_of_packets"] == -1                        # 0xffffffff: not isochronous


def test_pending_bulk_in_leaves_ep0_free_and_unlink_cancels_it_without_a_ret_submit(echo):
    with imported(echo.port) as client:
        pending = client.submit(0x01, IN, 64)                         # nothing to echo yet: NAKed
        descriptor = client.control(0x80, 6, 0x0100, length=18)       # ep0 is served meanwhile
        assert descriptor["status"] == 0 and descriptor["seqnum"] == pending + 1
        unlink = client.unlink(pending)
        assert client.reply() == {"command": RET_UNLINK, "seqnum": unlink, "status": -ECONNRESET}
        assert client.bulk(0x01, OUT, b"ping")["status"] == 0
        echoed = client.bulk(0x01, IN, length=64)                     # the next reply is this one, not `pending`
        assert echoed["data"] == b"ping"
        late = client.unlink(echoed["seqnum"])
        assert client.reply() == {"command": RET_UNLINK, "seqnum": late, "status": 0}


def echoes(client: Client, text: bytes) -> bool:
    return client.bulk(0x01, OUT, text)["status"] == 0 and client.bulk(0x01, IN, length=64)["data"] == text


def test_set_address_stays_with_the_server_and_halts_clear_by_clear_feature_or_port_reset(echo):
    with imported(echo.port) as client:
        assert client.control(0x00, 5, 9)["status"] == 0               # SET_ADDRESS: vhci's business
        assert client.control(0x80, 6, 0x0100, length=18)["status"] == 0
        assert client.control(0x00, 9, 1)["status"] == 0
        assert client.control(0x02, 3, 0, 0x81)["status"] == 0         # SET_FEATURE(ENDPOINT_HALT) on 0x81
        assert client.bulk(0x01, IN, length=64)["status"] == -EPIPE
        assert client.control(0x02, 1, 0, 0x81)["status"] == 0         # CLEAR_FEATURE(ENDPOINT_HALT)
        assert echoes(client, b"after clear-halt")
        assert client.control(0x02, 3, 0, 0x81)["status"] == 0
        assert client.control(0x23, 3, 4, 1)["status"] == 0            # SET_FEATURE(PORT_RESET), port 1
        pending = client.submit(0x01, IN, 64)
        # GET_CONFIGURATION is answered before anything for `pending`: the IN is NAKed, no longer stalled
        assert client.control(0x80, 8, length=1)["data"] == b"\x01"     # and the device is configured again
        unlink = client.unlink(pending)
        assert client.reply() == {"command": RET_UNLINK, "seqnum": unlink, "status": -ECONNRESET}
        assert echoes(client, b"after port reset")


def test_unknown_bus_id_is_refused_with_status_1_and_the_connection_closed(echo):
    with Client(echo.port) as client:
        status, device = client.import_device("2-1")
        assert (status, device) == (1, None)
        assert client.closed_by_server()


def test_second_import_is_refused_until_the_first_client_disconnects(echo):
    first = imported(echo.port)
    with Client(echo.port) as second:
        assert second.import_device("1-1")[0] == 1
    first.close()
    with imported(echo.port) as third:
        assert third.control(0x80, 6, 0x0100, length=18)["status"] == 0


def test_port_in_use_is_bad_input_with_exit_status_2():
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        run = subprocess.run([sys.executable, "-m", "emulator", "run", str(ELF / "usb_echo.elf"), "--usbip",
                              str(port)], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert run.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in run.stderr and "choose another port" in run.stderr


# -- the DfuSe bootloader, entered through BOOT0 ------------------------------------------------------------
def test_dfuse_bootloader_over_usbip_reports_dfuidle_and_uploads_the_application():
    emu = Emulator(str(ELF / "hello.elf"), "--bootloader", str(ELF / "bootloader.elf"), "--boot-pin", "1",
                   "--option-bytes", "nBOOT_SEL=0")
    try:
        with Client(emu.port) as client:
            [device] = client.devlist()
        assert (device["idVendor"], device["idProduct"]) == (0x0483, 0xDF11)
        assert device["interfaces"] == [(0xFE, 0x01, 0x02)]            # DFU class, DFU mode protocol
        with imported(emu.port) as client:
            assert client.control(0x01, 11, 0, 0)["status"] == 0       # SET_INTERFACE alt 0 (Internal Flash)

            def get_status() -> bytes:
                reply = client.control(0xA1, DFU_GETSTATUS, length=6)
                assert reply["status"] == 0 and len(reply["data"]) == 6
                return reply["data"]

            status = get_status()
            assert (status[0], status[4]) == (0, DFU_IDLE)
            assert client.control(0x21, DFU_DNLOAD, 0, data=struct.pack("<BI", 0x21, 0x0800_0000))["status"] == 0
            state = get_status()[4]
            assert state == DFU_DNBUSY
            for _ in range(50):                                       # dfu-util polls while dfuDNBUSY
                if state != DFU_DNBUSY:
                    break
                state = get_status()[4]
            assert state == DFU_DNLOAD_IDLE
            assert client.control(0x21, DFU_ABORT)["status"] == 0
            assert get_status()[4] == DFU_IDLE
            upload = client.control(0xA1, DFU_UPLOAD, 2, length=256)
            flash = next(s.data for s in load_elf(ELF / "hello.elf").segments if s.address == 0x0800_0000)
            assert upload["status"] == 0 and upload["data"] == (flash + b"\xff" * 256)[:256]
            assert client.control(0x21, DFU_ABORT)["status"] == 0
            # dfu-util's :leave: zero-length DNLOAD, then GETSTATUS reports dfuMANIFEST and the
            # bootloader leaves the bus and starts the application, which prints and exits
            assert client.control(0x21, DFU_DNLOAD, 2)["status"] == 0
            assert get_status()[4] == DFU_MANIFEST
            assert client.closed_by_server()
        emu.proc.wait(timeout=10)
        output = "".join(emu.lines) + emu.proc.stdout.read()
        assert emu.proc.returncode == 0
        assert "bus id 1-1 is no longer exported" in output and "hello from flash" in output
    finally:
        emu.kill()


def test_ctrl_c_ends_the_served_run_with_status_130_and_the_run_report():
    emu = Emulator(str(ELF / "usb_echo.elf"))
    try:
        with imported(emu.port) as client:
            assert client.control(0x80, 6, 0x0100, length=18)["status"] == 0
            status, output = emu.interrupt()
        assert status == 130
        assert "-- run ended: interrupted" in output and "usb echo ready" in output
    finally:
        emu.kill()


USBIP_TOOL = shutil.which("usbip") or shutil.which("usbip", path="/usr/sbin:/sbin")    # root's tool


@pytest.mark.skipif(USBIP_TOOL is None, reason="the usbip tool is not installed (apt install usbip)")
def test_the_linux_usbip_tool_lists_the_exported_device(echo):
    # `usbip list -r` is the user-space half of the real tool and needs no kernel module;
    # `usbip attach` (vhci-hcd) cannot be loaded on the test machines
    done = subprocess.run([USBIP_TOOL, "--tcp-port", str(echo.port), "list", "-r", "127.0.0.1"],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert re.search(r"1-1: .*\(0483:c071\)", done.stdout), done.stdout
    assert re.search(r"0 - .*\(ff/00/00\)", done.stdout), done.stdout


# -- hostile clients (regressions from the fuzzing campaign) --------------------------------------------
def test_set_address_with_any_recipient_bits_is_intercepted_and_the_device_keeps_answering(echo):
    with imported(echo.port) as client:
        for request_type in (0x01, 0x02, 0x03, 0x80):
            assert client.control(request_type, 5, 5)["status"] == 0
        assert client.control(0x80, 6, 0x0100, length=18)["status"] == 0     # still at its address
        assert echoes(client, b"still here")
    with imported(echo.port) as client:                                       # and for the next importer
        assert client.control(0x80, 6, 0x0100, length=18)["status"] == 0


def test_an_out_urb_claiming_2_gib_is_refused_by_status_and_its_bytes_are_skipped(echo):
    with imported(echo.port) as client:
        client.seqnum += 1
        client.directions[client.seqnum] = OUT
        claimed = 0x7FFF_FFF0
        client.sock.sendall(struct.pack(">IIIIIIiiii8s", CMD_SUBMIT, client.seqnum, DEVID, OUT, 1, 0, claimed, 0, -1,
                                        0, bytes(8)))
        reply = client.reply()
        assert reply["seqnum"] == client.seqnum and reply["status"] == -EMSGSIZE
        # what follows on the wire is payload of the refused URB: the server skips it; a client that
        # gives up on that URB has to reconnect, and the next importer is served as usual
    with imported(echo.port) as client:
        assert echoes(client, b"served after the refused URB")


def test_idle_connections_beyond_the_limit_do_not_lock_out_a_well_formed_client(echo):
    idle = [socket.create_connection(("127.0.0.1", echo.port), timeout=5) for _ in range(3 * MAX_CONNECTIONS)]
    try:
        with imported(echo.port) as client:
            assert echoes(client, b"through the crowd")
    finally:
        for sock in idle:
            sock.close()
