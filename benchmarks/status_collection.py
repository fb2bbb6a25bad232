"""Collecting the containers' status over time on a real Prometheus: what the container status series
(issue: sidecar failures) add to ``collect``, next to its usage part and the rest of its kube-state-metrics
part, over the same week of the same cluster, in one run.

The cluster is `scale`'s snapshot (BENCH_STATUS_WORKLOADS, default 100, × BENCH_DAYS at 60 s) with the
container status `failures` gives it (every container ready when its pod is, one sidecar in ten crashing
every two hours). The generator's exposition writes it as the exporters do: cAdvisor's usage families and
kube-state-metrics' families, the container status series at every scrape of every container, as
kube-state-metrics exposes them. promtool backfills it (one 14-day block, kept in the cache). On one
Prometheus, after a pass that reads every chunk, three parts of ``collect`` run once each: the usage (raw
samples), the container status queries (:func:`analyzer.collect.ksm.container_jobs`: each series' values
at the start, then only its changes), and the whole kube-state-metrics part; for each, the server's
requests, bytes sent and CPU seconds, the client's wall time, and the rows it made.

Environment: BENCH_STATUS_WORKLOADS (100), and `scale`'s BENCH_CACHE and BENCH_DAYS.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
from collection import Measured, cached_tsdb, measure, ours
from failures import with_status
from scale import CACHE, snapshot

from analyzer.api import load_snapshot
from analyzer.collect import promql
from analyzer.collect.ksm import collect_container_status, collect_ksm, first_phases
from analyzer.collect.prometheus_connection import PromClient, PromOptions
from analyzer.collect.prometheus_usage import namespace_sizes
from analyzer.collect.timerange import TimeRange
from analyzer.snapshot import schema
from analyzer.synth.exposition import write_openmetrics
from tests.collect.promserver import PrometheusServer

WORKLOADS = int(os.environ.get("BENCH_STATUS_WORKLOADS", 100))


def backfilled(path: Path) -> Path:
    """``path``'s snapshot as the exporters expose it, backfilled into TSDB blocks (kept in the cache)."""

    def write(text: Path) -> int:
        with text.open("w") as out:
            return write_openmetrics(load_snapshot(path), out)

    return cached_tsdb(CACHE / f"{path.name}-exposed-tsdb", "status collection", write)


def status_only(tr: TimeRange) -> Callable[[PromClient], int]:
    """The container status queries of ``collect`` (both rounds), and the table they make; returns its rows."""

    def run(client: PromClient) -> int:
        return len(collect_container_status(client, [promql.Scope()], tr, first_phases([])))

    return run


def whole_ksm(tr: TimeRange, sizes: dict[str, int]) -> Callable[[PromClient], int]:
    """The kube-state-metrics part of ``collect``, container status included; returns its status rows."""

    def run(client: PromClient) -> int:
        ignored = lambda rows: None  # noqa: E731  (the tables a collection writes as they come)
        rows = collect_ksm(client, promql.Scope(), tr, ignored, ignored, sizes=sizes).container_status
        return len(rows)

    return run


def main() -> None:
    base, _ = snapshot(WORKLOADS)
    path = with_status(base)
    meta = load_snapshot(path).metadata
    tr = TimeRange(pd.Timestamp(meta.start), pd.Timestamp(meta.end), meta.step_s)
    truth = pq.read_metadata(path / schema.CONTAINER_STATUS_FILE).num_rows
    server = PrometheusServer(backfilled(path), Path(tempfile.mkdtemp(prefix="status-bench-run-")))
    try:
        warm = PromClient(PromOptions(server.url, timeout_s=600))  # every chunk read once: a warm page cache
        span = int((tr.end - tr.start).total_seconds()) + 3600
        for family in ("kube_pod_container_status_ready", promql.CPU_COUNTER, promql.MEMORY_GAUGE):
            warm.query(f"count(count_over_time({family}[{span}s]))", tr.end)
        sizes = namespace_sizes(warm, promql.Scope(), tr)  # as collect plans its batches
        warm.close()
        print(f"status collection: {WORKLOADS} workloads × {(tr.end - tr.start).days + 1} days, the snapshot's "
              f"container_status {truth:,} rows")  # fmt: skip
        runs: dict[str, Callable[[PromClient], int]] = {
            "usage (raw samples)": ours(tr, raw=True),
            "container status": status_only(tr),
            "kube-state-metrics, status included": whole_ksm(tr, sizes),
        }
        for name, run in runs.items():
            m: Measured = measure(server.url, run, gzip=False)
            print(f"status collection {name}: {m.server.requests:.0f} requests, {m.server.bytes / 2**20:,.1f} MiB "
                  f"sent, Prometheus CPU {m.server.cpu_s:.1f} s, client wall {m.wall_s:.1f} s, "
                  f"{m.points:,} rows", flush=True)  # fmt: skip
    finally:
        server.stop()


if __name__ == "__main__":
    main()
