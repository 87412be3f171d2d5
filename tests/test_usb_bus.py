"""USB_DRD_FS at bus level, no firmware: CHEPnR write rules (FACTS §5.2), ISTR, PMA,
buffer descriptors and the device-side transaction verbs the simulated host uses."""
from __future__ import annotations

import pytest

from emulator.core.clock import PS_PER_S
from emulator.machine import Machine
from peripherals import c071
from peripherals.usb import ACK, NAK_HS, NO_RESPONSE, STALL_HS

USB, PMA = c071.USB, c071.USB_PMA
CHEP0R, CHEP1R = USB + 0x00, USB + 0x04
CNTR, ISTR, FNR, DADDR, LPMCSR, BCDR = (USB + o for o in (0x40, 0x44, 0x48, 0x4C, 0x54, 0x58))
RCC_CR, RCC_APBRSTR1, RCC_APBENR1, RCC_CCIPR2 = 0x4002_1000, 0x4002_102C, 0x4002_103C, 0x4002_1058
USBEN, CRSEN = 1 << 13, 1 << 16
HSIUSB48ON, HSIUSB48RDY = 1 << 22, 1 << 23

STATTX_VALID, STATTX_NAK, STATTX_STALL = 3 << 4, 2 << 4, 1 << 4
STATRX_VALID, STATRX_NAK, STATRX_STALL = 3 << 12, 2 << 12, 1 << 12
DTOGTX, VTTX, EPKIND, SETUP, DTOGRX, VTRX = 1 << 6, 1 << 7, 1 << 8, 1 << 11, 1 << 14, 1 << 15
CONTROL, BULK = 1 << 9, 0
USB_IRQ = 16 + c071.IRQ_USB


def advance(m: Machine, seconds: float) -> None:
    """Move simulated time forward with no firmware and fire what fell due."""
    m.clock.cycles = m.clock.cycle_at(m.clock.time_ps() + int(seconds * PS_PER_S))
    m.loop._fire_due_events()


@pytest.fixture
def m() -> Machine:
    m = Machine()
    m.reset("power")
    m.bus_write(RCC_APBENR1, USBEN)
    advance(m, 1e-4)            # HSIUSB48 starts by itself (USBSEL = 0) and becomes ready
    return m


def chep_set(m: Machine, address: int, value: int) -> None:
    """Plain write as the bus sees it (no read-modify-write helper)."""
    m.bus_write(address, value)


# -- CHEPnR write rules ------------------------------------------------------------
def test_chep_stat_fields_toggle_on_written_one(m):
    chep_set(m, CHEP1R, STATTX_VALID | STATRX_NAK)          # 00 ^ 11, 00 ^ 10
    assert m.bus_read(CHEP1R) & 0x3030 == STATTX_VALID | STATRX_NAK
    chep_set(m, CHEP1R, (1 << 4) | (1 << 12))               # toggling bit 0 of each STAT
    assert m.bus_read(CHEP1R) & 0x3030 == (2 << 4) | (3 << 12)
    chep_set(m, CHEP1R, 0)                                   # writing 0 leaves toggle fields alone
    assert m.bus_read(CHEP1R) & 0x3030 == (2 << 4) | (3 << 12)


def test_chep_dtog_bits_toggle_on_written_one(m):
    chep_set(m, CHEP1R, DTOGTX | DTOGRX)
    assert m.bus_read(CHEP1R) & (DTOGTX | DTOGRX) == DTOGTX | DTOGRX
    chep_set(m, CHEP1R, DTOGRX)
    assert m.bus_read(CHEP1R) & (DTOGTX | DTOGRX) == DTOGTX


def test_chep_vt_bits_cleared_by_zero_and_kept_by_one(m):
    m.usb.chep[1].value |= VTRX | VTTX                       # as the hardware sets them
    chep_set(m, CHEP1R, VTRX | VTTX)
    assert m.bus_read(CHEP1R) & (VTRX | VTTX) == VTRX | VTTX
    chep_set(m, CHEP1R, VTTX)                                # 0 in VTRX clears it
    assert m.bus_read(CHEP1R) & (VTRX | VTTX) == VTTX
    chep_set(m, CHEP1R, 0)
    assert m.bus_read(CHEP1R) & (VTRX | VTTX) == 0


