"""`c071emu diagnose APP --trigger SPEC` on the trigger applications (images/apps/trigger_*.c):
each enters the system bootloader through its own trigger and calls the forum's v1 jump
function, so each leaves the same state behind: under the default bootloader design the
blocking set is RCC_CR (HSIDIV left at /1: 48 MHz; tests/test_variants.py has the others).
Without its trigger, each one's report says where it waits and suggests that trigger."""
from __future__ import annotations

import json

import pytest

from emulator.cli import main
from tests.conftest import elf
from tests.test_gdb import needs_gdb
from tests.test_trigger_apps import EXTI_UNMODELLED

FORUM_V1_BLOCKING = ["RCC.CR"]
EXTI = pytest.mark.skipif(EXTI_UNMODELLED, reason="EXTI is not modelled yet: the PC13 edge raises no interrupt")


def diagnose_json(capsys, app: str, *args: str) -> tuple[int, dict]:
    status = main(["diagnose", str(elf(app)), *args, "--json"])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return status, json.loads(captured.out)


@pytest.mark.parametrize("app, trigger, world", [
    ("trigger_timer", "none", None),
    ("trigger_cdc", "cdc:DFU\\n", "4 B on bulk OUT endpoint 0x01"),
    ("trigger_1200", "cdc-1200", "SET_LINE_CODING 1200 8N1"),
    ("trigger_dfu_detach", "dfu-detach", "DFU_DETACH (wDetachTimeOut"),
    ("trigger_dfu_detach_reset", "dfu-detach", "bus reset (bitWillDetach is clear)"),
    ("trigger_usart", "usart2:DFU\\n", "USART2 peer: sending b'DFU\\n'"),
    ("trigger_button", "pin:PC13=0@100ms+50ms", "board: PC13 driven to 0"),
    pytest.param("trigger_button_exti", "pin:PC13=0@100ms+50ms", "board: PC13 driven to 0", marks=EXTI),
    ("trigger_never", "call:jump_to_bootloader", "injection: the core calls jump_to_bootloader"),
])
def test_each_trigger_app_is_diagnosed_through_its_own_trigger(capsys, app, trigger, world):
    status, report = diagnose_json(capsys, app, "--trigger", trigger)
    assert status == 1 and report["status"] == "operation-fails", report["note"]
    assert report["blocking_items"] == FORUM_V1_BLOCKING and report["one_minimal"] and report["fix_verified"]
    assert report["injection"] is trigger.startswith("call:")
    if world is None:
        assert report["world"] == []                       # nothing was done: the app jumped by itself
    else:
        assert any(world in line for line in report["world"]), report["world"]


@pytest.mark.parametrize("app, suggestion, presented", [
    ("trigger_cdc", "cdc:TEXT", "interface 0 CDC ACM"),
    ("trigger_1200", "cdc-1200", "interface 1 CDC data"),
    ("trigger_dfu_detach", "dfu-detach", "interface 0 DFU runtime"),
    ("trigger_usart", "usart2:TEXT[@BAUD[,FORMAT]] (e.g. 'usart2:DFU\\n@115200')", "USART2: enabled at"),
    ("trigger_button", "pin:PC13=0@100ms+50ms", "PC13 pull-up"),
    ("trigger_never", "call:jump_to_bootloader", "USB: no device on the bus"),
])
def test_without_its_trigger_the_report_suggests_it(capsys, app, suggestion, presented):
    status, report = diagnose_json(capsys, app, "--jump-within", "0.3")
    assert status == 3 and report["status"] == "no-jump"
    assert any(s.startswith(suggestion) for s in report["no_jump"]["suggested_triggers"]), report["no_jump"]
    assert any(presented in p for p in report["no_jump"]["presented"]), report["no_jump"]


def test_the_timer_app_jumps_even_while_a_usb_trigger_waits_for_a_device(capsys):
    status, report = diagnose_json(capsys, "trigger_timer", "--trigger", "usb-control:0x40,0x42")
    assert status == 1 and report["blocking_items"] == FORUM_V1_BLOCKING
    assert any("entered the bootloader while the trigger was being delivered" in w for w in report["world"])


def test_a_snapshot_saved_at_the_jump_by_run_is_diagnosed(capsys, tmp_path):
    snap = tmp_path / "jump.json"
    assert main(["run", str(elf("trigger_timer")), "--bootloader", str(elf("bootloader")),
                 "--save-snapshot", str(snap)]) == 0
    capsys.readouterr()
    status, report = diagnose_json(capsys, "trigger_timer", "--from-snapshot", str(snap))
    assert status == 1 and report["blocking_items"] == FORUM_V1_BLOCKING
    assert 0.05 <= report["jump"]["seconds"] < 0.06
    status = main(["diagnose", str(elf("trigger_never")), "--from-snapshot", str(snap)])
    assert status == 2 and "trigger_never.elf differs from the images" in capsys.readouterr().err


@needs_gdb
def test_monitor_snapshot_at_the_jump_feeds_diagnose_from_snapshot(tmp_path, capsys):
    from emulator.image import load_elf
    from tests.test_gdb import Session
    reset = load_elf(elf("bootloader")).symbols["Reset_Handler"] & ~1
    snap = tmp_path / "gdb.json"
    s = Session(str(elf("trigger_timer")), "--bootloader", str(elf("bootloader")))
    out = s.gdb(str(elf("trigger_timer")), f"break *0x{reset:08X}", "continue", f"monitor snapshot {snap}", "kill")
    s.finish()
    assert f"snapshot at PC 0x{reset:08X}" in out, out
    assert main(["diagnose", str(elf("trigger_timer")), "--from-snapshot", str(snap), "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["blocking_items"] == ["RCC.CR"]


@pytest.mark.parametrize("app, trigger", [("trigger_dfu_detach_reset", "dfu-detach"), ("trigger_1200", "cdc-1200")])
def test_a_host_flow_cut_short_by_the_jump_leaves_no_step_for_the_programming_tool(app, trigger):
    from emulator.analysis.diagnose import jump_run
    from emulator.image import load_bootloader, load_elf
    from emulator.host.usb_host import FLOW_STEP_EVENTS
    run = jump_run(load_elf(elf(app)), load_bootloader(), {}, trigger)
    assert run.status == "jumped"
    stale = [e.name for e in run.m.scheduler.pending() if e.name in FLOW_STEP_EVENTS]
    assert stale == []


def test_the_bundled_cdc_scenario_file_passes_its_trigger(capsys):
    from pathlib import Path
    scenario = Path(__file__).resolve().parents[1] / "scenarios" / "cdc_command_jump.toml"
    assert main(["check", str(scenario)]) == 0, capsys.readouterr().out
