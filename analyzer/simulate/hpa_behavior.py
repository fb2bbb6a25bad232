"""HPA scaling behavior: the API defaults of ``spec.behavior`` and the ``--horizontal-pod-autoscaler-*`` flags."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from analyzer.errors import ManifestError, clip
from analyzer.units import QuantityError, parse_quantity


class Select(IntEnum):
    MAX = 0
    MIN = 1
    DISABLED = 2


class PolicyType(IntEnum):
    NONE = 0
    PODS = 1
    PERCENT = 2


@dataclass(frozen=True)
class Policy:
    type: PolicyType
    value: int
    period_s: int


@dataclass(frozen=True)
class Rules:
    """One direction of ``spec.behavior`` after API defaulting; ``window_s`` None means the flag value."""

    window_s: int | None
    select: Select
    policies: tuple[Policy, ...]
    tolerance: float | None


@dataclass(frozen=True)
class ControllerFlags:
    """kube-controller-manager flags that shape HPA decisions (defaults of kube-controller-manager)."""

    sync_period_s: float = 15.0
    tolerance: float = 0.1
    downscale_stabilization_s: float = 300.0
    cpu_initialization_period_s: float = 300.0
    initial_readiness_delay_s: float = 30.0


DEFAULT_UP = Rules(0, Select.MAX, (Policy(PolicyType.PODS, 4, 15), Policy(PolicyType.PERCENT, 100, 15)), None)
DEFAULT_DOWN = Rules(None, Select.MAX, (Policy(PolicyType.PERCENT, 100, 15),), None)


def parse_rules(raw: dict[str, Any] | None, default: Rules, where: str) -> Rules:
    """Defaulted rules for ``scaleUp`` or ``scaleDown`` (``SetDefaults_HorizontalPodAutoscalerBehavior``)."""
    if raw is None:
        return default
    if not isinstance(raw, dict):
        raise ManifestError(f"{where}: must be an object")
    window = raw.get("stabilizationWindowSeconds", default.window_s)
    if window is not None and (not isinstance(window, int) or not 0 <= window <= 3600):
        raise ManifestError(f"{where}.stabilizationWindowSeconds: must be an integer from 0 to 3600")
    select_raw = raw.get("selectPolicy", "Max")
    try:
        select = {"Max": Select.MAX, "Min": Select.MIN, "Disabled": Select.DISABLED}[select_raw]
    except KeyError as exc:
        raise ManifestError(f"{where}.selectPolicy: must be Max, Min or Disabled, got {clip(select_raw)}") from exc
    policies = default.policies
    if raw.get("policies"):
        parsed = []
        for i, p in enumerate(raw["policies"]):
            kind = {"Pods": PolicyType.PODS, "Percent": PolicyType.PERCENT}.get(p.get("type"))
            value, period = p.get("value"), p.get("periodSeconds")
            if kind is None or not isinstance(value, int) or value <= 0:
                raise ManifestError(f"{where}.policies[{i}]: needs type Pods or Percent and a positive integer value")
            if not isinstance(period, int) or not 0 < period <= 1800:
                raise ManifestError(f"{where}.policies[{i}].periodSeconds: must be an integer from 1 to 1800")
            parsed.append(Policy(kind, value, period))
        policies = tuple(parsed)
    tolerance = None
    if raw.get("tolerance") is not None:
        try:
            tolerance = float(parse_quantity(raw["tolerance"]))
        except QuantityError as exc:
            raise ManifestError(f"{where}.tolerance: {exc}") from exc
    return Rules(window, select, policies, tolerance)


@dataclass(frozen=True)
class ScalingConfig:
    """Scaling limits and behavior of one HPA (``has_behavior`` False: the pre-behavior algorithm)."""

    min_replicas: int
    max_replicas: int
    up: Rules = DEFAULT_UP
    down: Rules = DEFAULT_DOWN
    has_behavior: bool = False
