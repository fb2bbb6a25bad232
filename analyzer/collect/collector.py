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
    collect_usage,
    namespace_sizes,
    plan,
    scrape_interval_s,
)
from analyzer.collect.reconcile import disagreements
from analyzer.collect.timerange import TimeRange, rate_window_s
from analyzer.errors import NothingToAnalyse, SidecarImpactError, SourceError
from analyzer.snapshot.kube import controller_of, parse_owners
from analyzer.snapshot.objects import read_object_files
from analyzer.snapshot.schema import NOTES_KEY, OBJECT_KINDS, Metadata, Snapshot
from analyzer.snapshot.shards import Shard
from analyzer.snapshot.store import load_snapshot
from analyzer.snapshot.writing import atomic_directory, write_snapshot_files

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]
"""``(stage, done, total)``: the CLI draws a bar on a terminal and logs lines otherwise."""


@dataclass
class Collection:
    """A collected snapshot, with what was noticed on the way and how many requests it took."""

    snapshot: Snapshot
    notes: list[str] = field(default_factory=list)
    requests: dict[str, int] = field(default_factory=dict)


def collect_prometheus(
    prom: PromOptions,
    tr: TimeRange,
    *,
    namespaces: tuple[str, ...] = (),
    kube: KubeOptions | None = None,
    objects_path: Path | None = None,
    scrape_interval: float | None = None,
    sample_budget: int = DEFAULT_SAMPLE_BUDGET,
    cluster_name: str | None = None,
    progress: Progress | None = None,
    shard: Shard | None = None,
) -> Collection:
    """Collect ``tr`` from Prometheus (and the API or object files) into an in-memory snapshot; ``shard``:
    only the namespaces of that shard (the same hash as ``report --shard``), found with one query."""
    if kube is not None and objects_path is not None:
        raise SidecarImpactError("--objects and the Kubernetes API (--kubeconfig/--context/--in-cluster) are exclusive")
    notes: list[str] = []
    from_file = _objects_file(objects_path)  # a bad --objects file is refused before any query is sent
    client = PromClient(prom)
    lister = KubeLister(kube) if kube is not None else None  # reads the kubeconfig (or the pod's token) now
    try:
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
                raise NothingToAnalyse(f"--shard {shard}: none of the {len(sizes)} namespaces with samples is in it")
            sizes, scope = held, scope.only(held)
        scrape = scrape_interval or scrape_interval_s(client, scope, tr.end, sizes)
        requests = plan(sizes, tr, sample_budget, scrape)
        log.info("usage: %d namespaces in %d requests per metric (%s); scrape interval %.0f s, rate window %.0f s",
                 len(sizes), len(requests), "raw samples" if requests and requests[0].raw else "range queries",
                 scrape, rate_window_s(tr.step_s, scrape))  # fmt: skip
        usage = collect_usage(client, scope, tr, scrape, requests, _stage(progress, "usage"))
        ksm = collect_ksm(client, scope, tr, _stage(progress, "kube-state-metrics"), sizes)
        if not ksm.present:
            notes.append("kube-state-metrics series are missing: requests and owners come from the API objects only")
        listed = from_file if from_file is not None else _listed(lister, progress)
        if shard is not None:
            kept = {
                k: [o for o in v if o.get("metadata", {}).get("namespace") in sizes] for k, v in listed.objects.items()
            }
            listed = replace(listed, objects=kept)
        notes.extend(listed.notes)
        objects, usage, more = assemble(usage, ksm, listed, tr, selector=kube.selector if kube else None)
        notes.extend(more)
    finally:
        client.close()
        if lister is not None:
            lister.close()
    counts = {"prometheus": client.requests, **({"kubernetes": lister.requests} if lister else {})}
    extra: dict[str, Any] = {
        "prometheus_url": _without_credentials(prom.url),
        "scrape_interval_s": scrape,
        "rate_window_s": rate_window_s(tr.step_s, scrape),
        "objects_from": "kubernetes-api" if kube else "files" if objects_path else "kube-state-metrics",
        "requests": counts,
        **({NOTES_KEY: notes} if notes else {}),
    }
    cluster = cluster_name or prom.cluster or (kube.context if kube and kube.context else None) or "cluster"
    metadata = Metadata(1, "prometheus", cluster, tr.start, tr.end, tr.step_s, __version__, extra)
    snapshot = Snapshot(metadata, usage, ksm.replicas, objects, _known(ksm.pod_status, objects),
                        _known(ksm.container_status, objects))  # fmt: skip
    return Collection(snapshot, notes, counts)


def _known(status: pd.DataFrame, objects: dict[str, list[dict[str, Any]]]) -> pd.DataFrame:
    """The pod_status (or container_status) rows of pods the snapshot has an object for (the analysis reads
    no others)."""
    pods = {(p["metadata"]["namespace"], p["metadata"]["name"]) for p in objects.get("Pod", [])}
    keys = pd.MultiIndex.from_arrays([status["namespace"].astype(str), status["pod"].astype(str)])
    kept = status[keys.isin(list(pods))].reset_index(drop=True)
    for column in ("namespace", "pod"):
        kept[column] = kept[column].cat.remove_unused_categories()
    return kept


def assemble(
    usage: pd.DataFrame, ksm: KsmState, listed: Listed, tr: TimeRange, selector: str | None = None
) -> tuple[dict[str, list[dict[str, Any]]], pd.DataFrame, list[str]]:
    """Objects for the snapshot and the usage they describe, plus notes on what was dropped or differs."""
    notes: list[str] = []
    seen = (
        usage.groupby(["namespace", "pod"], observed=True, sort=True)
        .agg(first_seen=("timestamp", "min"), last_seen=("timestamp", "max"), containers=("container", _names))
        .reset_index()
    )
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
    keep = described_by(usage, objects["Pod"])
    if not keep.all():
        lost = usage.loc[~keep, ["namespace", "pod"]].drop_duplicates()
        notes.append(
            f"dropped the usage of {len(lost)} pods that no object describes"
            + (" (outside -l)" if selector else " (no kube-state-metrics and gone from the API)")
        )
        usage = usage[keep].reset_index(drop=True)
    return objects, usage, notes


def described_by(usage: pd.DataFrame, pods: list[dict[str, Any]]) -> np.ndarray:
    """Boolean mask of the usage rows whose (namespace, pod) has a Pod object."""
    known = pd.MultiIndex.from_tuples(
        [(p["metadata"]["namespace"], p["metadata"]["name"]) for p in pods], names=["namespace", "pod"]
    )
    rows = pd.MultiIndex.from_arrays([usage["namespace"].astype(object), usage["pod"].astype(object)])
    return np.asarray(rows.isin(known), dtype=bool) if len(known) else np.zeros(len(usage), dtype=bool)


def write_collection(collection: Collection, out: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
    """Write the snapshot atomically; it is loaded (validated) before the rename makes it visible."""
    with atomic_directory(out, overwrite=overwrite) as tmp:
        write_snapshot_files(collection.snapshot, tmp)
        load_snapshot(tmp)
    return Path(out)


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


def _names(values: pd.Series) -> tuple[str, ...]:
    return tuple(sorted(set(values.astype(str))))


def _without_credentials(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
