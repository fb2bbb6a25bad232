"""Merging partial analyses' tables: the column-at-a-time merge against a concatenation and a stable sort
by namespace and unit (here ``label``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer.findings.merge import ROW_TABLES, ROW_UNITS, _in_key_order, _merged

NAMES = ["a", "b", "ns-1", "ns-2", "z"]
KEYS = ("namespace", "label")


def reference(tables: list[pd.DataFrame]) -> pd.DataFrame:
    """pd.concat (categoricals united with sorted categories), then stably sorted by namespace and label."""
    if len(tables) == 1:
        return _in_key_order(tables[0], KEYS)
    out = {}
    for name in tables[0].columns:
        pieces = [t[name] for t in tables]
        if all(isinstance(p.dtype, pd.CategoricalDtype) for p in pieces):
            categories = sorted(set().union(*(p.cat.categories for p in pieces)))
            values = pd.concat([p.astype(object) for p in pieces], ignore_index=True)
            out[name] = pd.Series(pd.Categorical(values, categories=categories))
        else:
            out[name] = pd.concat(pieces, ignore_index=True)
    return _in_key_order(pd.DataFrame(out), KEYS)


@st.composite
def pieces(draw: st.DrawFn) -> list[pd.DataFrame]:
    categorical = draw(st.booleans())
    out = []
    for _ in range(draw(st.integers(1, 4))):
        n = draw(st.integers(0, 12))
        spaces = draw(st.lists(st.sampled_from(NAMES), min_size=n, max_size=n))
        labels = draw(st.lists(st.sampled_from(["x", "y", "w"]), min_size=n, max_size=n))
        if draw(st.booleans()):  # in key order, as canonical leaves a part (a unit may still span parts)
            spaces, labels = map(list, zip(*sorted(zip(spaces, labels, strict=True)), strict=True)) if n else ([], [])
        if categorical and n and draw(st.booleans()):
            spaces[draw(st.integers(0, n - 1))] = None  # a missing namespace sorts first
        values = draw(st.lists(st.floats(allow_nan=True, allow_infinity=False), min_size=n, max_size=n))
        frame = pd.DataFrame(
            {
                "namespace": pd.Categorical(spaces) if categorical else pd.Series(spaces, dtype=object),
                "label": pd.Categorical(labels, categories=draw(st.permutations(["x", "y", "w"]))),
                "value": np.array(values, dtype=np.float64),
                "when": pd.date_range("2026-01-01", periods=n, freq="min", tz="UTC"),
            }
        )
        out.append(frame)
    return out


@given(pieces())
@settings(max_examples=200, deadline=None)
def test_merged_is_the_concatenation_sorted_by_namespace(tables: list[pd.DataFrame]) -> None:
    expected = reference([t.copy() for t in tables])
    kept = [t.copy() for t in tables]
    got = _merged(list(tables), KEYS)
    pd.testing.assert_frame_equal(got, expected)
    for before, after in zip(kept, tables, strict=True):  # the caller's frames are not changed
        pd.testing.assert_frame_equal(before, after)


def test_every_row_table_names_its_unit() -> None:
    assert set(ROW_UNITS) == set(ROW_TABLES)


def test_a_key_column_with_no_names_at_all_keeps_its_order() -> None:
    # Every namespace missing in a categorical without categories (Hypothesis found it): ranks of -1, no error.
    from analyzer.findings.merge import _name_ranks

    column = pd.Series(pd.Categorical([None, None], categories=[]))
    assert _name_ranks(column).tolist() == [-1, -1]
    named = pd.Series(pd.Categorical(["b", None, "a"], categories=["b", "a"]))
    assert _name_ranks(named).tolist() == [1, -1, 0]
