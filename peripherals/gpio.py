"""General-purpose I/O port (GPIOA/B/C/D/F) on the IOPORT bus - RM0490 §7.

The register table follows RM0490 §7.4; the pin model is deliberately small:
a pin's level is decided by its mode (MODER), the output latch (ODR), an
optional level driven from outside the chip (``drive``/``release``, e.g. a
board strap on PA14 = BOOT0) and the pull resistors (PUPDR).

* Output push-pull: the pin is at ODR.
* Output open-drain: ODR = 0 pulls low; ODR = 1 releases the pin (external
  level, else the pull).
* Input / alternate function: the external level, else the pull (pull-up 1,
  pull-down 0, floating or reserved 0).
* Analog: the Schmitt trigger is off and IDR reads 0 (RM0490 §7.3.12); the pin
  itself still has its external level, which is what ``pin_level`` returns.

Peripheral alternate functions are not modelled: an AF pin reads as an input.
"""
from __future__ import annotations

from typing import Callable, Optional

from . import c071
from .regs import BusKind, Peripheral, reg, ro, rw, wo
from .services import ChipServices

PINS = 16

MODE_INPUT, MODE_OUTPUT, MODE_AF, MODE_ANALOG = 0, 1, 2, 3
PULL_NONE, PULL_UP, PULL_DOWN = 0, 1, 2

# Port reset values that differ from the all-analog default (RM0490 §7.4.1-§7.4.4):
# PA13 (SWDIO) and PA14 (SWCLK/BOOT0) come out of reset in AF mode, PA13 at very
# high speed with pull-up, PA14 with pull-down.  ST's SVD gives 0xFFFF_FFFF / 0 / 0
# for port A; the tests record that as an SVD exception (FACTS §10 item 12).
PORT_RESETS = {
    "GPIOA": dict(moder_reset=0xEBFF_FFFF, ospeedr_reset=0x0C00_0000, pupdr_reset=0x2400_0000),
    "GPIOB": {}, "GPIOC": {}, "GPIOD": {}, "GPIOF": {},
}
PORT_BASES = {"GPIOA": c071.GPIOA, "GPIOB": c071.GPIOB, "GPIOC": c071.GPIOC,
              "GPIOD": c071.GPIOD, "GPIOF": c071.GPIOF}

# LCKR key sequence states (RM0490 §7.4.8)
_LOCK_IDLE, _LOCK_GOT_1, _LOCK_GOT_0 = 0, 1, 2
_LCKK = 1 << 16


def _per_pin(prefix: str, width: int, count: int = PINS, first: int = 0, access=rw):
    return [access(f"{prefix}{first + i}", i * width, width) for i in range(count)]


def _compress(even_bits: int) -> int:
    """Gather bits 0, 2, 4 ... 30 of a per-pin 2-bit register into a 16-bit pin mask."""
    return (_EVEN[even_bits & 0xFF] | _EVEN[even_bits >> 8 & 0xFF] << 4
            | _EVEN[even_bits >> 16 & 0xFF] << 8 | _EVEN[even_bits >> 24 & 0xFF] << 12)


_EVEN = [sum((b >> (2 * i) & 1) << i for i in range(4)) for b in range(256)]


def _spread(pin_mask: int, width: int) -> int:
    """Expand a 16-bit pin mask to the per-pin field mask of a ``width``-bit-per-pin register."""
    out = 0
    for pin in range(PINS):
        if pin_mask >> pin & 1:
            out |= ((1 << width) - 1) << (pin * width)
    return out


