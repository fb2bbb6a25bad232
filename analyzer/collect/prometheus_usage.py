"""Per-container CPU and memory usage from cAdvisor series, in snapshot columns.

Requests are planned before they are sent: the range is cut into chunks under Prometheus's 11,000
points per series, and namespaces are packed into batches so that no answer exceeds a sample
budget. The number of requests is 2 × chunks × batches, independent of how pods are spread.

Two ways to ask, chosen by the scrape interval (docs/collect.md, "Query plan"):

- **raw samples** when a step holds at most two scrapes: each request is an instant query of a range
  selector, which the server answers from its chunks without evaluating anything; ``rate()`` and the
  gauge's value at each step are computed here exactly as Prometheus would (collect/grid.py). This
  halves the server's CPU on the collection benchmark (and uncompressed answers, the default of
  :class:`PromOptions`, cut what is left about 7 times);
- **range queries** otherwise (``rate()`` and ``max by`` evaluated by the server at each step), which
  then send fewer points than the raw samples.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from analyzer.collect import promql
from analyzer.collect.grid import Grid, last_on_grid, rate_on_grid
from analyzer.collect.prometheus_connection import PromClient
from analyzer.collect.promframe import range_frame
from analyzer.collect.timerange import MAX_POINTS_PER_SERIES, TimeRange, rate_window_s
from analyzer.errors import SourceError

log = logging.getLogger(__name__)

DEFAULT_SAMPLE_BUDGET = 2_000_000
"""Points per answer (series × steps); about 60 MB of JSON."""
RAW_SCRAPES_PER_STEP = 2.0
"""Raw samples are read while a step holds at most this many scrapes: up to there they cost the
server less CPU than a range query's per-step evaluation (benchmarks/collection.py)."""

Progress = Callable[[int, int], None]
_KEYS = ["namespace", "pod", "container"]


@dataclass(frozen=True)
class Request:
    """One planned query: a namespace batch over a time chunk, as a range query or for raw samples."""

    namespaces: tuple[str, ...]
    chunk: TimeRange
    raw: bool = False


def reads_raw(step_s: float, scrape_s: float) -> bool:
    """Whether raw samples cost the server less than a range query at ``step_s``."""
    return step_s <= RAW_SCRAPES_PER_STEP * scrape_s


def scrape_interval_s(client: PromClient, scope: promql.Scope, at: pd.Timestamp, sizes: dict[str, int]) -> float:
    """The cAdvisor scrape interval: the median spacing of raw sample timestamps over the 10 minutes
    before ``at``, read from the memory series of the (up to three) smallest namespaces in ``sizes``."""
    window = 600.0
    few = sorted(sizes, key=lambda ns: (sizes[ns], ns))[:3]
    result = client.query(promql.raw_samples(scope.only(few), window), at)
    gaps = [np.diff(np.array([float(v[0]) for v in s.get("values", [])])) for s in result]
    spacing = np.concatenate(gaps) if gaps else np.zeros(0)
    spacing = spacing[spacing > 0]
    if not len(spacing):
        raise SourceError(
            f"Prometheus at {client.options.url}: fewer than two {promql.MEMORY_GAUGE} samples per series in the "
            f"10 minutes before {at.isoformat()} in {', '.join(few)} (is cAdvisor scraped, and are --end, "
            "--cluster-label and -n right? --scrape-interval sets it)"
        )
    return float(np.median(spacing))


def namespace_sizes(client: PromClient, scope: promql.Scope, tr: TimeRange) -> dict[str, int]:
    """Most containers reporting at once, per namespace, sampled at up to 500 instants of the range."""
    span = (tr.end - tr.start).total_seconds()
    step = max(tr.step_s, span / 500)
    result = client.query_range(promql.series_per_namespace(scope), tr.start, tr.end, step)
    frame = range_frame(result, ["namespace"])
    if frame.empty:
        return {}
    sizes = frame.groupby("namespace", observed=True)["value"].max()
    return {str(ns): int(v) for ns, v in sizes.items()}


