"""Reports of a diagnosis under several bootloader designs (``diagnose --bootloader-variants``):
terminal (rich), JSON (schema ``c071emu.variants/1``), HTML.

The answer comes first - the verdict over all designs and, with ``--symptom``, which
designs reproduce what the user saw and what holds across them - then the matrix
(variant x BOOT0 outcome, jump outcome, failing step, blocking set, fix verified, the
combined fix, the symptom) and each design's switches.
"""
from __future__ import annotations

import html
from typing import Optional

from rich.console import Console
from rich.table import Table

from .flows import FlowOutcome
from .variants import VariantMatrix, VariantOutcome

SCHEMA = "c071emu.variants/1"


def _set(keys: list[str]) -> str:
    return "{" + ", ".join(keys) + "}" if keys else "{}"


def _outcome(o: Optional[FlowOutcome]) -> str:
    if o is None:
        return "-"
    f = o.first_failure
    return "ok" if f is None else f"{f.name} failed"


def _names(vs: list[VariantOutcome]) -> str:
    return ", ".join(v.name for v in vs)


def verdict_lines(m: VariantMatrix) -> list[str]:
    """The conclusion over every design, in sentences."""
    if m.jump_status != "jumped":
        return [f"The application did not enter the bootloader ({m.jump_status}: {m.jump_detail}); "
                "no design can be compared."]
    total, failing = len(m.variants), m.failing
    broken = [v for v in m.variants if v.status == "bootloader-not-started" or
              (v.boot0 is not None and not v.boot0.step_ok(m.operation))]
    lines = []
    if not failing:
        lines.append(f"The {m.operation} works after the jump under all {total} designs.")
    else:
        lines.append(f"The jump fails under {len(failing)} of {total} designs ({_names(failing)}); "
                     f"it works under {total - len(failing)}.")
        groups: dict[tuple[str, ...], list[VariantOutcome]] = {}
        for v in failing:
            groups.setdefault(tuple(v.blocking), []).append(v)
        parts = [f"{_set(list(k)) if k else 'none found'} under {len(vs)} ({_names(vs)})"
                 for k, vs in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))]
        lines.append("Blocking sets: " + "; ".join(parts) + ".")
        if m.combined:
            passed = [v for v in m.variants if v.combined_ok]
            if m.combined_passes_all:
                lines.append(f"The combined fix (the union of the blocking items, {_set(m.combined)}) passes "
                             f"under all {total} designs (verified by replay under each).")
            else:
                lines.append(f"The combined fix {_set(m.combined)} passes under {len(passed)} of {total} designs; "
                             f"not under {_names([v for v in m.variants if v not in passed])}.")
    if broken:
        lines.append(f"Not usable as a stand-in (the {m.operation} fails after a clean BOOT0 entry too): "
                     f"{_names(broken)}.")
    return lines


def symptom_lines(m: VariantMatrix) -> list[str]:
    """Which designs reproduce what the user observed, and what holds across them."""
    if not m.symptom or m.jump_status != "jumped":
        return []
    seen = ", ".join(f"{k}={v}" for k, v in m.symptom.items())
    consistent = [v for v in m.variants if v.consistent]
    ruled_out = [v for v in m.variants if not v.consistent]
    lines = [f"What you observed: {seen}."]
    if ruled_out:
        lines.append("Ruled out (their jump outcome differs): " +
                     "; ".join(f"{v.name} ({_outcome(v.jump)})" for v in ruled_out) + ".")
    if not consistent:
        lines.append("No design reproduces it: the bundled designs do not cover your ROM (or the models miss "
                     "something); run the diagnosis against a dump of your chip's system memory "
                     "(--bootloader dump.bin).")
        return lines
    lines.append(f"Consistent with what you observed: {_names(consistent)}.")
    groups: dict[tuple[str, ...], list[VariantOutcome]] = {}
    for v in consistent:
        groups.setdefault(tuple(v.blocking), []).append(v)
    if len(groups) == 1:
        keys = next(iter(groups))
        lines.append(f"Across them the blocking state is {_set(list(keys))}." if keys else
                     "Across them no blocking set was found.")
    else:
        lines.append("Across them the blocking state depends on the design: " +
                     "; ".join(f"{_set(list(k))} ({_names(vs)})" for k, vs in sorted(groups.items())) + ".")
    fix = m.consistent_fix
    if fix:
        verified = [v for v in consistent if (v.consistent_fix or v.combined) is not None and
                    (v.consistent_fix or v.combined).all_ok]
        holds = "passes under every one of them" if len(verified) == len(consistent) else \
            f"passes under {len(verified)} of {len(consistent)} of them"
        lines.append(f"Restoring {_set(fix)} before the jump {holds} (verified by replay).")
    return lines


def fix_code(m: VariantMatrix) -> list[tuple[str, str]]:
    """(item, C) of the combined fix, from the designs that blamed each item."""
    code: dict[str, str] = {}
    for v in m.variants:
        for k in v.blocking:
            code.setdefault(k, v.fixes.get(k, ""))
    return [(k, code.get(k, "")) for k in m.combined]


