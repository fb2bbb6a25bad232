"""Faults against the real Prometheus: 503s retried, slow answers timed out, rejected queries,
a too-large range chunked, and the server stopped mid-collection (no snapshot left behind)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest
import requests

from analyzer.collect import promql
from analyzer.collect.collector import collect_prometheus
from analyzer.collect.prometheus_connection import PromClient, PromOptions
from analyzer.collect.prometheus_usage import namespace_sizes, plan
from analyzer.collect.timerange import MAX_POINTS_PER_SERIES, time_range
from analyzer.errors import SidecarImpactError, SourceError
from tests.collect.conftest import END, START, PromData
from tests.collect.promserver import FaultProxy, PrometheusServer
from tests.collect.usage_frames import collect_usage
from tests.console import sidecar_impact

RANGE = time_range(start=START, end=END, step="60s")


def options(url: str, **kwargs: object) -> PromOptions:
    return PromOptions(url, cluster_label="cluster", cluster="small", **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def proxy(prometheus: PrometheusServer):
    proxy = FaultProxy(prometheus.url)
    yield proxy
    proxy.close()


@pytest.mark.parametrize("status", [503, 429])  # 429: a query frontend's rate limit (Mimir, Thanos)
def test_overload_answers_are_retried(
    proxy: FaultProxy, caplog: pytest.LogCaptureFixture, status: int, tmp_path: Path
) -> None:
    baseline = collect_prometheus(options(proxy.url), RANGE, tmp_path / "first").requests["prometheus"]
    proxy.requests.clear()
    proxy.fail_first, proxy.fail_status = 2, status
    result = collect_prometheus(options(proxy.url, retries=3, backoff_s=0.01, concurrency=1), RANGE, tmp_path / "snap")
    assert result.requests["prometheus"] == len(proxy.requests) == baseline + 2
    assert len(result.snapshot.usage) > 0
    assert f"HTTP {status}; retrying" in caplog.text


def test_slow_answers_hit_the_timeout(proxy: FaultProxy, tmp_path: Path) -> None:
    proxy.delay_s = 2.0
    began = time.monotonic()
    with pytest.raises(SourceError, match=r"no answer within 0.3 s, 2 attempts"):
        collect_prometheus(options(proxy.url, timeout_s=0.3, retries=1, backoff_s=0.01), RANGE, tmp_path / "snap")
    assert time.monotonic() - began < 1.9  # gave up before the first answer would have come
    assert len(proxy.requests) == 2


def test_a_rejected_query_is_not_retried_and_is_called_a_bug(proxy: FaultProxy, tmp_path: Path) -> None:
    proxy.fail_first, proxy.fail_status = 1, 400
    proxy.fail_body = b'{"status":"error","errorType":"bad_data","error":"parse error at char 7"}'
    with pytest.raises(SourceError, match=r"rejected a query with HTTP 400 \(parse error at char 7\); this is a bug"):
        collect_prometheus(options(proxy.url, retries=3), RANGE, tmp_path / "snap")
    assert len(proxy.requests) == 1


def test_401_names_the_credentials_and_headers_are_sent(proxy: FaultProxy, tmp_path: Path) -> None:
    proxy.fail_first, proxy.fail_status = 1, 401
    secret = "s3cr3t-token"
    with pytest.raises(SourceError, match="HTTP 401, check the token") as raised:
        collect_prometheus(
            options(proxy.url, token=secret, headers={"X-Scope-OrgID": "team-a"}), RANGE, tmp_path / "snap"
        )
    assert secret not in str(raised.value)
    assert proxy.headers_seen[0]["Authorization"] == f"Bearer {secret}"
    assert proxy.headers_seen[0]["X-Scope-OrgID"] == "team-a"
    assert proxy.headers_seen[0]["Accept-Encoding"] == "identity"  # compressing costs the server's CPU
    proxy.fail_first = 2
    with pytest.raises(SourceError, match="HTTP 401"):
        collect_prometheus(options(proxy.url, gzip=True), RANGE, tmp_path / "snap")
    assert proxy.headers_seen[1]["Accept-Encoding"] == "gzip"


def test_a_path_prefix_is_kept(proxy: FaultProxy, tmp_path: Path) -> None:
    proxy.fail_first, proxy.fail_status = 1, 404
    with pytest.raises(SourceError, match="path prefix"):
        collect_prometheus(options(proxy.url + "/prometheus"), RANGE, tmp_path / "snap")
    assert proxy.requests[0].startswith("/prometheus/api/v1/")


def test_a_range_over_11000_points_is_chunked(prometheus: PrometheusServer, proxy: FaultProxy, tmp_path: Path) -> None:
    fine = time_range(start=START, end=END, step="3s")  # 14,401 points per series
    direct = requests.get(
        f"{prometheus.url}/api/v1/query_range",
        params={"query": "up", "start": fine.start.timestamp(), "end": fine.end.timestamp(), "step": "3"},
        timeout=10,
    )
    assert direct.status_code == 400 and "11,000 points" in direct.json()["error"]  # the server's real limit
    client = PromClient(options(proxy.url))
    scope = promql.Scope("cluster", "small", ("payments",))
    # range queries, as the plan chooses when a step holds more than two scrapes
    usage = collect_usage(client, scope, fine, 60.0, plan(namespace_sizes(client, scope, fine), fine))
    client.close()
    ranges = [parse_qs(urlsplit(p).query) for p in proxy.requests if "query_range" in p]
    usage_ranges = [q for q in ranges if "container_cpu_usage_seconds_total" in q["query"][0]]
    assert len(usage_ranges) >= 2
    for q in ranges:
        points = (float(q["end"][0]) - float(q["start"][0])) / float(q["step"][0]) + 1
        assert points <= MAX_POINTS_PER_SERIES
    stamps = usage["timestamp"].drop_duplicates().sort_values()
    assert stamps.diff().dropna().dt.total_seconds().eq(3).all()  # no gap, no overlap at chunk edges
    assert not usage.duplicated(["timestamp", "namespace", "pod", "container"]).any()
    coarse = collect_prometheus(options(prometheus.url), RANGE, tmp_path / "coarse", namespaces=("payments",))
    coarse = coarse.snapshot.usage
    same = coarse.merge(usage, on=["timestamp", "namespace", "pod", "container"], suffixes=("", "_fine"))
    assert len(same) == len(coarse)
    assert (same["memory_bytes"] == same["memory_bytes_fine"]).all()
    # the collector reads raw samples at this step (a 3 s step holds a twentieth of a scrape): the same usage
    raw = collect_prometheus(options(prometheus.url), fine, tmp_path / "fine", namespaces=("payments",))
    raw = raw.snapshot.usage
    both = usage.merge(raw, on=["timestamp", "namespace", "pod", "container"], how="outer", suffixes=("", "_raw"))
    assert len(both) == len(usage) == len(raw)
    np.testing.assert_allclose(both["cpu_cores_raw"], both["cpu_cores"], rtol=1e-9)
    assert (both["memory_bytes_raw"] == both["memory_bytes"]).all()


def test_server_stopped_mid_collection(prom_data: PromData, tmp_path: Path) -> None:
    tsdb = tmp_path / "tsdb"
    shutil.copytree(prom_data.tsdb, tsdb)
    server = PrometheusServer(tsdb, tmp_path)
    try:

        def stop_after_usage(stage: str, done: int, total: int) -> None:
            if stage == "kube-state-metrics" and done == 2:
                server.kill()  # the next query may already be in flight: it is cut, retried and refused

        with pytest.raises(SourceError, match=r"connection failed \(Connection refused\), 2 attempts"):
            collect_prometheus(
                options(server.url, retries=1, backoff_s=0.01, concurrency=1),
                RANGE,
                tmp_path / "snap",
                progress=stop_after_usage,
            )
    finally:
        server.stop()


def test_cli_leaves_nothing_when_the_server_dies(prom_data: PromData, tmp_path: Path) -> None:
    tsdb = tmp_path / "tsdb"
    shutil.copytree(prom_data.tsdb, tsdb)
    server = PrometheusServer(tsdb, tmp_path)
    proxy = FaultProxy(server.url)
    proxy.on_request = lambda n: server.stop() if n == 6 else None
    out = tmp_path / "out" / "snap"
    out.parent.mkdir()
    try:
        args = ["--prometheus-url", proxy.url, "--no-api", "--cluster-label", "cluster", "--cluster-value", "small"]
        args += ["--start", START, "--end", END, "--retries", "1", "--concurrency", "1", "--out", str(out)]
        done = sidecar_impact("collect", *args, timeout=120)
    finally:
        proxy.close()
        server.stop()
    assert done.returncode == 3, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and re.search(r"HTTP 502, 2 attempts", errors[0])
    assert "Traceback" not in done.stderr
    assert not out.exists()
    assert list((tmp_path / "out").iterdir()) == []  # no temporary directory left either


def test_a_collection_killed_halfway_leaves_no_snapshot_that_looks_complete(
    prometheus: PrometheusServer, tmp_path: Path
) -> None:
    """SIGKILL (the OOM killer) between two usage requests: `--out` never appears, and what the run left is
    its hidden temporary directory, usage parts written and no metadata.json; a second run is not misled."""
    proxy = FaultProxy(prometheus.url)
    out = tmp_path / "out" / "snap"
    args = ["--prometheus-url", proxy.url, "--no-api", "--cluster-label", "cluster", "--cluster-value", "small",
            "--start", START, "--end", END, "--concurrency", "1", "--out", str(out), "--quiet"]  # fmt: skip
    child = subprocess.Popen([sys.executable, "-m", "analyzer", "collect", *args])
    killed = threading.Event()

    def kill_during_usage(n: int) -> None:
        if n > 4 and any("container_memory_working_set_bytes" in p for p in proxy.requests[2:-1]):
            child.kill()  # at least one usage request has been answered and written
            killed.set()

    proxy.on_request = kill_during_usage
    try:
        child.wait(timeout=120)
    finally:
        proxy.close()
    assert killed.is_set() and child.returncode == -9
    assert not out.exists()
    left = list((tmp_path / "out").iterdir())
    assert len(left) == 1 and left[0].name.startswith(".snap.") and left[0].name.endswith(".tmp")
    assert not (left[0] / "metadata.json").exists()
    again = collect_prometheus(options(prometheus.url), RANGE, out)
    assert again.samples > 0 and (out / "metadata.json").exists() and left[0].exists()  # not ours: left alone


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "--objects: {path} does not exist"),
        ("{not json", "{path}: not valid JSON (line 1)"),
        (
            '{"kind": "List", "items": [{"kind": "Pod", "metadata": {"name": "p", "namespace": "n"}, "spec": '
            '{"containers": [{"name": "c", "resources": {"requests": {"cpu": "-1"}}}]}}]}',
            "negative quantity '-1'",
        ),
        ('{"apiVersion": "v1", "kind": "List", "items": {"a": 1}}', "{path}: items must be a list, got an object"),
    ],
)
def test_bad_objects_files_are_refused_before_any_query(
    proxy: FaultProxy, tmp_path: Path, content: str | None, expected: str
) -> None:
    """Checked first: a whole week of usage is not read before the objects file turns out to be broken."""
    path = tmp_path / "objects.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(SidecarImpactError) as caught:
        collect_prometheus(options(proxy.url), RANGE, tmp_path / "snap", objects_path=path)
    assert expected.format(path=path) in str(caught.value) and caught.value.exit_code == 2
    assert proxy.requests == []
