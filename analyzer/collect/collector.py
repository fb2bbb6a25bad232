"""A whole collection: usage and objects from Prometheus and the Kubernetes API into one snapshot.

Objects come from the API (``kube``) or files (``objects_path``) when given; pods and workloads the
API no longer has (deleted during the range) are rebuilt from kube-state-metrics; without
kube-state-metrics, usage of pods no object describes is dropped and counted in a note.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import pandas as pd

from analyzer.__about__ import __version__
from analyzer.collect import promql
from analyzer.collect.ksm import KsmState, collect_ksm
from analyzer.collect.ksm_objects import ksm_hpas, ksm_pods, ksm_workloads, owned_by
from analyzer.collect.kube_api import KubeLister, KubeOptions
from analyzer.collect.prometheus_connection import PromClient, PromOptions
from analyzer.collect.prometheus_usage import (
    DEFAULT_SAMPLE_BUDGET,
    namespace_sizes,
    plan,
    scrape_interval_s,
    usage_parts,
)
from analyzer.collect.reconcile import clipped, disagreement
from analyzer.collect.timerange import TimeRange, rate_window_s
from analyzer.collect.written_objects import WrittenObjects, controller
from analyzer.errors import NothingToAnalyse, SidecarImpactError, SourceError
from analyzer.snapshot.objects import iter_object_files
from analyzer.snapshot.schema import (
    KUBERNETES_VERSION_KEY,
    METADATA_FILE,
    NOTES_KEY,
    OBJECTS_DIR,
    POD_STATUS_FILE,
    REPLICAS_COLUMNS,
    REPLICAS_FILE,
    Metadata,
    Snapshot,
    empty_pod_status,
)
from analyzer.snapshot.shards import Shard
from analyzer.snapshot.store import check_snapshot, load_snapshot
from analyzer.snapshot.tables import empty_usage
from analyzer.snapshot.writing import (
    ObjectFiles,
    RowsFile,
    UsageFiles,
    atomic_directory,
    pod_status_table,
    replicas_table,
    write_json,
    write_tables,
)

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]
"""``(stage, done, total)``: the CLI draws a bar on a terminal and logs lines otherwise."""


@dataclass
class Collection:
    """A snapshot a collector wrote, with what was noticed on the way and how many requests it took."""

    path: Path
    pods: int
    samples: int
    notes: list[str] = field(default_factory=list)
    requests: dict[str, int] = field(default_factory=dict)

    @cached_property
    def snapshot(self) -> Snapshot:
        """The snapshot written, loaded whole (for a range small enough to hold in memory)."""
        return load_snapshot(self.path)


def collect_prometheus(
    prom: PromOptions,
    tr: TimeRange,
    out: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    namespaces: tuple[str, ...] = (),
    kube: KubeOptions | None = None,
    objects_path: Path | None = None,
    scrape_interval: float | None = None,
    sample_budget: int = DEFAULT_SAMPLE_BUDGET,
    cluster_name: str | None = None,
    progress: Progress | None = None,
    shard: Shard | None = None,
) -> Collection:
    """Collect ``tr`` from Prometheus (and the API or object files) into a snapshot at ``out``; ``shard``:
    only the namespaces of that shard (the same hash as ``report --shard``), found with one query.

    The usage is written as it comes, a request's rows at a time, and the objects as they are listed, into
    a temporary directory that becomes ``out`` only once the whole snapshot is written and validated:
    memory holds one request's rows and the objects' names, never the range or the objects, and a
    failure (or a kill) leaves no snapshot at ``out``."""
    if kube is not None and objects_path is not None:
        raise SidecarImpactError("--objects and the Kubernetes API (--kubeconfig/--context/--in-cluster) are exclusive")
    if objects_path is not None and not objects_path.exists():
        raise SidecarImpactError(f"--objects: {objects_path} does not exist")
    notes: list[str] = []
    client = PromClient(prom)
    lister = KubeLister(kube) if kube is not None else None  # reads the kubeconfig (or the pod's token) now
    try:
        with atomic_directory(out, overwrite=overwrite) as tmp:
            with ObjectFiles(tmp / OBJECTS_DIR) as files:
                selected = bool(kube and kube.selector)
                wanted = shard.holds if shard else None
                objects = WrittenObjects(files, wanted, owners=selected, resources=objects_path is not None)
                if objects_path is not None:  # a bad --objects file is refused before any query is sent
                    notes.extend(_read_objects(objects_path, objects))
                sizes, scope = _namespaces(client, prom, tr, namespaces, shard)
                scrape = scrape_interval or scrape_interval_s(client, scope, tr.end, sizes)
                requests = plan(sizes, tr, sample_budget, scrape)
                log.info("usage: %d namespaces in %d requests per metric (%s); scrape interval %.0f s, rate window "
                         "%.0f s", len(sizes), len(requests), "raw samples" if requests and requests[0].raw else
                         "range queries", scrape, rate_window_s(tr.step_s, scrape))  # fmt: skip
                usage = UsageFiles(tmp)
                seen = PodsSeen()
                for part in usage_parts(client, scope, tr, scrape, requests, _stage(progress, "usage")):
                    usage.add(part)
                    seen.add(part)
                status = RowsFile(tmp / POD_STATUS_FILE, pod_status_table)
                replicas = RowsFile(tmp / REPLICAS_FILE, replicas_table)
                stage = _stage(progress, "kube-state-metrics")
                ksm = collect_ksm(client, scope, tr, status.add, replicas.add, stage, sizes)
                replicas.close()
                if not ksm.present:
                    notes.append(
                        "kube-state-metrics series are missing: requests and owners come from the API objects only"
                    )
                if lister is not None:
                    objects.keep_resources = ksm.present
                    notes.extend(lister.list_all(_stage(progress, "kubernetes"), sink=objects).notes)
                notes.extend(add_rebuilt(objects, seen.frame(), ksm, tr, selected))
            known = _pod_names(objects.names["Pod"])
            dropped = _described_only(usage, known, selected)
            if dropped:
                notes.append(dropped)
            version = lister.server_version() if lister is not None else None
            counts = {"prometheus": client.requests, **({"kubernetes": lister.requests} if lister else {})}
            extra: dict[str, Any] = {
                "prometheus_url": _without_credentials(prom.url),
                "scrape_interval_s": scrape,
                "rate_window_s": rate_window_s(tr.step_s, scrape),
                "objects_from": "kubernetes-api" if kube else "files" if objects_path else "kube-state-metrics",
                "requests": counts,
                **({KUBERNETES_VERSION_KEY: version} if version else {}),
                **({NOTES_KEY: notes} if notes else {}),
            }
            cluster = cluster_name or prom.cluster or (kube.context if kube and kube.context else None) or "cluster"
            metadata = Metadata(1, "prometheus", cluster, tr.start, tr.end, tr.step_s, __version__, extra)
            status.close(keep=lambda namespaces, pods: _known_rows(known, namespaces, pods))
            no_rows = pd.DataFrame(columns=list(REPLICAS_COLUMNS))  # the replica series and pods' status: written
            tables = Snapshot(metadata, empty_usage(), no_rows, {}, empty_pod_status(),
                              _known(ksm.container_status, known))  # fmt: skip
            write_tables(tables, tmp)
            write_json(tmp / METADATA_FILE, metadata.to_json())
            check_snapshot(tmp)
    finally:
        client.close()
        if lister is not None:
            lister.close()
    return Collection(Path(out), len(known), usage.rows, notes, counts)


def _namespaces(
    client: PromClient, prom: PromOptions, tr: TimeRange, namespaces: tuple[str, ...], shard: Shard | None
) -> tuple[dict[str, int], promql.Scope]:
    """The namespaces with cAdvisor samples in ``tr`` (of ``shard``), their sizes, and the scope to query them."""
    scope = promql.Scope(prom.cluster_label, prom.cluster, namespaces)
    sizes = namespace_sizes(client, scope, tr)
    if not sizes:
        raise SourceError(
            f"Prometheus at {prom.url}: no cAdvisor container series between {tr.start.isoformat()} and "
            f"{tr.end.isoformat()}{' in ' + ', '.join(namespaces) if namespaces else ''}"
        )
    if shard is None:
        return sizes, scope
    held = {ns: n for ns, n in sizes.items() if shard.holds(ns)}
    if not held:
        raise NothingToAnalyse(f"--shard {shard}: none of the {len(sizes)} namespaces with samples is in it")
    return held, scope.only(held)


class PodsSeen:
    """Each pod's first and last sample and its containers, gathered from usage as it is written."""

    def __init__(self) -> None:
        self._times: list[pd.DataFrame] = []
        self._containers: list[pd.DataFrame] = []

    def add(self, usage: pd.DataFrame) -> None:
        """Note ``usage``'s pods (its label columns categorical: grouped by code, never by string per row)."""
        times = usage.groupby(["namespace", "pod"], observed=True, sort=False)["timestamp"].agg(["min", "max"])
        self._times.append(times.reset_index().astype({"namespace": str, "pod": str}))
        containers = usage[["namespace", "pod", "container"]].drop_duplicates()
        self._containers.append(containers.astype(str))

    def frame(self) -> pd.DataFrame:
        """``namespace, pod, first_seen, last_seen, containers`` (sorted names), one row per pod."""
        if not self._times:
            return pd.DataFrame(columns=["namespace", "pod", "first_seen", "last_seen", "containers"])
        times = pd.concat(self._times, ignore_index=True).groupby(["namespace", "pod"], sort=True)
        seen = times.agg(first_seen=("min", "min"), last_seen=("max", "max"))
        names = pd.concat(self._containers, ignore_index=True).drop_duplicates()
        names = names.sort_values("container").groupby(["namespace", "pod"], sort=True)["container"].agg(tuple)
        return seen.join(names.rename("containers")).reset_index()


