"""Scheduled runs: each report in ``<out>/<cluster>/<UTC timestamp>/``, a ``latest`` link, pruning, a lock.

A CronJob writes a new run directory each time (atomically: a temporary sibling renamed when whole),
records in it what it is (:data:`RUN_RECORD`: the cluster's real name and the run's time), points
``latest`` at it with an atomic symlink swap and keeps the newest ``keep`` runs. A lock file makes a
second, overlapping run fail fast instead of writing the same place.

Nothing here follows a link it did not make or deletes what a run did not write: the cluster folder
must be a real directory, ``latest`` a symlink, the lock a regular file; only directories holding a
run record are pruned, ordered by the time recorded in them, and the run just written never is.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import re
import shutil
import stat
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from analyzer.errors import LockedError, SidecarImpactError
from analyzer.paths import MAX_COMPONENT, safe_component

RUN_NAME = "%Y%m%dT%H%M%SZ"
RUN_RECORD = ".sidecar-impact-run.json"
"""Written into each run directory: ``{"cluster": real name, "created": ISO time, "tool_version": ...,
"summary": the headline figures}``."""
_RUN_PATTERN = re.compile(r"^\d{8}T\d{6}Z$")
MAX_DIR_NAME = MAX_COMPONENT


def cluster_dir_name(cluster: str) -> str:
    """One path component per cluster name, different for different names (:func:`analyzer.paths.safe_component`)."""
    return safe_component(cluster, "cluster")


def cluster_dir(out: Path, cluster: str) -> Path:
    """``<out>/<cluster>`` with the cluster name as one injective path component (:func:`cluster_dir_name`)."""
    return out / cluster_dir_name(cluster)


def _mode(path: Path) -> int | None:
    """``lstat`` mode of ``path`` (the link itself, never its target), None when nothing is there."""
    try:
        return os.lstat(path).st_mode
    except FileNotFoundError:
        return None


def check_cluster_dir(directory: Path) -> None:
    """Refuse a cluster folder that is not what runs make: a symlink, a file, a foreign ``latest`` or ``.lock``."""
    mode = _mode(directory)
    if mode is None:
        return
    if stat.S_ISLNK(mode):
        raise SidecarImpactError(f"{directory}: is a symlink; sidecar-impact writes runs only into a real directory")
    if not stat.S_ISDIR(mode):
        raise SidecarImpactError(f"{directory}: exists and is not a directory")
    _check_latest(directory / "latest")
    lock = _mode(directory / ".lock")
    if lock is not None and not stat.S_ISREG(lock):
        raise SidecarImpactError(f"{directory / '.lock'}: is not a regular file (a symlink?); remove it")


def _check_latest(latest: Path) -> None:
    mode = _mode(latest)
    if mode is not None and not stat.S_ISLNK(mode):
        raise SidecarImpactError(f"{latest}: is not a symlink that sidecar-impact made; move it away")


@contextmanager
def run_lock(directory: Path) -> Iterator[None]:
    """Hold ``directory/.lock`` for the run; raise :class:`LockedError` at once if another run holds it.

    The lock file is opened without following a symlink and never truncated.
    """
    check_cluster_dir(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / ".lock"
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise SidecarImpactError(f"{path}: is a symlink; remove it (sidecar-impact does not follow it)") from None
        raise SidecarImpactError(f"{path}: cannot open the lock ({exc.strerror})") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise SidecarImpactError(f"{path}: is not a regular file; remove it")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LockedError(f"{directory}: another sidecar-impact run holds {path}") from None
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def run_name(now: pd.Timestamp) -> str:
    return now.tz_convert("UTC").strftime(RUN_NAME)


def write_run_record(
    run_dir: Path,
    cluster: str,
    created: pd.Timestamp,
    tool_version: str,
    summary: dict[str, Any] | None = None,
    since: dict[str, Any] | None = None,
) -> None:
    """Record what the run is inside its (still temporary) directory: what :func:`prune` trusts, and the
    headline figures the runs index lists (so it never re-reads each run's report); ``since``: the findings
    new and resolved since the run before, per severity (``{"new": {...}, "resolved": {...}}``)."""
    record = {
        "cluster": cluster,
        "created": created.tz_convert("UTC").floor("s").isoformat().replace("+00:00", "Z"),
        "tool_version": tool_version,
        **({"summary": summary} if summary is not None else {}),
        **({"since": since} if since is not None else {}),
    }
    fd = os.open(run_dir / RUN_RECORD, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(record, fh, sort_keys=True)


def read_run_record(run_dir: Path) -> dict[str, Any] | None:
    """The run's record, or None when the directory is not a run this tool wrote (or the record is unreadable)."""
    try:
        fd = os.open(run_dir / RUN_RECORD, os.O_RDONLY | os.O_NOFOLLOW)
        with os.fdopen(fd, encoding="utf-8") as fh:
            record = json.loads(fh.read(65536))
        created = pd.Timestamp(record["created"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return record if created.tzinfo is not None and isinstance(record.get("cluster"), str) else None


def point_latest(directory: Path, run: str) -> Path:
    """Make ``directory/latest`` a symlink to ``run`` by renaming a new link (with a fresh name) over the old one."""
    latest = directory / "latest"
    _check_latest(latest)
    tmp = directory / f".latest.{uuid.uuid4().hex}"
    os.symlink(run, tmp)  # fails rather than reuse a name that exists
    try:
        os.replace(tmp, latest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return latest


def prune(directory: Path, keep: int, current: str, cluster: str, keep_bytes: int = 0) -> list[Path]:
    """Delete the oldest runs of ``cluster`` beyond the newest ``keep`` (0: no count limit), then the
    oldest until all runs together take at most ``keep_bytes`` (0: no size limit); return what was deleted.

    Runs are the real directories holding a run record of this cluster, ordered by the time the record
    holds (not by name: a folder restored from a backup or written under clock skew may be named in the
    future). ``current``, the run just written, always stays and counts towards both limits.
    """
    if keep <= 0 and keep_bytes <= 0:
        return []
    older = [path for path in runs_of(directory, cluster) if path.name != current]
    doomed = older[: max(0, len(older) - (keep - 1))] if keep > 0 else []
    if keep_bytes > 0:
        kept = older[len(doomed) :]
        total = tree_bytes(directory / current) + sum(tree_bytes(p) for p in kept)
        while kept and total > keep_bytes:
            oldest = kept.pop(0)
            total -= tree_bytes(oldest)
            doomed.append(oldest)
    for path in doomed:
        shutil.rmtree(path)
    return doomed


def runs_of(directory: Path, cluster: str) -> list[Path]:
    """The runs of ``cluster`` in ``directory``, oldest first: the real directories with a run's name holding
    a record of that cluster, ordered by the time recorded (then by name)."""
    found: list[tuple[pd.Timestamp, str, Path]] = []
    for entry in os.scandir(directory):
        if not _RUN_PATTERN.match(entry.name) or not entry.is_dir(follow_symlinks=False):
            continue
        record = read_run_record(Path(entry.path))
        if record is not None and record["cluster"] == cluster:
            found.append((pd.Timestamp(record["created"]), entry.name, Path(entry.path)))
    return [path for _, _, path in sorted(found)]


def tree_bytes(path: Path) -> int:
    """Bytes of the regular files under ``path``, links not followed."""
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            info = os.lstat(os.path.join(root, name))
            if stat.S_ISREG(info.st_mode):
                total += info.st_size
    return total
