"""Collection cost on a real Prometheus: this tool's query plan against the per-container pattern of the
popular recommender, over the same week of the same cluster, in one run.

The cluster is a `sample` snapshot (1,000 workloads × 7 days at 60 s by default), exposed as cAdvisor's
two usage families (one scrape job; the CPU counter kept to the nanosecond and the working set to the
byte, as cAdvisor writes them) and backfilled with ``promtool tsdb create-blocks-from openmetrics``.
Both patterns then fetch the same data, per-container CPU and memory over the week, from the same
server, and for each the server's own metrics give requests, response bytes (after gzip, as sent)
and CPU seconds (``process_cpu_seconds_total``); the client gives wall time and uncompressed bytes.

- **sidecar-impact usage**: the usage part of ``collect`` (namespace sizes, scrape interval, planned
  queries of namespace batches, answers written to Parquet as they come), in a child process of its own
  for its wall, CPU and peak RSS: raw samples, as its plan reads them at this scrape interval (and range
  queries, as it reads them when a step holds more than two scrapes, with ``BENCH_RANGE_QUERIES``).
- **sidecar-impact**: the whole ``collect`` command (objects from the snapshot's files): the usage, the
  kube-state-metrics queries (answered empty here: the server holds cAdvisor's families only, so their
  requests are counted but their tables cost nothing), writing the objects and validating the snapshot.
- **per container**: for every container of every workload, one instant query for CPU
  (``quantile_over_time`` of a ``rate`` subquery at 60 s over the week) and one for memory
  (``max_over_time`` of a subquery), with the workload's pods as a regex, on 10 threads: the shape its
  public source documents, with the rate window this tool would use and the same 60 s resolution.

Every chunk is read once before (a warm page cache), then each pattern runs once. Targets (issue
17): ≥ 10× fewer requests, ≤ 1× the Prometheus CPU, ≤ 2× the bytes; (issue "Collection at cluster
scale") the client's wall ≤ the pattern's and ≤ 90 s, its peak RSS ≤ 1.5 GiB.

This tool runs twice: as it asks by default (uncompressed answers) and with ``--gzip``; the pattern
asks for gzip, as its HTTP client does by default.

Environment: BENCH_COLLECT_WORKLOADS (1000), BENCH_DAYS (7), BENCH_CACHE (as ``scale``: the snapshot
and the backfilled TSDB are kept there between runs; the text of the 1,000-workload week is about 30 GiB
and of the 3,000-workload week about 96 GB, written and backfilled in slices of time when it does not fit
half the free disk; the server never compacts the blocks it serves), BENCH_RANGE_QUERIES=1 (also this
tool's range queries), BENCH_COLLECT_ROWS (a comma-separated choice of rows; the pattern always runs).
"""

from __future__ import annotations

import functools
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from analyzer.collect import promql  # noqa: E402
from analyzer.collect.prometheus_connection import PromClient, PromOptions  # noqa: E402
from analyzer.collect.prometheus_usage import namespace_sizes, plan, scrape_interval_s, usage_parts  # noqa: E402
from analyzer.collect.timerange import TimeRange, promql_duration, rate_window_s  # noqa: E402
from analyzer.runtime.memory import freed_memory_returned  # noqa: E402
from analyzer.snapshot.writing import UsageFiles  # noqa: E402
from tests.collect.promserver import PrometheusServer, require  # noqa: E402

WORKLOADS = int(os.environ.get("BENCH_COLLECT_WORKLOADS", 1000))
DAYS = float(os.environ.get("BENCH_DAYS", 7))
CACHE = Path(os.environ.get("BENCH_CACHE", Path(tempfile.gettempdir()) / "sidecar-impact-bench"))
RANGE_QUERIES = os.environ.get("BENCH_RANGE_QUERIES", "0") == "1"
"""Also measure this tool's range queries (the plan when a step holds more than two scrapes)."""
ROWS = [r for r in os.environ.get("BENCH_COLLECT_ROWS", "").split(",") if r]
"""Only these rows (names as printed) and the pattern; all when empty."""
PATTERN_THREADS = 10
"""The recommender's default number of concurrent requests."""
TARGET_REQUESTS, TARGET_CPU, TARGET_BYTES = 10.0, 1.0, 2.0
TARGET_WALL_S = 90.0
"""Issue "Collection at cluster scale": the client's wall for the 1,000-workload week, and its peak RSS."""
TARGET_RSS = 1.5 * 2**30
NO_COMPACTION = ("--storage.tsdb.min-block-duration=2h", "--storage.tsdb.max-block-duration=2h")
"""The backfilled blocks served as they are: a sliced backfill's blocks are not compacted while measured."""
_JOB = 'job="kubelet",metrics_path="/metrics/cadvisor",instance="node-1:10250"'


