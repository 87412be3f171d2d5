"""``c071emu run --trace insn,mmio,exc --trace-file FILE`` and ``--vcd OUT.vcd`` as a user drives them."""
from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from capstone import Cs, CS_ARCH_ARM, CS_MODE_MCLASS, CS_MODE_THUMB
from vcd.reader import TokenKind, tokenize

from emulator.cli import main
from emulator.image import load_elf

from conftest import boot, elf

REPO = Path(__file__).resolve().parents[1]
HCLK_AT_RESET = 12_000_000


def run(capsys, *args) -> tuple[int, str, str]:
    status = main(["run", *map(str, args)])
    out = capsys.readouterr()
    return status, out.out, out.err


def report_of(capsys, *args) -> dict:
    status, out, _ = run(capsys, *args, "--json")
    report = json.loads(out)
    report.pop("wall_seconds")
    return {"status": status, **report}


def trace_lines(path: Path, marker: str) -> list[str]:
    return [line for line in path.read_text().splitlines() if line[13:15] == f"{marker} "]


def read_vcd(path: Path) -> tuple[dict[str, list[tuple[int, int | str]]], str]:
    """{'FLASH.SR.BSY1': [(time_ps, value), ...]} and the timescale, parsed back with pyvcd's reader."""
    names, changes, scope, now, timescale = {}, {}, [], 0, ""
    with open(path, "rb") as f:
        for tok in tokenize(f):
            if tok.kind is TokenKind.TIMESCALE:
                magnitude = tok.timescale.magnitude
                timescale = f"{getattr(magnitude, 'value', magnitude)} {tok.timescale.unit.value}"
            elif tok.kind is TokenKind.SCOPE:
                scope.append(tok.scope.ident)
            elif tok.kind is TokenKind.UPSCOPE:
                scope.pop()
            elif tok.kind is TokenKind.VAR:
                names[tok.var.id_code] = ".".join(scope + [tok.var.reference])
                changes[names[tok.var.id_code]] = []
            elif tok.kind is TokenKind.CHANGE_TIME:
                now = tok.time_change
            elif tok.kind in (TokenKind.CHANGE_SCALAR, TokenKind.CHANGE_VECTOR, TokenKind.CHANGE_STRING):
                value = tok.data.value
                changes[names[tok.data.id_code]].append((now, int(value) if isinstance(value, str)
                                                         and value in "01" else value))
    return changes, timescale


# -- --trace insn ------------------------------------------------------------------------------------
def test_insn_trace_starts_with_the_reset_handlers_first_instruction_disassembled(capsys, tmp_path):
    out = tmp_path / "insn.txt"
    status, _, _ = run(capsys, elf("priority"), "--trace", "insn", "--trace-file", out)
    assert status == 0
    image = load_elf(elf("priority"))
    reset = image.address_of("Reset_Handler")
    raw = bytes(next(s.data[reset - s.address:reset - s.address + 2] for s in image.segments
                     if s.address <= reset < s.address + len(s.data)))
    _, _, mnemonic, operands = next(Cs(CS_ARCH_ARM, CS_MODE_THUMB | CS_MODE_MCLASS).disasm_lite(raw, reset, 1))
    lines = trace_lines(out, "I")
    first = lines[0].split()
    assert first[:4] == ["0", "I", f"0x{reset:08X}", "Reset_Handler"]
    assert first[4] == f"{int.from_bytes(raw, 'little'):04x}"
    assert " ".join(first[5:]) == f"{mnemonic} {operands}"
    assert re.search(r"^\s+1 I 0x[0-9A-F]{8} Reset_Handler\+0x2 ", lines[1])
    # a 32-bit instruction shows both halfwords, as objdump does
    assert any(re.search(r" I 0x080000C0 IRQ5_Handler\s+f3ef 8008\s+mrs r0, msp$", line) for line in lines)
    # one line per executed instruction, cycles consecutive (no sleep or stall in this image)
    report = report_of(capsys, elf("priority"))
    assert len(lines) == report["instructions_executed"]
    assert [int(line.split()[0]) for line in lines] == list(range(len(lines)))


