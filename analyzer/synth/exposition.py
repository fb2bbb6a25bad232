"""A snapshot as the metrics a cluster exposes: cAdvisor and kube-state-metrics in OpenMetrics text.

``promtool tsdb create-blocks-from openmetrics`` turns the text into Prometheus blocks, so the
collectors are tested against a real Prometheus holding what a real cluster would hold:

- cAdvisor ``container_cpu_usage_seconds_total`` (a counter: the running sum of cores × step) and
  ``container_memory_working_set_bytes``, with their cgroup-aggregate rows (``container=""``),
  pause containers (``container="POD"``) and, optionally, every series scraped by a second job;
- kube-state-metrics pod, owner, workload and HPA series with their real label sets.

Samples are written at the snapshot's timestamps (the scrape interval equals its step).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TextIO

import numpy as np
import pandas as pd

from analyzer.snapshot.schema import POD_PHASES, Snapshot
from analyzer.units import parse_quantity

STATIC_EVERY = 5
"""Pod series that never change are written every 5th sample (and at the pod's last); lookups use
``last_over_time``, so a sparser cadence loses nothing and keeps the test data small."""
PAUSE_CPU_CORES = 0.0002
PAUSE_MEMORY_BYTES = 700_000.0
KSM_LABELS = {"job": "kube-state-metrics", "instance": "10.0.0.9:8080"}
CADVISOR_JOBS = (
    {"job": "kubelet", "metrics_path": "/metrics/cadvisor", "instance": "node-1:10250"},
    {"job": "cadvisor", "metrics_path": "/metrics", "instance": "node-1:8080"},
)


@dataclass(frozen=True)
class Exposition:
    """What to write. ``extra_labels`` (e.g. ``{"cluster": "prod"}``) go on every series."""

    duplicate_job: bool = True
    extra_labels: tuple[tuple[str, str], ...] = ()


def write_openmetrics(snapshot: Snapshot, out: TextIO, options: Exposition = Exposition(), *, eof: bool = True) -> int:
    """Write every family of ``snapshot`` to ``out``; returns the number of samples written."""
    written = 0
    for family, kind, lines in _families(snapshot, options):
        out.write(f"# TYPE {family} {kind}\n")
        for chunk in lines:
            out.write(chunk)
            written += chunk.count("\n")
    if eof:
        out.write("# EOF\n")
    return written


def _families(snapshot: Snapshot, options: Exposition) -> Iterator[tuple[str, str, Iterator[str]]]:
    usage = snapshot.usage.astype({"namespace": object, "pod": object, "container": object})
    extra = dict(options.extra_labels)
    jobs = CADVISOR_JOBS if options.duplicate_job else CADVISOR_JOBS[:1]
    cadvisor = _cadvisor_rows(usage, snapshot.metadata.step_s)
    yield "container_cpu_usage_seconds", "counter", _usage_lines(
        "container_cpu_usage_seconds_total", cadvisor, "cpu_seconds", jobs, extra)  # fmt: skip
    yield "container_memory_working_set_bytes", "gauge", _usage_lines(
        "container_memory_working_set_bytes", cadvisor, "memory_bytes", jobs, extra)  # fmt: skip
    lives = usage.groupby(["namespace", "pod"], sort=True)["timestamp"].agg(["min", "max"])
    times = np.sort(usage["timestamp"].unique())
    ksm = {**KSM_LABELS, **extra}
    for family, kind, series in _ksm_series(snapshot, lives, times):
        yield family, kind, _static_lines(family, series, ksm)


def _cadvisor_rows(usage: pd.DataFrame, step_s: float) -> pd.DataFrame:
    """Per-container rows plus pause containers and per-pod aggregates; CPU as a running counter."""
    pods = usage.groupby(["timestamp", "namespace", "pod"], sort=False, as_index=False)[["cpu_cores", "memory_bytes"]]
    pause = pods.sum()[["timestamp", "namespace", "pod"]].assign(
        container="POD", cpu_cores=PAUSE_CPU_CORES, memory_bytes=PAUSE_MEMORY_BYTES
    )
    rows = pd.concat([usage, pause], ignore_index=True)
    total = rows.groupby(["timestamp", "namespace", "pod"], sort=False, as_index=False)[["cpu_cores", "memory_bytes"]]
    rows = pd.concat([rows, total.sum().assign(container="")], ignore_index=True)
    rows = rows.sort_values(["namespace", "pod", "container", "timestamp"], kind="stable", ignore_index=True)
    rows["cpu_seconds"] = (
        (rows["cpu_cores"] * step_s).groupby([rows["namespace"], rows["pod"], rows["container"]], sort=False).cumsum()
    )
    return rows


def _labels(labels: dict[str, str]) -> str:
    body = ",".join(f'{k}="{_escape(str(v))}"' for k, v in labels.items())
    return "{" + body + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _usage_lines(
    name: str, rows: pd.DataFrame, column: str, jobs: tuple[dict[str, str], ...], extra: dict[str, str]
) -> Iterator[str]:
    seconds = (rows["timestamp"].astype("int64") // 10**9).to_numpy()
    values = rows[column].to_numpy()
    keys = rows[["namespace", "pod", "container"]]
    edges = np.flatnonzero((keys != keys.shift()).any(axis=1).to_numpy())
    bounds = [*edges, len(rows)]
    for job in jobs:
        for a, b in itertools.pairwise(bounds):
            ns, pod, container = keys.iloc[a]
            cgroup = f"/kubepods/pod-{pod}" + (f"/{container}" if container else "")
            labels = {**extra, **job, "namespace": ns, "pod": pod, "container": container, "id": cgroup}
            if container:
                labels["image"] = "registry.example.com/image" if container != "POD" else "registry.k8s.io/pause:3.10"
            prefix = name + _labels(labels) + " "
            yield "".join(
                f"{prefix}{v!r} {t}\n" for v, t in zip(values[a:b].tolist(), seconds[a:b].tolist(), strict=True)
            )


def _static_lines(
    name: str, series: list[tuple[dict[str, str], np.ndarray, np.ndarray]], ksm: dict[str, str]
) -> Iterator[str]:
    for labels, seconds, values in series:
        prefix = name + _labels({**ksm, **labels}) + " "
        yield "".join(f"{prefix}{v!r} {t}\n" for v, t in zip(values.tolist(), seconds.tolist(), strict=True))


def _ksm_series(
    snapshot: Snapshot, lives: pd.DataFrame, times: np.ndarray
) -> Iterator[tuple[str, str, list[tuple[dict[str, str], np.ndarray, np.ndarray]]]]:
    """kube-state-metrics families: ``(family, type, [(labels, unix seconds, values)])``."""
    all_seconds = pd.DatetimeIndex(times).asi8 // 10**9
    families: dict[str, list[tuple[dict[str, str], np.ndarray, np.ndarray]]] = {}

    def add(family: str, labels: dict[str, str], seconds: np.ndarray, value: float | np.ndarray) -> None:
        values = np.broadcast_to(np.asarray(value, dtype=np.float64), seconds.shape)
        families.setdefault(family, []).append((labels, seconds, values))

    status = snapshot.pod_status.astype({"namespace": str, "pod": str})
    statuses = {key: rows for key, rows in status.groupby(["namespace", "pod"], sort=False)}
    changes = snapshot.container_status.astype({"namespace": str, "pod": str, "container": str})
    container_rows = {key: rows for key, rows in changes.groupby(["namespace", "pod", "container"], sort=False)}
    for pod in snapshot.items("Pod"):
        meta = pod["metadata"]
        key = (meta["namespace"], meta["name"])
        if key not in lives.index:
            continue
        first, last = (pd.Timestamp(t).value // 10**9 for t in lives.loc[key])
        alive = all_seconds[(all_seconds >= first) & (all_seconds <= last)]
        seconds = np.unique(np.append(alive[::STATIC_EVERY], alive[-1:]))
        ids = {"namespace": meta["namespace"], "pod": meta["name"], "uid": meta.get("uid", meta["name"])}
        spec = pod["spec"]
        for field, prefix in (("containers", "kube_pod_container"), ("initContainers", "kube_pod_init_container")):
            for c in spec.get(field) or []:
                labels = {**ids, "container": c["name"]}
                info = {**labels, "image": c.get("image", ""), "image_spec": c.get("image", "")}
                if field == "initContainers":
                    info["restart_policy"] = c.get("restartPolicy", "")
                add(f"{prefix}_info", info, seconds, 1.0)
                for kind in ("requests", "limits"):
                    for resource, q in ((c.get("resources") or {}).get(kind) or {}).items():
                        unit = "core" if resource == "cpu" else "byte"
                        labels_r = {**labels, "node": "node-1", "resource": resource, "unit": unit}
                        add(f"{prefix}_resource_{kind}", labels_r, seconds, float(parse_quantity(q)))
                rows = container_rows.get((*key, c["name"]))
                if rows is not None:
                    _container_series(prefix, labels, rows, alive, add)
                elif field == "containers":
                    add("kube_pod_container_status_restarts_total", labels, seconds, 0.0)
        for ref in meta.get("ownerReferences") or []:
            owner = {**ids, "owner_kind": ref["kind"], "owner_name": ref["name"], "owner_is_controller": "true"}
            add("kube_pod_owner", owner, seconds, 1.0)
        created = pd.Timestamp(meta["creationTimestamp"]).value / 1e9
        add("kube_pod_created", ids, seconds, created)
        start = (pod.get("status") or {}).get("startTime")
        if start:
            add("kube_pod_start_time", ids, seconds, pd.Timestamp(start).value / 1e9)
        # Phase and readiness at every scrape (the HPA's pod grouping reads them over time).
        if key in statuses:
            rows = statuses[key]
            at, phases = pd.DatetimeIndex(rows["timestamp"]).asi8 // 10**9, rows["phase"].astype(str).to_numpy()
            ready = rows["ready"].to_numpy(dtype=bool)
        else:
            at, phases, ready = alive, np.full(len(alive), "Running"), np.ones(len(alive), dtype=bool)
        for phase in POD_PHASES:
            add("kube_pod_status_phase", {**ids, "phase": phase}, at, (phases == phase).astype(np.float64))
        for condition, value in (("true", ready), ("false", ~ready)):
            add("kube_pod_status_ready", {**ids, "condition": condition}, at, value.astype(np.float64))
    for kind, metric, label in (("ReplicaSet", "kube_replicaset_owner", "replicaset"),
                                ("Job", "kube_job_owner", "job_name")):  # fmt: skip
        for obj in snapshot.items(kind):
            meta = obj["metadata"]
            for ref in meta.get("ownerReferences") or []:
                labels = {"namespace": meta["namespace"], label: meta["name"], "owner_kind": ref["kind"],
                          "owner_name": ref["name"], "owner_is_controller": "true"}  # fmt: skip
                add(metric, labels, all_seconds, 1.0)
    metric_of = {"Deployment": ("kube_deployment_spec_replicas", "deployment"),
                 "StatefulSet": ("kube_statefulset_replicas", "statefulset")}  # fmt: skip
    for (ns, kind, name), part in snapshot.replicas.groupby(["namespace", "kind", "name"], sort=True, observed=True):
        if kind in metric_of:
            family, label = metric_of[kind]
            seconds = pd.DatetimeIndex(part["timestamp"]).asi8 // 10**9
            add(family, {"namespace": ns, label: name}, seconds, part["replicas"].to_numpy(np.float64))
    for hpa in snapshot.items("HorizontalPodAutoscaler"):
        _hpa_series(hpa, all_seconds, snapshot.replicas, add)
    for family, series in families.items():
        yield family, "gauge", series


def _container_series(prefix: str, labels: dict[str, str], rows: pd.DataFrame, alive: np.ndarray, add: Any) -> None:
    """A container's status series at every scrape of its pod, from its ``container_status`` changes."""
    at = pd.DatetimeIndex(rows["timestamp"]).asi8 // 10**9
    seconds = alive[alive >= at[0]]
    row = np.searchsorted(at, seconds, side="right") - 1
    pick = rows.iloc[row]
    add(f"{prefix}_status_ready", labels, seconds, pick["ready"].to_numpy(np.float64))
    add(f"{prefix}_status_restarts_total", labels, seconds, pick["restarts"].to_numpy(np.float64))
    state = pick["state"].astype(str).to_numpy()
    for name in ("running", "waiting", "terminated"):
        add(f"{prefix}_status_{name}", labels, seconds, (state == name).astype(np.float64))
    reason = pick["last_reason"].astype(str).to_numpy()
    for value in sorted(set(reason) - {""}):
        add(f"{prefix}_status_last_terminated_reason", {**labels, "reason": value}, seconds[reason == value], 1.0)
    ended = pick["terminated_reason"].astype(str).to_numpy()
    for value in sorted(set(ended) - {""}):  # kube-state-metrics exposes the current reason alone
        add(f"{prefix}_status_terminated_reason", {**labels, "reason": value}, seconds[ended == value], 1.0)
    code = pick["last_exit_code"].to_numpy(np.float64)
    if (code >= 0).any():
        add(f"{prefix}_status_last_terminated_exitcode", labels, seconds[code >= 0], code[code >= 0])


def _hpa_series(hpa: dict[str, Any], seconds: np.ndarray, replicas: pd.DataFrame, add: Any) -> None:
    meta, spec = hpa["metadata"], hpa["spec"]
    ids = {"namespace": meta["namespace"], "horizontalpodautoscaler": meta["name"]}
    ref = spec["scaleTargetRef"]
    add("kube_horizontalpodautoscaler_info", {**ids, "scaletargetref_api_version": ref.get("apiVersion", ""),
        "scaletargetref_kind": ref["kind"], "scaletargetref_name": ref["name"]}, seconds, 1.0)  # fmt: skip
    add("kube_horizontalpodautoscaler_spec_min_replicas", ids, seconds, float(spec.get("minReplicas", 1)))
    add("kube_horizontalpodautoscaler_spec_max_replicas", ids, seconds, float(spec["maxReplicas"]))
    for metric in spec.get("metrics", []):
        body = metric.get("resource") or metric.get("containerResource")
        if body is None:
            continue
        target = body["target"]
        if target["type"] == "Utilization":
            kind, value = "utilization", float(target["averageUtilization"])
        else:
            kind, value = "average", float(parse_quantity(target["averageValue"]))
        labels = {**ids, "metric_name": body["name"], "metric_target_type": kind}
        add("kube_horizontalpodautoscaler_spec_target_metric", labels, seconds, value)
    for condition in (hpa.get("status") or {}).get("conditions", []):
        for status in ("true", "false", "unknown"):
            value = 1.0 if condition["status"].lower() == status else 0.0
            add("kube_horizontalpodautoscaler_status_condition",
                {**ids, "condition": condition["type"], "status": status}, seconds, value)  # fmt: skip
    part = replicas[(replicas["namespace"] == meta["namespace"]) & (replicas["name"] == ref["name"])]
    if len(part):
        stamps = pd.DatetimeIndex(part["timestamp"]).asi8 // 10**9
        for family in ("current", "desired"):
            add(f"kube_horizontalpodautoscaler_status_{family}_replicas", ids, stamps,
                part["replicas"].to_numpy(np.float64))  # fmt: skip
