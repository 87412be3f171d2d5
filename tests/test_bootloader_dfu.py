"""The reference system bootloader (images/bootloader) over USB DfuSe, driven by the
DfuSe host (emulator/host/dfuse.py) as dfu-util, pydfu and STM32CubeProgrammer do."""
from __future__ import annotations

import struct

import pytest

from emulator.host.dfuse import (DFU_DNBUSY, DFU_DNLOAD_IDLE, DFU_DNLOAD_SYNC, DFU_ERROR, DFU_IDLE,
                                 DFU_MANIFEST, DFU_MANIFEST_SYNC, DFU_UPLOAD_IDLE, ERR_STALLEDPKT, ERR_TARGET,
                                 ERR_VENDOR, OK, DfuError, DfuSession, parse_memory_string)
from emulator.host.usb_host import UsbStall, UsbTimeout, Wait
from emulator.image import load_elf
from tests.conftest import boot, elf

BOOT0_OPTR = 0x3EEF_FEAA            # factory OPTR with nBOOT_SEL = 0: the BOOT0 pin selects
FLASH = 0x0800_0000
PAGE = 2048
OPTION_BYTES = 0x1FFF_7800
SCB_VTOR, SYST_LOAD, RCC_CR, FLASH_ACR = 0xE000_ED08, 0xE000_E014, 0x4002_1000, 0x4002_2000


def boot_bootloader(app: str = "hello", **options):
    option_bytes = {"OPTR": BOOT0_OPTR, **options}
    return boot("bootloader", app, boot_pin=1, option_bytes=option_bytes)


def session(app: str = "hello", style: str = "dfu-util", **options) -> DfuSession:
    s = DfuSession(boot_bootloader(app, **options), style=style)
    s.enumerate()
    return s


def flash_image(name: str, size: int = 8192) -> bytes:
    """The flash bytes of images/elf/<name>.elf, padded to ``size`` with a pattern (not 0xFF)."""
    data = bytearray(bytes((i * 13 + 5) & 0xFF for i in range(size)))
    for seg in load_elf(elf(name)).segments:
        if FLASH <= seg.address < FLASH + size:
            data[seg.address - FLASH:seg.address - FLASH + len(seg.data)] = seg.data
    return bytes(data)


def dfu_state(s: DfuSession) -> tuple[int, int]:
    status = s.host.run(s.client.get_status())
    return status.state, status.status


# -- identity ------------------------------------------------------------------------------
def test_boot0_entry_enumerates_as_st_dfuse_device_with_three_memories():
    s = session()
    d = s.device
    assert (d.vendor_id, d.product_id, d.bcd_device) == (0x0483, 0xDF11, 0x0200)
    assert d.functional == {"bmAttributes": 0x0B, "wDetachTimeOut": 255, "wTransferSize": 1024,
                            "bcdDFUVersion": 0x011A}
    assert d.strings[1] == "STMicroelectronics" and d.strings[2] == "DFU in FS Mode"
    assert [d.memories[a].name for a in range(3)] == ["Internal Flash", "Option Bytes", "OTP Memory"]
    flash = d.memories[0].segments[0]
    assert (flash.start, flash.count, flash.size, flash.readable, flash.erasable, flash.writable) == \
        (FLASH, 64, PAGE, True, True, True)
    ob = d.memories[1].segments[0]
    assert (ob.start, ob.size, ob.readable, ob.erasable, ob.writable) == (OPTION_BYTES, 128, True, False, True)
    assert s.get_commands() == bytes([0x00, 0x21, 0x41, 0x92])


def test_dfuse_memory_strings_parse_like_dfu_util():
    layout = parse_memory_string("@Internal Flash  /0x08000000/04*016Kg,01*064Kg,07*128Kg")
    assert [(hex(x.start), x.count, x.size) for x in layout.segments] == \
        [("0x8000000", 4, 16384), ("0x8010000", 1, 65536), ("0x8020000", 7, 131072)]
    assert layout.segment(0x0801_0000).size == 65536


def test_bootloader_writes_vtor_and_relies_on_reset_state_for_sysclk():
    s = session()
    m = s.m
    assert m.scb.vtor == 0x1FFF_0000                             # the default design writes VTOR (FACTS §7)
    assert m.bus_read(RCC_CR) >> 11 & 7 == 0b010                 # HSIDIV /4 untouched: 12 MHz
    assert m.bus_read(FLASH_ACR) & 7 == 0                        # no wait state written
    assert m.bus_read(SYST_LOAD) == 11_999                       # 1 ms at the assumed 12 MHz
    assert m.cpu.primask() == 0                                  # cpsie i executed once
    assert m.read32(m.symbol("bl_ticks")) > 100
    assert not any(e.kind == "exception.taken" and "HardFault" in e.text for e in m.trace.events)


