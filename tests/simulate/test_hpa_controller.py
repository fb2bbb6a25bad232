"""The one HPA controller (analyzer.simulate.hpa_controller) against upstream's own cases: every
``replica_calculator_test.go`` case a per-pod Resource or Pods metric can express, its pods' ``groupPods``
verdicts given as counts (ready, unready, missing, with a sample), and the decisions on observed replicas
against worked numbers. Pods in those tests have two containers of 1 CPU each (``numContainersPerPod``),
so a pod requests 2000m and uses twice its level; the utilization is the same."""

from __future__ import annotations

import numpy as np
import pytest

from analyzer.simulate.hpa_controller import MetricError, metric_replicas
from analyzer.simulate.hpa_spec import ControllerFlags
from analyzer.simulate.observed_sync import ObservedSyncs
from analyzer.snapshot.hpa import ScalingConfig

REQUEST = 2000  # milli-CPU per pod: two containers of 1.0

# (upstream test, current, target, Utilization?, pods, ready, unready, missing, with a sample, ready pods'
#  summed usage (milli), expected replicas, expected value (utilization % or average) or error)
CASES = [
    ("TestReplicaCalcScaleUp", 3, 30, True, 3, 3, 0, 0, 3, 2 * (300 + 500 + 700), 5, 50),
    # readiness [False, True, True]: the unready pod counts at 0 on a scale-up
    ("TestReplicaCalcScaleUpUnreadyLessScale", 3, 30, True, 3, 2, 1, 0, 3, 2 * (500 + 700), 4, 60),
    # a pod started within the CPU initialization period without fresh metrics is unready
    ("TestReplicaCalcScaleUpHotCpuLessScale", 3, 30, True, 3, 2, 1, 0, 3, 2 * (500 + 700), 4, 60),
    ("TestReplicaCalcScaleUpUnreadyNoScale", 3, 30, True, 3, 1, 2, 0, 3, 2 * 400, 3, 40),
    ("TestReplicaCalcScaleHotCpuNoScale", 3, 30, True, 3, 1, 2, 0, 3, 2 * 400, 3, 40),
    # Failed pods and pods being deleted are ignored: they are neither ready, unready nor missing
    ("TestReplicaCalcScaleUpIgnoresFailedPods", 2, 30, True, 4, 2, 0, 0, 2, 2 * (500 + 700), 4, 60),
    ("TestReplicaCalcScaleUpIgnoresDeletionPods", 2, 30, True, 4, 2, 0, 0, 2, 2 * (500 + 700), 4, 60),
    ("TestReplicaCalcScaleUpCM", 3, 15000, False, 3, 3, 0, 0, 3, 20000 + 10000 + 30000, 4, 20000),
    # Pods metrics: only Pending pods are unready (readiness and start time are CPU's business)
    ("TestReplicaCalcScaleUpCMUnreadyHotCpuNoLessScale", 3, 15000, False, 3, 3, 0, 0, 3, 90000, 6, 30000),
    ("TestReplicaCalcScaleUpCMUnreadyHotCpuScaleWouldScaleDown", 3, 15000, False, 3, 3, 0, 0, 3, 95000, 7, 31666),
    ("TestReplicaCalcScaleDown", 5, 50, True, 5, 5, 0, 0, 5, 2 * (100 + 300 + 500 + 250 + 250), 3, 28),
    ("TestReplicaCalcScaleDownCM", 5, 20000, False, 5, 5, 0, 0, 5, 5 * 12000, 3, 12000),
    # unready pods are left out on a scale-down
    ("TestReplicaCalcScaleDownIncludeUnreadyPods", 5, 50, True, 5, 3, 2, 0, 5, 2 * (100 + 300 + 500), 2, 30),
    # Pending pods are unready (before missing: they have no sample)
    ("TestReplicaCalcScaleDownExcludeUnscheduledPods", 5, 50, True, 5, 1, 4, 0, 1, 2 * 100, 1, 10),
    ("TestReplicaCalcScaleDownIgnoreHotCpuPods", 5, 50, True, 5, 3, 2, 0, 5, 2 * (100 + 300 + 500), 2, 30),
    ("TestReplicaCalcScaleDownIgnoresFailedPods", 5, 50, True, 7, 5, 0, 0, 5, 2 * 1400, 3, 28),
    ("TestReplicaCalcScaleDownIgnoresDeletionPods", 5, 50, True, 7, 5, 0, 0, 5, 2 * 1400, 3, 28),
    # requests 0.9, 1.0 and 1.1 CPU: their sum is what the ratio divides by
    ("TestReplicaCalcTolerance", 3, 100, True, 3, 3, 0, 0, 3, 2 * (1010 + 1030 + 1020), 3, 102),
    ("TestReplicaCalcToleranceCM", 3, 20000, False, 3, 3, 0, 0, 3, 20000 + 21000 + 21000, 3, 20666),
    # metrics of pods that are not the target's are dropped
    ("TestReplicaCalcSuperfluousMetrics", 4, 100, True, 4, 4, 0, 0, 4, 2 * (4000 + 9500 + 3000 + 7000), 24, 587),
    # missing pods at 100 % of their request on a scale-down
    ("TestReplicaCalcMissingMetrics", 4, 100, True, 4, 2, 0, 2, 2, 2 * (400 + 95), 3, 24),
    ("TestReplicaCalcMissingMetricsNoChangeEq", 2, 100, True, 2, 1, 0, 1, 1, 2 * 1000, 2, 100),
    ("TestReplicaCalcMissingMetricsNoChangeGt", 2, 100, True, 2, 1, 0, 1, 1, 2 * 1900, 2, 190),
    ("TestReplicaCalcMissingMetricsNoChangeLt", 2, 100, True, 2, 1, 0, 1, 1, 2 * 600, 2, 60),
    ("TestReplicaCalcMissingMetricsUnreadyChange", 3, 50, True, 3, 1, 1, 1, 2, 2 * 450, 3, 45),
    ("TestReplicaCalcMissingMetricsHotCpuNoChange", 3, 50, True, 3, 1, 1, 1, 2, 2 * 450, 3, 45),
    ("TestReplicaCalcMissingMetricsUnreadyScaleUp", 3, 50, True, 3, 1, 1, 1, 2, 2 * 2000, 4, 200),
    ("TestReplicaCalcMissingMetricsHotCpuScaleUp", 3, 50, True, 3, 1, 1, 1, 2, 2 * 2000, 4, 200),
    ("TestReplicaCalcMissingMetricsUnreadyScaleDown", 4, 50, True, 4, 2, 1, 1, 3, 2 * (100 + 100), 3, 10),
    # a surge pod without metrics is missing: counted at its request, the result would exceed current: hold
    ("TestReplicaCalcDuringRollingUpdateWithMaxSurge", 2, 50, True, 3, 2, 0, 1, 2, 2 * (100 + 100), 2, 10),
    ("TestReplicaCalcEmptyMetrics", 4, 100, True, 3, 0, 0, 3, 0, 0, -1, MetricError.NO_METRICS),
    ("TestReplicaCalcEmptyCPURequest", 1, 100, True, 1, 1, 0, 0, 1, 200, -1, MetricError.MISSING_REQUEST),
]


