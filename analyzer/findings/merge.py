"""Analyses of disjoint namespace sets put together into the analysis of their union.

Every table of an :class:`Analysis` is keyed by namespace and each row is computed from its own
namespace alone, so the analysis of a cluster is the rows of its shards' analyses, ordered the same
way: :func:`canonical` is that order (namespace first, rows of one namespace in the order the analysis
made them; findings re-ranked), and :func:`merge` concatenates and re-applies it.
The cluster-wide figures (the rollups, the collection notes, the sample count) are recomputed from
the merged rows. An unsharded :func:`~analyzer.api.analyze` ends with :func:`canonical` too, which is
what makes a merged report identical to an unsharded one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np
import pandas as pd

from analyzer.errors import SidecarImpactError
from analyzer.findings.analysis import Analysis
from analyzer.findings.summary import FINDING_COLUMNS, collection_rows, order_findings, rebuilt_notes
from analyzer.memory import release_free_memory
from analyzer.model.shares import rollup
from analyzer.snapshot.schema import NOTES_KEY

ROLLUPS = ("namespaces", "cluster", "groups")
"""Tables recomputed from ``workloads`` rather than concatenated."""

ROW_TABLES = tuple(name for name in Analysis.table_names() if name not in ROLLUPS)
"""Tables whose rows belong to one namespace each."""


def canonical(analysis: Analysis) -> Analysis:
    """``analysis`` with every row table namespace-major (stable), the skew table and the findings
    re-ranked, and the rollups recomputed from the ordered workloads."""
    tables = {name: _namespace_major(getattr(analysis, name)) for name in ROW_TABLES}
    tables["findings"] = order_findings(tables["findings"])
    return replace(analysis, **tables, **_rollups(tables["workloads"]))


def merge(parts: list[Analysis]) -> Analysis:
    """The analysis of the union of ``parts``' namespaces (the parts must share metadata and prices).

    Consumes ``parts`` (the list is emptied): each table's pieces are let go once they are joined, so
    a large cluster's results are not held twice over."""
    if not parts:
        raise SidecarImpactError("merge: no partial results to merge")
    first = parts[0]
    for part in parts[1:]:
        if part.metadata != first.metadata or part.prices != first.prices:
            raise SidecarImpactError("merge: the parts come from different snapshots or settings")
    rebuilt = _summed([p.rebuilt for p in parts])
    samples = sum(p.samples for p in parts)
    pieces = {name: [getattr(p, name) for p in parts] for name in ROW_TABLES}
    parts.clear()
    first = replace(first, **{name: pd.DataFrame() for name in (*ROW_TABLES, *ROLLUPS)})
    tables = {}
    for name in ROW_TABLES:
        tables[name] = _merged(pieces.pop(name))
    notes = [*first.metadata.extra.get(NOTES_KEY, []), *rebuilt_notes(rebuilt)]
    found = tables["findings"]
    collection = pd.DataFrame(collection_rows(notes), columns=list(FINDING_COLUMNS))
    tables["findings"] = pd.concat(
        [collection.astype(found.dtypes.to_dict()), found[found["kind"] != "collection"]], ignore_index=True
    )
    merged = replace(first, **tables, rebuilt=rebuilt, samples=samples)
    return canonical(merged)


def _rollups(workloads: pd.DataFrame) -> dict[str, pd.DataFrame]:
    labels = [c for c in workloads.columns if str(c).startswith("label:")]
    return {
        "namespaces": rollup(workloads, ["namespace"]),
        "cluster": rollup(workloads, []),
        "groups": rollup(workloads, labels) if labels else pd.DataFrame(),
    }