@pytest.mark.parametrize("image", ["priority", "flash_program", "wfi_sleep"])
def test_tracing_leaves_cycles_instructions_and_registers_unchanged(capsys, tmp_path, image):
    plain = report_of(capsys, elf(image))
    traced = report_of(capsys, elf(image), "--trace", "insn,exc,mmio,events", "--trace-file", tmp_path / "t.txt",
                       "--vcd", tmp_path / "w.vcd", "--vcd-signals", "FLASH.*,RCC.*,SysTick.*,NVIC.*,SCB.*")
    assert plain["end"]["reason"] == "exit"
    assert traced == plain


def test_identical_runs_write_identical_traces_and_waveforms(capsys, tmp_path):
    files = []
    for n in (1, 2):
        trace, vcd = tmp_path / f"t{n}.txt", tmp_path / f"w{n}.vcd"
        assert run(capsys, elf("wfi_sleep"), "--trace", "insn,exc,mmio", "--trace-file", trace, "--vcd", vcd)[0] == 0
        files.append((trace.read_bytes(), vcd.read_bytes()))
    assert files[0] == files[1]
    assert b"$date" not in files[0][1]          # no wall-clock date in the header


def test_time_without_instructions_is_a_line_before_the_interrupt_that_ends_it(capsys, tmp_path):
    out = tmp_path / "t.txt"
    assert run(capsys, elf("wfi_sleep"), "--trace", "insn,exc", "--trace-file", out)[0] == 0
    lines = out.read_text().splitlines()
    i = next(i for i, line in enumerate(lines) if " - (" in line)
    assert lines[i - 1].endswith("wfi")
    gap_start, gap = int(lines[i].split()[0]), int(re.search(r"\((\d+) cycles", lines[i]).group(1))
    assert " E SysTick (exception 15) " in lines[i + 1]
    assert int(lines[i + 1].split()[0]) == gap_start + gap


# -- --trace exc -----------------------------------------------------------------------------------
def test_exc_trace_names_vector_source_handler_and_return_interleaved_with_instructions(capsys, tmp_path):
    out = tmp_path / "t.txt"
    assert run(capsys, elf("priority"), "--trace", "insn,exc", "--trace-file", out)[0] == 0
    image = load_elf(elf("priority"))
    irq5, irq6 = image.address_of("IRQ5_Handler"), image.address_of("IRQ6_Handler")
    lines = out.read_text().splitlines()
    entries = [i for i, line in enumerate(lines) if " E " in line[12:15]]
    first = lines[entries[0]]
    assert first.split(" E ", 1)[1] == ("EXTI0_1 (IRQ 5, exception 21) vector 0x08000054 via VTOR=0x08000000 "
                                        f"(main flash) -> IRQ5_Handler (0x{irq5:08X})")
    assert lines[entries[0] + 1].split()[1:4] == ["I", f"0x{irq5:08X}", "IRQ5_Handler"]     # the handler runs next
    assert lines[entries[1]].endswith("EXTI2_3 (IRQ 6, exception 22) vector 0x08000058 via VTOR=0x08000000 "
                                      f"(main flash) -> IRQ6_Handler (0x{irq6:08X})")
    returns = [i for i, line in enumerate(lines) if " X " in line[12:15]]
    nested = lines[returns[0]]
    assert re.search(r" X EXTI2_3 \(IRQ 6, exception 22\) EXC_RETURN 0xFFFFFFF1 -> irq5_body\+0x[0-9A-F]+ \(0x", nested)
    assert lines[returns[0] - 1].endswith("bx lr")                                  # after the returning instruction
    assert "EXC_RETURN 0xFFFFFFF9 -> main+0x" in lines[returns[1]]
    assert "-> after_cpsie (0x" in lines[returns[-1]]
    assert len(entries) == 5 and len(returns) == 5


