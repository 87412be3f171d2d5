"""The native bus path (emulator/core/native) changes speed, never the run: whole runs with
it, with the Python path (``C071EMU_NATIVE=0``) and with the reference
(``MachineConfig(fast_paths=False)``) are identical, provenance and poll trail included;
behaviour of the C path itself runs small Thumb snippets from SRAM; and a missing compiler
or a corrupted cache entry is handled without a trace of either in the run."""
from __future__ import annotations

import io
import struct

import pytest

from emulator.core import native
from emulator.core.runloop import EndReason
from emulator.host.usb_host import UsbHost
from emulator.machine import Machine
from tests.test_fast_paths import fingerprint, machine

pytestmark = pytest.mark.skipif(native.load_fastbus()[0] is None, reason="no C compiler: native path absent")

RCC_IOPENR = 0x4002_1034
GPIOA_MODER, GPIOA_ODR, GPIOA_BSRR = 0x5000_0000, 0x5000_0014, 0x5000_0018
GPIOA_OSPEEDR = 0x5000_0008
EXTI_RTSR1, EXTI_RPR1, EXTI_EXTICR2 = 0x4002_1800, 0x4002_180C, 0x4002_1864
CODE = 0x2000_1000


def full_fingerprint(m: Machine, end) -> dict:
    out = fingerprint(m, end)
    out["field_writers"] = {f"{p.name}@{p.base:08X}.{r.name}": list(r.field_writers.items())
                            for p in m.peripherals for r in p.registers}
    out["recent_reads"] = m.loop.polls.recent_reads()
    out["skips"] = m.loop.polls.skips
    return out


def three_ways(scenario, monkeypatch) -> tuple:
    """(reference, python, native) results of ``scenario(fast) -> (machine, result)``."""
    reference = scenario(False)[1]
    with monkeypatch.context() as patch:
        patch.setenv(native.DISABLE_ENV, "0")
        m, python = scenario(True)
        assert m.native_bus is None and m.bus_path.startswith("python")
    m, fast = scenario(True)
    assert m.bus_path == "native"
    return reference, python, fast, m


@pytest.mark.parametrize("image, seconds", [
    ("bench_regs", 0.05),          # GPIO ODR read-modify-write: every access native
    ("hello", 1.0),
    ("tim_poll", 1.0),             # poll loops on timer flags and a free-running counter
    ("jump_forum_v1", 0.2),
    ("bench_idle", 0.05),
])
def test_firmware_runs_identically_on_the_native_python_and_reference_paths(image, seconds, monkeypatch):
    def scenario(fast):
        m = machine(fast, image)
        return m, full_fingerprint(m, m.run(max_seconds=seconds))
    reference, python, fast, m = three_ways(scenario, monkeypatch)
    assert fast == python == reference
    if image == "bench_regs":
        assert sum(m.native_bus.served) > 100_000


@pytest.mark.parametrize("image", ["priority", "psp", "svc_pendsv", "erased_vector", "double_fault", "vtor",
                                   "wfe_sev", "bus_fault", "systick"])
def test_exception_entry_and_return_run_identically_with_the_native_frames(image, monkeypatch):
    """frames.c stacks, unstacks and vectors: nesting, PSP threads, tail-chaining, faults,
    an erased vector and lockup give the same run as the Python engine, record for record."""
    def scenario(fast):
        m = machine(fast, image)
        assert (m.loop.engine.native is not None) == (m.native_bus is not None)
        return m, full_fingerprint(m, m.run(max_seconds=0.2))
    reference, python, fast, _ = three_ways(scenario, monkeypatch)
    assert fast == python == reference
    assert any(kind == "exception.entry" for _, kind, _, _ in fast["events"])


def test_exti_button_presses_run_identically_on_every_path(monkeypatch):
    def scenario(fast):
        m = machine(fast, "exti_button")
        m.drive_pin("PC13", 1)
        ends = []
        for level in (1, 0, 1, 0, 1, 0):
            m.drive_pin("PC13", level)
            ends.append(m.run(max_seconds=1e-3).reason)
        return m, (full_fingerprint(m, m.run(max_seconds=0.01)), ends)
    reference, python, fast, _ = three_ways(scenario, monkeypatch)
    assert fast == python == reference
    assert reference[0]["output"] == "3 presses\n"


