"""The simulated USB host against the usb_echo firmware (polled and interrupt-driven)."""
from __future__ import annotations

import pytest

from emulator.host.usb_host import (ACK, NAK, In, UsbDisconnected, UsbHost, UsbProtocolError, UsbStall,
                                    UsbTimeout, parse_configuration)
from tests.conftest import boot

RCC_CR, RCC_APBENR1, RCC_CCIPR2 = 0x4002_1000, 0x4002_103C, 0x4002_1058
USBEN, CRSEN = 1 << 13, 1 << 16
USB_DADDR = 0x4000_5C4C
PATTERN = bytes((i * 7 + 3) & 0xFF for i in range(65536))


def enumerated(image: str = "usb_echo") -> tuple:
    m = boot(image)
    host = UsbHost(m)
    info = host.enumerate()
    return m, host, info


@pytest.fixture(params=["usb_echo", "usb_echo_irq"])
def device(request):
    return enumerated(request.param)


def test_host_enumerates_the_echo_device_and_lists_its_descriptors(device):
    m, host, info = device
    assert (info.vendor_id, info.product_id, info.max_packet_size0) == (0x0483, 0xC071, 64)
    assert info.strings == {1: "c071emu", 2: "USB echo", 3: "0001", 4: "echo"}
    assert [(e["address"], e["type"], e["max_packet"]) for e in info.interfaces[0]["endpoints"]] == \
        [(0x01, "bulk", 64), (0x81, "bulk", 64)]
    assert "device 0483:c071 at address 1" in info.describe()
    assert m.bus_read(USB_DADDR) == 0x81
    assert m.read32(m.symbol("usb_configuration")) == 1
    assert "usb echo ready" in m.guest_output


def test_bulk_echo_round_trips_64_kib_intact(device):
    m, host, info = device
    echoed = bytearray()
    for offset in range(0, len(PATTERN), 4096):
        assert host.bulk_write(0x01, PATTERN[offset:offset + 4096]) == 4096
        echoed += host.bulk_read(0x81, 4096)
    assert echoed == PATTERN
    count = host.control_transfer(0xC0, 0x01, length=4)
    assert int.from_bytes(count, "little") == len(PATTERN)


def test_in_is_naked_until_data_is_there_then_acked():
    m, host, info = enumerated()

    def flow():
        first = yield In(1, 1, 0)
        yield from host.out_packet(1, 1, b"ping", deadline=host.now() + 0.1)
        data = yield from host.in_packet(1, 1, deadline=host.now() + 0.1)
        return first[0], data

    handshake, data = host.run(flow())
    assert handshake == NAK and data == b"ping"
    ins = [t for t in host.log if t.token == "IN" and t.endpoint == 1]
    assert ins[0].handshake == NAK and ins[-1].handshake == ACK


def test_out_is_naked_while_the_echo_buffer_is_full():
    m, host, info = enumerated()
    with pytest.raises(UsbTimeout, match="NAK"):
        host.bulk_write(0x01, bytes(8192), timeout_s=0.05)
    outs = [t for t in host.log if t.token == "OUT" and t.endpoint == 1]
    assert outs[-1].handshake == NAK
    assert len(host.bulk_read(0x81, 4096)) == 4096        # draining lets the device accept again


def _nak_heavy_session() -> tuple:
    m, host, info = enumerated()
    # HCLK 6 MHz (HSI48 / 8): a USB bit is half a core cycle, so every host delay is rounded
    # to the cycle grid, as the flow's own steps round them
    m.bus_write(RCC_CR, m.bus_read(RCC_CR) & ~(7 << 11) | 3 << 11)
    with pytest.raises(UsbTimeout, match="NAK"):
        host.bulk_write(0x01, bytes(8192), timeout_s=0.05)
    with pytest.raises(UsbTimeout, match="NAK"):
        host.bulk_read(0x81, 8192, timeout_s=0.05)          # drained, then NAKed until the deadline
    log = [(round(t.time_s * 1e12), t.token, t.endpoint, t.handshake) for t in host.log]
    return log, m.clock.cycles, m.loop.slices


