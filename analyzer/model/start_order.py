"""Apps that started before their classic sidecar was up, from the containers' status changes.

Nothing orders a classic sidecar (a ``spec.containers`` entry) before the app: an app that connects out at
start while its proxy is not up yet fails, exits and is restarted with the kubelet's back-off, and its pod turns
Ready that much later. Istio orders them only with ``holdApplicationUntilProxyStarts`` (false by default; per
pod in the ``proxy.istio.io/config`` annotation); Linkerd with ``config.linkerd.io/proxy-await`` (on by default
since 2.12).

Per pod whose start the window saw: a pod whose app first restarted no later than one step after its sidecars
turned ready failed on the start order (a change is seen at the sample after it, so the two may share a step),
and its app's restarts until it first turned ready count (the back-off's tail included). What it cost is the
time from the sidecars' readiness to the pod's (every container ready): the time the pod could have served had
the app waited for its proxy. Times are read as :mod:`analyzer.model.sidecar_failures` reads them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from analyzer.documents import parse_text
from analyzer.errors import SidecarImpactError
from analyzer.model.classify import Role
from analyzer.model.sidecar_failures import StatusEvents
from analyzer.snapshot.kube import Pod

ISTIO_CONFIG = "proxy.istio.io/config"
HOLD_KEY = "holdApplicationUntilProxyStarts"
LINKERD_AWAIT = "config.linkerd.io/proxy-await"

START_ORDER_COLUMNS: dict[str, str] = {
    "namespace": "workload namespace",
    "workload_kind": "workload kind",
    "workload": "workload name",
    "container": "the classic sidecar the app started before",
    "kind": "sidecar kind",
    "injected": "added by a webhook rather than in the template",
    "setting": "what orders the two now, from the newest pod ('' nothing this tool knows of for the kind)",
    "pods_started": "pods whose start the window saw",
    "pods_failed": "of those, pods whose app first restarted before the sidecar was ready (or the step after)",
    "app_restarts": "their app's restarts until it first turned ready",
    "ready_lost_pod_hours": "pod-hours those pods were not Ready after their sidecar was: the app restarting",
    "ready_lost_p50_s": "seconds per failed pod, median",
}
"""One row per (workload, classic sidecar) whose app restarted at start before it in some pod."""


def start_order(events: StatusEvents, classes: pd.DataFrame, newest: Mapping[tuple[str, str, str], Pod],
                step_s: float) -> pd.DataFrame:  # fmt: skip
    """:data:`START_ORDER_COLUMNS` from ``events`` (:func:`analyzer.model.sidecar_failures.status_events`),
    ``classes`` (:data:`analyzer.model.classify.CLASS_COLUMNS`) and each workload's newest pod (its annotations)."""
    labels = ["namespace", "pod", "container"]
    per = events.per
    if not len(per):
        return pd.DataFrame(columns=list(START_ORDER_COLUMNS))
    roles = classes[[*labels, "workload_kind", "workload", "role", "kind", "native_sidecar", "injected"]]
    per = per[per["started_in_window"].astype(bool)].merge(roles.astype(dict.fromkeys(labels, str)), on=labels)
    pod = ["namespace", "pod"]
    side = per[(per["role"] == Role.SIDECAR) & ~per["native_sidecar"].astype(bool)]
    if not len(side):
        return pd.DataFrame(columns=list(START_ORDER_COLUMNS))
    up = side.groupby(pod)["ready_s"].max().rename("sidecar_ready_s")
    ready = per.groupby(pod)["ready_s"].max().rename("pod_ready_s")
    apps = per.loc[per["role"] == Role.APP, labels]
    app_ready = per[per["role"] == Role.APP].groupby(pod)["ready_s"].max().rename("app_ready_s")
    restarts = events.restarted.merge(apps, on=labels).merge(up.reset_index(), on=pod)
    restarts = restarts.merge(app_ready.reset_index(), on=pod, how="left")
    seen = restarts["at_s"] - step_s / 2
    # The restarts before the app first turned ready (the back-off's tail included), in pods whose first one
    # came before the sidecar was up.
    starting = restarts[seen <= restarts["app_ready_s"].fillna(np.inf)]
    first = (starting["at_s"] - step_s / 2).groupby([starting["namespace"], starting["pod"]]).min()
    ordered = first[first <= up.reindex(first.index) + step_s].index
    early = starting.set_index(pod).loc[lambda f: f.index.isin(ordered)].reset_index()
    count = early.groupby(pod)["count"].sum().rename("app_restarts")
    pods = pd.concat([up, ready, count], axis=1).fillna({"app_restarts": 0})
    pods["lost_s"] = np.where(pods["app_restarts"] > 0,
                              np.maximum(pods["pod_ready_s"] - pods["sidecar_ready_s"], 0.0), np.nan)  # fmt: skip
    side = side.merge(pods, left_on=pod, right_index=True).assign(failed=lambda f: f["app_restarts"] > 0)
    key = ["namespace", "workload_kind", "workload", "container"]
    g = side.groupby(key, sort=True)
    out = pd.DataFrame({
        "kind": g["kind"].first(),
        "injected": g["injected"].first().astype(bool),
        "pods_started": g["pod"].nunique(),
        "pods_failed": g["failed"].sum().astype(int),
        "app_restarts": g["app_restarts"].sum().astype(int),
        "ready_lost_pod_hours": g["lost_s"].sum() / 3600,
        "ready_lost_p50_s": g["lost_s"].median(),
    }).reset_index()  # fmt: skip
    out = out[out["pods_failed"] > 0].reset_index(drop=True)
    out["setting"] = [
        order_setting(str(r.kind), newest.get((r.namespace, r.workload_kind, r.workload)))
        for r in out.itertuples(index=False)
    ]
    return out[list(START_ORDER_COLUMNS)]


def order_setting(kind: str, pod: Pod | None) -> str:
    """What orders the app after a ``kind`` sidecar in ``pod``, in words ('' none known for the kind)."""
    annotations = pod.annotations if pod is not None else {}
    if kind == "istio":
        hold = hold_application(annotations.get(ISTIO_CONFIG))
        if hold is None:
            return f"{HOLD_KEY} not set on the pod (Istio's default false, unless set mesh-wide)"
        return f"{HOLD_KEY}: {str(hold).lower()} ({ISTIO_CONFIG})"
    if kind == "linkerd":
        value = annotations.get(LINKERD_AWAIT, "")
        return f"{LINKERD_AWAIT}: {value}" if value else f"{LINKERD_AWAIT} not set (on by default since Linkerd 2.12)"
    return ""


def proxy_config(config: str | None) -> dict[str, Any]:
    """A ``proxy.istio.io/config`` value (YAML or JSON) as a mapping; {} when unset, unreadable or not one (read
    with the bounds of any document the tool is handed: a YAML alias bomb is refused, not expanded)."""
    if not config:
        return {}
    try:
        docs = parse_text(config, ISTIO_CONFIG, error=SidecarImpactError)
    except SidecarImpactError:
        return {}
    return docs[0] if len(docs) == 1 and isinstance(docs[0], dict) else {}


def hold_application(config: str | None) -> bool | None:
    """``holdApplicationUntilProxyStarts`` in a ``proxy.istio.io/config`` value, None when unset or unreadable."""
    value = proxy_config(config).get(HOLD_KEY)
    return value if isinstance(value, bool) else None


def with_hold(config: str | None) -> str:
    """A ``proxy.istio.io/config`` value with ``holdApplicationUntilProxyStarts: true`` added to what it says."""
    return json.dumps({**proxy_config(config), HOLD_KEY: True}, sort_keys=True, default=str)
