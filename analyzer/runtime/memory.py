"""Freed memory: kept for reuse while a large run's partitions are analysed, handed back before its merge;
handed back at once while a collection streams.

Kept, because a page handed back is faulted in again when next used (:func:`freed_memory_kept`); handed
back, because what a process holds and no longer uses after its partitions is what an OOM killer counts,
and the merge needs its own (figures: benchmarks/README.md).
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pyarrow as pa


def _glibc(name: str) -> Callable[..., int] | None:
    try:
        return getattr(ctypes.CDLL(None), name)  # type: ignore[no-any-return]
    except (OSError, AttributeError):  # not glibc: nothing to trim or tune
        return None


_TRIM = _glibc("malloc_trim")
_MALLOPT = _glibc("mallopt")
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_MMAP_MAX = -1, -3, -4
DEFAULT_TRIM_THRESHOLD, DEFAULT_MMAP_MAX = 128 * 1024, 65536
RETURNED_ABOVE = 4 << 20
"""Blocks from this size up are mapped on their own while :func:`freed_memory_returned` lasts."""


def release_free_memory() -> None:
    """Return freed pages to the OS: Arrow's memory pool's, and (on glibc) the C heap's."""
    pa.default_memory_pool().release_unused()
    if _TRIM is not None:
        _TRIM(0)


@contextmanager
def freed_memory_kept() -> Iterator[None]:
    """glibc keeps what is freed inside the block for reuse: every block comes from its heap (none from a
    mapping of its own, unmapped when freed) and the heap is not trimmed; the defaults come back after.

    A freed page handed back to the OS is faulted in again, zeroed, when next used, and a partition's numpy
    arrays, tens of MB each, are made and freed by the hundred (benchmarks/README.md has the cost). Forked
    processes inherit the setting. The process keeps its largest partition's memory while it lasts;
    :func:`release_free_memory` still hands it back. After the block, glibc's default values are set again,
    not whatever the process had before (glibc cannot be asked); its self-raising mmap threshold then
    stays where it had risen.
    """
    if _MALLOPT is None:
        yield
        return
    _MALLOPT(M_MMAP_MAX, 0)
    _MALLOPT(M_TRIM_THRESHOLD, 2**31 - 1)
    try:
        yield
    finally:
        _MALLOPT(M_MMAP_MAX, DEFAULT_MMAP_MAX)
        _MALLOPT(M_TRIM_THRESHOLD, DEFAULT_TRIM_THRESHOLD)


@contextmanager
def freed_memory_returned() -> Iterator[None]:
    """Every block of :data:`RETURNED_ABOVE` or more is handed back to the OS as soon as it is freed, Arrow's
    included (it allocates from the C heap inside the block), so the process's size is what it holds now.

    For a stream that makes and frees the same tens of MB by the hundred on several threads (collection):
    glibc's default raises its mmap threshold as large blocks are freed, after which each thread's arena keeps
    its high-water mark, and Arrow's mimalloc keeps freed pages when the command line asked it to. A fixed
    threshold costs page faults, which a stream waiting on the network can afford. The previous pool and
    glibc's default threshold (self-raising) are not restored exactly: glibc cannot be asked for it; the
    default trim and mapping limits are set again after the block.
    """
    pool = pa.default_memory_pool()
    pa.set_memory_pool(pa.system_memory_pool())
    if _MALLOPT is not None:
        _MALLOPT(M_MMAP_THRESHOLD, RETURNED_ABOVE)
    try:
        yield
    finally:
        pa.set_memory_pool(pool)
        if _MALLOPT is not None:
            _MALLOPT(M_MMAP_MAX, DEFAULT_MMAP_MAX)
            _MALLOPT(M_TRIM_THRESHOLD, DEFAULT_TRIM_THRESHOLD)