def test_chep_vt_bits_cannot_be_set_by_software(m):
    chep_set(m, CHEP1R, VTRX | VTTX)
    assert m.bus_read(CHEP1R) & (VTRX | VTTX) == 0


def test_chep_setup_bit_is_read_only(m):
    chep_set(m, CHEP0R, SETUP)
    assert not m.bus_read(CHEP0R) & SETUP
    m.usb.chep[0].value |= SETUP
    chep_set(m, CHEP0R, 0)
    assert m.bus_read(CHEP0R) & SETUP


def test_chep_ea_utype_epkind_are_read_write(m):
    chep_set(m, CHEP1R, 0x5 | (3 << 9) | EPKIND)
    assert m.bus_read(CHEP1R) & 0x70F == 0x5 | (3 << 9) | EPKIND
    chep_set(m, CHEP1R, 0x2)
    assert m.bus_read(CHEP1R) & 0x70F == 0x2


def test_chep_read_modify_write_per_st_mask_changes_only_the_target(m):
    """FACTS §5.2: read, keep the normal bits (mask 0x07FF_8F8F), XOR the STAT target, write."""
    chep_set(m, CHEP1R, 1 | STATRX_NAK | STATTX_NAK)
    m.usb.chep[1].value |= VTRX
    value = m.bus_read(CHEP1R)
    write = (value & 0x07FF_8F8F | VTRX | VTTX) ^ (STATRX_NAK ^ STATRX_VALID)   # NAK -> VALID
    m.bus_write(CHEP1R, write & ~0x3070 | (write & 0x3000))
    after = m.bus_read(CHEP1R)
    assert after & 0x3000 == STATRX_VALID and after & 0x30 == STATTX_NAK and after & VTRX


# -- other registers ----------------------------------------------------------------
def test_reset_values(m):
    assert m.bus_read(CNTR) == 0x3
    assert m.bus_read(ISTR) == 0 and m.bus_read(FNR) == 0 and m.bus_read(DADDR) == 0
    assert m.bus_read(BCDR) == 0 and m.bus_read(LPMCSR) == 0


def test_istr_flags_cleared_by_writing_zero(m):
    m.usb.reg["ISTR"].value |= (1 << 9) | (1 << 10)
    m.bus_write(ISTR, ~(1 << 9) & 0xFFFFFFFF)
    assert m.bus_read(ISTR) & 0x600 == 1 << 10


def test_istr_ctr_idn_dir_follow_the_endpoint_flags(m):
    m.usb.chep[3].value |= VTTX                              # as the engine sets them, then updates the flags
    m.usb._update_irq()
    assert m.bus_read(ISTR) & 0x801F == 0x8003
    m.usb.chep[2].value |= VTRX
    m.usb._update_irq()
    assert m.bus_read(ISTR) & 0x801F == 0x8000 | 0x10 | 2
    m.bus_write(ISTR, 0)                                     # CTR is read-only
    assert m.bus_read(ISTR) & 0x8000


def test_usb_irq_follows_istr_and_cntr_masks(m):
    m.bus_write(CNTR, 0)
    m.usb.chep[1].value |= VTRX
    m.usb._update_irq()
    assert not m.book.line_level >> c071.IRQ_USB & 1
    m.bus_write(CNTR, 1 << 15)                               # CTRM
    assert m.book.line_level >> c071.IRQ_USB & 1
    m.bus_write(CHEP1R, 0)                                   # VTRX cleared
    assert not m.book.line_level >> c071.IRQ_USB & 1


def test_force_reset_clears_endpoints_but_keeps_vt_bits_and_clears_daddr(m):
    m.bus_write(CNTR, 0)
    chep_set(m, CHEP1R, 1 | STATRX_VALID | BULK)
    m.usb.chep[1].value |= VTRX
    m.bus_write(DADDR, 0x85)
    m.bus_write(CNTR, 1)                                     # USBRST
    assert m.bus_read(CHEP1R) == VTRX
    assert m.bus_read(DADDR) == 0
    assert m.bus_read(ISTR) & (1 << 10)


