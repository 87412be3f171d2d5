"""A firmware project's own tests, written against the c071emu pytest plugin.

tests/test_scenario_check.py copies this file into a temporary project (with the
path of the bundled images filled in) and runs pytest there, as a user would.
"""
ELF = "{ELF_DIR}"


def test_boot(c071):
    m = c071.boot(f"{ELF}/hello.elf")
    end = m.run(max_seconds=1)
    assert end.exit_status == 0 and m.guest_output == "hello from flash\n"


def test_jump_keeps_erase_working(c071):
    d = c071.diagnose(f"{ELF}/jump_reset_first.elf")
    assert not d.operation_failed


def test_forum_jump_is_caught(c071):
    d = c071.diagnose(f"{ELF}/jump_forum_v1.elf")
    assert d.operation_failed and [i.key for i in d.blamed] == ["VTOR", "MEM_MODE"]
