"""Proxies that may exit before their app has drained, and the pods the workload's scale-downs removed.

When a pod is deleted every container gets SIGTERM at once. A classic proxy does not wait for the app: Istio's
drains for ``terminationDrainDuration`` (5 s by default) and exits, unless ``EXIT_ON_ZERO_ACTIVE_CONNECTIONS``
makes it wait for its connections to end; Linkerd's stops at once unless
``config.alpha.linkerd.io/proxy-wait-before-exit-seconds`` delays it. An app still draining after that (it may
use the pod's whole ``terminationGracePeriodSeconds``, 30 s by default) has no network: its in-flight calls out
fail. A native sidecar is stopped after the app.

The containers' last states before a pod is gone last a moment, between two samples, so which deleted pods
actually ended badly is not in the data: what is measured is the exposure, the seconds of grace period the
app may run without its proxy, and how many pods the workload's scale-downs removed over the window (the
observed replicas' decreases).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from analyzer.errors import QuantityError
from analyzer.model.classify import Role
from analyzer.model.start_order import ISTIO_CONFIG, proxy_config
from analyzer.snapshot.kube import Pod
from analyzer.units import parse_duration

DEFAULT_GRACE_S = 30
"""``terminationGracePeriodSeconds`` when a pod does not set it (the API's default)."""
ISTIO_DRAIN_S = 5.0
"""``terminationDrainDuration`` when the proxy config does not set it (Istio's default)."""
EXIT_ON_ZERO = "EXIT_ON_ZERO_ACTIVE_CONNECTIONS"
LINKERD_WAIT = "config.alpha.linkerd.io/proxy-wait-before-exit-seconds"
PROXY_KINDS = ("istio", "linkerd")

STOP_ORDER_COLUMNS: dict[str, str] = {
    "namespace": "workload namespace",
    "workload_kind": "workload kind",
    "workload": "workload name",
    "container": "the classic proxy",
    "kind": "sidecar kind",
    "injected": "added by a webhook rather than in the template",
    "grace_s": "the pod's terminationGracePeriodSeconds (30 when unset), newest pod",
    "proxy_exits_s": "seconds after SIGTERM the proxy exits (Istio's terminationDrainDuration, Linkerd's "
    "wait-before-exit)",
    "exposed_s": "seconds of the grace period the app may still run without its proxy",
    "setting": "what the proxy's shutdown is configured with, from the newest pod",
    "scale_downs": "decreases of the workload's observed replicas over the window",
    "pods_removed": "pods those scale-downs removed",
}
"""One row per (workload, classic proxy) whose app may outlive it on shutdown and whose replicas went down."""


def stop_order(
    containers: pd.DataFrame, newest: Mapping[tuple[str, str, str], Pod], replicas: pd.DataFrame
) -> pd.DataFrame:
    """:data:`STOP_ORDER_COLUMNS` from ``containers`` (:data:`analyzer.model.containers.CONTAINER_COLUMNS`), each
    workload's newest pod and the observed ``replicas`` (:data:`analyzer.snapshot.schema.REPLICAS_COLUMNS`)."""
    proxies = containers[(containers["role"] == Role.SIDECAR) & ~containers["native_sidecar"].astype(bool)
                         & containers["kind"].isin(PROXY_KINDS)]  # fmt: skip
    if not len(proxies) or not len(replicas):
        return pd.DataFrame(columns=list(STOP_ORDER_COLUMNS))
    downs = _scale_downs(replicas)
    rows = []
    for r in proxies.itertuples(index=False):
        key = (r.namespace, r.workload_kind, r.workload)
        count, removed = downs.get(key, (0, 0))
        pod = newest.get(key)
        if not removed or pod is None:
            continue
        grace = pod.spec.termination_grace_s
        grace = DEFAULT_GRACE_S if grace is None else grace
        exits, setting = proxy_exit(str(r.kind), pod.annotations, grace)
        if grace - exits <= 0:
            continue
        rows.append((*key, r.container, r.kind, bool(r.injected), grace, exits, grace - exits, setting, count, removed))
    return pd.DataFrame(rows, columns=list(STOP_ORDER_COLUMNS))


def proxy_exit(kind: str, annotations: Mapping[str, str], grace_s: float) -> tuple[float, str]:
    """Seconds after SIGTERM a ``kind`` proxy exits (``grace_s`` when it waits for its connections), and its
    shutdown setting in words."""
    if kind == "istio":
        config = proxy_config(annotations.get(ISTIO_CONFIG))
        metadata = config.get("proxyMetadata")
        if isinstance(metadata, dict) and str(metadata.get(EXIT_ON_ZERO, "")).lower() == "true":
            return float(grace_s), f"{EXIT_ON_ZERO}: true"
        drain = config.get("terminationDrainDuration")
        try:
            seconds = parse_duration(str(drain)) if drain is not None else ISTIO_DRAIN_S
        except QuantityError:
            seconds = ISTIO_DRAIN_S
        said = f"terminationDrainDuration {drain}" if drain is not None else "terminationDrainDuration unset (5s)"
        return seconds, f"{said}, {EXIT_ON_ZERO} unset"
    value = annotations.get(LINKERD_WAIT, "")
    wait = float(value) if value.isdigit() else 0.0
    return wait, f"{LINKERD_WAIT}: {value}" if value else f"{LINKERD_WAIT} unset (0)"


def _scale_downs(replicas: pd.DataFrame) -> dict[tuple[str, str, str], tuple[int, int]]:
    """Per workload (namespace, kind, name): how many times its observed replicas went down, and by how many."""
    keys = ["namespace", "kind", "name"]
    values = replicas["replicas"].to_numpy(dtype=np.int64)
    ids = replicas.groupby(keys, observed=True, sort=False).ngroup().to_numpy()
    same = np.concatenate([[False], ids[1:] == ids[:-1]])
    drop = np.where(same, np.concatenate([[0], values[:-1] - values[1:]]), 0)
    down = drop > 0
    frame = pd.DataFrame({"id": ids, "n": down.astype(np.int64), "removed": np.where(down, drop, 0)})
    sums = frame.groupby("id").sum()
    first = np.unique(ids, return_index=True)[1]  # each workload's first row, in group order
    labels = replicas[keys].iloc[first].astype(str)
    counts = zip(sums["n"].tolist(), sums["removed"].tolist(), strict=True)
    return dict(zip(labels.itertuples(index=False, name=None), counts, strict=True))