def test_pma_is_word_memory_and_survives_usbrst(m):
    m.bus_write(PMA + 0x40, 0x1122_3344)
    assert m.bus_read(PMA + 0x40) == 0x1122_3344
    assert m.bus_read(PMA + 0x41, 1) == 0x33
    m.bus_write(RCC_APBRSTR1, USBEN)
    m.bus_write(RCC_APBRSTR1, 0)
    assert m.bus_read(PMA + 0x40) == 0x1122_3344


def test_apbrstr1_usbrst_restores_reset_values(m):
    m.bus_write(CNTR, 0)
    m.bus_write(DADDR, 0x80)
    m.bus_write(RCC_APBRSTR1, USBEN)
    m.bus_write(RCC_APBRSTR1, 0)
    assert m.bus_read(CNTR) == 3 and m.bus_read(DADDR) == 0


def test_registers_keep_their_state_while_the_clock_is_off(m):
    m.bus_write(CNTR, 0)
    m.bus_write(DADDR, 0x83)
    m.bus_write(RCC_APBENR1, 0)
    assert m.bus_read(DADDR) == 0                            # gated: reads as 0
    m.bus_write(DADDR, 0)                                    # ignored
    m.bus_write(RCC_APBENR1, USBEN)
    assert m.bus_read(DADDR) == 0x83


# -- clocking and presence ---------------------------------------------------------
def test_usben_with_usbsel_hsiusb48_turns_the_oscillator_on():
    m = Machine()
    m.reset("power")
    assert not m.bus_read(RCC_CR) & HSIUSB48ON
    m.bus_write(RCC_APBENR1, USBEN)
    assert m.bus_read(RCC_CR) & HSIUSB48ON
    assert m.rcc.usb_kernel_clock_hz() == 0                  # not ready yet
    advance(m, 1e-4)
    assert m.bus_read(RCC_CR) & HSIUSB48RDY
    assert m.rcc.usb_kernel_clock_hz() == 48_000_000


def attach(m: Machine) -> None:
    m.bus_write(CNTR, 0)
    m.bus_write(BCDR, 1 << 15)


def test_device_absent_without_usben(m):
    attach(m)
    assert m.usb.attached()
    m.bus_write(RCC_APBENR1, 0)
    assert not m.usb.attached()


def test_device_absent_when_usbsel_selects_a_missing_hse(m):
    attach(m)
    m.bus_write(RCC_CCIPR2, 1 << 12)
    assert m.rcc.usb_kernel_clock_hz() == 0
    assert not m.usb.attached()


def test_device_absent_without_dppu(m):
    m.bus_write(CNTR, 0)
    assert not m.usb.attached()


# -- transactions at device level ----------------------------------------------------
def configure_ep0(m: Machine) -> None:
    attach(m)
    m.bus_write(PMA + 0, 0x40)                               # TXBD0: ADDR_TX 0x40
    m.bus_write(PMA + 4, 0x80 | (1 << 31) | (1 << 26))      # RXBD0: 0x80, 64 bytes
    m.bus_write(CHEP0R, CONTROL | STATRX_VALID | STATTX_NAK)
    m.bus_write(DADDR, 0x80)


def test_setup_is_stored_with_count_and_flags(m):
    configure_ep0(m)
    assert m.usb.setup(0, bytes(range(8))) == ACK
    chep = m.bus_read(CHEP0R)
    assert chep & (VTRX | SETUP) == VTRX | SETUP
    assert chep & 0x3030 == STATRX_NAK | STATTX_NAK
    assert chep & (DTOGRX | DTOGTX) == DTOGRX | DTOGTX
    assert m.bus_read(PMA + 4) >> 16 & 0x3FF == 8
    assert m.bus_read(PMA + 0x80) == 0x0302_0100
    assert m.bus_read(ISTR) & 0x801F == 0x8010


def test_out_nak_then_ack(m):
    configure_ep0(m)
    m.bus_write(CHEP0R, CONTROL | STATRX_VALID ^ STATRX_NAK)           # RX VALID -> NAK
    assert m.usb.out(0, b"ab", toggle=0) == NAK_HS
    m.bus_write(CHEP0R, CONTROL | VTRX | VTTX | (STATRX_NAK ^ STATRX_VALID))
    assert m.usb.out(0, b"ab", toggle=0) == ACK
    assert m.bus_read(CHEP0R) & (VTRX | DTOGRX) == VTRX | DTOGRX


