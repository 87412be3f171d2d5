"""The diagnosis on every scenario image: which residual state blocks the operation.

Each expectation comes from the models, not from the scenarios: the bootloader image
never looks at residual state (images/bootloader/README.md), and a scenario leaves one
piece of state behind (images/apps/README.md).  The minimal sets are pinned here.
"""
from __future__ import annotations

import json

import pytest

from emulator.analysis.diagnose import diagnose
from emulator.analysis.flows import dfu_flow
from emulator.analysis.report import answer_lines, to_html, to_json
from emulator.cli import main
from emulator.image import load_elf
from tests.conftest import elf

BOOTLOADER = load_elf(elf("bootloader"))
TRIGGER = "usb-control:0x40,0x42"            # the bundled apps' "enter bootloader" vendor request


def run(name: str, operation: str = "erase"):
    return diagnose(load_elf(elf(name)), BOOTLOADER, dfu_flow(), operation=operation, trigger=TRIGGER)


@pytest.fixture(scope="module")
def forum_v1():
    return run("jump_forum_v1")


def test_forum_v1_reproduces_the_thread_enumeration_and_reads_work_erase_fails(forum_v1):
    steps = {s.name: s.status for s in forum_v1.jump_outcome.steps}
    assert steps["enumerate"] == steps["upload flash"] == steps["upload option bytes"] == "ok"
    assert steps["erase"] == "failed"
    assert forum_v1.reference_outcome.all_ok                       # BOOT0 entry works


def test_forum_v1_blames_the_vector_table_left_to_the_application(forum_v1):
    assert [i.key for i in forum_v1.blamed] == ["VTOR", "MEM_MODE"]
    assert forum_v1.one_minimal and forum_v1.fix_verified
    vtor = forum_v1.blamed[0]
    assert "Reset_Handler" in vtor.differences[0].writer           # provenance: the startup code wrote it


def test_forum_v1_mechanism_is_the_erased_vector_table(forum_v1):
    texts = [e["text"] for e in forum_v1.mechanism]
    erase = next(i for i, t in enumerate(texts) if t.startswith("page erase page 0"))
    fault = next(i for i, t in enumerate(texts) if "SysTick vector at 0x0800003C reads 0xFFFFFFFF" in t)
    assert erase < fault
    assert any("HardFault vector at 0x0800000C reads 0xFFFFFFFF" in t for t in texts)
    assert "lockup" in forum_v1.jump_outcome.first_failure.detail


def test_first_screen_answers_the_question(forum_v1):
    lines = answer_lines(forum_v1)
    assert lines[0].startswith("Erase FAILS after the software jump") and "works after a BOOT0 entry" in lines[0]
    assert "VTOR" in lines[2] and "0x0000_0000 aliases main flash" in lines[3]


def test_json_report_has_a_stable_schema(forum_v1):
    report = to_json(forum_v1)
    assert report["schema"] == "c071emu.diagnosis/1"
    assert report["blocking_items"] == ["VTOR", "MEM_MODE"] and report["fix_verified"]
    assert {s["step"] for s in report["steps"]["software_jump"]} >= {"enumerate", "erase", "leave"}
    json.dumps(report)


def test_html_report_is_self_contained(forum_v1):
    page = to_html(forum_v1)
    assert page.startswith("<!doctype html>") and "<svg" in page and "SCB_VTOR = 0;" in page
    assert "http" not in page.split("<body>")[1]                    # nothing fetched from elsewhere


@pytest.mark.parametrize("name, operation, blamed", [
    ("jump_forum_v2", "erase", ["VTOR", "MEM_MODE"]),
    ("jump_flash_unlocked", "erase", ["FLASH_CR.LOCK"]),
    ("jump_stale_flash_error", "erase", ["FLASH_SR errors"]),
    ("jump_cfgbsy", "erase", ["FLASH_SR errors", "FLASH_SR.CFGBSY"]),
    ("jump_pending_irq", "erase", ["NVIC IRQ5"]),
    ("jump_iwdg", "write", ["IWDG"]),
])
def test_scenario_blocking_state_is_the_expected_minimal_set(name, operation, blamed):
    d = run(name, operation)
    assert d.operation_failed
    assert [i.key for i in d.blamed] == blamed
    assert d.one_minimal and d.fix_verified


@pytest.mark.parametrize("name", ["jump_reset_first", "jump_cleaned", "jump_clock_48mhz", "jump_from_handler",
                                  "jump_from_psp", "jump_usb_connected", "jump_iwdg"])
def test_scenario_with_no_blocking_residual_state_for_erase(name):
    d = run(name)
    assert not d.operation_failed and d.blamed == []
    assert d.note.startswith("no blocking residual state")


def test_cli_diagnose_exit_status_and_json(capsys):
    assert main(["diagnose", str(elf("jump_reset_first")), "--trigger", TRIGGER, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["operation_failed"] is False


def test_cli_diagnose_bad_input_exits_2(capsys, tmp_path):
    assert main(["diagnose", str(tmp_path / "missing.elf")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_usart_host_reaches_the_same_diagnosis_for_the_forum_jump():
    from emulator.analysis.flows import usart_flow
    d = diagnose(load_elf(elf("jump_forum_v1")), BOOTLOADER, usart_flow(), trigger=TRIGGER)
    assert d.reference_outcome.all_ok
    assert [s.status for s in d.jump_outcome.steps[:4]] == ["ok", "ok", "ok", "failed"]
    assert [i.key for i in d.blamed] == ["VTOR", "MEM_MODE"] and d.fix_verified


def test_cli_diagnose_over_usart_exit_status(capsys):
    assert main(["diagnose", str(elf("jump_reset_first")), "--host", "usart", "--trigger", TRIGGER, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["operation_failed"] is False


@pytest.mark.parametrize("name", ["jump_reset_first", "jump_cleaned"])
def test_reliable_jumps_erase_program_verify_and_leave_like_boot0(name):
    d = run(name)
    assert d.jump_outcome.all_ok and d.reference_outcome.all_ok
    assert [s.name for s in d.jump_outcome.steps] == ["enumerate", "upload flash", "upload option bytes", "erase",
                                                     "write", "verify", "leave"]


def test_bundled_diagnosis_touches_nothing_unmodelled(forum_v1):
    from emulator.analysis.report import unmodelled
    assert unmodelled(forum_v1) == []
    assert to_json(forum_v1)["unmodelled_accesses"] == []
