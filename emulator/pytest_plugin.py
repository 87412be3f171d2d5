"""A pytest plugin: firmware projects test their own images against the emulated C071.

Installed with the package (entry point ``pytest11``), it provides the ``c071`` fixture:

```python
def test_boot(c071):
    m = c071.boot("build/app.elf")                 # power-on reset, boot from flash
    end = m.run(max_seconds=1)
    assert end.exit_status == 0 and "ready" in m.guest_output

def test_jump_keeps_erase_working(c071):
    d = c071.diagnose("build/app.elf", trigger="cdc:DFU\\n")   # what makes the app jump
    assert not d.operation_failed, [i.title for i in d.blamed]
```
``trigger`` takes the syntax of ``c071emu diagnose --trigger`` (default ``none``: the
application jumps by itself).  A diagnosis that cannot proceed - the application does not
enter the bootloader, the trigger cannot be delivered, the bootloader does not start -
fails the test with the report's reason.  Paths are relative to pytest's root directory.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import pytest

from peripherals.option_bytes import parse_option_bytes_spec


class C071:
    """Helpers bound to one test: build machines, run scenarios, diagnose jumps."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, path: str | Path) -> Path:
        p = Path(path)
        return p if p.is_absolute() else self.root / p

    def boot(self, application: str | Path, bootloader: Optional[str | Path] = None, boot_pin: int = 0,
             option_bytes: str = ""):
        from .image import load_bootloader, load_elf
        from .machine import Machine, MachineConfig
        m = Machine(MachineConfig(boot_pin=boot_pin, option_bytes=parse_option_bytes_spec(option_bytes)))
        if bootloader:
            m.load(load_bootloader(self._path(bootloader)))
        m.load(load_elf(self._path(application)))
        m.reset("power")
        return m

    def diagnose(self, application: str | Path, bootloader: Optional[str | Path] = None, host: str = "dfu",
                 operation: str = "erase", option_bytes: str = "", trigger: str = "none",
                 jump_within: float = 5.0, payload: Optional[str | Path] = None):
        from .analysis.diagnose import diagnose
        from .analysis.flows import flow_for
        from .analysis.report import answer_lines
        from .image import load_bootloader, load_elf, load_payload
        bl = load_bootloader(self._path(bootloader) if bootloader else None)
        flow = flow_for(host, load_payload(self._path(payload)) if payload else None)
        d = diagnose(load_elf(self._path(application)), bl, flow, operation=operation,
                     option_bytes=parse_option_bytes_spec(option_bytes), trigger=trigger, jump_within=jump_within)
        if d.status not in ("ok", "operation-fails"):
            pytest.fail(f"c071.diagnose({application}, trigger={trigger!r}): {d.status}\n" +
                        "\n".join(answer_lines(d)), pytrace=False)
        return d

    def check(self, scenario_file: str | Path):
        from .scenario import load_scenario, run_scenario
        return run_scenario(load_scenario(self._path(scenario_file)))


@pytest.fixture
def c071(request) -> C071:
    return C071(Path(str(request.config.rootpath)))
