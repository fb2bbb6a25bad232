"""The recommender's edges, row by row from the upstream source (kubernetes/autoscaler, vertical-pod-autoscaler):

- ``pkg/recommender/model/types.go``: ``MaxResourceAmount = 1e14`` in internal units (millicores, bytes),
  ``resourceAmountFromFloat`` (negative to 0, above the maximum to it, else truncated), ``RoundUpToScale``
  (``scale must be greater than zero``).
- ``pkg/recommender/util/histogram.go``: ``Percentile`` walks from ``minBucket`` to ``maxBucket``
  (the first and last buckets with weight ≥ epsilon) against ``percentile × totalWeight``.
- ``pkg/recommender/logic/recommender.go``: ``FilterControlledResources``, and the flags with their defaults.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from analyzer.errors import ManifestError, SidecarImpactError
from analyzer.simulate.vpa_config import FLAGS, parse_recommender_flags
from analyzer.simulate.vpa_recommender import (
    CPU_HISTOGRAM,
    MAX_RESOURCE_AMOUNT,
    RecommenderFlags,
    amount,
    percentile,
    recommend,
    round_up_to_scale,
)

N = CPU_HISTOGRAM.n_buckets
EDGE = CPU_HISTOGRAM.bucket_start


def hist(**weights: float) -> np.ndarray:
    """One histogram row, ``b3=1.0`` meaning weight 1.0 in bucket 3."""
    row = np.zeros((1, N))
    for name, w in weights.items():
        row[0, int(name[1:])] = w
    return row


@pytest.mark.parametrize(
    ("weights", "p", "expected"),
    [
        ({"b3": 1.0, "b7": 1.0}, 0.0, EDGE(4)),  # p ≤ 0: the end of the first non-empty bucket
        ({"b3": 1.0, "b7": 1.0}, -1.0, EDGE(4)),
        ({"b3": 1.0, "b7": 1.0}, 0.5, EDGE(4)),  # the running sum reaches 1.0 ≥ 0.5 × 2 at bucket 3
        ({"b3": 1.0, "b7": 1.0}, 0.51, EDGE(8)),
        ({"b3": 1.0, "b7": 1.0}, 1.0, EDGE(8)),  # p ≥ 1: the end of the last non-empty bucket
        ({"b3": 1.0, "b7": 1.0}, 1.5, EDGE(8)),
        ({"b1": 5e-5, "b3": 1.0, "b7": 1.0}, 0.0, EDGE(4)),  # bucket 1 is under epsilon: not minBucket
        ({"b1": 5e-5, "b3": 1.0, "b7": 1.0}, 0.5, EDGE(8)),  # ...but its weight counts in totalWeight
        ({"b3": 1.0, f"b{N - 1}": 1.0}, 1.0, EDGE(N - 1)),  # the last bucket has no end: its start
        ({"b3": 5e-5}, 0.5, 0.0),  # every bucket under epsilon: IsEmpty, 0
        ({}, 0.9, 0.0),
    ],
)
def test_percentile_walks_like_histogram_go(weights: dict[str, float], p: float, expected: float) -> None:
    assert percentile(hist(**weights), p, CPU_HISTOGRAM)[0] == pytest.approx(expected)


@given(arrays(np.float64, (40, N), elements=st.floats(0, 1e6) | st.just(0.0)))
@settings(max_examples=50, deadline=None)
def test_p_of_one_is_the_last_non_empty_bucket_whatever_the_summation_order(rows: np.ndarray) -> None:
    """Issue: a ``cumsum >= p·total`` scan returned the lowest bucket for p = 1.0 on many random rows."""
    rows = rows * (np.random.default_rng(0).random(rows.shape) < 0.3)
    nonempty = rows >= CPU_HISTOGRAM.epsilon
    got = percentile(rows, 1.0, CPU_HISTOGRAM)
    for row, value, mask in zip(rows, got, nonempty, strict=True):
        if not mask.any():
            assert value == 0.0
            continue
        last = int(np.flatnonzero(mask)[-1])
        assert value == pytest.approx(EDGE(last + 1) if last < N - 1 else EDGE(last))
        assert row.sum() > 0


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(-5.0, 0.0), (np.nan, 0.0), (12.9, 12.0), (1e14, 1e14), (1e14 + 1e6, 1e14), (np.inf, 1e14)],
)
def test_resource_amount_from_float(raw: float, expected: float) -> None:
    assert amount(np.array([raw]))[0] == expected


def test_the_maximum_is_1e14_millicores_for_cpu_and_1e14_bytes_for_memory() -> None:
    """With almost no history the upper bound's multiplier (1 + 1/confidence) explodes: it stops at
    MaxResourceAmount, which for CPU is 1e14 millicores (1e11 cores), not 1e14 cores."""
    cpu = hist(b20=1.0)
    memory = np.zeros((1, N))
    memory[0, 50] = 1.0
    rec = recommend(cpu, memory, np.array([1e-12]), np.array([1.0]), RecommenderFlags())
    assert MAX_RESOURCE_AMOUNT == 1e14
    assert rec.cpu_upper[0] == 1e14 / 1000  # cores
    assert rec.memory_upper[0] == 1e14  # bytes
    assert rec.cpu_target[0] < 1  # the target has no confidence multiplier


@pytest.mark.parametrize(
    ("controlled", "cpu_set", "memory_set"),
    [((True, True), True, True), ((False, True), False, True), ((True, False), True, False)],
)
def test_only_controlled_resources_are_recommended(
    controlled: tuple[bool, bool], cpu_set: bool, memory_set: bool
) -> None:
    """FilterControlledResources: a memory-only policy gets no CPU target, lower or upper bound."""
    memory = np.zeros((1, N))
    memory[0, 50] = 1.0
    mask = (np.array([controlled[0]]), np.array([controlled[1]]))
    rec = recommend(hist(b20=1.0), memory, np.array([8.0]), np.array([1.0]), RecommenderFlags(), controlled=mask)
    for value in (rec.cpu_target, rec.cpu_lower, rec.cpu_upper, rec.uncapped_cpu_target):
        assert np.isfinite(value[0]) == cpu_set
    for value in (rec.memory_target, rec.memory_lower, rec.memory_upper, rec.uncapped_memory_target):
        assert np.isfinite(value[0]) == memory_set


@pytest.mark.parametrize(("value", "scale", "expected"), [(1001, 100, 1100), (1000, 100, 1000), (1, 1, 1), (7, 5, 10)])
def test_round_up_to_scale(value: int, scale: int, expected: int) -> None:
    assert round_up_to_scale(np.array([float(value)]), scale)[0] == expected


@pytest.mark.parametrize("scale", [0, -5])
def test_a_scale_of_zero_or_less_is_an_error(scale: int) -> None:
    with pytest.raises(SidecarImpactError, match="scale must be greater than zero"):
        round_up_to_scale(np.array([10.0]), scale)
    with pytest.raises(SidecarImpactError, match="scale must be greater than zero"):
        RecommenderFlags(round_cpu_millicores=scale)


def test_cpu_rounding_rounds_up_and_leaves_zero_alone() -> None:
    rec = recommend(hist(b20=1.0), np.zeros((1, N)), np.array([8.0]), np.array([1.0]),
                    RecommenderFlags(round_cpu_millicores=100))  # fmt: skip
    assert rec.cpu_target[0] * 1000 % 100 == 0 and rec.cpu_target[0] > 0


@pytest.mark.parametrize(
    ("flag", "value", "field", "expected"),
    [
        ("target-cpu-percentile", 0.9, "target_cpu_percentile", 0.9),
        ("recommendation-lower-bound-cpu-percentile", 0.5, "lower_cpu_percentile", 0.5),
        ("recommendation-upper-bound-cpu-percentile", 0.95, "upper_cpu_percentile", 0.95),
        ("target-memory-percentile", 0.9, "target_memory_percentile", 0.9),
        ("recommendation-margin-fraction", 0.15, "safety_margin_fraction", 0.15),
        ("pod-recommendation-min-cpu-millicores", 25, "pod_min_cpu_millicores", 25.0),
        ("pod-recommendation-min-memory-mb", 250, "pod_min_memory_mb", 250.0),
        ("confidence-interval-cpu", "24h", "confidence_interval_cpu_s", 86400.0),
        ("confidence-interval-memory", "24h", "confidence_interval_memory_s", 86400.0),
        ("cpu-histogram-decay-half-life", "24h", "cpu_half_life_s", 86400.0),
        ("memory-histogram-decay-half-life", "24h", "memory_half_life_s", 86400.0),
        ("memory-aggregation-interval", "24h", "memory_interval_s", 86400.0),
        ("memory-aggregation-interval-count", 8, "memory_interval_count", 8),
        ("oom-bump-up-ratio", 1.2, "oom_bump_ratio", 1.2),
        ("oom-min-bump-up-bytes", "100Mi", "oom_min_bump_bytes", 100.0 * 2**20),
        ("round-cpu-millicores", 1, "round_cpu_millicores", 1),
        ("recommender-interval", "1m", "sample_interval_s", 60.0),
    ],
)
def test_flags_by_upstream_name_and_their_defaults(flag: str, value: object, field: str, expected: object) -> None:
    """Each row: upstream's flag, its production default (recommender.go / main.go), our field."""
    assert getattr(RecommenderFlags(), field) == expected  # the default is upstream's
    assert getattr(parse_recommender_flags({flag: value}, "f.yaml"), field) == expected
    assert FLAGS[flag][0] == field


def test_a_config_changes_the_recommendation_and_bad_ones_are_one_line() -> None:
    low = parse_recommender_flags({"target-cpu-percentile": 0.5, "cpu-histogram": {"ratio": 1.1}}, "f.yaml")
    assert low.cpu_histogram.ratio == 1.1 and low.cpu_histogram.n_buckets < CPU_HISTOGRAM.n_buckets
    for doc, message in (
        ({"target-cpu-percentile": 2}, "target-cpu-percentile: 2 is not a number from 0 to 1"),
        ({"round-cpu-millicores": 0}, "scale must be greater than zero"),
        ({"cpu-histogram-decay-half-life": 5}, "is not a duration"),
        ({"bogus-flag": 1}, "'bogus-flag' is not a recommender flag"),
        ([1, 2], "expected a mapping"),
    ):
        with pytest.raises(ManifestError, match=message):
            parse_recommender_flags(doc, "f.yaml")
