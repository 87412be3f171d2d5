"""Diagnosis reports: terminal (rich), JSON (schema ``c071emu.diagnosis/1``), HTML.

The terminal report puts the answer first: does the operation fail after the jump,
which residual state blocks it, how, and what to change; the step table and the full
register diff follow.
"""
from __future__ import annotations

import html
import json
import math
import re
from pathlib import Path
from typing import Optional

from rich.console import Console
from rich.table import Table

from .diagnose import Diagnosis
from .flows import OPERATION_STEP, FlowOutcome

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


STEP_NOUNS = {"enumerate": "enumeration", "upload flash": "the flash upload",
              "upload option bytes": "the option-byte upload", "erase": "erase", "write": "write",
              "verify": "verify", "leave": "leaving the bootloader"}
TOP_LINES = 15            # the verdict, blocking items, mechanism and fix fit in this many lines


def _short_cause(detail: str) -> str:
    """The host error's cause in a few words: what the machine did, not the host's wrapper."""
    if "machine stopped: " in detail:
        cause = detail.split("machine stopped: ", 1)[1].rstrip(")")
        if cause.startswith("lockup"):
            why = cause.split(" because ", 1)[1].split(": instruction", 1)[0] if " because " in cause else ""
            return "the core locks up" + (f" ({why})" if why else "")
        return cause.split(": ", 1)[-1]
    detail = re.sub(r" \([^()]*\)$", "", detail)            # the host's own parenthetical
    return detail if len(detail) <= 110 else detail[:107].rsplit(" ", 1)[0] + " ..."


def _decisive_cause(d: Diagnosis) -> str:
    """What the chip did that made the step fail, from the mechanism: the first fault or
    reset after the first divergence (the host's error is its consequence)."""
    for g in mechanism_groups(d):
        e = g["first"]
        text = e["text"]
        if e["kind"] == "exception.fault":
            what = text.split(": ", 1)[-1].split(" in bl_", 1)[0]
            return f"the bootloader faults ({what})"
        if e["kind"] == "iwdg" and "reset" in text:
            return f"the watchdog resets the chip ({text.rstrip(': reset')})"
        if e["kind"] in ("reset", "scb.sysresetreq"):
            return f"the chip resets ({text})"
    return ""


def verdict(d: Diagnosis) -> str:
    """One line: which step fails after the jump, and whether it works after a BOOT0 entry."""
    if d.status == "bootloader-not-started":
        return f"VERDICT: the bootloader does not start after a BOOT0 reset: {d.note}"
    if d.jump is None:
        what = "the trigger could not be delivered" if d.status == "trigger-not-delivered" else \
            f"the application did not enter the bootloader (trigger {d.trigger})"
        return f"VERDICT: No jump: {what}" + (f": {d.note}." if d.note else ".")
    injected = f" (INJECTED by {d.trigger}: the application's own trigger was not exercised)" if d.injection else ""
    if not d.operation_failed:
        return f"VERDICT: {d.operation} works after the software jump{injected}: nothing left behind blocks it."
    failure = d.jump_outcome.first_failure
    step = STEP_NOUNS.get(failure.name, failure.name)
    ref_failure = d.reference_outcome.first_failure
    if ref_failure is None:
        after = "works after a BOOT0 entry"
    elif ref_failure.name == failure.name:
        after = "fails after a BOOT0 entry too"
    else:
        after = f"after a BOOT0 entry {STEP_NOUNS.get(ref_failure.name, ref_failure.name)} fails instead"
    skipped = "" if failure.name == OPERATION_STEP.get(d.operation, d.operation) else \
        f", so {d.operation} never runs"
    cause = _decisive_cause(d)
    host = _short_cause(failure.detail)
    if cause and host.startswith("the core locks up"):
        cause += " and the core locks up"
    return f"VERDICT: {step} FAILS after the software jump{injected}{skipped} - {cause or host}; it {after}."


def _difference_text(x) -> str:
    label = x.what.rsplit(".", 1)[0] if x.register_actual is not None else x.what
    by = x.writer_short
    writer = "" if not by else f", {by}" if by.startswith(("reset value", "set by")) else f", by {by}"
    return f"{label} = {x.shown('actual')} (BOOT0 entry: {x.shown('reference')}){writer}"


