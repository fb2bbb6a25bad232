"""Pods mapped to their owning workloads, and workload labels."""

from __future__ import annotations

import pandas as pd

from analyzer.snapshot.schema import Snapshot


def pod_owners(snapshot: Snapshot) -> pd.DataFrame:
    """One row per pod: namespace, pod, workload_kind, workload (ReplicaSets resolved to Deployments)."""
    rs_owner = {}
    for rs in snapshot.workloads("ReplicaSet"):
        ref = rs.controller
        if ref is not None and ref.kind == "Deployment":
            rs_owner[(rs.namespace, rs.name)] = ("Deployment", ref.name)
    rows = []
    for pod in snapshot.pods:
        ref = pod.controller
        kind, name = ("Pod", pod.name) if ref is None else (ref.kind, ref.name)
        if kind == "ReplicaSet":
            kind, name = rs_owner.get((pod.namespace, name), (kind, name))
        rows.append((pod.namespace, pod.name, kind, name))
    return pd.DataFrame(rows, columns=["namespace", "pod", "workload_kind", "workload"])


def workload_labels(snapshot: Snapshot, workloads: pd.DataFrame, label: str) -> pd.Series:
    """The value of ``label`` per row of ``workloads`` (from the workload object, else its newest pod; "" if unset)."""
    values: dict[tuple[str, str, str], str] = {}
    for pod in snapshot.pods:
        ref = pod.controller
        if ref is not None and label in pod.labels:
            values.setdefault((pod.namespace, ref.kind, ref.name), pod.labels[label])
    for w in snapshot.workloads():
        if label in w.labels:
            values[w.key] = w.labels[label]
    keys = zip(workloads["namespace"], workloads["workload_kind"], workloads["workload"], strict=True)
    return pd.Series([values.get(k, "") for k in keys], index=workloads.index, dtype=object)
