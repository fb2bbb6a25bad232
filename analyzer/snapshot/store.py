"""A snapshot directory read (layout in docs/snapshot.md): its metadata, objects and tables, whole or a
namespace slice at a time (:class:`SnapshotFiles`); the tables themselves are read by
:mod:`analyzer.snapshot.tables`, written by :mod:`analyzer.snapshot.writing`."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from analyzer.errors import NothingToAnalyse, SnapshotError, clip, reason
from analyzer.snapshot import schema
from analyzer.snapshot.objects import iter_object_files, read_object_files
from analyzer.snapshot.partitions import Name, Slice
from analyzer.snapshot.schema import NOTES_KEY, Metadata, Snapshot
from analyzer.snapshot.shards import Shard
from analyzer.snapshot.tables import (
    Namespaces,
    check_usage_has_pods,
    predicate,
    read_container_status,
    read_pod_status,
    read_replicas,
    read_usage,
    rows_in,
)
from analyzer.snapshot.validation import METADATA_VALIDATOR, first_problem

# ---------------------------------------------------------------- reading


def load_snapshot(
    path: str | os.PathLike[str], namespaces: Iterable[str] | None = None, shard: Shard | None = None
) -> Snapshot:
    """Load and validate the snapshot at ``path``; ``namespaces`` limits what is read to those, ``shard``
    to the namespaces of that shard (both may be given).

    Raises :class:`SnapshotError` with a one-line message naming the file and the problem, and
    :class:`NothingToAnalyse` when no pod or sample is left in the namespaces asked for.
    """
    wanted, scope = namespace_filter(namespaces, shard)
    return SnapshotFiles(path).load(wanted, scope)


CHECK_ROWS = 4_000_000
"""Usage samples :func:`check_snapshot` loads at once."""


def check_snapshot(path: str | os.PathLike[str], budget: int = CHECK_ROWS) -> None:
    """Validate the snapshot at ``path`` as :func:`load_snapshot` does, loading groups of namespaces of at
    most ``budget`` usage samples (a larger namespace alone) so that memory stays bounded by the budget."""
    files = SnapshotFiles(path, keep_objects=True)
    rows = files.usage_rows()
    if not rows:
        files.load()  # a CSV snapshot, or one without samples: the whole load says what is wrong
        return
    group: list[str] = []
    size = 0
    for ns in sorted(rows):
        if group and size + rows[ns] > budget:
            files.load(group)
            group, size = [], 0
        group.append(ns)
        size += rows[ns]
    files.load(group)


def namespace_filter(namespaces: Iterable[str] | None, shard: Shard | None) -> tuple[Callable[[str], bool] | None, str]:
    """The predicate on namespace names that ``namespaces`` and ``shard`` make (None: every namespace),
    and how to word it in an error (`` in namespace a, b in shard 1/4``)."""
    if namespaces is None and shard is None:
        return None, ""
    listed = None if namespaces is None else set(namespaces)

    def wanted(namespace: str) -> bool:
        return (listed is None or namespace in listed) and (shard is None or shard.holds(namespace))

    scope = "" if listed is None else f" in namespace {', '.join(sorted(listed))}"
    return wanted, scope + ("" if shard is None else f" in shard {shard}")


class SnapshotFiles:
    """A snapshot directory read in parts: each :meth:`load` reads the usage, replicas and pod status of
    the namespaces it is asked for (Parquet row groups of other namespaces are skipped), or of slices of
    them (:mod:`analyzer.snapshot.partitions`), and takes their objects from one read of the object files,
    validated once.

    ``keep_objects``: keep the objects between loads, each as compact JSON text (a tenth of the memory of
    parsed objects), for a run that loads the snapshot partition by partition.
    """

    def __init__(self, path: str | os.PathLike[str], keep_objects: bool = False) -> None:
        self.root = Path(path)
        if not self.root.is_dir():
            raise SnapshotError(f"{self.root}: not a snapshot directory (it does not exist or is not a directory)")
        self.metadata = _read_metadata(self.root / schema.METADATA_FILE)
        self.keep_objects = keep_objects
        self._kept: dict[str, list[tuple[int, str, str]]] | None = None
        self._notes: list[str] = []

    def usage_rows(self) -> dict[str, int] | None:
        """Usage samples per namespace, from the Parquet footers (None for a CSV snapshot)."""
        usage_dir = self.root / schema.USAGE_DIR
        if not usage_dir.is_dir():
            return None
        rows: dict[str, int] = {}
        for part_dir in sorted(usage_dir.iterdir()):
            if part_dir.is_dir() and part_dir.name.startswith("namespace="):
                ns = part_dir.name.removeprefix("namespace=")
                rows[ns] = 0
                for file in sorted(part_dir.glob("*.parquet")):
                    try:
                        rows[ns] += pq.read_metadata(file).num_rows
                    except (OSError, pa.ArrowException) as exc:
                        raise SnapshotError(f"{file}: not a readable Parquet file ({reason(exc)})") from exc
        return rows

    def pod_rows(self, namespace: str) -> dict[str, int]:
        """Usage samples per pod of ``namespace`` (reading its pod column only)."""
        counts: dict[str, int] = {}
        for file in sorted((self.root / schema.USAGE_DIR / f"namespace={namespace}").glob("*.parquet")):
            try:
                pods = pq.read_table(file, columns=["pod"], read_dictionary=["pod"])["pod"]
            except (OSError, KeyError, pa.ArrowException) as exc:
                raise SnapshotError(f"{file}: not a readable Parquet file ({reason(exc)})") from exc
            if not pa.types.is_dictionary(pods.type):
                raise SnapshotError(f"{file}: column 'pod' has type {pods.type}, expected string")
            for chunk in pods.chunks:  # each row group's own dictionary
                indices = pc.drop_null(chunk.indices).to_numpy(zero_copy_only=False)
                found = np.bincount(indices, minlength=len(chunk.dictionary))
                for name, n in zip(chunk.dictionary.to_pylist(), found.tolist(), strict=True):
                    if n and isinstance(name, str):
                        counts[name] = counts.get(name, 0) + n
        return counts

    def row_names(self, namespace: str) -> set[Name]:
        """The names ``namespace``'s replica series and pod status rows refer to: (kind, name) and
        ("Pod", pod)."""
        names: set[Name] = set()
        replicas = read_replicas(self.root, [namespace])
        pairs = replicas[["kind", "name"]].astype(str).drop_duplicates()
        names.update(zip(pairs["kind"], pairs["name"], strict=True))
        names.update(("Pod", str(pod)) for pod in read_pod_status(self.root, [namespace])["pod"].unique())
        return names

    def objects_of(self, namespace: str) -> dict[str, list[dict[str, Any]]]:
        """``namespace``'s objects, by kind (with ``keep_objects``, from the kept text)."""
        return self._objects(lambda ns: ns == namespace)[0]

    def object_namespaces(self) -> set[str]:
        """Namespaces that hold objects (with ``keep_objects``: the object files are read and validated once)."""
        if not self.keep_objects:
            raise ValueError("object_namespaces needs keep_objects=True")
        self._objects(lambda _: False)
        return set(self._kept or ())

    def forget_objects(self) -> None:
        """Free the kept objects (a later load reads the object files again)."""
        self._kept = None

    def load(self, wanted: Namespaces = None, scope: str = "", slices: Mapping[str, Slice] | None = None) -> Snapshot:
        """The snapshot of the namespaces ``wanted`` accepts (all when None), given as a predicate or as the
        namespaces themselves, and of the namespaces in ``slices`` only the pods and objects their slice
        names; ``scope`` words them in errors."""
        root, metadata = self.root, self.metadata
        accept = predicate(wanted)
        slices = slices or {}
        usage = read_usage(root, accept, slices)
        replicas = read_replicas(root, wanted)
        pod_status = read_pod_status(root, wanted)
        containers = read_container_status(root, wanted)
        if accept is not None:  # a CSV has no row groups to skip
            replicas, pod_status = rows_in(replicas, accept), rows_in(pod_status, accept)
            containers = rows_in(containers, accept)
        if slices:
            replicas = _rows_in_slices(replicas, slices, ("kind", "name"), lambda piece: piece.names)
            pod_status = _rows_in_slices(pod_status, slices, ("pod",), _slice_pods)
            containers = _rows_in_slices(containers, slices, ("pod",), _slice_pods)
        objects, notes = self._objects(accept)
        if slices:
            objects = _objects_in_slices(objects, slices)
        if notes:
            old = metadata.extra.get(NOTES_KEY, [])
            metadata = replace(metadata, extra={**metadata.extra, NOTES_KEY: [*old, *notes]})
        if not objects["Pod"]:
            raise NothingToAnalyse(f"{root}: no pods{scope} (nothing to analyse)")
        if not len(usage):
            raise NothingToAnalyse(f"{root}: no usage samples{scope} (nothing to analyse)")
        check_usage_has_pods(usage, objects["Pod"], root)
        _check_time_grid(metadata, usage, root / schema.METADATA_FILE)
        return Snapshot(metadata=metadata, usage=usage, replicas=replicas, objects=objects, pod_status=pod_status,
                        container_status=containers)  # fmt: skip

    def _objects(self, wanted: Callable[[str], bool] | None) -> tuple[dict[str, list[dict[str, Any]]], list[str]]:
        objects_dir = self.root / schema.OBJECTS_DIR
        if self._kept is None:
            if not objects_dir.is_dir():
                raise SnapshotError(f"{objects_dir}: missing (the snapshot's Kubernetes objects)")
            if not self.keep_objects:
                objects, self._notes = read_object_files(objects_dir)
                return _objects_in(objects, wanted), self._notes
            self._kept = {}
            self._notes = []
            for order, (kind, item) in enumerate(iter_object_files(objects_dir, self._notes)):
                text = json.dumps(item, separators=(",", ":"))
                self._kept.setdefault(item["metadata"]["namespace"], []).append((order, kind, text))
        kept = sorted(entry for ns, entries in self._kept.items() if wanted is None or wanted(ns) for entry in entries)
        out: dict[str, list[dict[str, Any]]] = {kind: [] for kind in schema.OBJECT_KINDS}
        for _, kind, text in kept:
            out[kind].append(json.loads(text))
        return out, self._notes