def test_exc_trace_shows_a_vector_read_from_an_sram_table(capsys, tmp_path):
    out = tmp_path / "t.txt"
    assert run(capsys, elf("vtor"), "--trace", "exc", "--trace-file", out)[0] == 0
    table = load_elf(elf("vtor")).address_of("ram_vectors")
    (entry,) = [line for line in trace_lines(out, "E") if "SysTick" in line]
    assert f"vector 0x{table + 4 * 15:08X} via VTOR=0x{table:08X} (SRAM) -> relocated_systick_handler" in entry


def test_exception_record_names_the_0x0_alias_when_vtor_is_zero():
    m = boot("boot_probe_sysmem")
    assert m.memory_behind(0x3C) == "system memory via the 0x0 alias"
    seen = []
    m.trace.exception_observers.append(seen.append)
    m.services.pend_exception(15)
    m.run(max_seconds=0.01)
    entry = next(r for r in seen if r.kind == "entry")
    assert (entry.vtor, entry.vector_address, entry.vector_source) == (0, 0x3C, "system memory via the 0x0 alias")


def test_exc_trace_says_why_a_fault_happened(capsys, tmp_path):
    out = tmp_path / "t.txt"
    assert run(capsys, elf("bus_fault"), "--trace", "exc", "--trace-file", out)[0] == 43
    (fault,) = trace_lines(out, "F")
    load = load_elf(elf("bus_fault")).address_of("reserved_load")
    assert re.search(rf" F HardFault: .*0x40008000.* at 0x{load:08X} \(reserved_load\)$", fault)
    assert "HardFault (exception 3) vector 0x0800000C via VTOR=0x08000000 (main flash) -> HardFault_Handler" \
        in trace_lines(out, "E")[-1]


def test_exc_trace_without_a_file_goes_to_stderr(capsys):
    status, _, err = run(capsys, elf("erased_vector"), "--trace", "exc")
    assert status == 42
    assert " E HardFault (exception 3) vector 0x0800000C" in err
    assert "0xFFFFFFFF" in next(line for line in err.splitlines() if " F HardFault: " in line)


# -- --trace mmio ----------------------------------------------------------------------------------
def test_mmio_trace_names_registers_and_decodes_fields(capsys, tmp_path):
    out = tmp_path / "t.txt"
    assert run(capsys, elf("flash_program"), "--trace", "mmio", "--trace-file", out)[0] == 0
    text = out.read_text()
    assert re.search(r"^\s+\d+ W FLASH\.KEYR\s+0x45670123 KEY=0x45670123  pc=0x0800[0-9A-F]{4} main\+0x[0-9A-F]+$",
                     text, re.M)
    # the page erase: PER, page number 40 (0x28), STRT, with OPTLOCK still set
    strt = re.search(r"^\s+(\d+) W FLASH\.CR\s+0x40010142 PER=1 PNB=0x28 STRT=1 OPTLOCK=1  pc=0x0800[0-9A-F]{4} "
                     r"main\+0x[0-9A-F]+$", text, re.M)
    assert strt
    assert re.search(r"^\s+\d+ R FLASH\.CR\s+0xC0000000 OPTLOCK=1 LOCK=1  pc=", text, re.M)
    assert re.search(r"^\s+\d+ W SCB\.VTOR\s+0x08000000 TBLOFF=0x80000  pc=0x[0-9A-F]{8} Reset_Handler\+0x", text, re.M)


def test_mmio_trace_shows_bsy1_while_sram_code_polls_an_erase(capsys, tmp_path):
    out = tmp_path / "t.txt"
    assert run(capsys, elf("flash_erase_all"), "--trace", "mmio", "--trace-file", out)[0] == 0
    busy = [line for line in out.read_text().splitlines() if " R FLASH.SR " in line and "BSY1=1" in line]
    assert busy and "erase_everything+0x" in busy[0] and "pc=0x2000" in busy[0]


