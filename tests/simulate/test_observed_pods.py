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
