"""Scenario files (`c071emu check`) and the pytest plugin, driven as a CI user would."""
from __future__ import annotations

from pathlib import Path

import pytest

from emulator.cli import main
from tests.conftest import ELF_DIR

pytest_plugins = ["pytester"]
ROOT = Path(__file__).resolve().parents[1]


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_bundled_scenarios_pass_and_write_junit(capsys, tmp_path):
    report = tmp_path / "junit.xml"
    status = main(["check", str(ROOT / "scenarios" / "reset_first_programs.toml"),
                   str(ROOT / "scenarios" / "forum_jump_erase_fails.toml"), "--junit", str(report)])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "2 passed, 0 failed" in out
    xml = report.read_text()
    assert 'tests="2" failures="0"' in xml and "<failure" not in xml


def test_a_wrong_expectation_fails_the_check(capsys, tmp_path):
    scenario = write(tmp_path, "wrong.toml", f"""
[scenario]
name = "claims the forum jump can erase"
application = "{ELF_DIR}/jump_forum_v1.elf"
trigger = "usb-control:0x40,0x42"
[expect]
enumerate = "ok"
erase = "ok"
""")
    report = tmp_path / "junit.xml"
    assert main(["check", str(scenario), "--junit", str(report)]) == 1
    out = capsys.readouterr().out
    assert "MISMATCH" in out and "erase: expected ok, got failed" in out
    assert 'failures="1"' in report.read_text()


@pytest.mark.parametrize("text, message", [
    ("[scenario]\nname='x'\n", "needs a [scenario] table and an [expect] table"),
    ("[scenario]\napplication='a.elf'\n[expect]\nflash='ok'\n", "unknown step 'flash'"),
    ("[scenario]\napplication='a.elf'\nhost='jtag'\n[expect]\n", "host must be"),
    ("not toml [", "not valid TOML"),
])
def test_malformed_scenario_files_exit_2_naming_the_problem(capsys, tmp_path, text, message):
    assert main(["check", str(write(tmp_path, "bad.toml", text))]) == 2
    assert message in capsys.readouterr().err


def test_pytest_plugin_in_a_sample_firmware_project(pytester):
    template = (Path(__file__).parent / "sample_project" / "test_app.py.template").read_text()
    pytester.makepyfile(test_app=template.replace("{ELF_DIR}", str(ELF_DIR)))
    result = pytester.runpytest_subprocess("-q")          # the plugin loads through its pytest11 entry point
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(["*test_an_app_that_never_jumps_fails_the_test*", "*no-jump*"])
    assert "Traceback" not in result.stdout.str()