def snapshot() -> Path:
    path = CACHE / f"w{WORKLOADS}-d{DAYS:g}"
    if not (path / "metadata.json").exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "analyzer", "sample", "--out", str(path), "--workloads", str(WORKLOADS),
               "--days", f"{DAYS:g}", "--seed", "7"]  # fmt: skip
        subprocess.run(cmd, check=True, cwd=HERE.parent)
    return path


def write_cadvisor(path: Path, out: Path, window: tuple[int, int] | None = None) -> int:
    """cAdvisor's CPU counter and working set for every container sample of the snapshot (only those in
    ``window``, epoch seconds [start, end), when given), one namespace partition at a time; returns the
    number of samples written. The counter is summed over the whole range, so slices continue each other."""
    step_s = json.loads((path / "metadata.json").read_text())["step_s"]
    parts = sorted((path / "usage").glob("namespace=*/*.parquet"))
    written = 0
    with out.open("w") as text:
        for family, kind, column in (("container_cpu_usage_seconds_total", "counter", "cpu_seconds"),
                                     ("container_memory_working_set_bytes", "gauge", "memory_bytes")):  # fmt: skip
            text.write(f"# TYPE {family.removesuffix('_total')} {kind}\n")
            for part in parts:
                namespace = part.parent.name.removeprefix("namespace=")
                usage = pq.read_table(part, columns=["timestamp", "pod", "container", "cpu_cores", "memory_bytes"])
                rows = usage.to_pandas().sort_values(["pod", "container", "timestamp"], kind="stable")
                # cAdvisor: nanoseconds of CPU as seconds, whole bytes of working set.
                rows["cpu_seconds"] = np.round((rows["cpu_cores"] * step_s).groupby(
                    [rows["pod"], rows["container"]], sort=False).cumsum(), 9)  # fmt: skip
                rows["memory_bytes"] = np.round(rows["memory_bytes"])
                rows["seconds"] = rows["timestamp"].astype("int64") // 10**9
                if window is not None:
                    rows = rows[(rows["seconds"] >= window[0]) & (rows["seconds"] < window[1])]
                seconds, values = rows["seconds"].to_numpy(), rows[column].to_numpy()
                for (pod, container), index in rows.groupby(["pod", "container"], sort=False).indices.items():
                    prefix = (f'{family}{{namespace="{namespace}",pod="{pod}",container="{container}",{_JOB},'
                              f'image="{container}"}} ')  # fmt: skip
                    lines = zip(values[index].tolist(), seconds[index].tolist(), strict=True)
                    text.write("".join(f"{prefix}{v!r} {t}\n" for v, t in lines))
                    written += len(index)
        text.write("# EOF\n")
    return written


TEXT_BYTES_PER_LINE = 230
"""About what one line of :func:`write_cadvisor` takes (two lines per usage sample: CPU and memory)."""


