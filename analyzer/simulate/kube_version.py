"""The Kubernetes version and feature gates a simulation assumes (never read from globals)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

# Gate -> first minor version where it is on by default (the Kubernetes feature-gate table).
_GATE_DEFAULT_ON = {
    "HPAConfigurableTolerance": 35,
    "PodLevelResources": 34,
}


@dataclass(frozen=True)
class KubeVersion:
    """``minor`` of Kubernetes 1.x, with explicit gate overrides (``{"PodLevelResources": False}``)."""

    minor: int = 34
    gates: Mapping[str, bool] = field(default_factory=dict)

    @classmethod
    def of(cls, recorded: str | None) -> KubeVersion:
        """The version a snapshot records (``"1.<minor>"``, validated at load), or the default."""
        return cls(minor=int(recorded.split(".")[1])) if recorded else cls()

    def enabled(self, gate: str) -> bool:
        if gate in self.gates:
            return bool(self.gates[gate])
        return self.minor >= _GATE_DEFAULT_ON[gate]

    @property
    def counts_native_sidecar_requests(self) -> bool:
        """Restartable init containers' requests join the HPA denominator since 1.29 (kubernetes#120001)."""
        return self.minor >= 29

    @property
    def missing_pod_fallback_is_max_target(self) -> bool:
        """Missing pods on scale-down count at max(100 %, target) since ~1.26, before at 100 %."""
        return self.minor >= 26
