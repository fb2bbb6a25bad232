"""Calls each in a fresh process, results returned in order: for jobs that should share nothing, not even
the memory a previous one left (the generator's batches)."""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")


def isolated_map(function: Callable[[Any], T], items: Iterable[Any], workers: int, preload: str) -> Iterator[T]:
    """``function(item)`` for each item in order, ``workers`` at a time, each in a fresh process started by a
    fork server that has imported ``preload`` (the module ``function`` lives in). With one worker, or no
    fork server, in this process.

    Forked by a server that does nothing else: a pool starts each replacement from a thread of its own,
    and a fork of this process then, while its main thread holds a lock (Arrow's, appending a batch),
    could copy the held lock and hang the job.
    """
    items = list(items)
    if workers < 2 or len(items) < 2 or "forkserver" not in mp.get_all_start_methods():
        yield from map(function, items)
        return
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload([preload])
    with ctx.Pool(min(workers, len(items)), maxtasksperchild=1) as pool:
        yield from pool.imap(function, items)
