"""Shared helpers: where the test images live and a machine booted from them."""
from __future__ import annotations

from pathlib import Path

import pytest

from emulator.image import load_elf
from emulator.machine import Machine, MachineConfig

ELF_DIR = Path(__file__).resolve().parents[1] / "images" / "elf"

FACTORY_OPTR = 0x3FEF_FEAA
N_BOOT_SEL, N_BOOT1, N_BOOT0 = 1 << 24, 1 << 25, 1 << 26
BOOT_LOCK = 1 << 16          # FLASH_SECR (RM0490 §4.7.14)


def elf(name: str) -> Path:
    """Path of a built test image, ``images/elf/<name>.elf``."""
    return ELF_DIR / f"{name}.elf"


def boot(*image_names: str, **config) -> Machine:
    """A machine with the named images loaded (in order) and a power-on reset done.

    Keyword arguments go to ``MachineConfig`` (``boot_pin``, ``option_bytes``, ``strict``...).
    """
    m = Machine(MachineConfig(**config))
    for name in image_names:
        m.load(load_elf(elf(name)))
    m.reset("power")
    return m


def run_to_exit(*image_names: str, max_seconds: float = 5.0, **config):
    """Boot the images and run until the guest ends; returns (machine, RunEnd)."""
    m = boot(*image_names, **config)
    return m, m.run(max_seconds=max_seconds)


@pytest.fixture
def power_on_machine() -> Machine:
    """A machine with no firmware, after a power-on reset (for bus-level tests)."""
    m = Machine()
    m.reset("power")
    return m


def pytest_terminal_summary(terminalreporter):
    """The fuzz targets' counts (tests/fuzz/fuzzkit.py), when any ran."""
    import sys
    fuzzkit = sys.modules.get("fuzzkit")
    if fuzzkit is not None:
        fuzzkit.summary(terminalreporter)
