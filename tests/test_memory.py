"""Freed memory kept for reuse: by glibc inside :func:`~analyzer.runtime.memory.freed_memory_kept`, by
Arrow's allocator in the command's process (:func:`~analyzer.runtime.allocator.keep_arrow_pages`), never
by merely importing :mod:`analyzer`. Measured by what they are for: page faults on reuse."""

from __future__ import annotations

import ctypes
import os
import resource
import subprocess
import sys
from subprocess import PIPE

import pytest

from analyzer.runtime.memory import freed_memory_kept, release_free_memory

BLOCK = 48 * 2**20  # above glibc's largest mmap threshold (32 MiB): mapped and unmapped by default
LIBC = ctypes.CDLL(None)
LIBC.malloc.restype = ctypes.c_void_p
LIBC.free.argtypes = [ctypes.c_void_p]


def written_block() -> int:
    """Minor page faults of allocating ``BLOCK`` with malloc and writing it (no huge pages: numpy would
    ask for them, and a huge page is one fault)."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    block = LIBC.malloc(BLOCK)
    ctypes.memset(block, 1, BLOCK)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    LIBC.free(block)
    return after - before


@pytest.mark.skipif(not hasattr(LIBC, "mallopt"), reason="glibc only")
def test_glibc_reuses_freed_blocks_inside_and_hands_them_back_after() -> None:
    pages = BLOCK // resource.getpagesize()
    with freed_memory_kept():
        written_block()  # the heap grows to hold it once
        kept = written_block()
    release_free_memory()
    handed_back = written_block()
    again = written_block()
    assert kept < pages // 10, kept
    assert handed_back > pages // 2, handed_back
    assert again > pages // 2, again  # the default is back: a block this large is a mapping of its own


ARROW_LOOP = r"""
import resource, sys, time
__import__(sys.argv[1])  # the package alone, or the command line's module
import analyzer, numpy as np, pyarrow as pa
analyzer.load_snapshot  # the API loaded too
assert pa.default_memory_pool().backend_name == "mimalloc", pa.default_memory_pool().backend_name
import os; print(os.environ.get("MIMALLOC_PURGE_DELAY", "unset"))
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):  # a second or so: mimalloc hands freed pages back once they have been free a while
    blocks = [pa.allocate_buffer(10**6) for _ in range(200)]
    for b in blocks:
        np.frombuffer(b, dtype=np.uint8)[:] = 1
    del blocks
    time.sleep(0.05)
    [pa.allocate_buffer(1024) for _ in range(100)]
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def arrow_faults(*runs_of: tuple[str, dict[str, str]]) -> list[tuple[str, int]]:
    """For each ``(module, environment)``: what ``MIMALLOC_PURGE_DELAY`` a process importing ``module`` first
    with it sees, and the page faults of its allocating loop; the processes run at once."""
    base = {k: v for k, v in os.environ.items() if k != "MIMALLOC_PURGE_DELAY"}
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", ARROW_LOOP, module], env={**base, **env}, stdout=PIPE, stderr=PIPE, text=True
        )
        for module, env in runs_of
    ]
    found = []
    for run in runs:
        out, err = run.communicate()
        if "AssertionError" in err and "mimalloc" in err:
            pytest.skip("Arrow's default pool is not mimalloc here")
        assert run.returncode == 0, err
        seen, faults = out.split()
        found.append((seen, int(faults)))
    return found


def test_the_command_keeps_arrows_freed_pages_and_importing_the_package_changes_nothing() -> None:
    (seen, kept), (user, purged), (_, plain) = arrow_faults(
        ("analyzer.cli", {}), ("analyzer.cli", {"MIMALLOC_PURGE_DELAY": "10"}), ("analyzer", {})
    )
    assert seen == "unset"  # set for pyarrow's load only: children see the environment as it was
    assert user == "10"  # the user's value wins
    # 4 GB of 1 MB blocks churned: about a hundred faults kept, thousands at mimalloc's default or 10 ms
    assert kept < 1000, kept
    assert purged > 10 * kept, (kept, purged)
    assert plain > 10 * kept, (kept, plain)  # a notebook's import leaves Arrow at its defaults
