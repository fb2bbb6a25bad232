"""Kubernetes objects rebuilt from kube-state-metrics, for pods and workloads the API no longer has.

A week of a cluster holds many pods that are gone by collection time; only kube-state-metrics
remembers their containers, requests, native sidecars and owners. Rebuilt objects carry the
annotation ``sidecar-impact.io/source: kube-state-metrics``. What kube-state-metrics does not export
is left out, not invented: pod annotations (injector status), workload templates and the
container of a ContainerResource HPA metric.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import pandas as pd

from analyzer.collect.ksm import KsmState
from analyzer.snapshot.kube import KSM_SOURCE, SOURCE_ANNOTATION
from analyzer.snapshot.schema import DELETED_AT_ANNOTATION, OBJECT_API_VERSIONS
from analyzer.units import format_cpu, format_memory


def iso(stamp: pd.Timestamp) -> str:
    return stamp.tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ")


def from_epoch(seconds: float) -> pd.Timestamp | None:
    """A kube-state-metrics time (seconds since the epoch) as a timestamp; None when it is not one (NaN,
    infinite, or outside the years an RFC 3339 time can write, 1 to 9999, which a timestamp may exceed)."""
    try:
        stamp = pd.Timestamp(seconds, unit="s", tz="UTC")
    except (OverflowError, ValueError):  # OutOfBoundsDatetime is a ValueError
        return None
    return None if pd.isna(stamp) or not 1 <= stamp.year <= 9999 else stamp


def quantity(resource: str, value: float) -> str:
    """A kube-state-metrics value (cores, bytes) as a Kubernetes quantity."""
    return format_cpu(value) if resource == "cpu" else format_memory(round(value))


def _meta(kind: str, namespace: str, name: str) -> dict[str, Any]:
    return {
        "apiVersion": OBJECT_API_VERSIONS[kind],
        "kind": kind,
        "metadata": {"name": name, "namespace": namespace, "annotations": {SOURCE_ANNOTATION: KSM_SOURCE}},
    }


def _resources(table: pd.DataFrame) -> dict[tuple[str, str, str], dict[str, str]]:
    out: dict[tuple[str, str, str], dict[str, str]] = defaultdict(dict)
    for ns, pod, container, resource, value in table[["namespace", "pod", "container", "resource", "value"]].itertuples(
        index=False
    ):
        if resource in ("cpu", "memory") and np.isfinite(value):
            out[(ns, pod, container)][resource] = quantity(resource, value)
    return out


def ksm_pods(ksm: KsmState, usage_pods: pd.DataFrame, end: pd.Timestamp, step_s: float) -> Iterator[dict[str, Any]]:
    """Pod objects for ``usage_pods`` (namespace, pod, containers seen, first and last usage sample), one at
    a time: a week of a large cluster's pods need not all be objects at once.

    A pod whose last sample is older than two steps before ``end`` is marked deleted one step after it.
    """
    t = ksm.tables
    requests, limits = _resources(t["requests"]), _resources(t["limits"])
    init_requests, init_limits = _resources(t["init_requests"]), _resources(t["init_limits"])
    images = {(r.namespace, r.pod, r.container): r.image for r in t["containers"].itertuples(index=False)}
    inits: dict[tuple[str, str], dict[str, tuple[str, str]]] = defaultdict(dict)
    for r in t["init_containers"].itertuples(index=False):
        inits[(r.namespace, r.pod)][r.container] = (r.image, r.restart_policy)
    regular: dict[tuple[str, str], list[str]] = defaultdict(list)
    for ns, pod, container in sorted({*requests, *images}):
        regular[(ns, pod)].append(container)
    owners = {(r.namespace, r.pod): (r.owner_kind, r.owner_name) for r in t["owners"].itertuples(index=False)
              if r.owner_kind and r.owner_kind != "<none>"}  # fmt: skip
    created = {(r.namespace, r.pod): r.value for r in t["created"].itertuples(index=False)}
    started = {(r.namespace, r.pod): r.value for r in t["started"].itertuples(index=False)}
    phases = {(r.namespace, r.pod): r.phase for r in t["phase"].itertuples(index=False) if r.value == 1}
    restarts = {(r.namespace, r.pod, r.container): int(r.value) for r in t["restarts"].itertuples(index=False)}
    oom = {(r.namespace, r.pod, r.container) for r in t["oom_killed"].itertuples(index=False) if r.value == 1}
    gone_before = end - pd.Timedelta(seconds=2 * step_s)

    for u in usage_pods.itertuples(index=False):
        key = (u.namespace, u.pod)
        obj = _meta("Pod", u.namespace, u.pod)
        meta = obj["metadata"]
        born = from_epoch(created[key]) if key in created else None
        born = u.first_seen if born is None else born
        meta["creationTimestamp"] = iso(born)
        if u.last_seen < gone_before:
            meta["annotations"][DELETED_AT_ANNOTATION] = iso(u.last_seen + pd.Timedelta(seconds=step_s))
        if key in owners:
            kind, name = owners[key]
            meta["ownerReferences"] = [
                {"apiVersion": OBJECT_API_VERSIONS.get(kind, "apps/v1"), "kind": kind, "name": name, "controller": True}
            ]
        init_names = inits.get(key, {})
        names = list(regular.get(key, []))
        names += [c for c in u.containers if c not in names and c not in init_names]
        containers = [_container(key, c, images.get((*key, c)), requests, limits) for c in names]
        init_containers = []
        for c, (image, policy) in sorted(init_names.items()):
            entry = _container(key, c, image, init_requests, init_limits)
            if policy == "Always":
                entry["restartPolicy"] = "Always"
            init_containers.append(entry)
        obj["spec"] = {"containers": containers, **({"initContainers": init_containers} if init_containers else {})}
        statuses = []
        for c in names:
            status: dict[str, Any] = {"name": c, "restartCount": restarts.get((*key, c), 0)}
            if (*key, c) in oom:
                status["lastState"] = {"terminated": {"reason": "OOMKilled"}}
            statuses.append(status)
        obj["status"] = {"phase": phases.get(key, "Running"), "containerStatuses": statuses}
        start = from_epoch(started[key]) if key in started else None
        if start is not None:  # the HPA's CPU initialization period and a pod's readiness count from it
            obj["status"]["startTime"] = iso(start)
        yield obj


def _container(
    key: tuple[str, str],
    name: str,
    image: str | None,
    requests: dict[Any, dict[str, str]],
    limits: dict[Any, dict[str, str]],
) -> dict[str, Any]:
    resources: dict[str, dict[str, str]] = {}
    if (*key, name) in requests:
        resources["requests"] = requests[(*key, name)]
    if (*key, name) in limits:
        resources["limits"] = limits[(*key, name)]
    return {"name": name, **({"image": image} if image else {}), "resources": resources}


def owned_by(pod: dict[str, Any]) -> list[tuple[str, str, str]]:
    """``(namespace, kind, name)`` of each owner a rebuilt pod names (what :func:`ksm_workloads` needs of it)."""
    namespace = pod["metadata"]["namespace"]
    return [(namespace, ref["kind"], ref["name"]) for ref in pod["metadata"].get("ownerReferences", [])]


def ksm_workloads(ksm: KsmState, pod_owners: Iterable[tuple[str, str, str]]) -> dict[str, list[dict[str, Any]]]:
    """ReplicaSets and Jobs (with their owners), Deployments, StatefulSets, DaemonSets and CronJobs, without
    templates; ``pod_owners``: what :func:`owned_by` says of each rebuilt pod."""
    out: dict[str, dict[tuple[str, str], dict[str, Any]]] = defaultdict(dict)
    for r in ksm.tables["replicaset_owners"].itertuples(index=False):
        rs = _meta("ReplicaSet", r.namespace, r.replicaset)
        if r.owner_kind and r.owner_kind != "<none>":
            rs["metadata"]["ownerReferences"] = [
                {"apiVersion": "apps/v1", "kind": r.owner_kind, "name": r.owner_name, "controller": True}
            ]
            out[r.owner_kind].setdefault((r.namespace, r.owner_name), _meta(r.owner_kind, r.namespace, r.owner_name))
        rs["spec"] = {}
        out["ReplicaSet"][(r.namespace, r.replicaset)] = rs
    for r in ksm.tables["job_owners"].itertuples(index=False):
        job = _meta("Job", r.namespace, r.job_name) | {"spec": {}}
        if r.owner_kind == "CronJob":
            job["metadata"]["ownerReferences"] = [
                {"apiVersion": "batch/v1", "kind": "CronJob", "name": r.owner_name, "controller": True}
            ]
            cronjob = _meta("CronJob", r.namespace, r.owner_name) | {"spec": {"jobTemplate": {}}}
            out["CronJob"].setdefault((r.namespace, r.owner_name), cronjob)
        out["Job"][(r.namespace, r.job_name)] = job
    for ns, kind, name in pod_owners:
        if kind in ("ReplicaSet", "StatefulSet", "DaemonSet", "Job"):
            out[kind].setdefault((ns, name), _meta(kind, ns, name) | {"spec": {}})
    for r in ksm.newest_replicas.itertuples(index=False):
        obj = out[r.kind].setdefault((r.namespace, r.name), _meta(r.kind, r.namespace, r.name))
        obj["spec"] = {"replicas": int(r.replicas)}
    kinds = ("ReplicaSet", "Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob")
    return {k: [o | {"spec": o.get("spec", {})} for _, o in sorted(out[k].items())] for k in kinds if k in out}


def ksm_hpas(ksm: KsmState) -> list[dict[str, Any]]:
    """autoscaling/v2 HPAs from their kube-state-metrics series.

    The series name no container, so every cpu/memory target reads as ``Resource``; other metric
    names become ``External`` (the replay skips both kinds it cannot see the data for).
    """
    t = ksm.tables
    by_hpa = lambda name: {(r.namespace, r.horizontalpodautoscaler): r for r in t[name].itertuples(index=False)}  # noqa: E731
    mins, maxes, current, desired = by_hpa("hpa_min"), by_hpa("hpa_max"), by_hpa("hpa_current"), by_hpa("hpa_desired")
    metrics: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in t["hpa_target"].sort_values(["metric_name", "metric_target_type"]).itertuples(index=False):
        metrics[(r.namespace, r.horizontalpodautoscaler)].append(_metric(r.metric_name, r.metric_target_type, r.value))
    conditions: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in t["hpa_condition"].itertuples(index=False):
        if r.value == 1:
            status = {"true": "True", "false": "False"}.get(r.status, "Unknown")
            conditions[(r.namespace, r.horizontalpodautoscaler)].append(
                {"type": r.condition, "status": status, "lastTransitionTime": iso(r.first_seen)}
            )
    hpas = []
    for r in t["hpa_info"].sort_values(["namespace", "horizontalpodautoscaler"]).itertuples(index=False):
        key = (r.namespace, r.horizontalpodautoscaler)
        if key not in maxes:
            continue
        hpa = _meta("HorizontalPodAutoscaler", *key)
        hpa["spec"] = {
            "scaleTargetRef": {
                "apiVersion": r.scaletargetref_api_version or "apps/v1",
                "kind": r.scaletargetref_kind,
                "name": r.scaletargetref_name,
            },
            "minReplicas": int(mins[key].value) if key in mins else 1,
            "maxReplicas": int(maxes[key].value),
            "metrics": metrics.get(key, []),
        }
        status: dict[str, Any] = {"conditions": sorted(conditions.get(key, []), key=lambda c: c["type"])}
        if key in current:
            status["currentReplicas"] = int(current[key].value)
        if key in desired:
            status["desiredReplicas"] = int(desired[key].value)
        hpa["status"] = status
        hpas.append(hpa)
    return hpas


def _metric(name: str, target_type: str, value: float) -> dict[str, Any]:
    if name in ("cpu", "memory"):
        if target_type == "utilization":
            target = {"type": "Utilization", "averageUtilization": round(value)}
        else:
            target = {"type": "AverageValue", "averageValue": quantity(name, value)}
        return {"type": "Resource", "resource": {"name": name, "target": target}}
    kind = "AverageValue" if target_type == "average" else "Value"
    key = "averageValue" if kind == "AverageValue" else "value"
    return {"type": "External", "external": {"metric": {"name": name}, "target": {"type": kind, key: f"{value:g}"}}}
