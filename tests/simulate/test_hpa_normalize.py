"""Stabilization, scale-up limits and behavior policies, sync by sync (horizontal.go)."""

from __future__ import annotations

import numpy as np

from analyzer.simulate.hpa_controller import Controllers
from analyzer.simulate.hpa_spec import ControllerFlags
from analyzer.snapshot.hpa import DEFAULT_DOWN, Policy, PolicyType, Rules, ScalingConfig, Select


def drive(config: ScalingConfig, current: int, proposals: list[int]) -> list[int]:
    """Feed one proposal per 15 s sync and apply each decision, like the controller."""
    n = Controllers([config], ControllerFlags())
    out = []
    for k, p in enumerate(proposals):
        current = int(n.step(15.0 * k, np.array([current]), np.array([p]))[0])
        out.append(current)
    return out


def test_scale_down_waits_for_the_300s_window() -> None:
    # proposal drops from 10 to 4 at t=0: the window still holds 10 until the sample at t=0 ages out
    history = drive(ScalingConfig(1, 20), 10, [10] + [4] * 22)
    assert history[:21] == [10] * 21  # t = 0 .. 300 s: 10 is within [now - 300, now]
    assert history[21] == 4  # t = 315 s


def test_scale_up_limited_to_double_or_four() -> None:
    assert drive(ScalingConfig(1, 100), 1, [50]) == [4]
    assert drive(ScalingConfig(1, 100), 10, [50]) == [20]
    assert drive(ScalingConfig(1, 15), 10, [50]) == [15]


def test_min_and_max_guards() -> None:
    assert drive(ScalingConfig(3, 10), 12, [12]) == [10]
    assert drive(ScalingConfig(3, 10), 1, [1]) == [3]
    assert drive(ScalingConfig(3, 10), 0, [5]) == [0]  # spec.replicas 0: autoscaling disabled


def test_invalid_metric_keeps_current() -> None:
    assert drive(ScalingConfig(1, 10), 5, [-1, -1]) == [5, 5]


def test_behavior_default_scale_up_allows_max_of_4_pods_or_100_percent() -> None:
    cfg = ScalingConfig(1, 100, has_behavior=True)
    # from 3: Pods 3+4 = 7, Percent ceil(3*2) = 6 -> Max picks 7; next sync the period (15 s) has passed
    assert drive(cfg, 3, [40, 40]) == [7, 14]


def test_behavior_pods_policy_counts_changes_within_the_period() -> None:
    up = Rules(0, Select.MAX, (Policy(PolicyType.PODS, 2, 60),), None)
    cfg = ScalingConfig(1, 100, up=up, down=DEFAULT_DOWN, has_behavior=True)
    # +2 at t=0, then nothing until t=60 s when the first event leaves the 60 s period
    assert drive(cfg, 2, [20] * 6) == [4, 4, 4, 4, 6, 6]


def test_behavior_scale_down_percent_truncates() -> None:
    down = Rules(0, Select.MAX, (Policy(PolicyType.PERCENT, 30, 15),), None)
    cfg = ScalingConfig(1, 100, down=down, has_behavior=True)
    # int(10 * 0.7) = 7, then int(7 * 0.7) = 4 (4.9 truncated), then int(4 * 0.7) = 2
    assert drive(cfg, 10, [1, 1, 1]) == [7, 4, 2]


def test_behavior_select_min_and_disabled() -> None:
    up_min = Rules(0, Select.MIN, (Policy(PolicyType.PODS, 4, 15), Policy(PolicyType.PERCENT, 100, 15)), None)
    assert drive(ScalingConfig(1, 100, up=up_min, has_behavior=True), 10, [40]) == [14]
    disabled = Rules(None, Select.DISABLED, DEFAULT_DOWN.policies, None)
    assert drive(ScalingConfig(1, 100, down=disabled, has_behavior=True), 10, [2, 2]) == [10, 10]


def test_behavior_down_window_uses_strictly_newer_samples() -> None:
    down = Rules(30, Select.MAX, DEFAULT_DOWN.policies, None)
    cfg = ScalingConfig(1, 100, down=down, has_behavior=True)
    # samples at 0 (10), 15, 30 (4): at t=30 the t=0 sample is not After(now-30) -> scale down at t=30
    assert drive(cfg, 10, [10, 4, 4]) == [10, 10, 4]


def test_a_new_controller_seeds_its_window_with_the_current_replicas() -> None:
    # horizontal.go: the first sync of an HPA records {currentReplicas, now}; scale-down waits 300 s.
    history = drive(ScalingConfig(1, 20), 10, [4] * 23)
    assert history[:21] == [10] * 21
    assert history[21] == 4
