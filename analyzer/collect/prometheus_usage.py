"""Per-container CPU and memory usage from cAdvisor series, in snapshot columns.

Requests are planned before they are sent: the range is cut into chunks under Prometheus's 11,000
points per series, and namespaces are packed into batches so that no answer exceeds a sample
budget. The number of requests is 2 × chunks × batches, independent of how pods are spread.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analyzer.collect import promql
from analyzer.collect.prometheus_connection import PromClient
from analyzer.collect.promframe import range_frame
from analyzer.collect.timerange import MAX_POINTS_PER_SERIES, TimeRange, rate_window_s
from analyzer.errors import SourceError

log = logging.getLogger(__name__)

DEFAULT_SAMPLE_BUDGET = 2_000_000
"""Points per answer (series × steps); about 60 MB of JSON."""

Progress = Callable[[int, int], None]
_KEYS = ["namespace", "pod", "container"]


@dataclass(frozen=True)
class Request:
    """One planned range query: a namespace batch over a time chunk."""

    namespaces: tuple[str, ...]
    chunk: TimeRange


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


def plan(sizes: dict[str, int], tr: TimeRange, budget: int = DEFAULT_SAMPLE_BUDGET) -> list[Request]:
    """Pack namespaces into batches of at most ``budget`` points per answer; cut each batch's range."""
    points = min(MAX_POINTS_PER_SERIES, tr.points)
    capacity = max(1, budget // points)
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
        chunk_points = max(2, min(MAX_POINTS_PER_SERIES, budget // size))
        requests.extend(Request(tuple(batch), chunk) for chunk in tr.chunks(chunk_points))
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

    def fetch(job: tuple[str, Request]) -> pd.DataFrame:
        metric, request = job
        part = scope.only(request.namespaces)
        query = promql.cpu_usage(part, window) if metric == "cpu_cores" else promql.memory_usage(part)
        result = client.query_range(query, request.chunk.start, request.chunk.end, tr.step_s)
        return range_frame(result, _KEYS, value=metric)

    frames: dict[str, list[pd.DataFrame]] = {"cpu_cores": [], "memory_bytes": []}
    jobs = [(metric, r) for r in requests for metric in frames]
    for done, ((metric, _), frame) in enumerate(zip(jobs, client.map(fetch, jobs), strict=True), 1):
        frames[metric].append(frame)
        if progress is not None:
            progress(done, total)
    cpu = _concat(frames["cpu_cores"], "cpu_cores")
    memory = _concat(frames["memory_bytes"], "memory_bytes")
    usage = cpu.merge(memory, on=["timestamp", *_KEYS], how="inner")
    dropped = len(cpu) + len(memory) - 2 * len(usage)
    if dropped:
        log.info("dropped %d samples that had only CPU or only memory (a container's first or last scrape)", dropped)
    usage = usage[(usage["cpu_cores"] >= 0) & np.isfinite(usage["cpu_cores"]) & np.isfinite(usage["memory_bytes"])]
    return usage[["timestamp", *_KEYS, "cpu_cores", "memory_bytes"]].reset_index(drop=True)


def _concat(frames: list[pd.DataFrame], value: str) -> pd.DataFrame:
    if not frames:
        return pd.DataFrame({"timestamp": pd.to_datetime([], utc=True), **{k: [] for k in _KEYS}, value: []})
    out = pd.concat([f.astype({k: object for k in _KEYS}) for f in frames], ignore_index=True)
    return out.drop_duplicates(["timestamp", *_KEYS], keep="last")
