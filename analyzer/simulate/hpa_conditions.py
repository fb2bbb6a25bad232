"""The HPA's status conditions as the controller leaves them after each sync, as small integer codes.

``horizontal.go`` sets three conditions per sync (kubernetes/kubernetes pkg/controller/podautoscaler):

- ``AbleToScale``: ``SucceededGetScale`` at the start of every sync; after normalization
  ``ReadyForNewScale``, ``ScaleUpStabilized`` or ``ScaleDownStabilized`` (the stabilized
  recommendation differs from the metrics' one); ``SucceededRescale`` when the sync changes the scale.
- ``ScalingActive``: ``ValidMetricFound`` when ``computeReplicasForMetrics`` succeeds, False with the
  failing metric's reason (``FailedGetResourceMetric``, ...) when it fails, False ``ScalingDisabled``
  when the target has 0 replicas and minReplicas is not 0.
- ``ScalingLimited``: set by normalization only: True ``TooManyReplicas``, ``TooFewReplicas``,
  ``ScaleUpLimit`` or ``ScaleDownLimit`` when the recommendation was clamped, else False
  ``DesiredWithinRange``. A sync that does not normalize (metrics failed, replicas outside
  [min, max], scaling disabled) leaves it as the previous sync left it.
"""

from __future__ import annotations

from enum import IntEnum


class Reason(IntEnum):
    """One condition's reason; ``NONE``: not set yet."""

    NONE = 0
    SUCCEEDED_GET_SCALE = 1
    READY_FOR_NEW_SCALE = 2
    SCALE_UP_STABILIZED = 3
    SCALE_DOWN_STABILIZED = 4
    SUCCEEDED_RESCALE = 5
    VALID_METRIC_FOUND = 6
    FAILED_GET_METRIC = 7
    SCALING_DISABLED = 8
    DESIRED_WITHIN_RANGE = 9
    TOO_MANY_REPLICAS = 10
    TOO_FEW_REPLICAS = 11
    SCALE_UP_LIMIT = 12
    SCALE_DOWN_LIMIT = 13


CONDITION_TYPES = ("AbleToScale", "ScalingActive", "ScalingLimited")
"""The order of the three codes a sync records."""

REASON_TEXT = {
    Reason.SUCCEEDED_GET_SCALE: ("AbleToScale", "True", "SucceededGetScale"),
    Reason.READY_FOR_NEW_SCALE: ("AbleToScale", "True", "ReadyForNewScale"),
    Reason.SCALE_UP_STABILIZED: ("AbleToScale", "True", "ScaleUpStabilized"),
    Reason.SCALE_DOWN_STABILIZED: ("AbleToScale", "True", "ScaleDownStabilized"),
    Reason.SUCCEEDED_RESCALE: ("AbleToScale", "True", "SucceededRescale"),
    Reason.VALID_METRIC_FOUND: ("ScalingActive", "True", "ValidMetricFound"),
    Reason.FAILED_GET_METRIC: ("ScalingActive", "False", "FailedGetResourceMetric"),
    Reason.SCALING_DISABLED: ("ScalingActive", "False", "ScalingDisabled"),
    Reason.DESIRED_WITHIN_RANGE: ("ScalingLimited", "False", "DesiredWithinRange"),
    Reason.TOO_MANY_REPLICAS: ("ScalingLimited", "True", "TooManyReplicas"),
    Reason.TOO_FEW_REPLICAS: ("ScalingLimited", "True", "TooFewReplicas"),
    Reason.SCALE_UP_LIMIT: ("ScalingLimited", "True", "ScaleUpLimit"),
    Reason.SCALE_DOWN_LIMIT: ("ScalingLimited", "True", "ScaleDownLimit"),
}
"""(condition type, status, reason as the API shows it). A failed metric's reason depends on its type
(``FailedGetContainerResourceMetric`` for ContainerResource); the code keeps one for all."""

N_REASONS = len(Reason)

MEANING = {
    Reason.TOO_MANY_REPLICAS: "pinned at maxReplicas",
    Reason.TOO_FEW_REPLICAS: "held at minReplicas",
    Reason.SCALE_UP_LIMIT: "held back by the scale-up rate limit",
    Reason.SCALE_DOWN_LIMIT: "held back by the scale-down rate limit",
    Reason.SCALE_DOWN_STABILIZED: "kept up by the scale-down stabilization window",
    Reason.SCALE_UP_STABILIZED: "kept down by the scale-up stabilization window",
    Reason.FAILED_GET_METRIC: "unable to compute a replica count (scaling frozen)",
    Reason.SCALING_DISABLED: "scaling disabled (the target has 0 replicas)",
}
"""What the reasons that explain a stuck HPA mean, in words."""

CONDITION_MESSAGES = {
    Reason.SUCCEEDED_GET_SCALE: "the HPA controller was able to get the target's current scale",
    Reason.READY_FOR_NEW_SCALE: "recommended size matches current size",
    Reason.SCALE_UP_STABILIZED: "recent recommendations were lower than current one, applying the lowest recent "
    "recommendation",
    Reason.SCALE_DOWN_STABILIZED: "recent recommendations were higher than current one, applying the highest "
    "recent recommendation",
    Reason.SUCCEEDED_RESCALE: "the HPA controller was able to update the target scale",
    Reason.VALID_METRIC_FOUND: "the HPA was able to successfully calculate a replica count",
    Reason.FAILED_GET_METRIC: "the HPA was unable to compute the replica count",
    Reason.SCALING_DISABLED: "scaling is disabled since the replica count of the target is zero",
    Reason.DESIRED_WITHIN_RANGE: "the desired count is within the acceptable range",
    Reason.TOO_MANY_REPLICAS: "the desired replica count is more than the maximum replica count",
    Reason.TOO_FEW_REPLICAS: "the desired replica count is less than the minimum replica count",
    Reason.SCALE_UP_LIMIT: "the desired replica count is increasing faster than the maximum scale rate",
    Reason.SCALE_DOWN_LIMIT: "the desired replica count is decreasing faster than the maximum scale rate",
}
"""The messages ``horizontal.go`` sets with each reason (the synthetic cluster writes them into status)."""
