"""The snapshot's tables (usage, replicas, pod status) read from Parquet or CSV and checked: columns, types,
units, order and duplicates (docs/snapshot.md)."""

from __future__ import annotations

import bisect
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from analyzer.errors import SnapshotError, clip, reason
from analyzer.snapshot import schema
from analyzer.snapshot.partitions import Slice

Namespaces = Callable[[str], bool] | Collection[str] | None
"""Which namespaces to read: a predicate on their names, the names themselves, or None for all."""


def predicate(wanted: Namespaces) -> Callable[[str], bool] | None:
    return wanted if wanted is None or callable(wanted) else frozenset(wanted).__contains__


def rows_in(frame: pd.DataFrame, wanted: Callable[[str], bool]) -> pd.DataFrame:
    """The rows of a per-namespace table whose namespace is ``wanted``."""
    names = frame["namespace"].unique()
    return frame[frame["namespace"].isin([n for n in names if wanted(str(n))])].reset_index(drop=True)


USAGE_SCHEMA = pa.schema(
    [
        ("timestamp", pa.timestamp("ns", tz="UTC")),
        ("pod", pa.string()),
        ("container", pa.string()),
        ("cpu_cores", pa.float64()),
        ("memory_bytes", pa.float64()),
    ]
)
REPLICAS_SCHEMA = pa.schema(
    [
        ("timestamp", pa.timestamp("ns", tz="UTC")),
        ("namespace", pa.string()),
        ("kind", pa.string()),
        ("name", pa.string()),
        ("replicas", pa.int64()),
    ]
)
POD_STATUS_SCHEMA = pa.schema(
    [
        ("timestamp", pa.timestamp("ns", tz="UTC")),
        ("namespace", pa.string()),
        ("pod", pa.string()),
        ("phase", pa.string()),
        ("ready", pa.bool_()),
    ]
)
CONTAINER_STATUS_SCHEMA = pa.schema(
    [
        ("timestamp", pa.timestamp("ns", tz="UTC")),
        ("namespace", pa.string()),
        ("pod", pa.string()),
        ("container", pa.string()),
        ("ready", pa.bool_()),
        ("restarts", pa.int64()),
        ("state", pa.string()),
        ("last_reason", pa.string()),
        ("last_exit_code", pa.int64()),
        ("terminated_reason", pa.string()),
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


def read_usage(root: Path, wanted: Callable[[str], bool] | None, slices: Mapping[str, Slice]) -> pd.DataFrame:
    usage_dir = root / schema.USAGE_DIR
    csv_path = root / schema.USAGE_CSV
    parts: list[_Part] = []
    if usage_dir.is_dir():
        for part_dir in sorted(usage_dir.iterdir()):
            if not part_dir.is_dir() or not part_dir.name.startswith("namespace="):
                raise SnapshotError(f"{part_dir}: unexpected entry (partitions are named namespace=<ns>)")
            ns = part_dir.name.removeprefix("namespace=")
            if wanted is not None and not wanted(ns):
                continue
            piece = slices.get(ns)
            for file in sorted(part_dir.glob("*.parquet")):
                table = _read_table(file, USAGE_SCHEMA, pods=None if piece is None else piece.pods)
                parts.append(_Part.of_table(table, ns, file))
                del table
                pa.default_memory_pool().release_unused()  # hand Arrow's freed pages back to the OS
    elif csv_path.is_file():
        frame = read_usage_csv(csv_path)
        if wanted is not None:
            frame = rows_in(frame, wanted)
        parts.append(_Part.of(frame))
    else:
        raise SnapshotError(f"{root}: no usage samples (expected {schema.USAGE_DIR}/ or {schema.USAGE_CSV})")
    usage = _assemble(parts) if parts else empty_usage()
    where = usage_dir if usage_dir.is_dir() else csv_path
    dup = _adjacent_duplicates(usage)
    if dup.any():
        row = usage.iloc[int(np.argmax(dup))]
        key = "/".join(str(row[c]) for c in _LABELS)
        raise SnapshotError(
            f"{where}: {int(dup.sum())} duplicate samples, e.g. {clip(key)} at {row['timestamp'].isoformat()}"
        )
    return usage


_LABELS = ("namespace", "pod", "container")
_UTC = pd.DatetimeTZDtype(unit="ns", tz="UTC")


@dataclass
class _Part:
    """One file's samples as arrays: int64 times (ns), label codes with their categories, the numbers."""

    ts: np.ndarray
    labels: dict[str, tuple[np.ndarray, np.ndarray]]
    cpu: np.ndarray
    memory: np.ndarray

    @classmethod
    def of(cls, frame: pd.DataFrame) -> _Part:
        labels = {}
        for column in _LABELS:
            values = frame[column]
            cat = values if isinstance(values.dtype, pd.CategoricalDtype) else values.astype("category")
            labels[column] = (cat.cat.codes.to_numpy(), np.asarray(cat.cat.categories, dtype=object))
        return cls(
            ts=frame["timestamp"].dt.tz_convert("UTC").dt.as_unit("ns").astype("int64").to_numpy(),
            labels=labels,
            # copies: views would keep the frame's shared float block alive until both are merged
            cpu=frame["cpu_cores"].to_numpy(dtype=np.float64).copy(),
            memory=frame["memory_bytes"].to_numpy(dtype=np.float64).copy(),
        )

    @classmethod
    def of_table(cls, table: pa.Table, namespace: str, where: Path) -> _Part:
        """A namespace's usage file, read by :func:`_read_table`, its values checked; straight from Arrow's
        buffers (label codes are the dictionaries' indices)."""
        for column in ("timestamp", "pod", "container"):
            if table[column].null_count:
                raise SnapshotError(f"{where}: column {clip(column)} has {table[column].null_count} empty values")
        table = table.unify_dictionaries()
        labels = {"namespace": (np.zeros(table.num_rows, dtype=np.int8), np.array([namespace], dtype=object))}
        for column in ("pod", "container"):
            chunks = table[column].chunks
            codes = [c.indices.to_numpy() for c in chunks]
            names = chunks[0].dictionary.to_numpy(zero_copy_only=False) if chunks else np.array([], dtype=object)
            labels[column] = (np.concatenate(codes) if codes else np.array([], dtype=np.int32), names)
        part = cls(
            ts=table["timestamp"].cast(pa.int64()).to_numpy(),
            labels=labels,
            cpu=table["cpu_cores"].to_numpy(),
            memory=table["memory_bytes"].to_numpy(),
        )
        _check_numbers(part.cpu, part.memory, where, lambda i: f"{table['pod'][i]}/{table['container'][i]}")
        return part


def _assemble(parts: list[_Part]) -> pd.DataFrame:
    """The usage frame in :data:`schema.USAGE_KEY` order, built column by column to bound memory.

    Label columns are categoricals with sorted categories: millions of samples share a few thousand
    names, and the key order becomes an order of integer codes. Namespace parts that are each in
    time order are merged by :func:`_merge_by_time`; otherwise a stable sort by time, and a full
    sort of the key when even that is not enough.
    """
    categories: dict[str, np.ndarray] = {}
    codes: dict[str, np.ndarray] = {}
    for column in _LABELS:
        names = np.unique(np.concatenate([p.labels[column][1] for p in parts]).astype(str))
        dtype = np.int16 if len(names) < 2**15 else np.int32
        remapped = [
            np.searchsorted(names, cats.astype(str)).astype(dtype)[c] for c, cats in (p.labels[column] for p in parts)
        ]
        codes[column] = np.concatenate(remapped)
        del remapped
        categories[column] = names
    for p in parts:
        p.labels = {}
    part_codes = {c: np.split(codes.pop(c), np.cumsum([len(p.ts) for p in parts])[:-1]) for c in _LABELS}
    if all(len(p.ts) < 2 or (p.ts[1:] >= p.ts[:-1]).all() for p in parts):
        arrays = _merge_by_time(parts, part_codes)
    else:
        ts = np.concatenate([p.ts for p in parts])
        arrays = [ts, *(np.concatenate(part_codes[c]) for c in _LABELS),
                  np.concatenate([p.cpu for p in parts]), np.concatenate([p.memory for p in parts])]  # fmt: skip
        parts.clear()
        order = np.argsort(ts, kind="stable")
        for i in range(len(arrays)):
            arrays[i] = arrays[i][order]
        del order, ts
        arrays[0] = pd.array(arrays[0].view("datetime64[ns]"), dtype=_UTC)
    keys = [arrays[0].asi8, *arrays[1:4]]
    if len(keys[0]) > 1 and not (_ordered_pairs(keys) >= 0).all():
        order = np.lexsort(keys[::-1])
        for i in range(len(arrays)):
            arrays[i] = arrays[i][order]
        del order
    del keys
    return pd.DataFrame(
        {
            "timestamp": arrays[0],
            "namespace": pd.Categorical.from_codes(arrays[1], categories=categories["namespace"]),
            "pod": pd.Categorical.from_codes(arrays[2], categories=categories["pod"]),
            "container": pd.Categorical.from_codes(arrays[3], categories=categories["container"]),
            "cpu_cores": arrays[4],
            "memory_bytes": arrays[5],
        },
        copy=False,  # the arrays are ours: no consolidation copy of millions of rows
    )


def _merge_by_time(parts: list[_Part], part_codes: dict[str, list[np.ndarray]]) -> list[Any]:
    """Merge parts that are each in time order into one time-ordered set of columns, part order kept
    within a timestamp, by computing every row's destination (a counting merge: no global sort, and
    each column is scattered part by part, so only one output column exists beside the parts)."""
    # A part's rows at one time are a run; runs are all that is searched and counted.
    starts = [np.flatnonzero(np.concatenate([[True], p.ts[1:] != p.ts[:-1]])) if len(p.ts) else np.zeros(0, np.int64)
              for p in parts]  # fmt: skip
    times = np.unique(np.concatenate([p.ts[s] for p, s in zip(parts, starts, strict=True)]))
    counts = np.zeros((len(parts), len(times)), dtype=np.int64)
    run_time, run_length = [], []
    for i, (p, s) in enumerate(zip(parts, starts, strict=True)):
        run_time.append(np.searchsorted(times, p.ts[s]))
        run_length.append(np.diff(np.append(s, len(p.ts))))
        counts[i, run_time[-1]] = run_length[-1]
    per_time = counts.sum(axis=0)
    total = int(per_time.sum())
    time_start = np.concatenate([[0], np.cumsum(per_time)[:-1]])
    before_part = np.cumsum(counts, axis=0) - counts  # rows of earlier parts at the same time
    dtype = np.int32 if total < 2**31 else np.int64
    dest = []
    for i, p in enumerate(parts):
        # A run's rows go, in order, to its time's block after the earlier parts' rows of that time.
        t = run_time[i]
        offset = (time_start[t] + before_part[i, t] - starts[i]).astype(dtype)
        dest.append(np.repeat(offset, run_length[i]) + np.arange(len(p.ts), dtype=dtype))
    out: dict[str, Any] = {}
    # Times last, when the parts' numbers are gone: they go straight into the tz-aware array's buffer.
    for attr, label in [*((None, c) for c in _LABELS), ("cpu", None), ("memory", None), ("ts", None)]:
        pieces = part_codes[label] if label else [getattr(p, attr) for p in parts]
        if attr == "ts":
            # Zeros: pandas checks the values it is given, and leftover bytes take it a slow path.
            column = pd.array(np.zeros(total, dtype="datetime64[ns]"), dtype=_UTC)
            target = column.asi8  # a writable view of the array's int64 nanoseconds
        else:
            column = target = np.empty(total, dtype=pieces[0].dtype)
        for i in range(len(parts)):
            target[dest[i]] = pieces[i]
            pieces[i] = None  # type: ignore[call-overload]
            if attr:
                setattr(parts[i], attr, None)
        out[attr or label] = column
    parts.clear()
    return [out["ts"], out["namespace"], out["pod"], out["container"], out["cpu"], out["memory"]]


def _key_codes(usage: pd.DataFrame) -> list[np.ndarray]:
    ts = usage["timestamp"].astype("int64").to_numpy()
    return [ts, *(usage[c].cat.codes.to_numpy() for c in _LABELS)]


def _ordered_pairs(keys: list[np.ndarray]) -> np.ndarray:
    """Per adjacent row pair: 1 if the key increases, 0 if equal, -1 if it decreases (lexicographic)."""
    out = np.zeros(len(keys[0]) - 1, dtype=np.int8)
    undecided = np.ones(len(out), dtype=bool)
    for k in keys:
        a, b = k[:-1], k[1:]
        out[undecided & (a < b)] = 1
        out[undecided & (a > b)] = -1
        undecided &= a == b
    return out


def _adjacent_duplicates(usage: pd.DataFrame) -> np.ndarray:
    """Rows whose key equals the previous row's (``usage`` in key order)."""
    if len(usage) < 2:
        return np.zeros(len(usage), dtype=bool)
    return np.concatenate([[False], _ordered_pairs(_key_codes(usage)) == 0])


def empty_usage() -> pd.DataFrame:
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


def _read_parquet(
    file: Path, expected: pa.Schema, wanted: Namespaces = None, pods: Collection[str] | None = None
) -> pd.DataFrame:
    """:func:`_read_table` as a frame, label columns as categoricals."""
    return _read_table(file, expected, wanted, pods).to_pandas()


def _file_columns(file: Path) -> list[str]:
    """The column names ``file``'s Parquet schema declares."""
    try:
        return list(pq.read_schema(file).names)
    except (OSError, pa.ArrowException) as exc:
        raise SnapshotError(f"{file}: not a readable Parquet file ({reason(exc)})") from exc


def _read_table(
    file: Path, expected: pa.Schema, wanted: Namespaces = None, pods: Collection[str] | None = None
) -> pa.Table:
    """``file`` checked against ``expected``, its columns in that order and of those types, strings as
    dictionaries (millions of rows share a few thousand names; Parquet's own dictionaries are kept, never
    expanded into strings); with ``wanted``, only the rows of those namespaces (row groups holding none of
    them are not read; a predicate is tried on the names the file holds); with ``pods``, only those pods'
    rows, filtered as they are read."""
    labels = [f.name for f in expected if pa.types.is_string(f.type)]
    try:
        if pods is not None:
            table = pq.read_table(file, filters=pc.field("pod").isin(sorted(pods)), read_dictionary=labels)
        elif wanted is not None and "namespace" in pq.read_schema(file).names:
            if callable(wanted):
                column = pq.read_table(file, columns=["namespace"], read_dictionary=["namespace"])["namespace"]
                names = pc.unique(column).to_pylist()
                keep = sorted(n for n in names if isinstance(n, str) and wanted(n))
            else:
                keep = sorted(wanted)
            table = _namespace_rows(file, keep, labels) if keep else pq.read_schema(file).empty_table()
        else:
            table = pq.read_table(file, read_dictionary=labels)
    except (OSError, pa.ArrowException) as exc:
        raise SnapshotError(f"{file}: not a readable Parquet file ({reason(exc)})") from exc
    names = set(table.schema.names)
    for field in expected:
        if field.name not in names:
            hint = next((_UNIT_HINTS[n] for n in names if n in _UNIT_HINTS), None)
            extra = f" (found {sorted(names & set(_UNIT_HINTS))[0]}: expected {hint})" if hint else ""
            raise SnapshotError(f"{file}: column {clip(field.name)} is missing{extra}")
        actual = table.schema.field(field.name).type
        if not _compatible(actual, field.type):
            raise SnapshotError(f"{file}: column {clip(field.name)} has type {actual}, expected {field.type}")
    table = table.select(expected.names)
    for i, field in enumerate(expected):
        column = table[field.name]
        try:
            if field.name in labels:
                column = (
                    column.cast(_LABEL_TYPE)
                    if pa.types.is_dictionary(column.type)
                    else pc.dictionary_encode(column.cast(pa.string()))
                )
            else:
                column = column.cast(field.type)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:  # e.g. an int64 beyond float64's 2**53
            raise SnapshotError(f"{file}: column {clip(field.name)} holds values that are not {field.type} "
                                f"({reason(exc)})") from exc  # fmt: skip
        table = table.set_column(i, field.name, column)
    return table


_LABEL_TYPE = pa.dictionary(pa.int32(), pa.string())


def _namespace_rows(file: Path, keep: list[str], labels: list[str]) -> pa.Table:
    """The rows of ``file`` whose namespace is in ``keep`` (sorted), a row group at a time: only the groups
    whose namespace statistics can hold one of them are read (a file in namespace order gives a partition
    its own groups instead of filtering every row), and a group that may hold others is filtered as it is
    read, so memory follows the rows kept, not the file."""
    parquet = pq.ParquetFile(file, read_dictionary=labels)
    meta = parquet.metadata
    column = parquet.schema_arrow.get_field_index("namespace")
    wanted = pa.array(keep, pa.string())
    pieces: list[pa.Table] = []
    whole: list[int] = []  # consecutive groups of one wanted namespace: read together, unfiltered

    def flush() -> None:
        if whole:
            pieces.append(parquet.read_row_groups(whole))
            whole.clear()

    for i in range(meta.num_row_groups):
        stats = meta.row_group(i).column(column).statistics
        known = stats is not None and stats.has_min_max and isinstance(stats.min, str)
        if known:
            at = bisect.bisect_left(keep, stats.min)
            if at == len(keep) or keep[at] > stats.max:
                continue
            if stats.min == stats.max:
                whole.append(i)
                continue
        flush()
        piece = parquet.read_row_group(i)
        pieces.append(piece.filter(pc.is_in(piece["namespace"].cast(pa.string()), value_set=wanted)))
    flush()
    return pa.concat_tables(pieces) if pieces else parquet.schema_arrow.empty_table()


def _compatible(actual: pa.DataType, expected: pa.DataType) -> bool:
    if pa.types.is_timestamp(expected):
        return pa.types.is_timestamp(actual) and actual.tz is not None
    if pa.types.is_string(expected):
        if pa.types.is_dictionary(actual):
            actual = actual.value_type
        return pa.types.is_string(actual) or pa.types.is_large_string(actual)
    if pa.types.is_floating(expected):
        return pa.types.is_floating(actual) or pa.types.is_integer(actual)
    if pa.types.is_integer(expected):
        return pa.types.is_integer(actual)
    return actual == expected


def read_usage_csv(path: Path) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path, dtype={"namespace": str, "pod": str, "container": str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise SnapshotError(f"{path}: not a readable CSV file ({reason(exc)})") from exc
    for column in schema.USAGE_COLUMNS:
        if column not in frame.columns:
            hint = next((_UNIT_HINTS[n] for n in frame.columns if n in _UNIT_HINTS), None)
            extra = f" (expected {hint})" if hint else ""
            raise SnapshotError(f"{path}: column {clip(column)} is missing{extra}")
    try:
        frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True, format="ISO8601")
    except (ValueError, TypeError) as exc:
        raise SnapshotError(f"{path}: column 'timestamp' must hold ISO 8601 times ({reason(exc)})") from exc
    for column in ("cpu_cores", "memory_bytes"):
        try:
            frame[column] = pd.to_numeric(frame[column]).astype(np.float64)
        except (ValueError, TypeError) as exc:
            raise SnapshotError(f"{path}: column {clip(column)} must be numeric") from exc
    for column in ("namespace", "pod", "container"):
        if frame[column].isna().any():
            raise SnapshotError(f"{path}: column {clip(column)} has empty values")
        frame[column] = frame[column].astype(object)
    return _checked_usage(frame[list(schema.USAGE_COLUMNS)], path)


def _checked_usage(frame: pd.DataFrame, where: Path) -> pd.DataFrame:
    _check_numbers(
        frame["cpu_cores"].to_numpy(dtype=np.float64),
        frame["memory_bytes"].to_numpy(dtype=np.float64),
        where,
        lambda i: f"{frame['pod'].iat[i]}/{frame['container'].iat[i]}",
    )
    return frame


def _check_numbers(cpu: np.ndarray, memory: np.ndarray, where: Path, row: Callable[[int], str]) -> None:
    """Refuse negative or non-finite usage, and units that are not cores and bytes; ``row`` names a row
    (pod/container) in the message."""
    for column, values in (("cpu_cores", cpu), ("memory_bytes", memory)):
        bad = ~np.isfinite(values) | (values < 0)
        if bad.any():
            first = int(np.argmax(bad))
            raise SnapshotError(
                f"{where}: column {clip(column)} has {int(bad.sum())} negative or non-finite values, "
                f"e.g. {float(values[first])!r} for {clip(row(first))}"
            )
    if len(cpu):
        cpu_max = float(cpu.max())
        if cpu_max > schema.MAX_PLAUSIBLE_CPU_CORES:
            raise SnapshotError(
                f"{where}: column 'cpu_cores' reaches {cpu_max:g}: values look like millicores, expected cores"
            )
        mem_max = float(memory.max())
        if 0 < mem_max < schema.MIN_PLAUSIBLE_MAX_MEMORY_BYTES:
            raise SnapshotError(
                f"{where}: column 'memory_bytes' never exceeds {mem_max:g}: values look like MiB or KiB, expected bytes"
            )


def read_replicas(root: Path, wanted: Namespaces = None) -> pd.DataFrame:
    path = root / schema.REPLICAS_FILE
    csv_path = root / schema.REPLICAS_CSV
    if path.is_file():
        frame = _read_parquet(path, REPLICAS_SCHEMA, wanted)
    elif csv_path.is_file():
        try:
            frame = pd.read_csv(csv_path, dtype={"namespace": str, "kind": str, "name": str})
            frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True, format="ISO8601")
            frame["replicas"] = frame["replicas"].astype(np.int64)
        except (KeyError, ValueError, TypeError, pd.errors.ParserError) as exc:
            raise SnapshotError(
                f"{csv_path}: needs columns {', '.join(schema.REPLICAS_COLUMNS)} ({reason(exc)})"
            ) from exc
        path = csv_path
    else:
        return pd.DataFrame(
            {
                c: pd.Series(dtype=t)
                for c, t in zip(
                    schema.REPLICAS_COLUMNS,
                    ["datetime64[ns, UTC]", "category", "category", "category", np.int64],
                    strict=True,
                )
            }
        )
    if (frame["replicas"] < 0).any():
        raise SnapshotError(f"{path}: column 'replicas' has negative values")
    for column in ("namespace", "kind", "name"):
        if frame[column].isna().any():
            raise SnapshotError(f"{path}: column {clip(column)} has empty values")
        frame[column] = _sorted_categories(frame[column])
    frame = frame[list(schema.REPLICAS_COLUMNS)]
    keys = _sort_keys(frame, schema.REPLICAS_KEY)
    if len(frame) > 1 and not (_ordered_pairs(keys) >= 0).all():
        frame = frame.take(np.lexsort(keys[::-1]))
    return frame.reset_index(drop=True)


def read_pod_status(root: Path, wanted: Namespaces = None) -> pd.DataFrame:
    """``pod_status.parquet`` (optional): each pod's phase and readiness per sample time."""
    path = root / schema.POD_STATUS_FILE
    if not path.is_file():
        return schema.empty_pod_status()
    frame = _read_parquet(path, POD_STATUS_SCHEMA, wanted)
    for column in ("namespace", "pod", "phase"):
        if frame[column].isna().any():
            raise SnapshotError(f"{path}: column {clip(column)} has empty values")
    if frame["ready"].isna().any():
        raise SnapshotError(f"{path}: column 'ready' has empty values")
    # Recoded through the few names, not per row: the names a row uses, counted over the codes.
    phase = frame["phase"].cat
    names = [str(p) for p in phase.categories]
    codes = phase.codes.to_numpy()
    used = np.bincount(codes, minlength=len(names)) > 0
    unknown = sorted(n for n, u in zip(names, used, strict=True) if u and n not in schema.POD_PHASES)
    if unknown:
        raise SnapshotError(f"{path}: column 'phase' holds {clip(unknown[0])}, expected one of "
                            f"{', '.join(schema.POD_PHASES)}")  # fmt: skip
    recode = np.array([schema.POD_PHASES.index(n) if n in schema.POD_PHASES else -1 for n in names], dtype=np.int8)
    frame["phase"] = pd.Categorical.from_codes(recode[codes], categories=list(schema.POD_PHASES))
    for column in ("namespace", "pod"):
        frame[column] = _sorted_categories(frame[column])
    if len(frame) > 1:
        pairs = _ordered_pairs(_sort_keys(frame, schema.POD_STATUS_KEY))
        if not (pairs >= 0).all():
            frame = frame.take(np.lexsort(_sort_keys(frame, schema.POD_STATUS_KEY)[::-1])).reset_index(drop=True)
            pairs = _ordered_pairs(_sort_keys(frame, schema.POD_STATUS_KEY))
        if (pairs == 0).any():
            raise SnapshotError(f"{path}: two rows for the same (namespace, pod, timestamp)")
    return frame[list(schema.POD_STATUS_COLUMNS)]


def read_container_status(root: Path, wanted: Namespaces = None) -> pd.DataFrame:
    """``container_status.parquet`` (optional): a row where a container's readiness, restarts or state changed."""
    path = root / schema.CONTAINER_STATUS_FILE
    if not path.is_file():
        return schema.empty_container_status()
    expected = CONTAINER_STATUS_SCHEMA
    recorded = "terminated_reason" in _file_columns(path)
    if not recorded:  # written before the column was: the reasons were not recorded
        expected = expected.remove(expected.get_field_index("terminated_reason"))
    frame = _read_parquet(path, expected, wanted)
    if not recorded:
        frame["terminated_reason"] = pd.Categorical([""] * len(frame), categories=[""])
    for column in schema.CONTAINER_STATUS_COLUMNS:
        if frame[column].isna().any():
            raise SnapshotError(f"{path}: column {clip(column)} has empty values")
    if (frame["restarts"] < 0).any():
        raise SnapshotError(f"{path}: column 'restarts' has negative values")
    if (frame["last_exit_code"] < -1).any():
        raise SnapshotError(f"{path}: column 'last_exit_code' has values below -1 (-1: none)")
    state = frame["state"].astype("category").cat
    names = [str(n) for n in state.categories]
    used = np.bincount(state.codes.to_numpy(), minlength=len(names)) > 0
    unknown = sorted(n for n, u in zip(names, used, strict=True) if u and n not in schema.CONTAINER_STATES)
    if unknown:
        raise SnapshotError(f"{path}: column 'state' holds {clip(unknown[0])}, expected one of "
                            f"{', '.join(repr(s) for s in schema.CONTAINER_STATES)}")  # fmt: skip
    recode = np.array([schema.CONTAINER_STATES.index(n) if n in schema.CONTAINER_STATES else 0 for n in names])
    frame["state"] = pd.Categorical.from_codes(recode[state.codes.to_numpy()].astype(np.int8),
                                               categories=list(schema.CONTAINER_STATES))  # fmt: skip
    stray = ((frame["terminated_reason"] != "") & (frame["state"] != "terminated")).to_numpy()  # by category
    if stray.any():
        row = int(np.flatnonzero(stray)[0])
        reason, state = clip(str(frame["terminated_reason"].iloc[row])), clip(str(frame["state"].iloc[row]))
        raise SnapshotError(f"{path}: row {row} has terminated_reason {reason} but state {state} "
                            "(a reason belongs to a terminated row)")  # fmt: skip
    for column in schema.CONTAINER_STATUS_LABELS:
        frame[column] = _sorted_categories(frame[column])
    key = schema.CONTAINER_STATUS_KEY
    if len(frame) > 1:
        pairs = _ordered_pairs(_sort_keys(frame, key))
        if not (pairs >= 0).all():
            frame = frame.take(np.lexsort(_sort_keys(frame, key)[::-1])).reset_index(drop=True)
            pairs = _ordered_pairs(_sort_keys(frame, key))
        if (pairs == 0).any():
            raise SnapshotError(f"{path}: two rows for the same (namespace, pod, container, timestamp)")
    return frame[list(schema.CONTAINER_STATUS_COLUMNS)].reset_index(drop=True)


def _sort_keys(frame: pd.DataFrame, columns: tuple[str, ...]) -> list[np.ndarray]:
    """The key columns as integer arrays (label codes, which follow name order; timestamps as ticks)."""
    return [frame[c].cat.codes.to_numpy() if c != "timestamp" else frame[c].astype("int64").to_numpy()
            for c in columns]  # fmt: skip


def _sorted_categories(values: pd.Series) -> pd.Series:
    """``values`` as a categorical whose categories are sorted, so that code order is name order."""
    cat = values if isinstance(values.dtype, pd.CategoricalDtype) else values.astype("category")
    names = cat.cat.categories
    return cat if names.is_monotonic_increasing else cat.cat.reorder_categories(names.sort_values())


def check_usage_has_pods(usage: pd.DataFrame, pods: list[dict[str, Any]], root: Path) -> None:
    known = {(p["metadata"]["namespace"], p["metadata"]["name"]) for p in pods}
    ns, pod = usage["namespace"].astype("category"), usage["pod"].astype("category")
    n_pods = len(pod.cat.categories)
    cell = ns.cat.codes.to_numpy().astype(np.int64) * n_pods + pod.cat.codes.to_numpy()
    present = np.flatnonzero(np.bincount(cell)) if len(cell) else cell  # (namespace, pod) pairs, no hashing
    pairs = zip(ns.cat.categories[present // n_pods], pod.cat.categories[present % n_pods], strict=True)
    for namespace, name in pairs:
        if (namespace, name) not in known:
            who = f"{namespace}/{name}"
            shown = who if who.isprintable() and len(who) <= 120 else clip(who)  # a name from the file, any text
            raise SnapshotError(f"{root / schema.OBJECTS_DIR}: usage samples for pod {shown}, which has no Pod object")


# ---------------------------------------------------------------- writing
