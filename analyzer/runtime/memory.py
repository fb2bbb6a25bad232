"""Freed memory: kept for reuse while a large run's partitions are analysed, handed back before its merge.

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
M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4
DEFAULT_TRIM_THRESHOLD, DEFAULT_MMAP_MAX = 128 * 1024, 65536


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
