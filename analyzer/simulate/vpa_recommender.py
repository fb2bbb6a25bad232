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

from analyzer.errors import SidecarImpactError

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


MAX_RESOURCE_AMOUNT = 1e14
"""``model.MaxResourceAmount``, in the recommender's internal units: millicores for CPU, bytes for memory."""


@dataclass(frozen=True)
class RecommenderFlags:
    """Every recommender setting, defaults as upstream ships them (VPA 1.8.0).

    Flags of ``pkg/recommender/logic/recommender.go`` and ``main.go``: the percentiles
    (``--target-cpu-percentile`` ...), ``--recommendation-margin-fraction``, ``--pod-recommendation-min-*``,
    ``--confidence-interval-cpu/memory``, ``--cpu/memory-histogram-decay-half-life``,
    ``--memory-aggregation-interval[-count]``, ``--oom-bump-up-ratio``, ``--oom-min-bump-up-bytes``,
    ``--round-cpu-millicores``, ``--recommender-interval``. Constants of the same code, kept as fields so
    they can be studied: the confidence multipliers and exponents of ``CreatePodResourceRecommender`` and
    the histogram bucket options of ``model/aggregations_config.go``. Set from YAML with
    ``report --vpa-recommender-config FILE`` (:func:`load_recommender_flags`).
    """

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
    confidence_interval_cpu_s: float = DAY_S
    confidence_interval_memory_s: float = DAY_S
    upper_confidence_multiplier: float = 1.0
    upper_confidence_exponent: float = 1.0
    lower_confidence_multiplier: float = 0.001
    lower_confidence_exponent: float = -2.0
    cpu_histogram: HistogramOptions = CPU_HISTOGRAM
    memory_histogram: HistogramOptions = MEMORY_HISTOGRAM

    def __post_init__(self) -> None:
        for name in ("round_cpu_millicores", "round_memory_bytes"):
            if getattr(self, name) <= 0:  # model.RoundUpToScale: "scale must be greater than zero"
                raise SidecarImpactError(f"VPA recommender {name}: scale must be greater than zero")
        positive = ("cpu_half_life_s", "memory_half_life_s", "memory_interval_s", "sample_interval_s",
                    "confidence_interval_cpu_s", "confidence_interval_memory_s", "oom_bump_ratio")  # fmt: skip
        for name in positive:
            if not getattr(self, name) > 0:
                raise SidecarImpactError(f"VPA recommender {name}: must be greater than zero")
        if self.memory_interval_count < 1:
            raise SidecarImpactError("VPA recommender memory_interval_count: must be at least 1")


GO_ZERO_TIME_S = -62135596800.0
"""Go's zero ``time.Time`` (January 1, year 1, UTC) in Unix seconds: ``Time.Round`` rounds relative to it."""
MAX_DECAY_EXPONENT = 100
"""``maxDecayExponent``: a sample more than this many half-lives after the reference moves it forward."""


