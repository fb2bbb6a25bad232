"""Arrow's allocator keeps the pages it frees for reuse instead of handing them back to the OS at once.

Arrow allocates through mimalloc, which by default returns freed pages to the OS after a short delay; the
next allocation faults them in again, zeroed. On the 2-core VMs the benchmarks run on a fault costs about 10 µs,
and a partitioned analysis reads, frees and reads again a partition's worth of Arrow memory a dozen times:
with the glibc settings of :func:`analyzer.memory.freed_memory_kept`, a 1,000-workload week went from
1.64 M page faults and 26 s of system time to 0.33 M and 5 s (wall 89 -> 67 s), its peak from 1.78 to 2.2
GiB (each process holds its largest partition's memory to the end). mimalloc reads its options once, when
pyarrow's library loads: importing this module before pyarrow sets ``MIMALLOC_PURGE_DELAY=-1`` (keep) for
that load only, so child processes see the environment as it was. It does nothing when pyarrow is already
loaded or the variable is set (the user's value wins).
"""

from __future__ import annotations

import os
import sys

PURGE_DELAY = "MIMALLOC_PURGE_DELAY"


def _load_pyarrow_keeping_pages() -> None:
    if "pyarrow" in sys.modules or PURGE_DELAY in os.environ:
        return
    os.environ[PURGE_DELAY] = "-1"
    try:
        import pyarrow  # noqa: F401  (its library reads mimalloc's options as it loads)
    finally:
        del os.environ[PURGE_DELAY]


_load_pyarrow_keeping_pages()