def test_out_with_wrong_toggle_is_acked_and_discarded(m):
    configure_ep0(m)
    assert m.usb.out(0, b"xy", toggle=1) == ACK
    assert not m.bus_read(CHEP0R) & VTRX
    assert m.bus_read(CHEP0R) & 0x3000 == STATRX_VALID


def test_in_sends_tx_buffer_then_naks(m):
    configure_ep0(m)
    m.bus_write(PMA + 0x40, 0x6463_6261)
    m.bus_write(PMA + 0, 0x40 | 3 << 16)
    m.bus_write(CHEP0R, CONTROL | VTRX | VTTX | (STATTX_NAK ^ STATTX_VALID))
    assert m.usb.in_(0) == (ACK, b"abc", 0)
    assert m.bus_read(CHEP0R) & (VTTX | DTOGTX) == VTTX | DTOGTX
    assert m.usb.in_(0)[0] == NAK_HS


def test_stall_and_disabled_endpoints(m):
    configure_ep0(m)
    m.bus_write(CHEP0R, CONTROL | VTRX | VTTX | (STATTX_NAK ^ STATTX_STALL) | (STATRX_VALID ^ STATRX_STALL))
    assert m.usb.in_(0)[0] == STALL_HS
    assert m.usb.out(0, b"") == STALL_HS
    assert m.usb.setup(0, bytes(8)) == ACK                  # a control endpoint always takes SETUP
    assert m.usb.in_(2)[0] == NO_RESPONSE                    # no such endpoint


def test_wrong_address_gets_no_answer(m):
    configure_ep0(m)
    assert m.usb.setup(0, bytes(8), address=5) == NO_RESPONSE


def test_oversized_packet_is_not_accepted(m):
    configure_ep0(m)
    m.bus_write(PMA + 4, 0x80 | (1 << 26))                  # BLSIZE 0, 1 block = 2 bytes
    assert m.usb.out(0, b"abc", toggle=0) == NO_RESPONSE
    assert m.bus_read(ISTR) & (1 << 13)


def test_sof_sets_flag_frame_number_and_lock(m):
    configure_ep0(m)
    m.usb.sof(5)
    assert m.bus_read(ISTR) & (1 << 9)
    assert m.bus_read(FNR) & 0x7FF == 5 and not m.bus_read(FNR) & (1 << 13)
    m.usb.sof(6)
    assert m.bus_read(FNR) & (1 << 13)


# -- direction, double buffering, isochronous (RM0490 §31.5) --------------------------------------
CHEP2R, CHEP3R, CHEP4R = USB + 0x08, USB + 0x0C, USB + 0x10
ISO = 2 << 9


def test_tokens_reach_the_register_serving_their_direction(m):
    configure_ep0(m)
    m.bus_write(PMA + 8 * 3 + 4, 0x100 | (1 << 31) | (1 << 26))   # CHEP3R: EP3 OUT, RX buffer 0x100
    m.bus_write(CHEP3R, 3 | BULK | STATRX_VALID)
    m.bus_write(PMA + 0x140, 0x0033_3231)
    m.bus_write(PMA + 8 * 4, 0x140 | 3 << 16)                     # CHEP4R: EP3 IN (0x83), "123"
    m.bus_write(CHEP4R, 3 | BULK | STATTX_VALID)
    assert m.usb.in_(3) == (ACK, b"123", 0)                        # not CHEP3R's (disabled) TX side
    assert m.usb.out(3, b"out", toggle=0) == ACK
    assert m.bus_read(CHEP3R) & VTRX and m.bus_read(CHEP4R) & VTTX
    assert m.bus_read(PMA + 0x100) & 0xFFFFFF == int.from_bytes(b"out", "little")


def _double_buffered_out(m: Machine) -> None:
    configure_ep0(m)
    m.bus_write(PMA + 8 * 1, 0x100 | (1 << 31) | (1 << 26))      # buffer 0 in the TXBD slot
    m.bus_write(PMA + 8 * 1 + 4, 0x140 | (1 << 31) | (1 << 26))  # buffer 1 in the RXBD slot
    m.bus_write(CHEP1R, 1 | BULK | EPKIND | STATRX_VALID | DTOGTX)  # DTOG_RX 0, SW_BUF 1


