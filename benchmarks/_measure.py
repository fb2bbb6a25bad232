"""Measuring a process tree on Linux: peak PSS of this process and of its descendants (the HPA replay's
forked workers share the parent's pages, which RSS would count twice), and CPU time per phase."""

from __future__ import annotations

import os
import resource
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

GIB = 2**30


def _pss_bytes(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry.name}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def _descendants(root: int) -> list[int]:
    tree, out, todo = _children(), [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo += tree.get(pid, [])
    return out


@dataclass
class PeakPss:
    """Samples every ``interval_s``: PSS of ``pid`` alone and of ``pid`` with every descendant."""

    pid: int = field(default_factory=os.getpid)
    interval_s: float = 0.2
    main: int = 0
    tree: int = 0
    tree_at_s: float = 0.0
    """When the tree's peak was seen, in seconds since :meth:`watching` began."""
    processes_at_peak: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)

    def _run(self) -> None:
        start = time.monotonic()
        while not self._stop.is_set():
            pids = _descendants(self.pid)
            sizes = {p: _pss_bytes(p) for p in pids}
            self.main = max(self.main, sizes.get(self.pid, 0))
            total = sum(sizes.values())
            if total > self.tree:
                self.tree, self.tree_at_s = total, time.monotonic() - start
                self.processes_at_peak = sum(1 for size in sizes.values() if size)
            self._stop.wait(self.interval_s)

    @contextmanager
    def watching(self) -> Iterator[PeakPss]:
        thread = threading.Thread(target=self._run, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            thread.join()


def cpu_seconds() -> float:
    """User + system CPU of this process and of its waited-for children so far."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


@dataclass
class Phases:
    """Wall and CPU seconds per named phase, in order."""

    wall: dict[str, float] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)
    timeline: list[tuple[str, float]] = field(default_factory=list)
    """Each mark: the phase it closed (``label`` when given) and when, in seconds since the first phase began."""
    _t: float = field(default_factory=time.perf_counter)
    _c: float = field(default_factory=cpu_seconds)

    def __post_init__(self) -> None:
        self._start = self._t

    def mark(self, name: str, label: str | None = None) -> None:
        """Close the phase ``name`` (it ran since the previous mark)."""
        t, c = time.perf_counter(), cpu_seconds()
        self.wall[name] = self.wall.get(name, 0.0) + t - self._t
        self.cpu[name] = self.cpu.get(name, 0.0) + c - self._c
        self.timeline.append((label or name, t - self._start))
        self._t, self._c = t, c

    def line(self) -> str:
        return ", ".join(f"{k} {self.wall[k]:.1f}/{self.cpu[k]:.1f}" for k in self.wall)
