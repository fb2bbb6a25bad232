"""A whole collection: usage and objects from Prometheus and the Kubernetes API into one snapshot.

Objects come from the API (``kube``) or files (``objects_path``) when given; pods and workloads the
API no longer has (deleted during the range) are rebuilt from kube-state-metrics; without
kube-state-metrics, usage of pods no object describes is dropped and counted in a note.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import pandas as pd

from analyzer.__about__ import __version__
from analyzer.collect import promql
from analyzer.collect.ksm import KsmState, collect_ksm
from analyzer.collect.ksm_objects import ksm_hpas, ksm_pods, ksm_workloads
from analyzer.collect.kube_api import KubeLister, KubeOptions, Listed
from analyzer.collect.prometheus_connection import PromClient, PromOptions
from analyzer.collect.prometheus_usage import (
    DEFAULT_SAMPLE_BUDGET,
    namespace_sizes,
    plan,
    scrape_interval_s,
    usage_parts,
)
from analyzer.collect.reconcile import disagreements
from analyzer.collect.timerange import TimeRange, rate_window_s
from analyzer.errors import NothingToAnalyse, SidecarImpactError, SourceError
from analyzer.snapshot.kube import controller_of, parse_owners
from analyzer.snapshot.objects import read_object_files
from analyzer.snapshot.schema import (
    KUBERNETES_VERSION_KEY,
    NOTES_KEY,
    OBJECT_KINDS,
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
    RowsFile,
    UsageFiles,
    atomic_directory,
    pod_status_table,
    replicas_table,
    write_rest,
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

    The usage is written as it comes, a request's rows at a time, into a temporary directory that
    becomes ``out`` only once the whole snapshot is written and validated: memory holds one request's
    rows, never the range's, and a failure (or a kill) leaves no snapshot at ``out``."""
    if kube is not None and objects_path is not None:
        raise SidecarImpactError("--objects and the Kubernetes API (--kubeconfig/--context/--in-cluster) are exclusive")
    notes: list[str] = []
    from_file = _objects_file(objects_path)  # a bad --objects file is refused before any query is sent
    client = PromClient(prom)
    lister = KubeLister(kube) if kube is not None else None  # reads the kubeconfig (or the pod's token) now
    try:
        with atomic_directory(out, overwrite=overwrite) as tmp:
            scope = promql.Scope(prom.cluster_label, prom.cluster, namespaces)
            sizes = namespace_sizes(client, scope, tr)
            if not sizes:
                raise SourceError(
                    f"Prometheus at {prom.url}: no cAdvisor container series between {tr.start.isoformat()} and "
                    f"{tr.end.isoformat()}{' in ' + ', '.join(namespaces) if namespaces else ''}"
                )
            if shard is not None:
                held = {ns: n for ns, n in sizes.items() if shard.holds(ns)}
                if not held:
                    raise NothingToAnalyse(
                        f"--shard {shard}: none of the {len(sizes)} namespaces with samples is in it"
                    )
                sizes, scope = held, scope.only(held)
            scrape = scrape_interval or scrape_interval_s(client, scope, tr.end, sizes)
            requests = plan(sizes, tr, sample_budget, scrape)
            log.info("usage: %d namespaces in %d requests per metric (%s); scrape interval %.0f s, rate window %.0f s",
                     len(sizes), len(requests), "raw samples" if requests and requests[0].raw else "range queries",
                     scrape, rate_window_s(tr.step_s, scrape))  # fmt: skip
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
            listed = from_file if from_file is not None else _listed(lister, progress)
            if shard is not None:
                kept = {
                    k: [o for o in v if o.get("metadata", {}).get("namespace") in sizes]
                    for k, v in listed.objects.items()
                }
                listed = replace(listed, objects=kept)
            notes.extend(listed.notes)
            objects, more = assemble(seen.frame(), ksm, listed, tr, selector=kube.selector if kube else None)
            notes.extend(more)
            dropped = _described_only(usage, objects["Pod"], selected=bool(kube and kube.selector))
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
            known = _pod_names(objects["Pod"])
            status.close(keep=lambda namespaces, pods: _known_rows(known, namespaces, pods))
            no_rows = pd.DataFrame(columns=list(REPLICAS_COLUMNS))  # the replica series and pods' status: written
            rest = Snapshot(metadata, empty_usage(), no_rows, objects, empty_pod_status(),
                            _known(ksm.container_status, known))  # fmt: skip
            write_rest(rest, tmp)
            check_snapshot(tmp)
    finally:
        client.close()
        if lister is not None:
            lister.close()
    return Collection(Path(out), len(objects["Pod"]), usage.rows, notes, counts)


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


