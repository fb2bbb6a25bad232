"""The recommender, admission and updater rules against the VPA recommender's documented defaults (docs/vpa.md)."""

from __future__ import annotations

import numpy as np
import pytest

from analyzer.simulate.vpa_recommender import (
    CPU_HISTOGRAM,
    MEMORY_HISTOGRAM,
    MemoryPeaks,
    PeakGrid,
    RecommenderFlags,
    confidence,
    cpu_histograms,
    memory_histograms,
    percentile,
    recommend,
)
from analyzer.simulate.vpa_updater import Resources, evictable, eviction_loop_rate

MIB = 2**20
FLAGS = RecommenderFlags()


def cpu_weights(t, cores, flags: RecommenderFlags = FLAGS, requests=None):  # type: ignore[no-untyped-def]
    """One group's CPU histogram weights (samples on a 60 s grid, seconds from the Unix epoch)."""
    return cpu_histograms(np.zeros(t.size, dtype=np.int64), t, cores, 1, flags, 60.0, requests).weights


def steady_cpu(cores: float, days: float = 8.0, tracked: int = 1, flags: RecommenderFlags = FLAGS):
    t = np.arange(0, days * 86400, 60.0)
    hist = cpu_weights(t, np.full(t.size, cores), flags)
    conf = confidence(np.array([0.0]), np.array([t[-1]]), np.array([float(t.size)]))
    empty = np.zeros((1, MEMORY_HISTOGRAM.n_buckets))
    return recommend(hist, empty, conf, np.array([float(tracked)]), flags)


def test_buckets_are_the_vpa_ones() -> None:
    assert CPU_HISTOGRAM.n_buckets == 176 and MEMORY_HISTOGRAM.n_buckets == 176
    assert CPU_HISTOGRAM.bucket_of(np.array([0.0, 0.0099, 0.0101, 0.1])).tolist() == [0, 0, 1, 8]
    assert CPU_HISTOGRAM.bucket_start(9) == pytest.approx(0.110266, rel=1e-5)
    assert CPU_HISTOGRAM.bucket_of(np.array([1e9]))[0] == 175


@pytest.mark.parametrize(("cores", "millicores"), [(0.1, 126), (0.5, 587), (1.0, 1168)])
def test_steady_cpu_targets_match_the_recommender_defaults(cores: float, millicores: int) -> None:
    assert steady_cpu(cores).cpu_target[0] * 1000 == millicores


@pytest.mark.parametrize(
    ("tracked", "cpu_m", "memory_bytes"),
    # Three containers: the floor is 8.3m, but any CPU history gives at least the first bucket's edge,
    # 10m × 1.15 = 11.5m; memory's first edge (10 MB × 1.15) stays below its 83.3 MiB floor.
    [(1, 25, 250 * MIB), (2, 12, 125 * MIB), (3, 11, int(250 * MIB / 3))],
)
def test_the_pod_minimum_is_split_over_tracked_containers(tracked: int, cpu_m: int, memory_bytes: int) -> None:
    rec = steady_cpu(0.001, tracked=tracked)  # far below every floor
    assert rec.cpu_target[0] * 1000 == cpu_m
    assert rec.memory_target[0] == memory_bytes


@pytest.mark.parametrize(("hours", "upper_factor"), [(12, 3.0), (24, 2.0), (24 * 7, 1 + 1 / 7)])
def test_upper_bound_confidence_multiplier(hours: float, upper_factor: float) -> None:
    """logic/recommender.go's comment table (12 h: ×3, 24 h: ×2, a week: ×1.14), in the recommender's integer
    millicores: ``CPUAmountFromCores`` truncates, the margin is ``base + ScaleResource(base, 0.15)`` and the
    multiplier another ``ScaleResource`` (estimator.go)."""
    rec = steady_cpu(0.5, days=hours / 24 + 1 / 1440)
    base = np.floor(CPU_HISTOGRAM.bucket_start(CPU_HISTOGRAM.bucket_of(np.array([0.5]))[0] + 1) * 1000)
    with_margin = base + np.floor(base * 0.15)
    assert rec.cpu_upper[0] * 1000 == pytest.approx(np.floor(with_margin * upper_factor), abs=1)  # conf ≈ days


@pytest.mark.parametrize(("minutes", "lower_factor"), [(5, 0.60), (30, 0.91), (60, 0.95)])
def test_lower_bound_confidence_multiplier(minutes: float, lower_factor: float) -> None:
    conf = confidence(np.array([0.0]), np.array([minutes * 60.0]), np.array([minutes + 1.0]))
    t = np.arange(0, minutes * 60 + 1, 60.0)
    hist = cpu_weights(t, np.full(t.size, 2.0))
    rec = recommend(hist, np.zeros((1, 176)), conf, np.array([1.0]), FLAGS)
    assert rec.cpu_lower[0] / rec.cpu_target[0] == pytest.approx(lower_factor, abs=0.006)


def test_no_history_means_no_recommendation() -> None:
    rec = recommend(np.zeros((1, 176)), np.zeros((1, 176)), np.array([0.0]), np.array([1.0]), FLAGS)
    assert np.isnan([rec.cpu_target[0], rec.cpu_upper[0], rec.memory_target[0]]).all()


