"""The controller's decision at each scrape, evaluated on the pods that were observed then.

The as-deployed replay runs the controller on modelled pods. This evaluates it on the snapshot's own
pods instead: at each scrape ``t``, every pod of the HPA's target that existed then is grouped as
``groupPods`` does (:mod:`analyzer.simulate.observed_pods`: phase and readiness from the snapshot's
``pod_status`` table, start and Ready transition times from the Pod objects, the metric from the
usage samples), the replica calculator proposes a count from the observed replicas, and the
normalization (stabilization, limits) decides. Comparing that decision with the replicas observed at
``t + step`` checks the controller model on real pods, independently of the usage model.

Without ``pod_status`` (snapshots from metrics-server, or from before it existed) a pod is taken as
Running and Ready whenever it has samples; the grouping then only separates pods with and without a
metric.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from analyzer.frames import ranges
from analyzer.model.usage_index import WORKLOAD_KEY, UsageIndex
from analyzer.simulate import hpa_controller
from analyzer.simulate.hpa_spec import ControllerFlags
from analyzer.simulate.kube_version import KubeVersion
from analyzer.simulate.observed_pods import PodRows, group_pods
from analyzer.simulate.pod_requests import containers_request, pod_request
from analyzer.snapshot.hpa import ScalingConfig
from analyzer.snapshot.kube import Pod
from analyzer.snapshot.schema import POD_PHASES, Snapshot
from analyzer.units import milli

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class ObservedSyncs:
    """What the decisions on the observed pods need once the snapshot is gone, so that the normalization
    (a loop over scrapes) runs with the replay (``counterfactual.PendingReplay.replay``): per HPA its
    scaling, and per scrape × HPA the observed replicas (``observed``, NaN: none) and, per HPA × scrape,
    the calculator's proposal from the observed pods (``proposal``, -1: none) and whether it had pods; and
    for the first metric, its pods not ignored (``pods``) and those of them it had no metric of
    (``missing``)."""

    configs: tuple[ScalingConfig, ...]
    observed: FloatArray
    proposal: IntArray
    has_pods: npt.NDArray[np.bool_]
    step_s: float
    pods: IntArray
    missing: IntArray

    @property
    def n(self) -> int:
        return len(self.configs)

    def decide(self, flags: ControllerFlags) -> FloatArray:
        """Per scrape and HPA: the replicas the controller decides (NaN where nothing was observed or the
        target had no pods), by :func:`analyzer.simulate.hpa_controller.decide`."""
        if not self.has_pods.any():
            return np.full(self.observed.shape, np.nan)
        return hpa_controller.decide(self.configs, self.observed, self.proposal, self.has_pods, self.step_s, flags)

    @classmethod
    def empty(cls, n_t: int, step_s: float) -> ObservedSyncs:
        """No HPA, on a grid of ``n_t`` scrapes."""
        none = np.zeros((0, n_t), dtype=np.int64)
        return cls((), np.zeros((n_t, 0)), none, none.astype(bool), step_s, none, none)


def observed_syncs(
    snapshot: Snapshot,
    index: UsageIndex,
    contexts: Sequence[Any],
    counted: Sequence[tuple[tuple[str, ...], ...]],
    times: pd.DatetimeIndex,
    observed: FloatArray,
    version: KubeVersion,
    flags: ControllerFlags,
    ignored: npt.NDArray[np.bool_] | None = None,
) -> ObservedSyncs:
    """The proposals from the observed pods of ``contexts`` (:class:`analyzer.simulate.views.HPAContext`)
    per scrape of ``times``, from the observed replicas ``observed`` (scrapes × HPAs); ``counted`` gives, per
    context, the containers each replayed metric counts as deployed. :meth:`ObservedSyncs.decide` then gives
    the replicas the controller decides at each scrape (NaN where there are none, or no pods). ``ignored``
    (per usage group) leaves those containers out of whether metrics-server lists a pod: the pods as if
    those containers had never gone missing."""
    n_t, n_h = len(times), len(contexts)
    proposal = np.full((n_h, n_t), -1, dtype=np.int64)
    has_pods = np.zeros((n_h, n_t), dtype=bool)
    pods = np.zeros((n_h, n_t), dtype=np.int64)
    missing = np.zeros((n_h, n_t), dtype=np.int64)
    step = snapshot.metadata.step_s
    configs = tuple(c.spec.scaling for c in contexts)
    if not n_h or not len(index.group):
        return ObservedSyncs(configs, observed, proposal, has_pods, step, pods, missing)
    have_obs = np.isfinite(observed)
    current = np.where(have_obs, observed, 0).astype(np.int64)
    seen = _observed(snapshot, index, times[0], step, n_t)
    for batch in _batches(index, contexts, n_t):
        found = _proposals(snapshot, index, seen, [contexts[h] for h in batch], [counted[h] for h in batch],
                           times, current[:, batch].T, version, flags, ignored)  # fmt: skip
        if found is not None:
            proposal[batch], has_pods[batch], pods[batch], missing[batch] = found
    return ObservedSyncs(configs, observed, proposal, has_pods, step, pods, missing)


BATCH_CELLS = 2_000_000
"""(pod, scrape) cells evaluated at once: HPAs go in batches so memory follows the batch, not the cluster."""


def _batches(index: UsageIndex, contexts: Sequence[Any], n_t: int) -> list[IntArray]:
    """Contexts in batches of at most :data:`BATCH_CELLS` cells (pods of their targets × scrapes); an HPA
    whose pods alone exceed it is a batch of its own."""
    pods = index.groups.drop_duplicates(["namespace", "pod"]).groupby(WORKLOAD_KEY, observed=True).size()
    sizes = np.array([int(pods.get(c.workload, 0)) * n_t for c in contexts])
    batches, current, total = [], [], 0
    for h, size in enumerate(sizes):
        if current and total + size > BATCH_CELLS:
            batches.append(np.array(current))
            current, total = [], 0
        current.append(h)
        total += size
    if current:
        batches.append(np.array(current))
    return batches


def _proposals(
    snapshot: Snapshot,
    index: UsageIndex,
    seen: _Observed,
    contexts: Sequence[Any],
    counted: Sequence[tuple[tuple[str, ...], ...]],
    times: pd.DatetimeIndex,
    current_ht: IntArray,
    version: KubeVersion,
    flags: ControllerFlags,
    ignored: npt.NDArray[np.bool_] | None = None,
) -> tuple[IntArray, npt.NDArray[np.bool_], IntArray, IntArray] | None:
    """For one batch of HPAs: the combined metric proposal per (HPA, scrape) (-1: none) from the pods
    observed then, whether there were any, and the first metric's pods not ignored and missing;
    ``current_ht`` is the observed replicas (HPA, scrape)."""
    n_t, n_h = len(times), len(contexts)
    step = snapshot.metadata.step_s
    t0 = times[0]
    cells = _pod_cells(seen, index, contexts, t0, step, n_t)
    if cells is None:
        return None
    batch = cells.batch_rows(index, seen.rows)
    listed = cells.listed(index, batch, ignored)
    width = max(len(c.spec.metrics) for c in contexts)
    props = np.full((width, n_h * n_t), -1, dtype=np.int64)
    errs = np.zeros((width, n_h * n_t), dtype=np.int64)
    active = np.zeros((width, n_h * n_t), dtype=bool)
    current = current_ht.reshape(-1)  # (h, t) flattened
    n_pods = np.zeros(n_h * n_t, dtype=np.int64)
    n_missing = np.zeros(n_h * n_t, dtype=np.int64)
    usage = snapshot.usage
    cpu = usage["cpu_cores"].to_numpy(dtype=np.float64)
    mem = usage["memory_bytes"].to_numpy(dtype=np.float64)
    group_container = index.groups["container"].astype(str).to_numpy().astype(str)
    group_h = cells.group_hpa
    key = cells.hpa * n_t + cells.time
    spec_of = np.repeat(np.arange(n_h), n_t)
    tol_down = np.array([c.spec.tol_down for c in contexts])[spec_of]
    tol_up = np.array([c.spec.tol_up for c in contexts])[spec_of]
    for m in range(width):
        has_m = np.array([m < len(c.spec.metrics) for c in contexts])
        if not has_m.any():
            continue
        # Which usage groups (pod, container) this metric counts, and in which resource.
        wanted = [f"{h}/{c}" for h in range(n_h) if has_m[h] for c in counted[h][m]]  # no "/" in a container name
        counts = (group_h >= 0) & np.isin(np.char.add(group_h.astype(str), np.char.add("/", group_container)), wanted)
        is_cpu = np.array([has_m[h] and contexts[h].spec.metrics[m].resource == "cpu" for h in range(n_h)])
        value_m, sampled = cells.accumulate(batch, counts, is_cpu[np.maximum(group_h, 0)], cpu, mem)
        present = listed & sampled
        for resource_is_cpu in (True, False):
            chosen = np.nonzero(has_m & (is_cpu == resource_is_cpu))[0]
            if not len(chosen):
                continue
            g = group_pods(cells.pod_rows(present), resource_is_cpu, flags)
            request = np.zeros(n_h, dtype=np.int64)
            missing_request = np.zeros(n_h, dtype=bool)
            target = np.ones(n_h, dtype=np.int64)
            is_util = np.ones(n_h, dtype=bool)
            for h in chosen:
                ctx, metric = contexts[h], contexts[h].spec.metrics[m]
                if metric.container is None:
                    req = pod_request(ctx.pod_spec, ctx.pod_name, metric.resource, version)
                else:
                    req = containers_request(ctx.pod_spec, ctx.pod_name, metric.resource, version, counted[h][m])
                request[h], missing_request[h] = req.milli, req.error is not None
                target[h], is_util[h] = metric.target, metric.is_utilization
            size = n_h * n_t
            replicas, _, error = hpa_controller.metric_replicas(
                _sum_by(key, size, np.ones(cells.n, dtype=bool)), _sum_by(key, size, g.ready),
                _sum_by(key, size, g.unready), _sum_by(key, size, g.missing), _sum_by(key, size, present),
                _sum_by(key, size, g.ready, value_m), np.repeat(request, n_t), target[spec_of], is_util[spec_of],
                missing_request[spec_of], tol_down, tol_up, current, version.missing_pod_fallback_is_max_target,
            )  # fmt: skip
            take = np.isin(spec_of, chosen)
            props[m, take], errs[m, take], active[m, take] = replicas[take], error[take], True
            if m == 0:
                n_pods[take] = _sum_by(key, size, ~g.ignored)[take]
                n_missing[take] = _sum_by(key, size, g.missing)[take]
    proposal, _ = hpa_controller.combine_metrics(props, errs, current, active)
    has_pods = np.bincount(key[:-1], minlength=n_h * n_t) > 0
    return (proposal.reshape(n_h, n_t), has_pods.reshape(n_h, n_t), n_pods.reshape(n_h, n_t),
            n_missing.reshape(n_h, n_t))  # fmt: skip


def _sum_by(key: IntArray, size: int, mask: npt.NDArray[np.bool_], weights: IntArray | None = None) -> IntArray:
    """Per (HPA, scrape) key: how many cells ``mask`` selects, or the sum of their ``weights``."""
    chosen = None if weights is None else weights[mask]
    return np.bincount(key[mask], weights=chosen, minlength=size).astype(np.int64)


@dataclass(frozen=True)
class _Cells:
    """The (pod, scrape) cells of the HPAs' target pods: one per pod per scrape it existed at, and a spare
    last slot where samples outside every cell land."""

    n: int
    key: IntArray
    """pod code × scrapes + scrape: consecutive scrapes of one pod are consecutive keys."""
    hpa: IntArray
    time: IntArray
    group_code: IntArray
    """Each usage group's pod code."""
    grid: IntArray
    """Each distinct sample time's scrape index."""
    n_t: int
    group_hpa: IntArray
    now_s: FloatArray
    phase: npt.NDArray[np.int8]
    ready: npt.NDArray[np.bool_]
    ready_since_s: FloatArray
    start_s: FloatArray
    deleting: npt.NDArray[np.bool_]
    has_condition: npt.NDArray[np.bool_]
    window_s: float

    def batch_rows(self, index: UsageIndex, rows: _RowsByGroup) -> _BatchRows:
        """The usage rows of the batch's pods (each group's in time order) and each one's cell, gathered once
        for every metric and for whether metrics-server lists a pod."""
        take = rows.of_groups(np.flatnonzero(self.group_hpa >= 0))
        if not len(take) or self.n < 2:  # no rows, or no cell to put them in
            none = np.zeros(0, dtype=np.int64)
            return _BatchRows(none, none, none)
        group = index.group[take]
        real = self.key[:-1]
        key = self.group_code[group] * self.n_t + self.grid[index.time[take]]
        position = np.minimum(np.searchsorted(real, key), len(real) - 1)
        cell = np.where(real[position] == key, position, self.n - 1)  # outside any cell: the spare slot
        return _BatchRows(take, group, cell)

    def accumulate(
        self,
        batch: _BatchRows,
        counts: npt.NDArray[np.bool_],
        group_is_cpu: npt.NDArray[np.bool_],
        cpu: FloatArray,
        mem: FloatArray,
    ) -> tuple[IntArray, BoolArray]:
        """Per cell: the metric (the counted containers' ``MilliValue()``s summed, as the metrics client
        sums them) and whether a counted container has a sample; reads the batch's rows of the groups
        ``counts`` selects."""
        value_m = np.zeros(self.n, dtype=np.int64)
        sampled = np.zeros(self.n, dtype=bool)
        mine = counts[batch.group] if len(batch.take) else np.zeros(0, dtype=bool)
        if mine.any():
            take, g, cell = batch.take[mine], batch.group[mine], batch.cell[mine]
            row_is_cpu = group_is_cpu[g]
            if row_is_cpu.all() or not row_is_cpu.any():  # one resource: gather only its column
                values = milli((cpu if row_is_cpu.all() else mem)[take])
            else:
                values = milli(np.where(row_is_cpu, cpu[take], mem[take]))
            value_m += np.bincount(cell, weights=values, minlength=self.n).astype(np.int64)
            sampled[cell] = True
        sampled[-1] = False
        return value_m, sampled

    def listed(self, index: UsageIndex, batch: _BatchRows, ignored: npt.NDArray[np.bool_] | None = None) -> BoolArray:
        """Per cell: whether metrics-server lists the pod then: every container it has a sample of now was
        also sampled a scrape before (CPU is a rate of two scrapes), so a pod whose container (re)appears,
        a restarted sidecar, is left out for a scrape. Groups ``ignored`` marks do not count (the
        counterfactual of sidecars that never fail)."""
        listed = np.zeros(self.n, dtype=bool)
        if not len(batch.take):
            return listed
        keep = slice(None) if ignored is None else ~ignored[batch.group]
        g, t, cell = batch.group[keep], self.grid[index.time[batch.take[keep]]], batch.cell[keep]
        had_before = np.concatenate([[False], (g[1:] == g[:-1]) & (t[1:] == t[:-1] + 1)])
        now = np.bincount(cell, minlength=self.n)
        before = np.bincount(cell, weights=had_before, minlength=self.n)
        listed = (now > 0) & (now == before)
        listed[-1] = False
        return listed

    def pod_rows(self, present: npt.NDArray[np.bool_]) -> PodRows:
        return PodRows(
            now_s=self.now_s,
            deleting=self.deleting,
            failed=self.phase == POD_PHASES.index("Failed"),
            pending=self.phase == POD_PHASES.index("Pending"),
            has_ready_condition=self.has_condition,
            ready=self.ready,
            ready_since_s=self.ready_since_s,
            start_s=self.start_s,
            has_metric=present,
            metric_s=self.now_s,
            window_s=self.window_s,
        )