class DecayingHistograms:
    """Many ``decayingHistogram`` s (``pkg/recommender/util/decaying_histogram.go``) at once, one row per group.

    A sample's weight is multiplied by ``2^((t − reference) / half-life)``. Each row keeps its reference as
    upstream does: the first sample sets it to its time rounded to a multiple of the half-life (Go's
    ``Time.Round``, from Go's zero time, halves up); a sample more than :data:`MAX_DECAY_EXPONENT`
    half-lives after it moves it to that sample's rounded time and scales the row's weights by
    ``2^(old − new)``, so samples that old fall under the histogram's epsilon and leave the percentile walk.
    Times are seconds from ``epoch_s`` (a Unix time); samples must be added in time order per group.
    """

    def __init__(self, n_groups: int, options: HistogramOptions, half_life_s: float, epoch_s: float = 0.0) -> None:
        self.options = options
        self.half_life_s = half_life_s
        self.epoch_s = epoch_s
        self.weights = np.zeros((n_groups, options.n_buckets))
        self.reference_s = np.full(n_groups, np.nan)
        self._horizon_s = -np.inf  # the earliest time at which any row's reference moves

    def rounded(self, t_s: FloatArray) -> FloatArray:
        """``Time.Round(halfLife)`` of times in seconds from ``epoch_s``."""
        # The remainder of (t + epoch − zero) by the half-life from the remainders of its parts: both are
        # exact, where their sum (6e10 s) would lose the microseconds.
        rest = np.mod(np.mod(t_s, self.half_life_s) + math.fmod(self.epoch_s - GO_ZERO_TIME_S, self.half_life_s),
                      self.half_life_s)  # fmt: skip
        return np.where(2.0 * rest < self.half_life_s, t_s - rest, t_s + (self.half_life_s - rest))

    def add(self, group: IntArray, t_s: FloatArray, values: FloatArray, weight: FloatArray) -> None:
        """``AddSample`` for each row: ``weight × decay factor`` into the bucket of ``values``."""
        if not len(group):
            return
        self._move_references(group, t_s)
        nb = self.options.n_buckets
        factor = np.exp2((t_s - self.reference_s[group]) / self.half_life_s)
        flat = group * nb + self.options.bucket_of(values)
        self.weights += np.bincount(flat, weights=weight * factor, minlength=self.weights.size).reshape(
            self.weights.shape
        )

    def _move_references(self, group: IntArray, t_s: FloatArray) -> None:
        """``decayFactor``'s renormalization, for every reference the samples move (in time order: the first
        sample past a reference's limit sets the next one)."""
        if float(t_s.max()) <= self._horizon_s:
            return  # the usual case: every row has its reference and no sample reaches a limit
        limit = self.reference_s + MAX_DECAY_EXPONENT * self.half_life_s
        while True:
            past = np.flatnonzero(~(t_s <= limit[group]))  # NaN limit (no reference yet) counts as past it
            if not len(past):
                break
            first = np.full(len(self.reference_s), np.inf)
            np.minimum.at(first, group[past], t_s[past])
            moved = np.flatnonzero(np.isfinite(first))
            new = self.rounded(first[moved])
            old = self.reference_s[moved]
            shift = np.where(np.isnan(old), -np.inf, np.round((old - new) / self.half_life_s))
            self.weights[moved] *= np.exp2(shift)[:, None]  # histogram.scale(2^exponent)
            self.reference_s[moved] = new
            limit[moved] = new + MAX_DECAY_EXPONENT * self.half_life_s
        # Rows without a reference yet (no sample so far) keep every later call on this path.
        self._horizon_s = -np.inf if np.isnan(limit).any() else float(limit.min(initial=np.inf))


def cpu_histograms(
    group: IntArray,
    t_s: FloatArray,
    cores: FloatArray,
    n_groups: int,
    flags: RecommenderFlags,
    step_s: float,
    request_cores: FloatArray | None = None,
    epoch_s: float = 0.0,
    into: DecayingHistograms | None = None,
) -> DecayingHistograms:
    """The CPU histograms of every group: each sample weighted ``minSampleWeight`` (or, VPA ≤ 1.3, the
    request in cores, at least that), decayed as :class:`DecayingHistograms` does. A sample of a ``step_s``
    grid counts for ``step_s / sample_interval_s`` recommender samples. ``into``: add to these histograms
    (samples given block by block, in time order) instead of new ones."""
    hist = into or DecayingHistograms(n_groups, flags.cpu_histogram, flags.cpu_half_life_s, epoch_s)
    if flags.request_weighted_cpu and request_cores is not None:
        weight = np.maximum(np.nan_to_num(request_cores, nan=0.0), flags.min_sample_weight)
    else:
        weight = np.full(len(cores), flags.min_sample_weight)
    hist.add(group, t_s, cores, weight * (step_s / flags.sample_interval_s))
    return hist


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


def memory_histograms(
    peaks: MemoryPeaks, n_groups: int, ref_s: float, flags: RecommenderFlags, epoch_s: float = 0.0
) -> FloatArray:
    """(groups, buckets) decayed weights of the peaks of the last ``memory_interval_count`` intervals before
    ``ref_s``, each added at its interval's end as ``ContainerState`` adds it (weight 1.0), decayed as
    :class:`DecayingHistograms` does."""
    oldest = ref_s - flags.memory_interval_count * flags.memory_interval_s
    recent = np.flatnonzero(peaks.window_end_s > oldest)
    order = recent[np.argsort(peaks.window_end_s[recent], kind="stable")]
    hist = DecayingHistograms(n_groups, flags.memory_histogram, flags.memory_half_life_s, epoch_s)
    hist.add(peaks.group[order], peaks.window_end_s[order], peaks.peak[order], np.ones(len(order)))
    return hist.weights


