"""The status conditions each sync leaves, row by row from kubernetes/kubernetes
pkg/controller/podautoscaler/horizontal.go: ``reconcileAutoscaler`` (the guards, ``SucceededGetScale``,
``SucceededRescale``, ``ScalingDisabled``), ``computeReplicasForMetrics`` (``ValidMetricFound`` or the
failing metric's reason), ``normalizeDesiredReplicas`` with ``convertDesiredReplicasWithRules``, and
``normalizeDesiredReplicasWithBehaviors`` with ``stabilizeRecommendationWithBehaviors`` and
``convertDesiredReplicasWithBehaviorRate``."""

from __future__ import annotations

import numpy as np
import pytest

from analyzer.simulate.hpa_conditions import REASON_TEXT, Reason
from analyzer.simulate.hpa_controller import Controllers
from analyzer.simulate.hpa_spec import ControllerFlags
from analyzer.snapshot.hpa import DEFAULT_DOWN, DEFAULT_UP, Policy, PolicyType, Rules, ScalingConfig, Select

R = Reason
PLAIN = ScalingConfig(2, 10)
ONE_POD_A_MINUTE = ScalingConfig(
    2, 10, up=Rules(0, Select.MAX, (Policy(PolicyType.PODS, 1, 60),), None),
    down=Rules(0, Select.MAX, (Policy(PolicyType.PODS, 1, 60),), None), has_behavior=True,
)  # fmt: skip
DEFAULTS = ScalingConfig(2, 10, up=DEFAULT_UP, down=DEFAULT_DOWN, has_behavior=True)


def conditions(config: ScalingConfig, current: int, proposals: list[int]) -> tuple[int, list[tuple[R, R, R]]]:
    """Drive one HPA sync by sync from ``current``; the final replicas and each sync's conditions."""
    n = Controllers([config], ControllerFlags())
    out = []
    for k, p in enumerate(proposals):
        current = int(n.step(15.0 * k, np.array([current]), np.array([p]))[0])
        out.append(tuple(R(int(c)) for c in n.conditions[:, 0]))
    return current, out


@pytest.mark.parametrize(
    ("config", "current", "proposals", "replicas", "last"),
    [
        # No behavior: a proposal within range that matches current: ReadyForNewScale, DesiredWithinRange.
        (PLAIN, 4, [4], 4, (R.READY_FOR_NEW_SCALE, R.VALID_METRIC_FOUND, R.DESIRED_WITHIN_RANGE)),
        # A rescale replaces the AbleToScale reason with SucceededRescale.
        (PLAIN, 4, [6], 6, (R.SUCCEEDED_RESCALE, R.VALID_METRIC_FOUND, R.DESIRED_WITHIN_RANGE)),
        # Above maxReplicas (and max <= 2*current): clamped, ScalingLimited True TooManyReplicas.
        (PLAIN, 6, [15], 10, (R.SUCCEEDED_RESCALE, R.VALID_METRIC_FOUND, R.TOO_MANY_REPLICAS)),
        # Already at max and still asking for more: no rescale, still TooManyReplicas (pinned).
        (PLAIN, 10, [15], 10, (R.READY_FOR_NEW_SCALE, R.VALID_METRIC_FOUND, R.TOO_MANY_REPLICAS)),
        # max > max(2*current, 4): the 2x/4 scale-up limit binds: ScaleUpLimit.
        (ScalingConfig(2, 40), 3, [30], 6, (R.SUCCEEDED_RESCALE, R.VALID_METRIC_FOUND, R.SCALE_UP_LIMIT)),
        # First sync below current: the seeded recommendation (recordInitialRecommendation) wins.
        (PLAIN, 2, [1], 2, (R.SCALE_DOWN_STABILIZED, R.VALID_METRIC_FOUND, R.DESIRED_WITHIN_RANGE)),
        # Once the seed has aged out of the window: below minReplicas, TooFewReplicas.
        (PLAIN, 2, [1] * 22, 2, (R.READY_FOR_NEW_SCALE, R.VALID_METRIC_FOUND, R.TOO_FEW_REPLICAS)),
        # A drop inside the 300 s downscale window: the window's max applies: ScaleDownStabilized.
        (PLAIN, 6, [6, 3], 6, (R.SCALE_DOWN_STABILIZED, R.VALID_METRIC_FOUND, R.DESIRED_WITHIN_RANGE)),
        # Metrics fail: ScalingActive False, AbleToScale back to SucceededGetScale, ScalingLimited kept
        # from the previous sync (TooManyReplicas here).
        (PLAIN, 10, [15, -1], 10, (R.SUCCEEDED_GET_SCALE, R.FAILED_GET_METRIC, R.TOO_MANY_REPLICAS)),
        # Target at 0 replicas with minReplicas 2: ScalingDisabled; nothing else set yet.
        (PLAIN, 0, [5], 0, (R.SUCCEEDED_GET_SCALE, R.SCALING_DISABLED, R.NONE)),
        # Above maxReplicas before any metric: the guard rescales to max; ScalingActive not set yet.
        (PLAIN, 12, [12], 10, (R.SUCCEEDED_RESCALE, R.NONE, R.NONE)),
        # Behavior, one pod a minute up: 4 -> 8 asked, 5 allowed: ScaleUpLimit.
        (ONE_POD_A_MINUTE, 4, [8], 5, (R.SUCCEEDED_RESCALE, R.VALID_METRIC_FOUND, R.SCALE_UP_LIMIT)),
        # ... and down: 8 -> 3 asked (no stabilization window), 7 allowed: ScaleDownLimit.
        (ONE_POD_A_MINUTE, 8, [3], 7, (R.SUCCEEDED_RESCALE, R.VALID_METRIC_FOUND, R.SCALE_DOWN_LIMIT)),
        # Down to min through the policy: min binds first: TooFewReplicas.
        (ONE_POD_A_MINUTE, 3, [1], 2, (R.SUCCEEDED_RESCALE, R.VALID_METRIC_FOUND, R.TOO_FEW_REPLICAS)),
        # Default behavior (300 s down window): a drop is held by the window: ScaleDownStabilized.
        (DEFAULTS, 6, [6, 3], 6, (R.SCALE_DOWN_STABILIZED, R.VALID_METRIC_FOUND, R.DESIRED_WITHIN_RANGE)),
        # Default behavior scale-up (100 % or 4 pods per 15 s, Max): 9 -> 12 asked, capped at max 10.
        (DEFAULTS, 9, [12], 10, (R.SUCCEEDED_RESCALE, R.VALID_METRIC_FOUND, R.TOO_MANY_REPLICAS)),
    ],
)  # fmt: skip
def test_each_sync_leaves_the_controllers_conditions(config, current, proposals, replicas, last) -> None:
    final, seen = conditions(config, current, proposals)
    assert final == replicas
    assert seen[-1] == last


def test_every_reason_has_its_api_text_and_condition_type() -> None:
    assert set(REASON_TEXT) == set(Reason) - {Reason.NONE}
    by_type = {t for t, _, _ in REASON_TEXT.values()}
    assert by_type == {"AbleToScale", "ScalingActive", "ScalingLimited"}
    assert REASON_TEXT[Reason.TOO_MANY_REPLICAS] == ("ScalingLimited", "True", "TooManyReplicas")
