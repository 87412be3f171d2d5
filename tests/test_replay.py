"""Forked replays and the workers that share the cores (emulator/analysis/replay.py): the
token pool caps the replays at a time across processes, whatever the order they run in;
a worker's error reaches its parent as one RuntimeError."""
from __future__ import annotations

import fcntl
import mmap
import os
import struct
import time

import pytest

from emulator.analysis.replay import background, end_background, run_forked, shared_cores, start_worker


class Gauge:
    """Replays running now and the most seen at once, in memory every forked process shares
    (updated under a lock file that each process opens for itself)."""

    def __init__(self, lock: str) -> None:
        self.area = mmap.mmap(-1, 8)
        self.lock = lock

    def _add(self, delta: int) -> None:
        fd = os.open(self.lock, os.O_RDWR | os.O_CREAT)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            now, most = struct.unpack("<ii", self.area[:8])
            now += delta
            self.area[:8] = struct.pack("<ii", now, max(most, now))
        finally:
            os.close(fd)

    def job(self, index: int):
        def run() -> int:
            self._add(1)
            time.sleep(0.02)                  # long enough for the others to start if they may
            self._add(-1)
            return index * index
        return run

    @property
    def most(self) -> int:
        return struct.unpack("<ii", self.area[:8])[1]


def workers_forking_replays(gauge: Gauge, workers: int, jobs: int, level: int = 0) -> list[list[int]]:
    def body(connection) -> None:
        background(level)
        connection.send(("ok", run_forked([gauge.job(i) for i in range(jobs)], parallel=jobs)))
    started = [start_worker(body) for _ in range(workers)]
    try:
        return [w.receive() for w in started]
    finally:
        for w in started:
            w.end()


@pytest.mark.parametrize("cores", [1, 2])
def test_workers_never_run_more_replays_at_once_than_the_pool_has_cores(cores, tmp_path):
    gauge = Gauge(str(tmp_path / "lock"))
    with shared_cores(cores):
        results = workers_forking_replays(gauge, workers=3, jobs=3)
    assert results == [[0, 1, 4]] * 3                      # each worker's results in its order
    assert 1 <= gauge.most <= cores


def test_background_replays_still_run_and_share_the_same_cap(tmp_path):
    gauge = Gauge(str(tmp_path / "lock"))
    with shared_cores(1):
        assert workers_forking_replays(gauge, workers=2, jobs=2, level=2) == [[0, 1]] * 2
        end_background()
        assert workers_forking_replays(gauge, workers=2, jobs=2, level=3) == [[0, 1]] * 2
    assert gauge.most == 1


def test_a_worker_that_raises_reaches_its_parent_as_one_runtime_error():
    def body(connection) -> None:
        raise ValueError("no such design")
    w = start_worker(body)
    try:
        with pytest.raises(RuntimeError, match="ValueError: no such design"):
            w.receive()
    finally:
        w.end()


def test_a_failing_replay_gives_its_core_back():
    def fails() -> None:
        raise OSError("replay broke")
    with shared_cores(1):
        with pytest.raises(RuntimeError, match="replay broke"):
            run_forked([fails])
        assert run_forked([lambda: 7, lambda: 8]) == [7, 8]   # the one token came back
