"""The HPA counterfactuals: each HPA replayed as deployed, app-only, and with each remedy applied.

Inputs are the sidecar model's tables (containers, overhead fits) and the workloads' app demand;
every (HPA, view) becomes one column of :func:`analyzer.simulate.hpa_replay.replay` (packed here), so
all views of all HPAs run in one replay. The views are :mod:`analyzer.simulate.views`':

- ``as-deployed``: the HPA's own metrics (Resource counts every container, sidecars included);
- ``app-only``: every metric on the app container alone (ContainerResource), same targets. This is
  also remedy (a), switching to ContainerResource: under the model the two are the same replay;
- ``retarget``: Resource Utilization re-targeted so the pod reaches it exactly when the app reaches
  the original target (at the typical load, ``a*``);
- ``sidecar-requests``: every sidecar's request set to its measured p90 (adds missing requests);
- ``average-value``: Resource AverageValue targets raised by the sidecars' usage at ``a*``;
- ``vpa-requests`` (not a remedy): requests as the workload's VPA would set them, where it has one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt
import pandas as pd

from analyzer.model.usage_index import WORKLOAD_KEY, UsageIndex
from analyzer.runtime.cpus import available_cpus
from analyzer.simulate.hpa_conditions import N_REASONS
from analyzer.simulate.hpa_replay import ReplayColumns, ReplayResult, replay
from analyzer.simulate.hpa_spec import ControllerFlags, HPAObject
from analyzer.simulate.kube_version import KubeVersion
from analyzer.simulate.observed_sync import ObservedSyncs, observed_syncs
from analyzer.simulate.pod_requests import containers_request, pod_request
from analyzer.simulate.views import VIEWS, HPAContext, View, ViewColumn, hpa_contexts, view_columns
from analyzer.snapshot.schema import Snapshot

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Counterfactual:
    """Replays per scrape: ``replicas``/``value``/``failed`` are (scrapes, columns); ``observed`` (scrapes, HPAs).

    ``condition_syncs`` (reasons × columns) and ``last_conditions`` (3 × columns): the controller's status
    conditions over the replay (:class:`analyzer.simulate.hpa_replay.ReplayResult`). ``decided``
    (scrapes, HPAs): the controller's decision at each scrape from the observed pods and replicas
    (:mod:`analyzer.simulate.observed_sync`; NaN where there is none).
    """

    contexts: list[HPAContext]
    columns: list[ViewColumn]
    times: pd.DatetimeIndex
    step_s: float
    replicas: IntArray
    value: IntArray
    failed: npt.NDArray[np.bool_]
    observed: FloatArray
    skipped: pd.DataFrame
    condition_syncs: IntArray
    last_conditions: npt.NDArray[np.int8]
    decided: FloatArray
    decided_healthy: FloatArray | None = None
    """(scrapes, HPAs): the decisions on the observed pods had their sidecars never gone missing from the
    metrics (NaN for HPAs whose sidecars never did); None: not assessed."""


def pack_columns(cols: list[ViewColumn], contexts: list[HPAContext], version: KubeVersion) -> ReplayColumns:
    width = max(len(c.metrics) for c in cols)
    shape = (width, len(cols))
    active = np.zeros(shape, dtype=bool)
    is_cpu = np.ones(shape, dtype=bool)
    is_util = np.ones(shape, dtype=bool)
    target = np.ones(shape, dtype=np.int64)
    request = np.zeros(shape, dtype=np.int64)
    missing = np.zeros(shape, dtype=bool)
    base = np.zeros(shape)
    slope = np.zeros(shape)
    for j, col in enumerate(cols):
        ctx = contexts[col.hpa]
        for m, (metric, counted) in enumerate(zip(col.metrics, col.counted, strict=True)):
            active[m, j] = True
            is_cpu[m, j] = metric.resource == "cpu"
            is_util[m, j] = metric.is_utilization
            target[m, j] = metric.target
            if metric.container is None:
                req = pod_request(col.pod_spec, ctx.pod_name, metric.resource, version)
            else:  # ContainerResource; app-only with several app containers sums theirs
                req = containers_request(col.pod_spec, ctx.pod_name, metric.resource, version, counted)
            request[m, j], missing[m, j] = req.milli, req.error is not None
            for c in counted:
                b, s = ctx.lines[c].at(metric.resource) if c in ctx.lines else (0.0, 0.0)
                base[m, j] += b
                slope[m, j] += s
    return ReplayColumns(
        configs=[contexts[c.hpa].spec.scaling for c in cols],
        tol_up=np.array([contexts[c.hpa].spec.tol_up for c in cols]),
        tol_down=np.array([contexts[c.hpa].spec.tol_down for c in cols]),
        active=active,
        is_cpu=is_cpu,
        is_util=is_util,
        target=target,
        request_m=request,
        missing_request=missing,
        base_m=base,
        slope_m=slope,
    )


@dataclass(frozen=True)
class PendingReplay:
    """A snapshot's HPAs ready to replay: everything :class:`Counterfactual` holds but the replay's
    results, and the packed columns (:meth:`replay`, then :meth:`finish`)."""

    contexts: list[HPAContext]
    columns: list[ViewColumn]
    packed: ReplayColumns | None
    times: pd.DatetimeIndex
    step_s: float
    demand: FloatArray
    """(scrapes, columns): each column's HPA's demand, app cores."""
    initial: IntArray
    observed: FloatArray
    skipped: pd.DataFrame
    syncs: ObservedSyncs
    """The decisions on the observed pods, left to decide with the replay."""
    healthy: tuple[ObservedSyncs, IntArray] | None = None
    """The same for the HPAs (their positions) whose sidecars went missing, as if they never had."""
    missing_share: FloatArray | None = None
    """(scrapes, columns): the share of a column's pods metrics-server left out of each scrape because a
    sidecar came back from a restart (the ``with-failures`` columns; None: no such column)."""

    def decide_healthy(self, flags: ControllerFlags) -> FloatArray | None:
        """:attr:`healthy` decided, as (scrapes, HPAs) with NaN for the HPAs it does not hold."""
        if self.healthy is None:
            return None
        syncs, which = self.healthy
        out = np.full((len(self.times), len(self.contexts)), np.nan)
        out[:, which] = syncs.decide(flags)
        return out

    def replay(self, version: KubeVersion, flags: ControllerFlags, workers: int | None = None) -> Replayed:
        """Replay the columns and decide on the observed pods; ``workers``: default the CPUs available."""
        n_t = len(self.times)
        if self.packed is None:
            empty = np.zeros((n_t, 0), dtype=np.int64)
            result = ReplayResult(empty, empty, empty.astype(bool), np.zeros((N_REASONS, 0), dtype=np.int64),
                                  np.zeros((3, 0), dtype=np.int8))  # fmt: skip
            return Replayed(result, np.zeros((n_t, 0)))
        decided = self.syncs.decide(flags)
        result = replay(self.packed, self.demand, self.initial, self.step_s, flags,
                        version.missing_pod_fallback_is_max_target, workers=workers or available_cpus(),
                        missing_share=self.missing_share)  # fmt: skip
        return Replayed(result, decided, self.decide_healthy(flags))

    def finish(self, done: Replayed) -> Counterfactual:
        """The counterfactual, given the replay of this snapshot's columns and the decisions on its pods."""
        r = done.result
        return Counterfactual(
            self.contexts, self.columns, self.times, self.step_s, r.replicas, r.value, r.failed, self.observed,
            self.skipped, r.condition_syncs, r.last_conditions, done.decided, done.decided_healthy,
        )  # fmt: skip


