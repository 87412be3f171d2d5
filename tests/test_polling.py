"""The busy-wait detector's rule: two identical consecutive iterations at a poll point."""
from __future__ import annotations

from emulator.core.polling import PollDetector


class FakeCore:
    """Stands in for the CPU: a PC, a register state and an instruction counter."""

    def __init__(self) -> None:
        self.pc = 0
        self.state = [0]
        self.n = 0

    def detector(self) -> PollDetector:
        return PollDetector(lambda: list(self.state), lambda: self.n, lambda: self.pc)

    def read(self, d: PollDetector, pc: int, address: int, value: int, step: int = 3) -> bool:
        self.pc = pc
        self.n += step
        return d.observe_read(address, value)


def test_single_status_poll_is_confirmed_after_two_identical_iterations():
    core = FakeCore()
    d = core.detector()
    results = [core.read(d, 0x100, 0x4002_1000, 0) for _ in range(4)]
    assert results == [False, False, False, True]
    assert d.take_skip() == 3


def test_loop_polling_two_registers_in_turn_is_confirmed():
    core = FakeCore()
    d = core.detector()
    results = []
    for _ in range(4):
        results.append(core.read(d, 0x100, 0x4000_5C44, 0))      # USB ISTR
        results.append(core.read(d, 0x120, 0x4001_381C, 0xC0))   # USART ISR
    assert True in results
    assert d.take_skip() == 6


def test_a_counting_loop_is_never_confirmed():
    core = FakeCore()
    d = core.detector()
    for i in range(10):
        core.state = [i]                                  # a timeout counter changes a register
        assert not core.read(d, 0x100, 0x4002_1000, 0)


def test_a_value_that_changes_between_iterations_is_never_confirmed():
    core = FakeCore()
    d = core.detector()
    for i in range(10):
        core.read(d, 0x100, 0x4000_5C44, 0)
        assert not core.read(d, 0x120, 0xE000_E018, 1000 - i)   # SysTick VAL counting down


def test_forget_after_a_write_restarts_the_count():
    core = FakeCore()
    d = core.detector()
    for _ in range(3):
        core.read(d, 0x100, 0x4002_1000, 0)
    d.forget()
    assert not core.read(d, 0x100, 0x4002_1000, 0)
    assert not core.read(d, 0x100, 0x4002_1000, 0)


def test_the_read_that_sees_the_flag_change_is_not_skipped():
    core = FakeCore()
    d = core.detector()
    for _ in range(3):
        core.read(d, 0x100, 0x4002_1000, 0)
    assert not core.read(d, 0x100, 0x4002_1000, 1 << 10)     # HSIRDY just rose: the loop exits
