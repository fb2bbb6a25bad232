"""Snapshot directories written atomically: a temporary directory renamed into place, never half-written."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from analyzer.errors import SnapshotError
from analyzer.snapshot import schema
from analyzer.snapshot.schema import Snapshot
from analyzer.snapshot.tables import CONTAINER_STATUS_SCHEMA, POD_STATUS_SCHEMA, REPLICAS_SCHEMA, USAGE_SCHEMA


@contextmanager
def atomic_directory(path: str | os.PathLike[str], *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling of ``path`` to fill; it becomes ``path`` only if the block succeeds."""
    target = Path(path)
    if target.exists() and not overwrite:
        raise SnapshotError(f"{target}: already exists (choose another --out or pass --overwrite)")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    tmp.chmod(0o755)  # mkdtemp makes it private; the finished directory is meant to be shared
    try:
        yield tmp
        replace_dir(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_snapshot(snapshot: Snapshot, path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
    """Write ``snapshot`` to ``path`` atomically: into a temporary sibling, renamed when whole."""
    with atomic_directory(path, overwrite=overwrite) as tmp:
        write_snapshot_files(snapshot, tmp)
    return Path(path)


def replace_dir(new: Path, target: Path) -> None:
    """Move the finished directory ``new`` to ``target``, replacing any old one with two renames."""
    if target.exists():
        old = target.with_name(f".{target.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(target, old)
        os.replace(new, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(new, target)


def write_snapshot_files(snapshot: Snapshot, root: Path) -> None:
    """Write the snapshot's files into an existing, empty directory (not atomic by itself)."""
    write_usage_partitions(snapshot.usage, root)
    write_rest(snapshot, root)


def write_rest(snapshot: Snapshot, root: Path) -> None:
    """Everything but the usage: the kube-state-metrics tables, the objects, and last the metadata."""
    write_tables(snapshot, root)
    with ObjectFiles(root / schema.OBJECTS_DIR) as files:
        for kind, items in snapshot.objects.items():
            files.add(kind, items)
    write_json(root / schema.METADATA_FILE, snapshot.metadata.to_json())


def write_tables(snapshot: Snapshot, root: Path) -> None:
    """The kube-state-metrics tables that have rows."""
    if len(snapshot.replicas):
        pq.write_table(replicas_table(snapshot.replicas), root / schema.REPLICAS_FILE, compression="zstd")
    if len(snapshot.pod_status):
        pq.write_table(pod_status_table(snapshot.pod_status), root / schema.POD_STATUS_FILE, compression="zstd")
    if len(snapshot.container_status):
        table = container_status_table(snapshot.container_status)
        pq.write_table(table, root / schema.CONTAINER_STATUS_FILE, compression="zstd")


def write_usage_partitions(usage: pd.DataFrame, root: Path) -> None:
    """One ``usage/namespace=<ns>/part-0.parquet`` per namespace of ``usage`` (none may exist yet)."""
    UsageFiles(root).add(usage.sort_values(list(schema.USAGE_KEY), kind="stable"))


class UsageFiles:
    """``usage/namespace=<ns>/part-<n>.parquet``, written a piece of usage at a time: each :meth:`add` of
    rows in the usage key's order writes one file per namespace it holds, numbered in the order added
    (the reader merges a namespace's files by time)."""

    def __init__(self, root: Path) -> None:
        self.directory = root / schema.USAGE_DIR
        self.added = 0
        self.rows = 0

    def add(self, usage: pd.DataFrame) -> None:
        """Write ``usage`` (snapshot usage columns, in :data:`schema.USAGE_KEY` order)."""
        for ns, part in usage.groupby("namespace", sort=True, observed=True):
            part_dir = self.directory / f"namespace={ns}"
            part_dir.mkdir(parents=True, exist_ok=True)
            table = pa.Table.from_pandas(part.drop(columns="namespace"), schema=USAGE_SCHEMA, preserve_index=False)
            file = part_dir / f"part-{self.added}.parquet"
            pq.write_table(table, file, compression="zstd", use_dictionary=["pod", "container"])
        self.added += 1
        self.rows += len(usage)

    def keep_pods(self, keep: Callable[[str, np.ndarray], np.ndarray]) -> int:
        """Rewrite the files holding pods ``keep(namespace, pod names)`` does not keep (asked once per file, of
        its distinct pods), removing a file or namespace left empty; returns how many rows went. Only files
        this writer made are touched; a file whose pods are all kept is not read beyond its pod column."""
        gone = 0
        for part_dir in sorted(self.directory.iterdir()) if self.directory.is_dir() else ():
            ns = part_dir.name.removeprefix("namespace=")
            for file in sorted(part_dir.glob("part-*.parquet")):
                column = pq.read_table(file, columns=["pod"], read_dictionary=["pod"]).unify_dictionaries()["pod"]
                pods = column.combine_chunks()
                names = pods.dictionary.to_numpy(zero_copy_only=False)
                kept_names = keep(ns, names)
                if kept_names.all():
                    continue
                kept = kept_names[pods.indices.to_numpy(zero_copy_only=False)]
                gone += int((~kept).sum())
                table = pq.read_table(file, schema=USAGE_SCHEMA)
                file.unlink()
                if kept.any():
                    pq.write_table(table.filter(pa.array(kept)), file, compression="zstd",
                                   use_dictionary=["pod", "container"])  # fmt: skip
            if not any(part_dir.iterdir()):
                part_dir.rmdir()
        self.rows -= gone
        return gone


class RowsFile:
    """A table's Parquet file (``pod_status.parquet``, ``replicas.parquet``) written a namespace batch at a
    time (a row group each), rows in key order; ``to_table`` makes a batch's Arrow table."""

    def __init__(self, path: Path, to_table: Callable[[pd.DataFrame], pa.Table]) -> None:
        self.path = path
        self.to_table = to_table
        self._writer: pq.ParquetWriter | None = None

    def add(self, rows: pd.DataFrame) -> None:
        """Append ``rows`` (the table's columns, after every row already added in key order)."""
        table = self.to_table(rows)
        if self._writer is None:
            self._writer = pq.ParquetWriter(self.path, table.schema, compression="zstd")
        self._writer.write_table(table)

    def close(self, keep: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None) -> None:
        """Finish the file; with ``keep(namespaces, pods)``, rewrite it a row group at a time without the
        rows it does not keep (no file when none is left)."""
        if self._writer is None:
            return
        self._writer.close()
        self._writer = None
        if keep is None:
            return
        whole = pq.ParquetFile(self.path)
        kept_path = self.path.with_name(self.path.name + ".kept")
        writer: pq.ParquetWriter | None = None
        for i in range(whole.num_row_groups):
            group = whole.read_row_group(i)
            mask = keep(group["namespace"].to_numpy(zero_copy_only=False), group["pod"].to_numpy(zero_copy_only=False))
            if mask.any():
                writer = writer or pq.ParquetWriter(kept_path, group.schema, compression="zstd")
                writer.write_table(group.filter(pa.array(mask)))
        whole.close()
        if writer is not None:
            writer.close()
            os.replace(kept_path, self.path)
        else:
            self.path.unlink()


def replicas_table(replicas: pd.DataFrame) -> pa.Table:
    """``replicas.parquet``'s rows as Arrow, in key order."""
    return pa.Table.from_pandas(
        replicas.sort_values(list(schema.REPLICAS_KEY), kind="stable"), schema=REPLICAS_SCHEMA, preserve_index=False
    )


def pod_status_table(pod_status: pd.DataFrame) -> pa.Table:
    """``pod_status.parquet``'s rows as Arrow, in key order."""
    status = pod_status.sort_values(list(schema.POD_STATUS_KEY), kind="stable").copy()
    status["phase"] = status["phase"].astype(str)
    return pa.Table.from_pandas(status, schema=POD_STATUS_SCHEMA, preserve_index=False)


def container_status_table(status: pd.DataFrame) -> pa.Table:
    """``container_status.parquet``'s rows as Arrow, in key order."""
    status = status.sort_values(list(schema.CONTAINER_STATUS_KEY), kind="stable").copy()
    for column in ("state", *schema.CONTAINER_STATUS_LABELS[3:]):
        status[column] = status[column].astype(str)
    return pa.Table.from_pandas(status, schema=CONTAINER_STATUS_SCHEMA, preserve_index=False)


class ObjectFiles:
    """The ``objects/`` lists written item by item, so a large cluster's pods never sit in memory at once.

    Byte for byte what :func:`write_json` writes for the whole list; Pod and HPA files are written
    even when empty, the optional kinds only when they have items. A list read again from its start
    (the API's 410 Gone) takes back what it wrote with :meth:`mark` and :meth:`rewind`.
    """

    def __init__(self, directory: Path) -> None:
        directory.mkdir()
        self.directory = directory
        self.files: dict[str, Any] = {}
        self.counts: dict[str, int] = {}

    def add(self, kind: str, items: list[dict[str, Any]]) -> None:
        """Append ``items`` to ``kind``'s list."""
        for item in items:
            file = self.files.get(kind)
            if file is None:
                file = self.files[kind] = self._path(kind).open("w", encoding="utf-8")
                file.write('{\n  "apiVersion": "v1",\n  "items": [\n')
            else:
                file.write(",\n")
            text = json.dumps(item, indent=2, sort_keys=True)
            file.write("    " + text.replace("\n", "\n    "))
            self.counts[kind] = self.counts.get(kind, 0) + 1

    def mark(self, kind: str) -> tuple[int, int]:
        """Where ``kind``'s list ends now: the items written and the file's position."""
        file = self.files.get(kind)
        return (0, 0) if file is None else (self.counts[kind], file.tell())

    def rewind(self, kind: str, mark: tuple[int, int]) -> None:
        """Take back the items of ``kind`` written since ``mark``."""
        count, position = mark
        file = self.files.get(kind)
        if file is None:
            return
        if count == 0:
            file.close()
            self._path(kind).unlink()
            del self.files[kind], self.counts[kind]
            return
        file.seek(position)
        file.truncate()
        self.counts[kind] = count

    def _path(self, kind: str) -> Path:
        return self.directory / schema.OBJECT_FILE_NAMES[kind]

    def __enter__(self) -> ObjectFiles:
        return self

    def __exit__(self, *exc: object) -> None:
        for file in self.files.values():
            file.write('\n  ],\n  "kind": "List"\n}\n')
            file.close()
        if exc[0] is None:
            for kind in ("Pod", "HorizontalPodAutoscaler"):
                if kind not in self.files:
                    write_json(self._path(kind), {"apiVersion": "v1", "kind": "List", "items": []})


def write_json(path: Path, document: Any) -> None:
    """Stable, readable JSON (sorted keys, two-space indent, trailing newline)."""
    path.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8")
