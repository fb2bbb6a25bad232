"""Analyses of disjoint parts of a cluster put together into the analysis of their union.

Every table of an :class:`Analysis` is keyed by namespace and each row is computed from its own
workload (with its pods, HPAs and VPAs) alone, so the analysis of a cluster is the rows of its parts'
analyses, ordered the same way, whether the parts are whole namespaces or a large namespace's workloads
split up: :func:`canonical` is that order (namespace first, then the workload, HPA, VPA or object a row
belongs to, by name; one unit's rows in the order the analysis made them; findings re-ranked), and
:func:`merge` concatenates and re-applies it.
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
from analyzer.findings.causes import with_causes
from analyzer.findings.summary import FINDING_COLUMNS, collection_rows, order_findings, rebuilt_notes
from analyzer.model.shares import rollup
from analyzer.runtime.memory import release_free_memory
from analyzer.snapshot.schema import NOTES_KEY

ROLLUPS = ("namespaces", "cluster", "groups", "causes")
"""Tables recomputed from the merged rows (``workloads``; the findings for ``causes``) rather than concatenated."""

ROW_TABLES = tuple(name for name in Analysis.table_names() if name not in ROLLUPS)
"""Tables whose rows belong to one namespace each."""

_WORKLOAD = ("workload_kind", "workload")
_HPA = ("hpa",)
ROW_UNITS: dict[str, tuple[str, ...]] = {
    "classes": _WORKLOAD,
    "containers": _WORKLOAD,
    "overhead": _WORKLOAD,
    "workloads": _WORKLOAD,
    "vpa": _WORKLOAD,
    "pod_usage": _WORKLOAD,
    "hpas": _HPA,
    "hpa_skew": _HPA,
    "remedies": _HPA,
    "hpa_series": _HPA,
    "vpa_hpa": _HPA,
    "vpa_hazards": ("vpa", "workload"),
    "findings": ("object",),
    "failures": (*_WORKLOAD, "container"),
    "failure_series": (*_WORKLOAD, "container"),
    "native_migration": (*_WORKLOAD, "container"),
    "start_order": (*_WORKLOAD, "container"),
    "stop_order": (*_WORKLOAD, "container"),
    "jobs_held": _WORKLOAD,
    "source_kits": (*_HPA, "container"),
}
"""The columns naming what each row of a table belongs to within its namespace: a workload, an HPA, a VPA
or a finding's object, never split between the parts of an analysis."""


def row_keys(table: str) -> tuple[str, ...]:
    """The columns :func:`canonical` orders ``table`` by (stably): its namespace, then its unit."""
    return ("namespace", *ROW_UNITS[table])


