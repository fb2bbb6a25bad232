"""Replay HPA controllers over time on modelled usage, many (HPA, view) columns, each by the one controller
(:mod:`analyzer.simulate.hpa_controller`).

Each column is one HPA under one view (as deployed, app-only, a remedy). Its pods are kept as
**cohorts by age**, not as individual pods: the count created at each of the last ``R`` syncs
(R covers the CPU initialization period) plus one count of mature pods. The HPA's pod grouping
depends only on a pod's age and on where ``now`` falls between scrapes, so the masks are computed
once per sync phase for all columns. Removal takes the youngest pods first, as a Deployment's
scale-down does.

Usage per pod is the model of :mod:`analyzer.model.overhead`: the workload's app demand ``D`` (cores)
spread evenly over serving pods, ``a = D / serving``, and each metric's per-pod value
``base + slope × a`` (milli-units), summed over the containers the metric counts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from analyzer.runtime.forked_columns import can_fork, forked_columns
from analyzer.simulate import hpa_controller
from analyzer.simulate.hpa_conditions import N_REASONS
from analyzer.simulate.hpa_spec import ControllerFlags
from analyzer.simulate.pod_lifecycle import Lifecycle, pod_states
from analyzer.snapshot.hpa import ScalingConfig

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
    missing_share: FloatArray | None = None,
) -> ReplayResult:
    """Run every column's controller over ``demand`` (scrapes × columns, app cores; NaN: no data, held).
    ``missing_share`` (scrapes × columns, default zeros): the share of each column's pods with a metric
    that metrics-server leaves out of each scrape (missing to the HPA; they still serve).

    Scrapes are ``step_s`` apart starting at t = 0; the controller syncs every ``flags.sync_period_s``.
    With ``workers`` > 1 (and ``fork`` available) the columns are split over that many processes
    (:mod:`analyzer.runtime.forked_columns`); the result is identical. Each column runs
    :func:`analyzer.simulate.hpa_controller.replay`.
    """
    workers = min(workers, columns.n // MIN_COLUMNS_PER_WORKER)
    gone = np.zeros(demand.shape) if missing_share is None else missing_share
    rest = (step_s, flags, fallback_max_target, lifecycle)
    if workers < 2 or not can_fork():
        return _replay(columns, demand, gone, initial, *rest)
    hpa_controller.warm()  # once here, not in each worker

    def share(start: int, stop: int) -> dict[str, np.ndarray]:
        part = _replay(columns.take(start, stop), demand[:, start:stop], gone[:, start:stop], initial[start:stop],
                       *rest)  # fmt: skip
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
    missing_share: FloatArray,
    initial: IntArray,
    step_s: float,
    flags: ControllerFlags,
    fallback_max_target: bool,
    lifecycle: Lifecycle | None,
) -> ReplayResult:
    """The replay of ``columns`` in this process."""
    sync_s = flags.sync_period_s
    per_scrape = round(step_s / sync_s)
    if per_scrape < 1 or per_scrape * sync_s != step_s:
        raise ValueError(f"step {step_s}s must be a multiple of the HPA sync period {sync_s}s")
    if not columns.active[0].all():
        raise ValueError("every column needs at least one metric, in row 0")
    life = lifecycle or Lifecycle(scrape_s=step_s)
    ring = _ring(life, flags)
    masks = _state_masks(ring, per_scrape, sync_s, life, flags)
    return ReplayResult(
        **hpa_controller.replay(
            columns, demand, initial, masks, ring, per_scrape, flags, fallback_max_target, missing_share
        )
    )


def _ring(life: Lifecycle, flags: ControllerFlags) -> int:
    """Syncs a new pod stays young: its grouping may change until then (CPU initialization, two scrapes)."""
    return math.ceil((flags.cpu_initialization_period_s + life.scrape_s * 2 + life.init_s) / flags.sync_period_s) + 2


def grouped_alike(a: Lifecycle, b: Lifecycle, flags: ControllerFlags) -> bool:
    """Whether the controller groups every new pod of lifecycle ``a`` as one of ``b`` at every sync (same
    scrapes): then a replay under one is the replay under the other, column for column."""
    per_scrape = round(a.scrape_s / flags.sync_period_s)
    ring = max(_ring(a, flags), _ring(b, flags))
    return all(np.array_equal(x, y) for x, y in zip(_state_masks(ring, per_scrape, flags.sync_period_s, a, flags),
                                                    _state_masks(ring, per_scrape, flags.sync_period_s, b, flags),
                                                    strict=True))  # fmt: skip


def grouped_alike_up_to(life: Lifecycle, flags: ControllerFlags, limit_s: int = 600) -> float:
    """The longest native-sidecar start-up (``Lifecycle.init_s``, whole seconds, at most ``limit_s``) up to
    which the controller groups every new pod of ``life`` as without one at every sync: any start-up up to it
    leaves every replay as it is. With whole-second timings (``life``'s, the sync period, the scrapes) a
    grouping changes only as some time passes a sync, a scrape or a period's end, all whole seconds, and the
    comparisons hold at equality: so whatever is alike at each whole second up to the bound is alike between."""
    for init in range(1, limit_s + 1):
        if not grouped_alike(life, replace(life, init_s=float(init)), flags):
            return float(init - 1)
    return float(limit_s)


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
