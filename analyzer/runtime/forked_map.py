"""Jobs run by this process and forked ones at once, their results returned to this process as they finish.

A partitioned analysis is a loop of independent jobs, each single-threaded; on a machine with more than one
CPU, forked processes take jobs while this one works on another. The processes are forked once, before the
first job, so they inherit what this process holds then (read-only, shared until written) and nothing of
the jobs this process runs later; a job's result comes back pickled through a pipe.
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing as mp
from collections.abc import Callable, Iterator, Sequence
from multiprocessing.connection import Connection, wait
from typing import Any, Generic, TypeVar

from threadpoolctl import threadpool_limits

from analyzer.errors import WorkerFailed

Result = TypeVar("Result")


class ForkedMap(Generic[Result]):
    """``job(key)`` for every key of ``keys``, by this process and ``processes - 1`` forked ones.

    Iterate to get ``(key, result)`` pairs as jobs finish (in no fixed order); keys are handed out in the
    order given, so put the longest first. A job's exception is raised in this process when its result is
    due. Call :meth:`poll` from inside a long job this process runs: it hands the next keys to forked
    processes that fell idle meanwhile. Use as a context manager: the processes end with it.
    """

    def __init__(self, job: Callable[[Any], Result], keys: Sequence[Any], processes: int) -> None:
        self._todo = list(keys)
        self._done: list[tuple[Any, Result]] = []
        self._busy: dict[_Child, Any] = {}
        forks = min(processes, len(self._todo)) - 1 if "fork" in mp.get_all_start_methods() else 0
        self._children = _fork(job, forks) if forks > 0 else []
        self._job = job
        # One BLAS thread per process: each process is one job's CPU, and idle BLAS threads spin.
        self._limits = threadpool_limits(limits=1, user_api="blas") if self._children else None

    def __enter__(self) -> ForkedMap[Result]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for child in self._children:
            child.close()
        self._children, self._busy = [], {}
        if self._limits is not None:
            self._limits.restore_original_limits()
            self._limits = None

    def __iter__(self) -> Iterator[tuple[Any, Result]]:
        while self._todo or self._busy or self._done:
            self.poll()
            if self._done:
                yield self._done.pop(0)
            elif self._todo:
                key = self._todo.pop(0)
                yield key, self._job(key)
            else:
                self._collect(block=True)

    def poll(self) -> None:
        """Collect what forked processes finished and give each idle one the next key, without waiting."""
        if not self._children:
            return
        self._collect(block=False)
        for child in self._children:
            if child not in self._busy and self._todo:
                key = self._todo.pop(0)
                child.send(key)
                self._busy[child] = key

    def _collect(self, block: bool) -> None:
        ready = wait([c.conn for c in self._busy], timeout=None if block else 0)
        for child in [c for c in self._busy if c.conn in ready]:
            self._done.append((self._busy.pop(child), child.receive()))


class _Child:
    """One forked process serving jobs: it receives a key and sends back ("ok", result) or ("error", exc)."""

    def __init__(self, job: Callable[[Any], Any]) -> None:
        ctx = mp.get_context("fork")
        self.conn, theirs = ctx.Pipe()
        self._proc = ctx.Process(target=_serve, args=(theirs, job), daemon=True)
        self._proc.start()
        theirs.close()

    def send(self, key: Any) -> None:
        self.conn.send(key)

    def receive(self) -> Any:
        try:
            status, value = self.conn.recv()
        except (EOFError, OSError):
            self._proc.join(timeout=5)
            raise WorkerFailed(
                f"a forked process analysing partitions died (exit code {self._proc.exitcode}: killed, out of "
                "memory?); --processes 1 runs in one process"
            ) from None
        if status == "error":
            raise value
        return value

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.conn.send(None)
        self.conn.close()
        self._proc.join(timeout=5)
        if self._proc.is_alive():
            self._proc.kill()
            self._proc.join()


def _fork(job: Callable[[Any], Any], count: int) -> list[_Child]:
    # A collection in a child would touch (and so copy) every object it inherits; frozen ones are skipped.
    gc.freeze()
    try:
        return [_Child(job) for _ in range(count)]
    finally:
        gc.unfreeze()


def _serve(conn: Connection, job: Callable[[Any], Any]) -> None:
    with threadpool_limits(limits=1, user_api="blas"):
        while True:
            try:
                key = conn.recv()
            except (EOFError, OSError):
                return
            if key is None:
                return
            try:
                result: tuple[str, Any] = ("ok", job(key))
            except Exception as exc:  # raised in the parent, where the result was due
                result = ("error", exc)
            try:
                conn.send(result)
            except Exception as exc:  # a result or exception that does not pickle: its words go instead
                what = result[1] if result[0] == "error" else exc
                conn.send(("error", RuntimeError(f"{type(what).__name__}: {what}")))
