"""``c071emu sweep --engine dask``: the matrix's cells as Dask futures.

Imported only when that engine is asked for.  Each cell's plain-dict description goes to
a worker, which imports :func:`emulator.sweep.run_cell_on_one_core` and builds its own machine; the
plain-dict result comes back.  So every worker needs c071emu installed and the images
(and the bootloader) at the same absolute paths as on the submitting machine - a shared
checkout or file system.

``--scheduler tcp://HOST:8786`` uses a running cluster (``dask scheduler`` and
``dask worker tcp://HOST:8786``); without it a ``LocalCluster`` of ``--jobs`` single-threaded
worker processes is started for the run and closed after it.
"""
from __future__ import annotations

import logging
import uuid
from typing import Optional

from .sweep import Progress, SweepError, blank_result, run_cell_on_one_core


def run_dask(cells: list[dict], scheduler: Optional[str], jobs: int, progress: Progress) -> list[dict]:
    try:
        from dask.distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise SweepError("--engine dask needs dask.distributed: pip install 'dask[distributed]'") from None
    cluster = None
    try:
        if scheduler:
            try:
                client = Client(scheduler, timeout="10s")
            except (OSError, TimeoutError, ValueError) as exc:
                raise SweepError(f"--scheduler {scheduler}: cannot reach a Dask scheduler there ({exc})") from None
        else:
            cluster = LocalCluster(n_workers=min(jobs, len(cells)), threads_per_worker=1, processes=True,
                                   dashboard_address=None, silence_logs=logging.ERROR)
            client = Client(cluster)
    except BaseException:
        if cluster is not None:
            cluster.close()
        raise
    results: list[Optional[dict]] = [None] * len(cells)
    futures = []
    run_id = uuid.uuid4().hex[:12]                     # keys unique on a scheduler shared with other sweeps
    try:
        futures = client.map(run_cell_on_one_core, cells, key=[f"c071emu-sweep-{run_id}-cell-{c['index']}" for c in cells],
                             pure=False)
        index_of = {f.key: c["index"] for f, c in zip(futures, cells)}
        progress.start()
        for future in as_completed(futures):
            index = index_of[future.key]
            try:
                result = future.result()
            except Exception as exc:                   # noqa: BLE001 - a lost worker: the cell's error
                result = blank_result(index, error=f"dask: {type(exc).__name__}: {exc}")
            results[index] = result
            progress.cell_done(cells[index], result)
    finally:
        if futures:
            client.cancel(futures)
        client.close()
        if cluster is not None:
            cluster.close()
    return results
