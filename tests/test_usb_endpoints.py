"""Firmware on the USB model beyond plain bulk (RM0490 §31.5): isochronous IN and OUT and
double-buffered bulk (images/usb/usb_stream.c), suspend, resume and remote wake-up
(images/usb/usb_suspend.c), each driven by the simulated host."""
from __future__ import annotations

import struct

import pytest

from emulator.host.usb_host import ACK, UsbHost
from tests.conftest import boot



@pytest.fixture
def stream():
    m = boot("usb_stream")
    host = UsbHost(m)
    info = host.enumerate()
    return m, host, info.address


def iso_in_packet(k: int) -> bytes:
    return bytes([k & 0xFF]) + bytes((k * 3 + i) & 0xFF for i in range(1, 16))


def test_isochronous_out_takes_one_packet_per_frame_each_with_its_own_data(stream):
    m, host, address = stream
    packets = [bytes([k]) + bytes((k * 5 + i) & 0xFF for i in range(1, 10 + 3 * k)) for k in range(12)]
    results = host.run(host.iso_out(address, 1, packets))
    assert results == ["ISO"] * 12                                      # no handshake phase
    m.run(max_seconds=0.001)                                            # the firmware takes the last one
    log = m.symbol("iso_out_log")
    records = [tuple(m.read32(log + 16 * k + 4 * i) for i in range(4)) for k in range(12)]
    assert [(r[0], r[1], r[2]) for r in records] == [(len(p), p[0], sum(p)) for p in packets]
    frames = [r[3] for r in records]
    assert frames == list(range(frames[0], frames[0] + 12))             # one per frame, none lost
    assert m.read32(m.symbol("iso_out_packets")) == 12
    # every packet went out as DATA0: no data toggle on a full-speed isochronous endpoint
    assert {t.pid for t in host.log if t.token == "OUT" and t.endpoint == 1} == {0}


def test_isochronous_in_sends_the_next_packet_every_frame_as_data0(stream):
    m, host, address = stream
    packets = host.run(host.iso_in(address, 1, 20))
    assert packets == [iso_in_packet(k) for k in range(20)]             # no empty frame, in order
    ins = [t for t in host.log if t.token == "IN" and t.endpoint == 1]
    assert {t.pid for t in ins} == {0} and {t.handshake for t in ins} == {"ISO"}
    gaps = {round((b.time_s - a.time_s) * 1e3, 6) for a, b in zip(ins, ins[1:])}
    assert gaps == {1.0}                                                # frame-bound


def test_double_buffered_bulk_out_receives_a_stream_intact(stream):
    m, host, address = stream
    data = bytes((i * 11 + 5) & 0xFF for i in range(8192))
    assert host.bulk_write(0x02, data) == len(data)
    count, digest, _, _ = struct.unpack("<4I", host.control_transfer(0xC0, 0x20, length=16))
    expected = 0
    for byte in data:
        expected = (expected * 31 + byte) & 0xFFFF_FFFF
    assert (count, digest) == (len(data), expected)
    chep3 = m.usb.reg["CHEP3R"].value
    assert chep3 >> 12 & 3 == 3                                          # STAT_RX stays VALID throughout


def test_double_buffered_bulk_in_streams_packets_in_order(stream):
    m, host, address = stream
    got = host.bulk_read(0x82, 4096)
    assert got == bytes((j * 7 + 3) & 0xFF for j in range(4096))
    ins = [t for t in host.log if t.token == "IN" and t.endpoint == 2 and t.handshake == ACK]
    assert [t.pid for t in ins[:4]] == [0, 1, 0, 1]


@pytest.fixture
def suspender():
    m = boot("usb_suspend")
    host = UsbHost(m)
    host.enumerate()
    return m, host


def counters(host: UsbHost) -> dict[str, int]:
    names = ("suspends", "wakeups", "esofs", "remote_wakeups", "suspend_ready_seen")
    return dict(zip(names, struct.unpack("<5I", host.control_transfer(0xC0, 0x31, length=20))))


def test_idle_bus_gives_esof_then_susp_and_the_firmware_suspends(suspender):
    m, host = suspender
    host.run(host.suspend(idle_s=0.010))
    events = [e for e in m.trace.events if e.kind == "usb.suspend"]
    assert "3 ms without SOF" in events[0].text
    assert 0.003 <= events[0].seconds - host.last_sof_s < 0.0035     # 3 ms after the last SOF
    cntr = m.usb.reg["CNTR"].value
    assert cntr & (1 << 3) and cntr & (1 << 2)                           # SUSPEN set, SUSPRDY reads 1
    assert [m.read32(m.symbol(s)) for s in ("suspends", "esofs", "suspend_ready_seen")] == [1, 3, 1]
    assert m.usb.reg["FNR"].value >> 11 & 3 == 3                         # LSOF counted three


def test_host_resume_sets_wkup_and_the_device_answers_again(suspender):
    m, host = suspender
    host.run(host.suspend(idle_s=0.010))
    host.run(host.resume())
    assert not m.usb.reg["CNTR"].value & 0b1100                          # SUSPEN and SUSPRDY cleared
    assert counters(host) == {"suspends": 1, "wakeups": 1, "esofs": 3, "remote_wakeups": 0,
                              "suspend_ready_seen": 1}


def test_remote_wakeup_l2res_makes_the_host_resume_the_bus(suspender):
    m, host = suspender
    host.control_transfer(0x40, 0x30)                                   # arm remote wake-up
    sofs = host.sofs
    host.run(host.suspend(idle_s=0.050))
    assert host.remote_wakeups == 1 and not host.suspended
    assert host.sofs > sofs                                              # SOFs again after the resume
    tokens = [t.token for t in host.log]
    assert tokens[tokens.index("SUSP"):][:3] == ["SUSP", "WAKE", "RESUM"]
    assert counters(host)["remote_wakeups"] == 1 and counters(host)["wakeups"] == 1
    assert not [e for e in m.trace.events if "must last" in e.text]    # 5 ms: within 1-15 ms


def test_l2res_on_an_active_bus_is_reported_and_not_signalled(suspender):
    m, host = suspender
    m.bus_write(0x4000_5C40, m.bus_read(0x4000_5C40) | 1 << 4)          # CNTR.L2RES, bus running
    m.bus_write(0x4000_5C40, m.bus_read(0x4000_5C40) & ~(1 << 4))
    assert host.remote_wakeups == 0
    texts = [e.text for e in m.trace.events if e.kind == "usb.wakeup"]
    assert any("not suspended" in t for t in texts) and any("must last" in t for t in texts)
