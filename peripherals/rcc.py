"""Reset and clock control at 0x4002_1000 (RM0490 §6; FACTS §4).

Clock tree: SYSCLK = source / SYSDIV where the source is chosen by SWS (HSISYS =
HSI48 >> HSIDIV, HSE, HSIUSB48, LSI, LSE); HCLK = SYSCLK / HPRE; PCLK = HCLK / PPRE.
SYSDIV is linear (field + 1) and HSIDIV a power of two, as in the C0 HAL's
HAL_RCC_GetSysClockFreq.  Oscillator ready bits rise after a start-up time
(DS14693 was not retrieved: the figures below are labelled assumptions of the
same order as the C031 datasheet), SWS follows SW once the source is ready.

Enable registers gate peripheral clocks: a gated peripheral ignores writes and
reads as 0 (RM0490 §6.2.15 says only "not effective"; FACTS §10 q.8).  Reset
registers hold the peripheral in reset while the bit is 1 (registers at reset
values), so a set-then-clear pulse restores reset values.  CSR2 reset flags
survive a system reset and are cleared by RMVF or a power-on reset (§6.4.27).
"""
from __future__ import annotations

from typing import Callable, Optional

from . import c071
from .regs import Peripheral, reg, ro, rw, todo, wo, BusKind

HSI48_STARTUP_S = 4e-6        # assumption (DS14693 not retrieved)
HSIUSB48_STARTUP_S = 4e-6     # assumption
LSI_STARTUP_S = 130e-6        # assumption
HSE_STARTUP_S = 2e-3          # typical crystal start-up in ST datasheets (tSU(HSE) 2 ms)
LSE_STARTUP_S = 2.0           # typical 32.768 kHz crystal start-up in ST datasheets (tSU(LSE) 2 s)
SWITCH_CYCLES = 4             # SW -> SWS latency in HCLK cycles (assumption)

RESET_FLAGS = {"obl": 25, "pin": 26, "power": 27, "software": 28, "iwdg": 29, "wwdg": 30, "lowpower": 31}
_HPRE = {8: 2, 9: 4, 10: 8, 11: 16, 12: 64, 13: 128, 14: 256, 15: 512}


def _bits(*pairs: tuple[str, int]):
    return [rw(name, bit) for name, bit in pairs]


