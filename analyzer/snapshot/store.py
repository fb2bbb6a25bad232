"""Read, validate and atomically write snapshot directories (layout in docs/snapshot.md)."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from analyzer.errors import SnapshotError
from analyzer.snapshot import schema
from analyzer.snapshot.objects import read_object_files
from analyzer.snapshot.schema import Metadata, Snapshot

_USAGE_SCHEMA = pa.schema(
    [
        ("timestamp", pa.timestamp("ns", tz="UTC")),
        ("pod", pa.string()),
        ("container", pa.string()),
        ("cpu_cores", pa.float64()),
        ("memory_bytes", pa.float64()),
    ]
)
_REPLICAS_SCHEMA = pa.schema(
    [
        ("timestamp", pa.timestamp("ns", tz="UTC")),
        ("namespace", pa.string()),
        ("kind", pa.string()),
        ("name", pa.string()),
        ("replicas", pa.int64()),
    ]
)
_UNIT_HINTS = {
    "cpu": "cpu_cores (cores)",
    "cpu_m": "cpu_cores (cores, not millicores)",
    "cpu_millicores": "cpu_cores (cores, not millicores)",
    "memory": "memory_bytes (bytes)",
    "memory_mib": "memory_bytes (bytes, not MiB)",
    "memory_mb": "memory_bytes (bytes, not MB)",
}


# ---------------------------------------------------------------- reading


def load_snapshot(path: str | os.PathLike[str], namespaces: Iterable[str] | None = None) -> Snapshot:
    """Load and validate the snapshot at ``path``; ``namespaces`` limits the usage read to those.

    Raises :class:`SnapshotError` with a one-line message naming the file and the problem.
    """
    root = Path(path)
    if not root.is_dir():
        raise SnapshotError(f"{root}: not a snapshot directory (it does not exist or is not a directory)")
    metadata = _read_metadata(root / schema.METADATA_FILE)
    wanted = None if namespaces is None else set(namespaces)
    usage = _read_usage(root, wanted)
    replicas = _read_replicas(root)
    objects_dir = root / schema.OBJECTS_DIR
    if not objects_dir.is_dir():
        raise SnapshotError(f"{objects_dir}: missing (the snapshot's Kubernetes objects)")
    objects = read_object_files(objects_dir)
    if wanted is not None:
        objects = {k: [o for o in v if o["metadata"].get("namespace") in wanted] for k, v in objects.items()}
        replicas = replicas[replicas["namespace"].isin(wanted)].reset_index(drop=True)
    _check_usage_has_pods(usage, objects["Pod"], root)
    return Snapshot(metadata=metadata, usage=usage, replicas=replicas, objects=objects)


def _read_metadata(path: Path) -> Metadata:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise SnapshotError(f"{path}: missing (every snapshot has a metadata.json)") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SnapshotError(f"{path}: not valid JSON") from exc
    if not isinstance(raw, dict):
        raise SnapshotError(f"{path}: must be a JSON object")
    version = raw.get("schema_version")
    if version not in schema.SUPPORTED_SCHEMA_VERSIONS:
        supported = ", ".join(map(str, schema.SUPPORTED_SCHEMA_VERSIONS))
        raise SnapshotError(f"{path}: unknown schema_version {version!r} (this version reads {supported})")
    for key in ("source", "cluster", "start", "end", "step_s"):
        if key not in raw:
            raise SnapshotError(f"{path}: field {key!r} is missing")
    try:
        start = pd.Timestamp(raw["start"]).tz_convert("UTC")
        end = pd.Timestamp(raw["end"]).tz_convert("UTC")
    except (ValueError, TypeError) as exc:
        raise SnapshotError(f"{path}: start and end must be ISO 8601 times with a zone (e.g. ...Z)") from exc
    step = raw["step_s"]
    if isinstance(step, bool) or not isinstance(step, int | float) or not step > 0:
        raise SnapshotError(f"{path}: step_s must be a positive number of seconds, got {step!r}")
    if end < start:
        raise SnapshotError(f"{path}: end {raw['end']} is before start {raw['start']}")
    return Metadata(
        schema_version=int(version),
        source=str(raw["source"]),
        cluster=str(raw["cluster"]),
        start=start,
        end=end,
        step_s=float(step),
        tool_version=str(raw.get("tool_version", "")),
        extra=dict(raw.get("extra") or {}),
    )


def _read_usage(root: Path, namespaces: set[str] | None) -> pd.DataFrame:
    usage_dir = root / schema.USAGE_DIR
    csv_path = root / schema.USAGE_CSV
    frames: list[pd.DataFrame] = []
    if usage_dir.is_dir():
        for part_dir in sorted(usage_dir.iterdir()):
            if not part_dir.is_dir() or not part_dir.name.startswith("namespace="):
                raise SnapshotError(f"{part_dir}: unexpected entry (partitions are named namespace=<ns>)")
            ns = part_dir.name.removeprefix("namespace=")
            if namespaces is not None and ns not in namespaces:
                continue
            for file in sorted(part_dir.glob("*.parquet")):
                frame = _read_parquet(file, _USAGE_SCHEMA)
                frame.insert(1, "namespace", ns)
                frames.append(_checked_usage(frame, file))
    elif csv_path.is_file():
        frame = _read_usage_csv(csv_path)
        if namespaces is not None:
            frame = frame[frame["namespace"].isin(namespaces)]
        frames.append(frame)
    else:
        raise SnapshotError(f"{root}: no usage samples (expected {schema.USAGE_DIR}/ or {schema.USAGE_CSV})")
    usage = pd.concat(frames, ignore_index=True) if frames else _empty_usage()
    usage = usage[list(schema.USAGE_COLUMNS)]
    where = usage_dir if usage_dir.is_dir() else csv_path
    dup = usage.duplicated(list(schema.USAGE_KEY))
    if dup.any():
        row = usage[dup].iloc[0]
        raise SnapshotError(
            f"{where}: {int(dup.sum())} duplicate samples, e.g. {row['namespace']}/{row['pod']}/"
            f"{row['container']} at {row['timestamp'].isoformat()}"
        )
    return usage.sort_values(list(schema.USAGE_KEY), kind="stable").reset_index(drop=True)


def _empty_usage() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "timestamp": pd.Series(dtype="datetime64[ns, UTC]"),
            "namespace": pd.Series(dtype=str),
            "pod": pd.Series(dtype=str),
            "container": pd.Series(dtype=str),
            "cpu_cores": pd.Series(dtype=np.float64),
            "memory_bytes": pd.Series(dtype=np.float64),
        }
    )


def _read_parquet(file: Path, expected: pa.Schema) -> pd.DataFrame:
    try:
        table = pq.read_table(file)
    except (OSError, pa.ArrowException) as exc:
        raise SnapshotError(f"{file}: not a readable Parquet file ({exc})") from exc
    names = set(table.schema.names)
    for field in expected:
        if field.name not in names:
            hint = next((_UNIT_HINTS[n] for n in names if n in _UNIT_HINTS), None)
            extra = f" (found {sorted(names & set(_UNIT_HINTS))[0]}: expected {hint})" if hint else ""
            raise SnapshotError(f"{file}: column {field.name!r} is missing{extra}")
        actual = table.schema.field(field.name).type
        if not _compatible(actual, field.type):
            raise SnapshotError(f"{file}: column {field.name!r} has type {actual}, expected {field.type}")
    table = table.select(expected.names).cast(expected)
    frame = table.to_pandas()
    for column in frame.columns:
        if pa.types.is_string(expected.field(column).type):
            frame[column] = frame[column].astype(object)
    return frame


def _compatible(actual: pa.DataType, expected: pa.DataType) -> bool:
    if pa.types.is_timestamp(expected):
        return pa.types.is_timestamp(actual) and actual.tz is not None
    if pa.types.is_string(expected):
        return pa.types.is_string(actual) or pa.types.is_large_string(actual) or pa.types.is_dictionary(actual)
    if pa.types.is_floating(expected):
        return pa.types.is_floating(actual) or pa.types.is_integer(actual)
    if pa.types.is_integer(expected):
        return pa.types.is_integer(actual)
    return actual == expected


def _read_usage_csv(path: Path) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path, dtype={"namespace": str, "pod": str, "container": str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise SnapshotError(f"{path}: not a readable CSV file ({exc})") from exc
    for column in schema.USAGE_COLUMNS:
        if column not in frame.columns:
            hint = next((_UNIT_HINTS[n] for n in frame.columns if n in _UNIT_HINTS), None)
            extra = f" (expected {hint})" if hint else ""
            raise SnapshotError(f"{path}: column {column!r} is missing{extra}")
    try:
        frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True, format="ISO8601")
    except (ValueError, TypeError) as exc:
        raise SnapshotError(f"{path}: column 'timestamp' must hold ISO 8601 times ({exc})") from exc
    for column in ("cpu_cores", "memory_bytes"):
        try:
            frame[column] = pd.to_numeric(frame[column]).astype(np.float64)
        except (ValueError, TypeError) as exc:
            raise SnapshotError(f"{path}: column {column!r} must be numeric") from exc
    for column in ("namespace", "pod", "container"):
        if frame[column].isna().any():
            raise SnapshotError(f"{path}: column {column!r} has empty values")
        frame[column] = frame[column].astype(object)
    return _checked_usage(frame[list(schema.USAGE_COLUMNS)], path)


def _checked_usage(frame: pd.DataFrame, where: Path) -> pd.DataFrame:
    for column in ("cpu_cores", "memory_bytes"):
        values = frame[column].to_numpy(dtype=np.float64)
        bad = ~np.isfinite(values) | (values < 0)
        if bad.any():
            row = frame[bad].iloc[0]
            raise SnapshotError(
                f"{where}: column {column!r} has {int(bad.sum())} negative or non-finite values, "
                f"e.g. {row[column]!r} for {row['pod']}/{row['container']}"
            )
    if len(frame):
        cpu_max = float(frame["cpu_cores"].max())
        if cpu_max > schema.MAX_PLAUSIBLE_CPU_CORES:
            raise SnapshotError(
                f"{where}: column 'cpu_cores' reaches {cpu_max:g}: values look like millicores, expected cores"
            )
        mem_max = float(frame["memory_bytes"].max())
        if 0 < mem_max < schema.MIN_PLAUSIBLE_MAX_MEMORY_BYTES:
            raise SnapshotError(
                f"{where}: column 'memory_bytes' never exceeds {mem_max:g}: values look like MiB or KiB, expected bytes"
            )
    return frame


def _read_replicas(root: Path) -> pd.DataFrame:
    path = root / schema.REPLICAS_FILE
    csv_path = root / schema.REPLICAS_CSV
    if path.is_file():
        frame = _read_parquet(path, _REPLICAS_SCHEMA)
    elif csv_path.is_file():
        try:
            frame = pd.read_csv(csv_path, dtype={"namespace": str, "kind": str, "name": str})
            frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True, format="ISO8601")
            frame["replicas"] = frame["replicas"].astype(np.int64)
        except (KeyError, ValueError, TypeError, pd.errors.ParserError) as exc:
            raise SnapshotError(f"{csv_path}: needs columns {', '.join(schema.REPLICAS_COLUMNS)} ({exc})") from exc
        for column in ("namespace", "kind", "name"):
            frame[column] = frame[column].astype(object)
        path = csv_path
    else:
        return pd.DataFrame(
            {
                c: pd.Series(dtype=t)
                for c, t in zip(
                    schema.REPLICAS_COLUMNS, ["datetime64[ns, UTC]", object, object, object, np.int64], strict=True
                )
            }
        )
    if (frame["replicas"] < 0).any():
        raise SnapshotError(f"{path}: column 'replicas' has negative values")
    return (
        frame[list(schema.REPLICAS_COLUMNS)]
        .sort_values(list(schema.REPLICAS_KEY), kind="stable")
        .reset_index(drop=True)
    )


def _check_usage_has_pods(usage: pd.DataFrame, pods: list[dict[str, Any]], root: Path) -> None:
    known = {(p["metadata"]["namespace"], p["metadata"]["name"]) for p in pods}
    pairs = usage[["namespace", "pod"]].drop_duplicates()
    for ns, pod in pairs.itertuples(index=False):
        if (ns, pod) not in known:
            raise SnapshotError(
                f"{root / schema.OBJECTS_DIR}: usage samples for pod {ns}/{pod}, which has no Pod object"
            )


# ---------------------------------------------------------------- writing


@contextmanager
def atomic_directory(path: str | os.PathLike[str], *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling of ``path`` to fill; it becomes ``path`` only if the block succeeds."""
    target = Path(path)
    if target.exists() and not overwrite:
        raise SnapshotError(f"{target}: already exists (choose another --out or pass --overwrite)")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
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
    usage = snapshot.usage.sort_values(list(schema.USAGE_KEY), kind="stable")
    for ns, part in usage.groupby("namespace", sort=True):
        part_dir = root / schema.USAGE_DIR / f"namespace={ns}"
        part_dir.mkdir(parents=True)
        table = pa.Table.from_pandas(part.drop(columns="namespace"), schema=_USAGE_SCHEMA, preserve_index=False)
        pq.write_table(table, part_dir / "part-0.parquet", compression="zstd", use_dictionary=["pod", "container"])
    if len(snapshot.replicas):
        replicas = snapshot.replicas.sort_values(list(schema.REPLICAS_KEY), kind="stable")
        table = pa.Table.from_pandas(replicas, schema=_REPLICAS_SCHEMA, preserve_index=False)
        pq.write_table(table, root / schema.REPLICAS_FILE, compression="zstd")
    objects_dir = root / schema.OBJECTS_DIR
    objects_dir.mkdir()
    for kind, items in snapshot.objects.items():
        if not items and kind not in {"Pod", "HorizontalPodAutoscaler"}:
            continue
        document = {"apiVersion": "v1", "kind": "List", "items": items}
        write_json(objects_dir / schema.OBJECT_FILE_NAMES[kind], document)
    write_json(root / schema.METADATA_FILE, snapshot.metadata.to_json())


def write_json(path: Path, document: Any) -> None:
    """Stable, readable JSON (sorted keys, two-space indent, trailing newline)."""
    path.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8")
