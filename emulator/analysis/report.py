"""Diagnosis reports: terminal (rich), JSON (schema ``c071emu.diagnosis/1``), HTML.

The terminal report puts the answer first: does the operation fail after the jump,
which residual state blocks it, how, and what to change; the step table and the full
register diff follow.
"""
from __future__ import annotations

import html
import json
from typing import Optional

from rich.console import Console
from rich.table import Table

from .diagnose import Diagnosis
from .flows import FlowOutcome

SCHEMA = "c071emu.diagnosis/1"


def _outcome_json(o: Optional[FlowOutcome]) -> Optional[list[dict]]:
    if o is None:
        return None
    return [{"step": s.name, "status": s.status, "detail": s.detail, "start_s": s.start, "end_s": s.end}
            for s in o.steps]


def to_json(d: Diagnosis) -> dict:
    return {
        "schema": SCHEMA,
        "status": d.status,
        "exit_status": d.exit_status,
        "application": d.app,
        "bootloader": d.bootloader,
        "operation": d.operation,
        "trigger": d.trigger,
        "injection": d.injection,
        "operation_failed": d.operation_failed,
        "note": d.note,
        "world": d.world,
        "no_jump": None if d.jumped or d.status == "bootloader-not-started" else
        {"where": d.where, "presented": d.presented, "suggested_triggers": d.suggested},
        "jump": None if d.jump is None else {"pc": f"0x{d.jump.pc:08X}", "where": d.jump.where,
                                            "seconds": d.jump.seconds, "ipsr": d.jump.ipsr},
        "steps": {"boot0_entry": _outcome_json(d.reference_outcome), "software_jump": _outcome_json(d.jump_outcome),
                  "with_fix": _outcome_json(d.fix_outcome)},
        "residual_items": [_item_json(i) for i in d.items],
        "blocking_items": [i.key for i in d.blamed],
        "one_minimal": d.one_minimal,
        "replays": d.oracle_calls,
        "mechanism": d.mechanism,
        "fix": [{"item": i.key, "code": i.fix} for i in d.blamed],
        "fix_verified": d.fix_verified,
        "unmodelled_accesses": unmodelled(d),
    }


def unmodelled(d: Diagnosis) -> list[str]:
    seen: dict[str, None] = {}
    for o in (d.reference_outcome, d.jump_outcome, d.fix_outcome):
        for line in (o.unmodelled if o else []):
            seen.setdefault(line)
    return list(seen)


def _item_json(i) -> dict:
    return {"key": i.key, "title": i.title, "group": i.group, "manual": i.manual,
            "differences": [{"what": x.what, "boot0_entry": x.reference, "software_jump": x.actual,
                             "last_writer": x.writer} for x in i.differences]}


def answer_lines(d: Diagnosis) -> list[str]:
    """The first screen in plain words (also used by tests and the HTML header)."""
    lines = []
    if d.status == "bootloader-not-started":
        return [f"The bootloader does not start: {d.note}"]
    if d.jump is None:
        if d.status == "trigger-not-delivered":
            lines.append(f"No jump: the trigger could not be delivered: {d.note}.")
        else:
            lines.append(f"No jump: the application did not enter the bootloader (trigger {d.trigger}): {d.note}.")
        lines.append(f"  where it was: {d.where}")
        for text in d.presented:
            lines.append(f"  it presented: {text}")
        if d.suggested:
            lines.append("  try: " + "  |  ".join(f"--trigger {s}" for s in d.suggested))
        else:
            lines.append("  try: --trigger none with a longer --jump-within if it jumps by itself later, or "
                         "--trigger call:SYMBOL to inject a call of its jump function")
        return lines
    if d.injection:
        lines.append(f"INJECTED: the jump was made to happen ({d.trigger}); the application's own trigger was "
                     "not exercised.")
    failure = d.jump_outcome.first_failure if d.jump_outcome else None
    if not d.operation_failed:
        lines.append(f"{d.operation} works after the software jump: {d.note or 'no blocking residual state'}.")
        return lines
    after_boot0 = "works after a BOOT0 entry" if d.reference_outcome.step_ok(d.operation) \
        else "fails after a BOOT0 entry too"
    lines.append(f"{d.operation.capitalize()} FAILS after the software jump "
                 f"({failure.name}: {failure.detail}) and {after_boot0}.")
    if d.blamed:
        lines.append(f"Blocking residual state ({'1-minimal, ' if d.one_minimal else ''}{len(d.blamed)} item"
                     f"{'s' if len(d.blamed) != 1 else ''}, found in {d.oracle_calls} replays):")
        for i in d.blamed:
            writer = next((x.writer for x in i.differences if x.writer), "")
            lines.append(f"  - {i.title} [{i.summary()}]" + (f", last written by {writer}" if writer else ""))
    elif d.note:
        lines.append(d.note)
    return lines


