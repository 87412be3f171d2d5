"""Every bundled image runs under --strict: no register it touches is left unmodelled.

Each image boots as the demo and the tests boot it (bootloader-class images from system
memory with erased flash, the rest from main flash) and runs for a stretch of simulated
time; a strict-mode stop names the register.  ``unmodelled_access`` exists to show that
stop, so it is the one image expected to end that way.
"""
from __future__ import annotations

import pytest

from conftest import ELF_DIR, boot
from emulator.core.runloop import EndReason

IMAGES = sorted(p.stem for p in ELF_DIR.glob("*.elf"))
MEANT_TO_STOP = {"unmodelled_access"}


@pytest.mark.parametrize("name", IMAGES)
def test_bundled_image_runs_without_an_unmodelled_access(name):
    m = boot(name, strict=True)                       # system-memory images boot on erased flash (EMPTY)
    end = m.run(max_seconds=0.05)
    if name in MEANT_TO_STOP:
        assert end.reason is EndReason.STRICT
        return
    assert end.reason is not EndReason.STRICT, f"{name}: {end.detail}"
    assert not m.trace.unmodelled, [a.line() for a in m.trace.unmodelled.values()]
