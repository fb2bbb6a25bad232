"""Raw samples onto a step grid, as Prometheus evaluates a range query at each step.

Fetching raw samples (a range selector in an instant query) spares the server the per-step
evaluation and aggregation of a range query: on the collection benchmark it costs Prometheus less
than half the CPU when the scrape interval is at least half the step. The client then does what the
server would have done, for every series at once:

- :func:`rate_on_grid`: ``rate(counter[window])`` at each step, with Prometheus 2.x's selection (the
  samples in ``[T - window, T]``), counter-reset correction and extrapolation (``extrapolatedRate``
  in promql/functions.go);
- :func:`last_on_grid`: a gauge at each step, the newest sample in ``(T - lookback, T]``, ended one
  scrape after its last sample as a staleness marker would end it.

Inputs are parallel arrays: ``series`` (int codes), ``t_ms`` (int64 Unix milliseconds), ``value``
(float64). Outputs are ``(series, step index, value)`` arrays for the steps that have a value.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analyzer.frames import ranges

EXTRAPOLATION_THRESHOLD = 1.1
"""Extrapolate to a range boundary closer than 1.1 × the average sample spacing (Prometheus)."""


@dataclass(frozen=True)
class Grid:
    """Steps ``start_ms + k × step_ms`` for ``k`` in ``[0, count)``."""

    start_ms: int
    step_ms: int
    count: int


@dataclass(frozen=True)
class OnGrid:
    """Values at grid steps: ``series`` code, ``step`` index and ``value``, ordered by series then step."""

    series: np.ndarray
    step: np.ndarray
    value: np.ndarray


class _Sorted:
    """Samples ordered by (series, time), duplicates of a (series, time) dropped (the last kept), with a
    search key that orders series first."""

    def __init__(self, series: np.ndarray, t_ms: np.ndarray, value: np.ndarray, grid: Grid, reach_ms: int) -> None:
        series, t_ms, value = (np.asarray(a) for a in (series, t_ms, value))
        order = np.lexsort((t_ms, series))
        series, t_ms, value = series[order].astype(np.int64), t_ms[order].astype(np.int64), value[order]
        keep = np.ones(len(series), dtype=bool)
        keep[:-1] = (series[1:] != series[:-1]) | (t_ms[1:] != t_ms[:-1])
        self.series, self.t_ms, self.value = series[keep], t_ms[keep], value[keep].astype(np.float64)
        grid_end = grid.start_ms + (grid.count - 1) * grid.step_ms
        low = min(int(self.t_ms.min(initial=grid.start_ms)), grid.start_ms) - reach_ms - 1
        self.origin = low
        self.span = max(int(self.t_ms.max(initial=grid_end)), grid_end) - low + 1
        self.key = self.series * self.span + (self.t_ms - low)
        new = np.ones(len(self.series), dtype=bool)
        new[1:] = self.series[1:] != self.series[:-1]
        self.starts = np.flatnonzero(new)
        self.ends = np.append(self.starts[1:], len(self.series)) - 1

    def candidates(self, grid: Grid, after_ms: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every (series, step) from a series' first sample to ``after_ms`` past its last: sample-array
        index of the series' first sample, step index and step time."""
        first = np.ceil((self.t_ms[self.starts] - grid.start_ms) / grid.step_ms).astype(np.int64)
        last = np.floor((self.t_ms[self.ends] + after_ms - grid.start_ms) / grid.step_ms).astype(np.int64)
        first, last = np.clip(first, 0, grid.count), np.clip(last, -1, grid.count - 1)
        counts = np.maximum(last - first + 1, 0)
        owner = np.repeat(np.arange(len(self.starts)), counts)
        step = ranges(first, first + counts)
        return owner, step, grid.start_ms + step * grid.step_ms

    def find(self, owner: np.ndarray, at_ms: np.ndarray, side: str) -> np.ndarray:
        """Index of ``at_ms`` within each owner series' samples (``np.searchsorted`` semantics)."""
        return np.searchsorted(self.key, self.series[self.starts[owner]] * self.span + (at_ms - self.origin), side)


def rate_on_grid(series: np.ndarray, t_ms: np.ndarray, value: np.ndarray, grid: Grid, window_ms: int) -> OnGrid:
    """Per-second ``rate()`` of counters over ``window_ms`` at every grid step with two samples in it."""
    s = _Sorted(series, t_ms, value, grid, window_ms)
    owner, step, at = s.candidates(grid, window_ms)
    lo = np.maximum(s.find(owner, at - window_ms, "left"), s.starts[owner])
    hi = s.find(owner, at, "right") - 1
    ok = hi > lo
    owner, step, at, lo, hi = owner[ok], step[ok], at[ok], lo[ok], hi[ok]
    v, t = s.value, s.t_ms
    dropped = np.zeros(len(v))
    reset = np.flatnonzero(v[1:] < v[:-1]) + 1
    dropped[reset] = v[reset - 1]
    correction = np.cumsum(dropped)
    result = v[hi] - v[lo] + (correction[hi] - correction[lo])
    to_start = (t[lo] - (at - window_ms)) / 1000
    to_end = (at - t[hi]) / 1000
    sampled = (t[hi] - t[lo]) / 1000
    average = sampled / (hi - lo)
    with np.errstate(divide="ignore", invalid="ignore"):
        to_zero = np.where((result > 0) & (v[lo] >= 0), sampled * (v[lo] / result), np.inf)
    to_start = np.minimum(to_start, to_zero)
    threshold = average * EXTRAPOLATION_THRESHOLD
    interval = (
        sampled
        + np.where(to_start < threshold, to_start, average / 2)
        + np.where(to_end < threshold, to_end, average / 2)
    )
    rate = result * (interval / sampled) / (window_ms / 1000)
    return OnGrid(s.series[s.starts[owner]], step, rate)


def last_on_grid(
    series: np.ndarray, t_ms: np.ndarray, value: np.ndarray, grid: Grid, lookback_ms: int, stale_ms: int
) -> OnGrid:
    """A gauge's newest sample in ``(T - lookback_ms, T]`` at every grid step that has one, and none from
    ``stale_ms`` after a series' last sample: there a scraped series gets its staleness marker (the next
    scrape), which raw samples do not carry."""
    s = _Sorted(series, t_ms, value, grid, lookback_ms)
    owner, step, at = s.candidates(grid, min(lookback_ms, stale_ms - 1))
    lo = np.maximum(s.find(owner, at - lookback_ms, "right"), s.starts[owner])
    hi = s.find(owner, at, "right") - 1
    ok = hi >= lo
    return OnGrid(s.series[s.starts[owner[ok]]], step[ok], s.value[hi[ok]])
