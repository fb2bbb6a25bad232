"""Findings on sidecar failures and readiness: what late, crashing and OOM-killed sidecars cost the pods
and the HPA (docs/failures.md).

Three mechanisms, each measured where it acts:

- **Late readiness** (``sidecar-slow-start``): a new pod whose sidecar turns ready after its app stays
  NotReady and serves nothing meanwhile. The HPA's replica count does not move: on a scale-up an unready
  pod counts at 0, and its share of the load is on the ready pods, which it averages over; the cost is
  the capacity that ran unready (``held_pod_hours``) and scale-ups whose new pods serve that much later.
- **Crashes** (``sidecar-crash-loop``): a sidecar down makes its pod NotReady, but a pod that was ready
  since its start is still counted by a CPU HPA: no replica moves, one pod serves nothing
  (``down_pod_hours``). When the sidecar comes back, metrics-server leaves the pod out for a scrape (a
  container not in both of its last scrapes): the HPA takes the pod at 100 % of its request on a
  scale-down (the scale-down is held) and at 0 on a scale-up. That part moves replicas, and is measured by
  deciding each HPA's syncs on the observed pods again as if the sidecar had never gone missing.
- **OOM kills** (``sidecar-oom``): the kernel killed the sidecar at its memory limit; the fix is the limit
  the VPA's own OOM rule would give (``max(peak × 1.2, peak + 100 MiB)``: ``oomBumpUpRatio``,
  ``oomMinBumpUp`` in the recommender's ``model/container.go``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from analyzer.findings.hpa_skew import HOURS_PER_MONTH
from analyzer.findings.remedies import JOB_IMMUTABLE, RESOURCE_NAMES, apply_command, patch_text, sidecar_limit_ops
from analyzer.findings.severity import Severity
from analyzer.model.sidecar_failures import FAILURE_COLUMNS, FAILURE_SERIES_COLUMNS, series_bin_s
from analyzer.simulate.counterfactual import Counterfactual
from analyzer.simulate.views import View
from analyzer.snapshot.kube import Workload, template_at
from analyzer.units import MIB, format_memory

OOM_BUMP_UP_RATIO = 1.2
OOM_MIN_BUMP_UP_BYTES = 100 * MIB
"""The VPA recommender's OOM bump (``--oom-bump-up-ratio``, ``--oom-min-bump-up-bytes``)."""

SLOW_START_MIN_P95_S = 30.0
SLOW_START_MEDIUM_P95_S = 120.0
CRASH_LOW_PER_POD_DAY = 1.0
CRASH_MEDIUM_PER_POD_DAY = 5.0
CRASH_HIGH_PER_POD_DAY = 24.0
DOWN_MEDIUM_SHARE = 0.01
DOWN_HIGH_SHARE = 0.05

EFFECT_COLUMNS: dict[str, str] = {
    "pod_hours": "the workload's pod-hours over the window",
    "hpa": "the HPA of the workload ('' none)",
    "vpa": "the VPA of the workload and whether it sizes the sidecar ('' no VPA)",
    "replica_hours_beyond": "replica-hours the HPA runs beyond those it runs had the workload's sidecars "
    "never gone missing from its metrics (scale-downs held: a missing pod counts at its request), replayed",
    "replica_hours_short": "replica-hours it runs fewer (scale-ups held: a missing pod counts at 0), replayed",
    "scale_ups_delayed": "scale-ups of the replay without the missing metrics that the replay with them reached "
    "later",
    "scale_up_lag_s": "how much later, mean over those, seconds",
    "decisions_changed": "scrapes at which the HPA's decision on the observed pods would have differed",
    "cost_month": "what the capacity lost costs per month at the configured prices, dollars: the pod-hours "
    "that served nothing (held at start or down) and the replica-hours beyond",
    "fix": "what to change",
    "patch": "JSON Patch of the workload that applies the fix ('' none)",
    "command": "the kubectl command that applies the patch",
}
FAILURE_TABLE_COLUMNS = {**FAILURE_COLUMNS, **EFFECT_COLUMNS}
"""The ``failures`` table of an analysis: each sidecar's failures, their effect and the fix."""


