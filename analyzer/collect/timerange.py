"""The time range of a collection: start, end and step, cut into chunks Prometheus accepts."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import pandas as pd

from analyzer.errors import QuantityError, SidecarImpactError, clip
from analyzer.units import parse_duration

MAX_POINTS_PER_SERIES = 11_000
"""Prometheus refuses a range query whose (end - start) / step exceeds this (web/api/v1)."""


@dataclass(frozen=True)
class TimeRange:
    """An aligned range: ``start`` and ``end`` are multiples of ``step_s`` (UTC), ``start < end``."""

    start: pd.Timestamp
    end: pd.Timestamp
    step_s: float

    @property
    def points(self) -> int:
        return round((self.end - self.start).total_seconds() / self.step_s) + 1

    def chunks(self, max_points: int = MAX_POINTS_PER_SERIES) -> Iterator[TimeRange]:
        """Consecutive, non-overlapping sub-ranges of at most ``max_points`` points each."""
        span = pd.Timedelta(seconds=self.step_s * (max(1, max_points) - 1))
        step = pd.Timedelta(seconds=self.step_s)
        start = self.start
        while start <= self.end:
            end = min(start + span, self.end)
            yield TimeRange(start, end, self.step_s)
            start = end + step


def time_range(
    *,
    since: str | None = None,
    start: str | None = None,
    end: str | None = None,
    step: str = "60s",
    now: pd.Timestamp | None = None,
) -> TimeRange:
    """Build a range from ``--since`` or ``--start/--end`` (RFC 3339 or unix seconds) and ``--step``.

    The ends are floored to the step so that repeated collections sample the same instants.
    """
    try:
        step_s = parse_duration(step)
    except QuantityError as exc:
        raise SidecarImpactError(f"--step: {exc}") from exc
    if step_s < 1:
        raise SidecarImpactError(f"--step: {clip(step)} is below one second")
    if since is not None and start is not None:
        raise SidecarImpactError("--since and --start are exclusive: give one")
    stop = _instant(end, "--end") if end is not None else (now if now is not None else pd.Timestamp.now(tz="UTC"))
    if start is not None:
        first = _instant(start, "--start")
    else:
        try:
            span = parse_duration(since or "7d")
        except QuantityError as exc:
            raise SidecarImpactError(f"--since: {exc}") from exc
        first = stop - pd.Timedelta(seconds=span)
    first, stop = _floor(first, step_s), _floor(stop, step_s)
    if first >= stop:
        raise SidecarImpactError(f"time range is empty: start {first} is not before end {stop}")
    return TimeRange(first, stop, step_s)


def rate_window_s(step_s: float, scrape_interval_s: float) -> float:
    """Range of ``rate()``: ``max(step + scrape, 4 × scrape)``, Grafana's ``$__rate_interval``.

    ``step + scrape`` makes consecutive windows overlap by one scrape so no increase falls between
    them; ``4 × scrape`` keeps at least two samples in every window despite scrape jitter and one
    missed scrape.
    """
    return max(step_s + scrape_interval_s, 4 * scrape_interval_s)


def promql_duration(seconds: float) -> str:
    """Seconds as a PromQL duration literal (whole seconds, rounded up)."""
    return f"{math.ceil(seconds)}s"


def _instant(text: str, flag: str) -> pd.Timestamp:
    try:
        value = float(text)
    except ValueError:
        try:
            stamp = pd.Timestamp(text)
        except ValueError as exc:
            raise SidecarImpactError(f"{flag}: {clip(text)} is not an RFC 3339 time or unix seconds") from exc
        return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return pd.Timestamp(value, unit="s", tz="UTC")


def _floor(stamp: pd.Timestamp, step_s: float) -> pd.Timestamp:
    seconds = stamp.timestamp()
    return pd.Timestamp(math.floor(seconds / step_s) * step_s, unit="s", tz="UTC")
