"""Low-power entry decided by SCB_SCR.SLEEPDEEP, PWR_CR1.LPMS and FLASH_OPTR (RM0490 §5.3), driven by
a two-instruction program in SRAM (a wait instruction, then ``b .``) with the registers set over the bus."""
from __future__ import annotations

import pytest

from emulator.core.runloop import EndReason
from emulator.machine import Machine, MachineConfig
from peripherals import c071

WFI, WFE, LOOP = 0xBF30, 0xBF20, 0xE7FE
SCB_SCR = 0xE000_ED10
SLEEPDEEP = 1 << 2
PWR_CR1, PWR_CR3, PWR_CR4, PWR_SR1 = c071.PWR, c071.PWR + 0x08, c071.PWR + 0x0C, c071.PWR + 0x10
RCC_CFGR, RCC_APBENR1, RCC_CSR2 = c071.RCC + 0x08, c071.RCC + 0x3C, c071.RCC + 0x60
PWREN = 1 << 28
FTSR1, EXTICR4, IMR1, EMR1 = c071.EXTI + 0x04, c071.EXTI + 0x6C, c071.EXTI + 0x80, c071.EXTI + 0x84
FACTORY_OPTR = 0x3FEF_FEAA
CODE = c071.SRAM_BASE + 0x100


def _machine(wait: int, lpms: int | None, sleepdeep: bool = True, **config) -> Machine:
    m = Machine(MachineConfig(**config))
    m.reset("power")
    m.loop.end = None                                   # erased flash: run the SRAM program instead
    m.debug_write(CODE, wait.to_bytes(2, "little") + LOOP.to_bytes(2, "little"))
    m.cpu.write("msp", c071.SRAM_BASE + c071.SRAM_SIZE)
    m.cpu.write("pc", CODE)
    m.bus_write(RCC_APBENR1, PWREN)
    if lpms is not None:
        m.bus_write(PWR_CR1, m.bus_read(PWR_CR1) & ~7 | lpms)
    if sleepdeep:
        m.bus_write(SCB_SCR, SLEEPDEEP)
    return m


def test_wfi_without_sleepdeep_is_plain_sleep():
    m = _machine(WFI, lpms=0b011, sleepdeep=False)
    end = m.run(max_seconds=0.01)
    assert end.reason is EndReason.TIME_LIMIT and "asleep" in end.detail
    assert m.power.mode == "run"
    assert m.clock.cycles > 100_000                     # Sleep: HCLK runs on


@pytest.mark.parametrize("sleepdeep,asleep_in", [(False, "run"), (True, "stop")])
def test_wfe_in_sleep_or_stop_is_woken_by_an_exti_event_line(sleepdeep, asleep_in):
    m = _machine(WFE, lpms=0b000, sleepdeep=sleepdeep)
    m.bus_write(c071.RCC + 0x34, 1 << 2)                # GPIOCEN
    m.bus_write(c071.GPIOC, m.bus_read(c071.GPIOC) & ~(3 << 26))   # PC13 input
    m.bus_write(EXTICR4, 2 << 8)
    m.bus_write(FTSR1, 1 << 13)
    m.bus_write(IMR1, 0)
    m.bus_write(EMR1, 1 << 13)                          # an event, no interrupt
    m.drive_pin("PC13", 1)
    m.run(max_seconds=0.01)
    assert m.power.mode == asleep_in and m.loop.sleeping and m.cpu.pc() == CODE + 2
    m.drive_pin("PC13", 0)
    m.run(max_seconds=0.001)
    assert m.power.mode == "run"
    assert not m.loop.sleeping and not m.loop.engine.event_register   # the wake-up consumed the event
    assert not m.book.pending                                           # no interrupt was involved


def test_wfi_in_stop_ignores_an_exti_event_line():
    m = _machine(WFI, lpms=0b000)
    m.bus_write(EMR1, 1 << 1)
    m.bus_write(c071.EXTI + 0x08, 1 << 1)               # SWIER1: a software event on line 1
    m.run(max_seconds=0.01)
    assert m.power.mode == "stop"


def test_stop_exit_forces_sysclk_back_to_hsisys():
    m = _machine(WFI, lpms=0b000, sleepdeep=False)
    m.bus_write(c071.RCC, m.bus_read(c071.RCC) | 1 << 22)   # HSIUSB48ON
    m.bus_write(RCC_CFGR, 2)                            # SW = HSIUSB48, taken once it is ready
    m.run(max_seconds=0.001)                            # Sleep: the clock tree runs
    assert m.bus_read(RCC_CFGR) >> 3 & 7 == 2 and m.rcc.hclk_hz() == 48_000_000
    m.bus_write(SCB_SCR, SLEEPDEEP)
    m.run(max_seconds=0.001)
    assert m.power.mode == "stop"
    assert not m.rcc.reg["CR"].get("HSIUSB48ON")        # Stop turned the oscillator off
    m.bus_write(IMR1, m.bus_read(IMR1) | 1)
    m.bus_write(0xE000_E100, 1 << c071.IRQ_EXTI0_1)     # NVIC_ISER
    m.bus_write(c071.EXTI + 0x08, 1)                    # SWIER1 line 0: an interrupt wakes the core
    m.run(max_seconds=0.001)
    assert m.power.mode == "run"
    assert m.bus_read(RCC_CFGR) & 0x3F == 0             # SW and SWS: HSISYS
    assert m.clock.hz == 12_000_000