def failure_effects(
    failures: pd.DataFrame,
    cf: Counterfactual,
    workloads: pd.DataFrame,
    templates: dict[tuple[str, str, str], Workload],
    vpa: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """:data:`FAILURE_TABLE_COLUMNS`: ``failures`` (:data:`analyzer.model.sidecar_failures.FAILURE_COLUMNS`)
    with each workload's HPA effect, the cost (``workloads``: its pod cost and mean pods), whether its VPA
    sizes the sidecar (``vpa``: :data:`analyzer.simulate.vpa_snapshot.VPA_COLUMNS`) and the fix."""
    out = failures.copy()
    for column in EFFECT_COLUMNS:
        out[column] = pd.Series(dtype=object if column in ("hpa", "vpa", "fix", "patch", "command") else float)
    if not len(out):
        return out[list(FAILURE_TABLE_COLUMNS)]
    key = ["namespace", "workload_kind", "workload"]
    hours = cf.step_s / 3600
    col_of = {(c.hpa, c.view): j for j, c in enumerate(cf.columns)}
    effect: dict[tuple[str, str, str], tuple[str, float, float, int, float, int]] = {}
    for h, ctx in enumerate(cf.contexts):
        beyond = short = lag = 0.0
        delayed = changed = 0
        if (h, View.WITH_FAILURES) in col_of:
            failing = cf.replicas[:, col_of[(h, View.WITH_FAILURES)]]
            never = cf.replicas[:, col_of[(h, View.AS_DEPLOYED)]]
            gap = failing - never
            beyond, short = float(np.maximum(gap, 0).sum() * hours), float(np.maximum(-gap, 0).sum() * hours)
            delayed, lag = scale_up_lag(never, failing, cf.step_s)
        if cf.decided_healthy is not None:
            d = cf.decided[:, h] - cf.decided_healthy[:, h]
            changed = int((d[np.isfinite(d)] != 0).sum())
        effect[ctx.workload] = (ctx.spec.name, beyond, short, delayed, lag, changed)
    covers = _vpa_coverage(vpa)
    wl = workloads.set_index(key)
    window_h = max(len(cf.times), 1) * hours
    rows = []
    for r in out.itertuples(index=False):
        k = (r.namespace, r.workload_kind, r.workload)
        hpa, beyond, short, delayed, lag, changed = effect.get(k, ("", 0.0, 0.0, 0, 0.0, 0))
        pods_mean = float(wl["pods_mean"].get(k, np.nan)) if k in wl.index else np.nan
        pod_cost = float(wl["pod_cost_month"].get(k, np.nan)) if k in wl.index else np.nan
        per_pod_hour = pod_cost / (HOURS_PER_MONTH * pods_mean) if pods_mean > 0 else np.nan
        lost = r.held_pod_hours + r.down_pod_hours + beyond
        sized_by = covers.get((*k, r.container), "")
        fix, patch, command = _fix(r, templates.get(k), sized_by)
        rows.append((pods_mean * window_h, hpa, sized_by, beyond, short, delayed, lag, changed,
                     lost / window_h * HOURS_PER_MONTH * per_pod_hour, fix, patch, command))  # fmt: skip
    effects = pd.DataFrame(rows, columns=list(EFFECT_COLUMNS), index=out.index)
    out[list(EFFECT_COLUMNS)] = effects
    return out[list(FAILURE_TABLE_COLUMNS)]


def scale_up_lag(never: npt.NDArray[np.int64], failing: npt.NDArray[np.int64], step_s: float) -> tuple[int, float]:
    """Of the scale-ups in ``never`` (replicas per scrape), how many ``failing`` reached later, and the mean of
    how much later (seconds; a count it never reached counts to the end of the window)."""
    ups = np.flatnonzero(np.diff(never) > 0) + 1
    lags = []
    for t in ups:  # one iteration per scale-up, not per scrape
        reached = np.flatnonzero(failing[t:] >= never[t])
        wait = int(reached[0]) if len(reached) else len(failing) - t
        if wait:
            lags.append(wait * step_s)
    return len(lags), float(np.mean(lags)) if lags else 0.0


def _vpa_coverage(vpa: pd.DataFrame | None) -> dict[tuple[str, str, str, str], str]:
    """Per (namespace, workload kind, workload, container) with a real VPA: whether it sizes the container,
    and the memory target the recommender gives it (OOM kills bump it: :mod:`analyzer.simulate.vpa_snapshot`)."""
    if vpa is None or not len(vpa):
        return {}
    out = {}
    for v in vpa[vpa["vpa"] != ""].itertuples(index=False):
        target = "none yet"
        if np.isfinite(v.memory_target_bytes):
            target = format_memory(np.ceil(v.memory_target_bytes / MIB) * MIB)
        if v.tracked and v.update_mode != "Off":
            state = f"{v.vpa}: sizes it ({v.update_mode}; memory target {target}, its OOM kills included)"
        elif v.tracked:
            state = (f"{v.vpa}: recommends for it (memory target {target}, its OOM kills included), applies "
                     "nothing (updateMode Off)")  # fmt: skip
        elif v.native_sidecar:
            state = f"{v.vpa}: does not size it (a native sidecar: no released VPA manages init containers)"
        else:
            state = f"{v.vpa}: does not size it (container policy mode {v.mode})"
        out[(v.namespace, v.workload_kind, v.workload, v.container)] = state
    return out


TIMELINE_COLUMNS: dict[str, str] = {
    **FAILURE_SERIES_COLUMNS,
    "replicas": "the workload's HPA's observed replicas, mean over the bin (NaN: no HPA)",
    "replicas_held": "replicas the replay with the missing metrics runs beyond the one without them, mean over "
    "the bin (negative: fewer)",
}
"""The failing sidecars over time, with their HPA (the report's timelines)."""


def failure_timelines(series: pd.DataFrame, cf: Counterfactual) -> pd.DataFrame:
    """``series`` (:data:`analyzer.model.sidecar_failures.FAILURE_SERIES_COLUMNS`) with the replicas of the
    workload's HPA and those its missing metrics held, per bin (:data:`TIMELINE_COLUMNS`)."""
    out = series.assign(replicas=np.nan, replicas_held=0.0)
    if not len(out) or not cf.contexts:
        return out[list(TIMELINE_COLUMNS)]
    bin_s = series_bin_s(len(cf.times) * cf.step_s)
    bins = ((cf.times - cf.times[0]).total_seconds().to_numpy() // bin_s).astype(np.int64)
    n_bins = int(bins.max()) + 1
    first = (out["timestamp"] - cf.times[0]).dt.total_seconds().to_numpy() // bin_s
    hpa_of = {ctx.workload: h for h, ctx in enumerate(cf.contexts)}
    col_of = {(c.hpa, c.view): j for j, c in enumerate(cf.columns)}
    for (ns, kind, name), rows in out.groupby(["namespace", "workload_kind", "workload"], sort=False).indices.items():
        h = hpa_of.get((ns, kind, name))
        if h is None:
            continue
        observed = cf.observed[:, h]
        ok = np.isfinite(observed)
        mean = np.bincount(bins[ok], weights=observed[ok], minlength=n_bins) / np.maximum(
            np.bincount(bins[ok], minlength=n_bins), 1)
        held = np.zeros(n_bins)
        if (h, View.WITH_FAILURES) in col_of:
            gap = cf.replicas[:, col_of[(h, View.WITH_FAILURES)]] - cf.replicas[:, col_of[(h, View.AS_DEPLOYED)]]
            held = np.bincount(bins, weights=gap, minlength=n_bins) / np.maximum(
                np.bincount(bins, minlength=n_bins), 1)
        at = np.clip(first[rows].astype(np.int64), 0, n_bins - 1)
        out.iloc[rows, out.columns.get_loc("replicas")] = mean[at]
        out.iloc[rows, out.columns.get_loc("replicas_held")] = held[at]
    return out[list(TIMELINE_COLUMNS)]


def oom_limit_bytes(peak: float, limit: float) -> float:
    """The memory limit the VPA's OOM rule gives a container killed at ``max(peak, limit)``, rounded up to a MiB."""
    used = max(peak, limit) if np.isfinite(limit) else peak
    return float(np.ceil(max(used * OOM_BUMP_UP_RATIO, used + OOM_MIN_BUMP_UP_BYTES) / MIB) * MIB)


def _fix(r: Any, workload: Workload | None, sized_by: str = "") -> tuple[str, str, str]:
    """The fix of a failing sidecar: text, and for an OOM-killed one the workload patch that raises its limit
    (``sized_by``: what the workload's VPA does with the sidecar)."""
    if r.oom_kills > 0 and np.isfinite(r.memory_peak_bytes):
        new = format_memory(oom_limit_bytes(r.memory_peak_bytes, r.memory_limit_bytes))
        was = format_memory(r.memory_limit_bytes) if np.isfinite(r.memory_limit_bytes) else "none"
        text = (f"raise {r.container}'s memory limit from {was} to {new} (its peak {format_memory(r.memory_peak_bytes)}"
                f" × {OOM_BUMP_UP_RATIO} or + 100Mi, the larger: the VPA's OOM rule)")  # fmt: skip
        if sized_by.endswith(")") and ": sizes it (" in sized_by:
            text += (f"; its VPA {sized_by.split(':', 1)[0]} sizes it and bumps its memory estimate after each kill "
                     "by the same rule, scaling the limit with the request: the kills stop once it applies one")
        elif sized_by:
            text += f"; its VPA {sized_by}"
        if workload is None or workload.template_raw is None:
            return text + "; the snapshot has no template to patch", "", ""
        if workload.kind == "Job":
            return f"{text}; {JOB_IMMUTABLE}", "", ""
        ops, notes = sidecar_limit_ops(workload.template_raw, r.container, {"memory": new}, r.kind, bool(r.injected),
                                       bool(r.native_sidecar), template_at(workload.kind))  # fmt: skip
        if notes:
            text += "; " + "; ".join(notes)
        if not ops:
            return text, "", ""
        return text, patch_text(ops), apply_command(r.namespace, str(r.workload_kind), str(r.workload))
    if r.restarts - r.oom_kills > 0:
        return (f"find why {r.container} exits (kubectl logs -n {r.namespace} POD -c {r.container} --previous); "
                "until it is fixed its pods serve nothing while it is down, and the HPA holds scale-downs the "
                "scrape it comes back", "", "")  # fmt: skip
    if r.pods_held > 0 and r.ready_delay_p95_s >= SLOW_START_MIN_P95_S:
        return (f"{r.container} turns ready up to {r.ready_delay_p95_s:.0f} s after the app (95th percentile): find "
                "what it waits for at start (its readiness probe's delay and period, its configuration push); a "
                "native sidecar with a startupProbe only moves the wait before the app starts", "", "")  # fmt: skip
    return "", "", ""


def failure_rows(failures: pd.DataFrame) -> list[tuple[Any, ...]]:
    """The failure findings (:data:`analyzer.findings.summary.FINDING_COLUMNS` order)."""
    rows: list[tuple[Any, ...]] = []
    for r in failures.itertuples(index=False):
        resource = RESOURCE_NAMES.get(str(r.workload_kind), str(r.workload_kind).lower())
        where, obj = r.namespace, f"{resource}/{r.workload}"
        cost = r.cost_month if np.isfinite(r.cost_month) and r.cost_month > 0 else np.nan
        share = r.down_pod_hours / r.pod_hours if r.pod_hours > 0 else 0.0
        if r.oom_kills > 0:
            per_day = r.restarts_per_pod_day * r.oom_kills / max(r.restarts, 1)
            sev = Severity.HIGH if per_day >= 1 else Severity.MEDIUM
            rows.append((sev, "sidecar-oom", where, obj,
                         f"{r.container} was OOM-killed {r.oom_kills:.0f} times ({per_day:.1f} per pod-day) at its "
                         f"memory limit, down {r.down_pod_hours:.1f} pod-hours; its pods lost their metric "
                         f"{r.missing_metric_scrapes} scrapes (rule: medium from one kill, high from one per "
                         "pod-day)", cost, r.fix))  # fmt: skip
        errors = r.restarts - r.oom_kills
        if errors > 0 and r.restarts_per_pod_day * errors / max(r.restarts, 1) >= CRASH_LOW_PER_POD_DAY:
            per_day = r.restarts_per_pod_day * errors / max(r.restarts, 1)
            high = per_day >= CRASH_HIGH_PER_POD_DAY or share >= DOWN_HIGH_SHARE
            medium = per_day >= CRASH_MEDIUM_PER_POD_DAY or share >= DOWN_MEDIUM_SHARE or r.replica_hours_beyond >= 1
            sev = Severity.HIGH if high else Severity.MEDIUM if medium else Severity.LOW
            rows.append((sev, "sidecar-crash-loop", where, obj,
                         f"{r.container} restarted {errors:.0f} times ({per_day:.1f} per pod-day): its pods were "
                         f"NotReady {r.down_pod_hours:.1f} pod-hours ({share:.1%} of their time) while the HPA "
                         f"counted them, and lost their metric {r.missing_metric_scrapes} scrapes, which held the "
                         f"HPA {r.replica_hours_beyond:.1f} replica-hours beyond its replay without them, a "
                         f"lower bound ({r.decisions_changed} decisions changed, {r.scale_ups_delayed:.0f} "
                         f"scale-ups later; rule: low from {CRASH_LOW_PER_POD_DAY:g} "
                         f"restart per pod-day, medium from {CRASH_MEDIUM_PER_POD_DAY:g} or {DOWN_MEDIUM_SHARE:.0%} "
                         f"of the time down or a replica-hour held, high from {CRASH_HIGH_PER_POD_DAY:g} or "
                         f"{DOWN_HIGH_SHARE:.0%})", cost, r.fix))  # fmt: skip
        if r.pods_held > 0 and r.ready_delay_p95_s >= SLOW_START_MIN_P95_S:
            sev = Severity.MEDIUM if r.ready_delay_p95_s >= SLOW_START_MEDIUM_P95_S else Severity.LOW
            rows.append((sev, "sidecar-slow-start", where, obj,
                         f"{r.container} turned ready after the app in {r.pods_held:.0f} of {r.pods_started:.0f} "
                         f"new pods ({r.ready_delay_p50_s:.0f} s later at the median, {r.ready_delay_p95_s:.0f} s at "
                         "the 95th percentile, read at the snapshot's step), holding them unready: "
                         f"{r.held_pod_hours:.2f} pod-hours that served nothing. The HPA's counts do not move (an "
                         "unready pod's share of the load is on the ready ones it averages over); each scale-up's "
                         "new capacity arrives that much later (rule: low "
                         f"from a 95th percentile of {SLOW_START_MIN_P95_S:.0f} s, medium from "
                         f"{SLOW_START_MEDIUM_P95_S:.0f} s)", cost, r.fix))  # fmt: skip
    return rows