# -- --vcd -----------------------------------------------------------------------------------------
def test_vcd_shows_bsy1_rising_at_the_strt_write_and_falling_when_the_erase_ends(capsys, tmp_path):
    trace, vcd = tmp_path / "t.txt", tmp_path / "w.vcd"
    assert run(capsys, elf("flash_program"), "--trace", "mmio", "--trace-file", trace, "--vcd", vcd)[0] == 0
    changes, timescale = read_vcd(vcd)
    assert timescale == "1 ps"
    bsy = changes["FLASH.SR.BSY1"]
    assert bsy[0] == (0, 0)
    rise, fall = bsy[1], bsy[2]
    assert rise[1] == 1 and fall[1] == 0 and fall[0] > rise[0]
    strt_cycle = int(re.search(r"^\s+(\d+) W FLASH\.CR\s+\S+ PER=1 PNB=0x28 STRT=1", trace.read_text(), re.M).group(1))
    assert rise[0] == strt_cycle * 10**12 // HCLK_AT_RESET          # simulated time of the STRT store
    assert ("FLASH.CR.STRT", 1) in {(n, v) for n, c in changes.items() for t, v in c if t == rise[0]}
    assert [v for _, v in bsy].count(1) >= 3                            # two page erases, then programming


def test_vcd_default_signals_cover_core_state_and_boot_path_registers(capsys, tmp_path):
    vcd = tmp_path / "w.vcd"
    assert run(capsys, elf("priority"), "--vcd", vcd)[0] == 0
    changes, _ = read_vcd(vcd)
    for name in ("core.ipsr", "core.exception", "core.primask", "core.sleeping", "core.pc", "core.hclk_hz",
                 "FLASH.SR.value", "FLASH.CR.LOCK", "RCC.CR.HSIRDY", "SYSCFG.CFGR1.MEM_MODE", "SCB.VTOR.TBLOFF",
                 "SysTick.CTRL.ENABLE", "USB.CNTR.value", "USB.ISTR.value"):
        assert name in changes, name
    assert changes["core.hclk_hz"][0] == (0, HCLK_AT_RESET)
    assert [v for _, v in changes["core.ipsr"]][:4] == [0, 16 + 5, 16 + 6, 16 + 5]     # IRQ6 nests in IRQ5
    assert "EXTI0_1" in [v for _, v in changes["core.exception"]]
    assert changes["SCB.VTOR.value"][-1][1] == 0x0800_0000
    assert 1 in [v for _, v in changes["core.primask"]]                             # part C: cpsid i


def test_vcd_signals_pick_registers_by_name(capsys, tmp_path):
    vcd = tmp_path / "w.vcd"
    assert run(capsys, elf("systick"), "--vcd", vcd, "--vcd-signals", "systick.csr,SysTick.LOAD")[0] == 0
    changes, _ = read_vcd(vcd)
    blocks = {name.rsplit(".", 1)[0] for name in changes if not name.startswith("core.")}
    assert blocks == {"SysTick.CTRL", "SysTick.LOAD"}
    assert changes["SysTick.LOAD.RELOAD"][-1][1] == 999
    assert [v for _, v in changes["SysTick.CTRL.ENABLE"]] == [0, 1, 0]      # CTRL = 7 ... CTRL = 0
    assert [v for _, v in changes["SysTick.CTRL.value"]] == [0, 7, 0]


# -- options and ends ------------------------------------------------------------------------------
def test_insn_trace_without_a_file_is_refused_with_exit_2(capsys):
    status, _, err = run(capsys, elf("hello"), "--trace", "insn")
    assert status == 2 and "--trace-file FILE" in err


def test_unknown_trace_kind_is_refused_with_the_valid_ones(capsys):
    status, _, err = run(capsys, elf("hello"), "--trace", "insn,calls", "--trace-file", "/dev/null")
    assert status == 2 and "'calls'" in err and "insn" in err and "mmio" in err