def prepare_counterfactual(
    snapshot: Snapshot,
    classes: pd.DataFrame,
    containers: pd.DataFrame,
    overhead: pd.DataFrame,
    index: UsageIndex,
    version: KubeVersion,
    flags: ControllerFlags,
    hpas: Sequence[HPAObject],
    views: tuple[str, ...] = VIEWS,
    vpa_requests: Callable[[tuple[str, str, str]], dict[str, dict[str, str]]] | None = None,
    missing_sidecars: npt.NDArray[np.bool_] | None = None,
) -> PendingReplay:
    """Everything of a counterfactual that reads the snapshot: the HPAs' contexts, their demand, the observed
    replicas and the controller's decisions on the observed pods; the replay itself is left
    (:meth:`PendingReplay.replay`). ``missing_sidecars`` (per usage group of ``index``): the sidecars that
    went missing from the metrics; the HPAs of their workloads are also decided as if they never had."""
    contexts, skipped = hpa_contexts(snapshot, classes, containers, overhead, hpas, vpa_requests)
    meta = snapshot.metadata
    step = meta.step_s
    times = pd.date_range(meta.start, meta.end, freq=pd.Timedelta(seconds=step))
    n_t = len(times)
    if not contexts:
        return PendingReplay(
            contexts, [], None, times, step, np.zeros((n_t, 0)), np.zeros(0, dtype=np.int64), np.zeros((n_t, 0)),
            skipped, ObservedSyncs.empty(n_t, step),
        )  # fmt: skip

    total, _ = index.demand(snapshot.usage)
    grid = np.rint((index.times - times[0]).total_seconds().to_numpy() / step).astype(np.int64)
    inside = (grid >= 0) & (grid < n_t)
    wid = index.workloads.reset_index().set_index(WORKLOAD_KEY)["index"]
    demand_w = np.full((n_t, len(contexts)), np.nan)
    for h, ctx in enumerate(contexts):
        series = total[int(wid.loc[ctx.workload])]
        demand_w[grid[inside], h] = series[inside]
    observed = _observed(snapshot, contexts, times)
    initial_h = np.array(
        [
            int(np.clip(observed[0, h] if np.isfinite(observed[0, h]) else ctx.spec.scaling.min_replicas,
                        ctx.spec.scaling.min_replicas, ctx.spec.scaling.max_replicas))
            for h, ctx in enumerate(contexts)
        ],
        dtype=np.int64,
    )  # fmt: skip
    cols = [c for h, ctx in enumerate(contexts) for c in view_columns(ctx, h, version) if c.view in views]
    hpa_of = np.array([c.hpa for c in cols], dtype=np.int64)
    deployed = {c.hpa: c.counted for c in cols if c.view == View.AS_DEPLOYED}
    counted = [deployed[h] for h in range(len(contexts))]
    syncs = observed_syncs(snapshot, index, contexts, counted, times, observed, version, flags)
    healthy, share = None, None
    if missing_sidecars is not None and missing_sidecars.any():
        hit = set(index.groups.loc[missing_sidecars, WORKLOAD_KEY].itertuples(index=False, name=None))
        which = np.array([h for h, ctx in enumerate(contexts) if ctx.workload in hit], dtype=np.int64)
        if len(which):
            fine = observed_syncs(snapshot, index, [contexts[h] for h in which], [counted[h] for h in which],
                                  times, observed[:, which], version, flags, missing_sidecars)  # fmt: skip
            healthy = (fine, which)
            cols, hpa_of, share = _with_failures(cols, hpa_of, syncs, fine, which)
    return PendingReplay(
        contexts, cols, pack_columns(cols, contexts, version), times, step, demand_w[:, hpa_of], initial_h[hpa_of],
        observed, skipped, syncs, healthy, share,
    )  # fmt: skip