def canonical(analysis: Analysis, replay_sources: bool = True) -> Analysis:
    """``analysis`` with every row table in :func:`row_keys` order (stable), the findings re-ranked, and
    the rollups recomputed from the ordered rows (the findings' causes with them; ``replay_sources`` False:
    a part's causes, made again at the merge, keep their members' kits without replaying them)."""
    tables = {name: _in_key_order(getattr(analysis, name), row_keys(name)) for name in ROW_TABLES}
    tables["findings"], causes, kits = with_causes(
        order_findings(tables["findings"]),
        tables["hpa_skew"],
        tables["containers"],
        tables["vpa_hazards"],
        tables["remedies"],
        tables["source_kits"],
        replay_sources,
    )
    tables["source_kits"] = _in_key_order(kits, row_keys("source_kits"))  # only the causes' members' kits
    return replace(analysis, **tables, **_rollups(tables["workloads"]), causes=causes)


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
        tables[name] = _merged(pieces.pop(name), row_keys(name))
    notes = [*first.metadata.extra.get(NOTES_KEY, []), *rebuilt_notes(rebuilt)]
    found = tables["findings"]
    collection = pd.DataFrame(collection_rows(notes), columns=list(FINDING_COLUMNS))
    tables["findings"] = pd.concat(
        [collection.astype(found[list(FINDING_COLUMNS)].dtypes.to_dict()), found[found["kind"] != "collection"]],
        ignore_index=True,
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


def _in_key_order(table: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """``table`` stably sorted by ``keys`` (those it has, by name whatever the columns' dtypes); unsorted
    when it has no namespace."""
    keys = [k for k in keys if k in table.columns]
    if "namespace" not in keys or len(table) < 2:
        return table.reset_index(drop=True)
    order = _key_order([table[k] for k in keys])
    return table.reset_index(drop=True) if order is None else table.iloc[order].reset_index(drop=True)


def _key_order(columns: Sequence[pd.Series]) -> np.ndarray | None:
    """The stable order that sorts rows by ``columns`` (None: they already are)."""
    ranks = [_name_ranks(c) for c in columns]
    if len(ranks[0]) < 2:
        return None
    rising = np.zeros(len(ranks[0]) - 1, dtype=bool)
    tied = np.ones(len(ranks[0]) - 1, dtype=bool)
    for rank in ranks:
        step = np.diff(rank)
        rising |= tied & (step > 0)
        tied &= step == 0
    if np.all(rising | tied):
        return None
    return np.lexsort(ranks[::-1])  # stable: equal keys keep their order


def _name_ranks(column: pd.Series) -> np.ndarray:
    """Each value's rank by name (missing values of a categorical first)."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        names = np.asarray(column.cat.categories, dtype=object).astype(str)
        rank = np.argsort(np.argsort(names, kind="stable"), kind="stable")
        codes = column.cat.codes.to_numpy()
        out = np.full(len(codes), -1, dtype=np.int64)
        named = codes >= 0
        out[named] = rank[codes[named]]  # not rank[codes] for all: with no category, -1 indexes nothing
        return out
    return pd.factorize(column.astype(str), sort=True)[0]


def _merged(tables: list[pd.DataFrame], keys: Sequence[str]) -> pd.DataFrame:
    """``_in_key_order`` of the tables concatenated, by :func:`merge_columns`: each piece's column is let
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

    return merge_columns([taker(t) for t in present], columns, keys)


def merge_columns(
    pieces: Sequence[Callable[[str], pd.Series]], columns: Sequence[str], keys: Sequence[str] = ("namespace",)
) -> pd.DataFrame:
    """The pieces of one table (each a function that gives one of its columns, read once) concatenated and
    stably sorted by ``keys`` (by name; none when the table has no namespace), built a column at a time.
    When every piece is in key order (as :func:`canonical` leaves them) and no unit spans two pieces, each
    output column is one concatenation of runs of the pieces, with no sort order or intermediate copy."""
    keys = [k for k in keys if k in columns] if "namespace" in columns else []
    read = {k: [piece(k) for piece in pieces] for k in keys}
    runs = _key_runs([[read[k][p] for k in keys] for p in range(len(pieces))]) if keys else None
    index = None if runs is None else _run_rows(runs, [len(c) for c in read[keys[0]]])
    order = None
    if runs is None and keys and sum(len(c) for c in read[keys[0]]) > 1:
        order = _key_order([_column(list(read[k]), None) for k in keys])
    out: dict[str, pd.Series] = {}
    for name in columns:
        column = _column(read.pop(name) if name in read else [piece(name) for piece in pieces], index)
        out[name] = column if order is None else column.take(order).reset_index(drop=True)
        if len(out[name]) >= LARGE_COLUMN_ROWS:
            release_free_memory()  # the pieces' column, before the next one is read
        del column
    return pd.DataFrame(out, copy=False)


LARGE_COLUMN_ROWS = 1_000_000
"""After a column this long, the pieces' freed memory goes back to the OS before the next is read."""
Runs = list[tuple[int, int, int]]
"""Rows as (piece, start, stop) slices, in output order."""


def _key_runs(pieces: list[list[pd.Series]]) -> Runs | None:
    """The key order as slices of the pieces (each piece's runs of one key, sorted by key name then piece:
    what a stable sort of the concatenation gives; adjacent slices of one piece joined); None when a piece
    holds a key in more than one run, where a sort is cheaper than many slices."""
    keyed: list[tuple[tuple[tuple[int, str], ...], int, int, int]] = []
    for p, columns in enumerate(pieces):
        cats = [(c if isinstance(c.dtype, pd.CategoricalDtype) else c.astype("category")).cat for c in columns]
        codes = [c.codes.to_numpy() for c in cats]
        if not len(codes[0]):
            continue
        change = np.zeros(len(codes[0]) - 1, dtype=bool)
        for values in codes:
            change |= values[1:] != values[:-1]
        starts = np.concatenate([[0], np.flatnonzero(change) + 1])
        if len(np.unique(np.stack([values[starts] for values in codes]), axis=1)[0]) < len(starts):
            return None
        stops = [*starts[1:].tolist(), len(codes[0])]
        names = [np.asarray(c.categories, dtype=object) for c in cats]
        for start, stop in zip(starts.tolist(), stops, strict=True):
            key = tuple((0, "") if v[start] < 0 else (1, str(n[v[start]])) for v, n in zip(codes, names, strict=True))
            keyed.append((key, p, start, stop))
    keyed.sort(key=lambda r: (r[0], r[1]))
    runs: Runs = []
    for _, p, start, stop in keyed:
        if runs and runs[-1][0] == p and runs[-1][2] == start:
            runs[-1] = (p, runs[-1][1], stop)
        else:
            runs.append((p, start, stop))
    return runs


def _run_rows(runs: Runs, lengths: Sequence[int]) -> np.ndarray | None:
    """The rows of the pieces (of ``lengths`` rows) concatenated that ``runs`` take, in order; None when
    that is every row in place."""
    run = np.asarray(runs, dtype=np.int64).reshape(-1, 3)
    offsets = np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)[:-1]])
    starts = offsets[run[:, 0]] + run[:, 1]
    sizes = run[:, 2] - run[:, 1]
    rows = np.repeat(starts - (np.cumsum(sizes) - sizes), sizes) + np.arange(sizes.sum(), dtype=np.int64)
    in_place = len(rows) == sum(lengths) and bool(np.all(rows == np.arange(len(rows))))
    return None if in_place else rows


