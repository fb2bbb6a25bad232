"""Independent calls shared between this process and forked ones, their results returned in order.

For work whose inputs are large and read-only (a report's figures read the whole analysis): forked
processes inherit them instead of receiving a copy, and only the results travel back.
"""

from __future__ import annotations

import gc
import multiprocessing as mp
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")


def forked_calls(calls: Sequence[Callable[[], T]], workers: int = 1) -> list[T]:
    """Each call's result, in order; with ``workers`` > 1 (and ``fork``) this process makes a share of the
    calls and ``workers`` - 1 forked processes, which inherit the calls and what they read, the rest (one
    fewer copy of what they touch than a pool of ``workers``)."""
    workers = min(workers, len(calls))
    if workers < 2 or "fork" not in mp.get_all_start_methods():
        return [call() for call in calls]
    global _INHERITED
    _INHERITED = calls
    mine = range(0, len(calls), workers)
    theirs = [i for i in range(len(calls)) if i % workers]
    results: list[Any] = [None] * len(calls)
    # A collection in a child would touch (and so copy) every object it inherits; frozen ones are skipped.
    gc.freeze()
    try:
        with mp.get_context("fork").Pool(workers - 1) as pool:
            done = pool.map_async(_call, theirs, chunksize=1)
            for i in mine:
                results[i] = _call(i)
            for i, result in zip(theirs, done.get(), strict=True):
                results[i] = result
    finally:
        gc.unfreeze()
        _INHERITED = ()
    return results


_INHERITED: Sequence[Callable[[], Any]] = ()
"""The calls the forked processes of :func:`forked_calls` make (set before they are forked)."""


def _call(index: int) -> Any:
    return _INHERITED[index]()
