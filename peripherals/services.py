"""What a peripheral model may ask of the chip around it.

Models see only this interface (DESIGN: peripherals know nothing of the CLI, the
analysis or Unicorn).  The machine provides the real implementation; bus-level
unit tests of the register layer can use ``NullServices``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Optional, Protocol

if TYPE_CHECKING:  # pragma: no cover
    from .regs import Peripheral, Register


class ScheduledEvent(Protocol):
    cycle: int
    def cancel(self) -> None: ...


class ChipServices(Protocol):
    # -- time ---------------------------------------------------------------
    def now_cycles(self) -> int: ...
    def now_seconds(self) -> float: ...
    def hclk_hz(self) -> int: ...
    def after_cycles(self, cycles: int, action: Callable[[], None], name: str) -> ScheduledEvent: ...
    def after_seconds(self, seconds: float, action: Callable[[], None], name: str) -> ScheduledEvent: ...
    def clock_tree_changed(self) -> None: ...

    # -- interrupts and control flow ----------------------------------------
    def set_irq_line(self, irq: int, level: bool) -> None: ...
    def pend_exception(self, number: int) -> None: ...
    def request_slice_end(self) -> None: ...
    def request_reset(self, cause: str) -> None: ...
    def bus_error(self, reason: str) -> None: ...

    # -- observation ---------------------------------------------------------
    def provenance(self) -> Optional[tuple[int, int]]: ...
    def mmio_read(self, peripheral: "Peripheral", reg: "Register", value: int) -> None: ...
    def mmio_write(self, peripheral: "Peripheral", reg: "Register", old: int, data: int) -> None: ...
    def unmodelled(self, peripheral: "Peripheral", offset: int, size: int, is_write: bool,
                   value: Optional[int], reg: Optional["Register"]) -> None: ...
    def trace_gated(self, peripheral: "Peripheral", offset: int, is_write: bool, value: int = 0) -> None: ...
    # ``text`` may be a function of no arguments that formats it: called when it is read
    def event(self, kind: str, text: str | Callable[[], str], **data: Any) -> None: ...


class _NoEvent:
    cycle = 0
    def cancel(self) -> None:
        pass


class NullServices:
    """Services for a model used on its own: time stands still, effects are recorded."""

    def __init__(self) -> None:
        self.unmodelled_accesses: list[tuple[str, int, bool]] = []
        self.events: list[tuple[str, str]] = []
        self.pending: set[int] = set()

    def now_cycles(self) -> int: return 0
    def now_seconds(self) -> float: return 0.0
    def hclk_hz(self) -> int: return 12_000_000
    def after_cycles(self, cycles, action, name): return _NoEvent()
    def after_seconds(self, seconds, action, name): return _NoEvent()
    def clock_tree_changed(self) -> None: pass
    def set_irq_line(self, irq, level) -> None:
        if level:
            self.pending.add(16 + irq)
    def pend_exception(self, number) -> None: self.pending.add(number)
    def request_slice_end(self) -> None: pass
    def request_reset(self, cause) -> None: self.events.append(("reset", cause))
    def bus_error(self, reason) -> None: self.events.append(("bus_error", reason))
    def provenance(self): return None
    def mmio_read(self, peripheral, reg, value) -> None: pass
    def mmio_write(self, peripheral, reg, old, data) -> None: pass
    def unmodelled(self, peripheral, offset, size, is_write, value, reg) -> None:
        self.unmodelled_accesses.append((peripheral.name, offset, is_write))
    def trace_gated(self, peripheral, offset, is_write, value=0) -> None: pass
    def event(self, kind, text, **data) -> None: self.events.append((kind, text if isinstance(text, str) else text()))
