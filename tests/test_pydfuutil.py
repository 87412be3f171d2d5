"""PyPI's pydfuutil (a Python port of dfu-util), unmodified, against the bundled bootloader entered
through BOOT0, over the libusb-faithful pyusb backend installed as pyusb's default backend: the
tool calls ``usb.core.find()`` with ``backend=None`` and finds the emulated chip.

pydfuutil 0.11.3's command line cannot drive a DfuSe device with several alternate settings (ST's
layout: flash, option bytes, OTP), for two reasons of its own, pinned below with the evidence:
its probe lists every alternate setting once per alternate setting (pyusb iterates a configuration
as one ``Interface`` per alternate setting, and pydfuutil then walks the alternate settings of
each again), so any ``-a`` selection finds "more than one DFU capable USB device"; and its DfuSe
file reader copies the prefix behind an 11-byte zero buffer, so no ``.dfu`` file has a valid
signature.  The same package's DfuSe layer (``pydfuutil.dfuse``: special commands, raw download
with page erase, upload, leave) is driven here as its ``main()`` drives it, on the interface its
own probe found; pyfwup (plain DFU 1.1, no DfuSe address/erase commands, block numbers from 0)
cannot address a DfuSe device at all.
"""
from __future__ import annotations

import contextlib
import importlib
import io
import sys

import pytest
import usb.core
import usb.util

from emulator.host.pyusb_backend import installed_as_default
from emulator.host.usb_host import UsbHost
from tests.test_bootloader_dfu import FLASH, PAGE, boot_bootloader, flash_image

import pydfuutil  # noqa: F401  a declared test dependency: a missing install must fail, not skip


def fresh(module: str):
    """Import a pydfuutil module with fresh state: its CLI keeps options and probe results in
    module and class globals, so each command starts from a clean import, as a new process would."""
    for name in [n for n in sys.modules if n == "pydfuutil" or n.startswith("pydfuutil.")]:
        del sys.modules[name]
    return importlib.import_module(module)


def cli(*args: str) -> tuple[int, str]:
    """Run ``pydfuutil ARGS`` in this process; its exit status and what it printed."""
    main = fresh("pydfuutil.__main__").main
    out = io.StringIO()
    saved = sys.argv
    sys.argv = ["pydfuutil", *args]
    try:
        with contextlib.redirect_stdout(out):
            main()
        status = 0
    except SystemExit as exit_:
        status = int(exit_.code or 0)
    finally:
        sys.argv = saved
    return status, out.getvalue()


@pytest.fixture
def bootloader():
    m = boot_bootloader("hello")
    host = UsbHost(m)
    host.enumerate()
    with installed_as_default(host):
        yield m, host


def test_pydfuutil_lists_the_three_dfuse_memories_found_with_usb_core_find_unmodified(bootloader):
    status, out = cli("-l")
    found = [line for line in out.splitlines() if line.startswith("Found DFU: [0483:df11]")]
    assert status == 0
    assert {line.split("alt=")[1].split(",")[0] for line in found} == {"0", "1", "2"}
    assert 'name="@Internal Flash  /0x08000000/64*02Kg"' in out
    assert 'name="@Option Bytes  /0x1FFF7800/01*128 e"' in out
    # pydfuutil's own probe repeats each of the 3 alternate settings once per alternate setting
    assert len(found) == 3 * 3


def test_pydfuutil_cli_cannot_select_one_alternate_setting_of_a_multi_alt_device(bootloader, tmp_path, caplog):
    """Evidence for the module docstring: outside the emulator (the listing above is 3 x 3)."""
    status, out = cli("-a", "0", "-s", f"{FLASH:#x}:{PAGE}", "-U", str(tmp_path / "up.bin"))
    assert status != 0 and not (tmp_path / "up.bin").exists()
    assert "More than one DFU capable USB device found" in caplog.text


def test_pydfuutil_dfuse_file_reader_never_finds_the_signature():
    """Evidence: pydfuutil.dfuse.dfuse_memcpy appends to the 11-byte buffer it is handed, so the
    "DfuSe" signature of any file lands at offset 11, not 0 (no emulator involved)."""
    dfuse = fresh("pydfuutil.dfuse")
    prefix = bytearray(11)
    dfuse.dfuse_memcpy(prefix, bytearray(b"DfuSe\x01" + bytes(20)), 26, 11)
    assert prefix[:5] != b"DfuSe" and prefix[11:16] == b"DfuSe"


