"""How the HPA groups *observed* pods at one sync (``groupPods`` in kubernetes/kubernetes
pkg/controller/podautoscaler/replica_calculator.go), vectorised over (pod, time) rows.

For each pod the selector returns, in this order:

1. a pod with a ``deletionTimestamp`` or in phase ``Failed`` is ignored;
2. a ``Pending`` pod is unready;
3. a pod without a metric is missing;
4. for CPU only, a pod is unready when it has no Ready condition or no start time; within
   ``--horizontal-pod-autoscaler-cpu-initialization-period`` of its start, when it is not Ready or its
   metric was taken less than one metric window after the Ready condition's last transition; after
   that, when it is not Ready and turned so within
   ``--horizontal-pod-autoscaler-initial-readiness-delay`` of its start (it has never been ready);
5. every other pod is ready and its metric counts.

:mod:`analyzer.simulate.pod_lifecycle` is the same rule for simulated pods, whose states follow from
their age alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from analyzer.simulate.hpa_spec import ControllerFlags

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class PodRows:
    """One row per (pod, sync time); times in seconds since the epoch (NaN: not known).

    ``ready``: the Ready condition's status (False also where the pod has no Ready condition, see
    ``has_ready_condition``); ``ready_since_s``: that condition's lastTransitionTime.
    """

    now_s: FloatArray
    deleting: BoolArray
    failed: BoolArray
    pending: BoolArray
    has_ready_condition: BoolArray
    ready: BoolArray
    ready_since_s: FloatArray
    start_s: FloatArray
    has_metric: BoolArray
    metric_s: FloatArray
    window_s: float


@dataclass(frozen=True)
class Groups:
    """Masks over the rows: exactly one of ``ignored``, ``unready``, ``missing``, ``ready`` is set per row."""

    ignored: BoolArray
    unready: BoolArray
    missing: BoolArray
    ready: BoolArray


def group_pods(rows: PodRows, is_cpu: bool, flags: ControllerFlags) -> Groups:
    """``groupPods`` for one metric over every row."""
    r = rows
    ignored = r.deleting | r.failed
    unready = ~ignored & r.pending
    missing = ~ignored & ~unready & ~r.has_metric
    counted = ~ignored & ~unready & ~missing
    if is_cpu:
        with np.errstate(invalid="ignore"):
            no_info = ~r.has_ready_condition | np.isnan(r.start_s)
            in_init = r.start_s + flags.cpu_initialization_period_s > r.now_s
            early = ~r.ready | (r.metric_s < r.ready_since_s + r.window_s)
            never_ready = ~r.ready & (r.start_s + flags.initial_readiness_delay_s > r.ready_since_s)
        cpu_unready = counted & (no_info | np.where(in_init, early, never_ready))
        unready = unready | cpu_unready
        counted = counted & ~cpu_unready
    return Groups(ignored=ignored, unready=unready, missing=missing, ready=counted)