def test_nak_retries_by_the_host_match_the_flow_driven_ones_transaction_for_transaction(monkeypatch):
    """The host retries a NAKed IN/OUT itself (one event per retry); a flow doing it (the
    reference, as before) sees the same transactions at the same times and the same timeouts."""
    by_host, cycles, slices = _nak_heavy_session()
    monkeypatch.setattr(UsbHost, "_nak_retry", lambda self, *args: None)
    by_flow, flow_cycles, flow_slices = _nak_heavy_session()
    assert sum(1 for t in by_host if t[3] == NAK) > 100      # paced once per frame past the fast retries
    assert by_host == by_flow and cycles == flow_cycles
    assert slices < flow_slices


def test_unknown_request_is_stalled_and_ep0_recovers():
    m, host, info = enumerated()
    with pytest.raises(UsbStall, match="0xc0/0x55"):
        host.control_transfer(0xC0, 0x55, length=4)
    assert any(t.handshake == "STALL" for t in host.log)
    assert host.control_transfer(0x80, 8, length=1) == b"\x01"      # GET_CONFIGURATION still works


def test_vendor_control_out_then_in_round_trips():
    m, host, info = enumerated()
    blob = bytes(range(100))
    assert host.control_transfer(0x40, 0x02, data=blob) == 100
    assert host.control_transfer(0xC0, 0x03, length=200) == blob


def test_out_with_wrong_data_toggle_is_acked_but_discarded():
    m, host, info = enumerated()
    key = (1, 1, "out")
    host.toggles[key] = host.toggles.get(key, 0) ^ 1     # host and device now disagree
    host.bulk_write(0x01, b"A" * 64)                     # ACKed as a retransmission, dropped
    host.bulk_write(0x01, b"B" * 64)                     # host toggle is back in step
    assert host.bulk_read(0x81, 64) == b"B" * 64
    with pytest.raises(UsbTimeout):
        host.bulk_read(0x81, 64, timeout_s=0.01)
    assert [t.handshake for t in host.log if t.token == "OUT" and t.endpoint == 1][:2] == [ACK, ACK]


def test_in_with_wrong_data_toggle_is_ignored_by_the_host():
    m, host, info = enumerated()
    host.toggles[(1, 1, "in")] = 1
    host.bulk_write(0x01, b"x" * 64 + b"y" * 64)
    assert host.bulk_read(0x81, 64) == b"y" * 64
    assert any("toggle mismatch" in t.note for t in host.log)


def test_device_absent_without_usben():
    m, host, info = enumerated()
    m.bus_write(RCC_APBENR1, CRSEN)                      # firmware's USBEN cleared behind its back
    assert not m.usb.attached()
    with pytest.raises(UsbDisconnected):
        host.control_transfer(0x80, 8, length=1)


def test_device_absent_without_the_48_mhz_kernel_clock():
    m, host, info = enumerated()
    m.bus_write(RCC_CCIPR2, 1 << 12)                     # USBSEL = HSE, and no HSE is fitted
    assert m.rcc.usb_kernel_clock_hz() == 0
    with pytest.raises(UsbDisconnected):
        host.control_transfer(0x80, 8, length=1)
    host2 = UsbHost(m)
    with pytest.raises(UsbDisconnected, match="no device attached"):
        host2.run(host2.wait_attach(timeout_s=0.01))


def test_dppu_left_on_across_a_usben_clear_keeps_the_old_state():
    m, host, info = enumerated()
    m.bus_write(RCC_APBENR1, CRSEN)
    host.run(_idle(0.005))
    assert not m.usb.attached()
    m.bus_write(RCC_APBENR1, CRSEN | USBEN)
    assert m.usb.attached()
    assert m.bus_read(USB_DADDR) == 0x81                 # address survived: no re-enumeration needed
    assert host.control_transfer(0x80, 8, length=1) == b"\x01"
    host.bulk_write(0x01, b"still configured")
    assert host.bulk_read(0x81, 64) == b"still configured"


