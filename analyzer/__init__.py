"""sidecar-impact: how sidecar containers skew Kubernetes autoscaling, as a notebook-friendly API.

Importing the package loads the API on first use and changes nothing process-wide (the command line
sets its own allocator policy: :mod:`analyzer.runtime`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from analyzer.__about__ import __version__
from analyzer.errors import SidecarImpactError, SnapshotError, SourceError

if TYPE_CHECKING:
    from analyzer.api import SAMPLE_DATA, Analysis, analyze, generate, load_snapshot, render, write_sample

__all__ = [
    "SAMPLE_DATA",
    "Analysis",
    "SidecarImpactError",
    "SnapshotError",
    "SourceError",
    "__version__",
    "analyze",
    "generate",
    "load_snapshot",
    "render",
    "write_sample",
]
_API = frozenset(__all__) - {"SidecarImpactError", "SnapshotError", "SourceError", "__version__"}


def __getattr__(name: str) -> Any:
    """The API's names, imported with :mod:`analyzer.api` when first asked for."""
    if name in _API:
        from analyzer import api

        return getattr(api, name)
    raise AttributeError(f"module 'analyzer' has no attribute {name!r}")