class ResetClockControl(Peripheral):
    name = "RCC"
    bus = BusKind.AHB
    manual = "RM0490 §6"

    def __init__(self, base: int = c071.RCC, services=None, hse_hz: Optional[int] = None,
                 lse_hz: Optional[int] = c071.LSE_HZ) -> None:
        self.hse_hz = hse_hz
        self.lse_hz = lse_hz                  # NUCLEO boards fit a 32.768 kHz LSE crystal
        self._rtc_domain_csr1 = 0             # CSR1 survives system resets (RTC domain, RM0490 §6.1.3)
        self.rtc_domain_reset: Callable[[], None] = lambda: None    # the RTC (machine wiring)
        self.rtc_clock_changed: Callable[[], None] = lambda: None   # the RTC (machine wiring)
        self._gated: dict[tuple[str, int], list[Peripheral]] = {}
        self._resettable: dict[tuple[str, int], list[Peripheral]] = {}
        registers = [
            reg("CR", 0x00, 0x0000_1540,
                rw("SYSDIV", 2, 3), rw("HSIKERDIV", 5, 3), rw("HSION", 8), rw("HSIKERON", 9), ro("HSIRDY", 10),
                rw("HSIDIV", 11, 3), rw("HSEON", 16), ro("HSERDY", 17), rw("HSEBYP", 18), todo("CSSON", 19),
                rw("HSIUSB48ON", 22), ro("HSIUSB48RDY", 23), on_write=self._cr_write),
            reg("ICSCR", 0x04, 0x0000_4000, ro("HSICAL", 0, 8), rw("HSITRIM", 8, 7)),
            reg("CFGR", 0x08, 0, rw("SW", 0, 3), ro("SWS", 3, 3), rw("HPRE", 8, 4), rw("PPRE", 12, 3),
                todo("MCO2SEL", 16, 4), todo("MCO2PRE", 20, 4), todo("MCOSEL", 24, 4), todo("MCOPRE", 28, 4),
                on_write=self._cfgr_write),
            reg("CRRCR", 0x14, 0, ro("HSIUSB48CAL", 0, 9)),
            reg("CIER", 0x18, 0, rw("LSIRDYIE", 0), rw("LSERDYIE", 1), rw("HSIUSB48RDYIE", 2),
                rw("HSIRDYIE", 3), rw("HSERDYIE", 4), on_write=lambda o, n: self._update_irq()),
            reg("CIFR", 0x1C, 0, ro("LSIRDYF", 0), ro("LSERDYF", 1), ro("HSIUSB48RDYF", 2), ro("HSIRDYF", 3),
                ro("HSERDYF", 4), ro("CSSF", 8), ro("LSECSSF", 9)),
            reg("CICR", 0x20, 0, *(wo(n, b) for n, b in (("LSIRDYC", 0), ("LSERDYC", 1), ("HSIUSB48RDYC", 2),
                ("HSIRDYC", 3), ("HSERDYC", 4), ("CSSC", 8), ("LSECSSC", 9))), on_write=self._cicr_write),
            reg("IOPRSTR", 0x24, 0, *_bits(("GPIOARST", 0), ("GPIOBRST", 1), ("GPIOCRST", 2), ("GPIODRST", 3),
                ("GPIOFRST", 5)), on_write=lambda o, n: self._apply_resets("IOPRSTR")),
            reg("AHBRSTR", 0x28, 0, *_bits(("DMA1RST", 0), ("FLASHRST", 8), ("CRCRST", 12)),
                on_write=lambda o, n: self._apply_resets("AHBRSTR")),
            reg("APBRSTR1", 0x2C, 0, *_bits(("TIM2RST", 0), ("TIM3RST", 1), ("USBRST", 13), ("SPI2RST", 14),
                ("CRSRST", 16), ("USART2RST", 17), ("I2C1RST", 21), ("I2C2RST", 22), ("DBGRST", 27),
                ("PWRRST", 28)), on_write=lambda o, n: self._apply_resets("APBRSTR1")),
            reg("APBRSTR2", 0x30, 0, *_bits(("SYSCFGRST", 0), ("TIM1RST", 11), ("SPI1RST", 12),
                ("USART1RST", 14), ("TIM14RST", 15), ("TIM16RST", 17), ("TIM17RST", 18), ("ADCRST", 20)),
                on_write=lambda o, n: self._apply_resets("APBRSTR2")),
            reg("IOPENR", 0x34, 0, *_bits(("GPIOAEN", 0), ("GPIOBEN", 1), ("GPIOCEN", 2), ("GPIODEN", 3),
                ("GPIOFEN", 5))),
            reg("AHBENR", 0x38, 0x0000_0100, *_bits(("DMA1EN", 0), ("FLASHEN", 8), ("CRCEN", 12))),
            reg("APBENR1", 0x3C, 0, *_bits(("TIM2EN", 0), ("TIM3EN", 1), ("RTCAPBEN", 10), ("WWDGEN", 11),
                ("USBEN", 13), ("SPI2EN", 14), ("CRSEN", 16), ("USART2EN", 17), ("I2C1EN", 21), ("I2C2EN", 22),
                ("DBGEN", 27), ("PWREN", 28)), on_write=lambda o, n: self._usb_clock_request()),
            reg("APBENR2", 0x40, 0, *_bits(("SYSCFGEN", 0), ("TIM1EN", 11), ("SPI1EN", 12), ("USART1EN", 14),
                ("TIM14EN", 15), ("TIM16EN", 17), ("TIM17EN", 18), ("ADCEN", 20))),
            reg("IOPSMENR", 0x44, 0x0000_002F, *_bits(("GPIOASMEN", 0), ("GPIOBSMEN", 1), ("GPIOCSMEN", 2),
                ("GPIODSMEN", 3), ("GPIOFSMEN", 5))),
            reg("AHBSMENR", 0x48, 0x0000_1301, *_bits(("DMA1SMEN", 0), ("FLASHSMEN", 8), ("SRAMSMEN", 9),
                ("CRCSMEN", 12))),
            reg("APBSMENR1", 0x4C, 0x1863_6C03, *_bits(("TIM2SMEN", 0), ("TIM3SMEN", 1), ("RTCAPBSMEN", 10),
                ("WWDGSMEN", 11), ("USBSMEN", 13), ("SPI2SMEN", 14), ("CRSSMEN", 16), ("USART2SMEN", 17),
                ("I2C1SMEN", 21), ("I2C2SMEN", 22), ("DBGSMEN", 27), ("PWRSMEN", 28))),
            reg("APBSMENR2", 0x50, 0x0016_D801, *_bits(("SYSCFGSMEN", 0), ("TIM1SMEN", 11), ("SPI1SMEN", 12),
                ("USART1SMEN", 14), ("TIM14SMEN", 15), ("TIM16SMEN", 17), ("TIM17SMEN", 18), ("ADCSMEN", 20))),
            reg("CCIPR", 0x54, 0, rw("USART1SEL", 0, 2), rw("I2C1SEL", 12, 2), rw("I2S1SEL", 14, 2),
                rw("ADCSEL", 30, 2)),
            reg("CCIPR2", 0x58, 0, rw("USBSEL", 12), on_write=lambda o, n: self._usb_clock_request()),
            reg("CSR1", 0x5C, 0, rw("LSEON", 0), ro("LSERDY", 1), rw("LSEBYP", 2), rw("LSEDRV", 3),
                todo("LSECSSON", 5), ro("LSECSSD", 6), rw("RTCSEL", 8, 2), rw("RTCEN", 15), rw("RTCRST", 16),
                todo("LSCOEN", 24), todo("LSCOSEL", 25), on_write=self._csr1_write),
            reg("CSR2", 0x60, 0, rw("LSION", 0), ro("LSIRDY", 1), wo("RMVF", 23), ro("OBLRSTF", 25),
                ro("PINRSTF", 26), ro("PWRRSTF", 27), ro("SFTRSTF", 28), ro("IWDGRSTF", 29), ro("WWDGRSTF", 30),
                ro("LPWRRSTF", 31), on_write=self._csr2_write),
        ]
        self._reset_flags = 0
        self._lsi_forced = False              # the IWDG keeps LSI on (force_lsi)
        self.clock_listeners: list[Callable[[], None]] = []   # models whose timing follows the clock tree
        self.shared_irq: Callable[[], bool] = lambda: False     # CRS shares IRQ 4 (machine wiring)
        super().__init__(base, services, registers)

    # -- wiring (done once by the machine) -------------------------------------
    def gate(self, register: str, bit_name: str, peripheral: Peripheral) -> None:
        r = self.reg[register]
        bit = r.by_name[bit_name].lsb
        peripheral.clock_enabled = lambda r=r, bit=bit: bool(r.value >> bit & 1)
        peripheral.clock_gate = (r, 1 << bit)       # the same test, inlined by the fast bus path

    def resets(self, register: str, bit_name: str, peripheral: Peripheral) -> None:
        bit = self.reg[register].by_name[bit_name].lsb
        self._resettable.setdefault((register, bit), []).append(peripheral)

    def _clock_tree_changed(self) -> None:
        self.services.clock_tree_changed()
        for listener in self.clock_listeners:
            listener()

    # -- resets ---------------------------------------------------------------
    def on_reset(self) -> None:
        self._events: dict[str, object] = {}
        self.reg["CR"].set("HSIRDY", 1)         # the core runs from HSISYS out of reset
        self.reg["CSR1"].value = self._rtc_domain_csr1
        if self.reg["CSR1"].get("LSEON") and not self.reg["CSR1"].get("LSERDY"):
            self._start_lse()                     # the crystal kept starting through the system reset
        self.reg["CSR2"].value = self._reset_flags
        self._clock_tree_changed()

    def power_on_reset(self) -> None:
        self._reset_flags = 0
        self._rtc_domain_csr1 = 0
        self.reset()

    def record_reset(self, cause: str) -> None:
        """Set the CSR2 flag of a reset cause; kept across system resets until RMVF (RM0490 §6.4.27).

        Leaving Standby ("standby") sets no CSR2 flag: it is no NRST reset, and its mark is
        PWR_SR1.SBF (RM0490 §5.3; INFERENCE - CSR2 lists no Standby flag)."""
        if cause not in RESET_FLAGS:
            return
        self._reset_flags |= 1 << RESET_FLAGS[cause]
        if cause != "power":
            self._reset_flags |= 1 << RESET_FLAGS["pin"]   # any system reset also drives NRST low (§6.1.2)
        self.reg["CSR2"].value = (self.reg["CSR2"].value & 0xFFFFFF) | self._reset_flags

    def enter_stop(self) -> None:
        """Stop mode stops the HSE and HSIUSB48 oscillators: hardware clears HSEON and HSIUSB48ON
        (RM0490 §6.4.1 CR bit descriptions; HSI48 is stopped too and restarts on wake-up)."""
        cr = self.reg["CR"]
        for on, ready in (("HSEON", "HSERDY"), ("HSIUSB48ON", "HSIUSB48RDY")):
            self._stop(ready)
            cr.set(on, 0)
            cr.set(ready, 0)

    def exit_stop(self) -> None:
        """On leaving Stop, SYSCLK is HSISYS: hardware forces SW to 000 (RM0490 §6.4.3, FACTS §4)."""
        self._stop("switch")
        cfgr, cr = self.reg["CFGR"], self.reg["CR"]
        cr.set("HSION", 1)
        cr.set("HSIRDY", 1)
        cfgr.set("SW", 0)
        cfgr.set("SWS", 0)
        self.services.clock_tree_changed()

    def force_lsi(self) -> None:
        """The IWDG forces LSI on while it runs (RM0490 §6.2.5)."""
        cr2 = self.reg["CSR2"]
        self._lsi_forced = True
        if not cr2.get("LSIRDY"):
            self._start("LSIRDY", LSI_STARTUP_S, lambda: cr2.set("LSIRDY", 1))

    def _apply_resets(self, register: str) -> None:
        value = self.reg[register].value
        for (name, bit), peripherals in self._resettable.items():
            if name != register:
                continue
            held = bool(value >> bit & 1)
            for p in peripherals:
                if held and not p.held_in_reset:
                    p.reset()
                p.held_in_reset = held

    # -- oscillators -----------------------------------------------------------
    def _start(self, key: str, seconds: float, done: Callable[[], None]) -> None:
        if key in self._events:
            return
        def finish() -> None:
            self._events.pop(key, None)
            done()
            self._ready_interrupt(key)
            self._try_switch()
            if key in ("LSERDY", "LSIRDY", "HSERDY"):
                self.rtc_clock_changed()
        self._events[key] = self.services.after_seconds(seconds, finish, f"RCC {key}")

    def _stop(self, key: str) -> None:
        ev = self._events.pop(key, None)
        if ev:
            ev.cancel()

    def _cr_write(self, old: int, new: int) -> None:
        cr = self.reg["CR"]
        self._usb_clock_request()
        sws = self.reg["CFGR"].get("SWS")
        if not cr.get("HSION") and sws == 0:
            cr.set("HSION", 1)                    # hardware keeps the system clock's oscillator on
        if cr.get("HSION") and not cr.get("HSIRDY"):
            self._start("HSIRDY", HSI48_STARTUP_S, lambda: cr.set("HSIRDY", 1))
        elif not cr.get("HSION"):
            self._stop("HSIRDY"); cr.set("HSIRDY", 0)
        if cr.get("HSEON") and not cr.get("HSERDY"):
            if self.hse_hz:
                self._start("HSERDY", HSE_STARTUP_S, lambda: cr.set("HSERDY", 1))
            else:
                self.services.event("rcc.no_hse", "HSEON set but no HSE crystal is fitted (--hse): HSERDY stays 0")
        elif not cr.get("HSEON") and sws != 1:
            self._stop("HSERDY"); cr.set("HSERDY", 0)
        if cr.get("HSIUSB48ON") and not cr.get("HSIUSB48RDY"):
            self._start("HSIUSB48RDY", HSIUSB48_STARTUP_S, lambda: cr.set("HSIUSB48RDY", 1))
        elif not cr.get("HSIUSB48ON") and sws != 2:
            self._stop("HSIUSB48RDY"); cr.set("HSIUSB48RDY", 0)
        if (old ^ new) & (0b111 << 11 | 0b111 << 2):
            self._clock_tree_changed()

    def _cfgr_write(self, old: int, new: int) -> None:
        if (old ^ new) & 0x7F00:                  # HPRE[11:8], PPRE[14:12]
            self._clock_tree_changed()
        self._try_switch()

    def _source_ready(self, sw: int) -> bool:
        cr = self.reg["CR"]
        return {0: cr.get("HSIRDY"), 1: cr.get("HSERDY"), 2: cr.get("HSIUSB48RDY"),
                3: self.reg["CSR2"].get("LSIRDY"), 4: self.reg["CSR1"].get("LSERDY")}.get(sw, 0) == 1

    def _try_switch(self) -> None:
        cfgr = self.reg["CFGR"]
        sw = cfgr.get("SW")
        if sw == cfgr.get("SWS") or not self._source_ready(sw) or "switch" in self._events:
            return
        def switch() -> None:
            self._events.pop("switch", None)
            if self._source_ready(cfgr.get("SW")):
                cfgr.set("SWS", cfgr.get("SW"))
                self.services.event("rcc.sysclk", f"SYSCLK switched: SWS={cfgr.get('SWS')}, HCLK {self.hclk_hz()} Hz")
                self._clock_tree_changed()
        self._events["switch"] = self.services.after_cycles(SWITCH_CYCLES, switch, "RCC SW->SWS")

    def _csr2_write(self, old: int, new: int) -> None:
        csr2 = self.reg["CSR2"]
        if csr2.last_written >> 23 & 1:
            self._reset_flags = 0
            csr2.value &= 0xFFFFFF
        if csr2.get("LSION") and not csr2.get("LSIRDY"):
            self._start("LSIRDY", LSI_STARTUP_S, lambda: csr2.set("LSIRDY", 1))
        elif not csr2.get("LSION") and old & 1 and not self._lsi_forced:
            # LSI stops: LSIRDY falls (within 3 LSI periods, RM0490 RCC_CSR2.LSIRDY; taken as at once)
            self._stop("LSIRDY")
            csr2.set("LSIRDY", 0)
            self.rtc_clock_changed()

    # -- RTC domain: LSE and the RTC clock (RM0490 §6.2.6, §6.2.14, §6.4.26) -------------
    def _start_lse(self) -> None:
        csr1 = self.reg["CSR1"]

        def ready() -> None:
            csr1.set("LSERDY", 1)
            self._rtc_domain_csr1 = csr1.value
        if csr1.get("LSEBYP") or self.lse_hz:
            self._start("LSERDY", 0.0 if csr1.get("LSEBYP") else LSE_STARTUP_S, ready)
        else:
            self.services.event("rcc.no_lse", "LSEON set but no LSE crystal is fitted: LSERDY stays 0")

    def _csr1_write(self, old: int, new: int) -> None:
        """LSEON -> LSERDY after the crystal start-up; RTCSEL is set once until an RTC domain
        reset (RTCRST); RTCRST resets CSR1 and the RTC."""
        csr1 = self.reg["CSR1"]
        if csr1.get("RTCRST"):
            csr1.value = 1 << 16
            self._stop("LSERDY")
            self._rtc_domain_csr1 = csr1.value
            self.rtc_domain_reset()
            return
        rtcsel_old = old >> 8 & 3
        if rtcsel_old and csr1.get("RTCSEL") != rtcsel_old:
            csr1.set("RTCSEL", rtcsel_old)
            self.services.event("rcc.rtcsel", "RCC_CSR1.RTCSEL can only be changed after an RTC domain "
                                "reset (RTCRST): write ignored")
        if csr1.get("LSEON") and not csr1.get("LSERDY"):
            self._start_lse()
        elif not csr1.get("LSEON"):
            self._stop("LSERDY")
            csr1.set("LSERDY", 0)
        self._rtc_domain_csr1 = csr1.value
        self.rtc_clock_changed()

    def rtc_clock_hz(self) -> int:
        """RTCCLK: RTCSEL 01 LSE, 10 LSI, 11 HSE/32, gated by RTCEN; 0 while the source is not ready."""
        csr1 = self.reg["CSR1"]
        if not csr1.get("RTCEN"):
            return 0
        sel = csr1.get("RTCSEL")
        if sel == 1:
            return self._lse_hz()
        if sel == 2:
            return c071.LSI_HZ if self.reg["CSR2"].get("LSIRDY") else 0
        if sel == 3:
            return (self.hse_hz or 0) // 32 if self.reg["CR"].get("HSERDY") else 0
        return 0

    def _hsiker_hz(self) -> int:
        """HSIKER: HSI48 divided by CR.HSIKERDIV + 1 (RM0490 §6.4.1)."""
        return c071.HSI48_HZ // (self.reg["CR"].get("HSIKERDIV") + 1)

    def _lse_hz(self) -> int:
        return (self.lse_hz or c071.LSE_HZ) if self.reg["CSR1"].get("LSERDY") else 0

    def _selected_hz(self, field: str, sources: tuple) -> int:
        """The kernel clock a two-bit CCIPR selector picks from ``sources`` (one per value)."""
        return sources[self.reg["CCIPR"].get(field)]()

    def usart1_kernel_clock_hz(self) -> int:
        """CCIPR.USART1SEL: 00 PCLK, 01 SYSCLK, 10 HSIKER, 11 LSE (0 Hz until LSERDY) (RM0490 §6.4.20)."""
        return self._selected_hz("USART1SEL", (self.pclk_hz, self.sysclk_hz, self._hsiker_hz, self._lse_hz))

    def i2c1_kernel_clock_hz(self) -> int:
        """CCIPR.I2C1SEL: 00 PCLK, 01 SYSCLK, 10 HSIKER; 11 reserved, taken as 00 (RM0490 §6.4.20)."""
        return self._selected_hz("I2C1SEL", (self.pclk_hz, self.sysclk_hz, self._hsiker_hz, self.pclk_hz))

    def adc_kernel_clock_hz(self) -> int:
        """CCIPR.ADCSEL: 00 SYSCLK, 10 HSIKER; 01 and 11 reserved, taken as 00 (RM0490 §6.4.20)."""
        return self._selected_hz("ADCSEL", (self.sysclk_hz, self.sysclk_hz, self._hsiker_hz, self.sysclk_hz))

    # -- ready interrupts (RCC_CRS IRQ 4) -------------------------------------
    _READY_FLAG = {"LSIRDY": 0, "LSERDY": 1, "HSIUSB48RDY": 2, "HSIRDY": 3, "HSERDY": 4}

    def _ready_interrupt(self, key: str) -> None:
        bit = self._READY_FLAG.get(key)
        if bit is not None and self.reg["CIER"].value >> bit & 1:
            self.reg["CIFR"].value |= 1 << bit
            self._update_irq()

    def _cicr_write(self, old: int, new: int) -> None:
        self.reg["CIFR"].value &= ~self.reg["CICR"].last_written
        self.reg["CICR"].value = 0
        self._update_irq()

    def _update_irq(self) -> None:
        self.services.set_irq_line(c071.IRQ_RCC_CRS, bool(self.reg["CIFR"].value & self.reg["CIER"].value)
                                   or self.shared_irq())

    def refresh_irq(self) -> None:
        """Recompute the RCC_CRS line (called by the CRS, which shares it)."""
        self._update_irq()

    # -- USB kernel clock (RM0490 §6.2.3, §6.4.21; FACTS §4.1) -------------------
    def _usb_clock_request(self) -> None:
        """HSIUSB48ON is set by hardware while USB is enabled with HSIUSB48 as its kernel clock."""
        cr = self.reg["CR"]
        if self.reg["APBENR1"].get("USBEN") and self.reg["CCIPR2"].get("USBSEL") == 0 \
                and not cr.get("HSIUSB48ON"):
            cr.set("HSIUSB48ON", 1)
            self._start("HSIUSB48RDY", HSIUSB48_STARTUP_S, lambda: cr.set("HSIUSB48RDY", 1))

    def usb_kernel_clock_hz(self) -> int:
        """CCIPR2.USBSEL: 0 HSIUSB48, 1 HSE; 0 Hz while the selected oscillator is not ready."""
        cr = self.reg["CR"]
        if self.reg["CCIPR2"].get("USBSEL") == 0:
            return c071.HSIUSB48_HZ if cr.get("HSIUSB48RDY") else 0
        return (self.hse_hz or 0) if cr.get("HSERDY") else 0

    # -- frequencies ------------------------------------------------------------
    def sysclk_hz(self) -> int:
        cr = self.reg["CR"]
        source = {0: c071.HSI48_HZ >> cr.get("HSIDIV"), 1: self.hse_hz or 0, 2: c071.HSIUSB48_HZ,
                  3: c071.LSI_HZ, 4: 32_768}.get(self.reg["CFGR"].get("SWS"), 0)
        return source // (cr.get("SYSDIV") + 1)

    def hclk_hz(self) -> int:
        return self.sysclk_hz() // _HPRE.get(self.reg["CFGR"].get("HPRE"), 1)

    def pclk_divider(self) -> int:
        """HCLK cycles per PCLK cycle (CFGR.PPRE, RM0490 §6.4.3)."""
        ppre = self.reg["CFGR"].get("PPRE")
        return 1 << (ppre - 3) if ppre >= 4 else 1

    def pclk_hz(self) -> int:
        ppre = self.reg["CFGR"].get("PPRE")
        return self.hclk_hz() >> (ppre - 3 if ppre >= 4 else 0)

    def timer_clock_hz(self) -> int:
        """TIMPCLK: PCLK when the APB prescaler is 1, else 2 x PCLK (RM0490 §6.2 clock tree)."""
        return self.pclk_hz() * (2 if self.reg["CFGR"].get("PPRE") >= 4 else 1)
