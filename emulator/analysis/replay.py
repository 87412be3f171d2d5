"""Counterfactual replays from the jump point, in forked processes.

At the jump the whole process - Unicorn's state, every model, the scheduler with the
host's pending transactions - is the snapshot: ``os.fork`` copies it (copy on write)
for each replay, the child puts some items back to their reference values, runs the
host flow and reports its outcome through a file; the parent stays at the jump point.
Replays run as many at a time as there are cores, and none re-runs the application.
"""
from __future__ import annotations

import os
import pickle
import tempfile
import traceback
from typing import Callable, Sequence, TypeVar

from ..machine import Machine
from .items import Item
from .snapshot import JumpSnapshot

R = TypeVar("R")


_parallel_limit: int | None = None


def limit_parallel_replays(limit: int | None) -> None:
    """Cap the replays at a time in this process: a sweep already runs one diagnosis per
    core, and each forking one replay per core would put cores² processes on the CPUs."""
    global _parallel_limit
    _parallel_limit = limit


def run_forked(jobs: Sequence[Callable[[], R]], parallel: int | None = None) -> list[R]:
    """Run each job in a child process forked from here; results in order."""
    parallel = parallel or _parallel_limit or os.cpu_count() or 1
    results: list = [None] * len(jobs)
    running: dict[int, tuple[int, str]] = {}
    todo = list(enumerate(jobs))
    with tempfile.TemporaryDirectory(prefix="c071emu-replay-") as tmp:
        while todo or running:
            while todo and len(running) < parallel:
                index, job = todo.pop(0)
                path = os.path.join(tmp, f"{index}.pickle")
                pid = os.fork()
                if pid == 0:                                   # the replay
                    try:
                        payload = ("ok", job())
                    except BaseException as exc:               # noqa: BLE001 - reported to the parent
                        payload = ("error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}")
                    with open(path, "wb") as fh:
                        pickle.dump(payload, fh)
                    os._exit(0)
                running[pid] = (index, path)
            pid, status = os.wait()
            index, path = running.pop(pid)
            try:
                with open(path, "rb") as fh:
                    kind, value = pickle.load(fh)
            except (OSError, EOFError, pickle.UnpicklingError):
                kind, value = "error", f"replay process ended with status {status} and no result"
            if kind == "error":
                raise RuntimeError(f"replay {index} failed: {value}")
            results[index] = value
    return results


def restore_items(m: Machine, ref: JumpSnapshot, items: Sequence[Item]) -> None:
    for item in items:
        item.restore(m, ref)
