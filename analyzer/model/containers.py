"""Per (workload, container): classification, requests and usage statistics per pod."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analyzer.frames import records_by
from analyzer.model.classify import Role
from analyzer.model.grouping import chunked_quantiles
from analyzer.model.signals import image_repository, request_source
from analyzer.model.usage_index import WORKLOAD_KEY, UsageIndex
from analyzer.snapshot.kube import Pod, newest_first_key
from analyzer.snapshot.schema import Snapshot

CONTAINER_COLUMNS = {
    "namespace": "workload namespace",
    "workload_kind": "Deployment, StatefulSet, DaemonSet, ReplicaSet, CronJob, Job or Pod",
    "workload": "workload name",
    "container": "container name",
    "role": "app or sidecar (run-once init containers are left out)",
    "primary": "the pod's primary app container (a pod can have several app containers)",
    "kind": "sidecar kind; empty for the app",
    "native_sidecar": "init container with restartPolicy Always",
    "injected": "added to the pod by a webhook (not in the owner's template)",
    "image": "image repository (no registry host, tag or digest), from the newest pod",
    "request_source": "what sets the container's requests: template (the workload's manifest), pod-annotation "
    "(injected, the workload's injector annotation), namespace-annotation (injected, the annotation its injector "
    "copied from the namespace) or injector (injected, the injector's configuration)",
    "evidence": "the signal that decided the role",
    "cpu_request_cores": "CPU request in cores (NaN: none), from the newest pod",
    "memory_request_bytes": "memory request in bytes (NaN: none), from the newest pod",
    "cpu_limit_cores": "CPU limit in cores (NaN: none)",
    "memory_limit_bytes": "memory limit in bytes (NaN: none)",
    "cpu_mean_cores": "mean CPU usage per pod, cores",
    "cpu_p90_cores": "90th percentile CPU usage per pod, cores",
    "cpu_p95_cores": "95th percentile CPU usage per pod, cores",
    "memory_mean_bytes": "mean working set per pod, bytes",
    "memory_p90_bytes": "90th percentile working set per pod, bytes",
    "memory_p95_bytes": "95th percentile working set per pod, bytes",
    "cpu_usage_per_request": "mean CPU usage / CPU request (NaN without a request)",
    "memory_usage_per_request": "mean working set / memory request (NaN without a request)",
}


def newest_pods(snapshot: Snapshot, classes: pd.DataFrame) -> dict[tuple[str, str, str], Pod]:
    """The most recently created pod of each workload (its spec is the one the controllers see now), among
    the pods ``classes`` assigns to workloads (rows with namespace, pod, workload_kind and workload)."""
    pods = {p.key: p for p in snapshot.pods}
    owners = classes.drop_duplicates(["namespace", "pod"])
    newest: dict[tuple[str, str, str], Pod] = {}
    for row in owners.itertuples(index=False):
        pod = pods.get((row.namespace, row.pod))
        if pod is None:  # samples of a pod whose object the snapshot does not hold
            continue
        key = (row.namespace, row.workload_kind, row.workload)
        if key not in newest or newest_first_key(pod) > newest_first_key(newest[key]):
            newest[key] = pod
    return newest


def container_table(snapshot: Snapshot, classes: pd.DataFrame, index: UsageIndex, usage: pd.DataFrame) -> pd.DataFrame:
    """One row per steady (app or sidecar) container of every workload: :data:`CONTAINER_COLUMNS`."""
    rows = []
    classes_of = records_by(
        classes[
            [
                "namespace",
                "pod",
                "container",
                "image",
                "role",
                "primary",
                "kind",
                "native_sidecar",
                "injected",
                "evidence",
            ]
        ],
        ["namespace", "pod"],
    )
    for (ns, kind, name), pod in newest_pods(snapshot, classes).items():
        workload = snapshot.workload_map.get((ns, kind, name))
        template = workload.template_annotations if workload is not None and workload.template is not None else None
        by_name = {c.name: c for c in pod.spec.all_containers}
        for r in classes_of.get(pod.key, []):
            if r["role"] == Role.INIT_ONLY:
                continue
            c = by_name[r["container"]]
            source = request_source(r["kind"], r["injected"], pod.annotations, template)
            rows.append(
                (ns, kind, name, r["container"], r["role"], r["primary"], r["kind"], r["native_sidecar"], r["injected"],
                 image_repository(r["image"]), str(source), r["evidence"], c.request("cpu"), c.request("memory"),
                 c.limit("cpu"), c.limit("memory"))
            )  # fmt: skip
    table = pd.DataFrame(rows, columns=list(CONTAINER_COLUMNS)[:16])

    key = [*WORKLOAD_KEY, "container"]
    series = index.groups[key].drop_duplicates().sort_values(key).reset_index(drop=True)
    sid_of_group = index.groups[key].merge(series.reset_index(), on=key, how="left")["index"].to_numpy()
    sid = sid_of_group.astype(np.int32)[index.group]
    n = len(series)
    cpu = usage["cpu_cores"].to_numpy(dtype=np.float64)
    mem = usage["memory_bytes"].to_numpy(dtype=np.float64)
    count = np.maximum(np.bincount(sid, minlength=n), 1)
    cpu_q, mem_q = chunked_quantiles(sid, n, [cpu, mem], [0.90, 0.95])
    series["cpu_mean_cores"] = np.bincount(sid, weights=cpu, minlength=n) / count
    series["cpu_p90_cores"], series["cpu_p95_cores"] = cpu_q
    series["memory_mean_bytes"] = np.bincount(sid, weights=mem, minlength=n) / count
    series["memory_p90_bytes"], series["memory_p95_bytes"] = mem_q
    table = table.merge(series, on=key, how="left")
    table["cpu_usage_per_request"] = table["cpu_mean_cores"] / table["cpu_request_cores"]
    table["memory_usage_per_request"] = table["memory_mean_bytes"] / table["memory_request_bytes"]
    order = table["role"].map({"app": 1}).fillna(2) - table["primary"].astype(int)
    table = table.assign(_o=order).sort_values([*WORKLOAD_KEY, "_o", "container"]).drop(columns="_o")
    return table.reset_index(drop=True)[list(CONTAINER_COLUMNS)]
