"""Apps that start before their classic sidecar (``sidecar-start-order``): what the restarts at start cost the
pods, and the setting that orders the two (docs/lifecycle.md).

The HPA's counts do not move (an unready new pod's share of the load is on the ready ones it averages over, as
for a late sidecar, docs/failures.md); each new pod serves that much later, so scale-ups land later, and the
capacity ran unready. Its cost is those pod-hours at the workload's pod cost.

Fixes: Istio ``holdApplicationUntilProxyStarts: true`` in the pod template's ``proxy.istio.io/config`` (merged
into what the annotation says); Linkerd ``config.linkerd.io/proxy-await: "enabled"`` where it was turned off;
otherwise (a Linkerd proxy already awaited, another sidecar) a native sidecar with a startupProbe, which the
kubelet starts and waits for before the app (1.29+).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from analyzer.findings.native_migration import NATIVE_SINCE_MINOR
from analyzer.findings.remedies import RESOURCE_NAMES, template_annotation_fix
from analyzer.findings.severity import Severity
from analyzer.model.start_order import HOLD_KEY, ISTIO_CONFIG, LINKERD_AWAIT, START_ORDER_COLUMNS, with_hold
from analyzer.prices import HOURS_PER_MONTH
from analyzer.simulate.kube_version import KubeVersion
from analyzer.snapshot.kube import Workload

FINDING_KIND = "sidecar-start-order"
MEDIUM_FAILED_SHARE = 0.10
"""A workload whose app failed at start in this share of its new pods or more is medium."""

START_ORDER_TABLE_COLUMNS: dict[str, str] = {
    **START_ORDER_COLUMNS,
    "cost_month": "the unready pod-hours per month at the workload's pod cost, dollars",
    "fix": "what to change",
    "patch": "JSON Patch of the workload that applies it ('' none)",
    "command": "the kubectl command that applies the patch",
}


def start_order_effects(
    table: pd.DataFrame,
    workloads: pd.DataFrame,
    templates: Mapping[tuple[str, str, str], Workload],
    version: KubeVersion,
    window_h: float,
) -> pd.DataFrame:
    """:data:`START_ORDER_TABLE_COLUMNS`: ``table`` (:data:`analyzer.model.start_order.START_ORDER_COLUMNS`) with
    the cost (``workloads``: each one's pod cost and mean pods) and the fix (``templates``: the workloads)."""
    if not len(table):
        return pd.DataFrame(columns=list(START_ORDER_TABLE_COLUMNS))
    wl = workloads.set_index(["namespace", "workload_kind", "workload"])
    rows = []
    for r in table.itertuples(index=False):
        key = (r.namespace, r.workload_kind, r.workload)
        pods_mean = float(wl["pods_mean"].get(key, np.nan)) if key in wl.index else np.nan
        pod_cost = float(wl["pod_cost_month"].get(key, np.nan)) if key in wl.index else np.nan
        per_pod_hour = pod_cost / (HOURS_PER_MONTH * pods_mean) if pods_mean > 0 else np.nan
        cost = r.ready_lost_pod_hours / window_h * HOURS_PER_MONTH * per_pod_hour if window_h > 0 else np.nan
        rows.append((cost, *_fix(r, templates.get(key), version)))
    effects = pd.DataFrame(rows, columns=["cost_month", "fix", "patch", "command"], index=table.index)
    return pd.concat([table, effects], axis=1)[list(START_ORDER_TABLE_COLUMNS)]


def _fix(r: Any, workload: Workload | None, version: KubeVersion) -> tuple[str, str, str]:
    annotations: dict[str, str] = {}
    if r.kind == "istio" and r.injected:
        current = (workload.template_annotations.get(ISTIO_CONFIG) if workload is not None else None) or None
        annotations[ISTIO_CONFIG] = with_hold(current)
        text = (f"hold the app until {r.container} is up: {HOLD_KEY}: true in the pod template's {ISTIO_CONFIG} "
                "annotation (or mesh-wide in meshConfig.defaultConfig)")  # fmt: skip
    elif r.kind == "linkerd" and r.injected and r.setting.endswith(": disabled"):
        annotations[LINKERD_AWAIT] = "enabled"
        text = f"let linkerd hold the app until {r.container} is up: {LINKERD_AWAIT}: \"enabled\""
    else:
        native = (f"make {r.container} a native sidecar with a startupProbe: the kubelet starts it and waits for "
                  "the probe before the app")  # fmt: skip
        if version.minor < NATIVE_SINCE_MINOR:
            native += f" (Kubernetes 1.{NATIVE_SINCE_MINOR}+)"
        why = " (the proxy is already awaited: find what the app waits for at start)" if r.kind == "linkerd" else ""
        return native + why, "", ""
    return template_annotation_fix(text, workload, annotations, r.namespace, str(r.workload_kind), str(r.workload))


def start_order_rows(table: pd.DataFrame) -> list[tuple[Any, ...]]:
    """The ``sidecar-start-order`` findings (:data:`analyzer.findings.summary.FINDING_COLUMNS` order)."""
    rows: list[tuple[Any, ...]] = []
    for r in table.itertuples(index=False):
        share = r.pods_failed / r.pods_started if r.pods_started else 0.0
        sev = Severity.MEDIUM if share >= MEDIUM_FAILED_SHARE else Severity.LOW
        resource = RESOURCE_NAMES.get(str(r.workload_kind), str(r.workload_kind).lower())
        setting = f"; {r.setting}" if r.setting else ""
        cost = r.cost_month if np.isfinite(r.cost_month) and r.cost_month > 0 else np.nan
        rows.append((sev, FINDING_KIND, r.namespace, f"{resource}/{r.workload}",
                     f"{r.container} was not up when the app started in {r.pods_failed} of {r.pods_started} new pods: "
                     f"the app restarted {r.app_restarts} times before it, and the pods turned Ready "
                     f"{r.ready_lost_p50_s:.0f} s after {r.container} at the median ({r.ready_lost_pod_hours:.2f} "
                     f"pod-hours unready){setting} (rule: low, medium from {MEDIUM_FAILED_SHARE:.0%} of new pods)",
                     cost, r.fix))  # fmt: skip
    return rows