def _described_only(usage: UsageFiles, known: pd.MultiIndex, selected: bool) -> str | None:
    """Drop the written usage of pods no object describes (``known``); the note that says how many, if any."""
    lost: set[tuple[str, str]] = set()

    def keep(namespace: str, names: np.ndarray) -> np.ndarray:
        kept = _known_rows(known, np.full(len(names), namespace, dtype=object), names)
        lost.update((namespace, str(n)) for n in names[~kept])
        return kept

    usage.keep_pods(keep)
    if not lost:
        return None
    why = " (outside -l)" if selected else " (no kube-state-metrics and gone from the API)"
    return f"dropped the usage of {len(lost)} pods that no object describes{why}"


def _known(status: pd.DataFrame, known: pd.MultiIndex) -> pd.DataFrame:
    """The container_status rows of pods the snapshot has an object for (the analysis reads no others)."""
    kept = status[_known_rows(known, status["namespace"].astype(str).to_numpy(), status["pod"].astype(str).to_numpy())]
    kept = kept.reset_index(drop=True)
    for column in ("namespace", "pod"):
        kept[column] = kept[column].cat.remove_unused_categories()
    return kept


def _pod_names(names: list[tuple[str, str]]) -> pd.MultiIndex:
    """``(namespace, pod)`` pairs as an index."""
    return pd.MultiIndex.from_tuples(names, names=["namespace", "pod"]) if names else pd.MultiIndex.from_arrays(
        [[], []], names=["namespace", "pod"])  # fmt: skip


