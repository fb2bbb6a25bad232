"""The HPA replica calculator for one metric, vectorised over many HPAs at one sync.

Mirrors ``pkg/controller/podautoscaler/replica_calculator.go`` (``GetResourceReplicas`` and
``calcPlainMetricReplicas``) with integer milli-unit arithmetic. Pods of one HPA are assumed to
share their per-pod request (one template), so the pod groups are given as counts and pooled sums.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np
import numpy.typing as npt

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


@dataclass(frozen=True)
class PodGroups:
    """Per-HPA pod counts and pooled figures at one sync (arrays of one length, milli-units).

    ``ready_usage_m`` is the sum of the metric over the ready pods (those ``groupPods`` keeps);
    ``pod_request_m`` the per-pod request (unused for AverageValue); ``with_metrics`` counts pods
    that have a PodMetrics entry at all; ``total`` every pod the selector returns, ignored included.
    """

    total: IntArray
    ready: IntArray
    unready: IntArray
    missing: IntArray
    with_metrics: IntArray
    ready_usage_m: IntArray
    pod_request_m: IntArray


@dataclass(frozen=True)
class Proposal:
    """What the calculator returns per HPA: ``replicas`` (-1 when ``error`` is set) and the value it saw.

    ``value`` is the truncated utilization percent for Utilization targets, else the average
    per-pod value in milli-units.
    """

    replicas: IntArray
    value: IntArray
    error: IntArray


def within_tolerance(ratio: FloatArray, tol_down: FloatArray, tol_up: FloatArray) -> BoolArray:
    """``Tolerances.isWithin``: ``1 - down <= ratio <= 1 + up``, inclusive (Kubernetes >= 1.33)."""
    return (1.0 - tol_down <= ratio) & (ratio <= 1.0 + tol_up)


def utilization_percent(usage_m: IntArray, request_m: IntArray) -> IntArray:
    """``GetResourceUtilizationRatio``'s ``int32(Σusage × 100 / Σrequest)``: integer, truncated."""
    return (usage_m * 100) // np.maximum(request_m, 1)


def replicas_for_metric(
    groups: PodGroups,
    current: IntArray,
    target: IntArray,
    is_utilization: BoolArray,
    tol_down: FloatArray,
    tol_up: FloatArray,
    missing_request: BoolArray,
    fallback_max_target: bool = True,
) -> Proposal:
    """Proposed replicas for one metric of each HPA, with the second pass over missing/unready pods.

    ``target`` is a utilization percent where ``is_utilization`` else an average value in milli-units.
    ``missing_request`` marks HPAs where a counted container lacks a request (Utilization only).
    """
    g = groups
    util = is_utilization
    all_util = bool(util.all())
    ready_request = g.ready * g.pod_request_m
    error = np.zeros(current.shape, dtype=np.int64)
    suspect = (g.with_metrics == 0) | (g.ready == 0) | (util & (missing_request | (ready_request <= 0)))
    bad = np.nonzero(suspect)[0]
    if len(bad):
        # Order as in the controller: the metrics fetch fails first, then the pod list, then requests.
        u, e = util[bad], np.zeros(len(bad), dtype=np.int64)
        e[g.total[bad] == 0] = MetricError.NO_PODS
        e[g.with_metrics[bad] == 0] = MetricError.NO_METRICS
        e[(e == 0) & u & missing_request[bad]] = MetricError.MISSING_REQUEST
        e[(e == 0) & (g.ready[bad] == 0)] = MetricError.NO_READY_METRICS
        e[(e == 0) & u & (ready_request[bad] <= 0)] = MetricError.ZERO_REQUESTS
        error[bad] = e
    ok = error == 0

    safe_target = np.maximum(target, 1)
    if all_util:
        value = utilization_percent(g.ready_usage_m, ready_request)
    else:
        average = g.ready_usage_m // np.maximum(g.ready, 1)
        value = np.where(util, utilization_percent(g.ready_usage_m, ready_request), average)
    ratio = value / safe_target

    scale_up_with_unready = (g.unready > 0) & (ratio > 1.0)
    first_pass = ~scale_up_with_unready & (g.missing == 0)
    in_band = within_tolerance(ratio, tol_down, tol_up)
    replicas = np.where(in_band, current, np.ceil(ratio * g.ready).astype(np.int64))

    # Second pass, only where needed (pods missing, or unready while scaling up): missing pods are
    # assumed at the fallback on scale-down, at zero on scale-up; unready pods at zero when scaling up.
    # Utilization fills nothing at ratio == 1 exactly, AverageValue fills zero there (its branch is `else`).
    need = np.nonzero(~first_pass)[0]
    if len(need):
        replicas[need] = _second_pass(
            g, need, ratio[need], scale_up_with_unready[need], current[need], target[need], util[need],
            tol_down[need], tol_up[need], fallback_max_target,
        )  # fmt: skip
    replicas = np.where(ok, replicas, -1)
    return Proposal(replicas=replicas.astype(np.int64), value=np.where(ok, value, 0).astype(np.int64), error=error)


