"""``autoscaling/v2`` HorizontalPodAutoscaler objects, typed once: their target, limits and ``spec.behavior``
with the API's defaults, the metrics the model replays, and their recorded conditions; and the KEDA
ScaledObjects that generate some of them. What the controller makes of them (its flags, the tolerances
a version allows) is :mod:`analyzer.simulate.hpa_spec`."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from analyzer.errors import ManifestError, QuantityError, clip
from analyzer.snapshot.kube import KSM_SOURCE, SOURCE_ANNOTATION, object_ref
from analyzer.units import milli_value, parse_quantity


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


DEFAULT_CPU_UTILIZATION = 80
"""Target when ``spec.metrics`` is empty (the API's default)."""


@dataclass(frozen=True)
class MetricSpec:
    """One entry of ``spec.metrics`` that the model replays (Resource or ContainerResource).

    ``target`` is a percent for ``Utilization``, milli-units for ``AverageValue``.
    """

    type: str
    resource: str
    container: str | None
    target_type: str
    target: int

    @property
    def is_utilization(self) -> bool:
        return self.target_type == "Utilization"

    def average_value(self) -> str:
        """An AverageValue target as a quantity: millicores for CPU, whole bytes (rounded up) for memory."""
        return f"{self.target}m" if self.resource == "cpu" else str(-(-self.target // 1000))

    def describe(self) -> str:
        where = f"{self.resource} of container {self.container}" if self.container else f"pod {self.resource}"
        unit = "%" if self.is_utilization else "m per pod"
        return f"{self.type} {where} at {self.target}{unit}"


@dataclass(frozen=True)
class HPA:
    """One HPA of the snapshot. Its target and conditions always; the rest as parsed, or ``invalid`` saying
    why it cannot be (``scaling`` None then).

    ``conditions``: its ``status.conditions``, type -> (status, reason; "" when not recorded)."""

    namespace: str
    name: str
    target_kind: str
    target_name: str
    conditions: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    invalid: str = ""
    scaling: ScalingConfig | None = None
    metrics: tuple[MetricSpec, ...] = ()
    unsupported_metrics: tuple[str, ...] = ()
    metrics_uncertain: bool = False
    """Rebuilt from kube-state-metrics, which exports a ContainerResource metric as a Resource one: a
    replayed Resource metric may in truth count only one container."""
    metric_indices: tuple[int, ...] = ()
    """Per entry of ``metrics``, its index in the object's ``spec.metrics`` (-1: the default CPU metric)."""
    raw_metrics: tuple[Any, ...] = field(default=(), compare=False)
    """The object's ``spec.metrics`` entries as the API returned them (every type), for patches that keep them."""
    scaled_object: str = ""
    """The KEDA ScaledObject that owns this HPA (its ownerReference, or the ``scaledobject.keda.sh/name``
    label); KEDA rewrites the HPA from it, so a fix of the HPA goes through the ScaledObject."""
    app_targets: Mapping[str, int] = field(default_factory=dict)
    """The app-level Utilization target (percent) per resource that a pod-level target was set to stand for,
    from :data:`APP_TARGETS_ANNOTATION` (a retarget fix writes it): what the app-only view replays."""
    has_annotations: bool = False
    """``metadata.annotations`` exists (a patch adds one key, or the whole map)."""

    @property
    def target(self) -> str:
        return f"{self.target_kind}/{self.target_name}"


def parse_hpa(obj: dict[str, Any]) -> HPA:
    """An HPA object as :class:`HPA`; one that cannot be parsed is kept with the field that is wrong."""
    meta, ref = obj["metadata"], obj["spec"]["scaleTargetRef"]
    conditions = {c["type"]: (c["status"], c.get("reason") or "")
                  for c in (obj.get("status") or {}).get("conditions") or []}  # fmt: skip
    hpa = HPA(meta["namespace"], meta["name"], str(ref["kind"]), str(ref["name"]), conditions)
    try:
        return _parsed(obj, hpa)
    except ManifestError as exc:
        return HPA(hpa.namespace, hpa.name, hpa.target_kind, hpa.target_name, conditions, invalid=str(exc))


def _parsed(obj: dict[str, Any], hpa: HPA) -> HPA:
    """``hpa`` with the fields of ``obj`` that the model reads; raises :class:`ManifestError` naming the field."""
    at = object_ref(obj)
    spec = obj.get("spec") or {}
    behavior = spec.get("behavior")
    if behavior is not None and not isinstance(behavior, dict):
        raise ManifestError(f"{at}: spec.behavior must be an object")
    scaling = ScalingConfig(
        min_replicas=int(spec.get("minReplicas", 1)),
        max_replicas=int(spec["maxReplicas"]),
        up=parse_rules((behavior or {}).get("scaleUp"), DEFAULT_UP, f"{at}: spec.behavior.scaleUp"),
        down=parse_rules((behavior or {}).get("scaleDown"), DEFAULT_DOWN, f"{at}: spec.behavior.scaleDown"),
        has_behavior=behavior is not None,
    )
    metrics: list[MetricSpec] = []
    indices: list[int] = []
    unsupported: list[str] = []
    declared = spec.get("metrics") or []
    raw_metrics = declared or [
        {
            "type": "Resource",
            "resource": {
                "name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": DEFAULT_CPU_UTILIZATION},
            },
        }
    ]
    for i, raw in enumerate(raw_metrics):
        kind = raw.get("type")
        if kind not in ("Resource", "ContainerResource"):
            unsupported.append(f"{kind} metric #{i}")
            continue
        body = raw.get("resource" if kind == "Resource" else "containerResource") or {}
        metrics.append(_metric(kind, body, f"{at}: spec.metrics[{i}]"))
        indices.append(i if declared else -1)
    return HPA(
        hpa.namespace,
        hpa.name,
        hpa.target_kind,
        hpa.target_name,
        hpa.conditions,
        scaling=scaling,
        metrics=tuple(metrics),
        unsupported_metrics=tuple(unsupported),
        metrics_uncertain=(obj["metadata"].get("annotations") or {}).get(SOURCE_ANNOTATION) == KSM_SOURCE
        and any(m.type == "Resource" for m in metrics),
        metric_indices=tuple(indices),
        raw_metrics=tuple(declared),
        scaled_object=_scaled_object(obj["metadata"]),
        app_targets=app_targets(obj, at),
        has_annotations=isinstance(obj["metadata"].get("annotations"), dict),
    )


KEDA_LABEL = "scaledobject.keda.sh/name"


def _scaled_object(meta: dict[str, Any]) -> str:
    owner = next((r["name"] for r in meta.get("ownerReferences") or [] if r.get("kind") == "ScaledObject"), "")
    return owner or (meta.get("labels") or {}).get(KEDA_LABEL, "")


def _metric(kind: str, body: dict[str, Any], where: str) -> MetricSpec:
    resource = body.get("name")
    if resource not in ("cpu", "memory"):
        raise ManifestError(f"{where}: resource name must be cpu or memory, got {clip(resource)}")
    container = body.get("container")
    if kind == "ContainerResource" and not container:
        raise ManifestError(f"{where}: containerResource.container is missing")
    target = body.get("target") or {}
    target_type = target.get("type")
    if target_type == "Utilization":
        value = target.get("averageUtilization")
        if not isinstance(value, int) or value <= 0:
            raise ManifestError(f"{where}: target.averageUtilization must be a positive integer")
        return MetricSpec(kind, resource, container, "Utilization", value)
    if target_type == "AverageValue":
        try:
            value = milli_value(target.get("averageValue"))
        except QuantityError as exc:
            raise ManifestError(f"{where}: target.averageValue: {exc}") from exc
        return MetricSpec(kind, resource, container, "AverageValue", value)
    raise ManifestError(f"{where}: target.type must be Utilization or AverageValue for a resource metric")


APP_TARGETS_ANNOTATION = "sidecar-impact.io/app-targets"
"""On an HPA (or the KEDA ScaledObject that generates it): a JSON object from resource (``cpu``,
``memory``) to the app-level Utilization target its pod-level target was set to stand for, e.g.
``{"cpu": 70}`` on an HPA retargeted to 24 %. The retarget fix writes it, so that the next analysis
replays the app alone at 70 %, not at 24 %, and does not take the fix for a new skew."""


def app_targets(obj: Mapping[str, Any], at: str) -> dict[str, int]:
    """The :data:`APP_TARGETS_ANNOTATION` of ``obj``; a malformed one raises :class:`ManifestError`."""
    raw = ((obj.get("metadata") or {}).get("annotations") or {}).get(APP_TARGETS_ANNOTATION)
    if raw is None:
        return {}
    where = f"{at}: metadata.annotations[{APP_TARGETS_ANNOTATION}]"
    try:
        value = json.loads(raw) if isinstance(raw, str) else None
    except ValueError:
        value = None
    if not isinstance(value, dict) or not all(
        k in ("cpu", "memory") and isinstance(v, int) and not isinstance(v, bool) and 0 < v <= 10_000
        for k, v in value.items()
    ):
        raise ManifestError(f"{where}: must be a JSON object from cpu or memory to a percentage (1 to 10000)")
    return dict(value)


@dataclass(frozen=True)
class ScaledObject:
    """A KEDA ScaledObject: named for the HPA it generates, its :data:`APP_TARGETS_ANNOTATION` (an invalid
    one makes ``invalid`` say why); ``raw`` as collected, for the patch builders."""

    namespace: str
    name: str
    raw: Mapping[str, Any] = field(compare=False)
    app_targets: Mapping[str, int] = field(default_factory=dict)
    invalid: str = ""


def parse_scaled_object(obj: dict[str, Any]) -> ScaledObject:
    try:
        targets, invalid = app_targets(obj, object_ref(obj)), ""
    except ManifestError as exc:
        targets, invalid = {}, str(exc)
    return ScaledObject(obj["metadata"]["namespace"], obj["metadata"]["name"], obj, targets, invalid)
