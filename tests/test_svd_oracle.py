"""Register maps of the peripheral models checked against ST's SVD (STM32C071.svd).

The SVD is an oracle only (it is not part of the repository; its facts are committed
as tests/svd_c071.json by tests/svd_extract.py, and a test run beside ``../shared``
checks the table against a fresh extraction): for every model in
``peripherals/`` that has a counterpart in the SVD, each register's address and
power-on reset value must match the SVD register of the same name, the model's
base must equal ``c071.py``'s, and SVD registers the model lacks must be listed
in ``NOT_MODELLED``.  Where RM0490 and the SVD disagree, RM0490 wins and the
register is listed in ``EXCEPTIONS`` with the reason; an exception that no longer
differs fails, so the table cannot go stale.
"""
from __future__ import annotations

import importlib
import pkgutil
import inspect
from dataclasses import dataclass

import pytest

import peripherals
from peripherals import c071
from peripherals.regs import Peripheral
from peripherals.services import NullServices

import svd_extract

# Every module in peripherals/ is searched for models: a new model is checked without editing this file.
# A module whose class serves several instances (GPIO ports, timers) defines
# ``oracle_instances(services) -> list[Peripheral]``, each instance named as in the SVD.
MODEL_MODULES = tuple(m.name for m in pkgutil.iter_modules(peripherals.__path__))

# SVD peripheral name -> c071 constant name, where they differ
C071_BASE_NAMES = {"FLASH": "FLASH_REGS", "DMA": "DMA1", "DMAMUX": "DMAMUX1"}

# (SVD peripheral, model register name) -> SVD register name without the peripheral prefix
ALIASES = {
    ("RCC", "CCIPR"): "CCIPR1",
}

# (peripheral, register) -> why the model's reset value differs from the SVD
EXCEPTIONS = {
    ("GPIOA", "MODER"): "RM0490 §7.4.1: port A resets to 0xEBFF_FFFF (PA13/PA14 in AF mode for SWD); "
                        "SVD says 0xFFFF_FFFF. RM wins (FACTS §10 item 12).",
    ("GPIOA", "OSPEEDR"): "RM0490 §7.4.3: port A resets to 0x0C00_0000 (PA13 SWDIO very high speed); "
                          "SVD says 0.",
    ("GPIOA", "PUPDR"): "RM0490 §7.4.4: port A resets to 0x2400_0000 (PA13 pull-up, PA14 pull-down); "
                        "SVD says 0.",
    ("TIM3", "ARR"): "TIM3 is the 16-bit one of TIM2/TIM3 (RM0490 TIM2/TIM3 features: 16-bit TIM3, 32-bit "
                     "TIM2; ST's C011 SVD gives TIM3 ARR[15:0]); the C071 SVD copies TIM2's 32-bit "
                     "register. The model has no ARR[31:16] on TIM3: reset 0xFFFF (assumption).",
}
# Notes (no exception needed):
# - DBG.IDCODE (model 0x1000_6493, RM0490 §30.10.1) and FLASH.OPTR (factory
#   0x3FEF_FEAA until the option bytes load) have resetMask 0 in the SVD: unknown,
#   so nothing is compared.  FLASH.PCROP1xSR/WRP1xR (factory 0xFF / 0x3F, "no
#   protection" STRT > END) differ from the SVD's 0 only in bits its resetMask
#   marks unknown.
# - FLASH.ACR matches the SVD's 0x40600 because EMPTY is 0 until evaluate_empty runs.
# - SYSCFG.CFGR1 matches because the default boot_mem_mode() is 0 (main flash);
#   after a system-memory boot MEM_MODE resets to 01 (RM0490 §9.1.1).

# (peripheral, register, field) -> why the model places a field differently from the SVD
FIELD_EXCEPTIONS: dict[tuple[str, str, str], str] = {
    **{("TIM3", register, field): "TIM3 is the 16-bit one of TIM2/TIM3 (see EXCEPTIONS[TIM3.ARR]); the SVD "
                                  "gives it TIM2's 32-bit fields"
       for register, field in (("CNT", "CNT"), ("ARR", "ARR"), ("CCR1", "CCR1"), ("CCR2", "CCR2"),
                               ("CCR3", "CCR3"), ("CCR4", "CCR4"))},
}

