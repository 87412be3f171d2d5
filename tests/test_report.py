"""The diagnosis as a firmware engineer reads it (issue 15).

* Per-field provenance: the last writer of each field is the instruction whose write
  changed it (also through GPIO BSRR/BRR), or the hardware with its event and time.
* The terminal report leads with the answer: on every scenario of the README's table
  the first 15 lines hold the verdict, the blocking items, the mechanism and the fix.
* Every fix snippet compiles with arm-none-eabi-gcc against a clean-room stand-in of
  the CMSIS device header (tests/fix_header/stm32c0_standin.h), in each --fix-style.
* The HTML report renders in headless Chromium with the verdict, the time axis and
  the step table in its DOM.
"""
from __future__ import annotations

import io
import re
import shutil
import subprocess
from contextlib import redirect_stdout
from pathlib import Path

import pytest

from emulator.analysis.fixes import CMSIS, HAL, HEADER_PERIPHERALS, LL, STYLES, fix_for, nvic_fix, register_fix
from emulator.analysis.items import residual_items
from emulator.analysis.snapshot import JumpSnapshot, take_snapshot
from emulator.cli import main
from peripherals import c071
from tests.conftest import boot, elf

ROOT = Path(__file__).resolve().parents[1]
HEADER = ROOT / "tests" / "fix_header" / "stm32c0_standin.h"
TRIGGER = "usb-control:0x40,0x42"


# -- per-field provenance -------------------------------------------------------------------
def test_a_field_changed_through_bsrr_names_the_bsrr_store_as_its_writer():
    m = boot("hello")
    gpio = m.gpio["GPIOA"]
    m.rcc.write_register(m.rcc.reg["IOPENR"], 1)              # GPIOAEN: the port's clock
    m.services.provenance = lambda: (0x0800_1234, 100)        # the store instruction, as the run loop gives it
    gpio.write(0x18, 4, 1 << 5)                                # BSRR: BS5 sets ODR5
    m.services.provenance = lambda: (0x0800_2000, 200)
    gpio.write(0x28, 4, 1 << 5)                                # BRR: BR5 resets it again ...
    gpio.write(0x18, 4, 1 << 7)                                # ... and BS7 sets ODR7
    odr = take_snapshot(m, "x").registers["GPIOA.ODR"]
    assert odr.value == 1 << 7
    assert {name: w.pc for name, w in odr.field_writers.items()} == {"OD5": 0x0800_2000, "OD7": 0x0800_2000}


def test_a_write_that_leaves_a_field_alone_is_not_its_writer():
    m = boot("hello")
    cr = m.rcc.reg["CR"]
    m.services.provenance = lambda: (0x0800_0100, 10)
    m.rcc.write_register(cr, cr.value & ~(7 << 11))            # HSIDIV = /1
    m.services.provenance = lambda: (0x0800_0200, 20)
    m.rcc.write_register(cr, cr.value)                         # rewrites the same value: blames nothing
    writers = take_snapshot(m, "x").registers["RCC.CR"].field_writers
    assert writers["HSIDIV"].pc == 0x0800_0100 and set(writers) == {"HSIDIV"}


@pytest.fixture(scope="module")
def forum_at_50ms() -> JumpSnapshot:
    """jump_forum_v1 50 ms after power-on: clock set up by its HAL-style init, USB started."""
    m = boot("bootloader", "jump_forum_v1")
    m.run(max_seconds=0.05)
    return take_snapshot(m, "50 ms")


def test_two_fields_of_one_register_written_by_different_functions_name_each_function(forum_at_50ms):
    writers = forum_at_50ms.registers["RCC.CR"].field_writers
    assert writers["HSIDIV"].where.startswith("hal_clock_48mhz")
    assert writers["HSIUSB48ON"].where.startswith("usb_start")


def test_a_field_changed_by_hardware_says_so_with_its_event_and_time(forum_at_50ms):
    ready = forum_at_50ms.registers["RCC.CR"].field_writers["HSIUSB48RDY"]
    on = forum_at_50ms.registers["RCC.CR"].field_writers["HSIUSB48ON"]
    assert ready.by_hardware and ready.hardware == "RCC HSIUSB48RDY"
    assert ready.seconds > on.seconds                          # the oscillator's start-up time after the write
    assert ready.line().startswith("set by hardware (RCC HSIUSB48RDY) at ")