def print_terminal(d: Diagnosis, console: Optional[Console] = None) -> None:
    console = console or Console(highlight=False)
    console.rule(f"c071emu diagnose: {d.app} -> {d.bootloader} ({d.operation})")
    for line in answer_lines(d):
        console.print(line, markup=False)
    if d.world:
        console.print(f"\nTrigger {d.trigger}:")
        for line in d.world:
            console.print(f"  {line}", markup=False)
    if d.reference_outcome is None:
        return
    if d.mechanism and d.operation_failed:
        console.print("\nMechanism (bootloader run after the jump):")
        for e in d.mechanism[:14]:
            where = f" in {e['where']}" if e.get("where") else ""
            image = f" [{e['image']}]" if e.get("image") else ""
            console.print(f"  {e['seconds'] * 1e3:10.3f} ms  {e['kind']:<18} {e['text']}{where}{image}", markup=False)
        failure = d.jump_outcome.first_failure
        if failure:
            console.print(f"  {failure.end * 1e3:10.3f} ms  host               {failure.name}: {failure.detail}",
                          markup=False)
    if d.blamed:
        console.print("\nFix, in the application's jump function before the branch:")
        for i in d.blamed:
            for line in i.fix.splitlines():
                console.print(f"    {line}", markup=False)
        verdict = "every step passes" if d.fix_verified else "NOT all steps pass"
        console.print(f"Verified by replay with these items restored: {verdict}.")
    for line in unmodelled(d):
        console.print(f"-- {line}", markup=False)
    table = Table(title="Host flow", show_lines=False)
    table.add_column("step")
    for title in ("BOOT0 entry", "software jump", "with fix"):
        table.add_column(title)
    outcomes = [d.reference_outcome, d.jump_outcome, d.fix_outcome]
    for index, s in enumerate(d.reference_outcome.steps):
        cells = []
        for o in outcomes:
            if o is None:
                cells.append("-")
            else:
                step = o.steps[index]
                cells.append(f"{step.status} {step.end * 1e3:.1f} ms" if step.status != "not run" else "not run")
        table.add_row(s.name, *cells)
    console.print(table)
    if d.items:
        diff = Table(title="Residual state at the bootloader's first instruction (BOOT0 entry -> software jump)")
        for col in ("peripheral", "field", "BOOT0 entry", "software jump", "last writer", "manual"):
            diff.add_column(col)
        for i in sorted(d.items, key=lambda i: i.group):
            for x in i.differences:
                diff.add_row(i.group, x.what, f"0x{x.reference:X}", f"0x{x.actual:X}", x.writer, i.manual)
        console.print(diff)


def to_html(d: Diagnosis) -> str:
    """A self-contained page: the answer, the fix, a timeline of both runs, the diff."""
    esc = html.escape
    runs = [("BOOT0 entry", d.reference_outcome), ("software jump", d.jump_outcome), ("with fix", d.fix_outcome)]
    runs = [(title, o) for title, o in runs if o is not None]
    span = max((s.end for _, o in runs if o for s in o.steps), default=0.001) or 0.001
    width = 900
    rows = []
    for row, (title, o) in enumerate(runs):
        if o is None:
            continue
        y = 20 + row * 40
        rows.append(f'<text x="0" y="{y + 14}" font-size="12">{esc(title)}</text>')
        for s in o.steps:
            if s.status == "not run":
                continue
            x = 120 + (s.start / span) * (width - 130)
            w = max(((s.end - s.start) / span) * (width - 130), 2)
            color = "#3a3" if s.ok else "#c33"
            rows.append(f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="20" fill="{color}">'
                        f'<title>{esc(s.name)}: {esc(s.status)} {s.start * 1e3:.2f}-{s.end * 1e3:.2f} ms '
                        f'{esc(s.detail)}</title></rect>')
            rows.append(f'<text x="{x + 2:.1f}" y="{y + 14}" font-size="10" fill="#fff">{esc(s.name)}</text>')
    svg = f'<svg width="{width}" height="{20 + 40 * len(runs)}">{"".join(rows)}</svg>'
    answer = "".join(f"<p>{esc(line)}</p>" for line in answer_lines(d))
    fix = "".join(f"<pre>{esc(i.fix)}</pre>" for i in d.blamed)
    mech = "".join(f"<tr><td>{e['seconds'] * 1e3:.3f} ms</td><td>{esc(e['kind'])}</td><td>{esc(e['text'])}</td>"
                   f"<td>{esc(e.get('where') or '')}</td></tr>" for e in d.mechanism)
    diff = "".join(f"<tr><td>{esc(i.group)}</td><td>{esc(x.what)}</td><td>0x{x.reference:X}</td>"
                   f"<td>0x{x.actual:X}</td><td>{esc(x.writer)}</td><td>{esc(i.manual)}</td></tr>"
                   for i in d.items for x in i.differences)
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>c071emu diagnosis</title>
<style>body{{font-family:sans-serif;max-width:1000px;margin:2em auto}}td,th{{padding:2px 8px;text-align:left}}
pre{{background:#f4f4f4;padding:6px}}</style></head><body>
<h1>{esc(d.app)} &rarr; {esc(d.bootloader)}: {esc(d.operation)}</h1>{answer}
<h2>Fix</h2>{fix or '<p>none needed</p>'}
<h2>Timeline</h2>{svg}
<h2>Mechanism</h2><table>{mech}</table>
<h2>Residual state</h2><table><tr><th>peripheral</th><th>field</th><th>BOOT0 entry</th><th>software jump</th>
<th>last writer</th><th>manual</th></tr>{diff}</table>
<script type="application/json" id="diagnosis">{esc(json.dumps(to_json(d)))}</script>
</body></html>"""
