"""Core and RCC/SYSCFG/DBG registers driven through the machine's bus, with no firmware (qtest style)."""
from __future__ import annotations

import pytest

from emulator.core.clock import PS_PER_S
from peripherals import c071

# ARMv6-M B3.2 / B3.3 / B3.4
SYST_CTRL, SYST_CALIB = 0xE000_E010, 0xE000_E01C
NVIC_ISER, NVIC_ICER, NVIC_ISPR, NVIC_ICPR, NVIC_IPR0 = 0xE000_E100, 0xE000_E180, 0xE000_E200, 0xE000_E280, 0xE000_E400
SCB_CPUID, SCB_ICSR, SCB_AIRCR = 0xE000_ED00, 0xE000_ED04, 0xE000_ED0C
VECTKEY = 0x05FA << 16
SYSRESETREQ = 1 << 2
PENDSVSET = 1 << 28
# RM0490 §6.4
RCC_CR, RCC_CFGR, RCC_APBRSTR2, RCC_APBENR1, RCC_APBENR2 = (c071.RCC + off for off in (0x00, 0x08, 0x30, 0x3C, 0x40))
DBGEN = 1 << 27
HSIUSB48ON, HSIUSB48RDY = 1 << 22, 1 << 23
SYSCFGEN = SYSCFGRST = 1 << 0
SYSCFG_CFGR1 = c071.SYSCFG
DBG_IDCODE = c071.DBG
IRQ_BASE = 16


@pytest.fixture
def m(power_on_machine):
    return power_on_machine


# -- NVIC --------------------------------------------------------------------------------------
def test_nvic_iser_sets_and_icer_clears_enables(m):
    m.bus_write(NVIC_ISER, (1 << 5) | (1 << 31))
    assert m.bus_read(NVIC_ISER) == (1 << 5) | (1 << 31)
    assert m.bus_read(NVIC_ICER) == (1 << 5) | (1 << 31)
    m.bus_write(NVIC_ICER, 1 << 5)
    assert m.bus_read(NVIC_ISER) == 1 << 31
    m.bus_write(NVIC_ISER, 0)                         # writing 0 changes nothing
    assert m.bus_read(NVIC_ISER) == 1 << 31


def test_nvic_ispr_pends_and_icpr_unpends(m):
    m.bus_write(NVIC_ISPR, 1 << 9)
    assert m.book.is_pending(IRQ_BASE + 9)
    assert m.book.pending == 1 << (IRQ_BASE + 9)
    assert m.bus_read(NVIC_ISPR) == 1 << 9
    m.bus_write(NVIC_ICPR, 1 << 9)
    assert not m.book.is_pending(IRQ_BASE + 9) and m.bus_read(NVIC_ISPR) == 0


def test_nvic_ipr_keeps_only_the_two_implemented_priority_bits(m):
    m.bus_write(NVIC_IPR0 + 4, 0xFFFF_FFFF)
    assert m.bus_read(NVIC_IPR0 + 4) == 0xC0C0_C0C0
    m.bus_write(NVIC_IPR0 + 4, 0x7F40_BF01)
    assert m.bus_read(NVIC_IPR0 + 4) == 0x4040_8000
    assert m.book.priority(IRQ_BASE + 5) == 0x80     # IPR1 byte 1 is IRQ 5


# -- SCB -----------------------------------------------------------------------------------------
def test_cpuid_is_cortex_m0plus_r0p0(m):
    assert m.bus_read(SCB_CPUID) == 0x410C_C600


def test_aircr_sysresetreq_without_vectkey_is_ignored(m):
    m.bus_write(SCB_AIRCR, SYSRESETREQ)
    assert m.loop.reset_request is None
    assert m.bus_read(SCB_AIRCR) >> 16 == 0xFA05        # VECTKEYSTAT


def test_aircr_sysresetreq_with_vectkey_requests_a_software_reset(m):
    m.bus_write(SCB_AIRCR, VECTKEY | SYSRESETREQ)
    assert m.loop.reset_request == "software"


def test_icsr_pendsvset_pends_pendsv_and_reads_back(m):
    m.bus_write(SCB_ICSR, PENDSVSET)
    assert m.bus_read(SCB_ICSR) & PENDSVSET
    assert m.book.is_pending(c071.PENDSV)


def test_systick_calib_reports_tenms(m):
    assert m.bus_read(SYST_CALIB) & 0xFF_FFFF == 1000
    assert m.bus_read(SYST_CTRL) == 0


# -- RCC, clock gating and reset pulses --------------------------------------------------------
def test_rcc_cr_reset_value(m):
    assert m.bus_read(RCC_CR) == 0x0000_1540


