"""The HPA controller, written once: per HPA and per sync, as ``replica_calculator.go`` and ``horizontal.go``
write it, compiled with numba.

- :func:`_metric_replicas`: one metric's proposal (``GetResourceReplicas`` / ``GetMetricReplicas`` and
  ``calcPlainMetricReplicas``, with ``groupPods``' counts given);
- :func:`_combined`: ``computeReplicasForMetrics`` over the metrics;
- :func:`_normalize`: ``reconcileAutoscaler``'s guards, ``normalizeDesiredReplicas`` (no behavior: the
  downscale window, the 2x/4 scale-up limit) or ``normalizeDesiredReplicasWithBehaviors`` (stabilization,
  then :func:`_rate_limit`, ``convertDesiredReplicasWithBehaviorRate``), and the conditions a sync leaves;
  the controller's memory of recommendations and scale events in two arrays (:func:`_new_state`).

Every user drives these same functions: the replay (:func:`replay`, pod cohorts by age, one HPA column at
a time), the decisions on the observed pods (:func:`metric_replicas`, :func:`combine_metrics` and
:func:`decide`), and the generator's cluster (:class:`Controllers`). A compiled loop keeps an HPA's state in
cache (benchmarks/README.md has the figures). Compiling takes seconds once: numba caches the result on disk
where it can (:func:`_kernel`), and :func:`warm` does it before a process forks.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from types import SimpleNamespace
from typing import Any

import numpy as np
import numpy.typing as npt

from analyzer.runtime.compiled_seed import seed_compiled_cache
from analyzer.simulate.hpa_conditions import N_REASONS, Reason
from analyzer.simulate.hpa_spec import ControllerFlags
from analyzer.snapshot.hpa import PolicyType, Rules, ScalingConfig, Select

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


class MetricError(IntEnum):
    """Why a metric could not be computed (the HPA sets ``ScalingActive=False``)."""

    NONE = 0
    MISSING_REQUEST = 1
    NO_PODS = 2
    NO_METRICS = 3
    NO_READY_METRICS = 4
    ZERO_REQUESTS = 5


ERROR_TEXT = {  # the controller's wording; MISSING_REQUEST names the container and pod, so it is built per pod
    MetricError.NO_PODS: "no pods returned by selector while calculating replica count",
    MetricError.NO_METRICS: "unable to get metrics for resource: no metrics returned from resource metrics API",
    MetricError.NO_READY_METRICS: "did not receive metrics for targeted pods (pods might be unready)",
    MetricError.ZERO_REQUESTS: "no metrics returned matched known pods",
}

_BIG = 2**40
_GOT_SCALE, _READY, _RESCALED = (
    int(Reason.SUCCEEDED_GET_SCALE),
    int(Reason.READY_FOR_NEW_SCALE),
    int(Reason.SUCCEEDED_RESCALE),
)
_UP_STABILIZED, _DOWN_STABILIZED = int(Reason.SCALE_UP_STABILIZED), int(Reason.SCALE_DOWN_STABILIZED)
_VALID, _FAILED, _DISABLED = int(Reason.VALID_METRIC_FOUND), int(Reason.FAILED_GET_METRIC), int(Reason.SCALING_DISABLED)
_WITHIN, _TOO_MANY, _TOO_FEW = (
    int(Reason.DESIRED_WITHIN_RANGE),
    int(Reason.TOO_MANY_REPLICAS),
    int(Reason.TOO_FEW_REPLICAS),
)
_UP_LIMIT, _DOWN_LIMIT = int(Reason.SCALE_UP_LIMIT), int(Reason.SCALE_DOWN_LIMIT)
_NO_PODS, _NO_METRICS = int(MetricError.NO_PODS), int(MetricError.NO_METRICS)
_MISSING_REQUEST, _NO_READY = int(MetricError.MISSING_REQUEST), int(MetricError.NO_READY_METRICS)
_ZERO_REQUESTS = int(MetricError.ZERO_REQUESTS)
# Rows of an HPA's integer normalization memory (_new_state).
_LO, _HI, _IN_FLAG, _EV_UP, _EV_DOWN, _FLAG, _COND = range(7)
# Pod states, in the order of hpa_replay._STATE_NAMES.
_EXISTS, _SERVING, _HAS_METRIC, _CPU_READY, _CPU_UNREADY, _MEM_READY, _UNREADY_PENDING, _MISSING = range(8)


@dataclass(frozen=True)
class Configs:
    """The scaling configurations of HPAs as the compiled functions take them: limits, stabilization windows
    (the flag's where behavior sets none), each HPA's row in ``policies`` (-1: no behavior), and the lengths
    of the recommendation and scale-event memories, which cover the longest window and policy period."""

    min: IntArray
    max: IntArray
    behaved_row: IntArray
    up_window: FloatArray
    down_window: FloatArray
    policies: IntArray
    """(HPA with behavior, direction up/down, policy, field): period s, value, Pods type, present; after the
    policies one row of (select Min, Disabled). One array, not twelve: each array passed to a compiled
    helper costs a reference count at every sync."""
    flag_window: float
    rec_len: int
    ev_len: int

    @classmethod
    def of(cls, configs: Sequence[ScalingConfig], flags: ControllerFlags) -> Configs:
        flag_window = flags.downscale_stabilization_s
        up_window = np.array([c.up.window_s or 0 for c in configs], dtype=np.float64)
        down_window = np.array(
            [flag_window if c.down.window_s is None else c.down.window_s for c in configs], dtype=np.float64
        )
        behaved = [i for i, c in enumerate(configs) if c.has_behavior]
        behaved_row = np.full(len(configs), -1, dtype=np.int64)
        behaved_row[behaved] = np.arange(len(behaved))
        policies = _packed_policies([configs[i].up for i in behaved], [configs[i].down for i in behaved])
        longest = max([flag_window, *up_window.tolist(), *down_window.tolist()], default=flag_window)
        periods = [flags.sync_period_s, *(float(p) for p in policies[:, :, :-1, 0].ravel() if p)]
        return cls(
            min=np.array([c.min_replicas for c in configs], dtype=np.int64),
            max=np.array([c.max_replicas for c in configs], dtype=np.int64),
            behaved_row=behaved_row,
            up_window=up_window,
            down_window=down_window,
            policies=policies,
            flag_window=float(flag_window),
            rec_len=math.ceil(longest / flags.sync_period_s) + 2,
            ev_len=math.ceil(max(periods) / flags.sync_period_s) + 2,
        )


def _packed_policies(up: Sequence[Rules], down: Sequence[Rules]) -> IntArray:
    """Both directions' policies, a row per HPA with behavior (:attr:`Configs.policies`); padded policies
    have type NONE and a period of 1 s."""
    width = max([len(r.policies) for r in (*up, *down)] + [1])
    out = np.zeros((len(up), 2, width + 1, 4), dtype=np.int64)
    out[:, :, :width, 0] = 1
    for d, rules in enumerate((up, down)):
        for i, r in enumerate(rules):
            for j, p in enumerate(r.policies):
                out[i, d, j] = (p.period_s, p.value, p.type == PolicyType.PODS, p.type != PolicyType.NONE)
            out[i, d, width] = (r.select == Select.MIN, r.select == Select.DISABLED, 0, 0)
    return out


def metric_replicas(
    total: IntArray, ready: IntArray, unready: IntArray, missing: IntArray, with_metrics: IntArray,
    ready_usage: IntArray, request: IntArray, target: IntArray, util: BoolArray, missing_request: BoolArray,
    tol_down: FloatArray, tol_up: FloatArray, current: IntArray, fallback_max_target: bool = True,
) -> tuple[IntArray, IntArray, IntArray]:  # fmt: skip
    """:func:`_metric_replicas` for each element of equal-length arrays: (replicas, value, error)."""
    n = len(total)
    out = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
    args = [_arg(np.broadcast_to(a, n), t) for a, t in (
        (total, np.int64), (ready, np.int64), (unready, np.int64), (missing, np.int64), (with_metrics, np.int64),
        (ready_usage, np.int64), (request, np.int64), (target, np.int64), (util, np.bool_),
        (missing_request, np.bool_), (tol_down, np.float64), (tol_up, np.float64), (current, np.int64))]  # fmt: skip
    _kernel().metric_replicas_each(*args, bool(fallback_max_target), *out)
    return out


def combine_metrics(
    proposals: IntArray, errors: IntArray, current: IntArray, active: BoolArray | None = None
) -> tuple[IntArray, IntArray]:
    """:func:`_combined` for each HPA (columns) over its metrics (rows; ``active`` marks the real ones, HPAs
    with fewer metrics being padded): the proposal (-1: no scaling) and the first error (0: none)."""
    n = proposals.shape[1]
    active = np.ones(proposals.shape, dtype=bool) if active is None else active
    out = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
    arrays = [_arg(a, t) for a, t in
              ((proposals, np.int64), (errors, np.int64), (current, np.int64), (active, np.bool_))]  # fmt: skip
    _kernel().combine_each(*arrays, *out)
    return out


class Controllers:
    """The controllers of several HPAs synced together, each with its own memory: :meth:`step` is one sync
    of all of them (the generator's cluster)."""

    def __init__(self, configs: Sequence[ScalingConfig], flags: ControllerFlags) -> None:
        self.configs = Configs.of(configs, flags)
        width = max(self.configs.rec_len, self.configs.ev_len, 3)
        self.memory = np.zeros((len(configs), 7, width), dtype=np.int64)
        self.times = np.zeros((len(configs), 2, width))
        for j in range(len(configs)):
            _reset(self.memory[j], self.times[j])
        self.conditions = np.zeros((3, len(configs)), dtype=np.int8)
        """After each step: (AbleToScale, ScalingActive, ScalingLimited) reason codes per HPA."""
        self.syncs = 0

    def step(self, now: float, current: IntArray, proposal: IntArray) -> IntArray:
        """Desired replicas at time ``now`` (s) from the current replicas and the proposals (-1: none)."""
        c = self.configs
        desired = np.zeros(len(current), dtype=np.int64)
        _kernel().step_each(
            self.syncs, float(now), _arg(current, np.int64), _arg(proposal, np.int64), c.min, c.max, c.behaved_row,
            c.up_window, c.down_window,
            c.flag_window, self.memory, self.times, c.rec_len, c.ev_len, c.policies, desired, self.conditions,
        )  # fmt: skip
        self.syncs += 1
        return desired


def replay(
    columns: Any,
    demand: np.ndarray,
    initial: np.ndarray,
    masks: list[np.ndarray],
    ring: int,
    per_scrape: int,
    flags: ControllerFlags,
    fallback_max_target: bool,
    missing_share: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """The fields of a :class:`~analyzer.simulate.hpa_replay.ReplayResult` for ``columns`` (a ReplayColumns).
    ``masks``: per sync phase, (ring + 1 ages, 8 states) 0/1, youngest first. ``missing_share`` (scrapes ×
    columns, default none): the share of a column's pods with a metric that metrics-server leaves out of
    each scrape (they are missing to the calculator)."""
    if missing_share is None:
        missing_share = np.zeros(demand.shape)
    c = Configs.of(columns.configs, flags)
    n, n_scrapes = columns.n, demand.shape[0]
    out = {
        "replicas": np.zeros((n_scrapes, n), dtype=np.int64),
        "value": np.zeros((n_scrapes, n), dtype=np.int64),
        "failed": np.zeros((n_scrapes, n), dtype=np.bool_),
        "condition_syncs": np.zeros((N_REASONS, n), dtype=np.int64),
        "last_conditions": np.zeros((3, n), dtype=np.int8),
    }
    _kernel().replay(
        _by_column(demand, np.float64), _by_column(np.nan_to_num(missing_share), np.float64),
        _by_column(initial, np.int64),
        _arg(np.stack(masks).round(), np.int64), int(ring), int(per_scrape),
        float(flags.sync_period_s), c.flag_window, bool(fallback_max_target),
        _by_column(columns.active, np.bool_), _by_column(columns.is_cpu, np.bool_),
        _by_column(columns.is_util, np.bool_),
        _by_column(columns.target, np.int64), _by_column(columns.request_m, np.int64),
        _by_column(columns.missing_request, np.bool_), _by_column(columns.base_m, np.float64),
        _by_column(columns.slope_m, np.float64), _by_column(columns.tol_down, np.float64),
        _by_column(columns.tol_up, np.float64), c.min, c.max, c.behaved_row, c.up_window, c.down_window,
        c.rec_len, c.ev_len, c.policies,
        out["replicas"], out["value"], out["failed"], out["condition_syncs"], out["last_conditions"],
    )  # fmt: skip
    return out


def decide(
    configs: Sequence[ScalingConfig], observed: np.ndarray, proposal: np.ndarray, has_pods: np.ndarray,
    step_s: float, flags: ControllerFlags,
) -> np.ndarray:  # fmt: skip
    """Per scrape and HPA the replicas the controller decides from the observed replicas (``observed``,
    scrapes × HPAs, NaN: none; the last observed count stands in between) and the proposals (HPAs × scrapes,
    -1: none), NaN where either is missing."""
    c = Configs.of(configs, flags)
    out = np.full((len(configs), observed.shape[0]), np.nan)
    _kernel().decide(
        _by_column(observed, np.float64), _arg(proposal, np.int64), _arg(has_pods, np.bool_), float(step_s),
        c.flag_window, c.min, c.max, c.behaved_row,
        c.up_window, c.down_window, c.rec_len, c.ev_len, c.policies, out,
    )  # fmt: skip
    return out.T


# Every array a fresh, writable, C-ordered copy of a fixed dtype, every scalar a fixed type: one signature per
# loop, compiled once and then loaded from numba's cache. (numba types a read-only array apart: an input read
# from Arrow or a broadcast view, passed as it was, compiled the replay a second time.)
def _arg(values: Any, dtype: type) -> np.ndarray:
    """``values`` as a new C-ordered array of ``dtype``."""
    return np.array(values, dtype=dtype, order="C")


def _by_column(values: np.ndarray, dtype: type) -> np.ndarray:
    """``values`` (rows × columns) as columns × rows (:func:`_arg`)."""
    return _arg(np.asarray(values).T, dtype)


def warm(flags: ControllerFlags | None = None) -> None:
    """Compile every loop now (or load it from numba's cache), on a one-HPA input: a process does it before
    it forks processes that would each compile them (seconds each; a cache load takes a fraction), and an
    image does it when it is built (deploy/Dockerfile, :mod:`analyzer.runtime.compiled_seed`)."""
    one = np.ones((1, 1))
    columns = SimpleNamespace(
        configs=[ScalingConfig(1, 2)], n=1, active=one.astype(bool), is_cpu=one.astype(bool),
        is_util=one.astype(bool), target=one.astype(np.int64), request_m=one.astype(np.int64),
        missing_request=~one.astype(bool), base_m=one, slope_m=one, tol_down=one[0], tol_up=one[0],
    )  # fmt: skip
    flags = flags or ControllerFlags()
    replay(columns, np.ones((1, 1)), np.ones(1, dtype=np.int64), [np.zeros((2, 8))], 1, 1, flags, True)
    decide(columns.configs, np.ones((1, 1)), np.ones((1, 1), dtype=np.int64), np.ones((1, 1), dtype=bool), 60.0, flags)
    ones = np.ones(1, dtype=np.int64)
    metric_replicas(*[ones] * 8, ones.astype(bool), ~ones.astype(bool), 0.1, 0.1, ones)
    combine_metrics(np.ones((1, 1), dtype=np.int64), np.zeros((1, 1), dtype=np.int64), ones)
    Controllers(columns.configs, flags).step(0.0, ones, ones)


@functools.cache
def _kernel() -> Any:
    """The compiled functions. numba caches them on disk where it finds a writable place (``NUMBA_CACHE_DIR``
    where set, else next to this file, else the user's cache directory); where there is none they are
    compiled in each run. A cache seeded by the image is copied into place first."""
    seed_compiled_cache()
    import numba

    try:
        jit = numba.njit(cache=True, nogil=True)
        jit(_HELPERS["_reset"])  # raises here when no cache location is writable
    except RuntimeError:
        jit = numba.njit(cache=False, nogil=True)
    # The loops call the helpers by their module names: those names are given the compiled helpers first.
    inline = numba.njit(nogil=True, inline="always")  # compiled into the loops, which numba caches
    globals().update({name: inline(helper) for name, helper in _HELPERS.items()})
    return SimpleNamespace(
        replay=jit(_replay_columns), decide=jit(_decide_columns), metric_replicas_each=jit(_metric_replicas_each),
        combine_each=jit(_combine_each), step_each=jit(_step_each),
    )  # fmt: skip


def _replay_columns(
    demand, missing_share, initial, masks, ring, per_scrape, sync_s, flag_window, fallback_max_target,
    active, is_cpu, is_util, target, request_m, missing_request, base_m, slope_m, tol_down, tol_up,
    min_r, max_r, behaved_row, up_window, down_window, rec_len, ev_len, policies,
    out_replicas, out_value, out_failed, condition_syncs, last_conditions,
):  # fmt: skip
    n, n_scrapes = demand.shape
    n_metrics = active.shape[1]
    total = n_scrapes * per_scrape
    cohorts = np.zeros(ring + 1, dtype=np.int64)
    counts = np.zeros(8, dtype=np.int64)
    per_pod = np.zeros(n_metrics, dtype=np.int64)
    memory, times = _new_state(rec_len, ev_len)
    spell = np.zeros(3, dtype=np.int64)
    since = np.zeros(3, dtype=np.int64)
    for col in range(n):
        cohorts[:] = 0
        cohorts[ring] = initial[col]
        young = 0  # pods in the ring slots (not yet mature)
        current = initial[col]
        b = behaved_row[col]
        _reset(memory, times)
        spell[:] = 0
        since[:] = 0
        held = demand[col, 0] if np.isfinite(demand[col, 0]) else 0.0
        value0, i = 0, 0
        for k in range(total):
            slot = k % ring
            phase = k % per_scrape
            # The slot about to hold this sync's new pods held pods created `ring` syncs ago: now mature.
            cohorts[ring] += cohorts[slot]
            young -= cohorts[slot]
            cohorts[slot] = 0
            for s in range(8):
                counts[s] = cohorts[ring] * masks[phase, ring, s]
            if young:
                for age in range(ring):
                    c = cohorts[(slot - age) % ring]
                    if c:
                        for s in range(8):
                            counts[s] += c * masks[phase, age, s]
            i = k // per_scrape
            share = missing_share[col, i]
            if share > 0:
                # Pods metrics-server left out of this scrape (a container back from a restart): missing,
                # the ready ones first. They still serve.
                gone = min(np.int64(np.rint(share * counts[_HAS_METRIC])), counts[_HAS_METRIC])
                counts[_HAS_METRIC] -= gone
                counts[_MISSING] += gone
                counts[_MEM_READY] -= min(gone, counts[_MEM_READY])
                from_ready = min(gone, counts[_CPU_READY])
                counts[_CPU_READY] -= from_ready
                counts[_CPU_UNREADY] -= min(gone - from_ready, counts[_CPU_UNREADY])
            if phase == 0:
                d = demand[col, i]
                if np.isfinite(d):
                    held = d
                app = held / max(counts[_SERVING], 1)
                for m in range(n_metrics):
                    per_pod[m] = np.int64(np.ceil(base_m[col, m] + slope_m[col, m] * app - 1e-6))
                out_replicas[i, col] = current

            # The calculator per metric, and computeReplicasForMetrics over them: the max over valid metrics;
            # none valid, or an invalid one while the max is below the current replicas, blocks scaling.
            best, n_invalid, n_active, first_error = -1, 0, 0, 0
            for m in range(n_metrics):
                if not active[col, m]:
                    continue
                cpu = is_cpu[col, m]
                ready = counts[_CPU_READY] if cpu else counts[_MEM_READY]
                replicas, value, error = _metric_replicas(
                    counts[_EXISTS], ready, counts[_CPU_UNREADY] if cpu else counts[_UNREADY_PENDING],
                    counts[_MISSING], counts[_HAS_METRIC], per_pod[m] * ready, request_m[col, m], target[col, m],
                    is_util[col, m], missing_request[col, m], tol_down[col], tol_up[col], current,
                    fallback_max_target,
                )  # fmt: skip
                if m == 0:
                    value0 = value
                n_active += 1
                if error:
                    n_invalid += 1
                    if first_error == 0:
                        first_error = error
                elif replicas > best:
                    best = replicas
            proposal = _combined(best, n_invalid, n_active, current)
            if phase == 0:
                out_value[i, col] = value0
                out_failed[i, col] = first_error != 0

            # Normalization (horizontal.go), with the controller's memory of recommendations and events.
            desired = _normalize(k, k * sync_s, current, proposal, min_r[col], max_r[col], b, up_window[col],
                                 down_window[col], flag_window, memory, times, rec_len, ev_len, policies)  # fmt: skip

            # A condition spell's syncs are counted when it ends.
            for t in range(3):
                if memory[_COND, t] != spell[t]:
                    condition_syncs[spell[t], col] += k - since[t]
                    spell[t], since[t] = memory[_COND, t], k

            # New pods join this sync's cohort; removal takes the youngest first, then the mature.
            delta = desired - current
            if delta > 0:
                cohorts[slot] += delta
                young += delta
            elif delta < 0:
                left = -delta
                for age in range(ring + 1):
                    row = ring if age == ring else (slot - age) % ring
                    taken = min(left, cohorts[row])
                    cohorts[row] -= taken
                    if row != ring:
                        young -= taken
                    left -= taken
                    if left == 0:
                        break
            current = desired
        for t in range(3):
            condition_syncs[spell[t], col] += total - since[t]
            last_conditions[t, col] = memory[_COND, t]


def _metric_replicas(
    total, ready, unready, missing, with_metrics, ready_usage, request, target, util, missing_request,
    tol_down, tol_up, current, fallback_max_target,
):  # fmt: skip
    """One metric of one HPA at one sync: (replicas, value, error); replicas -1 and value 0 on an error.

    ``replica_calculator.go``: ``GetResourceReplicas`` (Utilization: ``value`` the truncated percent of the
    ready pods' summed usage over their summed requests) or ``GetMetricReplicas``/AverageValue (``value`` the
    ready pods' mean), then ``calcPlainMetricReplicas``: the usage ratio from ready pods; out of tolerance,
    ``ceil(ratio × ready)``; with missing pods, or unready ones while scaling up, a second pass (missing pods
    at 100 % of request, or the target if higher where ``fallback_max_target``, on a scale-down and at 0 on a
    scale-up; unready at 0), held where the direction changes or the result is within tolerance. Pods share
    one template: ``request`` is each pod's request (milli-units), ``ready_usage`` the ready pods' sum.
    ``total``: pods the selector returns; ``with_metrics``: pods with a sample. Errors in the controller's
    order: no metrics, no pods, a missing request (Utilization), no ready pod, zero requests.
    """
    ready_request = ready * request
    error = 0
    if with_metrics == 0 or ready == 0 or (util and (missing_request or ready_request <= 0)):
        if total == 0:
            error = _NO_PODS
        if with_metrics == 0:
            error = _NO_METRICS
        if error == 0 and util and missing_request:
            error = _MISSING_REQUEST
        if error == 0 and ready == 0:
            error = _NO_READY
        if error == 0 and util and ready_request <= 0:
            error = _ZERO_REQUESTS
    if error:
        return -1, 0, error
    tgt = max(target, 1)
    value = (ready_usage * 100) // max(ready_request, 1) if util else ready_usage // max(ready, 1)
    ratio = value / tgt
    up_unready = unready > 0 and ratio > 1.0
    within = 1.0 - tol_down <= ratio and ratio <= 1.0 + tol_up  # Tolerances.isWithin, inclusive (>= 1.33)
    replicas = current if within else np.int64(np.ceil(ratio * ready))
    if up_unready or missing != 0:
        falling = ratio < 1.0
        fill = (ratio != 1.0 if util else True) and missing > 0  # AverageValue fills 0 at ratio 1 (its else)
        pct = max(100, target) if fallback_max_target else 100
        each = request * pct // 100 if util else target
        usage2 = ready_usage + (missing * each if fill and falling else 0)
        entries = ready + (missing if fill else 0) + (unready if up_unready else 0)
        value2 = (usage2 * 100) // max(entries * request, 1) if util else usage2 // max(entries, 1)
        ratio2 = value2 / tgt
        second = np.int64(np.ceil(ratio2 * entries))
        hold = (
            (1.0 - tol_down <= ratio2 and ratio2 <= 1.0 + tol_up)
            or (falling and ratio2 > 1.0)
            or (ratio > 1.0 and ratio2 < 1.0)
            or (ratio2 < 1.0 and second > current)
            or (ratio2 > 1.0 and second < current)
        )
        replicas = current if hold else second
    return replicas, value, 0


def _combined(best, n_invalid, n_active, current):  # fmt: skip
    """``computeReplicasForMetrics``' verdict from its metrics' tally: the largest valid proposal, unless every
    metric failed, or one did while the largest is below the current replicas (a request-less sidecar
    blocks all scale-down): then -1, no scaling."""
    if n_invalid >= n_active or (n_invalid > 0 and best < current):
        return -1
    return best


def _metric_replicas_each(
    total, ready, unready, missing, with_metrics, ready_usage, request, target, util, missing_request,
    tol_down, tol_up, current, fallback_max_target, out_replicas, out_value, out_error,
):  # fmt: skip
    for j in range(len(total)):
        out_replicas[j], out_value[j], out_error[j] = _metric_replicas(
            total[j], ready[j], unready[j], missing[j], with_metrics[j], ready_usage[j], request[j], target[j],
            util[j], missing_request[j], tol_down[j], tol_up[j], current[j], fallback_max_target,
        )  # fmt: skip


def _combine_each(proposals, errors, current, active, out_proposal, out_error):  # fmt: skip
    for j in range(proposals.shape[1]):
        best, n_invalid, n_active, first_error = -1, 0, 0, 0
        for m in range(proposals.shape[0]):
            if not active[m, j]:
                continue
            n_active += 1
            if errors[m, j]:
                n_invalid += 1
                if first_error == 0:
                    first_error = errors[m, j]
            elif proposals[m, j] > best:
                best = proposals[m, j]
        out_proposal[j] = _combined(best, n_invalid, n_active, current[j])
        out_error[j] = first_error


def _step_each(
    k, now, current, proposal, min_r, max_r, behaved_row, up_window, down_window, flag_window, memory, times,
    rec_len, ev_len, policies, out_desired, out_conditions,
):  # fmt: skip
    for j in range(len(current)):
        out_desired[j] = _normalize(k, now, current[j], proposal[j], min_r[j], max_r[j], behaved_row[j],
                                    up_window[j], down_window[j], flag_window, memory[j], times[j], rec_len, ev_len,
                                    policies)  # fmt: skip
        for t in range(3):
            out_conditions[t, j] = memory[j, _COND, t]


def _normalize(
    k, now, current, proposal, lo, hi, b, up_window, down_window, flag_window,
    memory, times, rec_len, ev_len, policies,
):  # fmt: skip
    """One sync's normalization of one HPA (horizontal.go): the desired replicas; leaves the sync's
    conditions in ``memory`` and records the recommendation (and, with behavior, the event)."""
    flag_max, flag_count = memory[_FLAG, 0], memory[_FLAG, 1]
    if k == 0:
        seed = rec_len - 1
        memory[_LO, seed], memory[_HI, seed], times[0, seed] = current, current, now
        flag_max, flag_count = current, 1
        memory[_IN_FLAG, seed] = True
    disabled = current == 0 and lo != 0
    over, under = current > hi, current < lo
    guarded = disabled or over or under
    valid = not guarded and proposal >= 0
    stabilized_code, limited_code = _READY, _WITHIN
    if b < 0:
        # The flag's window, kept as a running max and how many records in the window equal it.
        for s in range(rec_len):
            inside = times[0, s] >= now - flag_window
            if memory[_IN_FLAG, s] and not inside and memory[_LO, s] == flag_max:
                flag_count -= 1
            memory[_IN_FLAG, s] = inside
        if flag_count <= 0:
            flag_max, flag_count = -_BIG, 0
            for s in range(rec_len):
                if memory[_IN_FLAG, s]:
                    if memory[_LO, s] > flag_max:
                        flag_max, flag_count = memory[_LO, s], 1
                    elif memory[_LO, s] == flag_max:
                        flag_count += 1
        # normalizeDesiredReplicas: the max over the window, then [min, min(max, max(2 x current, 4))].
        plain = max(proposal, flag_max)
        doubled = max(2 * current, 4)
        up_limit = min(hi, doubled)
        desired = min(max(plain, lo), max(up_limit, lo))
        if plain != proposal:
            stabilized_code = _DOWN_STABILIZED
        if plain < lo:
            limited_code = _TOO_FEW
        elif plain > up_limit:
            limited_code = _UP_LIMIT if hi > doubled else _TOO_MANY
    else:
        # normalizeDesiredReplicasWithBehaviors: stabilization, then each direction's rate limit.
        up_rec, down_rec = _BIG, -_BIG
        for s in range(rec_len):
            if times[0, s] > now - up_window and memory[_HI, s] < up_rec:
                up_rec = memory[_HI, s]
            if times[0, s] > now - down_window and memory[_LO, s] > down_rec:
                down_rec = memory[_LO, s]
        up_rec, down_rec = min(proposal, up_rec), max(proposal, down_rec)
        desired = min(max(current, up_rec), down_rec)
        if desired != proposal:
            stabilized_code = _UP_STABILIZED if proposal >= current else _DOWN_STABILIZED
        if desired > current:
            limit = _rate_limit(now, current, memory, times, ev_len, policies, b, 0)
            limit = max(limit, current)
            allowed = min(hi, limit)
            if desired > allowed:
                limited_code = _UP_LIMIT if hi > limit else _TOO_MANY
            desired = min(desired, allowed)
        if desired < current:
            limit = _rate_limit(now, current, memory, times, ev_len, policies, b, 1)
            limit = min(limit, current)
            allowed = max(lo, limit)
            if desired < allowed:
                limited_code = _DOWN_LIMIT if lo < limit else _TOO_FEW
            desired = max(desired, allowed)
    if not valid:
        desired = current
    if over:
        desired = hi
    elif under and not disabled:
        desired = lo
    if disabled:
        desired = current

    # The conditions reconcileAutoscaler leaves.
    memory[_COND, 0] = _RESCALED if desired != current else (stabilized_code if valid else _GOT_SCALE)
    if valid:
        memory[_COND, 1] = _VALID
        memory[_COND, 2] = limited_code
    elif not guarded:
        memory[_COND, 1] = _FAILED
    if disabled:
        memory[_COND, 1] = _DISABLED

    slot = k % rec_len
    stored = proposal if valid else -_BIG
    memory[_LO, slot] = stored
    memory[_HI, slot] = proposal if valid else _BIG
    times[0, slot] = now
    memory[_IN_FLAG, slot] = True
    if stored > flag_max:
        flag_max, flag_count = stored, 1
    elif stored == flag_max:
        flag_count += 1
    memory[_FLAG, 0], memory[_FLAG, 1] = flag_max, flag_count
    if b >= 0:
        slot = k % ev_len
        memory[_EV_UP, slot] = max(desired - current, 0)
        memory[_EV_DOWN, slot] = max(current - desired, 0)
        times[1, slot] = now
    return desired


def _new_state(rec_len, ev_len):  # fmt: skip
    """One HPA's normalization memory, reset with :func:`_reset`: integer rows (:data:`_LO` ... :data:`_COND`:
    recommendations lowest and highest, whether each is in the flag's window, scale events up and down,
    the flag window's running max and its count, the last sync's conditions) and the times of the
    recommendations (row 0) and of the events (row 1). Two arrays, not nine: each array passed costs a
    reference count at every sync."""
    width = max(rec_len, ev_len, 3)
    return np.zeros((7, width), dtype=np.int64), np.zeros((2, width))


def _reset(memory, times):  # fmt: skip
    """No record yet (time -inf: in no window; an invalid record never wins a max or a min), no event."""
    memory[:] = 0
    memory[_LO, :] = -_BIG
    memory[_HI, :] = _BIG
    memory[_FLAG, 0] = -_BIG
    times[:] = -np.inf


def _decide_columns(
    observed, proposal, has_pods, step_s, flag_window, min_r, max_r, behaved_row, up_window, down_window,
    rec_len, ev_len, policies, out,
):  # fmt: skip
    memory, times = _new_state(rec_len, ev_len)
    for col in range(observed.shape[0]):
        _reset(memory, times)
        last = 0
        for t in range(observed.shape[1]):
            seen = np.isfinite(observed[col, t])
            if seen:
                last = np.int64(observed[col, t])
            desired = _normalize(t, t * step_s, last, proposal[col, t], min_r[col], max_r[col], behaved_row[col],
                                 up_window[col], down_window[col], flag_window, memory, times, rec_len, ev_len,
                                 policies)  # fmt: skip
            if seen and has_pods[col, t]:
                out[col, t] = desired


def _rate_limit(now, current, memory, times, ev_len, policies, b, direction):  # fmt: skip
    """The limit of HPA ``b``'s policies in ``direction`` (0 up, 1 down; :func:`_packed`) from the replicas
    at each policy's period start (convertDesiredReplicasWithBehaviorRate)."""
    up = direction == 0
    width = policies.shape[2] - 1
    select_min, disabled = policies[b, direction, width, 0], policies[b, direction, width, 1]
    if disabled:
        return current
    largest, smallest = -_BIG, _BIG
    for p in range(width):
        period, value, pods, present = policies[b, direction, p]
        if not present:
            continue
        added, removed = 0, 0
        for e in range(ev_len):
            if times[1, e] > now - period:
                added += memory[_EV_UP, e]
                removed += memory[_EV_DOWN, e]
        start = float(current - added + removed)
        if up:
            proposed = np.int64(start + value if pods else math.ceil(start * (1 + value / 100.0)))
        else:
            proposed = np.int64(start - value if pods else math.trunc(start * (1 - value / 100.0)))
        largest, smallest = max(largest, proposed), min(smallest, proposed)
    # For scale-up, Max picks the largest count; for scale-down, Max change is the smallest count.
    return largest if bool(select_min) != up else smallest


_HELPERS = {f.__name__: f for f in (_rate_limit, _normalize, _new_state, _reset, _metric_replicas, _combined)}
"""The functions the compiled loops call, as written (:func:`_kernel` compiles them under their names)."""
