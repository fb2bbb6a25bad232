"""The VPA recommender (1.8.0) as array functions over all tracked containers at once.

Mirrors ``vertical-pod-autoscaler/pkg/recommender``: decaying exponential histograms for CPU
(every sample, constant weight) and memory (one peak per container per 24 h interval), percentiles
at a bucket's upper edge, the safety margin, confidence multipliers from the history length, the pod
minimum split over tracked containers, min/maxAllowed capping and truncation. Histograms are built
with ``bincount`` over (group, bucket); a group is one (VPA, container name).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

MIB = 2.0**20
DAY_S = 86400.0


@dataclass(frozen=True)
class HistogramOptions:
    """``NewExponentialHistogramOptions``: bucket i starts at ``first × (ratio^i − 1) / (ratio − 1)``."""

    first_bucket: float
    ratio: float
    max_value: float
    epsilon: float = 1e-4

    @property
    def n_buckets(self) -> int:
        return math.ceil(math.log(self.max_value * (self.ratio - 1) / self.first_bucket + 1, self.ratio)) + 1

    def bucket_start(self, index: IntArray | int) -> FloatArray:
        return self.first_bucket * (np.power(self.ratio, index) - 1.0) / (self.ratio - 1.0)

    def bucket_of(self, values: FloatArray) -> IntArray:
        """``FindBucket``: 0 below the first bucket, the last for anything beyond ``max_value``."""
        with np.errstate(invalid="ignore", divide="ignore"):
            raw = np.floor(np.log(values * (self.ratio - 1.0) / self.first_bucket + 1.0) / math.log(self.ratio))
        raw = np.where(values < self.first_bucket, 0, raw)
        return np.clip(np.nan_to_num(raw, nan=0.0), 0, self.n_buckets - 1).astype(np.int64)


CPU_HISTOGRAM = HistogramOptions(first_bucket=0.01, ratio=1.05, max_value=1000.0)
MEMORY_HISTOGRAM = HistogramOptions(first_bucket=1e7, ratio=1.05, max_value=1e12)


@dataclass(frozen=True)
class RecommenderFlags:
    """The recommender's flags that users change, with their defaults (VPA 1.8.0's recommender flags)."""

    target_cpu_percentile: float = 0.9
    lower_cpu_percentile: float = 0.5
    upper_cpu_percentile: float = 0.95
    target_memory_percentile: float = 0.9
    lower_memory_percentile: float = 0.5
    upper_memory_percentile: float = 0.95
    safety_margin_fraction: float = 0.15
    cpu_half_life_s: float = DAY_S
    memory_half_life_s: float = DAY_S
    memory_interval_s: float = DAY_S
    memory_interval_count: int = 8
    pod_min_cpu_millicores: float = 25.0
    pod_min_memory_mb: float = 250.0
    oom_min_bump_bytes: float = 100 * MIB
    oom_bump_ratio: float = 1.2
    min_sample_weight: float = 0.1
    request_weighted_cpu: bool = False
    """VPA ≤ 1.3 weighted CPU samples by max(request cores, 0.1); 1.4.0 made the weight constant."""
    round_cpu_millicores: int = 1
    round_memory_bytes: int = 1
    sample_interval_s: float = 60.0
    """The recommender's --recommender-interval: how often it samples metrics-server."""


def cpu_histograms(
    group: IntArray,
    t_s: FloatArray,
    cores: FloatArray,
    n_groups: int,
    ref_s: float,
    flags: RecommenderFlags,
    step_s: float,
    request_cores: FloatArray | None = None,
) -> FloatArray:
    """(groups, buckets) decayed weights of every CPU sample: ``weight × 2^((t − ref_s) / half-life)``.

    Like the recommender, pass a reference at (or before) the first sample so weights grow with time
    and never fall under the histogram's epsilon; only their ratios matter for percentiles. A sample
    of a ``step_s`` grid counts for ``step_s / sample_interval_s`` recommender samples.
    """
    if flags.request_weighted_cpu and request_cores is not None:
        weight = np.maximum(np.nan_to_num(request_cores, nan=0.0), flags.min_sample_weight)
    else:
        weight = np.full(len(cores), flags.min_sample_weight)
    weight = weight * (step_s / flags.sample_interval_s) * np.exp2((t_s - ref_s) / flags.cpu_half_life_s)
    nb = CPU_HISTOGRAM.n_buckets
    flat = group * nb + CPU_HISTOGRAM.bucket_of(cores)
    return np.bincount(flat, weights=weight, minlength=n_groups * nb).reshape(n_groups, nb)


@dataclass(frozen=True)
class MemoryPeaks:
    """One peak per (pod container, interval): the group it belongs to, the interval's end and the value."""

    group: IntArray
    window_end_s: FloatArray
    peak: FloatArray


