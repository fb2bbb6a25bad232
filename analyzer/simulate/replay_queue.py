"""HPA replays in a background process while the caller prepares the next partition.

A partitioned analysis is single-threaded while it loads and prepares a partition, and a replay's cost is
mostly per sync (a week holds 40,320), so replaying each partition as soon as it is ready, on another CPU,
hides the replay behind the preparation instead of adding it at the end. Whatever is queued when the
background process falls idle goes as one batch (up to a column budget), so a slow replay catches up by
batching more. At the end the caller's process replays what is left alongside it.

The background process is forked when the queue is made, before the caller loads anything, so it shares
none of the partitions' memory; batches and results pass through a pipe.
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing as mp
from multiprocessing.connection import Connection
from typing import Generic, TypeVar

from threadpoolctl import threadpool_limits

from analyzer.simulate.counterfactual import PendingReplay, ReplayBatch, Replayed, batch, split
from analyzer.simulate.hpa_behavior import ControllerFlags
from analyzer.simulate.hpa_replay import available_cpus
from analyzer.simulate.kube_version import KubeVersion

Key = TypeVar("Key")


class ReplayQueue(Generic[Key]):
    """Replays queued partitions' HPA columns; :meth:`put` and :meth:`drain` return finished ones.

    ``background``: replay in a forked process while the caller works (default: when more than one CPU is
    available and ``fork`` exists). Without it, queued columns are replayed in this process once they
    reach ``columns`` (and at :meth:`drain`), on every CPU. Results are the same either way: each column
    replays independently of the others. Use as a context manager so the process ends with the run.
    """

    def __init__(
        self, version: KubeVersion, flags: ControllerFlags, columns: int, background: bool | None = None
    ) -> None:
        self.version, self.flags, self.columns = version, flags, max(1, columns)
        if background is None:
            background = available_cpus() > 1
        self._queued: list[tuple[Key, PendingReplay]] = []
        self._running: list[tuple[Key, PendingReplay]] = []
        self._ready: list[tuple[Key, Replayed]] = []  # finished, not returned yet
        self._last_held = False  # the last partition is queued: kept for drain to split
        self._worker: _Worker | None = _Worker(flags, version) if background and _can_fork() else None

    def __enter__(self) -> ReplayQueue[Key]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._worker is not None:
            self._worker.close()
            self._worker = None

    def put(self, key: Key, pending: PendingReplay, last: bool = False) -> list[tuple[Key, Replayed]]:
        """Queue a partition's replay; returns the partitions whose replays have finished meanwhile.
        ``last``: no partition follows, so it waits for :meth:`drain` to split it between the processes."""
        self._queued.append((key, pending))
        self._last_held = last
        if self._worker is None:
            if sum(len(p.columns) for _, p in self._queued) < self.columns:
                return []
            return self._replay_here(self._take_queued(), workers=available_cpus())
        done = self._collect(wait=False)
        if not self._running and not last:
            self._send(self._take_queued())
        return done

    def poll(self) -> None:
        """Collect a finished background batch and start the next on what is queued, without waiting: called
        between the stages of preparing a partition, so the background process never waits for the next
        :meth:`put` to be given work. What it collects, the next :meth:`put` or :meth:`drain` returns."""
        if self._worker is None:
            return
        self._ready = self._collect(wait=False)
        if not self._running and self._queued and not self._last_held:
            self._send(self._take_queued())

    def drain(self) -> list[tuple[Key, Replayed]]:
        """Replay everything queued and return every result not returned yet."""
        if self._worker is None:
            done: list[tuple[Key, Replayed]] = []
            while self._queued:
                done += self._replay_here(self._take_queued(), workers=available_cpus())
            return done
        done = self._collect(wait=False)
        with threadpool_limits(limits=1, user_api="blas"):  # the background process has the other CPU
            done += self._drain_beside_worker()
        return done + self._collect(wait=True)

    def _drain_beside_worker(self) -> list[tuple[Key, Replayed]]:
        assert self._worker is not None
        done: list[tuple[Key, Replayed]] = []
        while self._queued:
            items = self._take_queued()
            joined = batch([p for _, p in items])
            if self._running or joined is None or joined.columns.n < 2:
                done += self._replay_here(items, workers=1)  # alongside the background's batch
                continue
            # Nothing in the background: the two processes take half the columns each.
            half = joined.columns.n // 2
            self._worker.send(joined.take(half, joined.columns.n))
            mine = joined.take(0, half).replay(self.version, self.flags)
            theirs = self._worker.receive()
            done += list(zip([k for k, _ in items], split(Replayed.concat([mine, theirs]), [p for _, p in items]),
                             strict=True))  # fmt: skip
        return done

    def _take_queued(self) -> list[tuple[Key, PendingReplay]]:
        """The oldest queued partitions, as many as the column budget holds (at least one)."""
        taken, width = 0, 0
        for _, pending in self._queued:
            if taken and width + len(pending.columns) > self.columns:
                break
            taken, width = taken + 1, width + len(pending.columns)
        items, self._queued = self._queued[:taken], self._queued[taken:]
        return items

    def _replay_here(self, items: list[tuple[Key, PendingReplay]], workers: int) -> list[tuple[Key, Replayed]]:
        pending = [p for _, p in items]
        joined = batch(pending)
        result = None if joined is None else joined.replay(self.version, self.flags, workers)
        return list(zip([k for k, _ in items], split(result, pending), strict=True))

    def _send(self, items: list[tuple[Key, PendingReplay]]) -> None:
        joined = batch([p for _, p in items])
        if joined is None:  # no HPA columns: nothing to replay
            self._ready += list(zip([k for k, _ in items], split(None, [p for _, p in items]), strict=True))
            return
        assert self._worker is not None
        self._worker.send(joined)
        self._running = items

    def _collect(self, wait: bool) -> list[tuple[Key, Replayed]]:
        done, self._ready = self._ready, []
        if self._running and self._worker is not None and (wait or self._worker.ready()):
            items, self._running = self._running, []
            result = self._worker.receive()
            done += list(zip([k for k, _ in items], split(result, [p for _, p in items]), strict=True))
        return done


class _Worker:
    """A forked process that replays each batch it is sent and sends back the result."""

    def __init__(self, flags: ControllerFlags, version: KubeVersion) -> None:
        self._conn, child = mp.get_context("fork").Pipe()
        # A collection in the child would touch (and so copy) every object it inherits; frozen ones are skipped.
        gc.freeze()
        try:
            self._proc = mp.get_context("fork").Process(target=_serve, args=(child, flags, version), daemon=True)
            self._proc.start()
        finally:
            gc.unfreeze()
        child.close()

    def send(self, job: ReplayBatch) -> None:
        self._conn.send(job)

    def ready(self) -> bool:
        return self._conn.poll()

    def receive(self) -> Replayed:
        try:
            status, value = self._conn.recv()
        except (EOFError, OSError):
            self._proc.join(timeout=5)
            raise RuntimeError(f"HPA replay worker failed with exit code {self._proc.exitcode}") from None
        if status != "ok":
            raise RuntimeError(f"HPA replay worker failed: {value}")
        return value

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._conn.send(None)
        self._conn.close()
        self._proc.join(timeout=5)
        if self._proc.is_alive():
            self._proc.kill()
            self._proc.join()


def _serve(conn: Connection, flags: ControllerFlags, version: KubeVersion) -> None:
    # One BLAS thread: the caller's process works on the other CPU (see hpa_replay._replay_forked).
    with threadpool_limits(limits=1, user_api="blas"):
        while True:
            try:
                job = conn.recv()
            except (EOFError, OSError):
                return
            if job is None:
                return
            try:
                conn.send(("ok", job.replay(version, flags)))
            except Exception as exc:  # reported to the caller, which raises it
                conn.send(("error", f"{type(exc).__name__}: {exc}"))


def _can_fork() -> bool:
    return "fork" in mp.get_all_start_methods()