def test_reserved_lpms_value_is_reported_loudly():
    m = _machine(WFI, lpms=0b001, strict=True)
    m.run(max_seconds=0.01)
    assert any("LPMS=001" in a.what for a in m.trace.unmodelled.values())


@pytest.mark.parametrize("lpms,option_bit", [(0b000, 13), (0b011, 14), (0b100, 15)])
def test_nrst_option_clear_turns_low_power_entry_into_a_reset(lpms, option_bit):
    m = _machine(WFI, lpms=lpms, option_bytes={"OPTR": FACTORY_OPTR & ~(1 << option_bit)})
    m.run(max_seconds=0.001)
    assert m.bus_read(RCC_CSR2) >> 31 & 1                # LPWRRSTF
    assert [e.text.split(" ")[0] for e in m.trace.of_kind("reset")] == ["power", "lowpower"]


def test_standby_loses_sram():
    m = _machine(WFI, lpms=0b011)
    m.debug_write(c071.SRAM_BASE, b"\x5a" * 16)
    m.run(max_seconds=0.001)
    assert m.power.mode == "standby"
    assert m.debug_read(c071.SRAM_BASE, 16) == bytes(16)
    assert m.bus_read(PWR_SR1) & 1 << 8                 # SBF set on entry


def test_shutdown_exit_through_wkup_is_a_power_on_reset_without_sbf():
    m = _machine(WFI, lpms=0b100)
    m.bus_write(PWR_CR3, m.bus_read(PWR_CR3) | 1)       # EWUP1: PA0, rising edge
    m.run(max_seconds=0.001)
    assert m.power.mode == "shutdown"
    m.drive_pin("PA0", 1)
    m.run(max_seconds=0.001)
    resets = [e.text.split(" ")[0] for e in m.trace.of_kind("reset")]
    assert resets == ["power", "power"]
    assert m.power.mode == "run"
    assert not m.pwr.reg["SR1"].value & 1 << 8


def test_pending_wakeup_flag_makes_standby_end_at_once():
    m = _machine(WFI, lpms=0b011)
    m.bus_write(PWR_CR3, m.bus_read(PWR_CR3) | 1)
    m.drive_pin("PA0", 1)                               # WUF1 set before the wfi, never cleared
    m.run(max_seconds=0.001)
    assert [e.text.split(" ")[0] for e in m.trace.of_kind("reset")] == ["power", "standby"]


def test_dbg_stop_keeps_hclk_running_in_stop_so_systick_wakes_the_core():
    m = _machine(WFI, lpms=0b000)
    m.bus_write(RCC_APBENR1, PWREN | 1 << 27)           # DBGEN
    m.bus_write(c071.DBG + 0x04, 1 << 1)                # DBG_CR.DBG_STOP
    m.bus_write(0xE000_E014, 11_999)                    # SysTick: 1 ms, interrupt
    m.bus_write(0xE000_E010, 7)
    m.run(max_seconds=0.0005)
    assert m.power.mode == "stop" and m.clock.cycles > 5_000
    m.run(max_seconds=0.001)
    assert m.power.mode == "run"                        # the SysTick exception ended the Stop
    assert [e.text.split(" ")[0] for e in m.trace.of_kind("pwr.stop")] == ["Stop", "woke"]


def test_only_an_exti_line_ends_stop_another_interrupt_stays_pending():
    m = _machine(WFI, lpms=0b000)
    m.run(max_seconds=0.001)
    assert m.power.mode == "stop"
    nvic_iser, nvic_ispr = 0xE000_E100, 0xE000_E200
    m.bus_write(nvic_iser, 1 << c071.IRQ_USART2 | 1 << c071.IRQ_USART1 | 1 << c071.IRQ_EXTI0_1)
    m.bus_write(nvic_ispr, 1 << c071.IRQ_USART2)        # USART2: no EXTI line on the C071
    m.run(max_seconds=0.001)
    assert m.power.mode == "stop"
    m.bus_write(IMR1, m.bus_read(IMR1) & ~(1 << 25))    # USART1's wake-up line masked
    m.bus_write(nvic_ispr, 1 << c071.IRQ_USART1)
    m.run(max_seconds=0.001)
    assert m.power.mode == "stop"
    m.bus_write(IMR1, m.bus_read(IMR1) | 1 << 25)       # unmasked: the USART1 interrupt wakes the core
    m.run(max_seconds=0.001)
    assert m.power.mode == "run"


@pytest.mark.parametrize("iwdg_stop,resets", [(1, 1), (0, 0)])
def test_iwdg_stop_option_decides_whether_the_iwdg_counts_in_stop(iwdg_stop, resets):
    optr = FACTORY_OPTR & ~(1 << 17) | iwdg_stop << 17
    m = _machine(WFI, lpms=0b000, option_bytes={"OPTR": optr})
    m.bus_write(c071.IWDG, 0xCCCC)                      # 0xFFF counts of LSI/4: 512 ms
    m.run(max_seconds=1.0)
    assert len([e for e in m.trace.of_kind("reset") if e.text.startswith("iwdg")]) == resets


def test_internal_wakeup_line_ends_standby_when_eiwul_is_set():
    m = _machine(WFI, lpms=0b011)
    m.run(max_seconds=0.001)
    assert m.power.mode == "standby"
    m.pwr.internal_wakeup(True)                         # what an RTC wake-up timer would do
    m.run(max_seconds=0.001)
    assert [e.text.split(" ")[0] for e in m.trace.of_kind("reset")] == ["power", "standby"]
    assert m.pwr.reg["SR1"].value & 1 << 8              # SBF
