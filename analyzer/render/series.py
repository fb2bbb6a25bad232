"""The HPA replica series (``Analysis.hpa_series``) as one Parquet file, written only when asked.

A week of 1,000 HPAs at a 5-minute sampling is about 12 M rows: 600 MB as CSV, tens of MB as
zstd Parquet with dictionary-encoded labels. Columns: :data:`analyzer.findings.hpa_skew.SERIES_COLUMNS`.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq

from analyzer.render.renderer import Renderer

if TYPE_CHECKING:
    from analyzer.findings.analysis import Analysis


def produce(analysis: Analysis, top: int = 0) -> bytes:
    table = pa.Table.from_pandas(analysis.hpa_series, preserve_index=False)
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    return buffer.getvalue()


RENDERER = Renderer("series", "hpa_series.parquet", produce, "the HPAs' replica series per sync, as Parquet")