def _objects_in(
    objects: dict[str, list[dict[str, Any]]], wanted: Callable[[str], bool] | None
) -> dict[str, list[dict[str, Any]]]:
    if wanted is None:
        return objects
    return {k: [o for o in v if wanted(o["metadata"].get("namespace", ""))] for k, v in objects.items()}


def _read_metadata(path: Path) -> Metadata:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SnapshotError(f"{path}: missing (every snapshot has a metadata.json)") from None
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        raise SnapshotError(f"{path}: not valid JSON") from None
    except OSError as exc:
        raise SnapshotError(f"{path}: cannot read ({exc.strerror})") from None
    return metadata_from_json(raw, path)


def metadata_from_json(raw: Any, path: Path) -> Metadata:
    """Validate a parsed ``metadata.json`` (``path`` names it in errors) and build its :class:`Metadata`."""
    if not isinstance(raw, dict):
        raise SnapshotError(f"{path}: must be a JSON object")
    version = raw.get("schema_version")
    if version not in schema.SUPPORTED_SCHEMA_VERSIONS or isinstance(version, bool):
        supported = ", ".join(map(str, schema.SUPPORTED_SCHEMA_VERSIONS))
        raise SnapshotError(f"{path}: unknown schema_version {clip(version)} (this version reads {supported})")
    problem = first_problem(METADATA_VALIDATOR, raw)
    if problem is not None:
        raise SnapshotError(f"{path}: {problem}")
    start = pd.Timestamp(raw["start"]).tz_convert("UTC")
    end = pd.Timestamp(raw["end"]).tz_convert("UTC")
    if end < start:
        raise SnapshotError(f"{path}: end {raw['end']} is before start {raw['start']}")
    return Metadata(
        schema_version=int(version),
        source=raw["source"],
        cluster=raw["cluster"],
        start=start,
        end=end,
        step_s=float(raw["step_s"]),
        tool_version=raw.get("tool_version", ""),
        extra=dict(raw.get("extra") or {}),
    )