def _described_only(usage: UsageFiles, pods: list[dict[str, Any]], selected: bool) -> str | None:
    """Drop the written usage of pods no object describes; the note that says how many, if any."""
    known = _pod_names(pods)
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


def _pod_names(pods: list[dict[str, Any]]) -> pd.MultiIndex:
    """The (namespace, name) of every pod object."""
    return pd.MultiIndex.from_arrays(
        [[p["metadata"]["namespace"] for p in pods], [p["metadata"]["name"] for p in pods]], names=["namespace", "pod"]
    )


def _known_rows(known: pd.MultiIndex, namespaces: np.ndarray, pods: np.ndarray) -> np.ndarray:
    """Whether each (namespace, pod) row is one of the ``known`` pods."""
    rows = pd.MultiIndex.from_arrays([namespaces.astype(object), pods.astype(object)])
    return np.asarray(rows.isin(known), dtype=bool)


def assemble(
    seen: pd.DataFrame, ksm: KsmState, listed: Listed, tr: TimeRange, selector: str | None = None
) -> tuple[dict[str, list[dict[str, Any]]], list[str]]:
    """Objects for the snapshot, from the API (or files) and kube-state-metrics for the pods ``seen`` in
    the usage (:class:`PodsSeen`), plus notes on where the two differ."""
    notes: list[str] = []
    api_pods = listed.objects.get("Pod", [])
    live = {(p["metadata"]["namespace"], p["metadata"]["name"]) for p in api_pods}
    rebuilt = ksm_pods(ksm, seen, tr.end, tr.step_s) if ksm.present else []
    by_key = {(p["metadata"]["namespace"], p["metadata"]["name"]): p for p in rebuilt}
    notes.extend(f"API and kube-state-metrics differ: {line}" for line in disagreements(api_pods, by_key))
    pods = [*api_pods, *(p for k, p in by_key.items() if k not in live)]
    objects: dict[str, list[dict[str, Any]]] = {kind: list(listed.objects.get(kind, [])) for kind in OBJECT_KINDS}
    objects["Pod"] = pods
    for kind, items in ksm_workloads(ksm, rebuilt).items():
        have = {(o["metadata"]["namespace"], o["metadata"]["name"]) for o in objects[kind]}
        objects[kind].extend(o for o in items if (o["metadata"]["namespace"], o["metadata"]["name"]) not in have)
    if "HorizontalPodAutoscaler" not in listed.objects:
        objects["HorizontalPodAutoscaler"] = ksm_hpas(ksm)
    if selector:
        objects["Pod"] = _same_owners(objects["Pod"], live)
    return objects, notes


def described_by(usage: pd.DataFrame, pods: list[dict[str, Any]]) -> np.ndarray:
    """Boolean mask of the usage rows whose (namespace, pod) has a Pod object."""
    return _known_rows(_pod_names(pods), usage["namespace"].to_numpy(), usage["pod"].to_numpy())


def _objects_file(path: Path | None) -> Listed | None:
    """The objects of ``--objects``, read and validated (None without the option)."""
    if path is None:
        return None
    if not path.exists():
        raise SidecarImpactError(f"--objects: {path} does not exist")
    objects, notes = read_object_files(path)
    return Listed({k: v for k, v in objects.items() if v}, notes)


def _listed(lister: KubeLister | None, progress: Progress | None) -> Listed:
    return Listed() if lister is None else lister.list_all(_stage(progress, "kubernetes"))


def _same_owners(pods: list[dict[str, Any]], selected: set[tuple[str, str]]) -> list[dict[str, Any]]:
    """Pods selected by ``-l`` (live) and the other pods of the same owners (deleted ones)."""

    def owner(pod: dict[str, Any]) -> tuple[str, str, str] | None:
        ref = controller_of(parse_owners(pod["metadata"].get("ownerReferences")))
        return None if ref is None else (pod["metadata"]["namespace"], ref.kind, ref.name)

    owners = {owner(p) for p in pods if (p["metadata"]["namespace"], p["metadata"]["name"]) in selected} - {None}
    return [p for p in pods if (p["metadata"]["namespace"], p["metadata"]["name"]) in selected or owner(p) in owners]


def _stage(progress: Progress | None, name: str) -> Callable[[int, int], None] | None:
    return None if progress is None else (lambda done, total: progress(name, done, total))


def _without_credentials(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