def _idle(seconds):
    from emulator.host.usb_host import Wait
    yield Wait(seconds)


def test_crs_reports_syncok_on_usb_sof():
    m, host, info = enumerated()
    assert host.sofs > 0
    assert m.read32(m.symbol("crs_synced")) == 1
    assert any(e.kind == "crs.sync" for e in m.trace.events)


def test_transaction_log_is_deterministic():
    logs = []
    for _ in range(2):
        m, host, info = enumerated()
        host.bulk_write(0x01, PATTERN[:1000])
        host.bulk_read(0x81, 1000)
        logs.append([(t.time_s, t.token, t.address, t.endpoint, t.data, t.pid, t.handshake) for t in host.log])
    assert logs[0] == logs[1]
    assert "SETUP addr   0" in host.format_log()


def test_malformed_configuration_descriptor_is_a_protocol_error():
    with pytest.raises(UsbProtocolError, match="bad bLength"):
        parse_configuration(bytes([9, 2, 12, 0, 1, 1, 0, 0x80, 50, 0, 4, 0]), 12)
    with pytest.raises(UsbProtocolError, match="wTotalLength"):
        parse_configuration(bytes(9), 32)


FULL_SPEED_BULK_CEILING = 19 * 64 / 1e-3          # bytes/s: 19 64-byte packets per 1 ms frame (USB 2.0 §5.8.4)


def test_bulk_throughput_in_simulated_time_stays_under_the_full_speed_ceiling():
    m, host, info = enumerated()
    for offset in range(0, 16384, 4096):
        start = m.clock.seconds()
        assert host.bulk_write(0x01, PATTERN[offset:offset + 4096]) == 4096
        wrote = m.clock.seconds() - start
        start = m.clock.seconds()
        assert host.bulk_read(0x81, 4096) == PATTERN[offset:offset + 4096]
        read = m.clock.seconds() - start
        assert 4096 / wrote <= FULL_SPEED_BULK_CEILING and 4096 / read <= FULL_SPEED_BULK_CEILING
    # every data packet, IN as OUT, costs its time on the wire: no two 64-byte packets closer
    # than 64 bytes at the ceiling rate
    for direction in ("IN", "OUT"):
        times = [t.time_s for t in host.log if t.token == direction and t.endpoint == 1
                 and t.handshake == ACK and len(t.data) == 64]
        assert len(times) > 100
        assert min(b - a for a, b in zip(times, times[1:])) >= 64 / FULL_SPEED_BULK_CEILING


def test_interrupt_endpoint_is_polled_once_per_binterval():
    """The host polls an interrupt IN endpoint once per bInterval frames, NAK or not (the echo's
    bulk IN is declared interrupt with bInterval 4 on the host side: its poll schedule is host logic)."""
    m, host, info = enumerated()
    host.poll_period[(1, 0x81)] = 4e-3
    start = len(host.log)
    with pytest.raises(UsbTimeout):
        host.bulk_read(0x81, 64, timeout_s=0.05)
    polls = [t.time_s for t in host.log[start:] if t.token == "IN" and t.endpoint == 1]
    gaps = [b - a for a, b in zip(polls, polls[1:])]
    assert 11 <= len(polls) <= 14 and all(abs(g - 4e-3) < 1e-6 for g in gaps)
    host.bulk_write(0x01, b"data")
    assert host.bulk_read(0x81, 64) == b"data"


def test_enumeration_records_binterval_of_interrupt_endpoints():
    config = bytes([9, 2, 32, 0, 1, 1, 0, 0x80, 50, 9, 4, 0, 0, 2, 3, 0, 0, 0,
                    7, 5, 0x81, 3, 8, 0, 10, 7, 5, 0x02, 2, 64, 0, 0])
    eps = parse_configuration(config, 32)[0]["endpoints"]
    assert [(e["type"], e["interval"]) for e in eps] == [("interrupt", 10), ("bulk", 0)]