def plan(
    sizes: dict[str, int], tr: TimeRange, budget: int = DEFAULT_SAMPLE_BUDGET, scrape_s: float | None = None
) -> list[Request]:
    """Pack namespaces into batches of at most ``budget`` points per answer; cut each batch's range.

    With ``scrape_s`` and :func:`reads_raw`, the requests read raw samples and points are counted
    per scrape; otherwise they are range queries and points are counted per step."""
    raw = scrape_s is not None and reads_raw(tr.step_s, scrape_s)
    per_step = tr.step_s / scrape_s if scrape_s is not None and raw else 1.0  # answer points per step
    max_steps = tr.points if raw else min(MAX_POINTS_PER_SERIES, tr.points)
    capacity = max(1, budget // max(1, math.ceil(max_steps * per_step)))
    batches: list[list[str]] = []
    load = 0
    for ns in sorted(sizes):
        size = max(1, sizes[ns])
        if batches and load + size <= capacity:
            batches[-1].append(ns)
            load += size
        else:
            batches.append([ns])
            load = size
    requests = []
    for batch in batches:
        size = sum(max(1, sizes[ns]) for ns in batch)
        chunk_points = max(2, min(max_steps, int(budget / size / per_step)))
        requests.extend(Request(tuple(batch), chunk, raw) for chunk in tr.chunks(chunk_points))
    return requests


def collect_usage(
    client: PromClient,
    scope: promql.Scope,
    tr: TimeRange,
    scrape_s: float,
    requests: list[Request],
    progress: Progress | None = None,
) -> pd.DataFrame:
    """Usage samples (snapshot usage columns) for every planned request; rows lacking CPU or memory dropped."""
    window = rate_window_s(tr.step_s, scrape_s)
    total = 2 * len(requests)

    def fetch(job: tuple[str, int, Request]) -> pd.DataFrame:
        metric, _, request = job
        part = scope.only(request.namespaces)
        if request.raw:
            span = (request.chunk.end - request.chunk.start).total_seconds() + window
            counter = promql.CPU_COUNTER if metric == "cpu_cores" else promql.MEMORY_GAUGE
            answer = client.query(promql.raw_samples(part, span, counter), request.chunk.end)
            return raw_frame(answer, metric, request.chunk, window, scrape_s, client.options.url)
        query = promql.cpu_usage(part, window) if metric == "cpu_cores" else promql.memory_usage(part)
        result = client.query_range(query, request.chunk.start, request.chunk.end, tr.step_s)
        return range_frame(result, _KEYS, value=metric)

    # Each request's CPU and memory are joined as soon as both have come: the frames kept are the
    # usage rows themselves (tens of millions on a large cluster), not two copies waiting for a merge.
    joined: list[pd.DataFrame] = []
    waiting: dict[int, pd.DataFrame] = {}
    dropped = 0
    jobs = [(metric, i, r) for i, r in enumerate(requests) for metric in ("cpu_cores", "memory_bytes")]
    for done, ((metric, i, _), frame) in enumerate(zip(jobs, client.map(fetch, jobs), strict=True), 1):
        other = waiting.pop(i, None)
        if other is None:
            waiting[i] = frame
        else:
            cpu, memory = (frame, other) if metric == "cpu_cores" else (other, frame)
            usage, lost = _join(cpu, memory)
            joined.append(usage)
            dropped += lost
        if progress is not None:
            progress(done, total)
    if dropped:
        log.info("dropped %d samples that had only CPU or only memory (a container's first or last scrape)", dropped)
    if not joined:
        return _join(_empty("cpu_cores"), _empty("memory_bytes"))[0]
    _share_categories(joined)
    usage = pd.concat(joined, ignore_index=True)
    joined.clear()
    return usage


def _join(cpu: pd.DataFrame, memory: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """One request's usage rows (snapshot usage columns): CPU and memory at the same (time, container),
    finite and with CPU ≥ 0; and how many samples had only one of them."""
    keys = ["timestamp", *_KEYS]
    cpu, memory = cpu.drop_duplicates(keys, keep="last"), memory.drop_duplicates(keys, keep="last")
    _share_categories([cpu, memory])
    usage = cpu.merge(memory, on=keys, how="inner")
    lost = len(cpu) + len(memory) - 2 * len(usage)
    usage = usage[(usage["cpu_cores"] >= 0) & np.isfinite(usage["cpu_cores"]) & np.isfinite(usage["memory_bytes"])]
    return usage[[*keys, "cpu_cores", "memory_bytes"]].reset_index(drop=True), lost


def _empty(value: str) -> pd.DataFrame:
    return pd.DataFrame({"timestamp": pd.to_datetime([], utc=True), **{k: [] for k in _KEYS}, value: []})


def _share_categories(frames: list[pd.DataFrame]) -> None:
    """Give the key columns of every frame the same categories (in place), so that concatenating and
    merging tens of millions of rows works on integer codes instead of strings."""
    for key in _KEYS:
        columns = [f[key].astype("category") for f in frames]
        categories = pd.Index(sorted(set().union(*(c.cat.categories for c in columns))), dtype=object)
        for frame, column in zip(frames, columns, strict=True):
            frame[key] = column.cat.set_categories(categories)


def raw_frame(
    answer: list[dict[str, Any]], metric: str, chunk: TimeRange, window_s: float, scrape_s: float, where: str
) -> pd.DataFrame:
    """One answer of raw samples (``[chunk.start - window, chunk.end]``) evaluated at the chunk's steps:
    ``rate()`` for CPU, the newest sample for memory (collect/grid.py), in :func:`range_frame`'s columns.
    Series naming the same container (two jobs scraping cAdvisor) are folded with ``max``, as ``max by``."""
    series = _raw_series(answer, where)
    if not series:
        return _empty(metric)
    keys = [(labels.get("namespace", ""), labels.get("pod", ""), labels.get("container", "")) for labels, _ in series]
    codes = np.repeat(np.arange(len(series)), [len(points) for _, points in series])
    points = np.concatenate([points for _, points in series])
    del series
    grid = Grid(int(chunk.start.value // 10**6), round(chunk.step_s * 1000), chunk.points)
    t_ms = np.round(points[:, 0] * 1000).astype(np.int64)
    if metric == "cpu_cores":
        at = rate_on_grid(codes, t_ms, points[:, 1], grid, round(window_s * 1000))
    else:
        lookback = round(max(chunk.step_s, scrape_s) * 1000)
        at = last_on_grid(codes, t_ms, points[:, 1], grid, lookback, round(scrape_s * 1000))
    labels = np.array(keys, dtype=object).reshape(-1, 3)  # a row per series
    frame = pd.DataFrame({key: _per_row(labels[:, i], at.series) for i, key in enumerate(_KEYS)})
    frame["timestamp"] = pd.to_datetime(grid.start_ms + at.step * grid.step_ms, unit="ms", utc=True)
    frame[metric] = at.value
    if len(set(keys)) == len(keys):
        return frame
    return frame.groupby(["timestamp", *_KEYS], sort=False, observed=True, as_index=False)[metric].max()


def _per_row(per_series: np.ndarray, series: np.ndarray) -> pd.Categorical:
    """A label of every row, looked up once per series and indexed by its code: no string per row."""
    categories, inverse = np.unique(per_series, return_inverse=True)
    return pd.Categorical.from_codes(inverse[series], categories)


MAX_UNIX_SECONDS = 1e11
"""Sample times beyond this (year 5138) are not Prometheus's: refused before they become milliseconds."""


def _raw_series(answer: list[dict[str, Any]], where: str) -> list[tuple[dict[str, str], np.ndarray]]:
    """Each series of an answer to a range selector: its labels and its ``[[unix seconds, value], ...]``."""
    wrong = SourceError(f"Prometheus at {where}: an answer to a range selector is not series of [time, value]")
    try:
        series = [(dict(s["metric"]), np.asarray(s["values"], np.float64)) for s in answer if s.get("values")]
    except (AttributeError, KeyError, TypeError, ValueError):
        raise wrong from None
    for _, points in series:
        if points.ndim != 2 or points.shape[1] != 2 or not (np.abs(points[:, 0]) < MAX_UNIX_SECONDS).all():
            raise wrong
    return series