# (peripheral, model register) with no SVD register of that name
NOT_IN_SVD: dict[tuple[str, str], str] = {
    ("TIM14", "CR2"): "reserved offset 0x04 on TIM14, declared empty (reads 0, writes ignored) because the "
                      "HAL's TIM_OC1_SetConfig reads and writes CR2 back on every timer",
}

# (peripheral, SVD register) the model does not declare
NOT_MODELLED: dict[tuple[str, str], str] = {
    ("USART1", "CR1_ALTERNATE1"): "the FIFO-disabled view of CR1 (same offset, RXNEIE/TXEIE names): one CR1 in the model",
    ("USART1", "ISR_ALTERNATE1"): "the FIFO-disabled view of ISR (same offset, RXNE/TXE names): one ISR in the model",
    ("ADC", "CHSELR_ALTERNATE1"): "the CHSELRMOD = 1 view of CHSELR (same offset, SQ1..SQ8): one CHSELR in the model",
    **{(tim, ccmr + "_ALTERNATE1"): "the output-compare view of CCMRx (same offset): one CCMRx in the model"
       for tim, ccmrs in (("TIM1", "12"), ("TIM2", "12"), ("TIM3", "12"), ("TIM14", "1"), ("TIM16", "1"),
                          ("TIM17", "1")) for ccmr in (f"CCMR{n}" for n in ccmrs)},
    **{(tim, "CNT_ALTERNATE1"): "the UIFREMAP view of CNT (same offset, UIFCPY at bit 31): one CNT in the model"
       for tim in ("TIM2", "TIM3")},
}


# -- the SVD facts (tests/svd_c071.json, extracted by tests/svd_extract.py) ----------------
@dataclass(frozen=True)
class SvdRegister:
    name: str
    offset: int
    reset: int
    mask: int
    fields: dict[str, tuple[int, int]]          # field name -> (lsb, width)


@dataclass(frozen=True)
class SvdPeripheral:
    name: str
    base: int
    registers: dict[str, SvdRegister]


def svd_from_table(table: dict) -> dict[str, SvdPeripheral]:
    return {name: SvdPeripheral(name, p["base"], {
                r: SvdRegister(r, v["offset"], v["reset"], v["mask"],
                               {f: tuple(pos) for f, pos in v["fields"].items()})
                for r, v in p["registers"].items()})
            for name, p in table.items()}


SVD = svd_from_table(svd_extract.load())


# -- model discovery ----------------------------------------------------------------------
def _model_classes():
    for module_name in MODEL_MODULES:
        try:
            module = importlib.import_module(f"peripherals.{module_name}")
        except ImportError:
            continue
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, Peripheral) and cls is not Peripheral and cls.__module__ == module.__name__:
                yield module, cls


def _build_models():
    """(svd name, instance or exception) for every model that has an SVD counterpart."""
    built = []
    for module, cls in _model_classes():
        if hasattr(module, "oracle_instances"):
            instances = _try_all(module.oracle_instances)
            if isinstance(instances, Exception):
                built.append((module.__name__, instances))
            else:
                built.extend((m.name, m) for m in instances if isinstance(m, Peripheral))
            continue
        svd_name = cls.name
        if svd_name not in SVD:
            continue                                     # core peripherals: not in ST's SVD
        base = getattr(c071, C071_BASE_NAMES.get(svd_name, svd_name))
        built.append((svd_name, _try(lambda c=cls, b=base: c(b, NullServices()))))
    return built


def _try_all(build_all):
    try:
        models = list(build_all(NullServices()))
        for model in models:
            model.power_on_reset()
        return models
    except Exception as error:                          # reported by test_model_builds
        return error


def _try(build):
    try:
        model = build()
        model.power_on_reset()
        return model
    except Exception as error:                          # reported by test_model_builds
        return error


MODELS = _build_models()
INSTANCES = {name: m for name, m in MODELS if isinstance(m, Peripheral)}