def _column(pieces: list[pd.Series], rows: np.ndarray | None) -> pd.Series:
    """The pieces of one column concatenated (then ``rows`` of it, when given); categoricals stay
    categorical, their categories united and sorted. Consumes ``pieces`` (the list is emptied once they
    are joined, so that a large column is not held three times over)."""
    if all(isinstance(p.dtype, pd.CategoricalDtype) for p in pieces) and len(pieces) > 1:
        categories = pd.Index(np.concatenate([np.asarray(p.cat.categories, dtype=object) for p in pieces]))
        categories = categories.unique().sort_values()
        recode = [np.append(categories.get_indexer(p.cat.categories), -1) for p in pieces]  # [-1]: missing
        codes = np.concatenate([r[p.cat.codes.to_numpy()] for r, p in zip(recode, pieces, strict=True)])
        pieces.clear()
        return pd.Series(pd.Categorical.from_codes(codes if rows is None else codes[rows], categories=categories))
    joined = pieces[0].reset_index(drop=True) if len(pieces) == 1 else pd.concat(pieces, ignore_index=True)
    pieces.clear()
    return joined if rows is None else joined.take(rows).reset_index(drop=True)


def _summed(counts: Sequence[Sequence[tuple[str, int]]]) -> tuple[tuple[str, int], ...]:
    total: dict[str, int] = {}
    for part in counts:
        for kind, n in part:
            total[kind] = total.get(kind, 0) + n
    return tuple(total.items())