def test_unknown_vcd_register_lists_the_valid_names(capsys, tmp_path):
    status, _, err = run(capsys, elf("hello"), "--vcd", tmp_path / "w.vcd", "--vcd-signals", "FLASH.SR,FLASH.SRR")
    assert status == 2
    assert "FLASH has no register 'SRR'" in err and "FLASH.ACR" in err and "FLASH.SECR" in err
    assert not (tmp_path / "w.vcd").exists()
    status, _, err = run(capsys, elf("hello"), "--vcd", tmp_path / "w.vcd", "--vcd-signals", "FLSH.SR")
    assert status == 2 and "'FLSH.SR'" in err and "RCC: CR ICSCR" in err and "USB: " in err


def test_traces_are_complete_after_a_lockup_and_a_time_limit(capsys, tmp_path):
    for image, extra, status, reason in (("double_fault", (), 3, "lockup"),
                                         ("wfi_sleep", ("--max-time", "0.01"), 4, "time-limit")):
        trace, vcd = tmp_path / f"{image}.txt", tmp_path / f"{image}.vcd"
        assert run(capsys, elf(image), *extra, "--trace", "insn,exc", "--trace-file", trace, "--vcd", vcd)[0] == status
        assert trace.read_text().splitlines()[-1].split()[1:4] == [".", "run", "ended:"]
        assert f"run ended: {reason} " in trace.read_text().splitlines()[-1]
        assert read_vcd(vcd)[0]["core.pc"]            # closed properly: the reader parses it to the end


def test_ctrl_c_flushes_and_closes_the_trace(tmp_path):
    trace, vcd = tmp_path / "t.txt", tmp_path / "w.vcd"
    proc = subprocess.Popen([sys.executable, "-m", "emulator", "run", str(elf("bench_compute")), "--trace", "insn",
                             "--trace-file", str(trace), "--vcd", str(vcd)], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while (not trace.exists() or trace.stat().st_size < 1 << 20) and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _, _ = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130
    last = trace.read_text().splitlines()[-1]
    assert "run ended: interrupted (interrupted (Ctrl-C))" in last
    assert read_vcd(vcd)[0]["core.hclk_hz"]


def test_an_instruction_a_stop_halted_before_is_traced_once_when_it_runs():
    import io
    from emulator.tracing.instructions import InstructionTrace

    def traced(stop_at: str | None) -> list[str]:
        m = boot("systick")
        out = io.StringIO()
        InstructionTrace(m, out).attach()
        if stop_at:
            m.loop.stop_at(m.symbol(stop_at))
            assert m.run(max_seconds=1).reason.value == "stop-at"
            m.loop.clear_stops()
        assert m.run(max_seconds=1).reason.value == "exit"
        return out.getvalue().splitlines()

    straight, stopped = traced(None), traced("SysTick_Handler")
    assert stopped == straight
    assert sum(" SysTick_Handler " in line for line in straight) == 10      # ten ticks, one line each


VCD2FST, FST2VCD = shutil.which("vcd2fst"), shutil.which("fst2vcd")


@pytest.mark.skipif(not (VCD2FST and FST2VCD), reason="GTKWave's vcd2fst/fst2vcd are not installed (apt install gtkwave)")
def test_gtkwave_reads_the_waveform_with_every_change_in_place(capsys, tmp_path):
    # GTKWave's own VCD reader (vcd2fst) loads the file; converted back, the changes are the same
    vcd, fst, back = tmp_path / "flash.vcd", tmp_path / "flash.fst", tmp_path / "back.vcd"
    assert run(capsys, elf("flash_program"), "--vcd", vcd)[0] == 0
    subprocess.run([VCD2FST, str(vcd), str(fst)], check=True, capture_output=True, timeout=60)
    back.write_text(subprocess.run([FST2VCD, str(fst)], check=True, capture_output=True, text=True,
                                   timeout=60).stdout)
    ours, _ = read_vcd(vcd)
    theirs, timescale = read_vcd(back)
    assert timescale.replace(" ", "") == "1ps"
    assert theirs["FLASH.SR.BSY1"] == ours["FLASH.SR.BSY1"] and len(ours["FLASH.SR.BSY1"]) > 2
    assert theirs["core.ipsr"] == ours["core.ipsr"]
