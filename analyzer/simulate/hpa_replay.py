"""Replay HPA controllers over time on modelled usage, vectorised over many (HPA, view) columns.

Each column is one HPA under one view (as deployed, app-only, a remedy). Its pods are kept as
**cohorts by age**, not as individual pods: the count created at each of the last ``R`` syncs
(R covers the CPU initialization period) plus one count of mature pods. The HPA's pod grouping
depends only on a pod's age and on where ``now`` falls between scrapes, so the masks are computed
once per sync for all columns and the grouped counts are one matrix product. Removal takes the
youngest pods first, as a Deployment's scale-down does.

Usage per pod is the model of :mod:`analyzer.model.overhead`: the workload's app demand ``D`` (cores)
spread evenly over serving pods, ``a = D / serving``, and each metric's per-pod value
``base + slope × a`` (milli-units), summed over the containers the metric counts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from analyzer.runtime.forked_columns import can_fork, forked_columns
from analyzer.simulate import hpa_calculator as calc
from analyzer.simulate import replay_kernel
from analyzer.simulate.hpa_behavior import ControllerFlags
from analyzer.simulate.hpa_conditions import N_REASONS
from analyzer.simulate.hpa_normalize import Normalizer, ScalingConfig
from analyzer.simulate.pod_lifecycle import Lifecycle, pod_states

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

_MATURE_AGE_S = 1e9
MIN_COLUMNS_PER_WORKER = 500
"""Below this many columns per process, forking costs more than it saves."""
_STATE_NAMES = (
    "exists",
    "serving",
    "has_metric",
    "cpu_ready",
    "cpu_unready",
    "mem_ready",
    "unready_pending",
    "missing",
)


@dataclass(frozen=True)
class ReplayColumns:
    """The HPAs to replay, one column each; metric arrays are (metric, column), padded where ``active`` is False.

    ``base_m``/``slope_m``: per-pod metric value ``base + slope × app cores per pod`` in milli-units
    (summed over counted containers). ``target``: percent for Utilization, milli-units for AverageValue.
    ``request_m``: the counted containers' per-pod request in milli-units; ``missing_request``: a
    counted container has none (the metric fails for Utilization).
    """

    configs: Sequence[ScalingConfig]
    tol_up: FloatArray
    tol_down: FloatArray
    active: BoolArray
    is_cpu: BoolArray
    is_util: BoolArray
    target: IntArray
    request_m: IntArray
    missing_request: BoolArray
    base_m: FloatArray
    slope_m: FloatArray

    @property
    def n(self) -> int:
        return len(self.configs)

    def take(self, start: int, stop: int) -> ReplayColumns:
        """Columns ``start:stop`` (each column replays independently of the others)."""
        cut = slice(start, stop)
        return ReplayColumns(
            configs=list(self.configs[cut]),
            tol_up=self.tol_up[cut],
            tol_down=self.tol_down[cut],
            active=self.active[:, cut],
            is_cpu=self.is_cpu[:, cut],
            is_util=self.is_util[:, cut],
            target=self.target[:, cut],
            request_m=self.request_m[:, cut],
            missing_request=self.missing_request[:, cut],
            base_m=self.base_m[:, cut],
            slope_m=self.slope_m[:, cut],
        )


@dataclass(frozen=True)
class ReplayResult:
    """Per scrape and column: replicas (before that scrape's sync), and that sync's first-metric value and
    failure. Per column: how many syncs left each condition reason (``condition_syncs``, reasons ×
    columns; each sync counts once per condition type) and the conditions after the last sync
    (``last_conditions``: AbleToScale, ScalingActive, ScalingLimited reason codes × columns)."""

    replicas: IntArray
    value: IntArray
    failed: BoolArray
    condition_syncs: IntArray
    last_conditions: npt.NDArray[np.int8]


def replay(
    columns: ReplayColumns,
    demand: FloatArray,
    initial: IntArray,
    step_s: float,
    flags: ControllerFlags,
    fallback_max_target: bool = True,
    lifecycle: Lifecycle | None = None,
    workers: int = 1,
    compiled: bool | None = None,
) -> ReplayResult:
    """Run every column's controller over ``demand`` (scrapes × columns, app cores; NaN: no data, held).

    Scrapes are ``step_s`` apart starting at t = 0; the controller syncs every ``flags.sync_period_s``.
    With ``workers`` > 1 (and ``fork`` available) the columns are split over that many processes
    (:mod:`analyzer.runtime.forked_columns`); the result is identical. ``compiled``: run the compiled loop of
    :mod:`analyzer.simulate.replay_kernel` where numba is available (False: the vectorised loop, its
    reference; None: compiled for a replay large enough to pay for loading it, :func:`replay_kernel.worth`).
    """
    if compiled is None:
        compiled = replay_kernel.worth(demand.shape[0] * round(step_s / flags.sync_period_s))
    workers = min(workers, columns.n // MIN_COLUMNS_PER_WORKER)
    rest = (step_s, flags, fallback_max_target, lifecycle, compiled)
    if workers < 2 or not can_fork():
        return _replay(columns, demand, initial, *rest)
    if compiled:
        replay_kernel.warm()  # once here, not in each worker

    def share(start: int, stop: int) -> dict[str, np.ndarray]:
        part = _replay(columns.take(start, stop), demand[:, start:stop], initial[start:stop], *rest)
        return {name: getattr(part, name) for name in _OUTPUTS}

    rows = {"replicas": demand.shape[0], "value": demand.shape[0], "failed": demand.shape[0],
            "condition_syncs": N_REASONS, "last_conditions": 3}  # fmt: skip
    outputs = {name: (rows[name], dtype) for name, dtype in _OUTPUTS.items()}
    return ReplayResult(**forked_columns(share, columns.n, workers, outputs))


_OUTPUTS = {"replicas": np.int64, "value": np.int64, "failed": bool, "condition_syncs": np.int64,
            "last_conditions": np.int8}  # fmt: skip
"""The replay's arrays (columns last) and their types."""


def _replay(
    columns: ReplayColumns,
    demand: FloatArray,
    initial: IntArray,
    step_s: float,
    flags: ControllerFlags,
    fallback_max_target: bool,
    lifecycle: Lifecycle | None,
    compiled: bool,
) -> ReplayResult:
    """The replay loop in this process: compiled where it can be, else vectorised over columns."""
    sync_s = flags.sync_period_s
    per_scrape = round(step_s / sync_s)
    if per_scrape < 1 or per_scrape * sync_s != step_s:
        raise ValueError(f"step {step_s}s must be a multiple of the HPA sync period {sync_s}s")
    if not columns.active[0].all():
        raise ValueError("every column needs at least one metric, in row 0")
    life = lifecycle or Lifecycle(scrape_s=step_s)
    ring = math.ceil((flags.cpu_initialization_period_s + life.scrape_s * 2) / sync_s) + 2
    masks = _state_masks(ring, per_scrape, sync_s, life, flags)
    if compiled:
        done = replay_kernel.replay(columns, demand, initial, masks, ring, per_scrape, flags, fallback_max_target)
        if done is not None:
            return ReplayResult(**done)
    return _replay_vectorised(columns, demand, initial, masks, ring, per_scrape, flags, fallback_max_target)


def _replay_vectorised(
    columns: ReplayColumns,
    demand: FloatArray,
    initial: IntArray,
    masks: list[FloatArray],
    ring: int,
    per_scrape: int,
    flags: ControllerFlags,
    fallback_max_target: bool,
) -> ReplayResult:
    """The replay loop vectorised over columns: every column's sync is a few numpy calls."""
    sync_s = flags.sync_period_s
    n_scrapes, n = demand.shape
    cohorts = np.zeros((ring + 1, n), dtype=np.float64)  # rows: ring slots by creation sync, last: mature
    cohorts[ring] = initial
    current = initial.astype(np.int64).copy()
    normalizer = Normalizer(columns.configs, flags)
    held = np.where(np.isfinite(demand[0]), demand[0], 0.0)
    per_pod = np.zeros(columns.active.shape, dtype=np.int64)
    out_replicas = np.zeros((n_scrapes, n), dtype=np.int64)
    out_value = np.zeros((n_scrapes, n), dtype=np.int64)
    out_failed = np.zeros((n_scrapes, n), dtype=bool)
    last_value = np.zeros(n, dtype=np.int64)
    # Row order (youngest first, then mature) and the state masks in row order, for each ring slot and phase.
    orders = [np.concatenate([(slot - np.arange(ring)) % ring, [ring]]) for slot in range(ring)]
    row_masks = [[np.ascontiguousarray(m[np.argsort(o)].T) for m in masks] for o in orders]
    # Conditions change rarely: each column's current codes and the sync they took hold are kept, and a
    # spell's length is added to its reason's count only when it ends (or at the end of the replay).
    condition_syncs = np.zeros((N_REASONS, n), dtype=np.int64)
    spell = np.zeros((3, n), dtype=np.int8)
    since = np.zeros((3, n), dtype=np.int64)
    props = np.full(columns.active.shape, -1, dtype=np.int64)
    errs = np.zeros(columns.active.shape, dtype=np.int64)
    # Metric rows are padded: the real (metric, column) pairs are evaluated together, as one flat row (row 0's
    # pairs first, one per column); the calculator is elementwise, so one call serves every metric.
    metric, col = np.nonzero(columns.active)  # row-major: row 0's columns first, in order
    pair = metric * n + col  # into the flattened (metric, column) arrays
    one_row = len(pair) == n
    multi = np.nonzero(columns.active.sum(axis=0) > 1)[0]
    is_cpu = columns.is_cpu.ravel()[pair]
    statics = {
        "is_util": columns.is_util.ravel()[pair],
        "target": columns.target.ravel()[pair],
        "request_m": columns.request_m.ravel()[pair],
        "missing_request": columns.missing_request.ravel()[pair],
        "tol_down": columns.tol_down[col],
        "tol_up": columns.tol_up[col],
    }
    per_pair = np.zeros(len(pair), dtype=np.int64)

    for k in range(n_scrapes * per_scrape):
        slot = k % ring
        # The slot about to hold this sync's new pods held pods created `ring` syncs ago: now mature.
        cohorts[ring] += cohorts[slot]
        cohorts[slot] = 0.0
        order = orders[slot]
        counts = (row_masks[slot][k % per_scrape] @ cohorts).astype(np.int64)  # (states, columns)
        c = dict(zip(_STATE_NAMES, counts if one_row else counts[:, col], strict=True))  # per pair
        if k % per_scrape == 0:
            i = k // per_scrape
            row = demand[i]
            held = np.where(np.isfinite(row), row, held)
            app = held / np.maximum(counts[_STATE_NAMES.index("serving")], 1)
            per_pod = np.ceil(columns.base_m + columns.slope_m * app[None, :] - 1e-6).astype(np.int64)
            per_pair = per_pod.ravel()[pair]
            out_replicas[i] = current

        ready = np.where(is_cpu, c["cpu_ready"], c["mem_ready"])
        groups = calc.PodGroups(
            total=c["exists"],
            ready=ready,
            unready=np.where(is_cpu, c["cpu_unready"], c["unready_pending"]),
            missing=c["missing"],
            with_metrics=c["has_metric"],
            ready_usage_m=per_pair * ready,
            pod_request_m=statics["request_m"],
        )
        p = calc.replicas_for_metric(
            groups,
            current if one_row else current[col],
            statics["target"],
            statics["is_util"],
            statics["tol_down"],
            statics["tol_up"],
            statics["missing_request"],
            fallback_max_target,
        )
        props.ravel()[pair], errs.ravel()[pair] = p.replicas, p.error
        last_value = p.value[:n]  # metric 0 of each column
        # One metric: its proposal (-1 on error) is the HPA's. Several: computeReplicasForMetrics.
        proposal, first_error = props[0], errs[0]
        if len(multi):
            proposal[multi], first_error[multi] = calc.combine_metrics(
                props[:, multi], errs[:, multi], current[multi], columns.active[:, multi]
            )
        if k % per_scrape == 0:
            out_value[i] = last_value
            out_failed[i] = first_error != 0
        desired = normalizer.step(k * sync_s, current, proposal)
        changed = np.nonzero(normalizer.conditions != spell)
        if len(changed[0]):
            np.add.at(condition_syncs, (spell[changed], changed[1]), k - since[changed])
            spell[changed], since[changed] = normalizer.conditions[changed], k
        delta = desired - current
        if (delta > 0).any():
            cohorts[slot] += np.maximum(delta, 0)
        if (delta < 0).any():
            shrink = np.nonzero(delta < 0)[0]
            ordered = cohorts[np.ix_(order, shrink)]
            before = np.cumsum(ordered, axis=0) - ordered
            taken = np.clip(-delta[shrink][None, :] - before, 0.0, ordered)
            cohorts[np.ix_(order, shrink)] = ordered - taken
        current = desired
    total = n_scrapes * per_scrape
    for t in range(3):
        np.add.at(condition_syncs, (spell[t], np.arange(n)), total - since[t])
    return ReplayResult(
        replicas=out_replicas,
        value=out_value,
        failed=out_failed,
        condition_syncs=condition_syncs,
        last_conditions=normalizer.conditions.copy(),
    )


def _state_masks(
    ring: int, per_scrape: int, sync_s: float, life: Lifecycle, flags: ControllerFlags
) -> list[FloatArray]:
    """For each sync phase within a scrape: (ring + 1 ages, states) masks, ages youngest first, then mature.

    A pod created at this sync has age 0; ``pod_states`` is evaluated at a ``now`` with the right
    phase against the scrape grid (scrapes at multiples of ``life.scrape_s``).
    """
    out = []
    base = 10 * life.scrape_s * per_scrape  # any scrape-aligned time far from zero
    for phase in range(per_scrape):
        now = base + phase * sync_s
        created = now - np.concatenate([np.arange(ring) * sync_s, [_MATURE_AGE_S]])
        st = pod_states(created, now, life, flags)
        out.append(np.stack([getattr(st, name) for name in _STATE_NAMES], axis=1).astype(np.float64))
    return out
