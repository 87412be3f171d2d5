"""Residual state as items: what differs at the bootloader's first instruction between a
software jump and a clean BOOT0 entry, grouped so that each item can be put back on its
own (a counterfactual) and has one application-side fix.

Grouping follows what firmware changes together: the vector table (VTOR), the 0x0 alias
(MEM_MODE), PRIMASK, the stack selection (CONTROL.SPSEL + PSP), an active exception
(IPSR), the flash lock, the flash error flags, a half-written flash double word
(CFGBSY), each NVIC interrupt, SysTick, each RCC register (clock choices and enables),
the flash latency, the USB and CRS register state, the watchdog, and any other
register.  General-purpose registers (R0-R12, LR) are not items: a ROM entry point does
not read them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

from peripherals import c071
from peripherals.flash import CFGBSY, LOCK, OPTLOCK, POISON

from ..machine import Machine
from .fixes import STYLES, fix_for, nvic_fix, register_fix
from .snapshot import JumpSnapshot

IGNORED_REGISTERS = {
    "RCC.CSR2",        # reset flags: history, not configuration
    "RCC.CIFR",        # oscillator-ready flags follow the oscillators
    "SysTick.VAL",     # follows SysTick.CTRL/LOAD
    "SysTick.CALIB",
    "FLASH.KEYR", "FLASH.OPTKEYR",
    # option registers are the device's configuration (the reference uses the same option
    # bytes, with nBOOT_SEL cleared so that the BOOT0 pin selects): not residual state
    "FLASH.OPTR", "FLASH.PCROP1ASR", "FLASH.PCROP1AER", "FLASH.WRP1AR", "FLASH.WRP1BR",
    "FLASH.PCROP1BSR", "FLASH.PCROP1BER", "FLASH.SECR",
}


@dataclass
class Difference:
    what: str              # "SCB.VTOR" or "SCB.VTOR.TBLOFF"
    reference: int
    actual: int
    writer: str = ""       # who last changed this field in the jump run (instruction or hardware)
    register_reference: Optional[int] = None     # the whole register's value, for a field
    register_actual: Optional[int] = None
    lsb: int = 0
    width: int = 32
    writer_short: str = ""   # function and time, for narrow columns

    def shown(self, which: str) -> str:
        """The value as an engineer reads it: a field in the manual's units (an address
        field in place, a small field with its meaning), with the register's value."""
        field_value = self.reference if which == "reference" else self.actual
        register = self.register_reference if which == "reference" else self.register_actual
        return show_field(self.what, field_value, self.lsb, self.width, register)


@dataclass
class Item:
    key: str                              # stable identifier, e.g. "VTOR"
    title: str                            # "VTOR points at the application's vector table"
    group: str                            # peripheral for the report
    manual: str
    differences: list[Difference]
    restore: Callable[[Machine, JumpSnapshot], None] = field(repr=False, default=None)
    fixes: dict[str, str] = field(default_factory=dict)    # C for the jump function, per style (fixes.py)

    @property
    def fix(self) -> str:
        return self.fixes.get("cmsis", "")

    def fix_in(self, style: str) -> str:
        return self.fixes.get(style) or self.fix

    def summary(self) -> str:
        return "; ".join(f"{d.what}: 0x{d.reference:X} -> 0x{d.actual:X}" for d in self.differences)


# -- restoration verbs ---------------------------------------------------------------------
def _set_registers(m: Machine, ref: JumpSnapshot, keys: list[str]) -> None:
    for key in keys:
        periph_name, reg_name = key.split(".", 1)
        p = next(p for p in m.peripherals if p.name == periph_name)
        p.reg[reg_name].value = ref.registers[key].value


def _restore_vtor(m: Machine, ref: JumpSnapshot) -> None:
    _set_registers(m, ref, ["SCB.VTOR"])


def _restore_mem_mode(m: Machine, ref: JumpSnapshot) -> None:
    _set_registers(m, ref, ["SYSCFG.CFGR1"])
    m.map_alias(m.syscfg.mem_mode())


def _restore_primask(m: Machine, ref: JumpSnapshot) -> None:
    m.cpu.write("primask", ref.core["primask"])


