"""The STM32C071 assembled: memories, the 0x0 alias, peripherals at their bases.

This is the one file that reads as the memory map (RM0490 Table 4 and Table 7).
Every block the silicon has is either a model or a named ``UnmodelledBlock`` that
reports each access; reserved holes stay unmapped, so an access there is a bus
fault in the guest.  Boot selection follows RM0490 §3.1 Table 9.
"""
from __future__ import annotations

import ctypes
import enum
from dataclasses import dataclass, field
from typing import Callable, Optional

from unicorn import UC_PROT_ALL, UC_PROT_EXEC, UC_PROT_READ, UcError
from unicorn.unicorn_py3.unicorn import MMIO_READ_CFUNC, MMIO_WRITE_CFUNC, uclib

from peripherals import c071
from peripherals.crc import Crc
from peripherals.adc import AnalogToDigital, calibration_values
from peripherals.crs import ClockRecoverySystem
from peripherals.dbg import DebugSupport
from peripherals.dma import DirectMemoryAccess
from peripherals.dmamux import DmaRequestMux
from peripherals.exti import ExtendedInterrupts
from peripherals.flash import FlashController
from peripherals.option_bytes import write_factory_option_bytes
from peripherals.gpio import make_port
from peripherals.i2c import make_i2c
from peripherals.iwdg import IndependentWatchdog
from peripherals.nvic import ExceptionBook, Nvic
from peripherals.pwr import PowerControl
from peripherals.rcc import ResetClockControl
from peripherals.regs import Peripheral
from peripherals.rtc import RealTimeClock
from peripherals.scb import SystemControlBlock
from peripherals.spi import make_spi
from peripherals.syscfg import SystemConfig
from peripherals.systick import SysTick
from peripherals.tim import make_timer
from peripherals.unmodelled import UnmodelledBlock
from peripherals.usb import PacketMemory, UsbDevice
from peripherals.usart import Usart
from peripherals.wwdg import WindowWatchdog

from .core.clock import PS_PER_S, Scheduler, SimClock, delay_ps, seconds_in
from .core.cpu import Cpu, EPSR_T, callback_failed, remove_translations
from .core.exceptions import ExceptionRecord
from .core.memory import Memory
from .core.native import load_fastbus
from .core.native.bus import NativeBus
from .core.native.frames import NativeFrames
from .core.runloop import EndReason, RunEnd, RunLoop
from .flash_view import FlashArray, FlashView
from .image import Image
from .power import LowPowerModes
from .semihosting import Semihosting
from .services import MachineServices
from .system_bus import SystemBusPort
from .trace import ExceptionEvent, Trace, TraceEvent

BOOT0_PIN = 14      # PA14 (RM0490 §3.1)


class BootMode(enum.Enum):
    MAIN_FLASH = 0b00
    SYSTEM_MEMORY = 0b01
    SRAM = 0b11


@dataclass
class MachineConfig:
    boot_pin: int = 0
    option_bytes: dict[str, int] = field(default_factory=dict)
    hse_hz: Optional[int] = None
    strict: bool = False
    echo_events: bool = False
    fast_paths: bool = True       # False: the reference paths the equivalence tests compare against


def select_boot(optr: int, secr: int, empty: bool, boot0_pin: int) -> BootMode:
    """RM0490 §3.1 Table 9 (FACTS §2.1); RDP level 2 removes the system-memory and SRAM
    boots (RM0490 §4.5.1, as in the G0/G4/L4 flash interface manuals)."""
    if secr >> 16 & 1 or optr & 0xFF == 0xCC:          # BOOT_LOCK or RDP 2: main flash, EMPTY ignored
        return BootMode.MAIN_FLASH
    n_boot_sel, n_boot1, n_boot0 = optr >> 24 & 1, optr >> 25 & 1, optr >> 26 & 1
    boot0 = boot0_pin if n_boot_sel == 0 else (0 if n_boot0 else 1)
    if boot0:
        return BootMode.SYSTEM_MEMORY if n_boot1 else BootMode.SRAM
    return BootMode.SYSTEM_MEMORY if empty else BootMode.MAIN_FLASH


class PrivatePeripheralBus(Peripheral):
    """0xE000_E000-0xE000_EFFF: SysTick, NVIC, SCB routed by address (ARMv6-M B3)."""
    name = "PPB"
    size = 0x1000

    def __init__(self, parts: list[Peripheral], services) -> None:
        super().__init__(c071.PPB_SCS, services)
        self.parts = parts

    def _route(self, offset: int):
        address = self.base + offset
        for p in self.parts:
            if p.base <= address < p.base + p.size:
                return p, address - p.base
        return None, offset

    def read(self, offset: int, size: int) -> int:
        part, rel = self._route(offset)
        if part is None:
            self.services.unmodelled(self, offset, size, is_write=False, value=None, reg=None)
            return 0
        return part.read(rel, size)

    def write(self, offset: int, size: int, data: int) -> None:
        part, rel = self._route(offset)
        if part is None:
            self.services.unmodelled(self, offset, size, is_write=True, value=data, reg=None)
            return
        part.write(rel, size, data)