def _second_pass(
    g: PodGroups,
    idx: IntArray,
    ratio: FloatArray,
    scale_up_with_unready: BoolArray,
    current: IntArray,
    target: IntArray,
    util: BoolArray,
    tol_down: FloatArray,
    tol_up: FloatArray,
    fallback_max_target: bool,
) -> IntArray:
    """The recomputed proposal for the HPAs at ``idx`` (``calcPlainMetricReplicas``' second half)."""
    missing, ready, unready = g.missing[idx], g.ready[idx], g.unready[idx]
    request, usage = g.pod_request_m[idx], g.ready_usage_m[idx]
    safe_target = np.maximum(target, 1)
    down = ratio < 1.0
    fill_missing = np.where(util, ratio != 1.0, True) & (missing > 0)
    fallback_pct = np.maximum(100, target) if fallback_max_target else np.full_like(target, 100)
    missing_each = np.where(util, request * fallback_pct // 100, target)
    missing_fill = np.where(fill_missing & down, missing * missing_each, 0)
    counted_missing = np.where(fill_missing, missing, 0)
    counted_unready = np.where(scale_up_with_unready, unready, 0)
    entries = ready + counted_missing + counted_unready
    usage2 = usage + missing_fill
    value2 = np.where(util, utilization_percent(usage2, entries * request), usage2 // np.maximum(entries, 1))
    ratio2 = value2 / safe_target
    hold = within_tolerance(ratio2, tol_down, tol_up) | (down & (ratio2 > 1.0)) | ((ratio > 1.0) & (ratio2 < 1.0))
    second = np.ceil(ratio2 * entries).astype(np.int64)
    hold |= ((ratio2 < 1.0) & (second > current)) | ((ratio2 > 1.0) & (second < current))
    return np.where(hold, current, second)


def combine_metrics(
    proposals: IntArray, errors: IntArray, spec_replicas: IntArray, active: BoolArray | None = None
) -> tuple[IntArray, IntArray]:
    """``computeReplicasForMetrics`` over metrics (rows) of each HPA (columns).

    The proposal is the max over valid metrics; -1 (no scaling) when every metric is invalid, or when
    some are and the max is below ``spec.replicas``: a request-less sidecar blocks all scale-down.
    ``active`` marks the rows that are real metrics of each HPA (HPAs with fewer metrics are padded).
    Returns the proposals and the first error per HPA (0 where none).
    """
    active = np.ones(proposals.shape, dtype=bool) if active is None else active
    invalid = (errors != 0) & active
    best = np.where(invalid | ~active, -1, proposals).max(axis=0)
    n_invalid = invalid.sum(axis=0)
    blocked = (n_invalid >= active.sum(axis=0)) | ((n_invalid > 0) & (best < spec_replicas))
    first = np.argmax(invalid, axis=0)
    first_error = np.where(n_invalid > 0, errors[first, np.arange(errors.shape[1])], 0)
    return np.where(blocked, -1, best), first_error
