"""Triggers: one syntax for `diagnose --trigger`, scenario and sweep files and the fixture;
each way a diagnosis cannot proceed is an outcome with its own status and message.

The bundled jump applications (images/apps/app_main.c) jump on USB vendor request 0x42;
hello.elf prints a line and exits; usb_echo.elf is a USB device without that request.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from emulator.analysis.diagnose import diagnose, jump_run
from emulator.analysis.flows import dfu_flow, flow_for
from emulator.analysis.report import answer_lines, to_json
from emulator.cli import main
from emulator.image import ImageError, image_digest, load_bootloader, load_elf, load_intel_hex, load_payload
from emulator.triggers import (CallFunction, CdcText, DfuDetach, NoTrigger, PinDrive, TriggerError, UsartText,
                               UsbControl, parse_trigger, unescape)
from tests.conftest import ELF_DIR, elf

BOOTLOADER = load_bootloader()
VENDOR = "usb-control:0x40,0x42"             # the bundled apps' "enter bootloader" request


def diagnose_cli(capsys, *args: str) -> tuple[int, dict, str]:
    status = main(["diagnose", *map(str, args), "--json"])
    captured = capsys.readouterr()
    return status, json.loads(captured.out), captured.err


# -- the syntax ------------------------------------------------------------------------------------
@pytest.mark.parametrize("spec, kind, fields", [
    ("none", NoTrigger, {}),
    ("usb-control:0x40,0x42", UsbControl, {"request_type": 0x40, "request": 0x42, "value": 0, "index": 0}),
    ("usb-control:0x21,0,1000,2,01ff", UsbControl, {"request_type": 0x21, "value": 1000, "index": 2,
                                                    "data": b"\x01\xff"}),
    ("dfu-detach", DfuDetach, {}),
    ("cdc:DFU\\n", CdcText, {"text": b"DFU\n", "touch_1200": False}),
    ("cdc-1200", CdcText, {"touch_1200": True}),
    ("usart2:DFU\\r\\n", UsartText, {"usart": "USART2", "text": b"DFU\r\n", "baud": 115200, "parity": "N"}),
    ("usart1:go@9600,8E1", UsartText, {"usart": "USART1", "text": b"go", "baud": 9600, "parity": "E",
                                       "data_bits": 8, "stop_bits": 1.0}),
    ("usart1:a\\x40b", UsartText, {"text": b"a@b", "baud": 115200}),
    ("pin:PC13=0@100ms+50ms", PinDrive, {"pin": "PC13", "level": 0, "at_s": 0.1, "duration_s": 0.05}),
    ("pin:pa0=1@2s", PinDrive, {"pin": "PA0", "level": 1, "at_s": 2.0, "duration_s": None}),
    ("call:jump_to_bootloader", CallFunction, {"symbol": "jump_to_bootloader", "at_s": None}),
    ("call:enter_dfu@250us", CallFunction, {"symbol": "enter_dfu", "at_s": 250e-6}),
])
def test_every_trigger_kind_parses_to_what_the_world_will_do(spec, kind, fields):
    trigger = parse_trigger(spec)
    assert isinstance(trigger, kind) and trigger.spec == spec
    for name, value in fields.items():
        assert getattr(trigger, name) == pytest.approx(value) if isinstance(value, float) else \
            getattr(trigger, name) == value


@pytest.mark.parametrize("spec, message", [
    ("usb", "unknown kind 'usb'; triggers are: none | usb-control:"),
    ("usb-control:0x40", "usb-control takes TYPE,REQUEST"),
    ("usb-control:0x40,0x142", "REQUEST 0x142 is out of range 0..0xff"),
    ("usb-control:0x40,zz", "REQUEST 'zz' is not a number"),
    ("usb-control:0xC0,1,0,0,00", "HEXDATA is for OUT requests"),
    ("usb-control:0x40,1,0,0,0g", "HEXDATA '0g' is not hex bytes"),
    ("none:1", "none takes no argument"),
    ("cdc", "cdc needs an argument after ':' (cdc:TEXT)"),
    ("cdc:\\q", "unknown escape \\q"),
    ("cdc:abc\\", "a lone backslash"),
    ("usart3:x", "unknown kind 'usart3'"),
    ("usart1:x@fast", "after '@' give BAUD[,FORMAT]"),
    ("usart1:x@9600,8X1", "after '@' give BAUD[,FORMAT]"),
    ("usart1:x@9600,5N1", "7, 8 or 9 data bits"),
    ("pin:PC13=0", "pin takes PORTPIN=LEVEL@TIME[+DURATION]"),
    ("pin:PE1=0@1ms", "PE1 is not a pin of the STM32C071"),
    ("pin:PC13=0@soon", "TIME 'soon' is not a time"),
    ("call:1abc", "'1abc' is not a symbol name"),
])
def test_a_malformed_spec_is_one_line_naming_it(spec, message):
    with pytest.raises(TriggerError) as info:
        parse_trigger(spec)
    text = str(info.value)
    assert message in text and "\n" not in text and repr(spec) in text


def test_text_takes_c_escapes():
    assert unescape("DFU\\n\\t\\x7F\\\\ok\\0", "s") == b"DFU\n\t\x7f\\ok\0"


def test_call_of_a_symbol_the_application_lacks_is_refused_with_candidates():
    with pytest.raises(TriggerError, match="no symbol 'enter_dfu'; candidates: .*jump_to_bootloader"):
        parse_trigger("call:enter_dfu").validate(load_elf(elf("jump_forum_v1")))


# -- acceptance: the bundled jump keeps its result; an app that never jumps exits 3 ------------------
def test_forum_jump_with_its_vendor_request_keeps_todays_diagnosis(capsys):
    status, report, err = diagnose_cli(capsys, elf("jump_forum_v1"), "--trigger", VENDOR)
    assert status == 1 and report["status"] == "operation-fails" and report["exit_status"] == 1
    assert report["blocking_items"] == ["VTOR", "MEM_MODE"] and report["fix_verified"]
    assert report["trigger"] == VENDOR and report["injection"] is False and report["no_jump"] is None
    assert any("control request 0x40/0x42" in line for line in report["world"])


def test_hello_never_jumps_exit_3_names_the_missing_jump_without_traceback(capsys):
    assert main(["diagnose", str(elf("hello"))]) == 3
    captured = capsys.readouterr()
    assert "No jump: the application did not enter the bootloader" in captured.out
    assert "exited (semihosting, status 0)" in captured.out and "Traceback" not in captured.out + captured.err
    status, report, _ = diagnose_cli(capsys, elf("hello"))
    assert status == 3 and report["status"] == "no-jump" and report["operation_failed"] is False
    assert report["no_jump"]["where"].startswith("PC 0x") and "sh_exit" in report["no_jump"]["where"]
    assert any("no device on the bus" in p for p in report["no_jump"]["presented"])


def test_a_waiting_app_says_where_it_sleeps_what_it_presents_and_which_trigger_fits(capsys):
    status, report, _ = diagnose_cli(capsys, elf("jump_forum_v1"), "--jump-within", "0.2")
    assert status == 3 and report["status"] == "no-jump"
    assert "no jump within 0.2 s" in report["note"]
    no_jump = report["no_jump"]
    assert "main+" in no_jump["where"] and "asleep (WFI/WFE)" in no_jump["where"]
    assert any("0483:a071" in p and "vendor-specific" in p for p in no_jump["presented"])     # probed by enumerating
    assert no_jump["suggested_triggers"][0].startswith("usb-control:")
    assert any(s.startswith("call:jump_to_bootloader") for s in no_jump["suggested_triggers"])


@pytest.mark.parametrize("app, spec, message", [
    ("usb_echo", VENDOR, "the device STALLed it"),
    ("jump_forum_v1", "dfu-detach", "has no DFU runtime interface"),
    ("jump_forum_v1", "cdc:DFU\\n", "has no CDC ACM interface"),
    ("jump_forum_v1", "cdc-1200", "has no CDC ACM interface"),
    ("jump_forum_v1", "usart2:DFU\\n", "USART2's receiver was never enabled"),
])
def test_a_trigger_that_cannot_be_delivered_says_which_and_exits_3(capsys, app, spec, message):
    status, report, err = diagnose_cli(capsys, elf(app), "--trigger", spec, "--jump-within", "0.1")
    assert status == 3 and report["status"] == "trigger-not-delivered", report["note"]
    assert message in report["note"] and err == ""


def test_a_usb_trigger_on_an_app_without_usb_reports_that_it_ended_first(capsys):
    status, report, _ = diagnose_cli(capsys, elf("hello"), "--trigger", VENDOR)
    assert status == 3 and report["status"] == "no-jump"
    assert "while the trigger was being delivered" in report["note"]


def test_call_injects_the_apps_jump_function_and_the_report_says_so(capsys):
    status, report, _ = diagnose_cli(capsys, elf("jump_forum_v1"), "--trigger", "call:jump_to_bootloader")
    assert status == 1 and report["injection"] is True
    assert report["blocking_items"] == ["VTOR", "MEM_MODE"]
    assert any("injection: the core calls jump_to_bootloader" in w and "asleep" in w for w in report["world"])
    d = diagnose(load_elf(elf("jump_forum_v1")), BOOTLOADER, dfu_flow(), trigger="call:jump_to_bootloader@20ms")
    assert d.jump.label == "software jump (injected call)" and d.jump.seconds >= 0.02
    assert answer_lines(d)[0].startswith("INJECTED")


def test_pin_trigger_drives_and_releases_the_pin_at_its_times():
    run = jump_run(load_elf(elf("jump_forum_v1")), BOOTLOADER, {}, "pin:PC13=0@10ms+5ms", jump_within=0.02)
    assert run.status == "no-jump"                          # this app does not look at PC13
    assert run.bench.actions == ["10.000 ms: board: PC13 driven to 0", "15.000 ms: board: PC13 released"]


def test_python_diagnosis_of_no_jump_is_not_success():
    d = diagnose(load_elf(elf("hello")), BOOTLOADER, dfu_flow())
    assert d.status == "no-jump" and d.exit_status == 3 and not d.jumped
    assert to_json(d)["status"] == "no-jump"


# -- payloads --------------------------------------------------------------------------------------
def _hex_records(image) -> str:
    lines, base = [], None
    for seg in image.segments:
        for offset in range(0, len(seg.data), 16):
            address = seg.address + offset
            if address >> 16 != base:
                base = address >> 16
                rec = bytes([2, 0, 0, 4]) + base.to_bytes(2, "big")
                lines.append(":" + (rec + bytes([-sum(rec) & 0xFF])).hex().upper())
            chunk = seg.data[offset:offset + 16]
            rec = bytes([len(chunk)]) + (address & 0xFFFF).to_bytes(2, "big") + b"\x00" + chunk
            lines.append(":" + (rec + bytes([-sum(rec) & 0xFF])).hex().upper())
    return "\n".join(lines + [":00000001FF"]) + "\n"


def test_payload_formats_load_the_same_bytes(tmp_path):
    hello = load_elf(elf("hello"))
    (tmp_path / "hello.hex").write_text(_hex_records(hello))
    assert image_digest(load_intel_hex(tmp_path / "hello.hex")) == image_digest(hello)
    flash = hello.segments[0]
    (tmp_path / "hello.bin").write_bytes(flash.data)
    raw = load_payload(tmp_path / "hello.bin", flash.address)
    assert raw.segments[0].address == flash.address and raw.segments[0].data == flash.data
    with pytest.raises(ImageError, match="needs --payload-address"):
        load_payload(tmp_path / "hello.bin")
    (tmp_path / "bad.hex").write_text(":10000000FF\n")
    with pytest.raises(ImageError, match="bad.hex:1: not an Intel HEX record"):
        load_payload(tmp_path / "bad.hex")


def test_leave_passes_when_the_payloads_reset_handler_runs_not_on_a_printed_string(capsys, tmp_path):
    # priority.elf prints nothing like the bundled payload's greeting: leave still passes
    status, report, _ = diagnose_cli(capsys, elf("jump_reset_first"), "--trigger", VENDOR,
                                     "--payload", elf("priority"))
    leave = report["steps"]["software_jump"][-1]
    assert status == 0 and leave["status"] == "ok", leave
    reset = load_elf(elf("priority")).symbols["Reset_Handler"] & ~1
    assert f"reset handler 0x{reset:08X} reached" in leave["detail"]
    # a raw payload: the leave step watches for the target of *its* reset vector
    flash = load_elf(elf("priority")).segments[0]
    moved = bytearray(flash.data)
    moved[4:8] = (0x0800F001).to_bytes(4, "little")
    (tmp_path / "moved.bin").write_bytes(moved)
    status, report, _ = diagnose_cli(capsys, elf("jump_reset_first"), "--trigger", VENDOR,
                                     "--payload", tmp_path / "moved.bin", "--payload-address", hex(flash.address))
    leave = report["steps"]["software_jump"][-1]
    assert status == 0 and "reset handler 0x0800F000 reached" in leave["detail"], leave


def test_leave_fails_when_the_reset_handler_is_never_reached():
    from emulator.analysis.flows import StartWatch
    from tests.conftest import boot
    m = boot("hello")
    with pytest.raises(RuntimeError, match="reset handler 0x0800F000 was not reached within 1 ms"):
        StartWatch(m, 0x0800F000).wait(1e-3)
    assert StartWatch(m, m.cpu.pc()).wait(1e-3).startswith(f"new application's reset handler 0x{m.cpu.pc():08X}")


def test_max_time_bounds_the_host_flow(capsys):
    status, report, _ = diagnose_cli(capsys, elf("jump_reset_first"), "--trigger", VENDOR, "--max-time", "0.01")
    steps = report["steps"]["software_jump"]
    failed = next(s for s in steps if s["status"] == "failed")
    assert "--max-time 0.01 s" in failed["detail"] or "0.01 s" in failed["detail"]


# -- snapshots as an entry point ------------------------------------------------------------------
def test_diagnosis_from_a_snapshot_at_the_jump_and_refusal_of_other_images(capsys, tmp_path):
    from emulator.analysis.snapshot import take_snapshot
    run = jump_run(load_elf(elf("jump_forum_v1")), BOOTLOADER, {}, VENDOR)
    assert run.status == "jumped"
    take_snapshot(run.m, "stop at the jump", with_memories=True).save(tmp_path / "jump.json")
    status, report, _ = diagnose_cli(capsys, elf("jump_forum_v1"), "--from-snapshot", tmp_path / "jump.json")
    assert status == 1 and report["blocking_items"] == ["VTOR", "MEM_MODE"]
    assert main(["diagnose", str(elf("jump_forum_v2")), "--from-snapshot", str(tmp_path / "jump.json")]) == 2
    err = capsys.readouterr().err
    assert "jump_forum_v2.elf differs from the images the snapshot was taken with" in err and "Traceback" not in err


def test_save_snapshot_writes_nothing_when_the_jump_never_happens(capsys, tmp_path):
    target = tmp_path / "jump.json"
    assert main(["run", str(elf("hello")), "--save-snapshot", str(target)]) == 4
    err = capsys.readouterr().err
    assert "never reached the jump into system memory" in err and "no snapshot written" in err
    assert not target.exists()


# -- scenario and sweep files, the fixture -----------------------------------------------------------
def _scenario(tmp_path: Path, body: str, expect: str = 'enumerate = "ok"\n') -> Path:
    path = tmp_path / "s.toml"
    path.write_text(f'[scenario]\napplication = "{ELF_DIR}/jump_forum_v1.elf"\n{body}\n[expect]\n{expect}')
    return path


@pytest.mark.parametrize("key", ["hosst", "option_byte"])
def test_an_unknown_scenario_key_is_refused_naming_the_valid_ones(capsys, tmp_path, key):
    assert main(["check", str(_scenario(tmp_path, f'{key} = "dfu"'))]) == 2
    err = capsys.readouterr().err
    assert f"unknown key {key!r}" in err and "keys are name, application, bootloader, entry, trigger" in err


def test_a_scenario_trigger_is_parsed_when_the_file_is_read(capsys, tmp_path):
    assert main(["check", str(_scenario(tmp_path, 'trigger = "usb:1"'))]) == 2
    assert "unknown kind 'usb'" in capsys.readouterr().err


def test_scenario_with_the_trigger_passes_and_without_it_fails_with_the_reason(capsys, tmp_path):
    erase = 'enumerate = "ok"\nerase = "failed"\nblocking = ["VTOR", "MEM_MODE"]\n'
    assert main(["check", str(_scenario(tmp_path, f'trigger = "{VENDOR}"', erase))]) == 0
    assert "1 passed, 0 failed" in capsys.readouterr().out
    assert main(["check", str(_scenario(tmp_path, "jump_within = 0.05", erase))]) == 1
    out = capsys.readouterr().out
    assert "FAILED" in out and "no-jump: no jump within 0.05 s" in out and "Traceback" not in out


def test_sweep_trigger_axis_runs_each_trigger_and_fails_the_cell_that_never_jumps(capsys, tmp_path):
    (tmp_path / "elf").symlink_to(ELF_DIR)
    path = tmp_path / "m.toml"
    path.write_text(f'[axes]\napplication = ["elf/jump_forum_v1.elf"]\ntrigger = ["{VENDOR}", "dfu-detach"]\n')
    status = main(["sweep", str(path), "--jobs", "1", "--json", str(tmp_path / "out.json")])
    out = capsys.readouterr().out
    doc = json.loads((tmp_path / "out.json").read_text())
    vendor, detach = doc["cells"]
    assert status == 1 and doc["summary"]["failed"] == 1 and doc["summary"]["error"] == 0
    assert vendor["trigger"] == VENDOR and vendor["verdict"] is None and vendor["failure"] == ""
    assert {s["name"]: s["status"] for s in vendor["steps"]}["erase"] == "failed"
    assert detach["verdict"] == "failed" and "has no DFU runtime interface" in detach["failure"]
    assert "FAILED trigger-not-delivered: dfu-detach: the device has no DFU runtime interface" in out
    assert "/ dfu-detach" in detach["name"]


def test_sweep_refuses_a_malformed_trigger_on_its_axis(capsys, tmp_path):
    (tmp_path / "elf").symlink_to(ELF_DIR)
    path = tmp_path / "m.toml"
    path.write_text('[axes]\napplication = ["elf/hello.elf"]\ntrigger = ["pin:PC13"]\n')
    assert main(["sweep", str(path)]) == 2
    assert "[axes] trigger[0]: trigger 'pin:PC13': pin takes PORTPIN=LEVEL@TIME" in capsys.readouterr().err


def test_fixture_takes_a_trigger(tmp_path):
    from emulator.pytest_plugin import C071
    c071 = C071(tmp_path)
    d = c071.diagnose(elf("jump_forum_v1"), trigger=VENDOR)
    assert [i.key for i in d.blamed] == ["VTOR", "MEM_MODE"]
    with pytest.raises(pytest.fail.Exception, match="no-jump"):
        c071.diagnose(elf("jump_forum_v1"), jump_within=0.05)


def test_flow_for_programs_the_payload_it_is_given():
    payload = load_elf(elf("priority"))
    assert flow_for("dfu", payload).payload is payload and flow_for("usart", payload).payload is payload