@dataclass(frozen=True)
class _BatchRows:
    """A batch's usage rows (``take``, indices into the usage), their groups and their cells."""

    take: IntArray
    group: IntArray
    cell: IntArray


@dataclass(frozen=True)
class _Observed:
    """What every batch reads, built once: a code per pod (``names``), each usage group's pod code, each
    distinct sample time's scrape, and the (pod, scrape) observations (from ``pod_status``, else the
    cells with samples: Running and Ready), sorted by pod then scrape."""

    names: npt.NDArray[np.object_]
    group_code: IntArray
    grid: IntArray
    code: IntArray
    time: IntArray
    phase: npt.NDArray[np.int8]
    """Index into :data:`analyzer.snapshot.schema.POD_PHASES`."""
    ready: npt.NDArray[np.bool_]
    objects: dict[str, Pod]
    """The Pod objects by ``namespace/name``."""
    rows: _RowsByGroup


@dataclass(frozen=True)
class _RowsByGroup:
    """The usage rows sorted by group, so that each batch of HPAs reads only its own pods' rows instead of
    passing over the whole snapshot's."""

    order: IntArray
    start: IntArray
    """Where each group's rows begin in ``order`` (one more entry than groups)."""

    @classmethod
    def of(cls, index: UsageIndex) -> _RowsByGroup:
        counts = np.bincount(index.group, minlength=len(index.groups))
        dtype = np.int32 if len(index.group) < 2**31 else np.int64
        # 16-bit keys when the groups fit: numpy's stable sort of them is a radix sort, a third of the time.
        keys = index.group.astype(np.uint16) if len(index.groups) <= 2**16 else index.group
        order = np.argsort(keys, kind="stable").astype(dtype)
        return cls(order, np.concatenate([[0], np.cumsum(counts)]))

    def of_groups(self, groups: IntArray) -> IntArray:
        """The rows of ``groups``, each group's in time order."""
        return self.order[ranges(self.start[groups], self.start[groups + 1])]


