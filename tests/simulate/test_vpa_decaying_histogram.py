"""The recommender's decaying histogram against upstream's own tests
(``vertical-pod-autoscaler/pkg/recommender/util/decaying_histogram_test.go``) and its renormalization:
the reference moves forward when a sample comes more than 100 half-lives after it, so samples that old
fall under epsilon and leave the percentile walk; weights never overflow, whatever the half-life."""

from __future__ import annotations

import itertools
import subprocess
import sys
import warnings
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer.simulate.vpa_recommender import MAX_DECAY_EXPONENT, DecayingHistograms, percentile

HOUR = 3600.0
START = 1234567890.0
"""``startTime`` of upstream's tests (``time.Unix(1234567890, 0)``): the epoch the times below count from."""


@dataclass(frozen=True)
class LinearOptions:
    """``NewLinearHistogramOptions(10.0, 1.0, weightEpsilon)``, the options of upstream's histogram tests:
    buckets [i, i+1) for i in 0..10, epsilon 1e-15."""

    epsilon: float = 1e-15
    n_buckets: int = 11

    def bucket_of(self, values: np.ndarray) -> np.ndarray:
        return np.clip(np.floor(values), 0, self.n_buckets - 1).astype(np.int64)

    def bucket_start(self, index: np.ndarray | int) -> np.ndarray:
        return np.asarray(index, dtype=np.float64)


OPTIONS = LinearOptions()


def histogram(samples: list[tuple[float, float, float]]) -> DecayingHistograms:
    """One decaying histogram (half-life 1 h) fed ``(value, weight, hours after startTime)`` in order."""
    hist = DecayingHistograms(1, OPTIONS, HOUR, epoch_s=START)  # type: ignore[arg-type]
    for value, weight, hours in samples:
        hist.add(np.array([0]), np.array([hours * HOUR]), np.array([value]), np.array([weight]))
    return hist


def pct(hist: DecayingHistograms, p: float) -> float:
    return float(percentile(hist.weights, p, OPTIONS)[0])  # type: ignore[arg-type]


def test_percentiles_empty_decaying_histogram() -> None:
    """TestPercentilesEmptyDecayingHistogram."""
    for p in (-0.5, 0.0, 0.5, 1.0, 1.5):
        assert pct(histogram([]), p) == 0.0


def test_simple_decay() -> None:
    """TestSimpleDecay: 20 half-lives later a sample of weight 1 outweighs one of 1000."""
    hist = histogram([(2, 1000, 0), (1, 1, 20)])
    assert pct(hist, 0.999) == 2 and pct(hist, 1.0) == 3


def test_longterm_decay() -> None:
    """TestLongtermDecay: past 2^maxDecayExponent the older sample is renormalized away (upstream: 2; a
    histogram that never renormalizes keeps it and answers 3)."""
    hist = histogram([(2, 1, 0), (1, 1, 101)])
    assert pct(hist, 1.0) == 2


def test_decaying_histogram_percentiles() -> None:
    """TestDecayingHistogramPercentiles: values and weights 1..4, one half-life apart."""
    hist = histogram([(i, i, i - 1) for i in range(1, 5)])
    for p, expected in ((0.00, 2), (0.02, 2), (0.03, 3), (0.10, 3), (0.11, 4), (0.34, 4), (0.35, 5), (1.00, 5)):
        assert pct(hist, p) == expected, p


def test_no_decay() -> None:
    """TestNoDecay: at one time the histogram is a plain one."""
    hist = histogram([(i, i, 0) for i in range(1, 5)])
    expected = {0.0: 2, 0.1: 2, 0.2: 3, 0.3: 3, 0.4: 4, 0.5: 4, 0.6: 4, 0.7: 5, 0.8: 5, 0.9: 5, 1.0: 5}
    for p, value in expected.items():
        assert pct(hist, p) == value, p


def test_the_reference_is_the_first_sample_rounded_as_go_rounds_time() -> None:
    """``Time.Round(halfLife)`` from Go's zero time, halves up: 1234567890 is 1890 s past a whole hour."""
    hist = histogram([(1, 1, 0)])
    assert hist.reference_s[0] + START == 1234569600.0
    assert hist.rounded(np.array([-1890.0 + 1800.0]))[0] + START == 1234569600.0  # exactly half: up
    assert hist.rounded(np.array([-1890.0 + 1799.0]))[0] + START == 1234566000.0


