"""Pods mapped to their owning workloads, and workload labels."""

from __future__ import annotations

from typing import Any

import pandas as pd

from analyzer.snapshot.schema import Snapshot


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


def workload_labels(snapshot: Snapshot, workloads: pd.DataFrame, label: str) -> pd.Series:
    """The value of ``label`` per row of ``workloads`` (from the workload object, else its newest pod; "" if unset)."""
    values: dict[tuple[str, str, str], str] = {}
    for pod in snapshot.items("Pod"):
        meta = pod["metadata"]
        ref = _controller(meta)
        if ref is not None and label in (meta.get("labels") or {}):
            values.setdefault((meta["namespace"], ref["kind"], ref["name"]), meta["labels"][label])
    for kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"):
        for obj in snapshot.items(kind):
            meta = obj["metadata"]
            if label in (meta.get("labels") or {}):
                values[(meta["namespace"], kind, meta["name"])] = meta["labels"][label]
    keys = zip(workloads["namespace"], workloads["workload_kind"], workloads["workload"], strict=True)
    return pd.Series([values.get(k, "") for k in keys], index=workloads.index, dtype=object)
