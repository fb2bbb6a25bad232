"""``groupPods`` on observed pods, row by row from kubernetes/kubernetes
pkg/controller/podautoscaler/replica_calculator.go (``groupPods``), with the controller's defaults:
a 300 s CPU initialization period and a 30 s initial readiness delay."""

from __future__ import annotations

import numpy as np
import pytest

from analyzer.simulate.hpa_spec import ControllerFlags
from analyzer.simulate.observed_pods import PodRows, group_pods

NOW = 10_000.0
NAN = float("nan")
# fields: deleting, failed, pending, has Ready condition, ready, ready since, start, has metric, metric time
BASE = dict(deleting=False, failed=False, pending=False, cond=True, ready=True, since=NOW - 3000, start=NOW - 3600,
            metric=True, metric_s=NOW - 5)  # fmt: skip


@pytest.mark.parametrize(
    ("case", "cpu", "memory"),
    [
        ({}, "ready", "ready"),
        ({"deleting": True}, "ignored", "ignored"),  # DeletionTimestamp set
        ({"failed": True, "pending": True}, "ignored", "ignored"),  # PodFailed wins over everything
        ({"pending": True, "metric": False}, "unready", "unready"),  # Pending before the metric check
        ({"metric": False}, "missing", "missing"),
        ({"cond": False, "ready": False}, "unready", "ready"),  # no Ready condition: CPU only
        ({"start": NAN}, "unready", "ready"),  # no StartTime
        # within the CPU initialization period (started 100 s ago):
        ({"start": NOW - 100, "since": NOW - 90}, "ready", "ready"),  # metric taken ≥ one window after Ready
        ({"start": NOW - 100, "since": NOW - 20}, "unready", "ready"),  # metric window overlaps unready time
        ({"start": NOW - 100, "since": NOW - 90, "ready": False}, "unready", "ready"),
        # after it (started an hour ago):
        ({"ready": False, "since": NOW - 3600 + 10}, "unready", "ready"),  # unready since start: never ready
        ({"ready": False, "since": NOW - 600}, "ready", "ready"),  # was ready, turned unready later: counts
    ],
)  # fmt: skip
def test_group_pods_follows_replica_calculator(case: dict, cpu: str, memory: str) -> None:
    f = {**BASE, **case}
    rows = PodRows(
        now_s=np.array([NOW]), deleting=np.array([f["deleting"]]), failed=np.array([f["failed"]]),
        pending=np.array([f["pending"]]), has_ready_condition=np.array([f["cond"]]), ready=np.array([f["ready"]]),
        ready_since_s=np.array([f["since"]]), start_s=np.array([f["start"]]), has_metric=np.array([f["metric"]]),
        metric_s=np.array([f["metric_s"]]), window_s=60.0,
    )  # fmt: skip
    for is_cpu, expected in ((True, cpu), (False, memory)):
        g = group_pods(rows, is_cpu, ControllerFlags())
        got = [name for name in ("ignored", "unready", "missing", "ready") if getattr(g, name)[0]]
        assert got == [expected], (case, is_cpu)


# ``TestGroupPods`` in kubernetes/kubernetes pkg/controller/podautoscaler/replica_calculator_test.go, case by
# case, with that file's flags (``defaultTestingCPUInitializationPeriod`` 2 min,
# ``defaultTestingDelayOfInitialReadinessStatus`` 10 s). Its pods are in phase Succeeded (not Failed, so not
# ignored); a metric without a timestamp or window is the zero time and a zero window. Upstream's
# ``expectIgnoredPods`` is the union of our ``unready`` and ``ignored`` (later releases split it the same way).
UPSTREAM_FLAGS = ControllerFlags(cpu_initialization_period_s=120.0, initial_readiness_delay_s=10.0)
# per pod: (name, start offset s or None, Ready condition (status, transition offset s) or None,
#           metric (timestamp offset s, window s) or None, pending)
GROUP_PODS_CASES = [
    ("void", [], True, 0, set(), set()),
    ("count in a ready pod - memory", [("bentham", None, None, (0, 60), False)], False, 1, set(), set()),
    ("ignore a pod without ready condition - CPU", [("lucretius", 0, None, (None, 0), False)], True, 0,
     {"lucretius"}, set()),
    ("count in a ready pod with fresh metrics during initialization period - CPU",
     [("bentham", -60, (True, -30), (0, 30), False)], True, 1, set(), set()),
    ("ignore a ready pod without fresh metrics during initialization period - CPU",
     [("bentham", -60, (True, -30), (0, 60), False)], True, 0, {"bentham"}, set()),
    ("ignore an unready pod during initialization period - CPU",
     [("lucretius", -600, (False, -594), (None, 0), False)], True, 0, {"lucretius"}, set()),
    ("count in a ready pod without fresh metrics after initialization period - CPU",
     [("bentham", -180, (True, -180), (-120, 60), False)], True, 1, set(), set()),
    ("count in an unready pod that was ready after initialization period - CPU",
     [("lucretius", -600, (False, -540), (None, 0), False)], True, 1, set(), set()),
    # its Ready transition is exactly the 10 s delay after the start: not *within* it, so it counts
    ("ignore pod that has never been ready after initialization period - CPU",
     [("lucretius", -600, (False, -590), (None, 0), False)], True, 1, set(), set()),
    ("a missing pod", [("epicurus", -180, None, None, False)], True, 0, set(), {"epicurus"}),
    ("several pods",
     [("lucretius", 0, None, (None, 0), False), ("niccolo", -180, (True, -180), (None, 0), False),
      ("epicurus", -180, None, None, False)], True, 1, {"lucretius"}, {"epicurus"}),
    ("pending pods are ignored", [("unscheduled", None, None, None, True)], True, 0, {"unscheduled"}, set()),
]  # fmt: skip


@pytest.mark.parametrize(
    ("pods", "is_cpu", "ready_count", "not_counted", "missing"),
    [pytest.param(*case[1:], id=case[0]) for case in GROUP_PODS_CASES],
)
def test_group_pods_upstream_cases(
    pods: list, is_cpu: bool, ready_count: int, not_counted: set[str], missing: set[str]
) -> None:
    def column(values: list, dtype: type) -> np.ndarray:
        return np.array(values, dtype=dtype)

    def offset(value: float | None) -> float:
        return NAN if value is None else NOW + value

    names = [p[0] for p in pods]
    windows = {p[3][1] for p in pods if p[3] is not None} or {0}
    assert len(windows) == 1  # one window per case upstream too
    rows = PodRows(
        now_s=column([NOW] * len(pods), float),
        deleting=column([False] * len(pods), bool),
        failed=column([False] * len(pods), bool),
        pending=column([p[4] for p in pods], bool),
        has_ready_condition=column([p[2] is not None for p in pods], bool),
        ready=column([p[2] is not None and p[2][0] for p in pods], bool),
        ready_since_s=column([offset(p[2][1]) if p[2] else NAN for p in pods], float),
        start_s=column([offset(p[1]) for p in pods], float),
        has_metric=column([p[3] is not None for p in pods], bool),
        # the zero time: long before any start
        metric_s=column([0.0 if p[3] is None or p[3][0] is None else NOW + p[3][0] for p in pods], float),
        window_s=float(windows.pop()),
    )
    g = group_pods(rows, is_cpu, UPSTREAM_FLAGS)
    assert int(g.ready.sum()) == ready_count
    assert {n for n, hit in zip(names, g.unready | g.ignored, strict=True) if hit} == not_counted
    assert {n for n, hit in zip(names, g.missing, strict=True) if hit} == missing
