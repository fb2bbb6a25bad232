"""Scheduled runs: each report in ``<out>/<cluster>/<UTC timestamp>/``, a ``latest`` link, pruning, a lock.

A CronJob writes a new run directory each time (atomically: a temporary sibling renamed when whole),
then points ``latest`` at it with an atomic symlink swap and keeps the newest ``keep`` runs. A lock
file makes a second, overlapping run fail fast instead of writing the same place.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from analyzer.errors import SidecarImpactError

RUN_NAME = "%Y%m%dT%H%M%SZ"
_RUN_PATTERN = re.compile(r"^\d{8}T\d{6}Z$")
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def cluster_dir(out: Path, cluster: str) -> Path:
    """``<out>/<cluster>`` with the cluster name made safe as one path component."""
    name = _SAFE.sub("_", cluster).strip("._") or "cluster"
    return out / name


@contextmanager
def run_lock(directory: Path) -> Iterator[None]:
    """Hold ``directory/.lock`` for the run; raise at once if another run holds it."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".lock", "w", encoding="utf-8") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SidecarImpactError(f"{directory}: another sidecar-impact run holds {directory / '.lock'}") from None
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def run_name(now: pd.Timestamp) -> str:
    return now.tz_convert("UTC").strftime(RUN_NAME)


def point_latest(directory: Path, run: str) -> Path:
    """Make ``directory/latest`` a symlink to ``run`` by renaming a new link over the old one."""
    latest = directory / "latest"
    tmp = directory / f".latest.{os.getpid()}"
    tmp.unlink(missing_ok=True)
    os.symlink(run, tmp)
    os.replace(tmp, latest)
    return latest


def prune(directory: Path, keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` run directories; return what was deleted."""
    runs = sorted(p for p in directory.iterdir() if p.is_dir() and not p.is_symlink() and _RUN_PATTERN.match(p.name))
    doomed = runs[:-keep] if keep > 0 else []
    for path in doomed:
        shutil.rmtree(path)
    return doomed
