"""The library API that the CLI and notebooks share: load, generate, analyze, render."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from analyzer.findings.hpa_status import hpa_table
from analyzer.model.workloads import container_table, pod_owners
from analyzer.render import registry
from analyzer.simulate.hpa_behavior import ControllerFlags
from analyzer.simulate.kube_version import KubeVersion
from analyzer.snapshot.schema import Metadata, Snapshot
from analyzer.snapshot.store import load_snapshot as _load
from analyzer.synth.generate import Synthetic, generate, write_sample

PACKAGE_ROOT = Path(__file__).resolve().parent.parent
SAMPLE_DATA = PACKAGE_ROOT / "sample_data"
REPORTS = PACKAGE_ROOT / "reports"

__all__ = ["SAMPLE_DATA", "Analysis", "analyze", "generate", "load_snapshot", "render", "write_sample"]


def load_snapshot(path: str | os.PathLike[str] = SAMPLE_DATA, namespaces: Iterable[str] | None = None) -> Snapshot:
    """Load and validate a snapshot directory (default: the bundled sample)."""
    return _load(path, namespaces)


@dataclass(frozen=True)
class Analysis:
    """What :func:`analyze` returns; every table is a DataFrame with documented columns."""

    metadata: Metadata
    containers: pd.DataFrame
    hpas: pd.DataFrame

    def summary(self) -> dict[str, int]:
        """Headline counts for a terminal or a notebook."""
        return {
            "workloads": int(self.containers[["namespace", "workload"]].drop_duplicates().shape[0]),
            "containers": len(self.containers),
            "hpas": len(self.hpas),
            "hpas_stalled": int((self.hpas["status"] == "stalled").sum()),
        }

    def _repr_html_(self) -> str:
        return pd.DataFrame([self.summary()]).to_html(index=False)


def analyze(snapshot: Snapshot, version: KubeVersion | None = None, flags: ControllerFlags | None = None) -> Analysis:
    """Analyze a loaded snapshot under the given Kubernetes version (default 1.34) and controller flags."""
    version = version or KubeVersion()
    flags = flags or ControllerFlags()
    owners = pod_owners(snapshot)
    return Analysis(
        metadata=snapshot.metadata,
        containers=container_table(snapshot),
        hpas=hpa_table(snapshot, owners, version, flags),
    )


def render(
    analysis: Analysis, out: str | os.PathLike[str] = REPORTS, formats: Sequence[str] = ("html", "json")
) -> list[Path]:
    """Write the report in each of ``formats`` into ``out``; each file appears whole or not at all."""
    return [registry.find(name).write(analysis, Path(out)) for name in formats]


def sample(
    out: str | os.PathLike[str],
    workloads: int = 12,
    days: float = 3.0,
    step_s: float = 60.0,
    seed: int = 7,
    overwrite: bool = False,
) -> tuple[Path, Synthetic]:
    """Generate a synthetic snapshot with ground truth and write it to ``out``."""
    synthetic = generate(workloads=workloads, days=days, step_s=step_s, seed=seed)
    return write_sample(out, synthetic, overwrite=overwrite), synthetic
