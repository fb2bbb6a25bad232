"""The JSON report: versioned, one key per table, rows as objects."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from analyzer.render.renderer import Renderer
from analyzer.render.report_schema import REPORT_SCHEMA_VERSION, TABLES
from analyzer.render.run_state import changes_document

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
    if analysis.changes is not None:
        document["changes"] = changes_document(analysis.changes)
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
        chunk = frame.iloc[start : start + CHUNK_ROWS]
        texts = row_texts(chunk)
        yield ("\n" if start == 0 else ",\n") + ",\n".join(texts if texts is not None else record_texts(chunk))
    yield "\n  ]"


def record_texts(chunk: pd.DataFrame) -> list[str]:
    """Each row as its indented JSON object, one row at a time (any values)."""
    return ["    " + _dumps(r, 2) for r in chunk.to_dict(orient="records")]


def row_texts(chunk: pd.DataFrame) -> list[str] | None:
    """:func:`record_texts` a column at a time, for tables of plain values: each column's values are written
    once (strings by the C encoder, a category's names once, numbers as numpy's shortest round-trip text,
    which is Python's ``repr``) and the rows put together from them. None when a column holds anything else
    (containers, dates, numpy scalars in an object column): :func:`record_texts` writes those."""
    names = [str(c) for c in chunk.columns]
    if not names or len(set(names)) != len(names):
        return None
    lines = []
    for name, column in sorted(zip(names, (chunk[c] for c in chunk.columns), strict=True), key=lambda nc: nc[0]):
        values = _value_texts(column)
        if values is None:
            return None
        prefix = "      " + json.dumps(name) + ": "
        lines.append([prefix + v for v in values])
    return ["    {\n" + ",\n".join(row) + "\n    }" for row in zip(*lines, strict=True)]


def _value_texts(column: pd.Series) -> list[str] | None:
    """The JSON text of each value of ``column`` as :func:`_dumps` writes it, or None (see :func:`row_texts`)."""
    dtype = column.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        names = _value_texts(pd.Series(dtype.categories, dtype=object))
        if names is None:
            return None
        return np.array([*names, "null"], dtype=object)[column.cat.codes.to_numpy()].tolist()  # -1: missing
    if isinstance(dtype, pd.StringDtype):
        values = column.to_numpy(dtype=object, na_value=None)
    elif isinstance(dtype, np.dtype) and dtype.kind in "biufO":
        values = column.to_numpy()
    else:
        return None
    if values.dtype.kind == "b":
        return np.where(values, "true", "false").tolist()
    if values.dtype.kind in "iu":
        return values.astype(str).tolist()
    if values.dtype.kind == "f":
        texts = values.astype(str).astype(object)
        texts[~np.isfinite(values)] = "null"
        return texts.tolist()
    out, known = [], {}
    for value in values.tolist():
        if value.__class__ is str:
            text = known.get(value)
            if text is None:
                text = known[value] = json.dumps(value)
        elif value is None:
            text = "null"
        elif value.__class__ is bool:
            text = "true" if value else "false"
        elif value.__class__ is int:
            text = str(value)
        elif value.__class__ is float:
            text = repr(value) if math.isfinite(value) else "null"
        else:
            return None
        out.append(text)
    return out


def _dumps(value: Any, level: int) -> str:
    """``value`` as indented JSON nested ``level`` deep (JSON strings hold no raw newline to shift)."""
    # allow_nan=False: a NaN or infinity that escaped _clean is a bug to raise, not invalid JSON to write
    text = json.dumps(_clean(value), indent=2, sort_keys=True, allow_nan=False)
    return text.replace("\n", "\n" + "  " * level)


RENDERER = Renderer("json", "report.json", produce, "machine-readable tables, versioned")