def _restore_stack_selection(m: Machine, ref: JumpSnapshot) -> None:
    if m.cpu.ipsr() == 0:
        m.cpu.set_control(ref.core["control"])
    m.cpu.write("psp", ref.core["psp"])
    m.cpu.write("msp", ref.core["msp"])


def _restore_active_exception(m: Machine, ref: JumpSnapshot) -> None:
    m.book.active_stack.clear()
    m.cpu.set_ipsr(ref.core["xpsr"] & 0x3F)
    m.cpu.write("msp", ref.core["msp"])


def _restore_flash_lock(m: Machine, ref: JumpSnapshot) -> None:
    fc = m.flash_controller
    fc.cr.value = (fc.cr.value & ~(LOCK | OPTLOCK)) | (ref.registers["FLASH.CR"].value & (LOCK | OPTLOCK))
    fc.keys.state = fc.option_keys.state = "locked"
    fc._latched = False


def _restore_flash_errors(m: Machine, ref: JumpSnapshot) -> None:
    fc = m.flash_controller
    fc.sr.value = (fc.sr.value & ~POISON) | (ref.registers["FLASH.SR"].value & POISON)
    fc._update_irq()


def _restore_flash_cfgbsy(m: Machine, ref: JumpSnapshot) -> None:
    fc = m.flash_controller
    fc.sr.value &= ~CFGBSY
    fc._stray_word = None
    fc._pending_word = None


def _restore_irq(irq: int) -> Callable[[Machine, JumpSnapshot], None]:
    def restore(m: Machine, ref: JumpSnapshot) -> None:
        bit, number = 1 << irq, c071.IRQ_BASE + irq
        m.book.enabled = (m.book.enabled & ~bit) | (ref.exceptions["enabled"] & bit)
        m.book.pending = (m.book.pending & ~(1 << number)) | (ref.exceptions["pending"] & (1 << number))
    return restore


def _restore_systick(m: Machine, ref: JumpSnapshot) -> None:
    st = m.systick
    _set_registers(m, ref, ["SysTick.LOAD", "SysTick.CTRL"])
    st.reg["CTRL"].value &= 0x7
    st._start = ref.registers["SysTick.VAL"].value
    st._anchor = m.clock.cycles
    st._divider = 1 if st.reg["CTRL"].value & 4 else 8
    st._countflag = False
    st._schedule()


def _restore_register(key: str) -> Callable[[Machine, JumpSnapshot], None]:
    def restore(m: Machine, ref: JumpSnapshot) -> None:
        _set_registers(m, ref, [key])
        if key.startswith("RCC."):
            m.loop.clock_dirty = True      # the run loop re-reads HCLK at the next boundary
    return restore


def _restore_usb(m: Machine, ref: JumpSnapshot) -> None:
    m.usb.reset()
    m.usb.pma.reset()


def _restore_crs(m: Machine, ref: JumpSnapshot) -> None:
    m.crs.reset()


def _restore_iwdg(m: Machine, ref: JumpSnapshot) -> None:
    m.iwdg.on_reset()


# -- application-side fixes: emulator/analysis/fixes.py (CMSIS, HAL, LL) ----------------------------
def _fixes(make: Callable[[str], str]) -> dict[str, str]:
    return {style: make(style) for style in STYLES}


# -- values as engineers read them ---------------------------------------------------------------
# Small fields whose codes the manual names (RM0490 §6.4.1-6.4.3, §4.7.1, §9.1.1).
FIELD_MEANINGS = {
    "SYSCFG.CFGR1.MEM_MODE": {0: "main flash", 1: "system flash", 2: "main flash", 3: "SRAM"},
    "RCC.CFGR.SW": {0: "HSISYS", 1: "HSE", 2: "HSIUSB48", 3: "LSI", 4: "LSE"},
    "RCC.CFGR.SWS": {0: "HSISYS", 1: "HSE", 2: "HSIUSB48", 3: "LSI", 4: "LSE"},
    "RCC.CR.HSIDIV": {i: f"HSI48 / {1 << i} = {48 // (1 << i) if i < 5 else 48 / (1 << i):g} MHz"
                      for i in range(8)},
    "FLASH.ACR.LATENCY": {0: "0 wait states", 1: "1 wait state"},
}


