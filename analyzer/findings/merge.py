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

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import pandas as pd
from pandas.api.types import union_categoricals

from analyzer.errors import SidecarImpactError
from analyzer.findings.analysis import Analysis
from analyzer.findings.summary import FINDING_COLUMNS, collection_rows, order_findings, rebuilt_notes
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
        tables[name] = _namespace_major(_concat(pieces.pop(name)))
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
    column = table["namespace"]
    if isinstance(column.dtype, pd.CategoricalDtype):
        names = np.asarray(column.cat.categories, dtype=object).astype(str)
        rank = np.argsort(np.argsort(names, kind="stable"), kind="stable")
        codes = column.cat.codes.to_numpy()
        key = np.where(codes >= 0, rank[codes], -1)
    else:
        key = pd.factorize(column.astype(str), sort=True)[0]
    if np.all(key[1:] >= key[:-1]):
        return table.reset_index(drop=True)
    return table.iloc[np.argsort(key, kind="stable")].reset_index(drop=True)


def _concat(tables: list[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate row tables; categorical columns stay categorical (their categories united)."""
    present = [t for t in tables if len(t.columns)]
    if not present:
        return tables[0]
    if len(present) == 1:
        return present[0]
    columns = present[0].columns
    for t in present[1:]:
        if list(t.columns) != list(columns):
            raise SidecarImpactError("merge: the parts' tables have different columns (different tool versions?)")
    out: dict[str, pd.Series] = {}
    for name in columns:
        pieces = [t[name] for t in present]
        if all(isinstance(p.dtype, pd.CategoricalDtype) for p in pieces):
            out[name] = pd.Series(union_categoricals(pieces, sort_categories=True, ignore_order=True))
        else:
            out[name] = pd.concat(pieces, ignore_index=True)
    return pd.DataFrame(out)


def _summed(counts: Sequence[Sequence[tuple[str, int]]]) -> tuple[tuple[str, int], ...]:
    total: dict[str, int] = {}
    for part in counts:
        for kind, n in part:
            total[kind] = total.get(kind, 0) + n
    return tuple(total.items())
