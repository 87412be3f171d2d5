"""ADC (0x4001_2400, IRQ 12) - RM0490, ADC chapter.

Register map (RM0490 "ADC registers"; offsets, resets and field positions checked
against ST's SVD in tests/test_svd_oracle.py):

    0x00 ISR     ADRDY EOSMP EOC EOS OVR AWD1 AWD2 AWD3 EOCAL CCRDY      (rc_w1)
    0x04 IER     the matching interrupt enables
    0x08 CR      ADEN ADDIS ADSTART ADSTP ADVREGEN ADCAL
    0x0C CFGR1   DMAEN DMACFG SCANDIR RES ALIGN EXTSEL EXTEN OVRMOD CONT WAIT AUTOFF DISCEN
                 CHSELRMOD AWD1SGL AWD1EN AWD1CH
    0x10 CFGR2   OVSE OVSR OVSS TOVS LFTRIG CKMODE[31:30]
    0x14 SMPR    SMP1[2:0] SMP2[6:4] SMPSELx (channel x uses SMP2 when 1)
    0x20 AWD1TR  0x24 AWD2TR  0x28 CHSELR (CHSELRMOD = 0: one bit per channel;
                 CHSELRMOD = 1: SQ1..SQ8, 0xF ends the sequence)  0x2C AWD3TR
    0x40 DR      0xA0 AWD2CR  0xA4 AWD3CR  0xB4 CALFACT  0x308 CCR PRESC VREFEN TSEN

Behaviour (RM0490 "ADC functional description": voltage regulator, calibration,
ADC on-off control, channel selection, sampling time, single/continuous conversion,
end of conversion flags, overrun):

* ADC clock: CFGR2.CKMODE 01 PCLK/2, 10 PCLK/4, 11 PCLK; 00 asynchronous: the RCC
  kernel clock (CCIPR.ADCSEL) divided by CCR.PRESC (1, 2, 4, 6, 8, 10, 12, 16, 32, 64,
  128, 256).  Machine wiring supplies PCLK and the kernel clock.
* ADVREGEN starts the regulator; it needs t_ADCVREG_STUP = 20 us
  (LL_ADC_DELAY_INTERNAL_REGUL_STAB_US).  There is no ready flag: calibrating or
  enabling earlier is reported as an event (results would be unreliable on silicon).
* ADCAL (ADEN = 0, ADVREGEN = 1) runs the calibration: ADCAL clears by itself after
  CALIBRATION_CYCLES ADC clock cycles, EOCAL = 1 and CALFACT holds the calibration
  factor (a fixed, plausible value: the real one depends on the die).
* ADEN = 1 -> ADRDY = 1 after ENABLE_CYCLES ADC clock cycles.  ADDIS = 1 (no conversion
  ongoing) -> ADEN and ADDIS clear, ADRDY stays until written 1 to clear (RM0490 ADRDY).
* Channel selection: CHSELR writes (and CHSELRMOD/SCANDIR changes) set CCRDY after
  CCRDY_CYCLES ADC cycles, the time the configuration takes to be applied.
* ADSTART (EXTEN = 00, software trigger) converts the sequence: each conversion takes
  t_SMPL + t_SAR ADC cycles (SMPx: 1.5, 3.5, 7.5, 12.5, 19.5, 39.5, 79.5, 160.5; SAR: 12.5,
  10.5, 8.5, 6.5 for 12, 10, 8, 6 bits).  At its end DR holds the channel's value at
  the configured resolution and alignment, EOSMP = EOC = 1 (EOSMP is raised with EOC,
  not at the end of the sampling phase: one event per conversion); after the last channel
  EOS = 1.  If EOC was still set the conversion overruns: OVR = 1 and DR keeps its old
  value (OVRMOD = 0) or is overwritten (OVRMOD = 1).  Reading DR clears EOC.
  Single mode (CONT = 0) clears ADSTART at the end of the sequence; continuous mode
  restarts it.  Discontinuous mode (DISCEN = 1) converts one channel per ADSTART,
  clearing ADSTART after each conversion and going on with the next channel of the
  sequence at the next ADSTART (DISCEN wins over CONT, a combination RM0490 forbids).
  Wait mode (WAIT = 1) starts the next conversion only once the previous data is
  treated (DR read or EOC cleared), so it never overruns.  ADSTP stops conversions
  (ADSTART and ADSTP clear).
* Inputs: every channel has a 12-bit value settable with ``set_channel`` (the board
  side: a test or ``c071emu run --adc CH=VALUE``); unconnected pins read 0.  The
  internal channels read their model voltages over VDDA = 3.3 V: VREFINT (channel 10,
  needs CCR.VREFEN) 1.212 V, the temperature sensor (channel 9, needs CCR.TSEN) at
  25 C: V30 - 5 * Avg_Slope.  An internal channel whose path is disabled reads 0.
* IRQ 12: ISR & IER.

Sources: channel numbers, VREFINT_CAL (0x1FFF_756A, measured at VDDA = 3.0 V) and
TS_CAL1 (0x1FFF_7568, 30 C, 3.0 V) as in ST's stm32c0xx_ll_adc.h (facts only);
VREFINT typical 1.212 V and the sensor's V30 = 0.76 V, Avg_Slope = 2.53 mV/C are the
typical figures of ST datasheets of this generation (DS14693 for the C071 was not
retrieved: assumptions of the same order).  Timing constants marked "assumption" are
of the order of ST's datasheets for this ADC (t_CAL, t_STAB) and not from DS14693.

The analog watchdog flags AWD1..3 are plain status bits: only the watchdogs, whose
enables are ``todo`` (reported), would set them, so they read 0 as on silicon.

Not modelled (``todo``, accesses reported): hardware triggers (EXTEN, EXTSEL), DMA
(DMAEN, DMACFG), auto-off mode (AUTOFF),
analog watchdogs (AWDx), oversampling (CFGR2 OVS*, TOVS), low-frequency trigger (LFTRIG).
"""
from __future__ import annotations

