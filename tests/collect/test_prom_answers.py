"""Matrix answers decoded into arrays (collect/prom_answers.py): Prometheus's own layout read by byte
searches gives exactly what parsing the JSON gives, for any answer; anything else is one clear error."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer.collect import promql
from analyzer.collect.prom_answers import Matrix, NotAMatrix, _fast, decode_matrix, matrix_of
from analyzer.collect.prometheus_connection import PromClient, PromOptions
from analyzer.errors import SourceError
from tests.collect.conftest import END
from tests.collect.promserver import FaultProxy, PrometheusServer


def prometheus_body(result: list, **extra: object) -> bytes:
    """An answer as Prometheus writes it: no whitespace, keys in its order, times as numbers, values as text."""
    document = {"status": "success", "data": {"resultType": "matrix", "result": result}, **extra}
    return json.dumps(document, separators=(",", ":")).encode()


def same(got: Matrix, want: Matrix) -> None:
    assert got.labels == want.labels
    np.testing.assert_array_equal(got.counts, want.counts)
    np.testing.assert_array_equal(got.times, want.times)
    np.testing.assert_array_equal(got.values, want.values)


def test_a_real_answer_takes_the_fast_path_and_equals_the_parsed_json(prometheus: PrometheusServer) -> None:
    query = promql.raw_samples(promql.Scope("cluster", "small"), 3600.0, promql.CPU_COUNTER)
    params = {"query": query, "time": pd.Timestamp(END).timestamp()}
    body = requests.get(f"{prometheus.url}/api/v1/query", params=params, timeout=30).content
    fast = _fast(body)
    assert fast is not None and len(fast.labels) > 10 and len(fast.times) > 500
    same(fast, matrix_of(json.loads(body)["data"]["result"]))
    assert fast.series.tolist() == np.repeat(np.arange(len(fast.labels)), fast.counts).tolist()


label_text = st.lists(st.sampled_from([*'ab"\\[],{}:\né', '"values":[', "]]}", ',"values":[']), max_size=6).map("".join)
value_text = st.sampled_from(["NaN", "+Inf", "-Inf"]) | st.floats(allow_nan=False, allow_infinity=False).map(repr)


@settings(max_examples=120, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.dictionaries(st.sampled_from(["namespace", "pod", "container", "values", "metric"]), label_text),
            st.lists(st.tuples(st.floats(-4e9, 4e9), value_text), max_size=6),
        ),
        max_size=5,
    ),
    st.booleans(),
)
def test_any_well_formed_answer_is_read_as_sent_by_both_paths(sent: list, warnings: bool) -> None:
    result = [{"metric": labels, "values": [[t, v] for t, v in points]} for labels, points in sent]
    body = prometheus_body(result, **({"warnings": ["partial"]} if warnings else {}))
    got = decode_matrix(body)
    assert _fast(body) is not None  # Prometheus's layout, however hostile the labels
    spaced = json.dumps({"data": {"result": result, "resultType": "matrix"}, "status": "success"}, indent=1).encode()
    same(decode_matrix(spaced), got)  # another layout: parsed as JSON, the same answer
    assert got.labels == [labels for labels, _ in sent]
    assert got.counts.tolist() == [len(points) for _, points in sent]
    want = [(t, float(v)) for _, points in sent for t, v in points]
    np.testing.assert_array_equal(got.times, np.array([t for t, _ in want], dtype=np.float64))
    np.testing.assert_array_equal(got.values, np.array([v for _, v in want], dtype=np.float64))


@pytest.mark.parametrize(
    "result",
    [
        [{"metric": 1, "values": [[1, "2"]]}],
        [{"values": [[1, "2"]]}],
        [{"metric": {}, "values": [1, 2]}],
        [{"metric": {}, "values": [[1, 2, 3]]}],
        [{"metric": {}, "values": [[1, "not a number"]]}],
        [{"metric": {}, "values": [[1, "1,2"]]}],
        [{"metric": {}, "values": [[1, ""]]}],
        [{"metric": {"pod": 3}, "values": [[1, "2"]]}],
        [{"metric": {}, "values": [[1e300, "1"]]}],  # a time no Prometheus sends: it would overflow milliseconds
        {"metric": {}},
    ],
)
def test_a_malformed_answer_is_not_a_matrix(result: object) -> None:
    with pytest.raises(NotAMatrix):
        decode_matrix(prometheus_body(result))  # type: ignore[arg-type]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(["metric", "values", "x"]), inner, max_size=3)
    ),
    max_leaves=20,
)


@settings(max_examples=120, deadline=None)
@given(result=json_values | st.lists(json_values, max_size=4), cut=st.integers(0, 400))
def test_any_body_is_a_matrix_or_a_clear_error(result: object, cut: int) -> None:
    body = prometheus_body(result)  # type: ignore[arg-type]
    for candidate in (body, body[:cut], body[:cut] + b"]}}"):
        try:
            matrix = decode_matrix(candidate)
        except NotAMatrix:
            continue
        except ValueError as exc:
            assert str(exc) == "not JSON"
            continue
        assert len(matrix.counts) == len(matrix.labels) and matrix.counts.sum() == len(matrix.times)
        assert len(matrix.times) == len(matrix.values) and (np.abs(matrix.times) < 1e11).all()
        assert all(isinstance(v, str) for labels in matrix.labels for v in labels.values())


def test_the_client_says_which_answer_was_wrong(prometheus: PrometheusServer) -> None:
    proxy = FaultProxy(prometheus.url)
    proxy.fail_first, proxy.fail_status = 1, 200
    proxy.fail_body = b'{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,2,3]]}]}}'
    client = PromClient(PromOptions(proxy.url, retries=3, backoff_s=0.01))
    try:
        with pytest.raises(SourceError, match=r"^Prometheus at .*: an answer to a range selector is not series of "):
            client.matrix("up[5m]", pd.Timestamp(END))
        assert len(proxy.requests) == 1  # a wrong answer is not retried: it would come back the same
        proxy.fail_first, proxy.fail_body = 1, b"<html>bad gateway</html>"
        assert client.matrix("up[5m]", pd.Timestamp(END)).labels is not None  # not JSON: retried, then answered
    finally:
        client.close()
        proxy.close()
