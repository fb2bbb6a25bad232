"""Arrow's allocator keeps the pages it frees for reuse instead of handing them back to the OS at once.

Arrow allocates through mimalloc, which by default returns freed pages to the OS after a short delay; the
next allocation faults them in again, zeroed, and a partitioned analysis reads, frees and reads again a
partition's worth of Arrow memory many times (figures: benchmarks/README.md). mimalloc reads its options
once, when pyarrow's library loads, so the policy must be set before that: the command line does it first
thing; a notebook that wants it calls :func:`keep_arrow_pages` before importing pandas or pyarrow.
"""

from __future__ import annotations

import os
import sys

PURGE_DELAY = "MIMALLOC_PURGE_DELAY"


def keep_arrow_pages() -> bool:
    """Load pyarrow with ``MIMALLOC_PURGE_DELAY=-1`` (keep freed pages) set for that load only, so child
    processes see the environment as it was. Does nothing, and says so (False), when pyarrow is already
    loaded or the variable is set (the user's value wins)."""
    if "pyarrow" in sys.modules or PURGE_DELAY in os.environ:
        return False
    os.environ[PURGE_DELAY] = "-1"
    try:
        import pyarrow  # noqa: F401  (its library reads mimalloc's options as it loads)
    finally:
        del os.environ[PURGE_DELAY]
    return True