def show_field(what: str, value: int, lsb: int, width: int, register: Optional[int]) -> str:
    """``0x0000_0000: MEM_MODE 0b00 main flash`` - the register's value, then the field in
    the manual's units; an address field (VTOR.TBLOFF) is the register value itself."""
    name = what.rsplit(".", 1)[-1]
    if register is not None and width >= 8 and lsb > 0:
        return hex_word(register)
    meaning = FIELD_MEANINGS.get(what, {}).get(value)
    text = f"{value}" if width == 1 else f"0b{value:0{width}b}" if width <= 4 else f"{value:#x}"
    if meaning:
        text += f" {meaning}"
    if register is None or width >= 32:
        return text
    return f"{hex_word(register)}: {name} {text}"


def hex_word(value: int) -> str:
    """0x0800_0000: the grouping engineers use for addresses and register values."""
    return f"0x{value >> 16 & 0xFFFF:04X}_{value & 0xFFFF:04X}"


_LAYOUTS: dict[str, dict[str, tuple[int, int, str]]] = {}


def _layouts() -> dict[str, dict[str, tuple[int, int, str]]]:
    """Field positions and access modes of every modelled register, from the models (built
    once per process: a caller about to fork many diagnoses builds it first, ``warm_layouts``)."""
    if not _LAYOUTS:
        m = Machine()
        for p in m.peripherals:
            for r in p.registers:
                _LAYOUTS[f"{p.name}.{r.name}"] = {f.name: (f.lsb, f.width, f.access.value) for f in r.fields}
    return _LAYOUTS


def warm_layouts() -> None:
    """Build the register layouts now, so that processes forked from here inherit them."""
    _layouts()


def _writable(key: str) -> bool:
    return any(access != "r" for _, _, access in _layouts().get(key, {}).values())