class PeakGrid:
    """Interval peaks of many pod containers, accumulated block by block (``ContainerState.addMemorySample``).

    A container's first sample opens its window: interval k ends at ``first + k × interval`` and holds
    the samples in ``[end − interval, end)``. ``first_s`` is each container's first sample time.
    """

    def __init__(self, first_s: FloatArray, horizon_s: float, flags: RecommenderFlags) -> None:
        self.first_s = first_s
        self.flags = flags
        self.width = int(horizon_s // flags.memory_interval_s) + 2
        self.peak = np.full(len(first_s) * self.width, -np.inf)

    def _key(self, container: IntArray, t_s: FloatArray) -> IntArray:
        k = np.floor((t_s - self.first_s[container]) / self.flags.memory_interval_s).astype(np.int64) + 1
        return container * self.width + np.clip(k, 0, self.width - 1)

    def add(self, container: IntArray, t_s: FloatArray, memory: FloatArray) -> None:
        np.maximum.at(self.peak, self._key(container, t_s), memory)

    def add_ooms(self, container: IntArray, t_s: FloatArray, request: FloatArray) -> None:
        """An OOM adds ``max(used + 100 MiB, used × 1.2)``, ``used = max(request at OOM, the interval's peak)``."""
        ok = np.isfinite(self.first_s[container])
        key = self._key(container[ok], t_s[ok])
        current = np.where(np.isfinite(self.peak[key]), self.peak[key], 0.0)
        used = np.maximum(np.nan_to_num(request[ok], nan=0.0), current)
        needed = np.maximum(used + self.flags.oom_min_bump_bytes, used * self.flags.oom_bump_ratio)
        np.maximum.at(self.peak, key, needed)

    def peaks(self, group_of_container: IntArray) -> MemoryPeaks:
        have = np.flatnonzero(np.isfinite(self.peak))
        c, k = have // self.width, have % self.width
        return MemoryPeaks(
            group=group_of_container[c].astype(np.int64),
            window_end_s=self.first_s[c] + k * self.flags.memory_interval_s,
            peak=self.peak[have],
        )


def memory_peaks(
    container: IntArray,
    group_of_container: IntArray,
    t_s: FloatArray,
    memory: FloatArray,
    flags: RecommenderFlags,
    oom_container: IntArray | None = None,
    oom_t_s: FloatArray | None = None,
    oom_request: FloatArray | None = None,
) -> MemoryPeaks:
    """The interval peaks of every pod container in one call (see :class:`PeakGrid`)."""
    n = int(container.max()) + 1 if len(container) else 0
    first = np.full(n, np.inf)
    np.minimum.at(first, container, t_s)
    horizon = float(t_s.max() - t_s.min()) if len(t_s) else 0.0
    grid = PeakGrid(first, horizon, flags)
    grid.add(container, t_s, memory)
    if oom_container is not None and oom_t_s is not None and oom_request is not None and len(oom_container):
        grid.add_ooms(oom_container, oom_t_s, oom_request)
    return grid.peaks(group_of_container)


def memory_histograms(peaks: MemoryPeaks, n_groups: int, ref_s: float, flags: RecommenderFlags) -> FloatArray:
    """(groups, buckets) decayed weights of the peaks of the last ``memory_interval_count`` intervals before
    ``ref_s`` (weights grow from the oldest kept interval, as the CPU ones do)."""
    oldest = ref_s - flags.memory_interval_count * flags.memory_interval_s
    recent = peaks.window_end_s > oldest
    weight = np.exp2((peaks.window_end_s[recent] - oldest) / flags.memory_half_life_s)
    nb = MEMORY_HISTOGRAM.n_buckets
    flat = peaks.group[recent] * nb + MEMORY_HISTOGRAM.bucket_of(peaks.peak[recent])
    return np.bincount(flat, weights=weight, minlength=n_groups * nb).reshape(n_groups, nb)


def percentile(hist: FloatArray, p: float, options: HistogramOptions) -> FloatArray:
    """``histogram.Percentile``: the upper edge of the bucket where the cumulative weight reaches ``p``.

    The last bucket has no upper edge: its start. Empty histograms (total < epsilon) give 0.
    """
    total = hist.sum(axis=1)
    cum = np.cumsum(hist, axis=1)
    bucket = np.argmax(cum >= (p * total)[:, None], axis=1)
    last = hist.shape[1] - 1
    value = np.where(bucket < last, options.bucket_start(bucket + 1), options.bucket_start(bucket))
    return np.where(total < options.epsilon, 0.0, value)


def confidence(first_s: FloatArray, last_s: FloatArray, samples: FloatArray) -> FloatArray:
    """``getConfidence``: min(lifespan in days, samples / 1440)."""
    return np.minimum((last_s - first_s) / DAY_S, samples / 1440.0)


@dataclass(frozen=True)
class Recommendation:
    """Per group, CPU in cores and memory in bytes; ``uncapped_*`` before min/maxAllowed."""

    cpu_target: FloatArray
    cpu_lower: FloatArray
    cpu_upper: FloatArray
    memory_target: FloatArray
    memory_lower: FloatArray
    memory_upper: FloatArray
    uncapped_cpu_target: FloatArray
    uncapped_memory_target: FloatArray


def recommend(
    cpu_hist: FloatArray,
    memory_hist: FloatArray,
    conf: FloatArray,
    tracked: FloatArray,
    flags: RecommenderFlags,
    min_cpu: FloatArray | None = None,
    max_cpu: FloatArray | None = None,
    min_memory: FloatArray | None = None,
    max_memory: FloatArray | None = None,
) -> Recommendation:
    """Target and bounds per group (``podResourceRecommender`` then ``getCappedRecommendation``).

    ``tracked``: how many of the VPA's containers share the pod minimum (not ``mode: Off``).
    ``min_*``/``max_*``: the container policy's minAllowed/maxAllowed (NaN: none).
    A group without CPU samples gets no recommendation (NaN), as the recommender skips empty states.
    """
    margin = 1.0 + flags.safety_margin_fraction
    with np.errstate(divide="ignore", invalid="ignore"):
        upper_factor = np.where(conf > 0, 1.0 + 1.0 / conf, np.inf)
        lower_factor = np.where(conf > 0, (1.0 + 0.001 / conf) ** -2.0, 0.0)
    share = 1.0 / np.maximum(tracked, 1)
    cpu_floor = flags.pod_min_cpu_millicores / 1000.0 * share
    mem_floor = flags.pod_min_memory_mb * MIB * share

    def bounded(hist: FloatArray, opts: HistogramOptions, p: tuple[float, float, float], floor: FloatArray):
        target = np.maximum(percentile(hist, p[0], opts) * margin, floor)
        lower = np.maximum(percentile(hist, p[1], opts) * margin * lower_factor, floor)
        with np.errstate(invalid="ignore"):
            upper = np.minimum(np.maximum(percentile(hist, p[2], opts) * margin * upper_factor, floor), 1e14)
        return target, lower, upper

    cpu = bounded(
        cpu_hist,
        CPU_HISTOGRAM,
        (flags.target_cpu_percentile, flags.lower_cpu_percentile, flags.upper_cpu_percentile),
        cpu_floor,
    )
    mem = bounded(
        memory_hist,
        MEMORY_HISTOGRAM,
        (flags.target_memory_percentile, flags.lower_memory_percentile, flags.upper_memory_percentile),
        mem_floor,
    )

    def cap(values: FloatArray, lo: FloatArray | None, hi: FloatArray | None) -> FloatArray:
        if lo is not None:
            values = np.where(np.isnan(lo), values, np.maximum(values, lo))
        if hi is not None:
            values = np.where(np.isnan(hi), values, np.minimum(values, hi))
        return values

    def cpu_out(v: FloatArray) -> FloatArray:
        milli = np.ceil(v * 1000.0 / flags.round_cpu_millicores) * flags.round_cpu_millicores
        milli = milli if flags.round_cpu_millicores > 1 else v * 1000.0
        return np.floor(np.minimum(milli, 1e17)) / 1000.0

    def mem_out(v: FloatArray) -> FloatArray:
        b = np.ceil(v / flags.round_memory_bytes) * flags.round_memory_bytes if flags.round_memory_bytes > 1 else v
        return np.floor(np.minimum(b, 1e17))

    empty = np.where(cpu_hist.sum(axis=1) < CPU_HISTOGRAM.epsilon, np.nan, 1.0)
    cpu = tuple(v * empty for v in cpu)
    mem = tuple(v * empty for v in mem)
    return Recommendation(
        cpu_target=cpu_out(cap(cpu[0], min_cpu, max_cpu)),
        cpu_lower=cpu_out(cap(cpu[1], min_cpu, max_cpu)),
        cpu_upper=cpu_out(cap(cpu[2], min_cpu, max_cpu)),
        memory_target=mem_out(cap(mem[0], min_memory, max_memory)),
        memory_lower=mem_out(cap(mem[1], min_memory, max_memory)),
        memory_upper=mem_out(cap(mem[2], min_memory, max_memory)),
        uncapped_cpu_target=cpu_out(cpu[0]),
        uncapped_memory_target=mem_out(mem[0]),
    )