def percentile(hist: FloatArray, p: float, options: HistogramOptions) -> FloatArray:
    """``histogram.Percentile`` (``pkg/recommender/util/histogram.go``) for every row at once.

    The walk runs from the first to the last non-empty bucket (weight ≥ epsilon): the first bucket
    where the running sum from the first non-empty one reaches ``p × total`` weight, else the last
    non-empty one. Its upper edge is the answer; the histogram's last bucket has none, so its start.
    ``p ≤ 0`` gives the end of the first non-empty bucket and ``p ≥ 1`` the end of the last, whatever
    the summation order. An empty histogram gives 0.
    """
    n = hist.shape[1]
    nonempty = hist >= options.epsilon
    empty = ~nonempty.any(axis=1)
    first = np.argmax(nonempty, axis=1)
    last = n - 1 - np.argmax(nonempty[:, ::-1], axis=1)
    if p <= 0:
        bucket = first
    elif p >= 1:
        bucket = last
    else:
        index = np.arange(n)
        walked = np.cumsum(np.where(index >= first[:, None], hist, 0.0), axis=1)
        reached = (walked >= (p * hist.sum(axis=1))[:, None]) & (index >= first[:, None]) & (index < last[:, None])
        bucket = np.where(reached.any(axis=1), np.argmax(reached, axis=1), last)
    value = np.where(bucket < n - 1, options.bucket_start(bucket + 1), options.bucket_start(bucket))
    return np.where(empty, 0.0, value)


def confidence(first_s: FloatArray, last_s: FloatArray, samples: FloatArray, interval_s: float = DAY_S) -> FloatArray:
    """``getConfidence``: min(lifespan / interval, samples / minutes of the interval); with the default
    24 h interval, min(lifespan in days, samples / 1440)."""
    return np.minimum((last_s - first_s) / interval_s, samples / (interval_s / 60.0))


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


def amount(values: FloatArray) -> FloatArray:
    """``resourceAmountFromFloat``: an int64 resource amount from a float, negative (and NaN) to 0, above
    :data:`MAX_RESOURCE_AMOUNT` to it, otherwise truncated (kept as float64 holding whole numbers)."""
    with np.errstate(invalid="ignore"):
        return np.where(values > MAX_RESOURCE_AMOUNT, MAX_RESOURCE_AMOUNT, np.where(values >= 0, np.floor(values), 0.0))


def round_up_to_scale(values: FloatArray, scale: int) -> FloatArray:
    """``model.RoundUpToScale``: up to the next multiple of ``scale``; a scale ≤ 0 is an error upstream too."""
    if scale <= 0:
        raise SidecarImpactError(f"rounding scale {scale}: scale must be greater than zero")
    return np.ceil(values / scale) * scale


