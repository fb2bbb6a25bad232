"""The long tables of a partitioned analysis spilled to disk and merged back: the in-memory merge's result."""

from __future__ import annotations

import gc
import weakref
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analyzer.api import Analysis
from analyzer.findings.merge import ROW_TABLES, merge
from analyzer.findings.spill import SPILLED, Spill


def parts_of(analysis: Analysis) -> list[Analysis]:
    """The analysis cut into parts of interleaved namespaces, as partitions are."""
    spaces = sorted(set(analysis.workloads["namespace"].astype(str)))
    groups = [spaces[i::3] for i in range(3)]
    return [
        replace(analysis, **{n: getattr(analysis, n)[getattr(analysis, n)["namespace"].astype(str).isin(g)]
                             for n in ROW_TABLES if "namespace" in getattr(analysis, n).columns})
        for g in groups
    ]  # fmt: skip


@pytest.mark.parametrize("writable", [True, False])
def test_spilled_tables_come_back_as_the_in_memory_merge(
    sample_analysis: Analysis, tmp_path: Path, writable: bool
) -> None:
    expected = merge(parts_of(sample_analysis))
    where = tmp_path / ("spill" if writable else "missing/dir")
    if writable:
        where.mkdir()
    with Spill(str(where)) as spill:
        kept = [spill.put(p) for p in parts_of(sample_analysis)]
        assert all(len(getattr(k, name)) == 0 for k in kept for name in SPILLED)
        files = list(where.rglob("*.parquet")) if writable else []
        assert len(files) == (2 * 3 if writable else 0)
        got = spill.restore(merge(kept))
    assert not list(tmp_path.rglob("*.parquet"))  # removed with the spill
    for name in SPILLED:
        assert len(getattr(got, name)) == len(getattr(sample_analysis, name)) > 0
        pd.testing.assert_frame_equal(getattr(got, name), getattr(expected, name))


def test_a_spilled_table_leaves_nothing_of_itself_in_memory(sample_analysis: Analysis, tmp_path: Path) -> None:
    """What :meth:`Spill.put` returns holds no buffer of the tables it wrote (a zero-row view would keep
    every column alive: at 1,000 workloads, 0.37 GiB held by empty tables until the merge)."""
    part = parts_of(sample_analysis)[0]
    buffers = {}
    tables = {}
    for name in SPILLED:
        table = getattr(part, name).copy()
        column = next(c for c in table.columns if table[c].dtype == "float64")
        values = table[column].to_numpy().copy()
        buffers[name] = weakref.ref(values)
        # Built without a copy: the column's block is ``values`` itself (or a view of it).
        tables[name] = pd.DataFrame({c: values if c == column else table[c] for c in table.columns}, copy=False)
        assert np.shares_memory(tables[name][column].to_numpy(), values)
    part = replace(part, **tables)
    del tables, table, values
    with Spill(str(tmp_path)) as spill:
        kept = spill.put(part)
        del part
        gc.collect()
        assert all(buffers[name]() is None for name in SPILLED)
        assert all(list(getattr(kept, name).dtypes) == list(getattr(sample_analysis, name).dtypes) for name in SPILLED)