from typing import Callable, Optional

from . import c071
from .regs import BusKind, Peripheral, reg, ro, rs, rw, todo, w1c

REGULATOR_STARTUP_S = 20e-6          # t_ADCVREG_STUP (LL_ADC_DELAY_INTERNAL_REGUL_STAB_US)
CALIBRATION_CYCLES = 82              # t_CAL in ADC clock cycles (assumption, ST datasheets of this ADC)
ENABLE_CYCLES = 2                    # ADEN -> ADRDY (assumption; LL_ADC_DELAY_CALIB_ENABLE_ADC_CYCLES order)
DISABLE_CYCLES = 2                   # ADDIS -> ADEN = 0 (assumption)
CCRDY_CYCLES = 2                     # CHSELR write -> CCRDY (assumption)
CALIBRATION_FACTOR = 0x1A            # CALFACT after calibration: plausible, fixed for determinism

SAMPLING_CYCLES = (1.5, 3.5, 7.5, 12.5, 19.5, 39.5, 79.5, 160.5)
SAR_CYCLES = {0: 12.5, 1: 10.5, 2: 8.5, 3: 6.5}          # RES 12, 10, 8, 6 bits
RESOLUTION_BITS = {0: 12, 1: 10, 2: 8, 3: 6}
PRESC_DIVIDERS = (1, 2, 4, 6, 8, 10, 12, 16, 32, 64, 128, 256)

CHANNELS = 23                        # CHSEL0..CHSEL22
CHANNEL_TEMPSENSOR, CHANNEL_VREFINT = 9, 10
VDDA_V = 3.3                         # the supply a NUCLEO board gives VDDA
VREFINT_V = 1.212                    # typical (assumption, see module docstring)
TS_V30_V, TS_SLOPE_V_PER_C = 0.76, 2.53e-3
DIE_TEMPERATURE_C = 25.0
CAL_VDDA_V = 3.0                     # VDDA when the calibration values were measured
VREFINT_CAL_ADDR, TS_CAL1_ADDR = 0x1FFF_756A, 0x1FFF_7568


