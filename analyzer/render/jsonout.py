"""The JSON report: versioned, one key per table, rows as objects."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pandas as pd

from analyzer.render.renderer import Renderer
from analyzer.render.report_schema import REPORT_SCHEMA_VERSION, TABLES

if TYPE_CHECKING:
    from analyzer.findings.analysis import Analysis


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


CHUNK_ROWS = 10_000
"""Rows turned into objects at a time: a large cluster's tables never exist as one list of dicts."""


def produce(analysis: Analysis, top: int = 0) -> Iterator[str]:
    """The report in pieces of text whose concatenation is ``json.dumps(document, indent=2, sort_keys=True)``
    plus a newline: the whole document is never one string (209 MiB for a week of 3,000 workloads)."""
    document: dict[str, Any] = {
        "report_schema_version": REPORT_SCHEMA_VERSION,
        "snapshot": analysis.metadata.to_json(),
        "summary": analysis.summary(),
        "prices": {"cpu_core_hour": analysis.prices.cpu_core_hour, "memory_gib_hour": analysis.prices.memory_gib_hour},
    }
    keys = sorted([*document, *TABLES])
    yield "{"
    for i, key in enumerate(keys):
        yield ("\n" if i == 0 else ",\n") + f"  {json.dumps(key)}: "
        if key in document:
            yield _dumps(document[key], 1)
        else:
            yield from _rows(getattr(analysis, key))
    yield "\n}\n"


def _rows(frame: pd.DataFrame) -> Iterator[str]:
    """A table as the indented JSON list of its rows, at :data:`CHUNK_ROWS` rows a time."""
    if not len(frame):
        yield "[]"
        return
    yield "["
    for start in range(0, len(frame), CHUNK_ROWS):
        records = frame.iloc[start : start + CHUNK_ROWS].to_dict(orient="records")
        yield ("\n" if start == 0 else ",\n") + ",\n".join("    " + _dumps(r, 2) for r in records)
    yield "\n  ]"


def _dumps(value: Any, level: int) -> str:
    """``value`` as indented JSON nested ``level`` deep (JSON strings hold no raw newline to shift)."""
    # allow_nan=False: a NaN or infinity that escaped _clean is a bug to raise, not invalid JSON to write
    text = json.dumps(_clean(value), indent=2, sort_keys=True, allow_nan=False)
    return text.replace("\n", "\n" + "  " * level)


RENDERER = Renderer("json", "report.json", produce, "machine-readable tables, versioned")
