"""CSV: one file per table of the analysis, in a ``csv/`` directory written atomically.

The per-sync replica series is not one of them: it is millions of rows at cluster scale and goes to
Parquet only when asked (the ``series`` format, :mod:`analyzer.render.long_tables`).

Written by Arrow's CSV writer (pandas' is many times slower, and a cluster's tables are millions of
rows). Times are ISO 8601 in UTC (``2026-11-01T00:00:00Z``); strings are quoted; booleans are
``true``/``false``; missing values are empty.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv

from analyzer.render.renderer import Renderer

if TYPE_CHECKING:
    from analyzer.findings.analysis import Analysis

TABLES = (
    "causes",
    "findings",
    "workloads",
    "namespaces",
    "containers",
    "classes",
    "overhead",
    "hpas",
    "hpa_skew",
    "remedies",
    "vpa",
    "vpa_hazards",
    "vpa_hpa",
    "failures",
    "native_migration",
    "start_order",
    "stop_order",
    "jobs_held",
)


def to_csv(frame: pd.DataFrame) -> bytes:
    """``frame`` as CSV bytes with a header row, without its index."""
    arrays = []
    for name in frame.columns:
        col = frame[name]
        if isinstance(col.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(col.dtype):
            col = _iso_times(col)
        elif len(col) and isinstance(col.iloc[0], list):  # a list (a cause's members, their residuals): one cell
            col = col.map(lambda items: " ".join(map(str, items)))
        try:
            arrays.append(pa.Array.from_pandas(col))
        except (pa.ArrowInvalid, pa.ArrowTypeError):  # an object column of mixed types: write each as text
            arrays.append(pa.Array.from_pandas(col.map(str, na_action="ignore").astype(object)))
    table = pa.Table.from_arrays(arrays, names=[str(c) for c in frame.columns])
    buffer = io.BytesIO()
    pa_csv.write_csv(table, buffer)
    return buffer.getvalue()


def _iso_times(col: pd.Series) -> pd.Categorical:
    """Times as ISO 8601 strings, each distinct time formatted once (a series repeats the same few)."""
    codes, uniques = pd.factorize(col)
    stamps = pd.DatetimeIndex(uniques)
    if stamps.tz is not None:
        stamps = stamps.tz_convert("UTC")
    labels = [t.isoformat().replace("+00:00", "Z") for t in stamps]
    return pd.Categorical.from_codes(codes, categories=pd.Index(labels, dtype=object))


def produce(analysis: Analysis, top: int = 0) -> dict[str, str | bytes]:
    return {f"{name}.csv": to_csv(getattr(analysis, name)) for name in TABLES}


RENDERER = Renderer("csv", "csv", produce, "one CSV file per table, in csv/")
