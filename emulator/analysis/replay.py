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

import ctypes
import gc
import mmap
import os
import pickle
import select
import signal
import tempfile
import time
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
_background_on: Optional[mmap.mmap] = None     # one shared byte: 1 while background work yields
_background = 0                                # 0: foreground; 1-3: background, the higher the later
_held = False                                  # this process holds a token for its own work
BACKGROUND_POLL_S = (0.0, 0.003, 0.006, 0.02)  # how often each level looks for a free core


@contextmanager
def shared_cores(cores: int) -> Iterator[None]:
    """While active, every replay forked from this process or from a ``Worker`` started here
    holds one of ``cores`` tokens while it runs: however many diagnoses fork replays at
    once, at most ``cores`` replays run.  A replay forked in the background (``background``)
    takes a token only when no other replay waits for one, until ``end_background``."""
    global _tokens, _background_on
    read_end, write_end = os.pipe()
    os.write(write_end, b"t" * cores)
    flag = mmap.mmap(-1, 1)                    # anonymous and shared: the workers see it change
    flag[0] = 1
    previous = _tokens, _background_on
    _tokens, _background_on = (read_end, write_end), flag
    try:
        yield
    finally:
        _tokens, _background_on = previous
        os.close(read_end)
        os.close(write_end)
        flag.close()


def background(level: int) -> None:
    """The replays this process forks from now on are foreground work (0) or background work
    of level 1 to 3, a higher level yielding to a lower one (``shared_cores``)."""
    global _background
    _background = level


def end_background() -> None:
    """From now on background replays wait for a core like any other (``shared_cores``)."""
    if _background_on is not None:
        _background_on[0] = 0


def hold_core() -> None:
    """Take a core (``shared_cores``) for the work this process does before it forks its first
    replay, which then runs on it; ``release_core`` gives it back if no replay came."""
    global _held
    if _tokens and not _held:
        _take_token(_tokens[0])
        _held = True


def release_core() -> None:
    """Give back the core ``hold_core`` took, if no replay has taken it over."""
    global _held
    if _tokens and _held:
        os.write(_tokens[1], b"t")
        _held = False


def _take_token(read_end: int) -> None:
    """Wait for a free core.  A waiting foreground replay is blocked in ``read`` and wakes as
    soon as a token comes back; a background one only looks now and then (the less often
    the higher its level), so it gets a token only when none of them is waiting."""
    if _background and _background_on is not None:
        while _background_on[0]:
            if select.select([read_end], [], [], 0)[0]:
                break                              # (if taken meanwhile, the read below waits)
            time.sleep(BACKGROUND_POLL_S[_background])
    os.read(read_end, 1)


@contextmanager
def _ctrl_c_held() -> Iterator[None]:
    """Hold off SIGINT while a child is forked and its parent records it: a Ctrl-C that came
    in between would find the child still with Python's handler (and raise in the parent's
    code there), or the parent not yet knowing the child it must end.  A forked child ignores
    it before letting it through (``_bind_to_parent``)."""
    try:
        held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    except (AttributeError, OSError):
        held = None
    try:
        yield
    finally:
        if held is not None and signal.SIGINT not in held:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def _fork() -> int:
    """os.fork, with everything the parent holds frozen for the child's garbage collector: a
    child that collects would otherwise walk (and so copy) the whole inherited heap - the
    machine, its images, snapshots - to find none of it garbage (Python's gc.freeze).  The
    child leaves Ctrl-C to its parent and ends with it (``_bind_to_parent``); call it with
    Ctrl-C held (``_ctrl_c_held``)."""
    gc.freeze()
    parent = os.getpid()
    pid = os.fork()
    if pid:
        gc.unfreeze()                  # the parent's own garbage stays collectable
    else:
        _bind_to_parent(parent)
    return pid


PR_SET_PDEATHSIG = 1                   # prctl(2), Linux