class GpioPort(Peripheral):
    """One GPIO port.  ``name`` is "GPIOA" ... "GPIOF"; reset values per ``PORT_RESETS``."""

    name = "GPIO"
    bus = BusKind.AHB
    manual = "RM0490 §7"

    def __init__(self, name: str, base: int, services: ChipServices | None = None,
                 moder_reset: int = 0xFFFF_FFFF, ospeedr_reset: int = 0,
                 pupdr_reset: int = 0) -> None:
        self.name = name
        super().__init__(base, services, registers=[
            reg("MODER", 0x00, moder_reset, *_per_pin("MODE", 2), on_write=self._moder_written),
            reg("OTYPER", 0x04, 0, *_per_pin("OT", 1), on_write=self._otyper_written),
            reg("OSPEEDR", 0x08, ospeedr_reset, *_per_pin("OSPEED", 2), on_write=self._ospeedr_written),
            reg("PUPDR", 0x0C, pupdr_reset, *_per_pin("PUPD", 2), on_write=self._pupdr_written),
            reg("IDR", 0x10, 0, *_per_pin("ID", 1, access=ro), on_read=self._read_idr),
            reg("ODR", 0x14, 0, *_per_pin("OD", 1), on_write=lambda old, new: self._sense(),
                on_write_when=0xFFFF),
            reg("BSRR", 0x18, 0, *_per_pin("BS", 1, access=wo),
                *[wo(f"BR{i}", 16 + i) for i in range(PINS)], on_write=self._bsrr_written),
            reg("LCKR", 0x1C, 0, *_per_pin("LCK", 1), rw("LCKK", 16), on_write=self._lckr_written),
            reg("AFRL", 0x20, 0, *_per_pin("AFSEL", 4, 8), on_write=self._afrl_written),
            reg("AFRH", 0x24, 0, *_per_pin("AFSEL", 4, 8, first=8), on_write=self._afrh_written),
            reg("BRR", 0x28, 0, *_per_pin("BR", 1, access=wo), on_write=self._brr_written),
        ])
        self._driven: dict[int, int] = {}          # pin -> externally driven level (board side)
        self._lock_state = _LOCK_IDLE
        self._lock_pins = 0                         # LCK[15:0] of the sequence in progress
        self.locked_pins = 0                        # pins frozen by a completed key sequence
        self.lock_active = False                    # LCKK: a key sequence completed since reset
        # Listener of pin level changes (port, pin, level): the EXTI edge detectors and the
        # PWR wake-up pins, wired by the machine.  _levels is what it last heard.
        self.on_pin_change: Optional[Callable[["GpioPort", int, int], None]] = None
        self._moder, self._otyper, self._pupdr, self._odr = (self.reg[n] for n in ("MODER", "OTYPER", "PUPDR", "ODR"))
        self._config_key: Optional[tuple] = None    # what _config was derived from
        self._config = (0, 0, 0, 0, 0)
        self._levels = self.pin_levels()
        self._watched = 0xFFFF                      # until the wiring says otherwise, every pin matters

    def watch_pins(self, watched: int) -> None:
        """The pins whose level changes a listener of ``on_pin_change`` acts on (machine wiring:
        EXTI lines, WKUP pins).  An ODR write that changes only other pins has no effect
        beyond the stored bits, which ``on_write_when`` declares.  ``_levels`` of a pin nobody
        watched may be behind (its writes skipped ``_sense``): it is brought up to the pin's
        level when the pin becomes watched, so no edge is invented from a stale level."""
        newly = watched & ~self._watched
        if newly:
            self._levels = self._levels & ~newly | self.pin_levels() & newly
        self._watched = watched
        self._odr.on_write_when = watched

    def on_reset(self) -> None:
        self._lock_state = _LOCK_IDLE
        self._lock_pins = 0
        self.locked_pins = 0
        self.lock_active = False
        self._levels = self.pin_levels()            # a reset is not an edge: the listeners reset too

    # -- board side ---------------------------------------------------------------
    def drive(self, pin: int, level: int) -> None:
        """Drive ``pin`` from outside the chip to ``level`` (0/1) until ``release``."""
        self._check_pin(pin)
        self._driven[pin] = 1 if level else 0
        self._sense()

    def release(self, pin: int) -> None:
        """Stop driving ``pin`` from outside; it falls back to its pull resistor."""
        self._check_pin(pin)
        self._driven.pop(pin, None)
        self._sense()

    def pin_levels(self) -> int:
        """Electrical level of every pin as a 16-bit mask: ``pin_level`` of each, in bit arithmetic
        because every ODR/BSRR write asks (the EXTI must see the edges the firmware makes)."""
        return self._levels_and_analog()[0]

    def _levels_and_analog(self) -> tuple[int, int]:
        moder, pupdr = self._moder.value, self._pupdr.value
        key = (moder, pupdr, tuple(self._driven.items()))
        if key != self._config_key:
            # the pin configuration changes rarely, ODR on every toggle: derive the masks once
            low, high = moder & 0x5555_5555, moder >> 1 & 0x5555_5555
            self._config = (_compress(low & ~high), _compress(low & high),
                            _compress(pupdr & ~(pupdr >> 1) & 0x5555_5555),
                            sum(1 << pin for pin in self._driven),
                            sum(level << pin for pin, level in self._driven.items()))
            self._config_key = key
        output, analog, pull_up, driven_pins, driven_levels = self._config
        odr = self._odr.value & 0xFFFF
        forced = output & ~(self._otyper.value & odr)          # push-pull, or open-drain driving low
        free = ~forced & 0xFFFF
        driven_mask = driven_pins & free
        levels = (odr & forced) | (driven_levels & driven_mask) | (pull_up & free & ~driven_mask & ~analog)
        return levels, analog

    def _sense(self) -> None:
        """Report the pins whose level a drive, a release or a register write changed."""
        levels = self._levels_and_analog()[0]
        changed, self._levels = levels ^ self._levels, levels
        if changed and self.on_pin_change is not None:
            while changed:
                pin = (changed & -changed).bit_length() - 1        # lowest changed pin first
                changed &= changed - 1
                self.on_pin_change(self, pin, levels >> pin & 1)

    def mode(self, pin: int) -> int:
        return self.reg["MODER"].value >> (2 * pin) & 3

    def pull(self, pin: int) -> int:
        return self.reg["PUPDR"].value >> (2 * pin) & 3

    def pin_level(self, pin: int) -> int:
        """Electrical level of ``pin`` (what BOOT0 sampling sees, RM0490 §3.1)."""
        self._check_pin(pin)
        mode = self.mode(pin)
        odr = self.reg["ODR"].value >> pin & 1
        if mode == MODE_OUTPUT:
            open_drain = self.reg["OTYPER"].value >> pin & 1
            if not open_drain or odr == 0:
                return odr
        if pin in self._driven:
            return self._driven[pin]
        if mode == MODE_ANALOG:
            return 0                                # pulls are disconnected in analog mode
        return 1 if self.pull(pin) == PULL_UP else 0

    def _check_pin(self, pin: int) -> None:
        if not 0 <= pin < PINS:
            raise ValueError(f"{self.name}: pin {pin} out of range 0..15")

    # -- register behaviour ----------------------------------------------------------
    def _read_idr(self, stored: int) -> int:
        """IDR samples every pin; analog pins read 0 (RM0490 §7.3.12)."""
        levels, analog = self._levels_and_analog()
        return levels & ~analog

    def _bsrr_written(self, old: int, new: int) -> None:
        """BSy sets ODRy, BRy resets it; if both are written, BSy wins (RM0490 §7.4.7)."""
        sets, resets = new & 0xFFFF, new >> 16 & 0xFFFF
        odr = self.reg["ODR"]
        before = odr.value
        odr.value = (before & ~resets | sets) & 0xFFFF
        odr.note_change(before, self.reg["BSRR"].last_writer)      # the BSRR store changed these ODR bits
        self.reg["BSRR"].value = 0
        self._sense()

    def _brr_written(self, old: int, new: int) -> None:
        """BRy resets ODRy (RM0490 §7.4.11)."""
        odr = self.reg["ODR"]
        before = odr.value
        odr.value &= ~(new & 0xFFFF)
        odr.note_change(before, self.reg["BRR"].last_writer)
        self.reg["BRR"].value = 0
        self._sense()

    def _moder_written(self, old: int, new: int) -> None:
        self._keep_locked("MODER", _spread(self.locked_pins, 2), old, new)
        self._sense()

    def _otyper_written(self, old: int, new: int) -> None:
        self._keep_locked("OTYPER", self.locked_pins, old, new)
        self._sense()

    def _ospeedr_written(self, old: int, new: int) -> None:
        self._keep_locked("OSPEEDR", _spread(self.locked_pins, 2), old, new)

    def _pupdr_written(self, old: int, new: int) -> None:
        self._keep_locked("PUPDR", _spread(self.locked_pins, 2), old, new)
        self._sense()

    def _afrl_written(self, old: int, new: int) -> None:
        self._keep_locked("AFRL", _spread(self.locked_pins & 0xFF, 4), old, new)

    def _afrh_written(self, old: int, new: int) -> None:
        self._keep_locked("AFRH", _spread(self.locked_pins >> 8, 4), old, new)

    def _keep_locked(self, name: str, frozen: int, old: int, new: int) -> None:
        """Configuration bits of locked pins keep their value until reset (RM0490 §7.3.6)."""
        if frozen:
            self.reg[name].value = (new & ~frozen) | (old & frozen)

    def _lckr_written(self, old: int, new: int) -> None:
        """Lock key sequence: LCKK=1, LCKK=0, LCKK=1 with the same LCK[15:0] (RM0490 §7.4.8).

        The lock takes effect on the third write (the following read of LCKR that
        the manual asks for only confirms it).  Any other write aborts the sequence.
        Once locked, LCKR itself is frozen until the next reset.
        """
        r = self.reg["LCKR"]
        if self.lock_active:
            r.value = old
            return
        data = r.last_written
        pins, key = data & 0xFFFF, data & _LCKK
        if self._lock_state == _LOCK_IDLE and key:
            self._lock_state, self._lock_pins = _LOCK_GOT_1, pins
        elif self._lock_state == _LOCK_GOT_1 and not key and pins == self._lock_pins:
            self._lock_state = _LOCK_GOT_0
        elif self._lock_state == _LOCK_GOT_0 and key and pins == self._lock_pins:
            self._lock_state = _LOCK_IDLE
            self.locked_pins = pins
            self.lock_active = True
            r.value = pins | _LCKK
            self.services.event("gpio", f"{self.name}: configuration of pins {pins:#06x} locked")
            return
        else:
            self._lock_state = _LOCK_IDLE
            if key:
                self._lock_state, self._lock_pins = _LOCK_GOT_1, pins
        r.value = pins                              # LCKK reads 0 until the lock is active


def make_port(name: str, services: Optional[ChipServices] = None) -> GpioPort:
    """Build port ``name`` ("GPIOA"...) at its RM0490 Table 7 base with its reset values."""
    return GpioPort(name, PORT_BASES[name], services, **PORT_RESETS[name])


def oracle_instances(services: ChipServices) -> list[GpioPort]:
    """Every port, for checks that walk all instances of a model (the SVD oracle)."""
    return [make_port(name, services) for name in PORT_BASES]
