"""A large analysis run a partition at a time, by this process and forked ones: the loop, its memory policy,
and the polling that hands idle forked processes their next partition."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

from analyzer.runtime.forked_map import ForkedMap
from analyzer.runtime.memory import freed_memory_kept

Result = TypeVar("Result")
Job = Callable[[int, Callable[[], None] | None], Any]
"""``job(i, poll)``: partition ``i``'s result (None: nothing to keep); ``poll`` is None in a forked
process, and in this one a call to make between the job's stages."""


def run_partitions(
    job: Job,
    count: int,
    processes: int,
    keep: Callable[[int, Any], None],
    then: Callable[[], Result],
    progress: Callable[[str, int, int], None] | None = None,
) -> Result:
    """``job`` for each of ``count`` partitions, the longest first as given, by this process and
    ``processes - 1`` forked ones (:class:`~analyzer.runtime.forked_map.ForkedMap`), memory freed meanwhile
    kept for reuse (:func:`~analyzer.runtime.memory.freed_memory_kept`); ``keep(i, result)`` as each result
    comes back (in no fixed order). Once every partition is done and the forked processes are gone,
    ``then()`` (the merge), still under the same memory policy; its value is returned. ``progress`` is told
    ``("partitions", done, count)``."""
    main = os.getpid()

    def run(i: int) -> Any:
        return job(i, pool.poll if os.getpid() == main else None)

    with freed_memory_kept(), ForkedMap[Any](run, range(count), processes) as pool:
        for done, (i, result) in enumerate(pool, start=1):
            if result is not None:
                keep(i, result)
            if progress is not None:
                progress("partitions", done, count)
        pool.close()
        return then()