def test_usb_echo_runs_identically_on_every_path(monkeypatch):
    def scenario(fast):
        m = machine(fast, "usb_echo_irq")
        host = UsbHost(m)
        info = host.enumerate()
        host.bulk_write(0x01, bytes(range(256)) * 2)
        return m, (full_fingerprint(m, None), info.describe(), host.bulk_read(0x81, 512))
    reference, python, fast, _ = three_ways(scenario, monkeypatch)
    assert fast == python == reference


def test_mmio_trace_is_identical_with_the_native_path_available(monkeypatch):
    def scenario(fast):
        log = io.StringIO()
        m = machine(fast, "bench_regs", mmio_log=log)
        return m, (full_fingerprint(m, m.run(max_seconds=0.002)), log.getvalue())
    reference, python, fast, m = three_ways(scenario, monkeypatch)
    assert fast == python == reference and "GPIOA.ODR" in fast[1]
    assert m.native_bus.served == (0, 0)          # tracing sees every access: none served natively


# -- the C path's behaviour, on Thumb snippets run from SRAM ----------------------------------
def run_snippet(m: Machine, halfwords: list[int], **registers: int):
    """Run ``halfwords`` (ending in ``b .``) from SRAM with the given core registers."""
    m.sram.store(m.cpu.uc, CODE, struct.pack(f"<{len(halfwords)}H", *halfwords))
    for name, value in registers.items():
        m.cpu.write(name, value)
    m.cpu.write("pc", CODE)
    end = m.run(max_seconds=1e-3, stop_at=CODE + 2 * (len(halfwords) - 1))
    assert end.reason is EndReason.STOP_AT, end
    return end


STR_R1_R0, LDR_R2_R0, STR_R3_R0, LDR_R3_R0, HALT = 0x6001, 0x6802, 0x6003, 0x6803, 0xE7FE


def snippet_machine(fast: bool = True) -> Machine:
    """A machine at reset with an image whose vectors are valid; snippets replace its code."""
    return machine(fast, "hello")


def test_a_native_write_keeps_read_only_and_reserved_bits_and_names_its_writer():
    m = snippet_machine()
    m.bus_write(RCC_IOPENR, 1)
    odr = m.gpio["GPIOA"].reg["ODR"]
    served = m.native_bus.served
    run_snippet(m, [STR_R1_R0, LDR_R2_R0, HALT], r0=GPIOA_ODR, r1=0xFFFF_0020)
    assert m.native_bus.served == (served[0] + 1, served[1] + 1)
    assert odr.value == 0x20 and m.cpu.read("r2") == 0x20        # ODR[31:16] reserved
    assert odr.last_written == 0xFFFF_0020
    assert odr.last_writer == (CODE, odr.last_writer[1])
    assert odr.field_writers == {"OD5": odr.last_writer}


def test_a_gated_peripheral_reads_zero_and_ignores_writes_on_the_native_path():
    m = snippet_machine()
    odr = m.gpio["GPIOA"].reg["ODR"]
    run_snippet(m, [STR_R1_R0, LDR_R2_R0, HALT], r0=GPIOA_ODR, r1=0x20, r2=0x1234)
    assert odr.value == 0 and m.cpu.read("r2") == 0 and odr.last_writer is None


def test_a_peripheral_held_in_reset_is_not_served_natively():
    m = snippet_machine()
    m.bus_write(RCC_IOPENR, 1)
    m.bus_write(0x4002_1024, 1)                       # RCC_IOPRSTR.GPIOARST
    assert m.gpio["GPIOA"].held_in_reset
    run_snippet(m, [STR_R1_R0, HALT], r0=GPIOA_ODR, r1=0x20)
    assert m.gpio["GPIOA"].reg["ODR"].value == 0


def test_python_changes_to_a_natively_served_register_are_what_the_bus_reads():
    m = snippet_machine()
    m.bus_write(RCC_IOPENR, 1)
    ospeedr = m.gpio["GPIOA"].reg["OSPEEDR"]
    ospeedr.value = 0x0000_0C00
    run_snippet(m, [LDR_R2_R0, HALT], r0=GPIOA_OSPEEDR)
    assert m.cpu.read("r2") == 0x0000_0C00
    m.gpio["GPIOA"].reset()
    assert ospeedr.value == 0x0C00_0000 and ospeedr.last_writer is None and ospeedr.field_writers == {}


