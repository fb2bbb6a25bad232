"""report.json's rows written a column at a time are the rows written one by one, for any plain table."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer.render.jsonout import record_texts, row_texts

TEXT = st.text(max_size=6) | st.sampled_from(['"', "\\", "\n", "é", "\u2028", "</script>"])
PLAIN = st.sampled_from(["float", "int", "bool", "str", "category", "object"])


def column(kind: str, n: int, draw: Any) -> Any:
    if kind == "float":
        edges = st.sampled_from([1e16, -0.0, 5e-324, 1e-5])
        return np.array(draw(st.lists(st.floats() | edges, min_size=n, max_size=n)))
    if kind == "int":
        return np.array(draw(st.lists(st.integers(-(2**63), 2**63 - 1), min_size=n, max_size=n)), dtype=np.int64)
    if kind == "bool":
        return np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)), dtype=bool)
    if kind == "str":
        return pd.array(draw(st.lists(TEXT | st.none(), min_size=n, max_size=n)), dtype="str")
    if kind == "category":
        return pd.Categorical(draw(st.lists(TEXT | st.none(), min_size=n, max_size=n)))
    mixed = st.none() | st.integers() | st.floats() | st.booleans() | TEXT | st.lists(st.integers(), max_size=2)
    return pd.array(draw(st.lists(mixed, min_size=n, max_size=n)), dtype=object)


@st.composite
def tables(draw: Any) -> pd.DataFrame:
    n = draw(st.integers(1, 6))
    kinds = draw(st.lists(PLAIN, min_size=1, max_size=5))
    names = draw(st.lists(TEXT, min_size=len(kinds), max_size=len(kinds), unique=True))
    return pd.DataFrame({name: column(kind, n, draw) for name, kind in zip(names, kinds, strict=True)})


@given(tables())
@settings(max_examples=300, deadline=None)
def test_rows_written_by_column_equal_rows_written_one_by_one(frame: pd.DataFrame) -> None:
    texts = row_texts(frame)
    plain = all(not isinstance(v, list) for c in frame.columns if frame[c].dtype == object for v in frame[c])
    if plain:
        assert texts is not None  # the fast path serves every table of plain values
    if texts is not None:
        assert texts == record_texts(frame)
