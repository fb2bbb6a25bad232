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
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analyzer.collect import promql
from analyzer.collect.grid import Grid, OnGrid, last_on_grid, rate_on_grid
from analyzer.collect.prom_answers import Matrix
from analyzer.collect.prometheus_connection import PromClient
from analyzer.collect.promframe import per_point, range_frame
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
    answer = client.matrix(promql.raw_samples(scope.only(few), window), at)
    spacing = np.diff(answer.times)
    spacing = spacing[(spacing > 0) & (answer.series[1:] == answer.series[:-1])]
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
    result = client.matrix_range(promql.series_per_namespace(scope), tr.start, tr.end, step)
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


def usage_parts(
    client: PromClient,
    scope: promql.Scope,
    tr: TimeRange,
    scrape_s: float,
    requests: list[Request],
    progress: Progress | None = None,
) -> Iterator[pd.DataFrame]:
    """Each planned request's usage rows (snapshot usage columns, in its key order) as soon as both its
    answers have come: a caller that writes them as they come holds one request's rows at a time.
    Samples with only CPU or only memory (a container's first or last scrape) are dropped and logged."""
    window = rate_window_s(tr.step_s, scrape_s)
    total = 2 * len(requests)

    def fetch(job: tuple[str, int, Request]) -> Labelled:
        metric, _, request = job
        part = scope.only(request.namespaces)
        if request.raw:
            span = (request.chunk.end - request.chunk.start).total_seconds() + window
            counter = promql.CPU_COUNTER if metric == "cpu_cores" else promql.MEMORY_GAUGE
            answer = client.matrix(promql.raw_samples(part, span, counter), request.chunk.end)
            return evaluated(answer, metric, request.chunk, window, scrape_s)
        query = promql.cpu_usage(part, window) if metric == "cpu_cores" else promql.memory_usage(part)
        return stepped(client.matrix_range(query, request.chunk.start, request.chunk.end, tr.step_s), request.chunk)

    waiting: dict[int, Labelled] = {}
    dropped = 0
    jobs = [(metric, i, r) for i, r in enumerate(requests) for metric in ("cpu_cores", "memory_bytes")]
    for done, ((metric, i, request), answer) in enumerate(zip(jobs, client.map(fetch, jobs), strict=True), 1):
        other = waiting.pop(i, None)
        if other is None:
            waiting[i] = answer
        else:
            cpu, memory = (answer, other) if metric == "cpu_cores" else (other, answer)
            usage, lost = joined(cpu, memory, request.chunk)
            dropped += lost
            if len(usage):
                yield usage
        if progress is not None:
            progress(done, total)
    if dropped:
        log.info("dropped %d samples that had only CPU or only memory (a container's first or last scrape)", dropped)


@dataclass(frozen=True)
class Labelled:
    """One answer on the step grid: each series' (namespace, pod, container), and values at grid steps."""

    keys: list[tuple[str, str, str]]
    at: OnGrid


EVALUATION_BLOCK = 250_000
"""Raw samples evaluated at once: the grid's arithmetic makes a score of temporary arrays the size of its
input, so an answer of millions of points is evaluated a block of whole series at a time."""