def _row(m: VariantMatrix, v: VariantOutcome) -> list[str]:
    failing = v.jump.first_failure if v.jump else None
    row = [v.name, _outcome(v.boot0), "ok" if v.jump and not v.failed else
           ("fails" if v.failed else v.status), failing.name if failing else "-",
           _set(v.blocking) if v.failed else "-",
           "-" if v.fix_verified is None else ("yes" if v.fix_verified else "NO"),
           "-" if v.combined_ok is None else ("passes" if v.combined_ok else "FAILS")]
    if m.symptom:
        row.append("consistent" if v.consistent else "ruled out")
    return row


HEADERS = ["design", "BOOT0 entry", "after the jump", "failing step", "blocking set", "fix verified",
           "combined fix"]
WIDTH = 132             # the matrix's columns when the output is not a terminal (a file, a CI log)


def print_variants(m: VariantMatrix, console: Optional[Console] = None) -> None:
    if console is None:
        console = Console(highlight=False)
        if not console.is_terminal:
            console = Console(highlight=False, width=WIDTH)
    console.rule(f"c071emu diagnose: {m.app} under {len(m.variants)} bootloader designs")
    for line in m.world:
        console.print(f"  {line}", markup=False)
    for line in verdict_lines(m) + symptom_lines(m):
        console.print(line, markup=False)
    if m.jump_status != "jumped":
        return
    code = fix_code(m)
    if code:
        console.print("The combined fix, in the application's jump function before the branch:", markup=False)
        for _, c in code:
            for line in c.splitlines():
                console.print(f"    {line}", markup=False)
    table = Table(title=f"{m.operation} after the jump, per bootloader design")
    for h in HEADERS + (["your symptom"] if m.symptom else []):
        table.add_column(h)
    for v in m.variants:
        table.add_row(*_row(m, v))
    console.print(table)
    designs = Table(title="Designs (images/elf/bootloaders/, switches of images/bootloader/bl.h)")
    designs.add_column("design")
    designs.add_column("switches")
    for v in m.variants:
        designs.add_row(v.name, v.design or "(no design string)")
    console.print(designs)
    for v in m.variants:
        if v.failed and v.jump and v.jump.first_failure:
            console.print(f"{v.name}: {v.jump.first_failure.name}: {v.jump.first_failure.detail}", markup=False)
        if v.note and v.status not in ("ok", "operation-fails"):
            console.print(f"{v.name}: {v.note}", markup=False)
    console.print("These designs are clean-room guesses at ST's ROM; a dump of your chip's system memory "
                  "(--bootloader dump.bin) remains the ground truth.", markup=False)


def _steps(o: Optional[FlowOutcome]) -> Optional[list[dict]]:
    if o is None:
        return None
    return [{"step": s.name, "status": s.status, "detail": s.detail} for s in o.steps]


def to_json(m: VariantMatrix) -> dict:
    return {
        "schema": SCHEMA,
        "application": m.app,
        "operation": m.operation,
        "trigger": m.trigger,
        "world": m.world,
        "jump": {"status": m.jump_status, "detail": m.jump_detail},
        "exit_status": m.exit_status,
        "matrix": [{
            "variant": v.name, "bootloader": v.path, "design": v.design, "status": v.status, "note": v.note,
            "boot0_entry": _steps(v.boot0), "software_jump": _steps(v.jump), "failing_step": v.failing_step,
            "blocking_items": v.blocking, "one_minimal": v.one_minimal, "replays": v.replays,
            "fix_verified": v.fix_verified, "with_fix": _steps(v.fix),
            "combined_fix_passes": v.combined_ok, "consistent_with_symptom": v.consistent,
            "mechanism": v.mechanism,
        } for v in m.variants],
        "verdict": {
            "failing": [v.name for v in m.failing],
            "total": len(m.variants),
            "combined_fix": m.combined,
            "combined_fix_code": [{"item": k, "code": c} for k, c in fix_code(m)],
            "combined_fix_passes_all": m.combined_passes_all,
            "text": verdict_lines(m),
        },
        "symptom": None if not m.symptom else {
            "observed": m.symptom,
            "consistent": [v.name for v in m.variants if v.consistent],
            "ruled_out": [v.name for v in m.variants if v.consistent is False],
            "fix": m.consistent_fix,
            "text": symptom_lines(m),
        },
    }


def to_html(m: VariantMatrix) -> str:
    esc = html.escape
    head = HEADERS + (["your symptom"] if m.symptom else [])
    rows = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in _row(m, v)) + f"<td>{esc(v.design)}</td></tr>"
                   for v in m.variants)
    text = "".join(f"<p>{esc(line)}</p>" for line in verdict_lines(m) + symptom_lines(m))
    code = "\n".join(c for _, c in fix_code(m))
    return ("<!doctype html><html><head><meta charset='utf-8'><title>c071emu: bootloader designs</title>"
            "<style>body{font-family:sans-serif;margin:2em}td,th{border:1px solid #ccc;padding:4px 8px}"
            "table{border-collapse:collapse}</style></head><body>"
            f"<h1>{esc(m.app)}: {esc(m.operation)} after the jump under {len(m.variants)} bootloader designs</h1>"
            f"{text}" + (f"<h2>Combined fix</h2><pre>{esc(code)}</pre>" if code else "") +
            "<h2>Matrix</h2><table><tr>" + "".join(f"<th>{esc(h)}</th>" for h in head + ["switches"]) +
            f"</tr>{rows}</table><p>These designs are clean-room guesses at ST's ROM; a dump of your chip's "
            "system memory (--bootloader dump.bin) remains the ground truth.</p></body></html>")
