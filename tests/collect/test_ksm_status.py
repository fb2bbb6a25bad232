"""The containers' and pods' status from kube-state-metrics (analyzer.collect.ksm, ksm_objects): which containers
are followed step by step, the one row a container that never changed gets, and pod times of any value."""

from __future__ import annotations

import pandas as pd
from hypothesis import example, given, settings
from hypothesis import strategies as st

from analyzer.collect import promql
from analyzer.collect.ksm import CONTAINER_SERIES, SERIES, KsmState, changed_jobs, container_points, container_status
from analyzer.collect.ksm_objects import from_epoch, iso, ksm_pods
from analyzer.collect.timerange import TimeRange

T0 = pd.Timestamp("2026-11-02T00:00:00Z")
TR = TimeRange(T0, T0 + pd.Timedelta(hours=2), 60.0)


def point(minute: int, pod: str, container: str, value: float, **extra: str) -> dict:
    return {"timestamp": T0 + pd.Timedelta(minutes=minute), "namespace": "shop", "pod": pod, "container": container,
            **extra, "value": value}  # fmt: skip


def test_a_container_that_never_changed_is_one_row_from_its_pods_first_step() -> None:
    """``old`` ran the whole range unchanged (its start value); ``new`` appeared at minute 30 and never changed
    (its newest value, dated by its pod's first step); ``flaky`` restarted at minute 50 (its change points):
    three containers, four rows, and only ``flaky``'s pod is queried step by step."""
    changed = pd.DataFrame([{"namespace": "shop", "pod": "p-flaky", "container": "vault-agent"}])
    parts = {
        "container:ready": [pd.DataFrame([point(0, "p-old", "app", 1), point(0, "p-flaky", "vault-agent", 1),
                                          point(50, "p-flaky", "vault-agent", 0),
                                          point(52, "p-flaky", "vault-agent", 1)])],
        "container:restarts": [pd.DataFrame([point(0, "p-old", "app", 0), point(0, "p-flaky", "vault-agent", 0),
                                             point(50, "p-flaky", "vault-agent", 1)])],
        "last:ready": [pd.DataFrame([point(120, "p-old", "app", 1), point(120, "p-new", "app", 1),
                                     point(120, "p-flaky", "vault-agent", 1)])],
        "last:restarts": [pd.DataFrame([point(120, "p-old", "app", 0), point(120, "p-new", "app", 0),
                                        point(120, "p-flaky", "vault-agent", 1)])],
    }  # fmt: skip
    first_phase = pd.Series([T0, T0 + pd.Timedelta(minutes=30)],
                            index=pd.MultiIndex.from_tuples([("shop", "p-old"), ("shop", "p-new")]))  # fmt: skip
    table = container_status(container_points(parts, changed, first_phase, TR))
    rows = {(r.pod, r.timestamp): (r.ready, r.restarts) for r in table.itertuples(index=False)}
    assert rows == {
        ("p-old", T0): (True, 0),
        ("p-new", T0 + pd.Timedelta(minutes=30)): (True, 0),
        ("p-flaky", T0): (True, 0),
        ("p-flaky", T0 + pd.Timedelta(minutes=50)): (False, 1),
        ("p-flaky", T0 + pd.Timedelta(minutes=52)): (True, 1),
    }
    jobs = changed_jobs([promql.Scope()], changed, TR)
    assert len(jobs) == len(CONTAINER_SERIES) * len(list(TR.chunks()))
    assert all('pod=~"p\\\\-flaky"' in q and 'container=~"vault\\\\-agent"' in q for _, _, q in jobs)


@settings(max_examples=100, deadline=None)
@given(st.floats(allow_nan=True, allow_infinity=True), st.floats(allow_nan=True, allow_infinity=True))
@example(created=0.0, started=253402300800.0)  # the year 10000: a timestamp holds it, RFC 3339 cannot write it
@example(created=253402300800.0, started=0.0)
def test_any_created_or_start_time_gives_a_pod_or_falls_back(created: float, started: float) -> None:
    """kube_pod_created and kube_pod_start_time of any value: a time RFC 3339 can write is the pod's, any other
    (NaN, infinite, past the year 9999) leaves creation at the first sample and no startTime, never an error."""
    pod = {"namespace": ["shop"], "pod": ["p"]}
    tables = {name: pd.DataFrame(columns=[*series.by, "value"]) for name, series in SERIES.items()}
    tables["created"] = pd.DataFrame({**pod, "value": [created]})
    tables["started"] = pd.DataFrame({**pod, "value": [started]})
    usage = pd.DataFrame({"namespace": ["shop"], "pod": ["p"], "containers": [("app",)], "first_seen": [T0],
                          "last_seen": [T0 + pd.Timedelta(hours=2)]})  # fmt: skip
    (obj,) = ksm_pods(KsmState(tables, pd.DataFrame()), usage, T0 + pd.Timedelta(hours=2), 60.0)
    born = from_epoch(created)
    assert obj["metadata"]["creationTimestamp"] == iso(T0 if born is None else born)
    assert obj["status"].get("startTime") == (None if from_epoch(started) is None else iso(from_epoch(started)))