MAX_GRID_SLACK = 10_000
"""Grid points the declared range may hold beyond four per distinct sample time (gaps in the data)."""


def _check_time_grid(metadata: Metadata, usage: pd.DataFrame, where: Path) -> None:
    """Refuse a declared range and step that the samples do not justify, or samples off the step.

    The HPA replay allocates one row per step of the declared range: years at a one-second step would
    allocate far more than the data present could ever fill.
    """
    ticks = usage["timestamp"].array.asi8  # in time order (the usage key starts with it)
    times = ticks[np.concatenate([[True], ticks[1:] != ticks[:-1]])] if len(ticks) else ticks
    step_ns = metadata.step_s * 1e9
    points = int((metadata.end - metadata.start).total_seconds() // metadata.step_s) + 1
    if points > 4 * len(times) + MAX_GRID_SLACK:
        raise SnapshotError(
            f"{where}: start {metadata.start.isoformat()} to end {metadata.end.isoformat()} at step_s "
            f"{metadata.step_s:g} is {points:,} steps for {len(times):,} sample times; the range or step is wrong"
        )
    if len(times) > 1:
        offsets = (times - times[0]) / step_ns
        off_grid = np.abs(offsets - np.rint(offsets)) > 0.05
        if off_grid.any():
            gap = (times[int(np.argmax(off_grid))] - times[0]) / 1e9
            raise SnapshotError(
                f"{where}: a sample {gap:g} s after the first is not on the step_s {metadata.step_s:g} grid "
                f"(step_s must divide the spacing of the samples)"
            )


def _slice_pods(piece: Slice) -> set[tuple[str]]:
    return {(p,) for p in piece.pods}


def _rows_in_slices(
    frame: pd.DataFrame,
    slices: Mapping[str, Slice],
    columns: tuple[str, ...],
    allowed: Callable[[Slice], Collection[tuple[str, ...]]],
) -> pd.DataFrame:
    """The rows of ``frame`` outside the sliced namespaces, and in each sliced namespace those whose
    ``columns`` hold a tuple its slice allows (matched by category codes, not by string)."""
    if not len(frame):
        return frame
    labels = [frame[c].astype("category") for c in columns]
    sizes = [len(c.cat.categories) + 1 for c in labels]
    code = np.zeros(len(frame), dtype=np.int64)
    for column, size in zip(labels, sizes, strict=True):
        code = code * size + column.cat.codes.to_numpy().astype(np.int64) + 1
    namespace = frame["namespace"]
    keep = ~namespace.isin(list(slices)).to_numpy()
    for ns, piece in slices.items():
        values = list(allowed(piece))
        indexes = [c.cat.categories.get_indexer([v[i] for v in values]) for i, c in enumerate(labels)]
        known = np.all([i >= 0 for i in indexes], axis=0) if values else np.zeros(0, dtype=bool)
        wanted = np.zeros(len(values), dtype=np.int64)
        for index, size in zip(indexes, sizes, strict=True):
            wanted = wanted * size + index + 1
        keep |= (namespace == ns).to_numpy() & np.isin(code, wanted[known])
    return frame[keep].reset_index(drop=True)


def _objects_in_slices(
    objects: dict[str, list[dict[str, Any]]], slices: Mapping[str, Slice]
) -> dict[str, list[dict[str, Any]]]:
    def kept(kind: str, obj: dict[str, Any]) -> bool:
        piece = slices.get(obj["metadata"].get("namespace", ""))
        return piece is None or (kind, obj["metadata"]["name"]) in piece.names

    return {kind: [o for o in items if kept(kind, o)] for kind, items in objects.items()}