def _with_failures(
    cols: list[ViewColumn], hpa_of: IntArray, syncs: ObservedSyncs, healthy: ObservedSyncs, which: IntArray
) -> tuple[list[ViewColumn], IntArray, FloatArray | None]:
    """The as-deployed columns of the HPAs ``which`` again as :attr:`View.WITH_FAILURES`, and each column's
    share of pods missing per scrape: the pods missing as observed beyond those missing had the sidecars
    never gone missing (``healthy``), over the pods that then had a metric."""
    extra = np.maximum(syncs.missing[which] - healthy.missing, 0)
    keep = extra.any(axis=1)
    if not keep.any():
        return cols, hpa_of, None
    with_metric = np.maximum(healthy.pods - healthy.missing, 1)
    deployed = {c.hpa: c for c in cols if c.view == View.AS_DEPLOYED}
    added = [replace(deployed[int(h)], view=View.WITH_FAILURES) for h in which[keep]]
    share = np.zeros((syncs.observed.shape[0], len(cols) + len(added)))
    share[:, len(cols) :] = (extra[keep] / with_metric[keep]).T
    return [*cols, *added], np.concatenate([hpa_of, which[keep]]), share


@dataclass(frozen=True)
class Replayed:
    """A replay's results (:class:`ReplayResult`, per column) and the decisions on the observed pods
    (``decided``, scrapes × HPAs: :meth:`ObservedSyncs.decide`)."""

    result: ReplayResult
    decided: FloatArray
    decided_healthy: FloatArray | None = None


def _observed(snapshot: Snapshot, contexts: list[HPAContext], times: pd.DatetimeIndex) -> FloatArray:
    """Observed replicas per grid time and HPA (NaN where the snapshot has none)."""
    out = np.full((len(times), len(contexts)), np.nan)
    reps = snapshot.replicas
    if reps.empty:
        return out
    grid = np.rint((reps["timestamp"] - times[0]).dt.total_seconds().to_numpy() / snapshot.metadata.step_s)
    grid = grid.astype(np.int64)
    rows_of = reps.groupby(["namespace", "kind", "name"], sort=False, observed=True).indices
    values = reps["replicas"].to_numpy()
    for h, ctx in enumerate(contexts):
        rows = rows_of.get(ctx.workload)
        if rows is None:
            continue
        g = grid[rows]
        ok = (g >= 0) & (g < len(times))
        out[g[ok], h] = values[rows][ok]
    return out
