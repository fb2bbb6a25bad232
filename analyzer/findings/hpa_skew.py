"""The sidecar skew of every HPA: replica-hours and money as deployed vs app-only, remedies, calibration.

Inputs are :class:`analyzer.simulate.counterfactual.Counterfactual` and the model's tables; the
outputs are DataFrames with documented columns, ready for the report and for notebooks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analyzer.findings.remedies import hpa_metrics_patch, sidecar_requests_patch
from analyzer.prices import HOURS_PER_MONTH
from analyzer.simulate.counterfactual import Counterfactual

SKEW_COLUMNS = {
    "namespace": "HPA namespace",
    "hpa": "HPA name",
    "target": "scale target as Kind/name",
    "metrics": "the metrics replayed, described",
    "counted_containers": "containers the as-deployed metrics count",
    "sidecars": "sidecar containers of the pods",
    "sidecar_cpu_usage_share": "sidecars' share of the pods' CPU usage (mean over time)",
    "sidecar_cpu_request_share": "sidecars' share of the pod's CPU request",
    "utilization_as_deployed": "mean utilization (or value) the HPA computes on its first metric, as deployed",
    "utilization_app_only": "the same for the app container alone",
    "replica_hours_observed": "replica-hours the workload actually ran in the window",
    "replica_hours_as_deployed": "replica-hours of the replayed controller as deployed",
    "replica_hours_app_only": "replica-hours had the HPA counted the app container alone",
    "skew_replica_hours": "as deployed minus app-only (positive: the sidecars add replicas)",
    "skew_percent": "skew relative to app-only, percent",
    "direction": "inflation (sidecars add replicas), dilution (they remove them), none (|skew| < 2 %) or "
    "stalled (the metric failed at least half the time: replicas frozen)",
    "skew_cost_month": "the skew's monthly cost at the configured prices, dollars (negative: savings at risk)",
    "hours_at_max_as_deployed": "hours at maxReplicas as deployed",
    "hours_at_max_app_only": "hours at maxReplicas app-only",
    "hours_at_min_as_deployed": "hours at minReplicas as deployed",
    "hours_at_min_app_only": "hours at minReplicas app-only",
    "stalled_hours": "hours the HPA could not compute a replica count as deployed (a metric failed)",
    "calibration_within_1": "share of time the as-deployed replay is within ±1 replica of the observed count",
    "calibration_mae": "mean absolute error of the as-deployed replay against observed replicas",
    "calibrated": "the replay reproduces the observed replicas (≥ 95 % within ±1); if not, treat figures as rough",
    "note": "why an HPA could not be replayed, or what to keep in mind",
}

REMEDY_COLUMNS = {
    "namespace": "HPA namespace",
    "hpa": "HPA name",
    "remedy": "container-resource, retarget, sidecar-requests or average-value",
    "description": "what the remedy changes",
    "replica_hours": "replica-hours with the remedy applied",
    "residual_skew_replica_hours": "remedy minus app-only replica-hours",
    "residual_skew_percent": "the residual relative to app-only, percent",
    "stalled_hours": "hours the HPA still could not compute a replica count",
    "patch": "YAML to apply",
}

SERIES_STEP_S = 300.0
"""The replica series are sampled this often (or at the snapshot step when coarser)."""

SERIES_COLUMNS = {
    "timestamp": "scrape time, UTC, sampled every SERIES_STEP_S (5 minutes)",
    "namespace": "HPA namespace",
    "hpa": "HPA name",
    "view": "observed, as-deployed, app-only or a remedy",
    "replicas": "replicas at that time",
    "utilization": "the first metric's utilization percent (or value) the HPA computed; NaN when it failed",
}

NO_SKEW_PERCENT = 2.0
STALLED_SHARE = 0.5
"""An HPA that failed to compute for at least this share of the window is reported as stalled."""
CALIBRATED_SHARE = 0.95


@dataclass(frozen=True)
class HPASkew:
    """The per-HPA table, the remedies and the replica series (long form, for plots)."""

    table: pd.DataFrame
    remedies: pd.DataFrame
    series: pd.DataFrame


def hpa_skew(cf: Counterfactual, containers: pd.DataFrame, workloads: pd.DataFrame) -> HPASkew:
    """Summarise a replay per HPA: :data:`SKEW_COLUMNS`, :data:`REMEDY_COLUMNS` and :data:`SERIES_COLUMNS`."""
    hours = cf.step_s / 3600.0
    window_h = len(cf.times) * hours
    col_of = {(c.hpa, c.view): j for j, c in enumerate(cf.columns)}
    w = workloads.set_index(["namespace", "workload_kind", "workload"])
    container_rows = containers.groupby(["namespace", "workload_kind", "workload"], sort=False).indices
    views_of: dict[int, list[tuple[str, int]]] = {}
    for (hh, view), j in col_of.items():
        views_of.setdefault(hh, []).append((view, j))
    rows, remedy_rows, series = [], [], []
    for h, ctx in enumerate(cf.contexts):
        spec = ctx.spec
        dep, app = col_of[(h, "as-deployed")], col_of[(h, "app-only")]
        rh = {view: float(cf.replicas[:, j].sum() * hours) for view, j in views_of[h]}
        obs = cf.observed[:, h]
        have = np.isfinite(obs)
        diff = np.abs(cf.replicas[have, dep] - obs[have])
        within = float((diff <= 1).mean()) if have.any() else np.nan
        skew = rh["as-deployed"] - rh["app-only"]
        pct = 100.0 * skew / rh["app-only"] if rh["app-only"] else np.nan
        direction = "none" if abs(pct) < NO_SKEW_PERCENT else ("inflation" if skew > 0 else "dilution")
        if cf.failed[:, dep].mean() >= STALLED_SHARE:
            direction = "stalled"
        wl = w.loc[ctx.workload] if ctx.workload in w.index else None
        per_replica_hour = (
            float(wl["pod_cost_month"]) / (HOURS_PER_MONTH * float(wl["pods_mean"]))
            if wl is not None and wl["pods_mean"] > 0
            else np.nan
        )
        cfg = spec.scaling

        def util(j: int) -> float:
            ok = ~cf.failed[:, j]
            return float(cf.value[ok, j].mean()) if ok.any() else np.nan

        deployed_cols = cf.columns[dep]
        counted = sorted({c for group in deployed_cols.counted for c in group})
        rows.append(
            {
                "namespace": spec.namespace,
                "hpa": spec.name,
                "target": f"{spec.target_kind}/{spec.target_name}",
                "metrics": "; ".join(m.describe() for m in spec.metrics),
                "counted_containers": ", ".join(counted),
                "sidecars": ", ".join(ctx.sidecars),
                "sidecar_cpu_usage_share": float(wl["sidecar_cpu_usage_share_mean"]) if wl is not None else np.nan,
                "sidecar_cpu_request_share": float(wl["sidecar_cpu_request_share"]) if wl is not None else np.nan,
                "utilization_as_deployed": util(dep),
                "utilization_app_only": util(app),
                "replica_hours_observed": float(np.nansum(obs) * hours) if have.any() else np.nan,
                "replica_hours_as_deployed": rh["as-deployed"],
                "replica_hours_app_only": rh["app-only"],
                "skew_replica_hours": skew,
                "skew_percent": pct,
                "direction": direction,
                "skew_cost_month": skew / window_h * HOURS_PER_MONTH * per_replica_hour,
                "hours_at_max_as_deployed": float((cf.replicas[:, dep] >= cfg.max_replicas).sum() * hours),
                "hours_at_max_app_only": float((cf.replicas[:, app] >= cfg.max_replicas).sum() * hours),
                "hours_at_min_as_deployed": float((cf.replicas[:, dep] <= cfg.min_replicas).sum() * hours),
                "hours_at_min_app_only": float((cf.replicas[:, app] <= cfg.min_replicas).sum() * hours),
                "stalled_hours": float(cf.failed[:, dep].sum() * hours),
                "calibration_within_1": within,
                "calibration_mae": float(diff.mean()) if have.any() else np.nan,
                "calibrated": bool(within >= CALIBRATED_SHARE) if have.any() else False,
                "note": _note(have.any(), spec.unsupported_metrics),
            }
        )
        if direction != "none" or rh["as-deployed"] != rh["app-only"] or cf.failed[:, dep].any():
            mine = containers.iloc[container_rows.get(ctx.workload, [])]
            remedy_rows.extend(_remedies(cf, h, col_of, rh, mine, hours))
        for view, j in [("as-deployed", dep), ("app-only", app)] + [
            (v, j) for v, j in views_of[h] if v not in ("as-deployed", "app-only")
        ]:
            series.append(_series(cf, h, view, cf.replicas[:, j], np.where(cf.failed[:, j], np.nan, cf.value[:, j])))
        if have.any():
            series.append(_series(cf, h, "observed", obs, np.full(len(obs), np.nan)))
    for r in cf.skipped.itertuples(index=False):
        rows.append({"namespace": r.namespace, "hpa": r.hpa, "note": r.reason, "calibrated": False})
    table = pd.DataFrame(rows, columns=list(SKEW_COLUMNS))
    remedies = pd.DataFrame(remedy_rows, columns=list(REMEDY_COLUMNS))
    frames = [f for f in series if len(f)]
    long = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(SERIES_COLUMNS))
    return HPASkew(table=table, remedies=remedies, series=long)


def _note(observed: bool, unsupported: tuple[str, ...]) -> str:
    notes = [] if observed else ["no observed replicas in the snapshot: calibration not possible"]
    if unsupported:
        notes.append(
            f"not replayed: {', '.join(unsupported)} (no series in the snapshot); "
            "replicas they would add are missing from every view"
        )
    return "; ".join(notes)


def _series(cf: Counterfactual, h: int, view: str, replicas: np.ndarray, value: np.ndarray) -> pd.DataFrame:
    """One view's series, sampled every :data:`SERIES_STEP_S` (a week of 1,000 HPAs stays small)."""
    spec = cf.contexts[h].spec
    k = max(1, round(SERIES_STEP_S / cf.step_s))
    return pd.DataFrame(
        {
            "timestamp": cf.times[::k],
            "namespace": spec.namespace,
            "hpa": spec.name,
            "view": view,
            "replicas": replicas[::k].astype(np.float64),
            "utilization": value[::k].astype(np.float64),
        }
    )