def test_peripheral_with_clock_off_reads_zero_and_ignores_writes(m):
    assert not m.bus_read(RCC_APBENR2) & SYSCFGEN
    m.bus_write(RCC_APBENR2, SYSCFGEN)
    reset_value = m.bus_read(SYSCFG_CFGR1)
    assert reset_value & 3 == m.boot_mode.value                # MEM_MODE shows the boot memory
    assert reset_value != 0
    remaps = len(m.trace.of_kind("syscfg.remap"))
    m.bus_write(RCC_APBENR2, 0)
    assert m.bus_read(SYSCFG_CFGR1) == 0                       # gated: reads as zero
    m.bus_write(SYSCFG_CFGR1, 0b11)                            # ...and the write is dropped
    m.bus_write(RCC_APBENR2, SYSCFGEN)
    assert m.bus_read(SYSCFG_CFGR1) == reset_value
    assert len(m.trace.of_kind("syscfg.remap")) == remaps      # no remap happened


def test_reset_register_pulse_restores_syscfg_reset_value(m):
    m.bus_write(RCC_APBENR2, SYSCFGEN)
    reset_value = m.bus_read(SYSCFG_CFGR1)
    m.bus_write(SYSCFG_CFGR1, (reset_value & ~3) | 0b11)
    assert m.bus_read(SYSCFG_CFGR1) & 3 == 0b11
    m.bus_write(RCC_APBRSTR2, SYSCFGRST)
    m.bus_write(RCC_APBRSTR2, 0)
    assert m.bus_read(SYSCFG_CFGR1) == reset_value


def _advance(m, seconds: float) -> None:
    """Move simulated time forward with no firmware and fire what fell due."""
    m.clock.cycles = m.clock.cycle_at(m.clock.time_ps() + int(seconds * PS_PER_S))
    m.loop._fire_due_events()


def test_sysclk_switch_to_hsiusb48_waits_for_the_oscillator(m):
    m.bus_write(RCC_CR, m.bus_read(RCC_CR) | HSIUSB48ON)
    assert not m.bus_read(RCC_CR) & HSIUSB48RDY
    m.bus_write(RCC_CFGR, 2)                                   # SW = HSIUSB48
    assert m.bus_read(RCC_CFGR) >> 3 & 7 == 0                  # SWS still HSISYS
    assert m.rcc.hclk_hz() == 12_000_000
    _advance(m, 1e-3)
    assert m.bus_read(RCC_CR) & HSIUSB48RDY
    _advance(m, 1e-3)
    assert m.bus_read(RCC_CFGR) >> 3 & 7 == 2
    assert m.rcc.hclk_hz() == 48_000_000


# -- DBG, unmodelled blocks, holes ---------------------------------------------------------------
def test_dbg_idcode_reads_c071_device_id_once_dbgen_is_set(m):
    m.bus_write(RCC_APBENR1, DBGEN)
    assert m.bus_read(DBG_IDCODE) == 0x1000_6493


def test_dbg_idcode_reads_the_device_id_with_dbgen_clear_as_hal_getdevid_does(m):
    assert not m.bus_read(RCC_APBENR1) & DBGEN
    assert m.bus_read(DBG_IDCODE) & 0xFFF == 0x493


def test_dbg_freeze_registers_still_need_dbgen(m):
    m.bus_write(DBG_IDCODE + 0x08, 1 << 12)                    # DBG_APB_FZ1.DBG_IWDG_STOP, clock off
    m.bus_write(RCC_APBENR1, DBGEN)
    assert m.bus_read(DBG_IDCODE + 0x08) == 0


def test_access_to_an_unmodelled_block_is_recorded(m):
    """Every block of RM0490 Table 7 has a model now; a block listed in c071.UNMODELLED_BLOCKS
    would be mapped as this named gap, whose every access is reported."""
    from peripherals.unmodelled import UnmodelledBlock
    block = UnmodelledBlock("FUTURE", 0x4000_8000, 0x400, m.services)
    block.write(0x10, 4, 0x68)
    assert block.read(0x10, 4) == 0
    recorded = list(m.trace.unmodelled.values())
    assert [(a.what.split("+")[0], a.is_write) for a in recorded] == [("FUTURE", True), ("FUTURE", False)]
    assert recorded[0].value == 0x68


@pytest.mark.parametrize("address", [0x4000_8000, 0x4000_0800, 0x4001_FC00, 0x6000_0000])
def test_reserved_peripheral_address_is_not_a_register(m, address):
    with pytest.raises(ValueError, match=f"0x{address:08X}"):
        m.bus_read(address)


def test_reading_a_register_with_an_idle_unmodelled_control_bit_is_not_reported(power_on_machine):
    m = power_on_machine
    m.bus_read(0x4002_1000)                                   # RCC_CR: CSSON (not modelled) at reset value
    assert not any("RCC.CR" in a.what for a in m.trace.unmodelled.values())
    m.bus_write(0x4002_1000, m.bus_read(0x4002_1000) | 1 << 19)   # set CSSON: the model does not act on it
    assert any("RCC.CR" in a.what and a.is_write for a in m.trace.unmodelled.values())
