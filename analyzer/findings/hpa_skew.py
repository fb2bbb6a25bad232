"""The sidecar skew of every HPA: replica-hours and money as deployed vs app-only, remedies, calibration.

Inputs are :class:`analyzer.simulate.counterfactual.Counterfactual` and the model's tables; the
outputs are DataFrames with documented columns, ready for the report and for notebooks.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import pandas as pd

from analyzer.findings.changes import requests_read
from analyzer.findings.hpa_held import agrees, conditions_text, held_text, observed_text
from analyzer.findings.remedies import (
    RESOURCE_NAMES,
    app_targets_ops,
    apply_command,
    hpa_metrics_ops,
    patch_text,
    sidecar_requests_ops,
)
from analyzer.model.usage_index import WORKLOAD_KEY
from analyzer.prices import HOURS_PER_MONTH
from analyzer.simulate.counterfactual import Counterfactual
from analyzer.simulate.hpa_spec import HPASpec
from analyzer.simulate.keda import has_annotations, scaled_object_ops
from analyzer.simulate.views import View
from analyzer.snapshot.hpa import APP_TARGETS_ANNOTATION, MetricSpec


class Direction(StrEnum):
    """Which way the sidecars move an HPA (the ``direction`` column; docs/findings.md)."""

    INFLATION = "inflation"
    DILUTION = "dilution"
    STALLED = "stalled"
    UNCERTAIN = "uncertain"
    NONE = "none"


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
    "skew_replica_hours": "net skew: as deployed minus app-only (positive: the sidecars add replicas)",
    "skew_percent": "net skew relative to app-only, percent",
    "direction": "inflation (sidecars add replicas), dilution (they remove them), none (|skew| < 2 %), "
    "stalled (the metric failed at least half the time: replicas frozen) or uncertain (rebuilt from "
    "kube-state-metrics, which cannot tell a ContainerResource metric from a Resource one: no skew finding)",
    "excess_replica_hours": "waste: replica-hours run beyond what the app needed (steps where as deployed > app-only)",
    "missing_replica_hours": "shortfall: replica-hours the app needed but did not get (steps where as deployed < "
    "app-only); never a saving",
    "under_provisioned_hours": "hours the HPA ran fewer replicas than the app-only count",
    "waste_cost_month": "the excess replica-hours' monthly cost at the configured prices, dollars (≥ 0)",
    "replicas_too_many_mean": "replicas beyond the app's need, time-weighted mean over the window (0 when none)",
    "replicas_too_many_p95": "the same at the 95th percentile of the window",
    "replicas_too_few_mean": "replicas short of the app's need, time-weighted mean over the window",
    "replicas_too_few_p95": "the same at the 95th percentile of the window",
    "hours_at_max_as_deployed": "hours at maxReplicas as deployed",
    "hours_at_max_app_only": "hours at maxReplicas app-only",
    "hours_at_min_as_deployed": "hours at minReplicas as deployed",
    "hours_at_min_app_only": "hours at minReplicas app-only",
    "stalled_hours": "hours the HPA could not compute a replica count as deployed (a metric failed)",
    "calibration_within_1": "share of time the as-deployed replay is within ±1 replica of the observed count",
    "calibration_mae": "mean absolute error of the as-deployed replay against observed replicas",
    "calibrated": "the replay reproduces the observed replicas (≥ 95 % within ±1); if not, treat figures as rough",
    "decisions_compared": "scrapes at which the controller was evaluated on the observed pods and replicas",
    "decisions_matched": "share of those at which its decision equals the replicas observed one step later "
    "(checks the controller model on real pods, independently of the usage model)",
    "held_as_deployed": "what held the replicas as deployed, from the controller's conditions over the replay "
    "(pinned at maxReplicas, frozen by a failing metric, stabilization, rate limits), hours, most first",
    "held_app_only": "the same for the app-only replay",
    "conditions_replayed": "the replayed controller's conditions after its last sync, as deployed",
    "conditions_observed": "the HPA's status conditions in the snapshot (kube-state-metrics gives no reason)",
    "conditions_agree": "the replay's final conditions match the observed ones (status, and reason where "
    "recorded); empty when none was recorded",
    "note": "why an HPA could not be replayed, or what to keep in mind",
}

REMEDY_COLUMNS = {
    "namespace": "HPA namespace",
    "hpa": "HPA name",
    "remedy": "container-resource, retarget, sidecar-requests or average-value",
    "description": "what the remedy changes",
    "reads_after": "what the object reads once the remedy is applied: the HPA's replayed metrics as the hpas table "
    "describes them, or for sidecar-requests each sidecar's requests (a later run knows the fix was applied "
    "when it reads so)",
    "replica_hours": "replica-hours with the remedy applied",
    "residual_skew_replica_hours": "remedy minus app-only replica-hours",
    "residual_skew_percent": "the residual relative to app-only, percent",
    "stalled_hours": "hours the HPA still could not compute a replica count",
    "recommended": "the one remedy recommended for this HPA's finding (HPAs without a finding get none)",
    "why": "for the recommended remedy: why it was chosen over the others",
    "object": "the object the patch changes, as kind/name (the HPA, or the workload for sidecar requests)",
    "command": "the command that applies the patch from the fixes/ directory (-o fixes); empty without a patch",
    "patch": "a JSON Patch (RFC 6902) that changes only what the remedy changes, guarded by test operations",
    "notes": "what the patch cannot do (an injector without request annotations, a workload without a template)",
}

INVASIVENESS = (View.RETARGET, View.CONTAINER_RESOURCE, View.AVERAGE_VALUE, View.SIDECAR_REQUESTS)
"""Least invasive first: one HPA number, an HPA metric type, HPA targets, then pod requests (a rollout)."""
TIE_SHARE = 0.01
"""Residual skews within 1 % of the app-only replica-hours (or one replica-hour) count as a tie."""

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


def by_impact(table: pd.DataFrame) -> pd.DataFrame:
    """The skew table's replayed rows, stalled HPAs first, then by replica-hours off the app's need
    (excess plus missing): what a reader should look at first, waste and shortfall alike."""
    rows = table.dropna(subset=["skew_replica_hours"])
    off = rows["excess_replica_hours"].fillna(0) + rows["missing_replica_hours"].fillna(0)
    key = off + (rows["direction"] == Direction.STALLED) * 1e12
    return rows.loc[key.sort_values(ascending=False, kind="stable").index]


@dataclass(frozen=True)
class HPASkew:
    """The per-HPA table, the remedies and the replica series (long form, for plots)."""

    table: pd.DataFrame
    remedies: pd.DataFrame
    series: pd.DataFrame


def hpa_skew(cf: Counterfactual, containers: pd.DataFrame, workloads: pd.DataFrame) -> HPASkew:
    """Summarise a replay per HPA: :data:`SKEW_COLUMNS`, :data:`REMEDY_COLUMNS` and :data:`SERIES_COLUMNS`.

    Every figure is computed for all columns at once; the loop over HPAs only assembles rows.
    """
    hours = cf.step_s / 3600.0
    window_h = len(cf.times) * hours
    n_h = len(cf.contexts)
    col_of = {(c.hpa, c.view): j for j, c in enumerate(cf.columns)}
    views_of: dict[int, list[tuple[str, int]]] = {}
    for (hh, view), j in col_of.items():
        views_of.setdefault(hh, []).append((view, j))
    dep = np.array([col_of[(h, View.AS_DEPLOYED)] for h in range(n_h)], dtype=np.int64)
    app = np.array([col_of[(h, View.APP_ONLY)] for h in range(n_h)], dtype=np.int64)

    rh = cf.replicas.sum(axis=0) * hours
    ok = ~cf.failed
    n_ok = ok.sum(axis=0)
    util = np.where(n_ok > 0, np.where(ok, cf.value, 0).sum(axis=0) / np.maximum(n_ok, 1), np.nan)
    failed_hours = cf.failed.sum(axis=0) * hours
    stalled = cf.failed[:, dep].mean(axis=0) >= STALLED_SHARE if n_h else np.zeros(0, dtype=bool)
    obs = cf.observed
    have = np.isfinite(obs)
    n_have = have.sum(axis=0)
    diff = np.abs(cf.replicas[:, dep] - obs)
    within = np.where(n_have > 0, ((diff <= 1) & have).sum(axis=0) / np.maximum(n_have, 1), np.nan)
    mae = np.where(n_have > 0, np.nansum(diff, axis=0) / np.maximum(n_have, 1), np.nan)
    rh_observed = np.where(n_have > 0, np.nansum(obs, axis=0) * hours, np.nan)
    next_obs = np.vstack([obs[1:], np.full((1, n_h), np.nan)]) if n_h else obs
    compared = np.isfinite(cf.decided) & np.isfinite(next_obs)
    n_compared = compared.sum(axis=0)
    matched = np.where(n_compared > 0, (compared & (cf.decided == next_obs)).sum(axis=0) / np.maximum(n_compared, 1),
                       np.nan)  # fmt: skip
    max_r = np.array([c.spec.scaling.max_replicas for c in cf.contexts], dtype=np.int64)
    min_r = np.array([c.spec.scaling.min_replicas for c in cf.contexts], dtype=np.int64)
    at_max_dep = (cf.replicas[:, dep] >= max_r).sum(axis=0) * hours
    at_max_app = (cf.replicas[:, app] >= max_r).sum(axis=0) * hours
    at_min_dep = (cf.replicas[:, dep] <= min_r).sum(axis=0) * hours
    at_min_app = (cf.replicas[:, app] <= min_r).sum(axis=0) * hours
    skew = rh[dep] - rh[app]
    with np.errstate(divide="ignore", invalid="ignore"):
        pct = np.where(rh[app] != 0, 100.0 * skew / rh[app], np.nan)
    direction = np.where(
        np.abs(pct) < NO_SKEW_PERCENT, Direction.NONE, np.where(skew > 0, Direction.INFLATION, Direction.DILUTION)
    )
    direction = np.where(stalled, Direction.STALLED, direction)
    uncertain = np.array([c.spec.metrics_uncertain for c in cf.contexts], dtype=bool)
    direction = np.where(uncertain & (direction != Direction.NONE), Direction.UNCERTAIN, direction)
    wl = _workload_figures(cf, workloads)
    with np.errstate(divide="ignore", invalid="ignore"):
        per_replica_hour = np.where(
            wl["pods_mean"] > 0, wl["pod_cost_month"] / (HOURS_PER_MONTH * wl["pods_mean"]), np.nan
        )
    # time x HPA, + too many, - too few; one int32 array (a week of 1,000 HPAs: 40 MB): max(·, 0) is
    # monotone, so the p95 of the excess is max(p95(gap), 0) and of the shortfall max(-p5(gap), 0).
    gap = (cf.replicas[:, dep] - cf.replicas[:, app]).astype(np.int32)
    excess = np.where(gap > 0, gap, 0).sum(axis=0) * hours
    missing = np.where(gap < 0, -gap, 0).sum(axis=0) * hours
    under_hours = (gap < 0).sum(axis=0) * hours
    p5, p95 = np.percentile(gap, [5, 95], axis=0) if len(gap) else (np.full(n_h, np.nan), np.full(n_h, np.nan))
    many_p95, few_p95 = np.maximum(p95, 0), np.maximum(-p5, 0)
    steps = max(len(gap), 1)
    waste_cost = excess / window_h * HOURS_PER_MONTH * per_replica_hour
    sidecar_of = _sidecar_facts(containers)

    rows, remedy_rows = [], []
    for h, ctx in enumerate(cf.contexts):
        spec = ctx.spec
        counted = sorted({c for group in cf.columns[dep[h]].counted for c in group})
        rows.append(
            {
                "namespace": spec.namespace,
                "hpa": spec.name,
                "target": f"{spec.target_kind}/{spec.target_name}",
                "metrics": "; ".join(m.describe() for m in spec.metrics),
                "counted_containers": ", ".join(counted),
                "sidecars": ", ".join(ctx.sidecars),
                "sidecar_cpu_usage_share": wl["sidecar_cpu_usage_share_mean"][h],
                "sidecar_cpu_request_share": wl["sidecar_cpu_request_share"][h],
                "utilization_as_deployed": util[dep[h]],
                "utilization_app_only": util[app[h]],
                "replica_hours_observed": rh_observed[h],
                "replica_hours_as_deployed": rh[dep[h]],
                "replica_hours_app_only": rh[app[h]],
                "skew_replica_hours": skew[h],
                "skew_percent": pct[h],
                "direction": str(direction[h]),
                "excess_replica_hours": excess[h],
                "missing_replica_hours": missing[h],
                "under_provisioned_hours": under_hours[h],
                "waste_cost_month": waste_cost[h],
                "replicas_too_many_mean": excess[h] / hours / steps if len(gap) else np.nan,
                "replicas_too_many_p95": many_p95[h],
                "replicas_too_few_mean": missing[h] / hours / steps if len(gap) else np.nan,
                "replicas_too_few_p95": few_p95[h],
                "hours_at_max_as_deployed": at_max_dep[h],
                "hours_at_max_app_only": at_max_app[h],
                "hours_at_min_as_deployed": at_min_dep[h],
                "hours_at_min_app_only": at_min_app[h],
                "stalled_hours": failed_hours[dep[h]],
                "calibration_within_1": within[h],
                "calibration_mae": mae[h],
                "calibrated": bool(within[h] >= CALIBRATED_SHARE) if n_have[h] else False,
                "note": _note(bool(n_have[h]), spec.unsupported_metrics, spec.metrics_uncertain),
                "decisions_compared": int(n_compared[h]),
                "decisions_matched": matched[h],
                "held_as_deployed": held_text(cf.condition_syncs[:, dep[h]], window_h),
                "held_app_only": held_text(cf.condition_syncs[:, app[h]], window_h),
                "conditions_replayed": conditions_text(cf.last_conditions[:, dep[h]]),
                "conditions_observed": observed_text(ctx.observed_conditions),
                "conditions_agree": agrees(cf.last_conditions[:, dep[h]], ctx.observed_conditions),
            }
        )
        if direction[h] != Direction.UNCERTAIN and (
            direction[h] != Direction.NONE or skew[h] != 0 or failed_hours[dep[h]] > 0
        ):
            remedy_rows.extend(_remedies(cf, h, col_of, rh, failed_hours, sidecar_of))
    for r in cf.skipped.itertuples(index=False):
        rows.append({"namespace": r.namespace, "hpa": r.hpa, "note": r.reason, "calibrated": False})
    table = pd.DataFrame(rows, columns=list(SKEW_COLUMNS))
    remedies = recommend_remedies(pd.DataFrame(remedy_rows, columns=list(REMEDY_COLUMNS)), table)
    return HPASkew(table=table, remedies=remedies, series=_series(cf, views_of, dep, app, have))


def recommend_remedies(remedies: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """Mark one remedy per HPA with a finding (inflation, dilution or stalled) as recommended, and say why.

    The simulation decides: the smallest residual skew against app-only among remedies that leave
    nothing stalled and come with a patch; residuals within :data:`TIE_SHARE` of the app-only
    replica-hours (or one replica-hour) are a tie, broken by :data:`INVASIVENESS`.
    """
    if remedies.empty:
        return remedies
    out = remedies.copy()
    flagged = table.loc[table["direction"].isin([Direction.INFLATION, Direction.DILUTION, Direction.STALLED])]
    app_only = dict(zip(zip(table["namespace"], table["hpa"], strict=True), table["replica_hours_app_only"],
                        strict=True))  # fmt: skip
    wanted = set(zip(flagged["namespace"], flagged["hpa"], strict=True))
    for (ns, hpa), group in out.groupby(["namespace", "hpa"], sort=False):
        if (ns, hpa) not in wanted:
            continue
        usable = group[(group["stalled_hours"] == 0) & (group["patch"] != "")]
        if usable.empty:
            continue
        residual = usable["residual_skew_replica_hours"].abs()
        tie = max(1.0, TIE_SHARE * float(app_only.get((ns, hpa), 0.0) or 0.0))
        close = usable[residual <= residual.min() + tie]
        rank = close["remedy"].map({r: i for i, r in enumerate(INVASIVENESS)}).fillna(len(INVASIVENESS))
        best = rank.sort_values(kind="stable").index[0]
        others = ", ".join(
            f"{r.remedy} {r.residual_skew_replica_hours:+,.1f}" for r in group.drop(index=best).itertuples()
        )
        why = (
            f"smallest residual skew without a stall ({out.at[best, 'residual_skew_replica_hours']:+,.1f} "
            f"replica-hours against app-only{'; others: ' + others if others else ''})"
        )
        if len(close) > 1:
            why += f"; tied within {tie:,.1f} replica-hours with {len(close) - 1} other, so the least invasive"
        out.loc[best, ["recommended", "why"]] = [True, why]
    return out


def _workload_figures(cf: Counterfactual, workloads: pd.DataFrame) -> dict[str, np.ndarray]:
    """The workload columns the table needs, one value per HPA (NaN where its workload has no row)."""
    names = ["pods_mean", "pod_cost_month", "sidecar_cpu_usage_share_mean", "sidecar_cpu_request_share"]
    keys = pd.DataFrame([c.workload for c in cf.contexts], columns=WORKLOAD_KEY)
    found = keys.merge(workloads[[*WORKLOAD_KEY, *names]].drop_duplicates(WORKLOAD_KEY), how="left", on=WORKLOAD_KEY)
    return {n: found[n].to_numpy(dtype=np.float64) for n in names}


def _sidecar_facts(containers: pd.DataFrame) -> dict[tuple[str, str, str, str], tuple[str, bool, bool]]:
    """(namespace, kind, workload, container) → (sidecar kind, injected, native sidecar)."""
    cols = [containers[c] for c in (*WORKLOAD_KEY, "container", "kind", "injected", "native_sidecar")]
    return {(ns, k, w, c): (str(kind), bool(inj), bool(nat)) for ns, k, w, c, kind, inj, nat in zip(*cols, strict=True)}


def _note(observed: bool, unsupported: tuple[str, ...], uncertain: bool = False) -> str:
    notes = [] if observed else ["no observed replicas in the snapshot: calibration not possible"]
    if uncertain:
        notes.append(
            "rebuilt from kube-state-metrics: a Resource metric here may be a ContainerResource one on the app "
            "container, which sidecars do not skew; collect with the Kubernetes API to know"
        )
    if unsupported:
        notes.append(
            f"not replayed: {', '.join(unsupported)} (no series in the snapshot); "
            "replicas they would add are missing from every view"
        )
    return "; ".join(notes)


def _series(
    cf: Counterfactual, views_of: dict[int, list[tuple[str, int]]], dep: np.ndarray, app: np.ndarray, have: np.ndarray
) -> pd.DataFrame:
    """The long table of :data:`SERIES_COLUMNS`, sampled every :data:`SERIES_STEP_S` (a week of 1,000 HPAs
    stays small): per HPA as-deployed, app-only, the other views, then observed where there is any."""
    k = max(1, round(SERIES_STEP_S / cf.step_s))
    times = cf.times[::k]
    hpa_of, view_of, replay_cols, observed_of = [], [], [], []
    for h in range(len(cf.contexts)):
        others = [(v, j) for v, j in views_of[h] if v not in (View.AS_DEPLOYED, View.APP_ONLY)]
        for view, j in [(View.AS_DEPLOYED, int(dep[h])), (View.APP_ONLY, int(app[h])), *others]:
            hpa_of.append(h)
            view_of.append(view)
            replay_cols.append(j)
            observed_of.append(-1)
        if have[:, h].any():
            hpa_of.append(h)
            view_of.append("observed")
            replay_cols.append(-1)
            observed_of.append(h)
    if not hpa_of:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in SERIES_COLUMNS})
    replay_cols_a, observed_a = np.array(replay_cols), np.array(observed_of)
    is_obs = replay_cols_a < 0
    replicas = np.empty((len(times), len(hpa_of)))
    value = np.full((len(times), len(hpa_of)), np.nan)
    sampled_cols = replay_cols_a[~is_obs]
    replicas[:, ~is_obs] = cf.replicas[::k, sampled_cols]
    value[:, ~is_obs] = np.where(cf.failed[::k, sampled_cols], np.nan, cf.value[::k, sampled_cols])
    replicas[:, is_obs] = cf.observed[::k, observed_a[is_obs]]
    n = len(times)
    hpa_codes = np.repeat(np.array(hpa_of), n)
    namespaces = pd.Categorical([c.spec.namespace for c in cf.contexts])
    names = pd.Categorical([c.spec.name for c in cf.contexts])
    views = pd.Categorical(view_of)
    return pd.DataFrame(
        {
            "timestamp": times.take(np.tile(np.arange(n), len(hpa_of))),
            "namespace": pd.Categorical.from_codes(namespaces.codes[hpa_codes], namespaces.categories),
            "hpa": pd.Categorical.from_codes(names.codes[hpa_codes], names.categories),
            "view": pd.Categorical.from_codes(np.repeat(views.codes, n), views.categories),
            "replicas": replicas.ravel(order="F"),
            "utilization": value.ravel(order="F"),
        }
    )


RESOURCE_WORDS = {"cpu": "CPU", "memory": "memory"}


def _retarget_words(old: tuple[MetricSpec, ...], new: tuple[MetricSpec, ...]) -> str:
    """A retarget in words: each Utilization target it moves, from what to what, and why that value."""
    moves = [
        f"{'lower' if b.target < a.target else 'raise'} the {RESOURCE_WORDS.get(a.resource, a.resource)} target "
        f"from {a.target}% to {b.target}%"
        for a, b in zip(old, new, strict=True)
        if a.container is None and a.is_utilization and b.target != a.target
    ]
    if not moves:
        return "keep type Resource and its targets"
    return " and ".join(moves) + (
        " (the pod's utilization when the app's is at its target; the app's target is recorded in the "
        f"annotation {APP_TARGETS_ANNOTATION})"
    )


def _intent(spec: HPASpec, new: tuple[MetricSpec, ...]) -> dict[str, int]:
    """The app-level targets a retarget's new pod-level targets stand for, to record on the object (those
    recorded already kept): without them the next analysis would hold the app alone to the new target."""
    moved = {
        a.resource: spec.app_target(a)
        for a, b in zip(spec.metrics, new, strict=True)
        if a.container is None and a.is_utilization and b.target != a.target
    }
    return {**spec.app_targets, **moved} if moved else {}


def _remedies(
    cf: Counterfactual,
    h: int,
    col_of: dict[tuple[int, str], int],
    rh: np.ndarray,
    failed_hours: np.ndarray,
    sidecar_of: dict[tuple[str, str, str, str], tuple[str, bool, bool]],
) -> list[dict[str, object]]:
    """The remedy rows of HPA ``h``; ``rh`` and ``failed_hours`` are per replay column."""
    ctx = cf.contexts[h]
    spec = ctx.spec
    ns, kind, name = ctx.workload
    facts = {c: sidecar_of.get((ns, kind, name, c), ("generic", False, False)) for c in ctx.sidecars}
    out = []
    base = float(rh[col_of[(h, View.APP_ONLY)]])
    several = len(ctx.apps) > 1
    for view in (View.APP_ONLY, View.CONTAINER_RESOURCE, View.RETARGET, View.SIDECAR_REQUESTS, View.AVERAGE_VALUE):
        if (h, view) not in col_of or (view == View.APP_ONLY and several):
            continue  # with several app containers app-only is the yardstick, not a change one metric makes
        j = col_of[(h, view)]
        col = cf.columns[j]
        remedy = View.CONTAINER_RESOURCE if view == View.APP_ONLY else view
        if remedy == View.CONTAINER_RESOURCE and all(m.container for m in spec.metrics):
            continue
        notes: list[str] = []
        if remedy == View.CONTAINER_RESOURCE and several:
            notes.append(
                f"ContainerResource names one container: the pods have app containers {', '.join(ctx.apps)}, "
                f"and this replays {ctx.app} alone, so the residual is what the others' load leaves out; "
                "retarget, sidecar-requests or average-value keep every app container counted"
            )
        if remedy == View.SIDECAR_REQUESTS:
            description = "set each sidecar's request to its p90 usage: " + ", ".join(
                f"{c} cpu {r['cpu']} memory {r['memory']}" for c, r in col.change["requests"].items()
            )
            ops, notes = sidecar_requests_ops(
                ctx.template, col.change["requests"],
                {c: f[0] for c, f in facts.items()},
                {c: f[1] for c, f in facts.items()},
                {c: f[2] for c, f in facts.items()},
            )  # fmt: skip
            target_kind, target_name = kind, name
        else:
            alone = f"scale on the {ctx.app} container alone (type: ContainerResource), same targets"
            description = {
                View.CONTAINER_RESOURCE: alone,
                View.RETARGET: _retarget_words(spec.metrics, col.metrics),
                View.AVERAGE_VALUE: "raise the AverageValue targets by the sidecars' usage per pod",
            }[remedy]
            ops = hpa_metrics_ops(spec, col.metrics)
            intent = _intent(spec, col.metrics) if remedy == View.RETARGET else {}
            if intent:
                ops += app_targets_ops(intent, spec.has_annotations)
            target_kind, target_name = "HorizontalPodAutoscaler", spec.name
            if ctx.scaled_object is not None:  # KEDA reverts edits of the HPA it generates: patch the source
                ops, more = scaled_object_ops(ctx.scaled_object, spec, col.metrics)
                if intent:
                    ops += app_targets_ops(intent, has_annotations(ctx.scaled_object))
                target_kind, target_name = "ScaledObject", spec.scaled_object
                notes += [f"KEDA generates this HPA from ScaledObject {spec.scaled_object}: the patch changes its "
                          "trigger, and KEDA rewrites the HPA", *more]  # fmt: skip
            elif spec.scaled_object:
                ops = []
                notes.append(
                    f"the HPA is generated by KEDA ScaledObject {spec.scaled_object}, which reverts direct edits: "
                    "make this change in the ScaledObject (its cpu/memory trigger's value and metricType, or "
                    "spec.advanced.horizontalPodAutoscalerConfig); the snapshot does not hold it, so no patch"
                )
        value = float(rh[j])
        out.append(
            {
                "namespace": spec.namespace,
                "hpa": spec.name,
                "remedy": remedy,
                "description": description,
                "reads_after": requests_read(col.change["requests"])
                if remedy == View.SIDECAR_REQUESTS
                else "; ".join(m.describe() for m in col.metrics),
                "replica_hours": value,
                "residual_skew_replica_hours": value - base,
                "residual_skew_percent": 100.0 * (value - base) / base if base else np.nan,
                "stalled_hours": float(failed_hours[j]),
                "recommended": False,
                "why": "",
                "object": f"{RESOURCE_NAMES.get(target_kind, target_kind.lower())}/{target_name}",
                "command": apply_command(spec.namespace, target_kind, target_name) if ops else "",
                "patch": patch_text(ops) if ops else "",
                "notes": "; ".join(notes),
            }
        )
    return out
