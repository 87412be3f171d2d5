"""Counterfactual replays from the jump point, in forked processes.

At the jump the whole process - Unicorn's state, every model, the scheduler with the
host's pending transactions - is the snapshot: ``os.fork`` copies it (copy on write)
for each replay, the child puts some items back to their reference values, runs the
host flow and reports its outcome through a file; the parent stays at the jump point.
Replays run as many at a time as there are cores, and none re-runs the application.

Several diagnoses at once (one per bootloader design, variants.py) run as ``Worker``
processes that the parent talks to through a pipe, and share the cores through a pool
of tokens (``shared_cores``, as make's jobserver does): a replay forked from any of them
first takes a token and gives it back when it ends.
"""
from __future__ import annotations

import os
import pickle
import signal
import tempfile
import traceback
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing import Pipe
from multiprocessing.connection import Connection
from typing import Any, Callable, Iterator, Optional, Sequence, TypeVar

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


_tokens: Optional[tuple[int, int]] = None      # (read end, write end) of the token pipe
_background_tokens: Optional[tuple[int, int]] = None
_background = False
BACKGROUND_FLOOD = 4096            # tokens: far more than replays at once, far less than a pipe holds


@contextmanager
def shared_cores(cores: int) -> Iterator[None]:
    """While active, every replay forked from this process or from a ``Worker`` started here
    holds one of ``cores`` tokens while it runs: however many diagnoses fork replays at
    once, at most ``cores`` replays run.  A replay forked in the background (``background``)
    first takes one of ``cores - 1`` background tokens (at least one): the work in the
    foreground keeps at least one core."""
    global _tokens, _background_tokens
    pools = []
    for count in (cores, max(1, cores - 1)):
        read_end, write_end = os.pipe()
        os.write(write_end, b"t" * count)
        pools.append((read_end, write_end))
    previous = _tokens, _background_tokens
    _tokens, _background_tokens = pools
    try:
        yield
    finally:
        _tokens, _background_tokens = previous
        for pool in pools:
            os.close(pool[0])
            os.close(pool[1])


def background(flag: bool) -> None:
    """The replays this process forks from now on are background work (``shared_cores``):
    a later design's diagnosis before the earlier designs it waits for are done."""
    global _background
    _background = flag


def end_background() -> None:
    """From now on background replays wait for a core like any other (``shared_cores``): the
    background pool is filled with more tokens than there will ever be replays waiting."""
    if _background_tokens:
        os.write(_background_tokens[1], b"t" * BACKGROUND_FLOOD)


def run_forked(jobs: Sequence[Callable[[], R]], parallel: int | None = None) -> list[R]:
    """Run each job in a child process forked from here; results in order."""
    global _tokens
    parallel = parallel or _parallel_limit or os.cpu_count() or 1
    results: list = [None] * len(jobs)
    running: dict[int, tuple[int, str]] = {}
    todo = list(enumerate(jobs))
    with tempfile.TemporaryDirectory(prefix="c071emu-replay-") as tmp:
        while todo or running:
            while todo and len(running) < parallel:
                index, job = todo.pop(0)
                path = os.path.join(tmp, f"{index}.pickle")
                taken = [pool for pool in ((_background_tokens if _background else None), _tokens) if pool]
                for pool in taken:
                    os.read(pool[0], 1)                        # waits for a free core
                pid = os.fork()
                if pid == 0:                                   # the replay
                    _tokens = None                             # its own replays (if any) run on its token
                    try:
                        payload = ("ok", job())
                    except BaseException as exc:               # noqa: BLE001 - reported to the parent
                        payload = ("error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}")
                    with open(path, "wb") as fh:
                        pickle.dump(payload, fh)
                    for pool in taken:
                        os.write(pool[1], b"t")
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


@dataclass
class Worker:
    """A forked process running ``body(connection)``; the parent sends it values and
    receives what it sends back (``("ok", value)``, or ``("error", text)`` if it raised)."""
    pid: int
    connection: Connection

    def send(self, value: Any) -> None:
        self.connection.send(value)

    def receive(self) -> Any:
        try:
            kind, value = self.connection.recv()
        except (EOFError, OSError):
            kind, value = "error", "the process ended without a result"
        if kind == "error":
            raise RuntimeError(f"worker {self.pid} failed: {value}")
        return value

    def end(self, kill: bool = False) -> None:
        """Reap the process once it has ended; ``kill``: end it now (an error elsewhere)."""
        self.connection.close()
        try:
            if kill:
                os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        except (ChildProcessError, ProcessLookupError):
            pass


def start_worker(body: Callable[[Connection], None], siblings: Sequence[Worker] = ()) -> Worker:
    """Fork a ``Worker``; ``body`` sends ``("ok", value)`` messages on its connection.  The
    child closes its copies of the ``siblings``' connections, so that each of them sees the
    end of its own pipe when the parent goes."""
    parent_end, child_end = Pipe()
    pid = os.fork()
    if pid == 0:
        parent_end.close()
        for other in siblings:
            other.connection.close()
        status = 0
        try:
            body(child_end)
        except BaseException as exc:                           # noqa: BLE001 - reported to the parent
            status = 1
            try:
                child_end.send(("error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))
            except OSError:
                pass
        os._exit(status)
    child_end.close()
    return Worker(pid, parent_end)