class Machine:
    def __init__(self, config: MachineConfig | None = None) -> None:
        self.config = config or MachineConfig()
        self.cpu = Cpu()
        self.clock = SimClock(c071.RESET_SYSCLK_HZ)
        self.scheduler = Scheduler(self.clock)
        self.book = ExceptionBook()
        self.trace = Trace()
        self.output: list[str] = []
        self.images: list[Image] = []
        self.boot_mode = BootMode.MAIN_FLASH
        self._alias: Optional[Memory] = None
        self._mmio_callbacks: list[tuple] = []
        self._described: dict[tuple, Optional[str]] = {}
        self._behind: dict[tuple, str] = {}
        self.loop = RunLoop(self.cpu, self.clock, self.scheduler, self.book, vtor=lambda: self.scb.vtor,
                            on_exception=self._on_exception)
        self.loop.fast_paths = self.config.fast_paths
        services = MachineServices(self)
        self.services = services

        # -- memories (RM0490 Table 4) ----------------------------------------------
        self.flash = Memory("main flash", c071.FLASH_BASE, c071.FLASH_SIZE, UC_PROT_READ | UC_PROT_EXEC, 0xFF)
        self.sysmem = Memory("system memory", c071.SYSMEM_BASE, c071.SYSMEM_SIZE, UC_PROT_READ | UC_PROT_EXEC, 0xFF)
        self.otp = Memory("OTP", c071.OTP_BASE, c071.OTP_SIZE, UC_PROT_READ, 0xFF)
        self.engineering = Memory("engineering bytes", c071.ENGINEERING_BASE, c071.ENGINEERING_SIZE, UC_PROT_READ, 0xFF)
        self.option_area = Memory("option bytes", c071.OPTION_BYTES_BASE, c071.OPTION_BYTES_SIZE, UC_PROT_READ, 0xFF)
        self.sram = Memory("SRAM", c071.SRAM_BASE, c071.SRAM_SIZE, UC_PROT_ALL, 0x00)
        self.memories = [self.flash, self.sysmem, self.otp, self.engineering, self.option_area, self.sram]
        self._write_engineering_bytes()
        write_factory_option_bytes(self.option_area.buffer, self.config.option_bytes)
        self.flash_view = FlashView(self)

        # -- core peripherals (ARMv6-M B3) ---------------------------------------------
        self.nvic = Nvic(services=services, book=self.book)
        self.scb = SystemControlBlock(services=services, book=self.book)
        self.systick = SysTick(services=services, book=self.book)

        # -- STM32C071 peripherals (RM0490 Table 7) ------------------------------------
        self.rcc = ResetClockControl(c071.RCC, services, hse_hz=self.config.hse_hz)
        self.flash_controller = FlashController(
            c071.FLASH_REGS, services, option_area=self.option_area.buffer,
            array=FlashArray(self.flash, self.otp, self.cpu), rdp_restricted=self._rdp_restricted,
            busy_changed=self.flash_view.busy_changed, secure_area_locked=self.flash_view.hide_secure_area)
        self.syscfg = SystemConfig(c071.SYSCFG, services, boot_mem_mode=lambda: self.boot_mode.value,
                                   remap=self._remap, irq_line_status=self._irq_line_status)
        self.pwr = PowerControl(c071.PWR, services)
        self.dbg = DebugSupport(c071.DBG, services)
        self.iwdg = IndependentWatchdog(c071.IWDG, services,
                                        hardware_mode=lambda: not self.flash_controller.optr >> 16 & 1)
        self.gpio = {name: make_port(name, services) for name in ("GPIOA", "GPIOB", "GPIOC", "GPIOD", "GPIOF")}
        self.gpio["GPIOA"].drive(BOOT0_PIN, self.config.boot_pin)
        self.exti = ExtendedInterrupts(c071.EXTI, services)
        self.wwdg = WindowWatchdog(c071.WWDG, services, pclk_divider=self.rcc.pclk_divider,
                                   hardware_mode=lambda: not self.flash_controller.optr >> 19 & 1)
        self.usb = UsbDevice(c071.USB, services, pma=PacketMemory(c071.USB_PMA, services),
                             kernel_clock_hz=self.rcc.usb_kernel_clock_hz)
        self.crs = ClockRecoverySystem(c071.CRS, services)
        self.usart1 = Usart(c071.USART1, services, "USART1", c071.IRQ_USART1, kernel_clock_hz=self.rcc.usart1_kernel_clock_hz)
        self.usart2 = Usart(c071.USART2, services, "USART2", c071.IRQ_USART2, kernel_clock_hz=self.rcc.pclk_hz)
        self.crc = Crc(c071.CRC, services)
        self.dmamux = DmaRequestMux(c071.DMAMUX1, services)
        self.dma = DirectMemoryAccess(c071.DMA1, services, system_bus=SystemBusPort(self), mux=self.dmamux)
        self.i2c1 = make_i2c("I2C1", services, kernel_clock_hz=self.rcc.i2c1_kernel_clock_hz)
        self.i2c2 = make_i2c("I2C2", services, kernel_clock_hz=self.rcc.pclk_hz)
        self.spi1 = make_spi("SPI1", services, pclk_hz=self.rcc.pclk_hz)
        self.spi2 = make_spi("SPI2", services, pclk_hz=self.rcc.pclk_hz)
        self.adc = AnalogToDigital(c071.ADC, services, pclk_hz=self.rcc.pclk_hz,
                                   kernel_clock_hz=self.rcc.adc_kernel_clock_hz)
        self.rtc = RealTimeClock(c071.RTC, services, rtc_clock_hz=self.rcc.rtc_clock_hz)
        self.timers = {name: make_timer(name, services, kernel_clock_hz=self.rcc.timer_clock_hz,
                                        hclk_hz=self.rcc.hclk_hz)
                       for name in ("TIM1", "TIM2", "TIM3", "TIM14", "TIM16", "TIM17")}
        self.unmodelled_blocks = [UnmodelledBlock(b.name, b.base, b.size, services) for b in c071.UNMODELLED_BLOCKS]
        # Every modelled block, one per line; the PPB trio is mapped through PrivatePeripheralBus.
        self.peripherals: list[Peripheral] = [
            self.nvic,
            self.scb,
            self.systick,
            self.rcc,
            self.flash_controller,
            self.syscfg,
            self.pwr,
            self.dbg,
            self.iwdg,
            *self.gpio.values(),
            self.exti,
            self.wwdg,
            self.usb,
            self.usb.pma,
            self.crs,
            self.usart1,
            self.usart2,
            self.crc,
            self.dma,
            self.dmamux,
            self.i2c1,
            self.i2c2,
            self.spi1,
            self.spi2,
            self.adc,
            self.rtc,
            *self.timers.values(),
        ]
        self.power = LowPowerModes(self)
        self._wire_clocks_and_resets()
        if not self.config.fast_paths:
            for p in [*self.peripherals, *self.unmodelled_blocks]:
                p.fast_paths = False

        # -- the run loop's view of the chip ------------------------------------------------
        self.loop.semihosting = Semihosting(self.cpu, self._guest_output, lambda t: self.event("semihosting", t))
        self.loop.perform_reset = self.reset
        self.loop.housekeeping = self.flash_view.between_slices
        self.loop.clock_source = self.rcc.hclk_hz
        self.loop.sleep_on_exit = lambda: bool(self.scb.reg["SCR"].value & 2)
        self.loop.deep_sleep = self.power.deep_sleep         # Stop / Standby / Shutdown (emulator/power.py)
        self.loop.engine.sram_aliased = lambda: self._alias is self.sram
        self.loop.engine.vector_source = self.memory_behind
        self._map_everything()

    # -- assembly -------------------------------------------------------------------------
    def _wire_clocks_and_resets(self) -> None:
        """Each block's clock enable and reset bits in RCC (RM0490 §6.4.8-§6.4.17)."""
        rcc = self.rcc
        wiring = [(self.gpio[f"GPIO{x}"], "IOPENR", f"GPIO{x}EN", "IOPRSTR", f"GPIO{x}RST") for x in "ABCDF"] + [
            (self.flash_controller, "AHBENR", "FLASHEN", None, None),
            (self.syscfg, "APBENR2", "SYSCFGEN", "APBRSTR2", "SYSCFGRST"),
            (self.pwr, "APBENR1", "PWREN", "APBRSTR1", "PWRRST"),
            (self.dbg, "APBENR1", "DBGEN", "APBRSTR1", "DBGRST"),
            (self.usb, "APBENR1", "USBEN", "APBRSTR1", "USBRST"),
            (self.usb.pma, "APBENR1", "USBEN", None, None),
            (self.crs, "APBENR1", "CRSEN", "APBRSTR1", "CRSRST"),
            (self.usart1, "APBENR2", "USART1EN", "APBRSTR2", "USART1RST"),
            (self.usart2, "APBENR1", "USART2EN", "APBRSTR1", "USART2RST"),
            (self.crc, "AHBENR", "CRCEN", "AHBRSTR", "CRCRST"),
            (self.dma, "AHBENR", "DMA1EN", "AHBRSTR", "DMA1RST"),
            (self.dmamux, "AHBENR", "DMA1EN", "AHBRSTR", "DMA1RST"),     # DMA1EN clocks DMA1 and DMAMUX
            (self.i2c1, "APBENR1", "I2C1EN", "APBRSTR1", "I2C1RST"),
            (self.i2c2, "APBENR1", "I2C2EN", "APBRSTR1", "I2C2RST"),
            (self.spi1, "APBENR2", "SPI1EN", "APBRSTR2", "SPI1RST"),
            (self.spi2, "APBENR1", "SPI2EN", "APBRSTR1", "SPI2RST"),
            (self.adc, "APBENR2", "ADCEN", "APBRSTR2", "ADCRST"),
            (self.rtc, "APBENR1", "RTCAPBEN", None, None),
            (self.wwdg, "APBENR1", "WWDGEN", None, None),
            (self.timers["TIM1"], "APBENR2", "TIM1EN", "APBRSTR2", "TIM1RST"),
            (self.timers["TIM2"], "APBENR1", "TIM2EN", "APBRSTR1", "TIM2RST"),
            (self.timers["TIM3"], "APBENR1", "TIM3EN", "APBRSTR1", "TIM3RST"),
            (self.timers["TIM14"], "APBENR2", "TIM14EN", "APBRSTR2", "TIM14RST"),
            (self.timers["TIM16"], "APBENR2", "TIM16EN", "APBRSTR2", "TIM16RST"),
            (self.timers["TIM17"], "APBENR2", "TIM17EN", "APBRSTR2", "TIM17RST"),
        ]
        for block, enable_reg, enable_bit, reset_reg, reset_bit in wiring:
            rcc.gate(enable_reg, enable_bit, block)
            if reset_reg:
                rcc.resets(reset_reg, reset_bit, block)
        rcc.clock_listeners += [t.clock_changed for t in self.timers.values()]   # TIMPCLK follows PPRE
        rcc.shared_irq = self.crs.interrupt_pending          # RCC and CRS share IRQ 4 (RM0490 Table 55)
        self.crs.irq_changed = rcc.refresh_irq
        self.usb.on_sof = self.crs.usb_sof                   # USB SOF is the CRS sync source (FACTS §5.4)
        self.usart1.request_dma = self.dmamux.connect("USART1_RX", "USART1_TX")
        self.usart2.request_dma = self.dmamux.connect("USART2_RX", "USART2_TX")
        rcc.rtc_domain_reset = self.rtc.domain_reset          # RCC_CSR1.RTCRST (RM0490 §6.4.26)
        rcc.rtc_clock_changed = self.rtc.clock_changed
        def pin_changed(port, pin: int, level: int) -> None:     # an edge reaches its EXTI line and WKUP pin
            self.exti.pin_changed(port, pin, level)
            self.pwr.pin_changed(port, pin, level)
        for port in self.gpio.values():
            port.on_pin_change = pin_changed
        watch_key = [None]

        def pin_watch_changed() -> None:     # GPIO ODR writes to pins neither EXTI nor PWR watches need no model
            key = (*(r.value for r in self.exti._exticr), self.exti.reg["RTSR1"].value,
                   self.exti.reg["FTSR1"].value, self.pwr.reg["CR3"].value)
            if key != watch_key[0]:
                watch_key[0] = key
                for port in self.gpio.values():
                    port.watch_pins(self.exti.watched_pins(port.name) | self.pwr.watched_pins(port.name))
        self.exti.watch_changed = self.pwr.watch_changed = self._pin_watch_changed = pin_watch_changed
        pin_watch_changed()
        self.exti.cpu_event = self.power.external_event      # EXTI event lines drive the core's RXEV

    def _map_everything(self) -> None:
        uc = self.cpu.uc
        # The native bus path (emulator/core/native) serves plain word accesses in C and
        # calls the Python callbacks for everything else; without a C compiler it is absent.
        self.native_bus: Optional[NativeBus] = None
        if not self.config.fast_paths:
            self.bus_path = "python (fast paths off)"
        else:
            lib, self.bus_path = load_fastbus()
            if lib is not None:
                self.native_bus = NativeBus(lib, self.cpu, self.loop, self.trace)
                self.loop.engine.native = NativeFrames(lib, self.cpu, c071.SRAM_BASE, c071.SRAM_SIZE)
                self.native_bus.before_run.append(self._pin_watch_changed)   # registers restored by assignment tell no one
        for m in self.memories:
            m.map(uc)
        ppb = PrivatePeripheralBus([self.systick, self.nvic, self.scb], self.services)
        self._mmio(ppb)
        for p in [*self.peripherals, *self.unmodelled_blocks]:
            if p.base < c071.PPB_SCS:
                self._mmio(p)
        self.flash_view.install_hooks()

    @staticmethod
    def _mapped_size(p: Peripheral) -> int:
        """Unicorn maps MMIO in 1 KiB pages; a block occupies at least one."""
        return max(0x400, (p.size + 0x3FF) & ~0x3FF)

    def _mmio(self, p: Peripheral) -> None:
        size = self._mapped_size(p)
        if not self.config.fast_paths:
            self.cpu.uc.mmio_map(p.base, size, lambda uc, off, sz, ud: p.read(off, sz), None,
                                 lambda uc, off, sz, val, ud: p.write(off, sz, val), None)
            return
        # uc_mmio_map with our own ctypes callbacks: the binding's two wrapper layers cost
        # more than the model's whole fast path.  A Python exception is recorded on the Uc
        # object and stops the emulation, as the binding's wrappers do.
        uc, read, write = self.cpu.uc, p.read, p.write

        def on_read(handle, offset, size, user_data):
            try:
                return read(offset, size)
            except BaseException as exc:
                callback_failed(uc, exc)
                return 0

        def on_write(handle, offset, size, value, user_data):
            try:
                write(offset, size, value)
            except BaseException as exc:
                callback_failed(uc, exc)

        callbacks = (_MMIO_READ(on_read), _MMIO_WRITE(on_write))
        read_fn, write_fn, data = ctypes.cast(callbacks[0], MMIO_READ_CFUNC), ctypes.cast(callbacks[1], MMIO_WRITE_CFUNC), None
        block = self.native_bus.block(p, size, *callbacks) if self.native_bus is not None else None
        if block is not None:
            read_fn, write_fn, data = self.native_bus.read_callback, self.native_bus.write_callback, ctypes.addressof(block)
        status = uclib.uc_mmio_map(self.cpu.handle, p.base, size, read_fn, data, write_fn, data)
        if status:
            raise UcError(status)
        self._mmio_callbacks.append(callbacks)      # ctypes callbacks must outlive the mapping

    def _write_engineering_bytes(self) -> None:
        e = self.engineering
        e.store(None, c071.FLASH_SIZE_ADDR, (c071.FLASH_SIZE // 1024).to_bytes(2, "little"))
        # A fixed, recognisable UID keeps runs deterministic (the real one is per die).
        e.store(None, c071.UID_ADDR, bytes.fromhex("c071e0000000000000000001"))
        e.store(None, c071.PACKAGE_ADDR, (0x0000).to_bytes(2, "little"))
        for address, value in calibration_values().items():      # VREFINT_CAL, TS_CAL1 (peripherals/adc.py)
            e.store(None, address, value.to_bytes(2, "little"))

    # -- the 0x0 alias ---------------------------------------------------------------------
    @property
    def alias(self) -> Optional[Memory]:
        """The memory that 0x0000_0000 shows (MEM_MODE, RM0490 §9.1.1)."""
        return self._alias

    def native_address(self, address: int) -> int:
        """An address in the 0x0 alias as the address of the memory behind it."""
        if address < c071.ALIAS_WINDOW and self._alias is not None:
            return self._alias.base + address
        return address

    def _rdp_restricted(self) -> bool:
        """RDP level 1 and a boot from system memory or SRAM: main flash is inaccessible (RM0490 §4.5.1)."""
        return self.flash_controller.rdp_level() == 1 and self.boot_mode is not BootMode.MAIN_FLASH

    # -- images ---------------------------------------------------------------------------
    def load(self, image: Image) -> None:
        for seg in image.segments:
            memory = next(m for m in self.memories if m.contains(seg.address, len(seg.data)))
            memory.store(self.cpu.uc, seg.address, seg.data)
        self.images.append(image)
        self._watch_code()

    # -- persistence (--flash-file) ------------------------------------------------------------
    PERSISTENT_SIZE = c071.FLASH_SIZE + c071.OPTION_BYTES_SIZE

    def load_persistent(self, path) -> bool:
        """Replace flash and option bytes by a saved state; False if the file does not exist yet.

        The file is the 128 KiB flash array followed by the 2 KiB option-byte area, so a
        run can program the device and a later run boots what was programmed.
        """
        from pathlib import Path
        path = Path(path)
        if not path.exists():
            return False
        blob = path.read_bytes()
        if len(blob) != self.PERSISTENT_SIZE:
            raise ValueError(f"{path}: {len(blob)} bytes; a flash file holds {self.PERSISTENT_SIZE} "
                             "(128 KiB flash + 2 KiB option bytes)")
        self.flash.store(self.cpu.uc, c071.FLASH_BASE, blob[:c071.FLASH_SIZE])
        self.option_area.store(None, c071.OPTION_BYTES_BASE, blob[c071.FLASH_SIZE:])
        self._watch_code()
        return True

    def save_persistent(self, path) -> None:
        from pathlib import Path
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(self.flash.array.tobytes() + self.option_area.array.tobytes())
        tmp.replace(path)

    def _watch_code(self) -> None:
        for m in (self.flash, self.sysmem, self.sram):
            self.loop.watch_code(m.base, m.array.tobytes())
        if self._alias is not None:
            self.loop.watch_code(0, self._alias.array.tobytes())

    def describe(self, address: int) -> Optional[str]:
        """``symbol+offset`` from whichever loaded image owns the address."""
        return self._describe_as_of(address, len(self.images), self._alias)

    def _describe_as_of(self, address: int, images: int, alias) -> Optional[str]:
        """``describe`` as it answered when the first ``images`` images were loaded and the 0x0
        alias showed ``alias`` (remembered per address, images and alias target: every
        exception event asks, and those made later name what was there then)."""
        key = (address, images, alias if address < c071.ALIAS_WINDOW else None)
        described = self._described.get(key, False)
        if described is False:
            described = self._described[key] = self._describe(address, self.images[:images], alias)
        return described

    @staticmethod
    def _describe(address: int, images: list[Image], alias) -> Optional[str]:
        candidates = [address]
        if address < c071.ALIAS_WINDOW and alias is not None:
            candidates.append(alias.base + address)
        for a in candidates:
            for image in images:
                name = image.symbol_for(a)
                if name:
                    return f"{name} [{image.path.name}]" if len(images) > 1 else name
        return None

    def memory_behind(self, address: int) -> str:
        """The memory that answers a read at ``address`` ("system memory via the 0x0 alias");
        remembered per address and alias target, since every exception entry asks."""
        key = (address, self._alias)
        behind = self._behind.get(key)
        if behind is None:
            behind = self._behind[key] = self._memory_behind(address)
        return behind

    def _memory_behind(self, address: int) -> str:
        memory, native = self.memory_at(address)
        if memory is None:
            return "no memory"
        return f"{memory.name} via the 0x0 alias" if native != address else memory.name

    # -- reset and boot -------------------------------------------------------------------
    def reset(self, cause: str = "power") -> None:
        """Power-on or system reset: peripherals, boot selection, alias, core (RM0490 §6.1)."""
        self.scheduler.clear()
        self.power.reset()
        if cause in ("power", "obl", "standby"):   # option bytes load at power-on, OBL_LAUNCH, Standby exit (RM0490 §4.4.2)
            self.flash_controller.power_on_reset()
            self.flash_controller.evaluate_empty(int.from_bytes(self.flash.load(c071.FLASH_BASE, 8), "little"))
        else:
            self.flash_controller.reset()
        self.boot_mode = select_boot(self.flash_controller.optr, self.flash_controller.secr,
                                     self.flash_controller.empty, self.gpio["GPIOA"].pin_level(BOOT0_PIN))
        self.flash_view.before_reset()
        self.map_alias(self.boot_mode.value)
        self.flash_view.after_reset(self._rdp_restricted())
        for p in self.peripherals:
            if p is not self.flash_controller:
                p.power_on_reset() if cause == "power" else p.reset()
            p.held_in_reset = False
        self.rcc.record_reset(cause)
        self.clock.set_frequency(self.rcc.hclk_hz(), self.clock.cycles)
        self.event("reset", f"{cause} reset; boot from {self.boot_mode.name.lower().replace('_', ' ')}")
        self._reset_core()

    def _reset_core(self) -> None:
        cpu = self.cpu
        cpu.set_ipsr(0)
        cpu.set_control(0)
        cpu.write("primask", 0)
        cpu.write("psp", 0)
        for r in ("r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "r12"):
            cpu.write(r, 0)
        cpu.write("lr", 0xFFFF_FFFF)
        cpu.write("xpsr", EPSR_T)
        self.loop.sleeping = False
        self.loop.polls.forget()
        self.loop.engine.event_register = False
        alias = self._alias
        sp = alias.word(alias.base) if alias else 0xFFFF_FFFF
        pc = alias.word(alias.base + 4) if alias else 0xFFFF_FFFF
        cpu.write("msp", sp & ~3)
        cpu.write("pc", pc & ~1)
        self.loop.end = None
        if pc in (0xFFFF_FFFF, 0) or pc & ~1 >= 0xE000_0000 or not pc & 1:
            self.loop.end = RunEnd(EndReason.LOCKUP,
                                   f"core locked up at PC 0x{pc & ~1:08X} because the reset vector at 0x00000004 "
                                   f"({self.boot_mode.name.lower().replace('_', ' ')}) reads 0x{pc:08X}",
                                   pc=pc & ~1)

    def _alias_target(self, mem_mode: int) -> Memory:
        """RM0490 §9.1.1: MEM_MODE x0 main flash, 01 system memory, 11 SRAM."""
        return {0: self.flash, 2: self.flash, 1: self.sysmem, 3: self.sram}[mem_mode & 3]

    def map_alias(self, mem_mode: int) -> None:
        """Point 0x0000_0000 at the memory MEM_MODE selects."""
        target = self._alias_target(mem_mode)
        if target is self._alias:
            return
        uc = self.cpu.uc
        if self._alias is not None and 0 in self._alias.mapped_at:
            self._alias.unmap(uc, 0)
        elif self._alias is self.flash and self.flash_view.mapping == "stall":
            uc.mem_unmap(0, self.flash.size)
        if not (target is self.flash and self.flash_view.mapping == "none"):
            target.map(uc, 0)
        remove_translations(uc, 0, c071.ALIAS_WINDOW)
        self._alias = target
        code = target.array.tobytes()
        self.loop.watch_code(0, code)
        # and at its own address: flash the guest programmed (a DFU download) is scanned here,
        # at the reset that starts the new application
        self.loop.watch_code(target.base, code)

    def _remap(self, mem_mode: int) -> None:
        if self._alias_target(mem_mode) is self._alias:
            return
        self.event("syscfg.remap", f"MEM_MODE={mem_mode:02b}: 0x00000000 now shows {self._alias_target(mem_mode).name}")
        self.map_alias(mem_mode)
        self.loop.end_slice()

    def _irq_line_status(self, line: int) -> int:
        return self.book.line_level >> line & 1

    # -- running --------------------------------------------------------------------------
    DEFAULT_RUN_SECONDS = 10.0

    def run(self, max_seconds: Optional[float] = None, stop_at: Optional[int] = None) -> RunEnd:
        """Run until the guest ends, a stop, or ``max_seconds`` of simulated time - by
        default DEFAULT_RUN_SECONDS (as ``c071emu run``), so a guest that never ends cannot
        spin forever; ``math.inf`` runs unbounded (a host or debugger decides when to stop)."""
        if self.loop.end is not None and self.loop.end.reason is EndReason.LOCKUP:
            return self.loop.end
        if stop_at is not None:
            self.loop.stop_at(stop_at)
        if max_seconds is None:
            max_seconds = self.DEFAULT_RUN_SECONDS
        deadline = None if max_seconds == float("inf") else self.clock.time_ps() + int(max_seconds * PS_PER_S)
        try:
            return self.loop.run(deadline)
        finally:
            if stop_at is not None:
                self.loop.clear_stops()

    def seconds(self) -> float:
        return self.clock.seconds()

    def host_after(self, seconds: float, action: Callable[[], None], name: str):
        """Schedule an event of an agent outside the chip (a USB host, a serial peer): it
        survives chip resets, as the real host keeps running when the device resets."""
        return self.host_at_ps(self.clock.time_ps(self.loop.instruction_cycle()) + delay_ps(seconds), action, name)

    def host_at_ps(self, time_ps: int, action: Callable[[], None], name: str):
        """``host_after`` at an absolute time (picoseconds), for a host that chains its own delays."""
        event = self.scheduler.at_time_ps(time_ps, action, name, outside_chip=True)
        self.loop.event_scheduled(event.cycle)
        return event

    # -- observation ------------------------------------------------------------------------
    def event(self, kind: str, text: str | Callable[[], str], pc: Optional[int] = None) -> None:
        """A named event now; ``text`` may be a function that formats it when it is read."""
        arguments = (self.loop.instruction_cycle(), self.clock.epoch, kind, text, pc, len(self.images), self._alias)
        if self.trace.echo:
            self.trace.add(self._trace_event(arguments))
        else:
            self.trace.defer(self._trace_event, arguments)

    def _trace_event(self, arguments: tuple) -> TraceEvent:
        cycle, epoch, kind, text, pc, images, alias = arguments
        return TraceEvent(cycle, seconds_in(epoch, cycle), kind, text if isinstance(text, str) else text(), pc,
                          None if pc is None else self._describe_as_of(pc, images, alias))

    def _on_exception(self, *record_arguments) -> None:
        trace = self.trace
        if not trace.exception_observers and not trace.echo:
            # nothing looks now: the record and its event are made when the log is read
            trace.defer(self._exception_event, (record_arguments, self.clock.epoch, len(self.images), self._alias))
            return
        record = ExceptionRecord(*record_arguments)
        trace.add(ExceptionEvent(record, self.clock.epoch, self.describe(record.pc)))
        for observe in trace.exception_observers:      # --trace exc, --vcd (emulator/tracing)
            observe(record)

    def _exception_event(self, arguments: tuple) -> ExceptionEvent:
        record_arguments, epoch, images, alias = arguments
        record = ExceptionRecord(*record_arguments)
        return ExceptionEvent(record, epoch, self._describe_as_of(record.pc, images, alias))

    def _guest_output(self, text: str) -> None:
        self.output.append(text)

    @property
    def guest_output(self) -> str:
        return "".join(self.output)

    def read32(self, address: int) -> int:
        return self.cpu.read32(address)

    def drive_pin(self, pin: str, level: Optional[int]) -> None:
        """Drive a pin from the board side ("PC13", 0 or 1); ``None`` releases it to its pull.
        A level change is an edge for the EXTI line and the PWR wake-up pin on that pin."""
        port_letter, number = pin[1:2].upper(), pin[2:]
        port = self.gpio.get(f"GPIO{port_letter}")
        if not pin[:1].upper() == "P" or port is None or not number.isdigit():
            raise ValueError(f"{pin!r} is not a pin name like PC13 (ports A, B, C, D, F)")
        if level is None:
            port.release(int(number))
        else:
            port.drive(int(number), level)

    def symbol(self, name: str) -> int:
        for image in self.images:
            if name in image.symbols:
                return image.symbols[name] & ~1
        raise KeyError(name)

    # -- bus access without firmware (peripheral tests) -------------------------------------
    def peripheral_at(self, address: int) -> Optional[Peripheral]:
        for p in [*self.peripherals, *self.unmodelled_blocks]:
            # PPB parts share one 4 KiB window, so there only their own span belongs to them
            span = p.size if p.base >= c071.PPB_SCS else self._mapped_size(p)
            if p.base <= address < p.base + span:
                return p
        return None

    def bus_read(self, address: int, size: int = 4) -> int:
        p = self.peripheral_at(address)
        if p is None:
            raise ValueError(f"0x{address:08X} is not a peripheral register")
        return p.read(address - p.base, size)

    def bus_write(self, address: int, value: int, size: int = 4) -> None:
        p = self.peripheral_at(address)
        if p is None:
            raise ValueError(f"0x{address:08X} is not a peripheral register")
        p.write(address - p.base, size, value)

    # -- a debugger's view: the debug access port (emulator/gdb) --------------------------------
    def debug_read(self, address: int, length: int) -> bytes:
        """Read as the debug port does: memories directly (no flash wait states, through the
        0x0 alias too), peripheral registers word by word through their models, so read side
        effects happen as they would on silicon.  Raises ValueError where nothing answers."""
        out = bytearray()
        while length > 0:
            memory, native = self.memory_at(address)
            if memory is not None:
                n = min(length, memory.base + memory.size - native)
                out += memory.load(native, n)
            else:
                p = self.peripheral_at(address)
                if p is None:
                    raise ValueError(f"nothing answers at 0x{address:08X}")
                word_at = address & ~3
                n = min(length, word_at + 4 - address)
                word = p.read(word_at - p.base, 4).to_bytes(4, "little")
                out += word[address - word_at:address - word_at + n]
            address, length = address + n, length - n
        return bytes(out)

    def debug_write(self, address: int, data: bytes) -> None:
        """Write as the debug port does: SRAM directly, peripheral registers word by word
        (read-modify-write for partial words); flash, system memory and OTP are read-only on
        the bus, as on silicon (a debugger programs flash through the FLASH controller)."""
        while data:
            memory, native = self.memory_at(address)
            if memory is not None:
                if memory is not self.sram:
                    raise ValueError(f"0x{address:08X} is {memory.name}: read-only on the bus")
                n = min(len(data), memory.base + memory.size - native)
                memory.store(self.cpu.uc, native, data[:n])
            else:
                p = self.peripheral_at(address)
                if p is None:
                    raise ValueError(f"nothing answers at 0x{address:08X}")
                word_at = address & ~3
                n = min(len(data), word_at + 4 - address)
                word = bytearray(p.read(word_at - p.base, 4).to_bytes(4, "little")) if n < 4 else bytearray(4)
                word[address - word_at:address - word_at + n] = data[:n]
                p.write(word_at - p.base, 4, int.from_bytes(word, "little"))
            address, data = address + n, data[n:]

    def program_flash_directly(self, address: int, data: bytes) -> None:
        """A debugger's flash loader: bytes land in main flash (gdb ``load``).  Real probes run a
        loader through the FLASH controller; the end state is the same and the controller's
        registers are left as a loader leaves them (locked, no flags)."""
        if not self.flash.contains(address, len(data)):
            raise ValueError(f"0x{address:08X}+{len(data)} is not inside main flash")
        if not data:
            return
        self.flash.store(self.cpu.uc, address, data)
        self._watch_code()

    def memory_at(self, address: int) -> tuple[Optional[Memory], int]:
        """The memory behind a bus address, and the address inside it (the 0x0 alias resolved)."""
        native = self.native_address(address)
        for memory in self.memories:
            if memory.contains(native) and (address == native or memory is self._alias):
                return memory, native
        return None, address


# The binding's MMIO callback types, with the engine handle as a plain pointer (an int in
# Python) rather than a uc_engine object built for every access.
_MMIO_READ = ctypes.CFUNCTYPE(ctypes.c_uint64, ctypes.c_void_p, ctypes.c_uint64, ctypes.c_uint, ctypes.c_void_p)
_MMIO_WRITE = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint64, ctypes.c_uint, ctypes.c_uint64, ctypes.c_void_p)