def test_percentile_is_the_upper_edge_and_decay_favours_recent_samples() -> None:
    # Four days at 1 core, then one day at 0.2. With a 24 h half-life the last day weighs
    # ∫0..1 2^-x dx = 0.721 against the four before it, ∫1..5 2^-x dx = 0.676: 52 % of the weight
    # for 20 % of the samples, so p50 is at 0.2 core and p60 at 1 core.
    t = np.arange(0, 5 * 86400, 60.0)
    cores = np.where(t < 4 * 86400, 1.0, 0.2)
    hist = cpu_weights(t, cores)
    edge_1 = CPU_HISTOGRAM.bucket_start(CPU_HISTOGRAM.bucket_of(np.array([1.0]))[0] + 1)
    edge_02 = CPU_HISTOGRAM.bucket_start(CPU_HISTOGRAM.bucket_of(np.array([0.2]))[0] + 1)
    assert percentile(hist, 0.5, CPU_HISTOGRAM)[0] == pytest.approx(edge_02)
    assert percentile(hist, 0.6, CPU_HISTOGRAM)[0] == pytest.approx(edge_1)


def test_request_weighted_mode_of_vpa_1_3() -> None:
    t = np.arange(0, 2 * 86400, 60.0)
    busy = (np.arange(t.size) % 2).astype(bool)  # half the samples at 1 core with a 0.1-core request
    cores = np.where(busy, 1.0, 0.1)
    requests = np.where(busy, 0.1, 1.0)
    constant = percentile(cpu_weights(t, cores), 0.9, CPU_HISTOGRAM)[0]
    old = RecommenderFlags(request_weighted_cpu=True)
    weighted = percentile(cpu_weights(t, cores, old, requests), 0.9, CPU_HISTOGRAM)[0]
    assert constant > 1.0 and weighted == pytest.approx(0.110266, rel=1e-4)


def test_memory_keeps_one_peak_per_container_per_day_and_oom_bumps_it() -> None:
    t = np.arange(0, 3 * 86400, 60.0)
    memory = np.full(t.size, 200 * MIB)
    memory[100] = 300 * MIB  # a spike on day one only
    container = np.zeros(t.size, dtype=np.int64)

    def peaks_of(ooms: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> MemoryPeaks:
        grid = PeakGrid(np.array([t[0]]), float(t[-1] - t[0]), FLAGS)  # the container's first sample opens it
        grid.add(container, t, memory)
        if ooms is not None:
            grid.add_ooms(*ooms)
        return grid.peaks(np.array([0]))

    peaks = peaks_of()
    assert peaks.peak.tolist() == [300 * MIB, 200 * MIB, 200 * MIB]
    assert peaks.window_end_s.tolist() == [86400.0, 2 * 86400.0, 3 * 86400.0]
    oom = peaks_of((np.array([0]), np.array([2 * 86400.0 + 60]), np.array([256 * MIB])))
    assert oom.peak[2] == 356 * MIB  # max(256 + 100, 256 × 1.2) MiB, used = the request at OOM
    hist = memory_histograms(peaks, 1, t[-1], FLAGS)
    # Each peak is added at its window's end; the reference is the first end (a whole day from Go's zero
    # time): weights 2^0 + 2^1 + 2^2.
    assert hist.sum() == 7.0


def test_caps_and_truncation() -> None:
    rec = steady_cpu(0.5)
    capped = recommend(
        cpu_weights(np.arange(3.0), np.full(3, 0.5)),
        np.zeros((1, 176)),
        np.array([8.0]),
        np.array([1.0]),
        FLAGS,
        max_cpu=np.array([0.3]),
        min_memory=np.array([300.5 * MIB]),
    )
    assert rec.cpu_target[0] == 0.587
    assert capped.cpu_target[0] == 0.3 and capped.uncapped_cpu_target[0] == 0.587
    assert capped.memory_target[0] == int(300.5 * MIB)


def test_updater_eviction_rules() -> None:
    target = {"app": (0.5, 512 * MIB)}
    lower, upper = {"app": (0.4, 400 * MIB)}, {"app": (0.8, 800 * MIB)}
    inside = {"app": Resources(0.55, 560 * MIB)}
    assert evictable({"app": Resources(0.3, 512 * MIB)}, lower, upper, target, 60.0)[0]
    assert evictable({"app": Resources(None, 512 * MIB)}, lower, upper, target, 60.0)[0]
    assert not evictable(inside, lower, upper, target, 11 * 3600.0)[0]
    # 12 h old: |0.55 − 0.5| / 0.55 + |560 − 512| / 560 = 0.091 + 0.086 ≥ 0.1 (CPU and memory add up)
    assert evictable(inside, lower, upper, target, 12 * 3600.0)[0]
    assert not evictable({"app": Resources(0.52, 520 * MIB)}, lower, upper, target, 13 * 3600.0)[0]
    assert evictable({"app": Resources(0.52, 520 * MIB)}, lower, upper, target, 300.0, oom_within_s=300.0)[0]


def test_eviction_loop_rate_follows_the_updater_budget() -> None:
    rates = eviction_loop_rate(np.array([1, 2, 3, 4, 10]))
    # 1 pod: below --min-replicas 2. Otherwise int(n × 0.5) per loop while all run; an evicted pod
    # runs again a loop later and is evicted again.
    assert rates.tolist() == [0.0, 1440.0, 1440.0, 2880.0, 7200.0]
    assert eviction_loop_rate(np.array([3]), restart_s=120.0).tolist() == [720.0]
