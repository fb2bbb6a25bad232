"""The cohort replay against the worked examples of docs/hpa.md, stalls and the generator's own controller."""

from __future__ import annotations

import os
from dataclasses import replace as dc_replace

import numpy as np
import pytest

from analyzer.api import analyze
from analyzer.runtime.cpus import available_cpus
from analyzer.simulate.hpa_replay import ReplayColumns, grouped_alike, grouped_alike_up_to, replay
from analyzer.simulate.hpa_spec import ControllerFlags
from analyzer.simulate.pod_lifecycle import Lifecycle, pod_states
from analyzer.snapshot.hpa import ScalingConfig
from analyzer.synth.generate import Synthetic


def columns(requests: list[int], bases: list[float], slopes: list[float], missing: list[bool] | None = None):
    n = len(requests)
    return ReplayColumns(
        configs=[ScalingConfig(1, 30)] * n,
        tol_up=np.full(n, 0.1),
        tol_down=np.full(n, 0.1),
        active=np.ones((1, n), dtype=bool),
        is_cpu=np.ones((1, n), dtype=bool),
        is_util=np.ones((1, n), dtype=bool),
        target=np.full((1, n), 70),
        request_m=np.array([requests], dtype=np.int64),
        missing_request=np.array([missing or [False] * n]),
        base_m=np.array([bases], dtype=np.float64),
        slope_m=np.array([slopes], dtype=np.float64),
    )


def settle(cols: ReplayColumns, demand_cores: float, minutes: int = 40) -> np.ndarray:
    demand = np.full((minutes, cols.n), demand_cores)
    return replay(cols, demand, np.full(cols.n, 10), 60.0, ControllerFlags()).replicas


@pytest.mark.parametrize(
    ("case", "demand", "pod", "app", "as_deployed", "app_only"),
    [
        # Inflation: app 400/500m, istio-proxy 200/100m (its usage is half the app's).
        ("inflation", 4.0, (600, 0.0, 1500.0), (500, 0.0, 1000.0), 15, 12),
        # Dilution: app 450/500m, cloud-sql-proxy 20/1000m flat.
        ("dilution", 4.5, (1500, 20.0, 1000.0), (500, 0.0, 1000.0), 5, 13),
        # Masked: app 450/500m, sidecar 20/150m: int(72.3) = 72 %, inside the tolerance.
        ("masked", 4.5, (650, 20.0, 1000.0), (500, 0.0, 1000.0), 10, 13),
    ],
)
def test_worked_examples_settle_where_docs_hpa_md_says(case, demand, pod, app, as_deployed, app_only) -> None:
    cols = columns([pod[0], app[0]], [pod[1], app[1]], [pod[2], app[2]])
    replicas = settle(cols, demand)
    assert replicas[-1].tolist() == [as_deployed, app_only], case
    # Demand is conserved: after the change the per-pod usage falls, and the count holds.
    assert (replicas[-10:] == replicas[-1]).all()


def test_scale_down_waits_out_the_stabilization_window() -> None:
    replicas = settle(columns([1500], [20.0], [1000.0]), 4.5)[:, 0]
    first_down = int(np.argmax(replicas < 10))
    assert 5 <= first_down <= 6  # the 10-replica recommendations stay in the 300 s window


def test_a_missing_request_stalls_the_hpa_whatever_the_load() -> None:
    cols = columns([500], [0.0], [1000.0], missing=[True])
    demand = np.linspace(1.0, 9.0, 60)[:, None]
    result = replay(cols, demand, np.array([4]), 60.0, ControllerFlags())
    assert (result.replicas[:, 0] == 4).all()
    assert result.failed[1:, 0].all()


def test_new_pods_pass_through_the_unready_and_missing_groups() -> None:
    # A step in demand from 2 to 8 cores: scale-up is immediate, the new pods' CPU is ignored while
    # they start, and the count settles at ceil(8000 / 350) = 23 (target 70 % of 500m).
    cols = columns([500], [0.0], [1000.0])
    demand = np.concatenate([np.full(10, 2.0), np.full(30, 8.0)])[:, None]
    replicas = replay(cols, demand, np.array([6]), 60.0, ControllerFlags()).replicas[:, 0]
    assert replicas[9] == 6
    assert replicas[11] > 6
    assert replicas[-1] == 23


def test_pods_left_out_of_a_scrape_hold_a_scale_down() -> None:
    """3 cores over 10 pods of 500m at a 70 % target: 60 %, so the HPA goes to ceil(10 × 60 / 70) = 9. With one
    pod missing at every scrape (a sidecar back from a restart) it counts at 100 % of its request:
    (9 × 300 + 500) / 10 = 320m, 64 %, a ratio of 0.914, inside the tolerance: 10 stay (replica_calculator.go
    ``GetResourceReplicas``' missing-pods branch)."""
    cols = columns([500, 500], [0.0, 0.0], [1000.0, 1000.0])
    demand = np.full((20, 2), 3.0)
    share = np.zeros((20, 2))
    share[:, 1] = 0.1
    result = replay(cols, demand, np.array([10, 10]), 60.0, ControllerFlags(), missing_share=share)
    assert result.replicas[-1].tolist() == [9, 10]
    same = result.replicas[:, 0] == result.replicas[:, 1]
    assert same[:5].all() and (result.value[same, 1] == result.value[same, 0]).all()  # the ready pods' is 60 %
    plain = replay(cols, demand, np.array([10, 10]), 60.0, ControllerFlags())
    assert (plain.replicas[:, 0] == result.replicas[:, 0]).all() and plain.replicas[-1, 1] == 9