def _register_cases():
    for name, model in INSTANCES.items():
        for r in model.registers:
            yield pytest.param(name, r.name, id=f"{name}.{r.name}")


def _svd_register(periph: str, register: str):
    return SVD[periph].registers.get(ALIASES.get((periph, register), register))


# -- tests --------------------------------------------------------------------------------
def test_models_found():
    names = {name for name, _ in MODELS}
    assert {"GPIOA", "GPIOF", "IWDG", "PWR", "DBG", "SYSCFG", "FLASH"} <= names


@pytest.mark.parametrize("periph,model", MODELS, ids=[n for n, _ in MODELS])
def test_model_builds_with_null_services(periph, model):
    assert isinstance(model, Peripheral), f"{periph}: building with NullServices failed: {model!r}"


@pytest.mark.parametrize("periph", sorted(INSTANCES))
def test_peripheral_base_matches_svd_and_c071(periph):
    model = INSTANCES[periph]
    c071_base = getattr(c071, C071_BASE_NAMES.get(periph, periph))
    assert model.base == c071_base == SVD[periph].base, (
        f"{periph}: model base {model.base:#x}, c071 {c071_base:#x}, SVD {SVD[periph].base:#x}")


@pytest.mark.parametrize("periph,register", list(_register_cases()))
def test_register_offset_and_reset_match_svd(periph, register):
    model_reg = INSTANCES[periph].reg[register]
    svd_reg = _svd_register(periph, register)
    if svd_reg is None:
        assert (periph, register) in NOT_IN_SVD, f"{periph}.{register}: no SVD register of that name"
        return
    assert model_reg.offset == svd_reg.offset, (
        f"{periph}.{register}: offset {model_reg.offset:#x}, SVD {svd_reg.offset:#x}")
    model_reset = model_reg.value & svd_reg.mask
    svd_reset = svd_reg.reset & svd_reg.mask
    if (periph, register) in EXCEPTIONS:
        assert model_reset != svd_reset, (
            f"{periph}.{register} now matches the SVD; remove it from EXCEPTIONS")
        return
    assert model_reset == svd_reset, (
        f"{periph}.{register}: reset {model_reg.value:#010x}, SVD {svd_reg.reset:#010x} "
        f"(mask {svd_reg.mask:#010x})")


@pytest.mark.parametrize("periph", sorted(INSTANCES))
def test_every_svd_register_is_modelled(periph):
    model = INSTANCES[periph]
    modelled = {ALIASES.get((periph, r.name), r.name) for r in model.registers}
    missing = [name for name in SVD[periph].registers
               if name not in modelled and (periph, name) not in NOT_MODELLED]
    assert not missing, f"{periph}: SVD registers not in the model: {', '.join(missing)}"


def test_exceptions_name_real_registers():
    for periph, register in EXCEPTIONS:
        assert periph in INSTANCES and register in INSTANCES[periph].reg, (periph, register)


@pytest.mark.skipif(not svd_extract.SVD_PATH.exists(), reason="../shared/svd/STM32C071.svd not present")
def test_committed_svd_table_matches_a_fresh_extraction():
    fresh = svd_extract.render(svd_extract.extract(svd_extract.SVD_PATH))
    assert svd_extract.TABLE_PATH.read_text() == fresh, (
        "tests/svd_c071.json is stale: run python tests/svd_extract.py")


@pytest.mark.parametrize("periph,register", list(_register_cases()))
def test_field_positions_match_svd(periph, register):
    """A model field named as an SVD field of the same register sits at the same bits."""
    svd_reg = _svd_register(periph, register)
    if svd_reg is None:
        return
    wrong = [f"{f.name} at [{f.lsb}+{f.width}], SVD [{svd_reg.fields[f.name][0]}+{svd_reg.fields[f.name][1]}]"
             for f in INSTANCES[periph].reg[register].fields
             if f.name in svd_reg.fields and (f.lsb, f.width) != svd_reg.fields[f.name]
             and (periph, register, f.name) not in FIELD_EXCEPTIONS]
    assert not wrong, f"{periph}.{register}: " + "; ".join(wrong)