def test_an_odr_edge_on_a_pin_exti_watches_reaches_exti_on_the_native_path():
    """PA5 toggled by stores: unwatched at first (served natively), then EXTI5 selects port A
    with a rising trigger (a store to RTSR1 in the same slice): the next rising edge is seen."""
    results = []
    for fast in (False, True):
        m = snippet_machine(fast)
        m.bus_write(RCC_IOPENR, 1)
        m.bus_write(GPIOA_MODER, 0xEBFF_F7FF)                     # PA5 output
        run_snippet(m, [STR_R1_R0, STR_R3_R0, STR_R1_R0, 0x6035,   # str r5, [r6]: RTSR1 = 1 << 5
                        STR_R3_R0, STR_R1_R0, HALT],
                    r0=GPIOA_ODR, r1=0x20, r3=0, r5=0x20, r6=EXTI_RTSR1)
        results.append((m.bus_read(EXTI_RPR1), m.gpio["GPIOA"].reg["ODR"].field_writers))
    assert results[0] == results[1] and results[0][0] == 0x20


def test_a_poll_loop_on_a_native_register_is_still_recognised_and_skipped():
    m = snippet_machine()
    m.bus_write(RCC_IOPENR, 1)
    m.services.after_seconds(1e-3, lambda: None, "a later event")   # something to skip to
    # loop: ldr r2, [r0]; cmp r2, #1; bne loop  - waits for ODR == 1, which never comes
    m.sram.store(m.cpu.uc, CODE, struct.pack("<4H", LDR_R2_R0, 0x2A01, 0xD1FC, HALT))
    m.cpu.write("r0", GPIOA_ODR)
    m.cpu.write("pc", CODE)
    m.run(max_seconds=2e-3)
    assert m.loop.polls.skips >= 1 and m.loop.instructions_skipped > 0


# -- building and loading ------------------------------------------------------------------
def test_without_a_compiler_the_machine_uses_the_python_path(monkeypatch, tmp_path):
    monkeypatch.setenv(native.COMPILER_ENV, str(tmp_path / "no-such-cc"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    lib, why = native.load_fastbus()
    assert lib is None and "no C compiler" in why
    m = snippet_machine()
    assert m.native_bus is None and m.bus_path == why
    m.bus_write(RCC_IOPENR, 1)
    run_snippet(m, [STR_R1_R0, HALT], r0=GPIOA_ODR, r1=0x20)
    assert m.gpio["GPIOA"].reg["ODR"].value == 0x20


def test_a_failing_build_falls_back_with_the_compiler_message(tmp_path):
    broken = tmp_path / "cc"
    broken.write_text("#!/bin/sh\necho 'cc: internal error' >&2\nexit 1\n")
    broken.chmod(0o755)
    lib, why = native.load_fastbus(cc=str(broken), directory=tmp_path / "cache")
    assert lib is None and "internal error" in why


def test_a_corrupted_cache_entry_is_rebuilt(tmp_path):
    cache = tmp_path / "cache"
    entry = native.cache_entry(native.compiler(), cache)
    cache.mkdir()
    entry.write_bytes(b"not a shared object")           # a crash or a full disk left this
    lib, why = native.load_fastbus(directory=cache)
    assert lib is not None and why == "native"
    assert entry.read_bytes()[:4] == b"\x7fELF"


def test_an_unreadable_vector_faults_into_lockup_identically_with_the_native_frames(monkeypatch):
    """VTOR in a reserved region: the vector fetch fails (the frame is stacked, PC is not
    written), HardFault's fetch fails too - a lockup, on every path."""
    def scenario(fast):
        m = machine(fast, "hello")
        m.run(max_seconds=1e-4)
        m.bus_write(0xE000_ED08, 0x6000_0000)              # SCB.VTOR: nothing is mapped there
        m.bus_write(0xE000_ED04, 1 << 26)                  # ICSR.PENDSTSET
        return m, full_fingerprint(m, m.run(max_seconds=1e-3))
    reference, python, fast, _ = three_ways(scenario, monkeypatch)
    assert fast == python == reference
    assert fast["end"][0] is EndReason.LOCKUP
    assert any("vector fetch from 0x6000003C failed" in text for _, _, text, _ in fast["events"])
