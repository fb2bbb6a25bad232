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
from analyzer.collect.prometheus_usage import _raw_series, collect_usage, namespace_sizes, plan, reads_raw
from analyzer.collect.timerange import TimeRange, time_range
from analyzer.errors import SourceError
from tests.collect.conftest import END, START
from tests.collect.promserver import PrometheusServer

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


@pytest.mark.parametrize(
    "answer",
    [
        [{"metric": 1, "values": [[1, "2"]]}],
        [{"values": [[1, "2"]]}],
        [{"metric": {}, "values": [1, 2]}],
        [{"metric": {}, "values": [[1, 2, 3]]}],
        [{"metric": {}, "values": [[1, "not a number"]]}],
        [{"metric": {}, "values": [[1e300, "1"]]}],  # a time no Prometheus sends: it would overflow milliseconds
    ],
)
def test_a_malformed_raw_answer_is_one_clear_error(answer: list) -> None:
    with pytest.raises(SourceError, match=r"^Prometheus at http://p: an answer to a range selector is not series"):
        _raw_series(answer, "http://p")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(["metric", "values", "x"]), inner, max_size=3)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(answer=json_values | st.lists(json_values, max_size=4))
def test_any_answer_is_series_or_one_clear_error(answer: object) -> None:
    try:
        series = _raw_series(answer, "http://p")  # type: ignore[arg-type]
    except SourceError as exc:
        assert str(exc) == "Prometheus at http://p: an answer to a range selector is not series of [time, value]"
        return
    for labels, points in series:
        assert isinstance(labels, dict)
        assert points.ndim == 2 and points.shape[1] == 2 and (abs(points[:, 0]) < 1e11).all()


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.dictionaries(st.sampled_from(["namespace", "pod", "container", "job"]), st.text(max_size=5)),
            st.lists(st.tuples(st.floats(0, 4e9), st.floats(allow_nan=False)), min_size=1, max_size=5),
        ),
        max_size=4,
    )
)
def test_a_well_formed_answer_is_read_as_sent(sent: list) -> None:
    answer = [{"metric": labels, "values": [[t, repr(v)] for t, v in points]} for labels, points in sent]
    got = _raw_series(answer, "http://p")
    assert [labels for labels, _ in got] == [labels for labels, _ in sent]
    for (_, points), (_, want) in zip(got, sent, strict=True):
        np.testing.assert_array_equal(points, np.array(want, dtype=np.float64))


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
