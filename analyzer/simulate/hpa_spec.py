"""``autoscaling/v2`` HorizontalPodAutoscaler objects parsed into what the simulators need."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from analyzer.errors import ManifestError, QuantityError, clip
from analyzer.simulate.hpa_behavior import DEFAULT_DOWN, DEFAULT_UP, ControllerFlags, ScalingConfig, parse_rules
from analyzer.simulate.kube_version import KubeVersion
from analyzer.snapshot.objects import object_ref
from analyzer.snapshot.schema import KSM_SOURCE, SOURCE_ANNOTATION
from analyzer.units import milli_value

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
class HPASpec:
    """An HPA's target, scaling config, effective tolerances and replayable metrics."""

    namespace: str
    name: str
    target_kind: str
    target_name: str
    scaling: ScalingConfig
    tol_up: float
    tol_down: float
    metrics: tuple[MetricSpec, ...]
    unsupported_metrics: tuple[str, ...]
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


def parse_hpa(obj: dict[str, Any], version: KubeVersion, flags: ControllerFlags) -> HPASpec:
    """Parse an HPA object; raise :class:`ManifestError` naming the field that is wrong."""
    at = object_ref(obj)
    spec = obj.get("spec") or {}
    ref = spec.get("scaleTargetRef") or {}
    behavior = spec.get("behavior")
    if behavior is not None and not isinstance(behavior, dict):
        raise ManifestError(f"{at}: spec.behavior must be an object")
    up = parse_rules((behavior or {}).get("scaleUp"), DEFAULT_UP, f"{at}: spec.behavior.scaleUp")
    down = parse_rules((behavior or {}).get("scaleDown"), DEFAULT_DOWN, f"{at}: spec.behavior.scaleDown")
    configurable = version.enabled("HPAConfigurableTolerance")
    tol_up = up.tolerance if configurable and up.tolerance is not None else flags.tolerance
    tol_down = down.tolerance if configurable and down.tolerance is not None else flags.tolerance
    scaling = ScalingConfig(
        min_replicas=int(spec.get("minReplicas", 1)),
        max_replicas=int(spec["maxReplicas"]),
        up=up,
        down=down,
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
    return HPASpec(
        namespace=obj["metadata"]["namespace"],
        name=obj["metadata"]["name"],
        target_kind=str(ref.get("kind")),
        target_name=str(ref.get("name")),
        scaling=scaling,
        tol_up=tol_up,
        tol_down=tol_down,
        metrics=tuple(metrics),
        unsupported_metrics=tuple(unsupported),
        metrics_uncertain=(obj["metadata"].get("annotations") or {}).get(SOURCE_ANNOTATION) == KSM_SOURCE
        and any(m.type == "Resource" for m in metrics),
        metric_indices=tuple(indices),
        raw_metrics=tuple(declared),
        scaled_object=_scaled_object(obj["metadata"]),
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


@dataclass(frozen=True)
class HPAObject:
    """One HPA of the snapshot, parsed once for every stage that reads it: its target as written, its
    spec (None when it cannot be parsed, ``invalid`` saying why) and its recorded status conditions
    (type -> (status, reason; "" when not recorded))."""

    namespace: str
    name: str
    target_kind: str
    target_name: str
    spec: HPASpec | None
    invalid: str = ""
    conditions: dict[str, tuple[str, str]] = field(default_factory=dict)

    @property
    def target(self) -> str:
        return f"{self.target_kind}/{self.target_name}"


def parse_hpas(objects: Iterable[dict[str, Any]], version: KubeVersion, flags: ControllerFlags) -> list[HPAObject]:
    """Every HPA object, parsed (:func:`parse_hpa`); one that cannot be is kept with the reason."""
    out = []
    for obj in objects:
        meta, ref = obj["metadata"], obj["spec"]["scaleTargetRef"]
        try:
            spec, invalid = parse_hpa(obj, version, flags), ""
        except ManifestError as exc:
            spec, invalid = None, str(exc)
        conditions = {c["type"]: (c["status"], c.get("reason") or "")
                      for c in (obj.get("status") or {}).get("conditions") or []}  # fmt: skip
        out.append(HPAObject(meta["namespace"], meta["name"], str(ref["kind"]), str(ref["name"]), spec, invalid,
                             conditions))  # fmt: skip
    return out
