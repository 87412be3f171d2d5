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
from contextlib import contextmanager

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


@contextmanager
def case(target: str):
    """One fuzz case of ``target``: counted, and an exception escaping it counted as a traceback."""
    CASES[target] += 1
    try:
        yield
    except AssertionError:
        raise
    except Exception:
        FINDINGS[target, "traceback"] += 1
        raise


def summary(terminalreporter) -> None:
    """Called from tests/conftest.py's terminal-summary hook once any fuzz target ran."""
    if not CASES:
        return
    write = terminalreporter.write_line
    kinds = ("traceback", "hang", "unauthorised-flash-change")
    write("")
    write(f"{'fuzz target':<22} {'cases':>7} {'tracebacks':>11} {'hangs':>6} {'unauthorised flash changes':>27}")
    for target in sorted(CASES):
        counts = [FINDINGS[target, kind] for kind in kinds]
        write(f"{target:<22} {CASES[target]:>7} {counts[0]:>11} {counts[1]:>6} {counts[2]:>27}")
    totals = [sum(v for (_, k), v in FINDINGS.items() if k == kind) for kind in kinds]
    write(f"{'total':<22} {sum(CASES.values()):>7} {totals[0]:>11} {totals[1]:>6} {totals[2]:>27}")