def test_replay_reproduces_the_generators_controller(small: Synthetic) -> None:
    table = analyze(small.snapshot).hpa_skew
    assert (table["calibration_within_1"] >= 0.95).all(), table[["hpa", "calibration_within_1"]]


def test_splitting_columns_over_processes_gives_the_same_replay() -> None:
    n = 1200
    rng = np.random.default_rng(4)
    cols = columns(list(rng.integers(300, 1500, n)), list(rng.uniform(0, 50, n)), list(rng.uniform(800, 1600, n)))
    demand = rng.uniform(1.0, 9.0, (45, n))
    share = np.where(rng.uniform(size=(45, n)) < 0.2, 0.25, 0.0)
    serial = replay(cols, demand, np.full(n, 5), 60.0, ControllerFlags(), workers=1, missing_share=share)
    forked = replay(cols, demand, np.full(n, 5), 60.0, ControllerFlags(), workers=2, missing_share=share)
    assert (serial.replicas == forked.replicas).all() and (serial.value == forked.value).all()
    assert (serial.failed == forked.failed).all()
    assert len(np.unique(serial.replicas[-1])) > 5  # the columns really differ


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"cpu.max": "max 100000\n"}, None),  # no limit: the affinity mask
        ({"cpu.max": "150000 100000\n"}, 2),  # 1.5 CPUs: rounded up
        ({"cpu.max": "50000 100000\n"}, 1),
        ({"cpu/cpu.cfs_quota_us": "300000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 3),  # cgroup v1
        ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, None),
        ({"cpu.max": "garbage\n"}, None),
        ({}, None),
    ],
)
def test_available_cpus_follow_the_containers_cpu_limit(tmp_path, files, expected) -> None:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    mask = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert available_cpus(tmp_path) == (mask if expected is None else min(mask, expected))


def test_native_sidecars_start_up_keeps_the_pod_pending_and_late_to_ready() -> None:
    """Worked by hand, a pod created at 0 (status.startTime at 5 s), 60 s scrapes: with classic sidecars its
    containers run at 5 s and it is Ready at 25 s; with 12 s of native sidecars starting first it is Pending
    (unready for every metric) at the 15 s sync, runs at 17 s, is Ready at 37 s (not yet at the 30 s sync), and
    its first metric comes from the scrapes at 60 and 120 s as before; CPU initialization still counts from 5 s."""
    flags, life = ControllerFlags(), Lifecycle(scrape_s=60.0)
    fields = ("running", "serving", "has_metric", "cpu_ready", "cpu_unready", "unready_pending", "missing")

    def states(now: float, init: float) -> tuple[bool, ...]:
        st = pod_states(np.array([0.0]), now, dc_replace(life, init_s=init), flags)
        return tuple(bool(getattr(st, f)[0]) for f in fields)

    assert states(15, 0) == (True, False, False, False, False, False, True)
    assert states(15, 12) == (False, False, False, False, True, True, False)
    assert states(30, 0) == (True, True, False, False, False, False, True)
    assert states(30, 12) == (True, False, False, False, False, False, True)
    assert states(135, 0) == states(135, 12) == (True, True, True, True, False, False, False)


def test_a_native_start_up_under_the_bound_replays_the_same_and_a_long_one_slows_scale_ups() -> None:
    """Up to a 5 s start-up every new pod is grouped as before at every sync (Ready at 25 + 5 = 30 s, the second
    sync); any longer one, 5.5 s already, makes new pods Ready a sync later. Up to the bound every replay is the
    same, column for column. Far above it (60 s) a wave of demand scales up a sync later at times, the new pods
    Pending and then unready longer."""
    flags, life = ControllerFlags(), Lifecycle(scrape_s=60.0)
    assert grouped_alike_up_to(life, flags) == 5.0
    for init in (0.5, 2.5, 4.9, 5.0):
        assert grouped_alike(life, dc_replace(life, init_s=init), flags)
    assert not grouped_alike(life, dc_replace(life, init_s=5.5), flags)
    cols = columns([500], [0.0], [1000.0])
    t = np.arange(120)
    wave = (6 + 4 * np.sin(t / 6.0))[:, None]

    def run(init: float):
        return replay(cols, wave, np.array([6]), 60.0, flags, lifecycle=dc_replace(life, init_s=init))

    base = run(0.0)
    for init in (1.0, 3.0, 5.0):
        same = run(init)
        assert (same.replicas == base.replicas).all() and (same.value == base.value).all()
    slow = run(60.0)
    assert slow.replicas[:, 0].sum() < base.replicas[:, 0].sum()
    assert (slow.replicas[:, 0] <= base.replicas[:, 0]).sum() > 100 and slow.replicas[3, 0] < base.replicas[3, 0]
