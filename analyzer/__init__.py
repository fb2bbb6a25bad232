"""sidecar-impact: how sidecar containers skew Kubernetes autoscaling, as a notebook-friendly API."""

from analyzer import allocator  # noqa: F401  (first: before pyarrow loads)
from analyzer.__about__ import __version__
from analyzer.api import SAMPLE_DATA, Analysis, analyze, generate, load_snapshot, render, write_sample
from analyzer.errors import SidecarImpactError, SnapshotError, SourceError

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
