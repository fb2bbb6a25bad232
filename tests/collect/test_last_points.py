"""Each answer of the coarse kube-state-metrics tables reduced to its series' newest point as it comes:
the same table as the points of every answer reduced at once."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer.collect.promframe import last_points, last_points_of

KEYS = ["namespace", "pod"]
T0 = pd.Timestamp("2026-11-02T00:00:00Z")


@st.composite
def answers(draw: st.DrawFn) -> list[pd.DataFrame]:
    """Answers for successive hours (each a chunk of the range), series appearing and ending at will, some
    values NaN (``last`` skips them), labels categorical as the decoder gives them."""
    chunks = draw(st.integers(1, 4))
    frames, hour = [], 0
    for _ in range(chunks):
        hours = draw(st.integers(1, 4))
        rows = []
        for h in range(hour, hour + hours):
            for pod in draw(st.sets(st.sampled_from(["a", "b", "c", ""]), max_size=3)):
                value = draw(st.one_of(st.floats(0, 10, allow_nan=False), st.just(np.nan)))
                rows.append(("ns", pod, T0 + pd.Timedelta(hours=h), value))
        hour += hours
        frame = pd.DataFrame(rows, columns=[*KEYS, "timestamp", "value"])
        types = {"namespace": "category", "pod": "category", "timestamp": "datetime64[ns, UTC]", "value": float}
        frames.append(frame.astype(types))
    return frames


@settings(max_examples=60, deadline=None)
@given(answers())
def test_reduced_as_they_come_equals_reduced_at_once(parts: list[pd.DataFrame]) -> None:
    whole = pd.concat([p.astype({k: object for k in KEYS}) for p in parts], ignore_index=True)
    expected = last_points(whole, KEYS)
    got = last_points_of([last_points(p, KEYS) for p in parts], KEYS)
    pd.testing.assert_frame_equal(got, expected, check_dtype=not expected.empty)


def test_the_newest_value_is_the_last_answers() -> None:
    first = pd.DataFrame({"namespace": ["n", "n"], "pod": ["a", "a"], "timestamp": [T0, T0 + pd.Timedelta(hours=1)],
                          "value": [1.0, 2.0]})  # fmt: skip
    second = first.assign(timestamp=first["timestamp"] + pd.Timedelta(hours=2), value=[3.0, np.nan])
    (row,) = last_points_of([last_points(first, KEYS), last_points(second, KEYS)], KEYS).itertuples(index=False)
    assert (row.value, row.first_seen, row.last_seen) == (3.0, T0, T0 + pd.Timedelta(hours=3))
