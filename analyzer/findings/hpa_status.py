"""HPAs as the controller would evaluate them on the snapshot's newest pods: what they count, whether they stall."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from analyzer.simulate.hpa_spec import HPAObject
from analyzer.simulate.kube_version import KubeVersion
from analyzer.simulate.pod_requests import counted_containers, pod_request
from analyzer.snapshot.kube import newest_first_key
from analyzer.snapshot.schema import DELETED_AT_ANNOTATION, Snapshot

HPA_COLUMNS = {
    "namespace": "HPA namespace",
    "hpa": "HPA name",
    "target": "scale target as Kind/name",
    "metrics": "replayable metrics, described",
    "counted_containers": "containers whose usage and requests the metric counts",
    "status": "ok, stalled (all metrics fail), partial (some fail: no scale-down), no-target, no-pods or invalid",
    "reason": "the controller's error text, or why the HPA could not be evaluated",
}


def hpa_table(
    snapshot: Snapshot, owners: pd.DataFrame, hpas: Sequence[HPAObject], version: KubeVersion
) -> pd.DataFrame:
    """One row per HPA of ``hpas`` (:data:`HPA_COLUMNS`); ``owners``: :func:`analyzer.model.workloads.pod_owners`."""
    pods = {p.key: p for p in snapshot.pods}
    gone = [DELETED_AT_ANNOTATION in p.annotations for p in snapshot.pods]
    live = owners[~np.array(gone, dtype=bool)]
    live_pods: dict[tuple[str, str, str], list[str]] = {}
    for ns, kind, workload, pod_name in zip(live.namespace, live.workload_kind, live.workload, live.pod, strict=True):
        live_pods.setdefault((ns, kind, workload), []).append(pod_name)
    workloads = {w.key for w in snapshot.workloads("Deployment", "StatefulSet", "ReplicaSet")}
    rows = []
    for hpa in hpas:
        ns, name, spec, target = hpa.namespace, hpa.name, hpa.spec, hpa.target
        if spec is None:
            rows.append((ns, name, target, "", "", "invalid", hpa.invalid))
            continue
        metrics = "; ".join(m.describe() for m in spec.metrics)
        if (ns, hpa.target_kind, hpa.target_name) not in workloads:
            rows.append((ns, name, target, metrics, "", "no-target", f"scale target {target} is not in the snapshot"))
            continue
        mine = live_pods.get((ns, hpa.target_kind, hpa.target_name))
        if not mine:
            rows.append((ns, name, target, metrics, "", "no-pods", f"no live pods of {target} in the snapshot"))
            continue
        pod = pods[(ns, max(mine, key=lambda p: newest_first_key(pods[(ns, p)])))]
        counted = sorted({c.name for c in counted_containers(pod.spec, version)})
        errors = [pod_request(pod.spec, pod.name, m.resource, version, m.container).error for m in spec.metrics]
        errors = [e for e in errors if e]
        status = "stalled" if errors and len(errors) == len(spec.metrics) else ("partial" if errors else "ok")
        rows.append((ns, name, target, metrics, ", ".join(counted), status, "; ".join(errors)))
    return pd.DataFrame(rows, columns=list(HPA_COLUMNS))