def blocking_lines(d: Diagnosis) -> list[str]:
    if not d.blamed:
        return []
    lines = [f"Blocking ({'1-minimal, ' if d.one_minimal else ''}{len(d.blamed)} item"
             f"{'s' if len(d.blamed) != 1 else ''} of {len(d.items)}, {d.oracle_calls} replays):"]
    for i in d.blamed:
        diffs = "; ".join(_difference_text(x) for x in i.differences[:2])
        more = f" (+{len(i.differences) - 2} more)" if len(i.differences) > 2 else ""
        lines.append(f"  * {i.key}: {diffs}{more} - {i.title} [{i.manual}]")
    return lines


def answer_lines(d: Diagnosis) -> list[str]:
    """The verdict and what blocks (or, without a jump, what the application did)."""
    lines = [verdict(d)]
    if d.status == "bootloader-not-started" or d.jump is not None:
        if d.jump is not None and d.operation_failed and not d.blamed and d.note:
            lines.append(d.note)
        return lines + blocking_lines(d)
    lines.append(f"  where it was: {d.where}")
    for text in d.presented:
        lines.append(f"  it presented: {text}")
    if d.suggested:
        lines.append("  try: " + "  |  ".join(f"--trigger {s}" for s in d.suggested))
    else:
        lines.append("  try: --trigger none with a longer --jump-within if it jumps by itself later, or "
                     "--trigger call:SYMBOL to inject a call of its jump function")
    return lines


_NUMBERS = re.compile(r"0x[0-9A-Fa-f]+|\d+(?:\.\d+)?")


def _shape(e: dict) -> tuple[str, str]:
    return e["kind"], _NUMBERS.sub("#", e["text"])


def mechanism_groups(d: Diagnosis) -> list[dict]:
    """The jump run's decisive events from the first divergence from the BOOT0 run to the
    failure, repeated events collapsed into one group (count, first and last time)."""
    seen = {_shape(e) for e in (d.reference_outcome.events if d.reference_outcome else [])}
    events = []
    for n, e in enumerate(d.mechanism):
        if e["kind"] == "exception.entry":
            if _shape(e) in seen:
                continue            # an exception entry the BOOT0 run has too (the USB interrupt): routine
            nxt = d.mechanism[n + 1] if n + 1 < len(d.mechanism) else None
            if nxt and nxt["kind"] == "exception.fault" and nxt["seconds"] == e["seconds"] \
                    and nxt["text"].split(":")[0] == e["text"].split(":")[0]:
                continue            # the entry whose vector fetch then faults: the fault says it
        events.append(e)
    first = next((n for n, e in enumerate(events) if _shape(e) not in seen and e["kind"] != "..."), 0)
    groups: list[dict] = []
    for e in events[max(first - 1, 0):]:                # one event of context before the divergence
        if groups and _shape(groups[-1]["first"]) == _shape(e):
            groups[-1]["last"], groups[-1]["count"] = e, groups[-1]["count"] + 1
        else:
            groups.append({"first": e, "last": e, "count": 1})
    return groups


def _group_line(g: dict) -> str:
    e, last = g["first"], g["last"]
    where = f" in {e['where']}" if e.get("where") else ""
    if g["count"] == 1:
        return f"  {e['seconds'] * 1e3:10.3f} ms  {e['kind']:<16} {e['text']}{where}"
    span = f"{e['seconds'] * 1e3:.3f}-{last['seconds'] * 1e3:.3f} ms"
    text = e["text"] if last["text"] == e["text"] else f"{e['text']} ... {last['text']}"
    return f"  {e['seconds'] * 1e3:10.3f} ms  {e['kind']:<16} x{g['count']}, {span}: {text}"


def mechanism_lines(d: Diagnosis, budget: int = 1000) -> list[str]:
    """The mechanism in at most ``budget`` lines.  The first divergence and the end (the
    failure and what led to it) are always kept; over the cap, exception entries in the
    middle go first, then the oldest of the rest, marked by one line."""
    failure = d.jump_outcome.first_failure if d.jump_outcome else None
    groups = mechanism_groups(d)
    tail = [f"  {failure.end * 1e3:10.3f} ms  {'host':<16} {failure.name} failed: {failure.detail}"] if failure else []
    room = max(budget - len(tail), 4)
    if len(groups) > room:
        keep = set(range(len(groups)))
        middle = range(1, len(groups) - 2)
        for n in [n for n in middle if groups[n]["first"]["kind"] == "exception.entry"] + list(middle):
            if len(keep) <= room - 1:
                break
            keep.discard(n)
        left_out = sum(groups[n]["count"] for n in range(len(groups)) if n not in keep)
        lines, marked = [], False
        for n, g in enumerate(groups):
            if n in keep:
                lines.append(_group_line(g))
            elif not marked:
                lines.append(f"  {'':13}  {'...':<16} {left_out} event(s) left out here (--json and --html list them)")
                marked = True
        return lines + tail
    return [_group_line(g) for g in groups] + tail


