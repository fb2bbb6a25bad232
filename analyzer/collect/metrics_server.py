"""Usage from metrics-server (``metrics.k8s.io/v1beta1`` PodMetrics), for clusters without Prometheus.

metrics-server keeps only the latest value per container, so a history is built by polling it at
``interval_s`` for ``duration_s``. Each poll becomes one sample per container at the poll's instant
on the interval grid. Pods are listed in full at the start and the end: a pod gone by the end keeps
its first listing and is marked deleted one interval after its last sample. At each poll the pods are
listed too, for their containers' status (readiness, restarts, state, last termination): the rows
where it changed are the snapshot's ``container_status``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from analyzer.__about__ import __version__
from analyzer.collect.collector import NOTES_KEY, Collection, Progress, described_by
from analyzer.collect.ksm_objects import iso
from analyzer.collect.kube_api import POD_METRICS, RESOURCES, KubeLister, KubeOptions, ListSkipped
from analyzer.collect.status_changes import changes_only, pod_statuses
from analyzer.errors import QuantityError, SidecarImpactError, SourceError
from analyzer.snapshot.schema import (
    CONTAINER_STATUS_COLUMNS,
    DELETED_AT_ANNOTATION,
    KUBERNETES_VERSION_KEY,
    OBJECT_KINDS,
    Metadata,
    Snapshot,
)
from analyzer.snapshot.store import check_snapshot
from analyzer.snapshot.writing import atomic_directory, write_snapshot_files
from analyzer.units import parse_quantity

log = logging.getLogger(__name__)

PODS = next(r for r in RESOURCES if r.kind == "Pod")

Clock = Callable[[], float]
Sleep = Callable[[float], None]


def collect_metrics_server(
    kube: KubeOptions,
    duration_s: float,
    interval_s: float,
    out: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    cluster_name: str | None = None,
    progress: Progress | None = None,
    clock: Clock = time.time,
    sleep: Sleep = time.sleep,
) -> Collection:
    """Poll PodMetrics ``duration_s / interval_s + 1`` times and list the objects around the polls; the
    snapshot is written to ``out`` atomically (its samples, a poll's worth per interval, are held until then)."""
    if interval_s < 1 or duration_s < interval_s:
        raise SidecarImpactError("--interval must be at least 1s and --duration at least one interval")
    lister = KubeLister(kube)
    try:
        first = lister.list_all()
        polls = int(duration_s // interval_s) + 1
        start = clock()
        rows: list[tuple[pd.Timestamp, str, str, str, float, float]] = []
        statuses: list[tuple[Any, ...]] = []
        for k in range(polls):
            wait = start + k * interval_s - clock()
            if wait > 0:
                sleep(wait)
            at = pd.Timestamp((start // interval_s) * interval_s + k * interval_s, unit="s", tz="UTC")
            try:
                items = lister.list(POD_METRICS)
            except ListSkipped as skipped:  # an error here: there is nothing else to read
                raise SourceError(f"metrics.k8s.io at {lister.server}: {skipped.note}") from None
            rows.extend(_samples(items, at))
            with contextlib.suppress(ListSkipped):  # no pods to read now: their status is missing this poll only
                statuses.extend(pod_statuses(lister.list(PODS), at))
            if progress is not None:
                progress("metrics-server", k + 1, polls)
        last = lister.list_all()
        version = lister.server_version()
    finally:
        lister.close()
    usage = pd.DataFrame(rows, columns=["timestamp", "namespace", "pod", "container", "cpu_cores", "memory_bytes"])
    usage = usage.drop_duplicates(["timestamp", "namespace", "pod", "container"], keep="last")
    objects = _merge_listings(first.objects, last.objects, usage, interval_s)
    keep = described_by(usage, objects["Pod"])
    notes = sorted(set(first.notes) | set(last.notes))
    if not keep.all():
        lost = len(usage.loc[~keep, ["namespace", "pod"]].drop_duplicates())
        notes.append(f"dropped the usage of {lost} pods that were never listed (created and deleted between listings)")
        usage = usage[keep]
    if usage.empty:
        raise SourceError(f"metrics.k8s.io at {lister.server}: no pod metrics in {polls} polls")
    extra: dict[str, Any] = {
        "requests": {"kubernetes": lister.requests},
        **({KUBERNETES_VERSION_KEY: version} if version else {}),
        **({NOTES_KEY: notes} if notes else {}),
    }
    metadata = Metadata(
        1, "metrics-server", cluster_name or kube.context or "cluster",
        usage["timestamp"].min(), usage["timestamp"].max(), interval_s, __version__, extra,
    )  # fmt: skip
    replicas = pd.DataFrame(columns=["timestamp", "namespace", "kind", "name", "replicas"])
    pods = {(p["metadata"]["namespace"], p["metadata"]["name"]) for p in objects["Pod"]}
    containers = changes_only(pd.DataFrame([s for s in statuses if (s[1], s[2]) in pods],
                                           columns=list(CONTAINER_STATUS_COLUMNS)))  # pods the snapshot describes
    snapshot = Snapshot(metadata, usage.reset_index(drop=True), replicas, objects, container_status=containers)
    with atomic_directory(out, overwrite=overwrite) as tmp:
        write_snapshot_files(snapshot, tmp)
        check_snapshot(tmp)
    return Collection(Path(out), len(objects["Pod"]), len(usage), notes, extra["requests"])


def _samples(items: list[dict[str, Any]], at: pd.Timestamp) -> list[tuple[pd.Timestamp, str, str, str, float, float]]:
    rows = []
    for item in items:
        meta = item.get("metadata") or {}
        for container in item.get("containers") or []:
            usage = container.get("usage") or {}
            try:
                cpu = float(parse_quantity(usage.get("cpu", "0")))
                memory = float(parse_quantity(usage.get("memory", "0")))
            except QuantityError as exc:
                raise SourceError(
                    f"metrics.k8s.io: PodMetrics {meta.get('namespace')}/{meta.get('name')} container "
                    f"{container.get('name')}: {exc}"
                ) from None
            rows.append((at, meta.get("namespace", ""), meta.get("name", ""), container.get("name", ""), cpu, memory))
    return rows


def _merge_listings(
    first: dict[str, list[dict[str, Any]]],
    last: dict[str, list[dict[str, Any]]],
    usage: pd.DataFrame,
    interval_s: float,
) -> dict[str, list[dict[str, Any]]]:
    merged: dict[str, list[dict[str, Any]]] = {}
    last_seen = usage.groupby(["namespace", "pod"])["timestamp"].max().to_dict() if len(usage) else {}
    for kind in OBJECT_KINDS:
        newest = {_key(o): o for o in last.get(kind, [])}
        gone = [o for o in first.get(kind, []) if _key(o) not in newest]
        if kind == "Pod":
            for pod in gone:
                seen = last_seen.get(_key(pod))
                if seen is not None:
                    annotations = pod["metadata"].setdefault("annotations", {})
                    annotations[DELETED_AT_ANNOTATION] = iso(seen + pd.Timedelta(seconds=interval_s))
        merged[kind] = [*newest.values(), *gone]
    return merged


def _key(obj: dict[str, Any]) -> tuple[str, str]:
    return obj["metadata"].get("namespace", ""), obj["metadata"]["name"]
