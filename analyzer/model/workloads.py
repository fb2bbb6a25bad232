"""Pods mapped to their owning workloads, and workload labels."""

from __future__ import annotations

import re

import pandas as pd

from analyzer.snapshot.schema import Snapshot

_SCHEDULED_JOB = re.compile(r"(.+)-[0-9]+")
"""A CronJob's Job is named ``<cronjob>-<scheduled time in minutes>`` (the CronJob controller's ``getJobName``)."""
OWNED_BY = {"ReplicaSet": "Deployment", "Job": "CronJob"}
"""The intermediate owners a pod's workload is resolved through (one hop)."""


def pod_owners(snapshot: Snapshot) -> pd.DataFrame:
    """One row per pod: namespace, pod, workload_kind, workload (ReplicaSets resolved to Deployments, Jobs to
    their CronJobs).

    A Job is resolved by its object's controller reference; a Job no longer in the snapshot (a CronJob keeps
    only its last few) by its name, when it is ``<cronjob>-<digits>`` and that CronJob is in the snapshot."""
    owner = {}
    for w in snapshot.workloads(*OWNED_BY):
        ref = w.controller
        if ref is not None and ref.kind == OWNED_BY[w.kind]:
            owner[(w.namespace, w.kind, w.name)] = (ref.kind, ref.name)
    cronjobs = {(w.namespace, w.name) for w in snapshot.workloads("CronJob")}
    rows = []
    for pod in snapshot.pods:
        ref = pod.controller
        kind, name = ("Pod", pod.name) if ref is None else (ref.kind, ref.name)
        if kind in OWNED_BY:
            resolved = owner.get((pod.namespace, kind, name))
            if resolved is None and kind == "Job" and (m := _SCHEDULED_JOB.fullmatch(name)):
                resolved = ("CronJob", m.group(1)) if (pod.namespace, m.group(1)) in cronjobs else None
            kind, name = resolved or (kind, name)
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