def fix_lines(d: Diagnosis, style: str = "cmsis") -> list[str]:
    if not d.blamed:
        return []
    verified = "verified by replay: every step passes" if d.fix_verified else \
        "NOT verified: a replay with these items restored still fails a step"
    lines = [f"Fix, in the jump function before the branch ({style.upper() if style != 'hal' else 'HAL'}; {verified}):"]
    for i in d.blamed:
        lines += [f"    {line}" for line in i.fix_in(style).splitlines()]
    return lines


def top_lines(d: Diagnosis, style: str = "cmsis") -> list[str]:
    """The answer: verdict, blocking items, mechanism, fix - in the first 15 lines."""
    head = answer_lines(d)
    if d.jump is None or d.reference_outcome is None:
        return head
    fix = fix_lines(d, style)
    if not (d.mechanism or d.jump_outcome.first_failure) or not d.operation_failed:
        return head + fix
    budget = TOP_LINES - len(head) - len(fix) - 1
    return head + ["Mechanism (after the jump, from the first difference to the BOOT0 run):"] + \
        mechanism_lines(d, budget) + fix


def _table(console: Console, title: str, headers: list[str], rows: list[list[str]]) -> None:
    """A rich table on a terminal (cells fold, never cut); elsewhere a plain table with
    every cell whole, however wide, so a file or CI log keeps full names."""
    if console.is_terminal:
        table = Table(title=title)
        for h in headers:
            table.add_column(h, overflow="fold")
        for row in rows:
            table.add_row(*row)
        console.print(table)
        return
    widths = [max(len(str(r[n])) for r in [headers, *rows]) for n in range(len(headers))]
    console.print(title, markup=False, soft_wrap=True)
    for row in [headers, *rows]:
        console.print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip(), markup=False,
                      soft_wrap=True)


def step_grid(d: Diagnosis):
    """Each step's name with its result in the BOOT0 run, the jump run and the fix replay (None
    where that run did not happen): the rows of both step tables."""
    outcomes = [d.reference_outcome, d.jump_outcome, d.fix_outcome]
    for index, s in enumerate(d.reference_outcome.steps):
        yield s.name, [None if o is None else o.steps[index] for o in outcomes]


def step_rows(d: Diagnosis) -> list[list[str]]:
    return [[name, *("-" if st is None else f"{st.status} {st.end * 1e3:.1f} ms" if st.status != "not run"
                     else "not run" for st in results)]
            for name, results in step_grid(d)]


def residual_counts(d: Diagnosis) -> list[str]:
    blocking = {x.what for i in d.blamed for x in i.differences}
    counts: dict[str, list[int]] = {}
    for i in d.items:
        for x in i.differences:
            c = counts.setdefault(i.group, [0, 0])
            c[0] += 1
            c[1] += x.what in blocking
    parts = [f"{group} {n}" + (f" ({b} blocking)" if b else "") for group, (n, b) in sorted(counts.items())]
    total = sum(n for n, _ in counts.values())
    return [f"Residual state at the bootloader's first instruction: {total} field(s) differ from a BOOT0 entry: "
            + ", ".join(parts) + ". --all-fields lists them."]


def print_terminal(d: Diagnosis, console: Optional[Console] = None, style: str = "cmsis",
                   all_fields: bool = False) -> None:
    """The terminal report: 1 verdict, 2 blocking items, 3 mechanism, 4 fix, 5 step table,
    6 residual state (counts, or every field with --all-fields); the verdict again last.
    Lines are never cut: a terminal wraps them, a file or pipe gets them whole."""
    console = console or Console(highlight=False)

    def say(line: str = "") -> None:
        console.print(line, markup=False, soft_wrap=True)

    for line in top_lines(d, style):
        say(line)
    if d.reference_outcome is None:
        return
    if d.mechanism and d.operation_failed and d.jump is not None:
        full = mechanism_lines(d)
        if len(full) > TOP_LINES:
            say("")
            say("Mechanism in full:")
            for line in full:
                say(line)
    for line in unmodelled(d):
        say(f"-- {line}")
    say("")
    _table(console, f"Host flow ({d.host or 'dfu'}):", ["step", "BOOT0 entry", "software jump", "with fix"],
           step_rows(d))
    if d.world:
        say(f"Trigger {d.trigger}:")
        for line in d.world:
            say(f"  {line}")
    if d.items:
        if all_fields:
            blocking = {x.what for i in d.blamed for x in i.differences}
            rows = [["BLOCKING" if x.what in blocking else "", x.what, x.shown("reference"), x.shown("actual"),
                     x.writer_short or x.writer or "-", i.manual]
                    for i in sorted(d.items, key=lambda i: (i not in d.blamed, i.group)) for x in i.differences]
            _table(console, "Residual state at the bootloader's first instruction:",
                   ["", "field", "BOOT0 entry", "software jump", "last changed by", "manual"], rows)
        else:
            for line in residual_counts(d):
                say(line)
    say(verdict(d))