@pytest.mark.parametrize(
    ("current", "target", "util", "total", "ready", "unready", "missing", "sampled", "usage", "replicas", "value"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_upstream_replica_calculator_cases(current, target, util, total, ready, unready, missing, sampled, usage,
                                           replicas, value) -> None:  # type: ignore[no-untyped-def]  # fmt: skip
    missing_request = value == MetricError.MISSING_REQUEST and replicas == -1
    got = metric_replicas(
        *(np.array([v]) for v in (total, ready, unready, missing, sampled, usage, 0 if missing_request else REQUEST,
                                  target, util, missing_request, 0.1, 0.1, current)),
    )  # fmt: skip
    if replicas == -1:
        assert (got[0][0], got[2][0]) == (-1, value)
    else:
        assert (got[0][0], got[1][0], got[2][0]) == (replicas, value, 0)


@pytest.mark.parametrize(("target", "expected"), [(56, 9), (55, 10)])
def test_upstream_computed_tolerance(target: int, expected: int) -> None:
    """TestReplicaCalcComputedToleranceAlgImplementation: 10 pods using 150m of 300m (50 %); a target of 56 %
    is just past the 10 % tolerance (9 replicas), 55 % just inside it (no change)."""
    n = np.array([10])
    replicas, value, _ = metric_replicas(n, n, n * 0, n * 0, n, n * 150, n * 30, np.array([target]),
                                         np.array([True]), np.array([False]), 0.1, 0.1, n)  # fmt: skip
    assert (value[0], replicas[0]) == (50, expected)


def test_decisions_on_observed_replicas_follow_the_downscale_window() -> None:
    """Observed at 6 replicas for 10 minutes, proposals 6 then 2 from minute 2: without behavior the controller
    keeps the highest recommendation of the last 5 minutes (--horizontal-pod-autoscaler-downscale-
    stabilization), so it decides 6 until minute 7 and 2 after; where nothing was observed, nothing."""
    minutes = 10
    observed = np.full((minutes, 1), 6.0)
    observed[9, 0] = np.nan
    proposal = np.array([[6, 6] + [2] * (minutes - 2)])
    none = np.zeros((1, minutes), dtype=np.int64)
    syncs = ObservedSyncs((ScalingConfig(1, 10),), observed, proposal, np.ones((1, minutes), dtype=bool), 60.0,
                          none, none)  # fmt: skip
    decided = syncs.decide(ControllerFlags())[:, 0]
    assert decided[:7].tolist() == [6.0] * 7 and decided[7:9].tolist() == [2.0, 2.0] and np.isnan(decided[9])