def test_bootloader_image_fits_system_memory_and_its_ram_is_the_bottom_of_sram():
    image = load_elf(elf("bootloader"))
    for seg in image.segments:
        assert 0x1FFF_0000 <= seg.address and seg.address + len(seg.data) <= 0x1FFF_7000
    for name in ("bl_ticks", "dfu_state", "dfu_pointer", "usb_configuration"):
        assert 0x2000_0000 <= image.symbols[name] < 0x2000_2300   # below the host's RAM (FACTS §7)
    assert struct.unpack_from("<I", next(seg.data for seg in image.segments if seg.address == 0x1FFF_0000))[0] \
        == 0x2000_2300


# -- the acceptance flow ---------------------------------------------------------------------
def test_boot0_entry_uploads_erases_programs_verifies_and_runs_the_new_application():
    s = session("hello")
    m = s.m
    flash = s.upload(FLASH, PAGE)
    hello = load_elf(elf("hello")).segments[0].data
    assert flash == hello + b"\xff" * (PAGE - len(hello))
    ob = s.upload(OPTION_BYTES, 128)
    assert struct.unpack_from("<II", ob) == (BOOT0_OPTR, ~BOOT0_OPTR & 0xFFFF_FFFF)
    s.erase_pages(range(FLASH, FLASH + 64 * PAGE, PAGE))
    assert m.flash.load(FLASH, 0x20000) == b"\xff" * 0x20000
    image = flash_image("systick")
    s.download(FLASH, image, erase=False)
    s.verify(FLASH, image)
    status = s.leave(FLASH)
    assert (status.state, status.status) == (DFU_MANIFEST, OK)
    end = m.run(max_seconds=1.0)
    assert end.reason.value == "exit" and end.exit_status == 0
    assert "10 ticks" in m.guest_output and "hello" not in m.guest_output
    assert all(step.ok for step in s.steps)
    assert [step.name.split()[0] for step in s.steps] == \
        ["enumerate", "upload", "upload", "erase", "download", "verify", "leave"]
    assert not m.usb.attached()                                  # detached before the jump
    report = s.flow_report()
    assert "erase 64 page(s)" in report and "FAILED" not in report


def test_dfu_util_download_erases_the_touched_pages_then_writes_each_chunk():
    s = session()
    image = flash_image("systick", 3000)
    s.download(FLASH + PAGE, image)
    s.verify(FLASH + PAGE, image)
    requests = [(e.request, e.detail.split(" (")[-1]) for e in s.client.log if e.request == "DNLOAD"]
    erases = [d for r, d in requests if d.startswith("erase")]
    assert erases == ["erase page at 0x08000800)", "erase page at 0x08001000)"]
    writes = [d for r, d in requests if d.startswith("write")]
    assert writes == ["write 1024 B at 0x08000800)", "write 1024 B at 0x08000C00)", "write 952 B at 0x08001000)"]
    # dfu-util: first GETSTATUS dfuDNBUSY, sleep bwPollTimeout, then the result
    log = s.client.log
    first_erase = next(i for i, e in enumerate(log) if "erase page" in e.detail)
    busy, done = log[first_erase + 1], log[first_erase + 2]
    assert "dfuDNBUSY, bwPollTimeout 25 ms" in busy.reply and "OK, dfuDNLOAD-IDLE" in done.reply
    assert done.time_s - busy.time_s >= 0.025


def test_pydfu_style_sends_two_getstatus_without_waiting():
    s = session(style="pydfu")
    image = flash_image("hello", 1024)
    s.download(FLASH, image)
    s.verify(FLASH, image)
    log = s.client.log
    i = next(i for i, e in enumerate(log) if "erase page" in e.detail)
    assert [e.request for e in log[i:i + 3]] == ["DNLOAD", "GETSTATUS", "GETSTATUS"]
    assert "dfuDNBUSY" in log[i + 1].reply and "dfuDNLOAD-IDLE" in log[i + 2].reply
    assert log[i + 2].time_s - log[i + 1].time_s < 0.005        # no sleep: the device NAKs until done
    s.leave(FLASH)
    assert s.m.run(max_seconds=1.0).exit_status == 0 and "hello from flash" in s.m.guest_output


def test_mass_erase_clears_all_of_main_flash():
    s = session()
    s.mass_erase()
    assert s.m.flash.load(FLASH, 0x20000) == b"\xff" * 0x20000
    assert [op[0] for op in s.m.flash_controller.operations] == ["mass erase"]


