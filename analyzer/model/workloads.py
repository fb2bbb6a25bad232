"""Pods mapped to their owning workloads, and per-container usage against requests."""

from __future__ import annotations

from typing import Any

import pandas as pd

from analyzer.snapshot.schema import Snapshot
from analyzer.units import parse_quantity

CONTAINER_COLUMNS = {
    "namespace": "workload namespace",
    "workload_kind": "Deployment, StatefulSet, DaemonSet, ReplicaSet or Pod",
    "workload": "workload name",
    "container": "container name",
    "native_sidecar": "init container with restartPolicy Always",
    "cpu_request_cores": "CPU request in cores (NaN: none)",
    "memory_request_bytes": "memory request in bytes (NaN: none)",
    "cpu_mean_cores": "mean CPU usage per pod in cores",
    "cpu_p95_cores": "95th percentile CPU usage per pod in cores",
    "memory_mean_bytes": "mean working set per pod in bytes",
    "cpu_usage_per_request": "mean CPU usage / CPU request (NaN without a request)",
}


def pod_owners(snapshot: Snapshot) -> pd.DataFrame:
    """One row per pod: namespace, pod, workload_kind, workload (ReplicaSets resolved to Deployments)."""
    rs_owner = {}
    for rs in snapshot.items("ReplicaSet"):
        meta = rs["metadata"]
        ref = _controller(meta)
        if ref is not None and ref.get("kind") == "Deployment":
            rs_owner[(meta["namespace"], meta["name"])] = ("Deployment", ref["name"])
    rows = []
    for pod in snapshot.items("Pod"):
        meta = pod["metadata"]
        ref = _controller(meta)
        kind, name = ("Pod", meta["name"]) if ref is None else (ref["kind"], ref["name"])
        if kind == "ReplicaSet":
            kind, name = rs_owner.get((meta["namespace"], name), (kind, name))
        rows.append((meta["namespace"], meta["name"], kind, name))
    return pd.DataFrame(rows, columns=["namespace", "pod", "workload_kind", "workload"])


def _controller(meta: dict[str, Any]) -> dict[str, Any] | None:
    refs = meta.get("ownerReferences") or []
    return next((r for r in refs if r.get("controller")), refs[0] if refs else None)


def container_table(snapshot: Snapshot) -> pd.DataFrame:
    """Per (workload, container): requests from the newest pod, usage statistics per pod (:data:`CONTAINER_COLUMNS`)."""
    owners = pod_owners(snapshot)
    specs = []
    newest: dict[tuple[str, str, str], dict[str, Any]] = {}
    for pod, (_, row) in zip(snapshot.items("Pod"), owners.iterrows(), strict=True):
        key = (row.namespace, row.workload_kind, row.workload)
        if key not in newest or pod["metadata"].get("creationTimestamp", "") > newest[key]["metadata"].get(
            "creationTimestamp", ""
        ):
            newest[key] = pod
    for (ns, kind, name), pod in newest.items():
        spec = pod["spec"]
        entries = [(c, False) for c in spec["containers"]]
        entries += [(c, True) for c in spec.get("initContainers") or [] if c.get("restartPolicy") == "Always"]
        for c, native in entries:
            req = (c.get("resources") or {}).get("requests") or {}
            specs.append((ns, kind, name, c["name"], native, _q(req.get("cpu")), _q(req.get("memory"))))
    table = pd.DataFrame(specs, columns=list(CONTAINER_COLUMNS)[:7])
    usage = snapshot.usage.merge(owners, on=["namespace", "pod"], how="left")
    grouped = usage.groupby(["namespace", "workload_kind", "workload", "container"], sort=True)
    stats = grouped.agg(cpu_mean_cores=("cpu_cores", "mean"), memory_mean_bytes=("memory_bytes", "mean"))
    stats.insert(1, "cpu_p95_cores", grouped["cpu_cores"].quantile(0.95))
    table = table.merge(stats.reset_index(), on=["namespace", "workload_kind", "workload", "container"], how="left")
    table["cpu_usage_per_request"] = table["cpu_mean_cores"] / table["cpu_request_cores"]
    return table.sort_values(["namespace", "workload", "native_sidecar", "container"]).reset_index(drop=True)


def _q(value: Any) -> float:
    return float("nan") if value is None else float(parse_quantity(value))