# -- building the items from two snapshots ------------------------------------------------------
def residual_items(ref: JumpSnapshot, jump: JumpSnapshot) -> list[Item]:
    items: list[Item] = []

    def reg_diff(key: str) -> list[Difference]:
        a, b = ref.registers[key], jump.registers[key]
        if a.value == b.value:
            return []
        layout = _layouts().get(key, {})
        fields = []
        for f in a.fields:
            if a.fields[f] == b.fields[f]:
                continue
            w = b.field_writers.get(f)
            lsb, width, access = layout.get(f, (0, 32, "rw"))
            if w is None and access != "rw":
                line = short = "set by hardware"       # a status bit no write changed
            elif w is None and (b.reset >> lsb) & ((1 << width) - 1) == b.fields[f]:
                line = short = "reset value, not written"
            else:
                line, short = (w.line(), w.short()) if w else ("", "")
            fields.append(Difference(f"{key}.{f}", a.fields[f], b.fields[f], line, a.value, b.value, lsb, width,
                                     short))
        return fields or [Difference(key, a.value, b.value, b.writer.line() if b.writer else "",
                                     writer_short=b.writer.short() if b.writer else "")]

    def add(key, title, group, manual, diffs, restore, fix):
        if diffs:
            items.append(Item(key, title, group, manual, diffs, restore,
                              _fixes(fix if callable(fix) else lambda style: fix_for(key, style))))

    add("VTOR", "VTOR points at a vector table other than system memory's", "SCB", "ARMv6-M B3.2.5",
        reg_diff("SCB.VTOR"), _restore_vtor, None)
    cfgr1 = [d for d in reg_diff("SYSCFG.CFGR1") if d.what.endswith("MEM_MODE")]
    add("MEM_MODE", "0x0000_0000 aliases main flash, not system memory", "SYSCFG", "RM0490 §9.1.1",
        cfgr1, _restore_mem_mode, None)
    core = []
    if ref.core["primask"] != jump.core["primask"]:
        core.append(("PRIMASK", "interrupts masked (PRIMASK = 1)", [Difference("PRIMASK", ref.core["primask"],
                                                                               jump.core["primask"])],
                     _restore_primask))
    if (ref.core["control"] & 2) != (jump.core["control"] & 2):
        core.append(("CONTROL.SPSEL+PSP", "thread mode on the process stack (CONTROL.SPSEL = 1)",
                     [Difference("CONTROL.SPSEL", ref.core["control"] >> 1 & 1, jump.core["control"] >> 1 & 1),
                      Difference("PSP", ref.core["psp"], jump.core["psp"])], _restore_stack_selection))
    if ref.ipsr != jump.ipsr:
        core.append(("IPSR", f"entered in handler mode ({c071.exception_name(jump.ipsr)} active)",
                     [Difference("IPSR", ref.ipsr, jump.ipsr)], _restore_active_exception))
    for key, title, diffs, restore in core:
        add(key, title, "core", "ARMv6-M B1.4", diffs, restore, None)

    fcr = [d for d in reg_diff("FLASH.CR") if d.what.endswith((".LOCK", ".OPTLOCK"))]
    add("FLASH_CR.LOCK", "flash control register left unlocked", "FLASH", "RM0490 §4.3.4",
        fcr, _restore_flash_lock, None)
    fsr = reg_diff("FLASH.SR")
    add("FLASH_SR errors", "flash error flags left set", "FLASH", "RM0490 §4.3.6, §4.7.4",
        [d for d in fsr if d.what.split(".")[-1] in ("PROGERR", "SIZERR", "PGAERR", "WRPERR", "MISSERR",
                                                     "FASTERR", "PGSERR")],
        _restore_flash_errors, None)
    add("FLASH_SR.CFGBSY", "a flash double word left half written (CFGBSY set)", "FLASH", "RM0490 §4.7.4",
        [d for d in fsr if d.what.endswith(".CFGBSY")], _restore_flash_cfgbsy, None)

    for irq in range(c071.NUM_IRQS):
        bit, number = 1 << irq, c071.IRQ_BASE + irq
        diffs = []
        for what, mask_ref, mask_jump, b in (
                ("enabled", ref.exceptions["enabled"], jump.exceptions["enabled"], bit),
                ("pending", ref.exceptions["pending"], jump.exceptions["pending"], 1 << number)):
            if (mask_ref & b) != (mask_jump & b):
                diffs.append(Difference(f"NVIC {c071.IRQ_NAMES.get(irq, irq)} {what}", int(bool(mask_ref & b)),
                                        int(bool(mask_jump & b))))
        add(f"NVIC IRQ{irq}", f"NVIC: {c071.IRQ_NAMES.get(irq, f'IRQ{irq}')} left enabled/pending", "NVIC",
            "ARMv6-M B3.4", diffs, _restore_irq(irq), lambda style, irq=irq: nvic_fix(irq, style))

    add("SysTick", "SysTick left running", "SysTick", "ARMv6-M B3.3",
        reg_diff("SysTick.CTRL") + reg_diff("SysTick.LOAD"), _restore_systick, None)
    usb = [d for key in ref.registers if key.startswith(("USB.", "USBRAM.")) and key in jump.registers
           for d in reg_diff(key)]
    add("USB", "USB peripheral state left from the application", "USB", "RM0490 §29", usb, _restore_usb, None)
    crs = [d for key in ref.registers if key.startswith("CRS.") for d in reg_diff(key)]
    add("CRS", "CRS state left from the application", "CRS", "RM0490 §7", crs, _restore_crs, None)
    iwdg = [d for key in ("IWDG.PR", "IWDG.RLR") for d in reg_diff(key)]
    if jump.exceptions.get("iwdg_running") and not ref.exceptions.get("iwdg_running"):
        iwdg.insert(0, Difference("IWDG running", 0, 1))
    add("IWDG", "independent watchdog running", "IWDG", "RM0490 §21", iwdg, _restore_iwdg, None)

    handled = {"SCB.VTOR", "SYSCFG.CFGR1", "FLASH.CR", "FLASH.SR", "SysTick.CTRL", "SysTick.LOAD",
               "IWDG.PR", "IWDG.RLR", "IWDG.KR", "IWDG.SR"} | IGNORED_REGISTERS
    for key in ref.registers:
        if key in handled or key.startswith(("USB.", "USBRAM.", "CRS.", "NVIC.", "SCB.ICSR")) \
                or key not in jump.registers:
            continue
        diffs = reg_diff(key)
        add(key, f"{key.replace('.', '_')} differs from its state after a reset", key.split(".")[0],
            ref.registers[key].manual, diffs, _restore_register(key),
            lambda style, key=key: register_fix(key, ref.registers[key].value, style, _writable(key)))
    return items