def test_leave_to_erased_flash_resets_into_the_bootloader_again():
    s = session()
    s.mass_erase()
    s.leave(FLASH)                                     # [0x08000000] = 0xFFFFFFFF: no valid stack pointer
    s.m.run(max_seconds=0.01)                          # detach and reset happen after the last reply
    again = DfuSession(s.m)
    assert again.enumerate().product_id == 0xDF11
    assert any(e.kind == "reset" and "system" in e.text for e in s.m.trace.events)


def test_option_bytes_write_reloads_options_and_resets():
    s = session()
    block = bytearray(s.upload(OPTION_BYTES, 128))
    struct.pack_into("<II", block, 0x18, 0x0005_0004, ~0x0005_0004 & 0xFFFF_FFFF)    # WRP1AR: pages 4-5
    status = s.write_option_bytes(bytes(block))
    assert status.state == DFU_DNBUSY                  # the result never comes: OBL_LAUNCH resets
    s.m.run(max_seconds=0.2)
    assert s.m.flash_controller.reg["WRP1AR"].value == 0x0005_0004
    assert any(e.kind == "reset" and "obl" in e.text for e in s.m.trace.events)
    again = DfuSession(s.m)
    again.enumerate()
    with pytest.raises(DfuError) as err:
        again.erase_pages([FLASH + 4 * PAGE])
    assert err.value.status == ERR_VENDOR


# -- errors ---------------------------------------------------------------------------------------
def test_erase_of_a_write_protected_page_reports_dfuerror_errvendor():
    s = session(WRP1AR=0x0003_0002)                    # pages 2-3 write-protected
    with pytest.raises(DfuError) as err:
        s.erase_pages([FLASH + 2 * PAGE])
    assert (err.value.state, err.value.status) == (DFU_ERROR, ERR_VENDOR)
    assert not s.steps[-1].ok and "errVENDOR" in s.steps[-1].detail
    assert dfu_state(s) == (DFU_ERROR, ERR_VENDOR)
    s.host.run(s.client.clear_status())
    assert dfu_state(s) == (DFU_IDLE, OK)
    s.erase_pages([FLASH + 4 * PAGE])                  # the flags were cleared: the next erase works
    with pytest.raises(DfuError) as err:
        s.download(FLASH + 2 * PAGE, b"\x00" * 8, erase=False)
    assert err.value.status == ERR_VENDOR


def test_erase_outside_main_flash_and_unknown_commands_report_errtarget():
    s = session()
    with pytest.raises(DfuError) as err:
        s.host.run(s.client.erase_page(0x2000_0000))
    assert (err.value.state, err.value.status) == (DFU_ERROR, ERR_TARGET)
    s.host.run(s.client.clear_status())
    with pytest.raises(DfuError) as err:
        s.host.run(s.client.special_command(b"\x55", "unknown command"))
    assert err.value.status == ERR_TARGET


def test_request_in_the_wrong_state_is_stalled_with_errstalledpkt():
    s = session()
    s.host.run(s.client.set_address(FLASH))            # now dfuDNLOAD-IDLE
    with pytest.raises(UsbStall):
        s.host.run(s.client.upload(2, 64))
    assert dfu_state(s) == (DFU_ERROR, ERR_STALLEDPKT)
    with pytest.raises(UsbStall):                      # in dfuERROR only GETSTATUS/GETSTATE/CLRSTATUS
        s.host.run(s.client.dnload(0, b"\x21\x00\x00\x00\x08"))
    assert dfu_state(s) == (DFU_ERROR, ERR_STALLEDPKT)
    s.host.run(s.client.clear_status())
    assert dfu_state(s) == (DFU_IDLE, OK)
    s.host.run(s.client.upload(0, 4))                  # dfuUPLOAD-IDLE
    with pytest.raises(UsbStall):
        s.host.run(s.client.dnload(2, b"\x00" * 8))
    assert dfu_state(s) == (DFU_ERROR, ERR_STALLEDPKT)


def test_getstatus_state_machine_transitions():
    s = session()
    c, run = s.client, s.host.run
    assert run(c.get_state()) == DFU_IDLE
    run(c.dnload(0, struct.pack("<BI", 0x21, FLASH + 0x100)))
    assert run(c.get_state()) == DFU_DNLOAD_SYNC       # DNLOAD only stores the command
    busy = run(c.get_status())
    assert (busy.state, busy.status, busy.poll_timeout_ms) == (DFU_DNBUSY, OK, 1)
    done = run(c.get_status())
    assert (done.state, done.status) == (DFU_DNLOAD_IDLE, OK)
    assert s.m.read32(s.m.symbol("dfu_pointer")) == FLASH + 0x100
    run(c.abort())
    assert run(c.get_state()) == DFU_IDLE
    run(c.upload(0, 4))
    assert run(c.get_state()) == DFU_UPLOAD_IDLE
    run(c.abort())
    run(c.dnload(0, b""))                              # zero-length DNLOAD: leave
    assert run(c.get_state()) == DFU_MANIFEST_SYNC
    manifest = run(c.get_status())
    assert manifest.state == DFU_MANIFEST
    end = s.m.run(max_seconds=1.0)                     # pointer 0x08000100 is no vector table -> reset
    assert end.reason.value != "exit"