def _nice_step(span: float) -> float:
    """A tick spacing (1, 2 or 5 times a power of ten) giving about eight ticks over ``span``."""
    raw = span / 8
    power = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1e-3
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw)


def timeline_svg(d: Diagnosis) -> str:
    """The steps of each run on one time axis (ms).  A label goes inside its bar when it
    fits, otherwise under it with a leader line, staggered so labels do not overlap."""
    esc = html.escape
    runs = [(t, o) for t, o in (("BOOT0 entry", d.reference_outcome), ("software jump", d.jump_outcome),
                                ("with fix", d.fix_outcome)) if o is not None]
    steps = [s for _, o in runs for s in o.steps if s.status != "not run"]
    t0 = min((s.start for s in steps), default=0.0)
    t1 = max((s.end for s in steps), default=t0 + 1e-3)
    span = max(t1 - t0, 1e-6)
    left, width, row_h, char_w = 130, 1000, 78, 6.2
    plot = width - left - 20

    def x_of(t: float) -> float:
        return left + (t - t0) / span * plot

    parts = []
    for row, (title, o) in enumerate(runs):
        y = 30 + row * row_h
        parts.append(f'<text x="0" y="{y + 15}" font-size="13" font-weight="bold">{esc(title)}</text>')
        label_end = [-1e9, -1e9, -1e9]                 # per stagger level: where the last label ended
        for s in o.steps:
            if s.status == "not run":
                continue
            x, w = x_of(s.start), max((s.end - s.start) / span * plot, 2)
            color = "#2e7d32" if s.ok else "#c62828"
            parts.append(f'<rect class="step {esc(s.status)}" x="{x:.1f}" y="{y}" width="{w:.1f}" height="22" '
                         f'fill="{color}"><title>{esc(s.name)}: {esc(s.status)} {s.start * 1e3:.2f}-'
                         f'{s.end * 1e3:.2f} ms {esc(s.detail)}</title></rect>')
            text_w = len(s.name) * char_w + 4
            if text_w <= w:
                parts.append(f'<text x="{x + 2:.1f}" y="{y + 15}" font-size="11" fill="#fff">{esc(s.name)}</text>')
                continue
            cx = x + w / 2
            anchor = "end" if cx + text_w > left + plot + 20 else "start"     # keep it inside the page
            start = cx - text_w if anchor == "end" else cx
            level = next((n for n, end in enumerate(label_end) if end < start), len(label_end) - 1)
            ly = y + 36 + level * 13
            label_end[level] = start + text_w
            parts.append(f'<line x1="{cx:.1f}" y1="{y + 22}" x2="{cx:.1f}" y2="{ly - 9}" '
                         f'stroke="#666" stroke-width="0.8"/>')
            parts.append(f'<text class="leader-label" x="{cx:.1f}" y="{ly}" font-size="11" '
                         f'text-anchor="{anchor}">{esc(s.name)}</text>')
    axis_y = 30 + len(runs) * row_h
    tick = _nice_step(span * 1e3)
    axis = [f'<line x1="{left}" y1="{axis_y}" x2="{left + plot}" y2="{axis_y}" stroke="#000"/>']
    first_tick = math.ceil(t0 * 1e3 / tick) * tick
    n = 0
    while first_tick + n * tick <= t1 * 1e3 + 1e-9:
        t_ms = first_tick + n * tick
        x = x_of(t_ms / 1e3)
        axis.append(f'<line x1="{x:.1f}" y1="{axis_y}" x2="{x:.1f}" y2="{axis_y + 5}" stroke="#000"/>'
                    f'<text class="tick" x="{x:.1f}" y="{axis_y + 18}" font-size="11" text-anchor="middle">'
                    f'{t_ms:g}</text>')
        n += 1
    axis.append(f'<text x="{left + plot / 2:.1f}" y="{axis_y + 34}" font-size="12" text-anchor="middle">'
                f'simulated time (ms)</text>')
    return (f'<svg id="timeline" width="{width}" height="{axis_y + 44}" role="img" '
            f'aria-label="timeline of the host flow in each run">{"".join(parts)}'
            f'<g id="time-axis">{"".join(axis)}</g></svg>')


