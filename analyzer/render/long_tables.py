"""The tables that grow with every pod and sync, each as one Parquet file, written only when asked.

A week of 1,000 HPAs at a 5-minute sampling is about 12 M replica-series rows, and 1,000 workloads' pods
are a hundred thousand classification rows: tens of MB as zstd Parquet with dictionary-encoded labels,
hundreds as JSON or CSV. ``series`` writes ``hpa_series.parquet``
(:data:`analyzer.findings.hpa_skew.SERIES_COLUMNS`), ``pods`` writes ``pods.parquet``, every container of
every pod with its classification (:data:`analyzer.model.classify.CLASS_COLUMNS`), which report.json
leaves out.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import TYPE_CHECKING

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from analyzer.render.renderer import Renderer

if TYPE_CHECKING:
    from analyzer.findings.analysis import Analysis


def _parquet(table: Callable[[Analysis], pd.DataFrame]) -> Callable[[Analysis, int], bytes]:
    def produce(analysis: Analysis, top: int = 0) -> bytes:
        buffer = io.BytesIO()
        pq.write_table(pa.Table.from_pandas(table(analysis), preserve_index=False), buffer, compression="zstd")
        return buffer.getvalue()

    return produce


SERIES = Renderer("series", "hpa_series.parquet", _parquet(lambda a: a.hpa_series),
                  "the HPAs' replica series per sync, as Parquet")  # fmt: skip
PODS = Renderer("pods", "pods.parquet", _parquet(lambda a: a.classes),
                "every container of every pod with its classification, as Parquet")  # fmt: skip