def evaluated(
    answer: Matrix, metric: str, chunk: TimeRange, window_s: float, scrape_s: float, block: int = EVALUATION_BLOCK
) -> Labelled:
    """Raw samples (``[chunk.start - window, chunk.end]``) evaluated at the chunk's steps: ``rate()`` for
    CPU, the newest sample for memory (collect/grid.py), whole series of about ``block`` points at a time."""
    grid = Grid(int(chunk.start.value // 10**6), round(chunk.step_s * 1000), chunk.points)
    lookback = round(max(chunk.step_s, scrape_s) * 1000)
    ends = np.cumsum(answer.counts)
    pieces: list[OnGrid] = []
    first = 0
    while first < len(answer.counts):
        begin = int(ends[first - 1]) if first else 0
        last = max(first + 1, int(np.searchsorted(ends, begin + block, side="right")))
        end = int(ends[last - 1])
        if end > begin:  # series without points (an answer may list them) have nothing to evaluate
            series = np.repeat(np.arange(first, last), answer.counts[first:last])
            t_ms = np.round(answer.times[begin:end] * 1000).astype(np.int64)
            values = answer.values[begin:end]
            if metric == "cpu_cores":
                pieces.append(rate_on_grid(series, t_ms, values, grid, round(window_s * 1000)))
            else:
                pieces.append(last_on_grid(series, t_ms, values, grid, lookback, round(scrape_s * 1000)))
        first = last
    if not pieces:
        pieces.append(OnGrid(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0)))
    at = OnGrid(*(np.concatenate([getattr(p, f) for p in pieces]) for f in ("series", "step", "value")))
    return Labelled(_keys(answer), at)


def stepped(answer: Matrix, chunk: TimeRange) -> Labelled:
    """A range query's answer: its points are at the chunk's steps already."""
    offset_ms = np.round(answer.times * 1000).astype(np.int64) - chunk.start.value // 10**6
    step = np.rint(offset_ms / (chunk.step_s * 1000)).astype(np.int64)
    inside = (step >= 0) & (step < chunk.points)
    return Labelled(_keys(answer), OnGrid(answer.series[inside], step[inside], answer.values[inside]))


def _keys(answer: Matrix) -> list[tuple[str, str, str]]:
    return [(s.get("namespace", ""), s.get("pod", ""), s.get("container", "")) for s in answer.labels]


def joined(cpu: Labelled, memory: Labelled, chunk: TimeRange) -> tuple[pd.DataFrame, int]:
    """A request's usage rows: CPU and memory at the same (step, container), finite and with CPU ≥ 0, in
    the usage key's order; and how many samples had only one of them. Series naming the same container
    (two jobs scraping cAdvisor) are folded with ``max``, as ``max by`` would."""
    names = sorted(set(cpu.keys) | set(memory.keys))
    ids = {key: i for i, key in enumerate(names)}
    cpu_keys, cpu_values = _folded(cpu, ids, len(names))
    memory_keys, memory_values = _folded(memory, ids, len(names))
    common, in_cpu, in_memory = np.intersect1d(cpu_keys, memory_keys, assume_unique=True, return_indices=True)
    lost = len(cpu_keys) + len(memory_keys) - 2 * len(common)
    cores, memory_bytes = cpu_values[in_cpu], memory_values[in_memory]
    kept = (cores >= 0) & np.isfinite(cores) & np.isfinite(memory_bytes)
    common, cores, memory_bytes = common[kept], cores[kept], memory_bytes[kept]
    step, series = np.divmod(common, len(names))  # keys are step-major: rows come in the usage key's order
    labels = np.array(names, dtype=object).reshape(-1, 3)
    frame = pd.DataFrame({
        "timestamp": pd.to_datetime(chunk.start.value + step * round(chunk.step_s * 1e9), unit="ns", utc=True),
        **{key: per_point(labels[:, i], series) for i, key in enumerate(_KEYS)},
        "cpu_cores": cores,
        "memory_bytes": memory_bytes,
    })  # fmt: skip
    return frame, lost


def _folded(answer: Labelled, ids: dict[tuple[str, str, str], int], width: int) -> tuple[np.ndarray, np.ndarray]:
    """Unique keys ``step × width + container id`` and their values: when several series name the same
    container, the largest of a key's values (NaN only when every one is NaN), sorted by key."""
    container = np.array([ids[key] for key in answer.keys], dtype=np.int64)
    key = answer.at.step.astype(np.int64) * width + container[answer.at.series]
    value = answer.at.value
    if len(np.unique(container)) == len(container):  # a (series, step) once each: the keys are unique
        return key, value
    order = np.argsort(key, kind="stable")
    key = key[order]
    starts = np.flatnonzero(np.concatenate([[True], key[1:] != key[:-1]]))
    return key[starts], np.fmax.reduceat(value[order], starts) if len(key) else value