def test_double_buffered_bulk_out_alternates_buffers_and_naks_until_the_application_releases_one(m):
    _double_buffered_out(m)
    assert m.usb.out(1, b"first", toggle=0) == ACK
    chep = m.bus_read(CHEP1R)
    assert chep & (VTRX | DTOGRX) == VTRX | DTOGRX and chep & 0x3000 == STATRX_VALID   # STAT stays VALID
    assert m.bus_read(PMA + 8) >> 16 & 0x3FF == 5                  # COUNT in buffer 0's word
    assert m.usb.out(1, b"second", toggle=1) == NAK_HS             # DTOG_RX = SW_BUF: no free buffer
    m.bus_write(CHEP1R, 1 | BULK | EPKIND | VTTX | DTOGTX)          # VTRX cleared, SW_BUF toggled
    assert m.usb.out(1, b"second", toggle=1) == ACK
    assert m.bus_read(PMA + 12) >> 16 & 0x3FF == 6                 # buffer 1
    assert m.usb.pma.load(0x100, 5) == b"first" and m.usb.pma.load(0x140, 6) == b"second"
    assert m.usb.out(1, b"third", toggle=0) == NAK_HS


def test_double_buffered_bulk_in_sends_buffer_dtog_tx_once_released(m):
    configure_ep0(m)
    m.usb.pma.store(0x100, b"zero")
    m.usb.pma.store(0x140, b"one!")
    m.bus_write(PMA + 8 * 1, 0x100 | 4 << 16)
    m.bus_write(PMA + 8 * 1 + 4, 0x140 | 4 << 16)
    m.bus_write(CHEP1R, 1 | BULK | EPKIND | STATTX_VALID)           # DTOG_TX = SW_BUF = 0
    assert m.usb.in_(1)[0] == NAK_HS
    m.bus_write(CHEP1R, 1 | BULK | EPKIND | DTOGRX)                  # release buffer 0
    assert m.usb.in_(1) == (ACK, b"zero", 0)
    assert m.usb.in_(1)[0] == NAK_HS                                 # DTOG_TX 1 = SW_BUF 1
    m.bus_write(CHEP1R, 1 | BULK | EPKIND | VTRX | DTOGRX)
    assert m.usb.in_(1) == (ACK, b"one!", 1)
    assert m.bus_read(CHEP1R) & 0x30 == STATTX_VALID


def test_isochronous_endpoints_have_no_handshake_no_toggle_check_and_swap_buffers(m):
    configure_ep0(m)
    m.bus_write(PMA + 8 * 1, 0x100 | (1 << 31) | (1 << 26))
    m.bus_write(PMA + 8 * 1 + 4, 0x140 | (1 << 31) | (1 << 26))
    m.bus_write(CHEP1R, 1 | ISO | STATRX_VALID)                      # iso OUT
    assert m.usb.out(1, b"a" * 10, toggle=0) == "ISO"
    assert m.usb.out(1, b"b" * 20, toggle=0) == "ISO"                # DATA0 again: still taken
    assert m.usb.pma.load(0x100, 10) == b"a" * 10 and m.usb.pma.load(0x140, 20) == b"b" * 20
    assert m.bus_read(CHEP1R) & 0x3000 == STATRX_VALID               # never NAKed
    m.usb.pma.store(0x180, b"frame0")
    m.usb.pma.store(0x1C0, b"frame1")
    m.bus_write(PMA + 8 * 2, 0x180 | 6 << 16)
    m.bus_write(PMA + 8 * 2 + 4, 0x1C0 | 6 << 16)
    m.bus_write(CHEP2R, 1 | ISO | STATTX_VALID)                      # iso IN, same EA
    assert [m.usb.in_(1) for _ in range(3)] == [("ISO", b"frame0", 0), ("ISO", b"frame1", 0),
                                               ("ISO", b"frame0", 0)]


def test_iso_packet_larger_than_its_buffer_is_truncated_and_flags_err(m):
    configure_ep0(m)
    m.bus_write(PMA + 8 * 1, 0x100 | (1 << 26))                      # 2-byte blocks x 1: 2 bytes
    m.bus_write(CHEP1R, 1 | ISO | STATRX_VALID)
    assert m.usb.out(1, b"abcd", toggle=0) == "ISO"
    assert m.bus_read(ISTR) & (1 << 13) and m.bus_read(PMA + 8) >> 16 & 0x3FF == 2