def _known_rows(known: pd.MultiIndex, namespaces: np.ndarray, pods: np.ndarray) -> np.ndarray:
    """Whether each (namespace, pod) row is one of the ``known`` pods."""
    rows = pd.MultiIndex.from_arrays([namespaces.astype(object), pods.astype(object)])
    return np.asarray(rows.isin(known), dtype=bool)


def add_rebuilt(
    objects: WrittenObjects, seen: pd.DataFrame, ksm: KsmState, tr: TimeRange, selected: bool = False
) -> list[str]:
    """Add to ``objects`` (listed from the API or files) what kube-state-metrics rebuilds of what they lack:
    the pods ``seen`` in the usage (:class:`PodsSeen`) that were not listed (with ``-l``, only those whose
    controller a listed pod has), the workloads their owners name, and the HPAs when they were not listed.
    Returns notes on where the listed pods' requests differ from kube-state-metrics'."""
    listed = {key: i for i, key in enumerate(objects.names["Pod"])}
    owners = {o for o in objects.pod_owners if o is not None} if selected else set()
    rebuilt_owners: list[tuple[str, str, str]] = []
    found: list[tuple[int, str]] = []
    for pod in ksm_pods(ksm, seen, tr.end, tr.step_s) if ksm.present else ():
        rebuilt_owners.extend(owned_by(pod))
        i = listed.get((pod["metadata"]["namespace"], pod["metadata"]["name"]))
        if i is not None:
            line = disagreement(objects.pod_resources[i], pod)
            if line is not None:
                found.append((i, line))
        elif not selected or controller(pod) in owners:
            objects.add("Pod", [pod])
    for kind, items in ksm_workloads(ksm, rebuilt_owners).items():
        have = set(objects.names[kind])
        _add_some(objects, kind, [o for o in items if (o["metadata"]["namespace"], o["metadata"]["name"]) not in have])
    if "HorizontalPodAutoscaler" not in objects.listed:
        _add_some(objects, "HorizontalPodAutoscaler", ksm_hpas(ksm))
    return [f"API and kube-state-metrics differ: {line}" for line in clipped([line for _, line in sorted(found)])]


def _add_some(objects: WrittenObjects, kind: str, items: list[dict[str, Any]]) -> None:
    if items:  # adding none would say the kind was listed
        objects.add(kind, items)


def described_by(usage: pd.DataFrame, pods: list[dict[str, Any]]) -> np.ndarray:
    """Boolean mask of the usage rows whose (namespace, pod) has a Pod object."""
    names = [(p["metadata"]["namespace"], p["metadata"]["name"]) for p in pods]
    return _known_rows(_pod_names(names), usage["namespace"].to_numpy(), usage["pod"].to_numpy())


def _read_objects(path: Path, objects: WrittenObjects) -> list[str]:
    """The objects of ``--objects``, checked and written as they are read; the notes on them. A kind is
    listed when the files have any of it."""
    notes: list[str] = []
    kinds = set()
    for kind, item in iter_object_files(path, notes):
        objects.add(kind, [item])
        kinds.add(kind)
    for kind in kinds:
        objects.add(kind, [])
    return notes


def _stage(progress: Progress | None, name: str) -> Callable[[int, int], None] | None:
    return None if progress is None else (lambda done, total: progress(name, done, total))


def _without_credentials(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
