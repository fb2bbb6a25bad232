"""A computation over columns split among forked processes, each writing its columns into shared memory.

For results too large to pickle back cheaply (the HPA replay's scrapes × columns arrays): the output arrays
are anonymous shared mappings, which forked children write their share of columns into and this process
keeps; the result is the one a single process gives.
"""

from __future__ import annotations

import gc
import itertools
import mmap
import multiprocessing as mp
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

Outputs = Mapping[str, tuple[int, Any]]
"""Each output array's row count and dtype; its columns are the computation's."""


def can_fork() -> bool:
    return "fork" in mp.get_all_start_methods()


def forked_columns(
    run: Callable[[int, int], Mapping[str, np.ndarray]], n_columns: int, workers: int, outputs: Outputs
) -> dict[str, np.ndarray]:
    """``run(start, stop)`` for ``workers`` contiguous shares of the columns, each in a forked process, joined
    into one array per output (``outputs``: rows and dtype, columns ``n_columns``). ``run`` returns its
    share's arrays by name. A worker that dies raises :class:`RuntimeError` with its exit code."""
    shared = {name: _shared((rows, n_columns), dtype) for name, (rows, dtype) in outputs.items()}
    bounds = np.linspace(0, n_columns, workers + 1).round().astype(int)

    def share(start: int, stop: int) -> None:
        # One BLAS thread per worker: OpenBLAS threads spin while they wait, and with a pool per worker
        # on as many cores as workers they starve each other.
        with threadpool_limits(limits=1, user_api="blas"):
            part = run(start, stop)
        for name in shared:
            shared[name][:, start:stop] = part[name]

    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=share, args=(int(a), int(b))) for a, b in itertools.pairwise(bounds)]
    # The children inherit this whole process; a garbage collection there would touch (and so copy)
    # every object of the analysis. Frozen objects are left alone.
    gc.freeze()
    try:
        for proc in procs:
            proc.start()
        for proc in procs:
            proc.join()
    finally:
        gc.unfreeze()
    failed = [proc.exitcode for proc in procs if proc.exitcode != 0]
    if failed:
        raise RuntimeError(f"a forked worker failed with exit code {failed[0]}")
    return shared


def _shared(shape: tuple[int, int], dtype: Any) -> np.ndarray:
    """A zeroed array in anonymous shared memory, which forked children write into and the parent keeps.

    The kernel zeroes its pages on first touch, so allocating it costs nothing up front.
    """
    count = shape[0] * shape[1]
    buffer = mmap.mmap(-1, max(1, count * np.dtype(dtype).itemsize))  # MAP_SHARED | MAP_ANONYMOUS
    return np.frombuffer(buffer, dtype=dtype, count=count).reshape(shape)
