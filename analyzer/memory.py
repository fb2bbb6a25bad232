"""Freed memory handed back to the operating system between the partitions of a large run.

glibc keeps the blocks of freed numpy arrays below its (self-raising) mmap threshold on its heap for
reuse; over a partitioned run that is most of the difference between what the process holds and what it
uses (0.7 GiB after the 1,000-workload benchmark's analysis), and it is what an OOM killer counts.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable

import pyarrow as pa


def _malloc_trim() -> Callable[[int], int] | None:
    try:
        return ctypes.CDLL(None).malloc_trim  # type: ignore[no-any-return]
    except (OSError, AttributeError):  # not glibc: nothing to trim
        return None


_TRIM = _malloc_trim()


def release_free_memory() -> None:
    """Return freed pages to the OS: Arrow's memory pool's, and (on glibc) the C heap's."""
    pa.default_memory_pool().release_unused()
    if _TRIM is not None:
        _TRIM(0)