def reference_histogram(samples: list[tuple[int, float, float, float]], n: int, half_life: float) -> np.ndarray:
    """Upstream's algorithm sample by sample (decayFactor, shiftReferenceTimestamp, scale), as the oracle
    for the vectorised one; ``(group, time s, value, weight)`` in time order, epoch START."""
    weights = np.zeros((n, OPTIONS.n_buckets))
    reference: list[float | None] = [None] * n
    for g, t, value, weight in samples:
        ref = reference[g]
        if ref is None or t > ref + MAX_DECAY_EXPONENT * half_life:
            rest = (Fraction(t) + Fraction(START) + 62135596800) % Fraction(half_life)  # exactly
            new = t - float(rest) if 2 * rest < half_life else t + float(half_life - rest)
            if ref is not None:
                weights[g] *= 2.0 ** round((ref - new) / half_life)
            reference[g] = ref = new
        weights[g, int(OPTIONS.bucket_of(np.array([value]))[0])] += weight * 2.0 ** ((t - ref) / half_life)
    return weights


@given(
    gaps=st.lists(st.floats(0, 40 * HOUR), min_size=1, max_size=40),
    groups=st.lists(st.integers(0, 2), min_size=40, max_size=40),
    values=st.lists(st.floats(0, 10.5), min_size=40, max_size=40),
    cuts=st.sets(st.integers(1, 39), max_size=5),
)
@settings(max_examples=80, deadline=None)
def test_blocks_of_samples_give_upstreams_weights(gaps: list[float], groups: list[int], values: list[float],
                                                  cuts: set[int]) -> None:  # fmt: skip
    """Fed in blocks (as the snapshot's rows are), the histograms hold the weights upstream's sample-by-sample
    renormalization gives, gaps of more than 100 half-lives included."""
    t = np.cumsum(gaps)
    g = np.array(groups[: len(t)])
    v = np.array(values[: len(t)])
    expected = reference_histogram(list(zip(g.tolist(), t.tolist(), v.tolist(), [0.1] * len(t), strict=True)), 3, HOUR)
    hist = DecayingHistograms(3, OPTIONS, HOUR, epoch_s=START)  # type: ignore[arg-type]
    bounds = [0, *sorted(c for c in cuts if c < len(t)), len(t)]
    for a, b in itertools.pairwise(bounds):
        hist.add(g[a:b], t[a:b], v[a:b], np.full(b - a, 0.1))
    np.testing.assert_allclose(hist.weights, expected, rtol=1e-9, atol=0)
    for p in (0.0, 0.5, 0.9, 1.0):
        reference = percentile(expected, p, OPTIONS)  # type: ignore[arg-type]
        np.testing.assert_array_equal(percentile(hist.weights, p, OPTIONS), reference)  # type: ignore[arg-type]


def test_a_short_half_life_over_weeks_never_overflows() -> None:
    """5-minute half-lives over two weeks of minute samples: thousands of half-lives, finite weights, the
    percentile of the recent samples alone."""
    t = np.arange(0, 14 * 86400, 60.0)
    values = np.where(t < 13 * 86400, 9.0, 1.0)  # the old level is gone after 100 half-lives (8.3 h)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        hist = DecayingHistograms(1, OPTIONS, 300.0, epoch_s=START)  # type: ignore[arg-type]
        hist.add(np.zeros(t.size, dtype=np.int64), t, values, np.full(t.size, 0.1))
    assert np.isfinite(hist.weights).all() and pct(hist, 1.0) == 2 and pct(hist, 0.0) == 2


def test_report_with_five_minute_half_lives_prints_no_warning(tmp_path: Path) -> None:
    """The bundled sample with ``cpu-`` and ``memory-histogram-decay-half-life: 5m``: no Python warning on the
    terminal (with or without -q) and the report is written."""
    config = tmp_path / "vpa.yaml"
    config.write_text("cpu-histogram-decay-half-life: 5m\nmemory-histogram-decay-half-life: 5m\n")
    for quiet in ([], ["-q"]):
        out = tmp_path / f"r{len(quiet)}"
        done = subprocess.run(
            [sys.executable, "-m", "analyzer", "report", "--out", str(out), "-o", "json", *quiet,
             "--vpa-recommender-config", str(config)],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert "Warning" not in done.stderr and "Warning" not in done.stdout, done.stderr
        assert (out / "report.json").is_file()