def _pod_keys(frame: pd.DataFrame) -> tuple[npt.NDArray[np.str_], IntArray]:
    """The distinct ``namespace/pod`` of ``frame`` (categorical columns) and each row's index into them:
    strings built once per pod, not once per row (pod_status has a row per pod and scrape)."""
    if not len(frame):
        return np.array([], dtype=object), np.zeros(0, dtype=np.int64)
    ns, pod = (
        (c if isinstance(c.dtype, pd.CategoricalDtype) else c.astype("category")).cat
        for c in (frame["namespace"], frame["pod"])
    )
    n_pods = len(pod.categories)
    pair = ns.codes.to_numpy().astype(np.int64) * n_pods + pod.codes.to_numpy().astype(np.int64)
    unique, row = np.unique(pair, return_inverse=True)
    names = (
        np.asarray(ns.categories, dtype=object)[unique // n_pods]
        + "/"
        + np.asarray(pod.categories, dtype=object)[unique % n_pods]
    )
    return names, row.astype(np.int64)


def _observed(snapshot: Snapshot, index: UsageIndex, t0: pd.Timestamp, step: float, n_t: int) -> _Observed:
    groups = index.groups
    group_key = (groups["namespace"].astype(str) + "/" + groups["pod"].astype(str)).to_numpy()
    status = snapshot.pod_status
    status_pods, status_of_row = _pod_keys(status)
    pods = pd.Categorical(np.concatenate([group_key, status_pods]))
    group_code = pods.codes[: len(group_key)].astype(np.int64)
    grid = np.rint((index.times - t0).total_seconds().to_numpy() / step).astype(np.int64)
    if len(status):
        code = pods.codes[len(group_key) :].astype(np.int64)[status_of_row]
        time = np.rint((status["timestamp"] - t0).dt.total_seconds().to_numpy() / step).astype(np.int64)
        phase = status["phase"].cat.codes.to_numpy().astype(np.int8)  # categories: POD_PHASES, in order
        ready = status["ready"].to_numpy(dtype=bool)
    else:  # no pod_status: a pod exists, Running and Ready, where it has samples
        unique = _sampled_cells(index, group_code, len(pods.categories), grid, n_t)
        code, time = unique // n_t, unique % n_t
        phase = np.full(len(code), POD_PHASES.index("Running"), dtype=np.int8)
        ready = np.ones(len(code), dtype=bool)
    inside = (time >= 0) & (time < n_t)
    code, time, phase, ready = code[inside], time[inside], phase[inside], ready[inside]
    key = code * n_t + time
    order = np.argsort(key, kind="stable") if len(key) > 1 and (key[1:] < key[:-1]).any() else slice(None)
    objects = {f"{p.namespace}/{p.name}": p for p in snapshot.pods}
    return _Observed(np.asarray(pods.categories, dtype=object), group_code, grid, code[order], time[order],
                     phase[order], ready[order], objects, _RowsByGroup.of(index))  # fmt: skip


def _pod_cells(
    observed: _Observed, index: UsageIndex, contexts: Sequence[Any], t0: pd.Timestamp, step: float, n_t: int
) -> _Cells | None:
    """The batch's cells, with each pod's phase, readiness and its Ready condition's last transition at
    each scrape."""
    hpa_of_workload = {ctx.workload: h for h, ctx in enumerate(contexts)}
    wl = index.workloads[WORKLOAD_KEY].itertuples(index=False, name=None)
    hpa_of_wid = np.array([hpa_of_workload.get(tuple(k), -1) for k in wl], dtype=np.int64)
    group_hpa = hpa_of_wid[index.groups["workload_id"].to_numpy()]
    if not (group_hpa >= 0).any():
        return None
    group_code, grid = observed.group_code, observed.grid
    pod_hpa = np.full(len(observed.names), -1, dtype=np.int64)
    pod_hpa[group_code[group_hpa >= 0]] = group_hpa[group_hpa >= 0]
    pods = np.flatnonzero(pod_hpa >= 0)
    keep = ranges(np.searchsorted(observed.code, pods), np.searchsorted(observed.code, pods, side="right"))
    code, time, phase, ready = observed.code[keep], observed.time[keep], observed.phase[keep], observed.ready[keep]
    cell_key = code * n_t + time
    start_s, api_since, has_condition, deleted_s = _pod_times(code, observed.names, observed.objects)
    now_s = t0.timestamp() + time * step
    # A pod's run of consecutive scrapes; a gap starts a new one (a StatefulSet reuses its pods' names,
    # and the snapshot's Pod object is the newest incarnation: times after ``now`` belong to a later one,
    # so the run's first observation stands in for the start).
    first = np.concatenate([[True], cell_key[1:] != cell_key[:-1] + 1]) if len(code) else np.zeros(0, dtype=bool)
    run_start = pd.Series(np.where(first, now_s, np.nan)).ffill().to_numpy()
    start_s = np.where(start_s <= now_s, start_s, run_start)
    # The Ready condition's last transition: the last flip seen in pod_status, else the API's time.
    flip = np.concatenate([[False], ready[1:] != ready[:-1]]) & ~first if len(code) else first
    since = pd.Series(np.where(flip, now_s, np.where(first, -np.inf, np.nan))).ffill().to_numpy()
    since = np.where(np.isinf(since), np.where(api_since <= now_s, api_since, start_s), since)
    return _Cells(
        n=len(cell_key) + 1,
        key=np.append(cell_key, -2),
        hpa=np.append(pod_hpa[code], 0),
        time=np.append(time, 0),
        group_code=group_code,
        grid=grid,
        n_t=n_t,
        group_hpa=group_hpa,
        now_s=np.append(now_s, np.nan),
        phase=np.append(phase, POD_PHASES.index("Unknown")).astype(np.int8),
        ready=np.append(ready, False),
        ready_since_s=np.append(since, np.nan),
        start_s=np.append(start_s, np.nan),
        deleting=np.append(deleted_s <= now_s, True),
        has_condition=np.append(has_condition, False),
        window_s=step,
    )


BITMAP_CELLS = 1 << 31
"""Up to this many (pod, scrape) cells, the sampled ones are found with a byte per cell, not a sort."""


def _sampled_cells(index: UsageIndex, group_code: IntArray, n_pods: int, grid: IntArray, n_t: int) -> IntArray:
    """The sorted keys (pod code × scrapes + scrape) of the cells where a pod has samples."""
    space = n_pods * n_t
    seen = np.zeros(space, dtype=bool) if space <= BITMAP_CELLS else None
    parts = []
    for block in index.blocks():
        time = grid[index.time[block]]
        inside = (time >= 0) & (time < n_t)
        key = group_code[index.group[block][inside]] * n_t + time[inside]
        if seen is not None:
            seen[key] = True
        else:
            parts.append(np.unique(key))
    if seen is not None:
        return np.flatnonzero(seen).astype(np.int64)
    return np.unique(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.int64)


def _pod_times(
    codes: IntArray, names: npt.NDArray[np.object_], objects: dict[str, Pod]
) -> tuple[FloatArray, FloatArray, npt.NDArray[np.bool_], FloatArray]:
    """Per cell: the pod's start time, its Ready condition's lastTransitionTime in the API, whether it has
    a Ready condition, and when it was deleted (inf: not), in seconds. One lookup per pod, not per cell."""
    cache: dict[int, tuple[float, float, bool, float]] = {}
    for k in np.unique(codes).tolist():
        pod = objects.get(names[k])
        if pod is None:
            cache[k] = (np.nan, np.nan, False, -np.inf)  # no object: treated as being deleted
            continue
        start = _seconds(pod.started)
        since = _seconds(pod.ready.last_transition) if pod.ready else np.nan
        gone = pod.gone
        # A pod object without a status (built by hand) is taken to have one; pod_status says if it is Ready.
        cache[k] = (start, since, pod.ready is not None or not pod.has_status, _seconds(gone) if gone else np.inf)
    per_pod = np.zeros((len(names), 4))
    for k, values in cache.items():
        per_pod[k] = values
    table = per_pod[codes]
    return table[:, 0], table[:, 1], table[:, 2].astype(bool), table[:, 3]


_SUB_MICROSECOND = re.compile(r"\.\d{7}")


def _seconds(value: str | None) -> float:
    """An API time (RFC 3339, validated at load) in seconds; the standard parser first, as it is ten times
    faster than pandas', and pandas' for what it does not read exactly (below a microsecond)."""
    if not value:
        return np.nan
    if _SUB_MICROSECOND.search(value):
        return pd.Timestamp(value).timestamp()
    try:
        parsed = datetime.datetime.fromisoformat(value)
    except ValueError:
        return pd.Timestamp(value).timestamp()
    return parsed.timestamp() if parsed.tzinfo is not None else pd.Timestamp(value).timestamp()