def test_pydfuutil_mass_erases_downloads_uploads_verifies_and_leaves(bootloader, tmp_path):
    m, host = bootloader
    dfu_util = fresh("pydfuutil.dfu_util")
    dfuse = importlib.import_module("pydfuutil.dfuse")
    dfu_file = importlib.import_module("pydfuutil.dfu_file")

    # main(): probe every device usb.core.find() returns, take the first DFU interface found
    dfu_util.probe_devices(list(usb.core.find(find_all=True)))
    dif = dfu_util.DfuUtil.dfu_root
    assert (dif.vendor, dif.product, dif.altsetting) == (0x0483, 0xDF11, 0)
    assert dif.func_dfu.wTransferSize == 1024 and dif.func_dfu.bcdDFUVersion == 0x011A
    usb.util.claim_interface(dif.dev, dif.interface)
    dif.dev.set_interface_altsetting(dif.interface, dif.altsetting)
    assert dif.get_status().bState == 2                                   # dfuIDLE

    # -s :mass-erase:force
    erase = dfuse.parse_options(":mass-erase:force".split(":"))
    dif.mem_layout = dfuse.parse_memory_layout(dif.alt_name)
    dfuse.special_command(dif, 0, dfuse.Command.MASS_ERASE, erase)
    dif.abort_to_idle()
    assert m.flash.load(FLASH, 0x20000) == b"\xff" * 0x20000
    assert [op[0] for op in m.flash_controller.operations] == ["mass erase"]

    # -s 0x08000000 -D image.bin (raw download: erase each touched page, then write each chunk)
    image = flash_image("systick", 3 * PAGE - 100)
    (tmp_path / "image.bin").write_bytes(image)
    file = dfu_file.DfuFile(name=str(tmp_path / "image.bin"))
    file.load(dfu_file.SuffixReq.MAYBE_SUFFIX, dfu_file.PrefixReq.MAYBE_PREFIX)
    assert dfuse.do_download(dif, 1024, file, dfuse.parse_options(f"{FLASH:#x}".split(":"))) == 0
    assert m.flash.load(FLASH, len(image)) == image
    assert [op[0] for op in m.flash_controller.operations].count("page erase") == 3

    # -s 0x08000000:6144 -U upload.bin, then compare (dfu-util's verify is upload + compare).  Whole
    # transfers: the bootloader addresses a block as (wBlockNum - 2) x wLength (AN3156, FACTS §8.2),
    # so a short last chunk would be read from elsewhere, on a real ST bootloader too
    upload = dfu_file.DfuFile(name=str(tmp_path / "upload.bin"))
    with open(tmp_path / "upload.bin", "wb") as upload.file_p:
        assert dfuse.do_upload(dif, 1024, upload, dfuse.parse_options(f"{FLASH:#x}:{3 * PAGE}".split(":"))) == 0
    assert (tmp_path / "upload.bin").read_bytes() == image + b"\xff" * (3 * PAGE - len(image))

    # -s 0x08000000:leave
    dfuse.do_leave(dif, dfuse.parse_options(f"{FLASH:#x}:leave".split(":")))
    end = m.run(max_seconds=1.0)
    assert end.reason.value == "exit" and end.exit_status == 0
    assert "10 ticks" in m.guest_output
    assert not m.usb.attached()


def test_pyusb_run_launcher_runs_the_pydfuutil_console_script_against_the_emulated_chip():
    import subprocess
    from pathlib import Path
    from tests.conftest import elf
    from tests.test_bootloader_dfu import BOOT0_OPTR
    repo = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-m", "emulator.host.pyusb_run", "--bootloader", str(elf("bootloader")),
                           "--boot-pin", "1", "--option-bytes", f"OPTR={BOOT0_OPTR:#x}", str(elf("hello")),
                           "--", "pydfuutil", "-l"], cwd=repo, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert 'Found DFU: [0483:df11] ver=0200, devnum=1, cfg=1, intf=0, path="1-1.1", alt=0' in done.stdout
    missing = subprocess.run([sys.executable, "-m", "emulator.host.pyusb_run", str(elf("hello")), "--",
                              "no-such-tool"], cwd=repo, capture_output=True, text=True, timeout=60)
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
