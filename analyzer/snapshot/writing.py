"""Snapshot directories written atomically: a temporary directory renamed into place, never half-written."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

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
    if len(snapshot.replicas):
        pq.write_table(replicas_table(snapshot.replicas), root / schema.REPLICAS_FILE, compression="zstd")
    if len(snapshot.pod_status):
        pq.write_table(pod_status_table(snapshot.pod_status), root / schema.POD_STATUS_FILE, compression="zstd")
    if len(snapshot.container_status):
        table = container_status_table(snapshot.container_status)
        pq.write_table(table, root / schema.CONTAINER_STATUS_FILE, compression="zstd")
    with ObjectFiles(root / schema.OBJECTS_DIR) as files:
        for kind, items in snapshot.objects.items():
            files.add(kind, items)
    write_json(root / schema.METADATA_FILE, snapshot.metadata.to_json())


def write_usage_partitions(usage: pd.DataFrame, root: Path) -> None:
    """One ``usage/namespace=<ns>/part-0.parquet`` per namespace of ``usage`` (none may exist yet)."""
    usage = usage.sort_values(list(schema.USAGE_KEY), kind="stable")
    for ns, part in usage.groupby("namespace", sort=True, observed=True):
        part_dir = root / schema.USAGE_DIR / f"namespace={ns}"
        part_dir.mkdir(parents=True)
        table = pa.Table.from_pandas(part.drop(columns="namespace"), schema=USAGE_SCHEMA, preserve_index=False)
        pq.write_table(table, part_dir / "part-0.parquet", compression="zstd", use_dictionary=["pod", "container"])


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
    for column in ("state", "last_reason"):
        status[column] = status[column].astype(str)
    return pa.Table.from_pandas(status, schema=CONTAINER_STATUS_SCHEMA, preserve_index=False)


class ObjectFiles:
    """The ``objects/`` lists written item by item, so a large cluster's pods never sit in memory at once.

    Byte for byte what :func:`write_json` writes for the whole list; Pod and HPA files are written
    even when empty, the optional kinds only when they have items.
    """

    def __init__(self, directory: Path) -> None:
        directory.mkdir()
        self.directory = directory
        self.files: dict[str, Any] = {}

    def add(self, kind: str, items: list[dict[str, Any]]) -> None:
        """Append ``items`` to ``kind``'s list."""
        for item in items:
            file = self.files.get(kind)
            if file is None:
                path = self.directory / schema.OBJECT_FILE_NAMES[kind]
                file = self.files[kind] = path.open("w", encoding="utf-8")
                file.write('{\n  "apiVersion": "v1",\n  "items": [\n')
            else:
                file.write(",\n")
            text = json.dumps(item, indent=2, sort_keys=True)
            file.write("    " + text.replace("\n", "\n    "))

    def __enter__(self) -> ObjectFiles:
        return self

    def __exit__(self, *exc: object) -> None:
        for file in self.files.values():
            file.write('\n  ],\n  "kind": "List"\n}\n')
            file.close()
        if exc[0] is None:
            for kind in ("Pod", "HorizontalPodAutoscaler"):
                if kind not in self.files:
                    write_json(self.directory / schema.OBJECT_FILE_NAMES[kind], {"apiVersion": "v1", "kind": "List",
                                                                               "items": []})  # fmt: skip


def write_json(path: Path, document: Any) -> None:
    """Stable, readable JSON (sorted keys, two-space indent, trailing newline)."""
    path.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8")
