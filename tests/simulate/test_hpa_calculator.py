"""The controller's replica calculator (hpa_controller._metric_replicas) and its metric combination against
worked numbers (docs/hpa.md's worked examples, replica_calculator_test.go)."""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np

from analyzer.simulate.hpa_controller import MetricError, combine_metrics, metric_replicas


@dataclass(frozen=True)
class Groups:
    """``groupPods``' counts of one HPA's pods and the ready pods' summed usage (milli-units)."""

    total: int
    ready: int
    unready: int
    missing: int
    with_metrics: int
    ready_usage_m: int
    pod_request_m: int


def groups(ready: int, usage_m: int, request_m: int, unready: int = 0, missing: int = 0) -> Groups:
    return Groups(ready + unready + missing, ready, unready, missing, ready + unready, usage_m, request_m)


def run(
    g: Groups, current: int, target: int, utilization: bool = True, missing_request: bool = False, tol: float = 0.1
):  # type: ignore[no-untyped-def]
    """The controller's one-metric calculation for one HPA: ``.replicas``, ``.value``, ``.error`` (arrays of 1)."""
    a = lambda v: np.array([v])  # noqa: E731
    replicas, value, error = metric_replicas(
        a(g.total), a(g.ready), a(g.unready), a(g.missing), a(g.with_metrics), a(g.ready_usage_m),
        a(g.pod_request_m), a(target), a(utilization), a(missing_request), a(tol), a(tol), a(current),
    )  # fmt: skip
    return SimpleNamespace(replicas=replicas, value=value, error=error)


def test_inflation_istio_proxy_scales_to_15() -> None:
    # 10 pods: app 400/500m + istio-proxy 200/100m -> 600/600 = 100 %, r = 1.43 -> ceil(14.3) = 15
    p = run(groups(10, 10 * 600, 600), current=10, target=70)
    assert (p.value[0], p.replicas[0]) == (100, 15)
    app_only = run(groups(10, 10 * 400, 500), current=10, target=70)
    assert (app_only.value[0], app_only.replicas[0]) == (80, 12)


def test_dilution_cloud_sql_proxy_scales_in_to_5() -> None:
    p = run(groups(10, 10 * 470, 1500), current=10, target=70)
    assert (p.value[0], p.replicas[0]) == (31, 5)
    assert run(groups(10, 10 * 450, 500), current=10, target=70).replicas[0] == 13


def test_masked_sidecar_keeps_ratio_inside_tolerance() -> None:
    # 470/650 = 72.3 % -> truncated to 72, r = 1.029: no change although the app runs at 90 %
    p = run(groups(10, 10 * 470, 650), current=10, target=70)
    assert (p.value[0], p.replicas[0]) == (72, 10)
    # a 100m sidecar request: 470/600 = 78 %, r = 1.114 -> scales, barely
    assert run(groups(10, 10 * 470, 600), current=10, target=70).replicas[0] == 12


def test_upstream_example_three_pods_at_30_percent() -> None:
    # replica_calculator_test.go: 1-CPU requests using 300/500/700m, target 30 % -> 50 %, 5 replicas
    p = run(groups(3, 1500, 1000), current=3, target=30)
    assert (p.value[0], p.replicas[0]) == (50, 5)


def test_tolerance_edge_is_inclusive() -> None:
    assert run(groups(10, 10 * 110, 100), current=10, target=100).replicas[0] == 10  # r = 1.10
    assert run(groups(10, 10 * 111, 100), current=10, target=100).replicas[0] == 12  # r = 1.11
    assert run(groups(10, 10 * 90, 100), current=10, target=100).replicas[0] == 10  # r = 0.90
    assert run(groups(10, 10 * 89, 100), current=10, target=100).replicas[0] == 9


def test_missing_pods_count_at_target_on_scale_down() -> None:
    # 4 ready pods at 20 % of 1000m, 1 missing, target 50: first ratio 0.4; the missing pod is assumed at
    # max(100, 50) = 100 % -> (800 + 1000) / 5000 = 36 %, r' = 0.72 -> ceil(3.6) = 4
    p = run(groups(4, 800, 1000, missing=1), current=5, target=50)
    assert p.replicas[0] == 4


def test_missing_pods_count_at_zero_on_scale_up() -> None:
    # 2 ready at 100 % of 1000m, 2 missing, target 50: r = 2; missing at 0 -> 2000/4000 = 50 %: r' = 1 -> hold
    assert run(groups(2, 2000, 1000, missing=2), current=4, target=50).replicas[0] == 4
    # busier: 150 % -> 3000/4000 = 75 %, r' = 1.5 -> ceil(6) = 6
    assert run(groups(2, 3000, 1000, missing=2), current=4, target=50).replicas[0] == 6


def test_unready_pods_count_at_zero_on_scale_up() -> None:
    # 3 ready at 90 % of 500m, 1 unready, target 50: r = 1.8 -> with the unready pod at 0: 1350/2000 = 67 %,
    # r' = 1.34 -> ceil(5.36) = 6
    p = run(groups(3, 1350, 500, unready=1), current=4, target=50)
    assert (p.value[0], p.replicas[0]) == (90, 6)


def test_second_pass_that_flips_direction_holds() -> None:
    # 1 ready at 120 % (r = 1.2 at target 100); 3 missing at 0 -> 30 %: direction flips -> hold at current
    assert run(groups(1, 1200, 1000, missing=3), current=4, target=100).replicas[0] == 4


def test_missing_request_fails_the_metric() -> None:
    p = run(groups(3, 900, 500), current=3, target=70, missing_request=True)
    assert p.replicas[0] == -1 and p.error[0] == MetricError.MISSING_REQUEST


def test_no_ready_pods_is_an_error() -> None:
    assert run(groups(0, 0, 500, unready=3), current=3, target=70).error[0] == MetricError.NO_READY_METRICS


def test_average_value_uses_truncated_mean() -> None:
    # 3 pods using 250m, 260m, 280m against 200m per pod: mean 263 -> r = 1.315 -> ceil(3.945) = 4
    p = run(groups(3, 790, 0), current=3, target=200, utilization=False)
    assert (p.value[0], p.replicas[0]) == (263, 4)


def test_rows_are_independent() -> None:
    replicas, value, _ = metric_replicas(
        np.array([10, 10]), np.array([10, 10]), np.zeros(2), np.zeros(2), np.array([10, 10]), np.array([6000, 4700]),
        np.array([600, 1500]), np.array([70, 70]), np.array([True, True]), np.array([False, False]),
        np.array([0.1, 0.1]), np.array([0.1, 0.1]), np.array([10, 10]),
    )  # fmt: skip
    assert replicas.tolist() == [15, 5] and value.tolist() == [100, 31]


def test_request_less_sidecar_blocks_scale_down_but_not_scale_up() -> None:
    # metric 0 (cpu) fails on the sidecar; metric 1 (memory) proposes 3 or 8 for an HPA at 5 replicas
    errors = np.array([[MetricError.MISSING_REQUEST, MetricError.MISSING_REQUEST], [0, 0]])
    proposals = np.array([[-1, -1], [3, 8]])
    best, first = combine_metrics(proposals, errors, np.array([5, 5]))
    assert best.tolist() == [-1, 8]
    assert first.tolist() == [MetricError.MISSING_REQUEST] * 2


def test_combine_takes_max_and_ignores_padding() -> None:
    best, first = combine_metrics(
        np.array([[4, 3], [6, 0]]),
        np.zeros((2, 2), np.int64),
        np.array([5, 5]),
        active=np.array([[True, True], [True, False]]),
    )
    assert best.tolist() == [6, 3] and first.tolist() == [0, 0]