def test_snapshot_json_carries_field_writers(tmp_path, forum_at_50ms):
    path = tmp_path / "s.json"
    forum_at_50ms.save(path)
    loaded = JumpSnapshot.load(path)
    assert loaded.registers["RCC.CR"].field_writers == forum_at_50ms.registers["RCC.CR"].field_writers
    assert '"schema": "c071emu.snapshot/2"' in path.read_text()


def test_residual_difference_shows_the_register_value_and_the_fields_own_writer(forum_at_50ms):
    m = boot("bootloader", "jump_forum_v1")
    clean = take_snapshot(m, "power-on")
    diffs = {x.what: x for i in residual_items(clean, forum_at_50ms) for x in i.differences}
    vtor = diffs["SCB.VTOR.TBLOFF"]
    assert vtor.shown("actual") == "0x0800_0000"               # VTOR as an address, not TBLOFF 0x100000
    assert diffs["RCC.CR.HSIDIV"].writer.split()[1].startswith("hal_clock_48mhz")
    assert diffs["RCC.CR.HSIUSB48ON"].writer.split()[1].startswith("usb_start")


# -- the terminal report, on every scenario of the README's table ---------------------------
def readme_scenarios() -> list[tuple[str, str, list[str]]]:
    """(application, operation, blocking items) for each row of the README's scenario table: the
    blocking items are those under the `classic` bootloader design, which the runs below use."""
    text = (ROOT / "README.md").read_text()
    section = text.split("### The scenarios and what the diagnosis finds", 1)[1]
    table = next(chunk for chunk in section.split("\n\n") if chunk.startswith("|"))
    out = []
    for row in table.splitlines()[2:]:
        cells = [c.strip() for c in row.strip("|").split("|")]
        blocking = cells[3]                    # "blocking items (classic)"
        operation = "write" if "(write)" in blocking else "erase"
        keys = [] if blocking == "none" else [k.strip() for k in blocking.replace("(write)", "").split(",")]
        for app in re.findall(r"`(jump_\w+)`", cells[0]):
            out.append((app, operation, keys))
    return out


SCENARIOS = readme_scenarios()
CLASSIC = str(ROOT / "images" / "elf" / "bootloaders" / "classic.elf")   # the table's design


