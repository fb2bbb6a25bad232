"""CSV: one file per table of the analysis, in a ``csv/`` directory written atomically."""

from __future__ import annotations

from typing import TYPE_CHECKING

from analyzer.render.registry import Renderer, register

if TYPE_CHECKING:
    from analyzer.api import Analysis

TABLES = (
    "findings",
    "workloads",
    "namespaces",
    "containers",
    "classes",
    "overhead",
    "hpas",
    "hpa_skew",
    "remedies",
    "hpa_series",
    "vpa",
    "vpa_hazards",
    "vpa_hpa",
)


def produce(analysis: Analysis, top: int = 0) -> dict[str, str]:
    return {f"{name}.csv": getattr(analysis, name).to_csv(index=False) for name in TABLES}


register(Renderer("csv", "csv", produce, "one CSV file per table, in csv/"))
