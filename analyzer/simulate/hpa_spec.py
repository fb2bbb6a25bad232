"""HPAs as the controller runs them: its ``--horizontal-pod-autoscaler-*`` flags, and each typed HPA
(:class:`analyzer.snapshot.hpa.HPA`) with the tolerances its flags and version give it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from analyzer.simulate.kube_version import KubeVersion
from analyzer.snapshot.hpa import HPA, MetricSpec, ScalingConfig


@dataclass(frozen=True)
class ControllerFlags:
    """kube-controller-manager flags that shape HPA decisions (defaults of kube-controller-manager)."""

    sync_period_s: float = 15.0
    tolerance: float = 0.1
    downscale_stabilization_s: float = 300.0
    cpu_initialization_period_s: float = 300.0
    initial_readiness_delay_s: float = 30.0


@dataclass(frozen=True)
class HPASpec:
    """An HPA as the controller runs it: :class:`~analyzer.snapshot.hpa.HPA`'s fields (documented there) with
    the effective tolerances."""

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
    metric_indices: tuple[int, ...] = ()
    raw_metrics: tuple[Any, ...] = field(default=(), compare=False)
    scaled_object: str = ""
    app_targets: Mapping[str, int] = field(default_factory=dict)
    has_annotations: bool = False

    def app_target(self, metric: MetricSpec) -> int:
        """The Utilization target the app alone is held to for ``metric``: its own, or for a pod-level
        (Resource) Utilization metric the app-level target it was set to stand for (when recorded)."""
        if metric.container is None and metric.is_utilization:
            return int(self.app_targets.get(metric.resource, metric.target))
        return metric.target


def hpa_spec(hpa: HPA, version: KubeVersion, flags: ControllerFlags) -> HPASpec:
    """A parsed HPA (``hpa.scaling`` set) as the controller runs it: ``spec.behavior``'s tolerances where
    the version's HPAConfigurableTolerance gate lets it have them, else the flag's."""
    assert hpa.scaling is not None, "an invalid HPA has no spec"
    configurable = version.enabled("HPAConfigurableTolerance")
    up, down = hpa.scaling.up, hpa.scaling.down
    return HPASpec(
        namespace=hpa.namespace,
        name=hpa.name,
        target_kind=hpa.target_kind,
        target_name=hpa.target_name,
        scaling=hpa.scaling,
        tol_up=up.tolerance if configurable and up.tolerance is not None else flags.tolerance,
        tol_down=down.tolerance if configurable and down.tolerance is not None else flags.tolerance,
        metrics=hpa.metrics,
        unsupported_metrics=hpa.unsupported_metrics,
        metrics_uncertain=hpa.metrics_uncertain,
        metric_indices=hpa.metric_indices,
        raw_metrics=hpa.raw_metrics,
        scaled_object=hpa.scaled_object,
        app_targets=hpa.app_targets,
        has_annotations=hpa.has_annotations,
    )


@dataclass(frozen=True)
class HPAObject:
    """One HPA of the snapshot with its spec as the controller runs it (None when it cannot be parsed)."""

    hpa: HPA
    spec: HPASpec | None

    @property
    def namespace(self) -> str:
        return self.hpa.namespace

    @property
    def name(self) -> str:
        return self.hpa.name

    @property
    def target_kind(self) -> str:
        return self.hpa.target_kind

    @property
    def target_name(self) -> str:
        return self.hpa.target_name

    @property
    def target(self) -> str:
        return self.hpa.target

    @property
    def invalid(self) -> str:
        return self.hpa.invalid

    @property
    def conditions(self) -> Mapping[str, tuple[str, str]]:
        return self.hpa.conditions


def parse_hpas(hpas: Iterable[HPA], version: KubeVersion, flags: ControllerFlags) -> list[HPAObject]:
    """Every HPA of the snapshot with its spec (:func:`hpa_spec`; None for one that cannot be parsed)."""
    return [HPAObject(h, None if h.invalid else hpa_spec(h, version, flags)) for h in hpas]
