"""``autoscaling.k8s.io/v1`` VerticalPodAutoscaler objects and their per-container policy resolution."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from analyzer.errors import ManifestError, QuantityError, clip
from analyzer.snapshot.kube import object_ref
from analyzer.units import parse_quantity

MODES = ("Auto", "Recreate", "Initial", "InPlaceOrRecreate", "Off")
RESOURCES = ("cpu", "memory")


@dataclass(frozen=True)
class ContainerPolicy:
    """A resolved container policy (API defaults applied). Quantities: cores and bytes."""

    mode: str = "Auto"
    min_allowed: dict[str, float] = field(default_factory=dict)
    max_allowed: dict[str, float] = field(default_factory=dict)
    controlled_resources: tuple[str, ...] = RESOURCES
    controlled_values: str = "RequestsAndLimits"
    source: str = "default"


@dataclass(frozen=True)
class VPASpec:
    namespace: str
    name: str
    target_kind: str
    target_name: str
    update_mode: str
    policies: dict[str, ContainerPolicy]
    policy_index: dict[str, int] = field(default_factory=dict)
    """The ``containerPolicies`` index of the entry that applies to each name (patch builders change it)."""
    resource_policy: dict[str, Any] | None = None
    """``spec.resourcePolicy`` as collected, None when absent: for patch builders, which guard on it."""

    def policy(self, container: str) -> ContainerPolicy:
        """An exact ``containerName`` beats ``"*"``; neither: the defaults (mode Auto, cpu and memory)."""
        return self.policies.get(container) or self.policies.get("*") or ContainerPolicy()

    @property
    def has_catch_all_off(self) -> bool:
        return "*" in self.policies and self.policies["*"].mode == "Off"

    @property
    def evicts(self) -> bool:
        """The updater evicts (or resizes) pods in these modes; Initial and Off only act at admission or never."""
        return self.update_mode in ("Auto", "Recreate", "InPlaceOrRecreate")


def parse_vpa(obj: dict[str, Any]) -> VPASpec:
    """Parse a VPA; a malformed one raises :class:`ManifestError` naming the field."""
    at = object_ref(obj)
    spec = obj.get("spec") or {}
    ref = spec.get("targetRef") or {}
    if not ref.get("kind") or not ref.get("name"):
        raise ManifestError(f"{at}: spec.targetRef needs kind and name")
    mode = (spec.get("updatePolicy") or {}).get("updateMode", "Auto")
    if mode not in MODES:
        raise ManifestError(f"{at}: spec.updatePolicy.updateMode {clip(mode)} is not one of {', '.join(MODES)}")
    policies: dict[str, ContainerPolicy] = {}
    index: dict[str, int] = {}
    resource_policy = spec.get("resourcePolicy")
    raw = (resource_policy or {}).get("containerPolicies") or []
    for i, p in enumerate(raw):
        where = f"{at}: spec.resourcePolicy.containerPolicies[{i}]"
        name = p.get("containerName")
        if not isinstance(name, str) or not name:
            raise ManifestError(f"{where}.containerName is missing")
        cmode = p.get("mode", "Auto")
        if cmode not in ("Auto", "Off"):
            raise ManifestError(f"{where}.mode must be Auto or Off, got {clip(cmode)}")
        controlled = tuple(p.get("controlledResources") or RESOURCES)
        if any(r not in RESOURCES for r in controlled):
            raise ManifestError(f"{where}.controlledResources must list cpu and/or memory")
        values = p.get("controlledValues", "RequestsAndLimits")
        if values not in ("RequestsAndLimits", "RequestsOnly"):
            raise ManifestError(f"{where}.controlledValues must be RequestsAndLimits or RequestsOnly")
        if name in policies and name != "*":
            continue  # GetContainerResourcePolicy: the first entry naming a container applies, the last "*"
        index[name] = i
        policies[name] = ContainerPolicy(
            mode=cmode,
            min_allowed=_quantities(p.get("minAllowed"), f"{where}.minAllowed"),
            max_allowed=_quantities(p.get("maxAllowed"), f"{where}.maxAllowed"),
            controlled_resources=controlled,
            controlled_values=values,
            source=f"containerPolicies[{i}] ({name})",
        )
    return VPASpec(
        namespace=obj["metadata"]["namespace"],
        name=obj["metadata"]["name"],
        target_kind=str(ref["kind"]),
        target_name=str(ref["name"]),
        update_mode=mode,
        policies=policies,
        policy_index=index,
        resource_policy=resource_policy if isinstance(resource_policy, dict) else None,
    )


@dataclass(frozen=True)
class VPAObject:
    """One VPA of the snapshot, parsed once: its target as written, and its spec (None when it cannot be
    parsed, ``invalid`` saying why)."""

    namespace: str
    name: str
    target_kind: str
    target_name: str
    spec: VPASpec | None
    invalid: str = ""


def parse_vpa_object(obj: dict[str, Any]) -> VPAObject:
    """A VPA object as :class:`VPAObject`: a malformed one is kept, with the reason."""
    meta, ref = obj["metadata"], (obj.get("spec") or {}).get("targetRef") or {}
    try:
        spec, invalid = parse_vpa(obj), ""
    except ManifestError as exc:
        spec, invalid = None, str(exc)
    return VPAObject(meta.get("namespace", ""), meta.get("name", ""), str(ref.get("kind", "")),
                     str(ref.get("name", "")), spec, invalid)  # fmt: skip


def _quantities(raw: Any, where: str) -> dict[str, float]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ManifestError(f"{where}: expected a mapping of cpu/memory quantities")
    out = {}
    for res, q in raw.items():
        if res not in RESOURCES:
            continue
        try:
            out[res] = float(parse_quantity(q))
        except QuantityError as exc:
            raise ManifestError(f"{where}.{res}: {exc}") from exc
    return out