def test_readout_protection_refuses_flash_upload_and_erase_with_errvendor():
    s = session(OPTR=(BOOT0_OPTR & ~0xFF) | 0xBB)      # RDP level 1, booted from system memory
    with pytest.raises(UsbStall):
        s.upload(FLASH, 64)
    assert dfu_state(s) == (DFU_ERROR, ERR_VENDOR)
    s.host.run(s.client.clear_status())
    with pytest.raises(DfuError) as err:
        s.erase_pages([FLASH])
    assert err.value.status == ERR_VENDOR
    s.host.run(s.client.clear_status())
    assert s.upload(OPTION_BYTES, 128)[0] == 0xBB      # option bytes stay readable


def test_device_that_stops_answering_is_a_host_timeout_in_simulated_time():
    s = session()
    s.m.bus_write(0xE000_E100, 1 << 9)                 # an IRQ the bootloader never handles: it parks
    s.m.bus_write(0xE000_E200, 1 << 9)
    with pytest.raises(UsbTimeout, match="simulated deadline"):
        s.erase_pages([FLASH])
    step = s.steps[-1]
    assert not step.ok and "UsbTimeout" in step.detail and step.end_s - step.start_s >= 1.0
    assert "no answer" in s.client.log[-1].reply


def test_hardware_watchdog_is_refreshed_by_the_main_loop():
    m = boot_bootloader(OPTR=BOOT0_OPTR & ~(1 << 16))   # IWDG_SW = 0: watchdog runs from reset
    s = DfuSession(m)
    s.enumerate()
    s.host.run(_idle(2.0), timeout_s=3.0)
    assert [e.text for e in m.trace.events if e.kind == "reset"] == ["power reset; boot from system memory"]
    assert m.seconds() > 2.0
    assert s.get_commands()[0] == 0x00


def _idle(seconds):
    yield Wait(seconds)


# -- determinism ----------------------------------------------------------------------------------
def test_dfu_log_and_flow_report_are_deterministic():
    runs = []
    for _ in range(2):
        s = session()
        s.upload(FLASH, 1024)
        s.download(FLASH + 8 * PAGE, flash_image("hello", 2048))
        s.leave(FLASH)
        runs.append((s.format_log(), s.flow_report(), s.host.format_log()))
    assert runs[0] == runs[1]
    assert "GETSTATUS" in runs[0][0] and "dfuDNBUSY" in runs[0][0]


def test_otp_is_written_through_alternate_setting_2():
    s = session()
    data = bytes(range(16))
    s.download(0x1FFF_7000, data, erase=False)
    s.verify(0x1FFF_7000, data)
    assert s.alternate == 2 and s.m.otp.load(0x1FFF_7000, 16) == data
    with pytest.raises(DfuError, match="not erasable"):
        s.download(0x1FFF_7000, data)                 # dfu-util refuses: the OTP string has no 'e' bit


@pytest.mark.parametrize("address, options", [
    (0x0800_0001, {}),                                  # unaligned: reading [address] would fault
    (0x0802_0000, {}),                                  # past the end of the 128 KiB flash
    (0x2000_6000, {}),                                  # past the end of the 24 KiB SRAM
    (FLASH, {"OPTR": (BOOT0_OPTR & ~0xFF) | 0xBB}),     # RDP 1: flash unreadable from system memory
], ids=["unaligned", "past-flash", "past-sram", "rdp1-flash"])
def test_leave_to_an_address_whose_vectors_cannot_be_read_resets_instead_of_faulting(address, options):
    """AN3156: with no valid code to jump to, the bootloader resets (dfu-util -s ADDR:leave)."""
    s = session(**options)
    s.host.run(s.client.leave(address))
    s.m.run(max_seconds=0.01)                           # detach and reset come after the last reply
    events = s.m.trace.events
    assert any(e.kind == "reset" and "system" in e.text for e in events)
    assert not any(e.kind.startswith("exception.fault") for e in events)
    assert DfuSession(s.m).enumerate().product_id == 0xDF11    # BOOT0 still high: the bootloader again