def to_html(d: Diagnosis, style: str = "cmsis") -> str:
    """A self-contained page: the verdict banner, the blocking items and the fix, the step
    table and a timeline of the three runs, the mechanism up to the host's error, and the
    residual state with the blocking rows highlighted.  Details are text, not hover-only."""
    esc = html.escape
    app, boot = Path(d.app).name, Path(d.bootloader).name
    title = f"{app} \u2192 {boot}: {d.operation}"
    ok = d.jump is not None and not d.operation_failed
    banner = f'<div id="verdict" class="banner {"ok" if ok else "fail"}">{esc(verdict(d))}</div>'
    blocking = "".join(f"<li>{esc(line.strip().lstrip('* '))}</li>" for line in blocking_lines(d)[1:])
    blocking_html = f"<h2>Blocking</h2><ul id=\"blocking\">{blocking}</ul>" if blocking else ""
    if d.blamed:
        verified = ("Verified by replay: with these items restored every step passes." if d.fix_verified else
                    "NOT verified: a replay with these items restored still fails a step.")
        fix = (f"<pre>{esc(chr(10).join(i.fix_in(style) for i in d.blamed))}</pre>"
               f'<p id="fix-verified">{esc(verified)}</p>')
    else:
        fix = "<p>none needed</p>"
    steps_html = ""
    if d.reference_outcome is not None:
        rows = []
        for name, results in step_grid(d):
            cells = []
            for st in results:
                if st is None:
                    cells.append("<td>-</td>")
                    continue
                timing = f" {st.start * 1e3:.1f}-{st.end * 1e3:.1f} ms" if st.status != "not run" else ""
                cells.append(f'<td class="{st.status.replace(" ", "-")}"><b>{esc(st.status)}</b>{timing}'
                             f'<div class="detail">{esc(st.detail)}</div></td>')
            rows.append(f"<tr><th>{esc(name)}</th>{''.join(cells)}</tr>")
        steps_html = ('<table id="steps"><tr><th>step</th><th>BOOT0 entry</th><th>software jump</th>'
                      f"<th>with fix</th></tr>{''.join(rows)}</table>")
    mech = ""
    if d.jump is not None and d.operation_failed:
        mech = "<pre id=\"mechanism\">" + esc("\n".join(mechanism_lines(d))) + "</pre>"
    blocking_fields = {x.what for i in d.blamed for x in i.differences}
    diff = "".join(f'<tr class="{"blocking" if x.what in blocking_fields else ""}"><td>{esc(i.group)}</td>'
                   f"<td>{esc(x.what)}</td><td>{esc(x.shown('reference'))}</td><td>{esc(x.shown('actual'))}</td>"
                   f"<td>{esc(x.writer or '-')}</td><td>{esc(i.manual)}</td></tr>"
                   for i in sorted(d.items, key=lambda i: (i not in d.blamed, i.group)) for x in i.differences)
    timeline = timeline_svg(d) if d.reference_outcome is not None else ""
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{esc(title)}</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:1.5em auto}}td,th{{padding:2px 8px;text-align:left;
vertical-align:top}}pre{{background:#f4f4f4;padding:6px;white-space:pre-wrap}}.banner{{padding:.8em 1em;
font-size:1.15em;font-weight:bold;color:#fff;border-radius:4px}}.banner.fail{{background:#c62828}}
.banner.ok{{background:#2e7d32}}td.failed{{background:#fde0e0}}td.ok{{background:#e3f4e3}}
td.not-run{{color:#888}}.detail{{font-size:.8em;color:#444;max-width:28em}}tr.blocking{{background:#ffe9a8;
font-weight:bold}}</style></head><body>
<h1>{esc(title)}</h1>{banner}{blocking_html}
<h2>Fix ({esc(style)})</h2>{fix}
<h2>Host flow</h2>{steps_html}
<h2>Timeline</h2>{timeline}
<h2>Mechanism</h2>{mech or '<p>no failure after the jump</p>'}
<h2>Residual state</h2><table id="residual"><tr><th>peripheral</th><th>field</th><th>BOOT0 entry</th>
<th>software jump</th><th>last changed by</th><th>manual</th></tr>{diff}</table>
<script type="application/json" id="diagnosis">{esc(json.dumps(to_json(d)))}</script>
</body></html>"""