def _remedies(
    cf: Counterfactual,
    h: int,
    col_of: dict[tuple[int, str], int],
    rh: dict[str, float],
    containers: pd.DataFrame,
    hours: float,
) -> list[dict[str, object]]:
    ctx = cf.contexts[h]
    spec = ctx.spec
    ns, kind, name = ctx.workload
    by_name = containers.set_index("container")
    out = []
    base = rh["app-only"]
    for view in ("app-only", "retarget", "sidecar-requests", "average-value"):
        if (h, view) not in col_of:
            continue
        j = col_of[(h, view)]
        col = cf.columns[j]
        remedy = "container-resource" if view == "app-only" else view
        if remedy == "container-resource" and all(m.container for m in spec.metrics):
            continue
        if remedy == "sidecar-requests":
            description = "set each sidecar's request to its p90 usage: " + ", ".join(
                f"{c} cpu {r['cpu']} memory {r['memory']}" for c, r in col.change["requests"].items()
            )
            patch = sidecar_requests_patch(
                ns, kind, name, col.change["requests"],
                {c: str(by_name.loc[c, "kind"]) for c in ctx.sidecars},
                {c: bool(by_name.loc[c, "injected"]) for c in ctx.sidecars},
                {c: bool(by_name.loc[c, "native_sidecar"]) for c in ctx.sidecars},
            )  # fmt: skip
        else:
            description = {
                "container-resource": f"scale on the {ctx.app} container alone (type: ContainerResource), same targets",
                "retarget": "keep type: Resource, re-target to "
                + ", ".join(
                    f"{m.resource} {m.target}%" for m in col.metrics if m.container is None and m.is_utilization
                )
                + " (the pod utilization at which the app is at its target)",
                "average-value": "raise AverageValue targets by the sidecars' usage per pod",
            }[remedy]
            patch = hpa_metrics_patch(spec.namespace, spec.name, col.metrics)
        value = rh[view]
        out.append(
            {
                "namespace": spec.namespace,
                "hpa": spec.name,
                "remedy": remedy,
                "description": description,
                "replica_hours": value,
                "residual_skew_replica_hours": value - base,
                "residual_skew_percent": 100.0 * (value - base) / base if base else np.nan,
                "stalled_hours": float(cf.failed[:, j].sum() * hours),
                "patch": patch,
            }
        )
    return out
