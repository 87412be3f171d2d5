"""CRS at bus level (FACTS §5.4): reset values, CFGR lock under CEN, sync on SWSYNC and USB SOF, ICR."""
from __future__ import annotations

from emulator.machine import Machine
from peripherals import c071

CR, CFGR, ISR, ICR = (c071.CRS + o for o in (0x0, 0x4, 0x8, 0xC))
RCC_APBENR1 = 0x4002_103C
CRSEN = 1 << 16
CEN, SWSYNC, SYNCOKIE = 1 << 5, 1 << 7, 1 << 0
SYNCOKF = 1 << 0


def machine() -> Machine:
    m = Machine()
    m.reset("power")
    m.bus_write(RCC_APBENR1, CRSEN)
    return m


def test_reset_values():
    m = machine()
    assert m.bus_read(CR) == 0x4000 and m.bus_read(CFGR) == 0x2022_BB7F and m.bus_read(ISR) == 0


def test_cfgr_is_write_protected_while_cen_is_set():
    m = machine()
    m.bus_write(CFGR, 0x2022_0001)
    assert m.bus_read(CFGR) == 0x2022_0001
    m.bus_write(CR, 0x4000 | CEN)
    m.bus_write(CFGR, 0x2022_BB7F)
    assert m.bus_read(CFGR) == 0x2022_0001


def test_swsync_sets_syncok_only_with_cen_and_icr_clears_it():
    m = machine()
    m.bus_write(CR, 0x4000 | SWSYNC)
    assert not m.bus_read(ISR) & SYNCOKF
    m.bus_write(CR, 0x4000 | CEN | SWSYNC)
    assert m.bus_read(ISR) & SYNCOKF
    assert not m.bus_read(CR) & SWSYNC                       # write-only action
    m.bus_write(ICR, SYNCOKF)
    assert not m.bus_read(ISR) & SYNCOKF


def test_usb_sof_syncs_and_raises_the_shared_rcc_crs_line():
    m = machine()
    m.bus_write(CR, 0x4000 | CEN | SYNCOKIE)
    m.usb.on_sof(1)
    assert m.bus_read(ISR) & SYNCOKF
    assert m.book.line_level >> c071.IRQ_RCC_CRS & 1
    m.bus_write(ICR, SYNCOKF)
    assert not m.book.line_level >> c071.IRQ_RCC_CRS & 1


def test_sof_ignored_when_sync_source_is_not_usb():
    m = machine()
    m.bus_write(CFGR, 0x0022_BB7F)                           # SYNCSRC = GPIO
    m.bus_write(CR, 0x4000 | CEN)
    m.usb.on_sof(1)
    assert not m.bus_read(ISR) & SYNCOKF
