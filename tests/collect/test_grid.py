"""Raw samples onto the step grid (collect/grid.py) against a step-by-step transcription of what
Prometheus 2.x does at each step: ``extrapolatedRate`` (promql/functions.go) over the samples in
``[T - window, T]``, and a gauge's newest sample within the lookback, ended by staleness."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer.collect.grid import Grid, OnGrid, last_on_grid, rate_on_grid


def reference_rate(t: list[int], v: list[float], at: int, window: int) -> float | None:
    points = [(ti, vi) for ti, vi in zip(t, v, strict=True) if at - window <= ti <= at]
    if len(points) < 2:
        return None
    correction, last = 0.0, 0.0
    for _, value in points:
        if value < last:
            correction += last
        last = value
    result = last - points[0][1] + correction
    to_start = (points[0][0] - (at - window)) / 1000
    to_end = (at - points[-1][0]) / 1000
    sampled = (points[-1][0] - points[0][0]) / 1000
    average = sampled / (len(points) - 1)
    if result > 0 and points[0][1] >= 0:
        to_start = min(to_start, sampled * (points[0][1] / result))
    threshold = average * 1.1
    interval = sampled
    interval += to_start if to_start < threshold else average / 2
    interval += to_end if to_end < threshold else average / 2
    return result * (interval / sampled) / (window / 1000)


def reference_last(t: list[int], v: list[float], at: int, lookback: int, stale: int) -> float | None:
    points = [(ti, vi) for ti, vi in zip(t, v, strict=True) if at - lookback < ti <= at]
    if not points or at >= t[-1] + stale:
        return None
    return points[-1][1]


# A series: (gap to the previous sample in ms, what happens to the counter: an increase, or a reset to a value)
steps = st.tuples(
    st.one_of(st.integers(1, 150_000), st.sampled_from([15_000, 30_000, 60_000])),  # jittered or on the grid
    st.one_of(st.floats(0, 50, allow_nan=False), st.tuples(st.just("reset"), st.floats(0, 5, allow_nan=False))),
)


def build(first_ms: int, moves: list[tuple[int, object]]) -> tuple[list[int], list[float]]:
    t, v, now, value = [], [], first_ms, 0.0
    for gap, move in moves:
        now += gap
        value = move[1] if isinstance(move, tuple) else value + move
        t.append(now)
        v.append(value)
    return t, v


def as_dict(got: OnGrid, grid: Grid) -> dict[tuple[int, int], float]:
    return {
        (int(s), grid.start_ms + int(k) * grid.step_ms): float(x)
        for s, k, x in zip(got.series, got.step, got.value, strict=True)
    }


@settings(max_examples=150, deadline=None)
@given(
    series=st.lists(
        st.tuples(
            st.one_of(st.integers(-400_000, 400_000), st.sampled_from([-60_000, 0, 60_000])),
            st.lists(steps, min_size=1, max_size=25),
        ),
        min_size=1,
        max_size=4,
    ),
    step=st.sampled_from([15_000, 30_000, 60_000, 120_000]),
    count=st.integers(1, 60),
    window=st.integers(30_000, 600_000),
    scrape=st.sampled_from([15_000, 30_000, 60_000]),
    shuffle=st.randoms(use_true_random=False),
)
def test_rate_and_newest_sample_match_prometheus_step_by_step(
    series: list[tuple[int, list[tuple[int, object]]]], step: int, count: int, window: int, scrape: int, shuffle: object
) -> None:
    grid = Grid(1_700_000_000_000, step, count)
    built = [build(grid.start_ms + offset, moves) for offset, moves in series]
    codes = np.concatenate([np.full(len(t), i) for i, (t, _) in enumerate(built)])
    t_ms = np.concatenate([np.array(t, dtype=np.int64) for t, _ in built])
    values = np.concatenate([np.array(v) for _, v in built])
    order = np.arange(len(codes))
    shuffle.shuffle(order)  # type: ignore[attr-defined]  # answers arrive in any order, chunks overlap
    repeat = order[: len(order) // 3]
    codes, t_ms, values = (np.concatenate([a[order], a[repeat]]) for a in (codes, t_ms, values))
    lookback = max(step, scrape)
    rates = as_dict(rate_on_grid(codes, t_ms, values, grid, window), grid)
    newest = as_dict(last_on_grid(codes, t_ms, values, grid, lookback, scrape), grid)
    for i, (t, v) in enumerate(built):
        for k in range(count):
            at = grid.start_ms + k * step
            want = reference_rate(t, v, at, window)
            assert (want is None) == ((i, at) not in rates), (i, at)
            if want is not None:
                np.testing.assert_allclose(rates[(i, at)], want, rtol=1e-9, atol=1e-12)
            assert newest.get((i, at)) == reference_last(t, v, at, lookback, scrape), (i, at)
    assert len(rates) == sum(reference_rate(t, v, grid.start_ms + k * step, window) is not None
                             for t, v in built for k in range(count))  # fmt: skip


def test_a_counter_reset_inside_the_window_counts_the_value_before_it() -> None:
    grid = Grid(240_000, 60_000, 1)
    # 0, 60, 120 s: 10, 20, then a restart at 3; at 180 s: 9. Increase = (20 - 10) + 9 = 19 over 180 s sampled
    got = rate_on_grid(
        np.zeros(4), np.array([60_000, 120_000, 180_000, 240_000]), np.array([10.0, 20, 3, 9]), grid, 240_000
    )
    # first sample 60 s after the window's start, beyond 1.1 × the 60 s spacing? no: 60 < 66, extrapolated
    # to the start, but the zero point (10 / 19 × 180 s ≈ 94.7 s before) is further: 60 s used
    assert got.value.tolist() == [19 * (240 / 180) / 240]


def test_a_gauge_ends_one_scrape_after_its_last_sample() -> None:
    # scraped every 30 s, evaluated every 60 s: the step one scrape after the last sample has the
    # staleness marker in Prometheus, though the sample is still within the 60 s lookback
    grid = Grid(0, 60_000, 4)
    got = last_on_grid(np.zeros(3), np.array([30_000, 60_000, 90_000]), np.array([1.0, 2.0, 3.0]), grid, 60_000, 30_000)
    assert dict(zip(got.step.tolist(), got.value.tolist(), strict=True)) == {1: 2.0}
    longer = last_on_grid(
        np.zeros(3), np.array([30_000, 60_000, 90_000]), np.array([1.0, 2.0, 3.0]), grid, 60_000, 60_000
    )
    assert dict(zip(longer.step.tolist(), longer.value.tolist(), strict=True)) == {1: 2.0, 2: 3.0}
