"""Proxies that may exit before their app has drained (``sidecar-stop-order``): the exposure on every pod the
workload's scale-downs removed, and the setting that makes the proxy wait (docs/lifecycle.md).

A risk, not a measured failure: the containers' last states before a pod is gone are not in the data. Fixes:
Istio ``proxyMetadata.EXIT_ON_ZERO_ACTIVE_CONNECTIONS: "true"`` merged into the pod template's
``proxy.istio.io/config`` (the proxy then waits for its connections to end, within the grace period); Linkerd
``config.alpha.linkerd.io/proxy-wait-before-exit-seconds`` set to the grace period; or a native sidecar, stopped
after the app (1.29+).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pandas as pd

from analyzer.findings.remedies import RESOURCE_NAMES, template_annotation_fix
from analyzer.findings.severity import Severity
from analyzer.model.start_order import HOLD_KEY, ISTIO_CONFIG, proxy_config
from analyzer.model.stop_order import EXIT_ON_ZERO, LINKERD_WAIT, STOP_ORDER_COLUMNS
from analyzer.snapshot.kube import Workload

FINDING_KIND = "sidecar-stop-order"

STOP_ORDER_TABLE_COLUMNS: dict[str, str] = {
    **STOP_ORDER_COLUMNS,
    "fix": "what to change",
    "patch": "JSON Patch of the workload that applies it ('' none)",
    "command": "the kubectl command that applies the patch",
}


def stop_order_fixes(
    table: pd.DataFrame, templates: Mapping[tuple[str, str, str], Workload], start_order: pd.DataFrame
) -> pd.DataFrame:
    """:data:`STOP_ORDER_TABLE_COLUMNS`: ``table`` (:data:`analyzer.model.stop_order.STOP_ORDER_COLUMNS`) with the
    fix of each row (``templates``: the workloads, for the patch). Where ``start_order``
    (:data:`analyzer.findings.start_order.START_ORDER_TABLE_COLUMNS`) patches the same ``proxy.istio.io/config``,
    this patch carries that change too: the two land in one annotation, the later patch's value whole."""
    if not len(table):
        return pd.DataFrame(columns=list(STOP_ORDER_TABLE_COLUMNS))
    held = {(r.namespace, r.workload_kind, r.workload) for r in start_order.itertuples(index=False)
            if r.kind == "istio" and r.patch}  # fmt: skip
    rows = [_fix(r, templates.get(key := (r.namespace, r.workload_kind, r.workload)), key in held)
            for r in table.itertuples()]  # fmt: skip
    return pd.concat([table, pd.DataFrame(rows, columns=["fix", "patch", "command"], index=table.index)], axis=1)


def _fix(r: Any, workload: Workload | None, hold: bool) -> tuple[str, str, str]:
    if r.kind == "istio":
        current = proxy_config(workload.template_annotations.get(ISTIO_CONFIG) if workload is not None else None)
        if hold:
            current = {**current, HOLD_KEY: True}
        metadata = current.get("proxyMetadata") if isinstance(current.get("proxyMetadata"), dict) else {}
        merged = {**current, "proxyMetadata": {**metadata, EXIT_ON_ZERO: "true"}}
        annotations = {ISTIO_CONFIG: json.dumps(merged, sort_keys=True, default=str)}
        text = (f"let {r.container} wait for its connections to end (within the {r.grace_s:g} s grace period): "
                f"proxyMetadata.{EXIT_ON_ZERO}: \"true\" in the pod template's {ISTIO_CONFIG}")  # fmt: skip
    else:
        annotations = {LINKERD_WAIT: str(int(r.grace_s))}
        text = f"delay {r.container}'s exit for the app to drain: {LINKERD_WAIT}: \"{int(r.grace_s)}\""
    text += "; or a native sidecar, stopped after the app (1.29+)"
    if not r.injected:
        return text, "", ""
    return template_annotation_fix(text, workload, annotations, r.namespace, str(r.workload_kind), str(r.workload))


def stop_order_rows(table: pd.DataFrame) -> list[tuple[Any, ...]]:
    """The ``sidecar-stop-order`` findings (:data:`analyzer.findings.summary.FINDING_COLUMNS` order)."""
    rows: list[tuple[Any, ...]] = []
    for r in table.itertuples(index=False):
        resource = RESOURCE_NAMES.get(str(r.workload_kind), str(r.workload_kind).lower())
        rows.append((Severity.LOW, FINDING_KIND, r.namespace, f"{resource}/{r.workload}",
                     f"{r.container} exits {r.proxy_exits_s:g} s after SIGTERM ({r.setting}) while the app may "
                     f"drain for the pod's {r.grace_s:g} s grace period: for up to {r.exposed_s:g} s its calls out "
                     f"have no network. The workload's {r.scale_downs} scale-downs removed {r.pods_removed} pods "
                     "over the window, each exposed (rule: low, a risk: how each deleted pod ended is not in the "
                     "data)", float("nan"), r.fix))  # fmt: skip
    return rows