def _code(volts: float, vdda: float = VDDA_V) -> int:
    return max(0, min(4095, round(volts / vdda * 4095)))


def calibration_values() -> dict[int, int]:
    """Engineering-byte calibration data (address -> 16-bit value) matching the model's inputs."""
    return {VREFINT_CAL_ADDR: _code(VREFINT_V, CAL_VDDA_V), TS_CAL1_ADDR: _code(TS_V30_V, CAL_VDDA_V)}


def parse_channel_spec(spec: str) -> tuple[int, int]:
    """``CH=VALUE`` (``c071emu run --adc``): channel 0..22, VALUE a 12-bit code (``2048``,
    ``0x800``) or a voltage over VDDA = 3.3 V (``1.65V``).  Raises ValueError with the reason."""
    channel_text, sep, value_text = spec.partition("=")
    if not sep or not channel_text.strip() or not value_text.strip():
        raise ValueError(f"{spec!r}: expected CH=VALUE, e.g. 4=2048 or 4=1.65V")
    try:
        channel = int(channel_text, 0)
    except ValueError:
        raise ValueError(f"{spec!r}: channel {channel_text!r} is not a number 0..{CHANNELS - 1}") from None
    if not 0 <= channel < CHANNELS:
        raise ValueError(f"{spec!r}: channel {channel} out of range 0..{CHANNELS - 1}")
    text = value_text.strip()
    try:
        if text[-1] in "vV":
            volts = float(text[:-1])
            if not 0.0 <= volts <= VDDA_V:
                raise ValueError(f"{spec!r}: {volts:g} V outside 0..{VDDA_V:g} V (VDDA)")
            return channel, _code(volts)
        value = int(text, 0)
    except ValueError as exc:
        if "VDDA" in str(exc):
            raise
        raise ValueError(f"{spec!r}: value {text!r} is neither a 12-bit code nor a voltage like 1.65V") from None
    if not 0 <= value <= 4095:
        raise ValueError(f"{spec!r}: value {value} out of range 0..4095 (12 bits)")
    return channel, value


# ISR bits
ADRDY, EOSMP, EOC, EOS, OVR, EOCAL, CCRDY = 1 << 0, 1 << 1, 1 << 2, 1 << 3, 1 << 4, 1 << 11, 1 << 13


