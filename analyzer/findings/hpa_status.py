"""HPAs as the controller would evaluate them on the snapshot's newest pods: what they count, whether they stall."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analyzer.errors import ManifestError
from analyzer.simulate.hpa_behavior import ControllerFlags
from analyzer.simulate.hpa_spec import parse_hpa
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


def hpa_table(snapshot: Snapshot, owners: pd.DataFrame, version: KubeVersion, flags: ControllerFlags) -> pd.DataFrame:
    """One row per HPA (:data:`HPA_COLUMNS`)."""
    pods = {p.key: p for p in snapshot.pods}
    gone = [DELETED_AT_ANNOTATION in p.annotations for p in snapshot.pods]
    live = owners[~np.array(gone, dtype=bool)]
    workloads = {w.key for w in snapshot.workloads("Deployment", "StatefulSet", "ReplicaSet")}
    rows = []
    for obj in snapshot.items("HorizontalPodAutoscaler"):
        ns, name = obj["metadata"]["namespace"], obj["metadata"]["name"]
        ref = obj["spec"]["scaleTargetRef"]
        target = f"{ref['kind']}/{ref['name']}"
        try:
            spec = parse_hpa(obj, version, flags)
        except ManifestError as exc:
            rows.append((ns, name, target, "", "", "invalid", str(exc)))
            continue
        metrics = "; ".join(m.describe() for m in spec.metrics)
        if (ns, ref["kind"], ref["name"]) not in workloads:
            rows.append((ns, name, target, metrics, "", "no-target", f"scale target {target} is not in the snapshot"))
            continue
        mine = live[(live.namespace == ns) & (live.workload == ref["name"]) & (live.workload_kind == ref["kind"])]
        if mine.empty:
            rows.append((ns, name, target, metrics, "", "no-pods", f"no live pods of {target} in the snapshot"))
            continue
        pod = pods[(ns, max(mine["pod"], key=lambda p: newest_first_key(pods[(ns, p)])))]
        counted = sorted({c.name for c in counted_containers(pod.spec, version)})
        errors = [pod_request(pod.spec, pod.name, m.resource, version, m.container).error for m in spec.metrics]
        errors = [e for e in errors if e]
        status = "stalled" if errors and len(errors) == len(spec.metrics) else ("partial" if errors else "ok")
        rows.append((ns, name, target, metrics, ", ".join(counted), status, "; ".join(errors)))
    return pd.DataFrame(rows, columns=list(HPA_COLUMNS))