def _namespace_major(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` stably sorted by namespace (by name, whatever the column's dtype)."""
    if "namespace" not in table.columns or len(table) < 2:
        return table.reset_index(drop=True)
    order = _namespace_order(table["namespace"])
    return table.reset_index(drop=True) if order is None else table.iloc[order].reset_index(drop=True)


def _namespace_order(column: pd.Series) -> np.ndarray | None:
    """The stable order that sorts ``column`` by name (None: it already is)."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        names = np.asarray(column.cat.categories, dtype=object).astype(str)
        rank = np.argsort(np.argsort(names, kind="stable"), kind="stable")
        codes = column.cat.codes.to_numpy()
        key = np.where(codes >= 0, rank[codes], -1)
    else:
        key = pd.factorize(column.astype(str), sort=True)[0]
    return None if np.all(key[1:] >= key[:-1]) else np.argsort(key, kind="stable")


def _merged(tables: list[pd.DataFrame]) -> pd.DataFrame:
    """``_namespace_major`` of the tables concatenated, by :func:`merge_columns`: each piece's column is let
    go once it is placed (``tables`` is consumed), so a large table is never held twice over."""
    present = [t for t in tables if len(t.columns)]
    if not present:
        return tables[0].reset_index(drop=True)
    tables.clear()
    columns = list(present[0].columns)
    for t in present[1:]:
        if list(t.columns) != columns:
            raise SidecarImpactError("merge: the parts' tables have different columns (different tool versions?)")
    # Each piece's own copy (a shallow one), so that dropping its columns frees what only it holds.
    present = [t.copy(deep=False).reset_index(drop=True) for t in present]

    def taker(table: pd.DataFrame) -> Callable[[str], pd.Series]:
        def take(name: str) -> pd.Series:
            column = table[name]
            del table[name]
            return column

        return take

    return merge_columns([taker(t) for t in present], columns)


def merge_columns(pieces: Sequence[Callable[[str], pd.Series]], columns: Sequence[str]) -> pd.DataFrame:
    """The pieces of one table (each a function that gives one of its columns, read once) concatenated and
    stably sorted by namespace, built a column at a time. When every piece is namespace-major (as
    :func:`canonical` leaves them), each output column is one concatenation of namespace runs, with no sort
    order or intermediate copy."""
    namespaces = [read("namespace") for read in pieces] if "namespace" in columns else None
    runs = None if namespaces is None else _namespace_runs(namespaces)
    order = None
    if runs is None and namespaces is not None and sum(len(n) for n in namespaces) > 1:
        order = _namespace_order(_column(namespaces, None))
    out: dict[str, pd.Series] = {}
    for name in columns:
        if name == "namespace" and namespaces is not None:
            parts, namespaces = namespaces, None
        else:
            parts = [read(name) for read in pieces]
        column = _column(parts, runs)
        del parts
        out[name] = column if order is None else column.take(order).reset_index(drop=True)
        if len(out[name]) >= LARGE_COLUMN_ROWS:
            release_free_memory()  # the pieces' column, before the next one is read
        del column
    return pd.DataFrame(out, copy=False)


LARGE_COLUMN_ROWS = 1_000_000
"""After a column this long, the pieces' freed memory goes back to the OS before the next is read."""
Runs = list[tuple[int, int, int]]
"""Rows as (piece, start, stop) slices, in output order."""


def _namespace_runs(namespaces: list[pd.Series]) -> Runs | None:
    """The namespace-major order as slices of the pieces (runs sorted stably by namespace, then piece: what a
    stable sort of the concatenation gives); None when a piece holds a namespace in more than one run, where
    a sort is cheaper than many slices."""
    keyed: list[tuple[tuple[int, str], int, int, int]] = []
    for p, column in enumerate(namespaces):
        codes = (column if isinstance(column.dtype, pd.CategoricalDtype) else column.astype("category")).cat
        values = codes.codes.to_numpy()
        if not len(values):
            continue
        starts = np.concatenate([[0], np.flatnonzero(values[1:] != values[:-1]) + 1])
        if len(np.unique(values[starts])) < len(starts):
            return None
        stops = [*starts[1:].tolist(), len(values)]
        names = np.asarray(codes.categories, dtype=object)
        for start, stop in zip(starts.tolist(), stops, strict=True):
            code = int(values[start])
            key = (0, "") if code < 0 else (1, str(names[code]))
            keyed.append((key, p, start, stop))
    keyed.sort(key=lambda r: (r[0], r[1]))
    return [(p, start, stop) for _, p, start, stop in keyed]


def _column(pieces: list[pd.Series], runs: Runs | None) -> pd.Series:
    """The pieces of one column concatenated (in ``runs`` order when given); categoricals stay categorical,
    their categories united and sorted."""
    if all(isinstance(p.dtype, pd.CategoricalDtype) for p in pieces) and len(pieces) > 1:
        categories = pd.Index(np.concatenate([np.asarray(p.cat.categories, dtype=object) for p in pieces]))
        categories = categories.unique().sort_values()
        recode = [np.append(categories.get_indexer(p.cat.categories), -1) for p in pieces]  # [-1]: missing
        codes = [p.cat.codes.to_numpy() for p in pieces]
        slices = runs or [(i, 0, len(c)) for i, c in enumerate(codes)]
        joined = np.concatenate([recode[i][codes[i][a:b]] for i, a, b in slices] or [np.zeros(0, dtype=np.int64)])
        return pd.Series(pd.Categorical.from_codes(joined, categories=categories))
    if runs is None:
        return pieces[0].reset_index(drop=True) if len(pieces) == 1 else pd.concat(pieces, ignore_index=True)
    return pd.concat([pieces[i].iloc[a:b] for i, a, b in runs] or [pieces[0].iloc[:0]], ignore_index=True)


def _summed(counts: Sequence[Sequence[tuple[str, int]]]) -> tuple[tuple[str, int], ...]:
    total: dict[str, int] = {}
    for part in counts:
        for kind, n in part:
            total[kind] = total.get(kind, 0) + n
    return tuple(total.items())