class AnalogToDigital(Peripheral):
    name = "ADC"
    bus = BusKind.APB
    manual = "RM0490 ADC chapter"

    def __init__(self, base: int = c071.ADC, services=None, pclk_hz: Callable[[], int] = lambda: c071.RESET_SYSCLK_HZ,
                 kernel_clock_hz: Callable[[], int] = lambda: c071.RESET_SYSCLK_HZ) -> None:
        self.pclk_hz = pclk_hz
        self.kernel_clock_hz = kernel_clock_hz
        self.inputs: dict[int, int] = {}              # board side: channel -> 12-bit code
        self._events: dict[str, object] = {}
        self._regulator_ready_at: Optional[float] = None
        self._sequence: list[int] = []
        self._position = 0
        self._waiting = False                         # WAIT mode: next conversion held until DR is read
        awd = [w1c(f"AWD{n}", 6 + n) for n in (1, 2, 3)]     # only set by the (todo) watchdogs
        super().__init__(base, services, registers=[
            reg("ISR", 0x00, 0, w1c("ADRDY", 0), w1c("EOSMP", 1), w1c("EOC", 2), w1c("EOS", 3), w1c("OVR", 4),
                *awd, w1c("EOCAL", 11), w1c("CCRDY", 13), on_write=lambda o, n: self._data_treated()),
            reg("IER", 0x04, 0, rw("ADRDYIE", 0), rw("EOSMPIE", 1), rw("EOCIE", 2), rw("EOSIE", 3), rw("OVRIE", 4),
                todo("AWD1IE", 7), todo("AWD2IE", 8), todo("AWD3IE", 9), rw("EOCALIE", 11), rw("CCRDYIE", 13),
                on_write=lambda o, n: self._update_irq()),
            reg("CR", 0x08, 0, rs("ADEN", 0), rs("ADDIS", 1), rs("ADSTART", 2), rs("ADSTP", 4), rw("ADVREGEN", 28),
                rs("ADCAL", 31), on_write=self._cr_written),
            reg("CFGR1", 0x0C, 0, todo("DMAEN", 0), todo("DMACFG", 1), rw("SCANDIR", 2), rw("RES", 3, 2),
                rw("ALIGN", 5), todo("EXTSEL", 6, 3), todo("EXTEN", 10, 2), rw("OVRMOD", 12), rw("CONT", 13),
                rw("WAIT", 14), todo("AUTOFF", 15), rw("DISCEN", 16), rw("CHSELRMOD", 21),
                todo("AWD1SGL", 22), todo("AWD1EN", 23), todo("AWD1CH", 26, 5), on_write=self._cfgr1_written),
            reg("CFGR2", 0x10, 0, todo("OVSE", 0), todo("OVSR", 2, 3), todo("OVSS", 5, 4), todo("TOVS", 9),
                todo("LFTRIG", 29), rw("CKMODE", 30, 2)),
            reg("SMPR", 0x14, 0, rw("SMP1", 0, 3), rw("SMP2", 4, 3), *(rw(f"SMPSEL{n}", 8 + n) for n in range(CHANNELS))),
            reg("AWD1TR", 0x20, 0x0FFF_0000, todo("LT1", 0, 12), todo("HT1", 16, 12)),
            reg("AWD2TR", 0x24, 0x0FFF_0000, todo("LT2", 0, 12), todo("HT2", 16, 12)),
            reg("CHSELR", 0x28, 0, *(rw(f"CHSEL{n}", n) for n in range(CHANNELS)), on_write=self._chselr_written,
                doc="CHSELRMOD = 1 reads the same bits as SQ1..SQ8 (4 bits each)"),
            reg("AWD3TR", 0x2C, 0x0FFF_0000, todo("LT3", 0, 12), todo("HT3", 16, 12)),
            reg("DR", 0x40, 0, ro("DATA", 0, 16), on_read=self._dr_read, read_has_side_effects=True),
            reg("AWD2CR", 0xA0, 0, todo("AWD2CH", 0, CHANNELS)),
            reg("AWD3CR", 0xA4, 0, todo("AWD3CH", 0, CHANNELS)),
            reg("CALFACT", 0xB4, 0, rw("CALFACT", 0, 7)),
            reg("CCR", 0x308, 0, rw("PRESC", 18, 4), rw("VREFEN", 22), rw("TSEN", 23)),
        ])

    # -- board side -----------------------------------------------------------------------
    def set_channel(self, channel: int, value: int) -> None:
        """The 12-bit code channel ``channel`` converts to (the voltage on its pin)."""
        if not 0 <= channel < CHANNELS:
            raise ValueError(f"ADC channel {channel} out of range 0..{CHANNELS - 1}")
        if not 0 <= value <= 4095:
            raise ValueError(f"ADC value {value} out of range 0..4095 (12 bits)")
        self.inputs[channel] = value

    def channel_code(self, channel: int) -> int:
        """The 12-bit code a conversion of ``channel`` gives now."""
        ccr = self.reg["CCR"]
        if channel == CHANNEL_VREFINT and channel not in self.inputs:
            return _code(VREFINT_V) if ccr.get("VREFEN") else 0
        if channel == CHANNEL_TEMPSENSOR and channel not in self.inputs:
            volts = TS_V30_V + (DIE_TEMPERATURE_C - 30.0) * TS_SLOPE_V_PER_C
            return _code(volts) if ccr.get("TSEN") else 0
        return self.inputs.get(channel, 0)

    # -- reset ------------------------------------------------------------------------------
    def on_reset(self) -> None:
        for event in self._events.values():
            event.cancel()
        self._events = {}
        self._regulator_ready_at = None
        self._sequence = []
        self._position = 0
        self._waiting = False
        self._update_irq()

    # -- clock -------------------------------------------------------------------------------
    def adc_clock_hz(self) -> float:
        mode = self.reg["CFGR2"].get("CKMODE")
        if mode == 0:
            presc = self.reg["CCR"].get("PRESC")
            return self.kernel_clock_hz() / PRESC_DIVIDERS[min(presc, len(PRESC_DIVIDERS) - 1)]
        return self.pclk_hz() / {1: 2, 2: 4, 3: 1}[mode]

    def _after_cycles(self, key: str, cycles: float, action: Callable[[], None]) -> None:
        previous = self._events.pop(key, None)
        if previous is not None:
            previous.cancel()

        def fire() -> None:
            self._events.pop(key, None)
            action()
        self._events[key] = self.services.after_seconds(cycles / max(self.adc_clock_hz(), 1.0), fire,
                                                        f"ADC {key}")

    def _cancel(self, key: str) -> None:
        event = self._events.pop(key, None)
        if event is not None:
            event.cancel()

    def conversion_cycles(self, channel: int) -> float:
        smpr = self.reg["SMPR"]
        smp = smpr.get("SMP2") if smpr.value >> (8 + channel) & 1 else smpr.get("SMP1")
        return SAMPLING_CYCLES[smp] + SAR_CYCLES[self.reg["CFGR1"].get("RES")]

    # -- CR ----------------------------------------------------------------------------------
    def _regulator_settled(self, what: str) -> None:
        ready = self._regulator_ready_at
        if ready is None or self.services.now_seconds() + 1e-12 < ready:
            self.services.event("adc", f"ADC {what} before the voltage regulator settled "
                                f"(ADVREGEN + {REGULATOR_STARTUP_S * 1e6:.0f} us): unreliable on silicon")

    def _cr_written(self, old: int, new: int) -> None:
        cr = self.reg["CR"]
        if new >> 28 & 1 and not old >> 28 & 1:
            self._regulator_ready_at = self.services.now_seconds() + REGULATOR_STARTUP_S
        elif not new >> 28 & 1:
            self._regulator_ready_at = None
        if cr.get("ADCAL") and not old >> 31 & 1:
            self._start_calibration()
        if cr.get("ADEN") and not old & 1:
            self._enable()
        if cr.get("ADDIS") and not old >> 1 & 1:
            self._disable()
        if cr.get("ADSTP") and not old >> 4 & 1:
            self._stop()
        if cr.get("ADSTART") and not old >> 2 & 1:
            self._start()

    def _start_calibration(self) -> None:
        cr = self.reg["CR"]
        if cr.get("ADEN"):
            cr.set("ADCAL", 0)
            self.services.event("adc", "ADC ADCAL set while ADEN = 1: ignored (calibrate with the ADC disabled)")
            return
        self._regulator_settled("calibration")

        def done() -> None:
            cr.set("ADCAL", 0)
            self.reg["CALFACT"].set("CALFACT", CALIBRATION_FACTOR)
            self.reg["ISR"].value |= EOCAL
            self._update_irq()
        self._after_cycles("calibration", CALIBRATION_CYCLES, done)

    def _enable(self) -> None:
        cr = self.reg["CR"]
        if cr.get("ADCAL"):
            cr.set("ADEN", 0)
            self.services.event("adc", "ADC ADEN set during calibration: ignored")
            return
        self._regulator_settled("enable")

        def ready() -> None:
            self.reg["ISR"].value |= ADRDY
            self._update_irq()
        self._after_cycles("enable", ENABLE_CYCLES, ready)

    def _disable(self) -> None:
        cr = self.reg["CR"]
        if not cr.get("ADEN") or cr.get("ADSTART"):
            cr.set("ADDIS", 0)          # ADDIS only acts on an enabled ADC with no conversion ongoing
            return
        self._cancel("enable")

        def off() -> None:
            cr.set("ADEN", 0)
            cr.set("ADDIS", 0)
        self._after_cycles("disable", DISABLE_CYCLES, off)

    def _stop(self) -> None:
        cr = self.reg["CR"]
        self._cancel("conversion")
        self._waiting = False
        self._position = 0
        cr.set("ADSTART", 0)
        cr.set("ADSTP", 0)

    # -- channel configuration ------------------------------------------------------------------
    def _chselr_written(self, old: int, new: int) -> None:
        self._configuration_changed()

    def _cfgr1_written(self, old: int, new: int) -> None:
        if (old ^ new) & (1 << 21 | 1 << 2):           # CHSELRMOD, SCANDIR
            self._configuration_changed()

    def _configuration_changed(self) -> None:
        self.reg["ISR"].value &= ~CCRDY

        def applied() -> None:
            self.reg["ISR"].value |= CCRDY
            self._update_irq()
        self._after_cycles("ccrdy", CCRDY_CYCLES, applied)

    def sequence(self) -> list[int]:
        """The channels one sequence converts, in order (RM0490 "channel selection")."""
        chselr, cfgr1 = self.reg["CHSELR"].value, self.reg["CFGR1"]
        if cfgr1.get("CHSELRMOD"):
            out = []
            for n in range(8):
                channel = chselr >> (4 * n) & 0xF
                if channel == 0xF:
                    break
                out.append(channel)
            return out
        channels = [n for n in range(CHANNELS) if chselr >> n & 1]
        return channels[::-1] if cfgr1.get("SCANDIR") else channels

    # -- conversions ----------------------------------------------------------------------------
    def _start(self) -> None:
        cr = self.reg["CR"]
        if not cr.get("ADEN") or cr.get("ADDIS") or not self.reg["ISR"].value & ADRDY:
            cr.set("ADSTART", 0)
            self.services.event("adc", "ADC ADSTART with the ADC not enabled and ready: ignored")
            return
        if not (self.reg["CFGR1"].get("DISCEN") and self._position):     # else: go on with the sequence
            self._sequence = self.sequence()
            self._position = 0
        if not self._sequence:
            cr.set("ADSTART", 0)
            self.services.event("adc", "ADC ADSTART with no channel selected: nothing converted")
            return
        self._convert_next()

    def _convert_next(self) -> None:
        channel = self._sequence[self._position]
        self._after_cycles("conversion", self.conversion_cycles(channel), lambda: self._converted(channel))

    def _converted(self, channel: int) -> None:
        isr, dr, cfgr1 = self.reg["ISR"], self.reg["DR"], self.reg["CFGR1"]
        bits = RESOLUTION_BITS[cfgr1.get("RES")]
        value = self.channel_code(channel) >> (12 - bits)
        if cfgr1.get("ALIGN"):
            value <<= 16 - bits
        if isr.value & EOC:
            isr.value |= OVR
            if cfgr1.get("OVRMOD"):
                dr.value = value
        else:
            dr.value = value
        isr.value |= EOSMP | EOC
        self._position += 1
        end_of_sequence = self._position >= len(self._sequence)
        if end_of_sequence:
            isr.value |= EOS
            self._position = 0
        discontinuous = cfgr1.get("DISCEN")
        if discontinuous or end_of_sequence and not cfgr1.get("CONT"):
            self.reg["CR"].set("ADSTART", 0)
        else:
            if end_of_sequence:
                self._sequence = self.sequence() or self._sequence
            if cfgr1.get("WAIT"):
                self._waiting = True
            else:
                self._convert_next()
        self._update_irq()

    def _dr_read(self, stored: int) -> int:
        self.reg["ISR"].value &= ~EOC
        self._data_treated()
        return stored

    def _data_treated(self) -> None:
        """DR read or ISR written: a conversion held by WAIT mode may start."""
        if self._waiting and not self.reg["ISR"].value & EOC:
            self._waiting = False
            if self.reg["CR"].get("ADSTART"):
                self._convert_next()
        self._update_irq()

    # -- interrupt --------------------------------------------------------------------------------
    def _update_irq(self) -> None:
        self.services.set_irq_line(c071.IRQ_ADC, bool(self.reg["ISR"].value & self.reg["IER"].value))
