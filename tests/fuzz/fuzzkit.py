"""Property-based fuzzing of every input boundary (issue: hostile input never crashes c071emu).

``make test`` runs each target with a few dozen examples (seconds); ``make fuzz`` sets
``C071_FUZZ=1`` and runs thousands, then prints the counts per target: cases run,
tracebacks (an exception escaping the boundary), hangs (a case over its deadline) and
unauthorised flash changes.  Every counted case is also a hypothesis example, so a failing
one is shrunk and replayed by hypothesis as usual.
"""
from __future__ import annotations

import os
from collections import Counter

from hypothesis import HealthCheck, settings

FUZZING = os.environ.get("C071_FUZZ") == "1"
settings.register_profile("c071-test", max_examples=40, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
settings.register_profile("c071-fuzz", max_examples=int(os.environ.get("C071_FUZZ_EXAMPLES", "2000")),
                          deadline=None, suppress_health_check=list(HealthCheck))
settings.load_profile("c071-fuzz" if FUZZING else "c071-test")

CASES: Counter = Counter()
"""Cases run per target (a target's test increments its own name once per example)."""
FINDINGS: Counter = Counter()
"""(target, kind) -> count, kind one of traceback, hang, unauthorised-flash-change."""


def summary(terminalreporter) -> None:
    """Called from tests/conftest.py's terminal-summary hook once any fuzz target ran."""
    if not CASES:
        return
    failed = {report.nodeid for report in terminalreporter.stats.get("failed", [])}
    write = terminalreporter.write_line
    write("")
    write("fuzz targets: cases run, tracebacks, hangs, unauthorised flash changes")
    for target in sorted(CASES):
        tracebacks = FINDINGS[target, "traceback"] + sum(target in node for node in failed)
        write(f"  {target:<22} {CASES[target]:>7}  {tracebacks:>3}  {FINDINGS[target, 'hang']:>3}  "
              f"{FINDINGS[target, 'unauthorised-flash-change']:>3}")
    write(f"  {'total':<22} {sum(CASES.values()):>7}  {sum(v for (t, k), v in FINDINGS.items() if k == 'traceback') + len(failed):>3}"
          f"  {sum(v for (t, k), v in FINDINGS.items() if k == 'hang'):>3}"
          f"  {sum(v for (t, k), v in FINDINGS.items() if k == 'unauthorised-flash-change'):>3}")
