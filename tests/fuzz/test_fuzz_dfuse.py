"""DfuSe request sequences against the reference bootloader, with a shadow of what may change.

Each example runs in a process forked from one enumerated BOOT0 session (no re-boot per
case).  The shadow: main flash may change only in pages that a request named (an erase
page, or a write block at a pointer the sequence set), or anywhere after a mass erase or an
RDP regression (read unprotect, an option-byte write); OTP and the option bytes are compared
the same way.  Under RDP 1 no flash byte may be read back.  A sequence over its wall-clock
budget is a hang.
"""
from __future__ import annotations

import signal
import struct

import pytest
from hypothesis import given, strategies as st

from emulator.analysis.replay import run_forked
from emulator.host.dfuse import DfuError, DfuSession
from emulator.host.usb_host import UsbError
from fuzzkit import CASES, FINDINGS
from tests.conftest import boot

FLASH, PAGE, FLASH_SIZE = 0x0800_0000, 2048, 0x2_0000
OTP, OTP_SIZE = 0x1FFF_7000, 1024
OPTION_BYTES = 0x1FFF_7800
BOOT0_OPTR = 0x3EEF_FEAA
PROFILES = {
    "plain": {"OPTR": BOOT0_OPTR},
    "rdp1": {"OPTR": (BOOT0_OPTR & ~0xFF) | 0xBB},
    "wrp": {"OPTR": BOOT0_OPTR, "WRP1AR": 0x003F_0000},        # pages 0..63 write-protected
}
HANG_S = 60
MARKER = bytes((i * 37 + 11) & 0xFF for i in range(FLASH_SIZE))     # recognisable flash contents

addresses = st.one_of(st.sampled_from([FLASH, FLASH + PAGE, FLASH + 0x1_F800, FLASH + FLASH_SIZE, OTP,
                                       OPTION_BYTES, 0x2000_0000, 0x1FFF_0000, 0, 0xFFFF_FFFF]),
                      st.integers(0, 0xFFFF_FFFF))
requests = st.one_of(
    st.tuples(st.just("pointer"), addresses),
    st.tuples(st.just("erase"), addresses),
    st.tuples(st.just("mass-erase"), st.none()),
    st.tuples(st.just("unprotect"), st.none()),
    st.tuples(st.just("write"), st.tuples(st.integers(0, 5), st.binary(min_size=0, max_size=64))),
    st.tuples(st.just("upload"), st.tuples(st.integers(0, 5), st.integers(0, 2048))),
    st.tuples(st.just("raw-dnload0"), st.binary(max_size=9)),
    st.tuples(st.just("getstatus"), st.none()),
    st.tuples(st.just("clrstatus"), st.none()),
    st.tuples(st.just("abort"), st.none()),
    st.tuples(st.just("getstate"), st.none()),
    st.tuples(st.just("alternate"), st.integers(0, 4)),
)


def _session(profile: str) -> DfuSession:
    m = boot("bootloader", "hello", boot_pin=1, option_bytes=PROFILES[profile])
    m.program_flash_directly(FLASH, MARKER)
    s = DfuSession(m)
    s.enumerate()
    return s


SESSIONS: dict[str, DfuSession] = {}


def session(profile: str) -> DfuSession:
    if profile not in SESSIONS:
        SESSIONS[profile] = _session(profile)
    return SESSIONS[profile]


def run_sequence(s: DfuSession, sequence) -> dict:
    """In the forked child: apply the requests; return what changed and what was read."""
    signal.alarm(HANG_S)
    client, host = s.client, s.host
    before = {"flash": bytes(s.m.flash.buffer), "otp": bytes(s.m.otp.buffer),
              "options": bytes(s.m.option_area.buffer)}
    pointers, blocks, wholesale, uploads = {FLASH}, set(), False, []
    for kind, arg in sequence:
        flow = None
        if kind == "pointer":
            pointers.add(arg)
            flow = client.dnload(0, struct.pack("<BI", 0x21, arg))
        elif kind == "erase":
            pointers.add(arg)
            flow = client.dnload(0, struct.pack("<BI", 0x41, arg))
        elif kind == "mass-erase":
            wholesale = True
            flow = client.dnload(0, b"\x41")
        elif kind == "unprotect":
            wholesale = True
            flow = client.dnload(0, b"\x92")
        elif kind == "write":
            block, data = arg
            blocks.add((block, len(data)))
            flow = client.dnload(block, data)
        elif kind == "upload":
            flow = client.upload(*arg)
        elif kind == "raw-dnload0":
            if arg[:1] in (b"\x41", b"\x92"):
                wholesale = True                 # an erase or unprotect with an odd length
            if len(arg) >= 5:
                pointers.add(struct.unpack_from("<I", arg, 1)[0])
            flow = client.dnload(0, arg)
        elif kind == "getstatus":
            flow = client.get_status()
        elif kind == "clrstatus":
            flow = client.clear_status()
        elif kind == "abort":
            flow = client.abort()
        elif kind == "getstate":
            flow = client.get_state()
        elif kind == "alternate":
            if arg == 1:
                wholesale = True                 # option bytes: an RDP regression mass-erases
            flow = client.set_alternate(arg)
        try:
            result = host.run(flow, timeout_s=3.0)
            if kind == "upload":
                uploads.append(bytes(result))
        except (UsbError, DfuError):
            pass
        if s.m.loop.end is not None and s.m.loop.end.reason.value in ("lockup",):
            break
    s.m.run(max_seconds=0.005)
    allowed = set()
    for pointer in pointers:
        for block, length in blocks | {(2, 1)}:
            start = pointer + max(block - 2, 0) * s.transfer_size
            for address in range(start - start % PAGE, start + max(length, 1), PAGE):
                allowed.add(address)
    flash = bytes(s.m.flash.buffer)
    changed_pages = {FLASH + i for i in range(0, FLASH_SIZE, PAGE) if flash[i:i + PAGE] != before["flash"][i:i + PAGE]}
    return {"changed_pages": sorted(changed_pages - allowed) if not wholesale else [],
            "wrp_changed": changed_pages, "wholesale": wholesale,
            "otp_changed": bytes(s.m.otp.buffer) != before["otp"],
            "uploads": uploads}


@pytest.mark.parametrize("profile", sorted(PROFILES))
@given(sequence=st.lists(requests, min_size=1, max_size=12))
def test_dfuse_request_sequences_change_only_what_they_name(profile, sequence):
    CASES["dfuse sequences"] += 1
    s = session(profile)
    try:
        (result,) = run_forked([lambda: run_sequence(s, sequence)], parallel=1)
    except RuntimeError as exc:
        kind = "hang" if "no result" in str(exc) else "traceback"
        FINDINGS["dfuse sequences", kind] += 1
        raise
    unauthorised = result["changed_pages"]
    if profile == "wrp" and not result["wholesale"]:
        unauthorised = sorted(result["wrp_changed"])
    if unauthorised:
        FINDINGS["dfuse sequences", "unauthorised-flash-change"] += 1
    assert not unauthorised, f"flash pages changed that no request named: {[hex(a) for a in unauthorised]}"
    if profile == "rdp1":
        for data in result["uploads"]:
            assert not (len(data) >= 16 and data in MARKER), "flash content read out under RDP 1"
