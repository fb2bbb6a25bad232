"""The JSON report: versioned, one key per table, rows as objects."""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

from analyzer.render.renderer import Renderer

if TYPE_CHECKING:
    from analyzer.findings.analysis import Analysis

REPORT_SCHEMA_VERSION = 1


def _clean(value: Any) -> Any:
    """JSON-ready: numpy scalars as Python ones, NaN and infinities as null, containers cleaned throughout."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item"):
        return _clean(value.item())
    return value


def produce(analysis: Analysis, top: int = 0) -> str:
    def rows(frame: Any) -> list[dict[str, Any]]:
        return [{k: _clean(v) for k, v in r.items()} for r in frame.to_dict(orient="records")]

    document = {
        "report_schema_version": REPORT_SCHEMA_VERSION,
        "snapshot": analysis.metadata.to_json(),
        "summary": analysis.summary(),
        "findings": rows(analysis.findings),
        "prices": {"cpu_core_hour": analysis.prices.cpu_core_hour, "memory_gib_hour": analysis.prices.memory_gib_hour},
        "workloads": rows(analysis.workloads),
        "namespaces": rows(analysis.namespaces),
        "cluster": rows(analysis.cluster),
        "classes": rows(analysis.classes),
        "containers": rows(analysis.containers),
        "overhead": rows(analysis.overhead),
        "hpas": rows(analysis.hpas),
        "hpa_skew": rows(analysis.hpa_skew),
        "remedies": rows(analysis.remedies),
        "vpa": rows(analysis.vpa),
        "vpa_hazards": rows(analysis.vpa_hazards),
        "vpa_hpa": rows(analysis.vpa_hpa),
    }
    # allow_nan=False: a NaN or infinity that escaped _clean is a bug to raise, not invalid JSON to write
    return json.dumps(_clean(document), indent=2, sort_keys=True, allow_nan=False) + "\n"


RENDERER = Renderer("json", "report.json", produce, "machine-readable tables, versioned")
