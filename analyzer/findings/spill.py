"""The tables of a partitioned analysis that grow with the cluster, kept on disk until the merge.

A partition's analysis is small but for two long tables: the HPA replica series (a row per HPA view per
5 minutes) and the per-pod usage (a row per workload container per 5 minutes), which grow to GiBs for a
week of a large cluster. Held in memory, the finished partitions' tables add up while the next partition
is analysed; spilled to Parquet (bit for bit, like a shard's partial result) in a temporary directory this
run makes, they are read back at the merge a column at a time.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from analyzer.errors import SidecarImpactError, reason
from analyzer.findings.analysis import Analysis
from analyzer.findings.merge import merge_columns, row_keys

SPILLED = ("hpa_series", "pod_usage")


class Spill:
    """Takes :data:`SPILLED` out of each part (:meth:`put`) and puts them back merged (:meth:`restore`).

    Use as a context manager: the directory and its files are removed when it closes. Where no temporary
    directory can be made or written (a read-only file system), the tables stay in memory.
    """

    def __init__(self, directory: str | None = None) -> None:
        self._where = directory
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._pieces: dict[str, list[tuple[int, Path | pd.DataFrame]]] = {name: [] for name in SPILLED}
        self._columns: dict[str, list[str]] = {}

    def __enter__(self) -> Spill:
        try:
            self._tmp = tempfile.TemporaryDirectory(prefix="sidecar-impact-spill-", dir=self._where)
        except OSError:
            self._tmp = None
        return self

    def __exit__(self, *exc: object) -> None:
        self._pieces = {name: [] for name in SPILLED}
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def put(self, part: Analysis, order: int | None = None) -> Analysis:
        """``part`` without its spilled tables (left with no rows), which are kept for :meth:`restore`.
        ``order``: where the part goes among the others (default: after those put before it)."""
        for name in SPILLED:
            table = getattr(part, name)
            self._columns.setdefault(name, list(table.columns))
            pieces = self._pieces[name]
            pieces.append((len(pieces) if order is None else order, self._kept(name, table)))
        return replace(part, **{name: empty_like(getattr(part, name)) for name in SPILLED})

    def restore(self, merged: Analysis) -> Analysis:
        """The merge of the parts given to :meth:`put` with the spilled tables merged back in, read from disk
        a column at a time (in the order :func:`~analyzer.findings.merge.merge` gives them)."""
        tables = {}
        for name in SPILLED:
            pieces = [piece for _, piece in sorted(self._pieces[name], key=lambda kept: kept[0])]
            self._pieces[name] = []
            if pieces and len(self._columns[name]):
                tables[name] = merge_columns([column_reader(p) for p in pieces], self._columns[name], row_keys(name))
        return replace(merged, **tables)

    def _kept(self, name: str, table: pd.DataFrame) -> Path | pd.DataFrame:
        if self._tmp is None or not len(table):
            return table
        path = Path(self._tmp.name) / f"{name}-{len(self._pieces[name])}.parquet"
        try:
            pq.write_table(pa.Table.from_pandas(table, preserve_index=False), path)
        except OSError:  # no room on disk: this one stays in memory
            path.unlink(missing_ok=True)
            return table
        return path


def empty_like(table: pd.DataFrame) -> pd.DataFrame:
    """A table with ``table``'s columns and dtypes and no rows, holding nothing of it (``table.iloc[:0]``
    is a view that keeps every column's buffer alive: a spilled table would stay in memory)."""
    return pd.DataFrame({c: pd.array([], dtype=table[c].dtype) for c in table.columns}, columns=table.columns)


def column_reader(piece: Path | pd.DataFrame) -> Callable[[str], pd.Series]:
    """A function giving one column of a table held in memory or in a Parquet file (read when asked)."""

    def read(column: str) -> pd.Series:
        if isinstance(piece, pd.DataFrame):
            return piece[column]
        try:
            return pq.read_table(piece, columns=[column]).to_pandas()[column]
        except (OSError, pa.ArrowException, KeyError) as exc:
            raise SidecarImpactError(f"{piece}: not a readable Parquet table ({reason(exc, 100)})") from None

    return read
