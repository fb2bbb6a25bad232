"""The container status in two rounds (analyzer.collect.ksm): which containers are followed step by step, and
the one row a container that never changed gets."""

from __future__ import annotations

import pandas as pd

from analyzer.collect import promql
from analyzer.collect.ksm import CONTAINER_SERIES, changed_jobs, container_points, container_status
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
    pods = pd.DataFrame({"timestamp": [T0, T0 + pd.Timedelta(minutes=30)], "namespace": ["shop", "shop"],
                         "pod": ["p-old", "p-new"], "phase": ["Running", "Running"],
                         "ready": [True, True]})  # fmt: skip
    table = container_status(container_points(parts, changed, pods, TR))
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