def slices(path: Path) -> list[tuple[int, int] | None]:
    """The snapshot's range cut in windows whose text fits half the free disk each (the text of the
    3,000-workload week is about 90 GiB; promtool's blocks take a tenth of their text): one window, the
    whole range, when it fits."""
    meta = json.loads((path / "metadata.json").read_text())
    rows = sum(pq.read_metadata(f).num_rows for f in (path / "usage").glob("namespace=*/*.parquet"))
    text = 2 * rows * TEXT_BYTES_PER_LINE
    n = -(-text // (shutil.disk_usage(CACHE).free // 2))
    if n <= 1:
        return [None]
    start = int(pd.Timestamp(meta["start"]).timestamp())
    end = int(pd.Timestamp(meta["end"]).timestamp()) + 1
    cuts = [start + (end - start) * i // n for i in range(n + 1)]
    return list(itertools.pairwise(cuts))


def tsdb(path: Path) -> Path:
    """The snapshot's cAdvisor families backfilled into TSDB blocks (kept in the cache; rebuilt when missing)."""
    writers = [functools.partial(write_cadvisor, path, window=w) for w in slices(path)]
    return cached_tsdb(CACHE / f"{path.name}-tsdb", "collection", *writers)


def cached_tsdb(blocks: Path, name: str, *writers: Callable[[Path], int]) -> Path:
    """``blocks``, or when missing the OpenMetrics text each of ``writers`` makes (returning its samples)
    backfilled there by promtool, one text at a time (slices of time: blocks that never overlap);
    ``name`` labels what it prints."""
    if blocks.exists():
        return blocks
    work = Path(tempfile.mkdtemp(prefix=f"{blocks.name}.", dir=blocks.parent))
    text = work / "exposed.om"
    for i, write in enumerate(writers, 1):
        started = time.perf_counter()
        samples = write(text)
        wrote = time.perf_counter()
        part = f" (slice {i} of {len(writers)})" if len(writers) > 1 else ""
        print(f"{name}: wrote {samples:,} samples ({text.stat().st_size / 2**30:.1f} GiB of OpenMetrics){part} in "
              f"{wrote - started:.0f} s", flush=True)  # fmt: skip
        # One block per 14 days: promtool reads the whole text once per block it writes.
        subprocess.run([require("promtool"), "tsdb", "create-blocks-from", "openmetrics", "--quiet",
                        "--max-block-duration=336h", str(text), str(work / "tsdb")], check=True)  # fmt: skip
        print(f"{name}: promtool backfill {time.perf_counter() - wrote:.0f} s", flush=True)
        text.unlink()
    (work / "tsdb").rename(blocks)
    work.rmdir()
    return blocks


@dataclass
class ServerCounters:
    """The query API's requests and response bytes (as sent, after gzip) and the process's CPU seconds."""

    requests: float
    bytes: float
    cpu_s: float

    @classmethod
    def read(cls, url: str) -> ServerCounters:
        with urllib.request.urlopen(f"{url}/metrics", timeout=30) as answer:
            text = answer.read().decode()
        sums: dict[str, float] = defaultdict(float)
        for line in text.splitlines():
            match = re.match(r'^(\w+)\{[^}]*handler="/api/v1/query(?:_range)?"[^}]*\} (\S+)$', line)
            if match:
                sums[match.group(1)] += float(match.group(2))
            elif line.startswith("process_cpu_seconds_total "):
                sums["cpu"] = float(line.split()[1])
        return cls(sums["prometheus_http_requests_total"], sums["prometheus_http_response_size_bytes_sum"],
                   sums["cpu"])  # fmt: skip

    def __sub__(self, other: ServerCounters) -> ServerCounters:
        return ServerCounters(self.requests - other.requests, self.bytes - other.bytes, self.cpu_s - other.cpu_s)


@dataclass
class Measured:
    server: ServerCounters
    wall_s: float
    raw_bytes: int
    points: int


def measure(url: str, run: Callable[[PromClient], int], gzip: bool) -> Measured:
    client = PromClient(PromOptions(url, timeout_s=600, gzip=gzip))
    raw = [0]
    lock = threading.Lock()

    def count(response: object, *args: object, **kwargs: object) -> None:
        size = len(response.content)  # type: ignore[attr-defined]  # read before the lock: it takes a while
        with lock:
            raw[0] += size

    client._prom._session.hooks["response"].append(count)
    before = ServerCounters.read(url)
    started = time.perf_counter()
    points = run(client)
    wall = time.perf_counter() - started
    client.close()
    return Measured(ServerCounters.read(url) - before, wall, raw[0], points)


@dataclass
class Child:
    """The ``collect`` command's own figures: wall and CPU seconds, peak RSS, usage samples written."""

    wall_s: float
    cpu_s: float
    peak_rss: int
    samples: int


def child(cmd: list[str], out: Path) -> Child:
    """``cmd`` in a child process whose resource use is its own (``wait4``); it writes usage under ``out``,
    which is counted and removed after. Its ``ru_maxrss`` counts the copy of this process the fork made
    before ``exec`` too: this process must stay small (:func:`containers` runs in a process of its own)."""
    started = time.perf_counter()
    process = subprocess.Popen(cmd, cwd=HERE.parent)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status):
        raise SystemExit(f"{cmd[2:4]} failed with exit code {os.waitstatus_to_exitcode(status)}")
    samples = sum(pq.read_metadata(f).num_rows for f in (out / "usage").glob("namespace=*/*.parquet"))
    subprocess.run(["rm", "-rf", str(out.parent)], check=True)
    return Child(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024, samples)


def ours(url: str, path: Path, tr: TimeRange, *extra: str) -> Callable[[PromClient], int]:
    """``sidecar-impact collect`` as a user runs it (objects from the snapshot's files, no API); its figures
    are kept in ``CHILDREN`` under the flags given."""

    def run(client: PromClient) -> int:
        out = Path(tempfile.mkdtemp(prefix="collect-bench-out-")) / "snap"
        cmd = [sys.executable, "-m", "analyzer", "collect", "--prometheus-url", url, "--objects",
               str(path / "objects"), "--start", tr.start.isoformat(), "--end", tr.end.isoformat(), "--step",
               f"{tr.step_s:g}s", "--timeout", "600s", "--quiet", "--out", str(out), *extra]  # fmt: skip
        result = CHILDREN[" ".join(extra)] = child(cmd, out)
        return 2 * result.samples

    return run


def usage_part(url: str, tr: TimeRange, raw: bool = True) -> Callable[[PromClient], int]:
    """The usage part of ``collect`` alone, as ``collect`` does it (answers written to Parquet as they come,
    under its memory policy), in a child process: what compares with the pattern, which reads usage only.
    ``raw``: the plan at this scrape interval; otherwise range queries (``BENCH_RANGE_QUERIES``)."""
    mode = "usage" if raw else "usage-range"

    def run(client: PromClient) -> int:
        out = Path(tempfile.mkdtemp(prefix="collect-bench-out-")) / "snap"
        cmd = [sys.executable, __file__, mode, url, tr.start.isoformat(), tr.end.isoformat(), str(tr.step_s),
               str(out)]  # fmt: skip
        result = CHILDREN[mode] = child(cmd, out)
        return 2 * result.samples

    return run


def usage_child(mode: str, url: str, start: str, end: str, step_s: str, out: str) -> None:
    """The child of :func:`usage_part`."""
    tr = TimeRange(pd.Timestamp(start), pd.Timestamp(end), float(step_s))
    client = PromClient(PromOptions(url, timeout_s=600))
    with freed_memory_returned():
        scope = promql.Scope()
        sizes = namespace_sizes(client, scope, tr)
        scrape = scrape_interval_s(client, scope, tr.end, sizes)
        Path(out).mkdir(parents=True)
        files = UsageFiles(Path(out))
        requests = plan(sizes, tr, scrape_s=scrape if mode == "usage" else None)
        for part in usage_parts(client, scope, tr, scrape, requests):
            files.add(part)
    client.close()


CHILDREN: dict[str, Child] = {}


def containers(path: Path) -> list[tuple[str, str, tuple[str, ...]]]:
    """(namespace, container, pods) for every container of every workload: the pattern's unit of work."""
    owners = {}
    for name in ("replicasets.json",):
        for rs in json.loads((path / "objects" / name).read_text())["items"]:
            meta = rs["metadata"]
            ref = (meta.get("ownerReferences") or [{}])[0]
            owners[(meta["namespace"], meta["name"])] = (ref.get("kind", "ReplicaSet"), ref.get("name", meta["name"]))
    groups: dict[tuple[str, str, str, str], list[str]] = defaultdict(list)
    for pod in json.loads((path / "objects" / "pods.json").read_text())["items"]:
        meta = pod["metadata"]
        ref = (meta.get("ownerReferences") or [{"kind": "Pod", "name": meta["name"]}])[0]
        kind, name = owners.get((meta["namespace"], ref["name"]), (ref["kind"], ref["name"]))
        for c in pod["spec"]["containers"]:
            groups[(meta["namespace"], kind, name, c["name"])].append(meta["name"])
    return [(ns, container, tuple(pods)) for (ns, _, _, container), pods in sorted(groups.items())]


def per_container(
    tr: TimeRange, window_s: float, units: list[tuple[str, str, tuple[str, ...]]]
) -> Callable[[PromClient], int]:
    span, step, window = (promql_duration(s) for s in ((tr.end - tr.start).total_seconds(), tr.step_s, window_s))

    def queries(unit: tuple[str, str, tuple[str, ...]]) -> list[str]:
        ns, container, pods = unit
        selector = f'{{namespace="{ns}",pod=~"{"|".join(pods)}",container="{container}"}}'
        cpu = (f"quantile_over_time(0.95, max(rate(container_cpu_usage_seconds_total{selector}[{window}])) "
               f"by (container, pod, job)[{span}:{step}])")  # fmt: skip
        memory = (
            f"max_over_time(max(container_memory_working_set_bytes{selector}) by (container, pod, job)[{span}:{step}])"
        )
        return [cpu, memory]

    def run(client: PromClient) -> int:
        jobs = [q for unit in units for q in queries(unit)]
        with ThreadPoolExecutor(PATTERN_THREADS) as pool:
            return sum(len(r) for r in pool.map(lambda q: client.query(q, tr.end), jobs))

    return run


def main() -> None:
    path = snapshot()
    meta = json.loads((path / "metadata.json").read_text())
    tr = TimeRange(pd.Timestamp(meta["start"]), pd.Timestamp(meta["end"]), meta["step_s"])
    blocks = tsdb(path)
    work = Path(tempfile.mkdtemp(prefix="collect-bench-run-"))
    server = PrometheusServer(blocks, work, *NO_COMPACTION)
    try:
        with ProcessPoolExecutor(1) as pool:  # the pods parsed elsewhere: this process stays small (child())
            units = pool.submit(containers, path).result()
        window = rate_window_s(tr.step_s, tr.step_s)
        runs = {  # name: (pattern, gzip)
            "sidecar-impact usage": (usage_part(server.url, tr), False),  # what the pattern reads
            "sidecar-impact": (ours(server.url, path, tr), False),
            "sidecar-impact --gzip": (ours(server.url, path, tr, "--gzip"), True),
            "per container (gzip)": (per_container(tr, window, units), True),
        }
        if RANGE_QUERIES:
            runs["sidecar-impact usage-range"] = (usage_part(server.url, tr, raw=False), False)
        if ROWS:
            runs = {name: run for name, run in runs.items() if name in ROWS or name.startswith("per container")}
        warm = time.perf_counter()
        for family in (promql.CPU_COUNTER, promql.MEMORY_GAUGE):  # every chunk read once: a warm page cache
            client = PromClient(PromOptions(server.url, timeout_s=600))
            client.query(f"count(count_over_time({family}[{promql_duration(DAYS * 86400 + 3600)}]))", tr.end)
            client.close()
        time.sleep(5)
        idle = ServerCounters.read(server.url)
        time.sleep(10)
        idle_cpu = (ServerCounters.read(server.url) - idle).cpu_s / 10
        print(f"collection: {WORKLOADS} workloads × {DAYS:g} days, {len(units):,} workload containers; warm-up "
              f"{time.perf_counter() - warm:.0f} s, idle server CPU {idle_cpu:.3f} s/s", flush=True)  # fmt: skip
        results: dict[str, Measured] = {}
        for name, (run, gzip) in runs.items():
            m = results[name] = measure(server.url, run, gzip)
            ran = CHILDREN.get(name.removeprefix("sidecar-impact").strip())
            client = (f"client wall {ran.wall_s:.1f} s, CPU {ran.cpu_s:.1f} s, peak RSS {ran.peak_rss / 2**30:.2f} GiB"
                      if ran and name.startswith("sidecar-impact") else f"client wall {m.wall_s:.1f} s")  # fmt: skip
            print(f"collection {name}: {m.server.requests:,.0f} requests, {m.server.bytes / 2**20:.1f} MiB sent, "
                  f"Prometheus CPU {m.server.cpu_s:.1f} s, {client}, {m.points:,} points", flush=True)  # fmt: skip
        base = results["per container (gzip)"]
        for name in (n for n in runs if n.startswith("sidecar-impact")):
            a = results[name]
            print(f"collection: {name}: {base.server.requests / a.server.requests:.1f}× fewer requests (target ≥ "
                  f"{TARGET_REQUESTS:g}×), Prometheus CPU {a.server.cpu_s / base.server.cpu_s:.2f}× (target ≤ "
                  f"{TARGET_CPU:g}×), bytes {a.server.bytes / base.server.bytes:.1f}× "
                  f"(target ≤ {TARGET_BYTES:g}×), client wall {a.wall_s / base.wall_s:.2f}× the pattern's "
                  f"(target ≤ 1×, ≤ {TARGET_WALL_S:g} s), peak RSS target ≤ {TARGET_RSS / 2**30:g} GiB")  # fmt: skip
    finally:
        server.stop()


if __name__ == "__main__":
    if sys.argv[1:2] in (["usage"], ["usage-range"]):
        usage_child(*sys.argv[1:])
    else:
        main()
