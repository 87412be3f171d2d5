"""Delta debugging (Zeller and Hildebrandt, "Simplifying and Isolating Failure-Inducing
Input", TSE 2002), used here to find a minimal set of residual-state items whose
restoration makes the failing operation succeed.

``fixes(subset)`` is the oracle: True when restoring exactly ``subset`` makes the
operation succeed.  The candidates of one granularity level are independent, so they
are evaluated as one batch (``evaluate`` may run them in parallel).  The result is
1-minimal: dropping any single item makes the oracle false, which ``ddmin`` checks.
"""
from __future__ import annotations

from typing import Callable, Sequence, TypeVar

T = TypeVar("T")
Batch = Callable[[list[list[T]]], list[bool]]


def ddmin(items: Sequence[T], evaluate: Batch) -> tuple[list[T], int]:
    """Return (a 1-minimal subset for which the oracle holds, number of oracle calls)."""
    current = list(items)
    calls = 0
    n = 2
    while len(current) >= 2:
        size = len(current)
        chunks = [current[i * size // n:(i + 1) * size // n] for i in range(n)]
        chunks = [c for c in chunks if c]
        complements = [[x for x in current if x not in c] for c in chunks]
        candidates = chunks + (complements if n > 2 else [])
        results = evaluate(candidates)
        calls += len(candidates)
        hit = next((c for c, ok in zip(candidates, results) if ok), None)
        if hit is not None:
            current = hit
            n = 2 if hit in chunks else max(n - 1, 2)
            continue
        if n >= size:
            break
        n = min(size, 2 * n)
    # 1-minimality check (also covers a single remaining item)
    while True:
        if len(current) == 1:
            return current, calls
        smaller = [[x for x in current if x is not y] for y in current]
        results = evaluate(smaller)
        calls += len(smaller)
        hit = next((c for c, ok in zip(smaller, results) if ok), None)
        if hit is None:
            return current, calls
        current = hit
