"""Row helpers: ``ranges`` against the Python loop it replaces."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from analyzer.frames import ranges


@given(st.lists(st.tuples(st.integers(0, 50), st.integers(0, 6)), max_size=30))
def test_ranges_are_the_concatenated_aranges(spans: list[tuple[int, int]]) -> None:
    starts = np.array([a for a, _ in spans], dtype=np.int32)
    stops = np.array([a + n for a, n in spans], dtype=np.int32)
    expected = [i for a, n in spans for i in range(a, a + n)]
    got = ranges(starts, stops)
    assert got.dtype == np.int64 and got.tolist() == expected