def recommend(
    cpu_hist: FloatArray,
    memory_hist: FloatArray,
    conf_cpu: FloatArray,
    tracked: FloatArray,
    flags: RecommenderFlags,
    min_cpu: FloatArray | None = None,
    max_cpu: FloatArray | None = None,
    min_memory: FloatArray | None = None,
    max_memory: FloatArray | None = None,
    conf_memory: FloatArray | None = None,
    controlled: tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]] | None = None,
) -> Recommendation:
    """Target and bounds per group: ``podResourceRecommender.estimateContainerResources`` then the capping
    post-processor, in the recommender's own integer units (millicores, bytes) with its truncations.

    Per resource: ``p = amount(percentile)``; ``+ amount(p × margin)``; lower and upper bounds
    ``amount(x × (1 + multiplier / confidence)^exponent)``; ``max(·, pod minimum / tracked containers)``;
    then min/maxAllowed; CPU rounded up to ``round_cpu_millicores`` when it is not 1. ``tracked``: how
    many of the VPA's containers share the pod minimum (not ``mode: Off``). ``min_*``/``max_*``: the
    container policy's minAllowed/maxAllowed in cores and bytes (NaN: none). ``conf_memory`` defaults to
    ``conf_cpu`` (the same history). ``controlled``: per group, whether CPU and memory are among the
    policy's ``controlledResources`` (``FilterControlledResources``); an uncontrolled resource gets NaN.
    A group without CPU samples gets no recommendation (NaN), as the recommender skips empty states.
    Results are in cores and bytes.
    """
    conf_memory = conf_cpu if conf_memory is None else conf_memory
    share = 1.0 / np.maximum(tracked, 1)

    def factor(conf: FloatArray, multiplier: float, exponent: float) -> FloatArray:
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            return np.power(1.0 + multiplier / conf, exponent)

    def estimate(hist: FloatArray, opts: HistogramOptions, p: tuple[float, float, float], to_internal: float,
                 conf: FloatArray, floor: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:  # fmt: skip
        def margin(q: float) -> FloatArray:
            base = amount(percentile(hist, q, opts) * to_internal)
            return base + amount(base * flags.safety_margin_fraction)

        up = factor(conf, flags.upper_confidence_multiplier, flags.upper_confidence_exponent)
        low = factor(conf, flags.lower_confidence_multiplier, flags.lower_confidence_exponent)
        with np.errstate(invalid="ignore"):
            target = np.maximum(margin(p[0]), floor)
            lower = np.maximum(amount(margin(p[1]) * low), floor)
            upper = np.maximum(amount(margin(p[2]) * up), floor)
        return target, lower, upper

    cpu_floor = amount(amount(np.array(flags.pod_min_cpu_millicores)) * share)
    mem_floor = amount(amount(np.array(flags.pod_min_memory_mb * MIB)) * share)
    cpu = estimate(cpu_hist, flags.cpu_histogram,
                   (flags.target_cpu_percentile, flags.lower_cpu_percentile, flags.upper_cpu_percentile),
                   1000.0, conf_cpu, cpu_floor)  # fmt: skip
    mem = estimate(memory_hist, flags.memory_histogram,
                   (flags.target_memory_percentile, flags.lower_memory_percentile, flags.upper_memory_percentile),
                   1.0, conf_memory, mem_floor)  # fmt: skip

    def cap(values: FloatArray, lo: FloatArray | None, hi: FloatArray | None, to_internal: float) -> FloatArray:
        if lo is not None:
            values = np.where(np.isnan(lo), values, np.maximum(values, amount(lo * to_internal)))
        if hi is not None:
            values = np.where(np.isnan(hi), values, np.minimum(values, amount(hi * to_internal)))
        return values

    def cpu_out(v: FloatArray) -> FloatArray:
        if flags.round_cpu_millicores != 1:
            v = np.where(v != 0, round_up_to_scale(v, flags.round_cpu_millicores), v)
        return v / 1000.0

    def mem_out(v: FloatArray) -> FloatArray:
        return round_up_to_scale(v, flags.round_memory_bytes) if flags.round_memory_bytes != 1 else v

    empty = np.where(cpu_hist.sum(axis=1) < flags.cpu_histogram.epsilon, np.nan, 1.0)
    cpu_on, mem_on = controlled if controlled is not None else (True, True)
    cpu_mask = empty * np.where(cpu_on, 1.0, np.nan)
    mem_mask = empty * np.where(mem_on, 1.0, np.nan)
    return Recommendation(
        cpu_target=cpu_out(cap(cpu[0], min_cpu, max_cpu, 1000.0)) * cpu_mask,
        cpu_lower=cpu_out(cap(cpu[1], min_cpu, max_cpu, 1000.0)) * cpu_mask,
        cpu_upper=cpu_out(cap(cpu[2], min_cpu, max_cpu, 1000.0)) * cpu_mask,
        memory_target=mem_out(cap(mem[0], min_memory, max_memory, 1.0)) * mem_mask,
        memory_lower=mem_out(cap(mem[1], min_memory, max_memory, 1.0)) * mem_mask,
        memory_upper=mem_out(cap(mem[2], min_memory, max_memory, 1.0)) * mem_mask,
        uncapped_cpu_target=cpu_out(cpu[0]) * cpu_mask,
        uncapped_memory_target=mem_out(mem[0]) * mem_mask,
    )
