"""The query plan (docs/collect.md) against the real Prometheus: raw samples evaluated on the client give
what the server evaluates itself, and answers are compressed only when asked."""

from __future__ import annotations

import itertools
import re
import urllib.request

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer.collect import promql
from analyzer.collect.prometheus_connection import PromClient, PromOptions
from analyzer.collect.prometheus_usage import namespace_sizes, plan, reads_raw
from analyzer.collect.timerange import TimeRange, time_range
from tests.collect.conftest import END, START
from tests.collect.promserver import PrometheusServer
from tests.collect.usage_frames import collect_usage

KEYS = ["timestamp", "namespace", "pod", "container"]


@pytest.mark.parametrize("step", ["60s", "120s"])
def test_raw_samples_give_what_the_server_evaluates(prometheus: PrometheusServer, step: str) -> None:
    client = PromClient(PromOptions(prometheus.url, retries=0))
    scope = promql.Scope("cluster", "small")  # every series scraped by two jobs: folded by max either way
    tr = time_range(start=START, end=END, step=step)
    sizes = namespace_sizes(client, scope, tr)
    raw_plan, range_plan = plan(sizes, tr, scrape_s=60.0), plan(sizes, tr)
    assert reads_raw(tr.step_s, 60.0) and all(r.raw for r in raw_plan) and not any(r.raw for r in range_plan)
    raw = collect_usage(client, scope, tr, 60.0, raw_plan)
    evaluated = collect_usage(client, scope, tr, 60.0, range_plan)
    client.close()
    assert len(evaluated) > 1000
    both = evaluated.astype({k: object for k in KEYS[1:]}).merge(
        raw.astype({k: object for k in KEYS[1:]}), on=KEYS, how="outer", suffixes=("", "_raw"), indicator=True
    )
    assert (both["_merge"] == "both").all(), both["_merge"].value_counts()
    # series' first and last steps included, where rate() extrapolates to the window's edges
    np.testing.assert_allclose(both["cpu_cores_raw"], both["cpu_cores"], rtol=1e-9, atol=0)
    np.testing.assert_array_equal(both["memory_bytes_raw"], both["memory_bytes"])
    assert pd.Series(both["timestamp"]).diff().dropna().dt.total_seconds().abs().max() > 0


def _bytes_sent(url: str) -> float:
    """The query API's response bytes as the server wrote them (after any compression)."""
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    pattern = r'^prometheus_http_response_size_bytes_sum\{handler="/api/v1/query(?:_range)?"\} (\S+)$'
    return sum(float(m.group(1)) for m in re.finditer(pattern, text, re.M))


def test_answers_are_compressed_only_with_gzip(prometheus: PrometheusServer) -> None:
    tr = time_range(start=START, end=END, step="60s")
    scope = promql.Scope("cluster", "small")
    sent, usage = {}, {}
    for gzip in (False, True):
        client = PromClient(PromOptions(prometheus.url, retries=0, gzip=gzip))
        before = _bytes_sent(prometheus.url)
        usage[gzip] = collect_usage(
            client, scope, tr, 60.0, plan(namespace_sizes(client, scope, tr), tr, scrape_s=60.0)
        )
        sent[gzip] = _bytes_sent(prometheus.url) - before
        client.close()
    assert sent[True] < 0.5 * sent[False]  # JSON of numbers compresses about 3.6 times
    pd.testing.assert_frame_equal(usage[True], usage[False])


@settings(max_examples=200, deadline=None)
@given(points=st.integers(1, 30_000), max_points=st.integers(1, 12_000), step=st.sampled_from([1.0, 15.0, 60.0]))
def test_chunks_cover_every_step_once_and_are_as_few_as_the_limit_allows(
    points: int, max_points: int, step: float
) -> None:
    start = pd.Timestamp("2026-11-02T00:00:00Z")
    tr = TimeRange(start, start + pd.Timedelta(seconds=step * points), step)  # points + 1 steps: start < end
    chunks = list(tr.chunks(max_points))
    assert sum(c.points for c in chunks) == tr.points and all(c.points <= max_points for c in chunks)
    assert chunks[0].start == tr.start and chunks[-1].end == tr.end
    assert all(b.start - a.end == pd.Timedelta(seconds=step) for a, b in itertools.pairwise(chunks))
    assert len(chunks) == -(-tr.points // max_points)  # a week at 60 s (10,080 points) is one request, not two