def _bind_to_parent(parent: int) -> None:
    """Ctrl-C reaches the whole process group: only the parent acts on it, and its children
    end when it does (Linux's parent-death signal), so an interrupted diagnosis leaves no
    replay running behind it, writing into a directory already gone."""
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})     # held by the parent over the fork
    except (ValueError, AttributeError, OSError):   # the parent-death signal still ends it
        pass
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):       # not Linux: the parent's own clean-up has to do
        pass
    if os.getppid() != parent:              # the parent ended before the signal was asked for
        os._exit(1)


def _run_child(job: Callable[[], Any], path: str, token_fd: Optional[int]) -> None:
    """The forked child's whole life: run ``job``, leave its outcome at ``path``, give back
    the core token it ran on (``shared_cores``), and end here whatever happens - an
    exception must never carry the child back into the parent's code."""
    status = 0
    try:
        try:
            payload = ("ok", job())
        except BaseException as exc:               # noqa: BLE001 - reported to the parent
            payload = ("error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}")
        with open(path, "wb") as fh:
            pickle.dump(payload, fh)
    except BaseException:                          # noqa: BLE001 - the parent is gone or its directory is
        status = 1
    finally:
        try:
            if token_fd is not None:
                os.write(token_fd, b"t")
        finally:
            os._exit(status)


def run_forked(jobs: Sequence[Callable[[], R]], parallel: int | None = None) -> list[R]:
    """Run each job in a child process forked from here; results in order."""
    global _tokens, _held
    parallel = parallel or _parallel_limit or os.cpu_count() or 1
    results: list = [None] * len(jobs)
    running: dict[int, tuple[int, str]] = {}
    todo = list(enumerate(jobs))
    tokens = _tokens
    with tempfile.TemporaryDirectory(prefix="c071emu-replay-") as tmp:
        try:
            while todo or running:
                while todo and len(running) < parallel:
                    index, job = todo.pop(0)
                    path = os.path.join(tmp, f"{index}.pickle")
                    if tokens and _held:
                        _held = False                          # the replay runs on the token held so far
                    elif tokens:
                        _take_token(tokens[0])
                    with _ctrl_c_held():
                        pid = _fork()
                        if pid == 0:                           # the replay
                            _tokens = None                     # its own replays (if any) run on its token
                            _run_child(job, path, tokens[1] if tokens else None)
                        running[pid] = (index, path)
                pid, status = os.wait()
                index, path = running.pop(pid)
                _token_of_killed(status, tokens)
                try:
                    with open(path, "rb") as fh:
                        kind, value = pickle.load(fh)
                except (OSError, EOFError, pickle.UnpicklingError):
                    kind, value = "error", f"replay process ended with status {status} and no result"
                if kind == "error":
                    raise RuntimeError(f"replay {index} failed: {value}")
                results[index] = value
        except BaseException:
            # Ctrl-C, or a replay that failed: the others' results are of no use now
            _end_children(running, tokens)
            raise
    return results


def _end_children(running: dict, tokens: Optional[tuple[int, int]]) -> None:
    for pid in list(running):
        try:
            os.kill(pid, signal.SIGKILL)
            _, status = os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            continue
        _token_of_killed(status, tokens)
    running.clear()


def _token_of_killed(status: int, tokens: Optional[tuple[int, int]]) -> None:
    """A replay that was killed could not give back its core token: give it back for it."""
    if os.WIFSIGNALED(status) and tokens:
        os.write(tokens[1], b"t")


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
    with _ctrl_c_held():
        pid = _fork()
    if pid == 0:
        parent_end.close()
        for other in siblings:
            other.connection.close()
        status = 1
        try:                                                   # as _run_child: the worker ends here
            try:
                body(child_end)
                status = 0
            except BaseException as exc:                       # noqa: BLE001 - reported to the parent
                try:
                    child_end.send(("error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))
                except OSError:
                    pass
        finally:
            os._exit(status)
    child_end.close()
    return Worker(pid, parent_end)