def diagnose_text(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    with redirect_stdout(out):
        status = main(["diagnose", *args])
    return status, out.getvalue()


def test_the_readme_table_lists_the_bundled_scenarios():
    assert len(SCENARIOS) >= 12 and ("jump_iwdg", "write", ["IWDG"]) in SCENARIOS


@pytest.mark.parametrize("app, operation, blocking", SCENARIOS, ids=[f"{a}-{o}" for a, o, _ in SCENARIOS])
def test_first_15_lines_hold_verdict_blocking_mechanism_and_fix(app, operation, blocking):
    status, text = diagnose_text(str(elf(app)), "--trigger", TRIGGER, "--operation", operation,
                                 "--bootloader", CLASSIC)
    lines = text.splitlines()
    top = "\n".join(lines[:15])
    assert lines[0].startswith("VERDICT: ") and lines[-1] == lines[0]       # the verdict first and last
    if not blocking:
        assert status == 0 and "works after the software jump" in lines[0]
        return
    assert status == 1 and "FAILS after the software jump" in lines[0] and "after a BOOT0 entry" in lines[0]
    for key in blocking:
        assert f"* {key}: " in top
        line = next(line for line in lines if line.startswith(f"  * {key}: "))
        if key.startswith(("FLASH", "VTOR")):          # the application's own store changed it
            assert re.search(r"\), by \w+\+0x[0-9A-F]+ \[jump_\w+\.elf\] @ ", line), line
    assert "Mechanism" in top and re.search(r"ms  host +\w[\w ]* failed: ", top)
    assert "Fix, in the jump function" in top and "verified by replay" in top
    fix_start = lines.index(next(line for line in lines if line.startswith("Fix, in the jump function")))
    assert fix_start + 1 < 15 and lines[fix_start + 1].startswith("    ")
    assert "Residual state at the bootloader's first instruction" in text and "blocking)" in text


def test_iwdg_write_mechanism_shows_the_watchdog_reset():
    _, text = diagnose_text(str(elf("jump_iwdg")), "--trigger", TRIGGER, "--operation", "write")
    top = text.splitlines()[:15]
    assert any("IWDG counter reached 0: reset" in line for line in top)


def test_pending_irq_verdict_names_enumeration():
    _, text = diagnose_text(str(elf("jump_pending_irq")), "--trigger", TRIGGER)
    assert text.startswith("VERDICT: enumeration FAILS after the software jump, so erase never runs")
    assert "EXTI0_1" in "\n".join(text.splitlines()[:15])


def test_piped_output_is_never_cut():
    _, text = diagnose_text(str(elf("jump_forum_v1")), "--trigger", TRIGGER, "--all-fields")
    assert "…" not in text
    assert "CRS.CR.AUTOTRIMEN" in text and "hardware: USB host SETUP @ " in text   # full names, per-field writers
    assert "BLOCKING" in text                                   # blocking rows marked in the full table


# -- the fixes compile --------------------------------------------------------------------------
def every_snippet(style: str) -> list[str]:
    snippets = [fix_for(key, style) for key in CMSIS]
    snippets += [nvic_fix(irq, style) for irq in c071.IRQ_NAMES]
    from emulator.analysis.items import _layouts, _writable
    for key in _layouts():
        if key.split(".")[0] in HEADER_PERIPHERALS:
            snippets.append(register_fix(key, 0, style, _writable(key)))
    return snippets


@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="needs arm-none-eabi-gcc")
@pytest.mark.parametrize("style", STYLES)
def test_every_fix_snippet_compiles_against_the_cmsis_names(tmp_path, style):
    body = "\n".join("    {\n" + "\n".join(f"        {line}" for line in s.splitlines()) + "\n    }"
                     for s in every_snippet(style))
    source = tmp_path / f"fix_{style}.c"
    source.write_text(f'#include "{HEADER}"\nvoid jump_fixes(void)\n{{\n{body}\n}}\n')
    result = subprocess.run(["arm-none-eabi-gcc", "-mcpu=cortex-m0plus", "-mthumb", "-std=c11", "-Wall",
                             "-Werror", "-c", str(source), "-o", str(tmp_path / "fix.o")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_fix_styles_differ_where_the_cube_libraries_have_their_own_idiom():
    assert fix_for("VTOR") == CMSIS["VTOR"] and CMSIS["VTOR"].startswith("SCB->VTOR = 0;")
    assert "SYSCFG_CFGR1_MEM_MODE_Msk" in fix_for("MEM_MODE")
    assert fix_for("MEM_MODE", "hal") == HAL["MEM_MODE"] and "__HAL_RCC_SYSCFG_CLK_ENABLE()" in HAL["MEM_MODE"]
    assert fix_for("MEM_MODE", "ll") == LL["MEM_MODE"]
    _, text = diagnose_text(str(elf("jump_forum_v1")), "--trigger", TRIGGER, "--fix-style", "hal",
                            "--bootloader", CLASSIC)
    assert "__HAL_SYSCFG_REMAPMEMORY_SYSTEMFLASH();" in text


# -- the HTML report in a browser -----------------------------------------------------------------
def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(_chromium() is None, reason="needs Debian's chromium (.ci/run installs it)")
def test_html_report_renders_with_verdict_axis_and_step_table(tmp_path):
    page = tmp_path / "report.html"
    status, text = diagnose_text(str(elf("jump_forum_v1")), "--trigger", TRIGGER, "--html", str(page))
    assert f"HTML report: {page.resolve()}" in text
    dom = subprocess.run([_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom",
                          page.as_uri()], capture_output=True, text=True, timeout=120).stdout
    assert '<div id="verdict" class="banner fail">VERDICT: erase FAILS' in dom
    assert 'id="time-axis"' in dom and "simulated time (ms)" in dom
    assert len(re.findall(r'class="tick"', dom)) >= 3
    steps = dom.split('<table id="steps">', 1)[1].split("</table>", 1)[0]
    assert all(f"<th>{step}</th>" in steps for step in ("enumerate", "erase", "write", "verify", "leave"))
    assert "BOOT0 entry" in steps and "with fix" in steps
    assert "Verified by replay" in dom and 'class="blocking"' in dom
    assert "erase failed: UsbTimeout" in dom                      # the mechanism ends with the host's error
    assert "<title>jump_forum_v1.elf → bootloader.elf: erase</title>" in dom


def test_html_to_an_unwritable_path_is_refused_before_the_run(tmp_path, capsys):
    status = main(["diagnose", str(elf("jump_forum_v1")), "--trigger", TRIGGER, "--html",
                   str(tmp_path / "missing" / "r.html")])
    assert status == 2 and "--html" in capsys.readouterr().err
