"""``report --vpa-recommender-config FILE``: the recommender's settings from YAML, by upstream's flag names.

A mapping of the VPA recommender's own command-line flags to values, so a cluster's recommender
arguments can be copied in as they are (``target-cpu-percentile: 0.8``,
``cpu-histogram-decay-half-life: 12h``). The settings upstream keeps as constants have names here
too (``upper-bound-confidence-multiplier``, ``cpu-histogram-first-bucket``, ...). Anything unset keeps
upstream's production default (:class:`~analyzer.simulate.vpa_recommender.RecommenderFlags`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

from analyzer.documents import read_document
from analyzer.errors import ManifestError, QuantityError, SidecarImpactError, clip
from analyzer.simulate.vpa_recommender import HistogramOptions, RecommenderFlags
from analyzer.units import parse_duration, parse_quantity


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError("a finite number")
    return float(value)


def _fraction(value: Any) -> float:
    number = _number(value)
    if not 0.0 <= number <= 1.0:
        raise ValueError("a number from 0 to 1")
    return number


def _seconds(value: Any) -> float:
    if isinstance(value, str):
        return parse_duration(value)
    raise ValueError("a duration such as 24h or 90m")


def _integer(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("an integer")
    return value


def _bytes(value: Any) -> float:
    return float(parse_quantity(value))


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("true or false")
    return value


FLAGS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "target-cpu-percentile": ("target_cpu_percentile", _fraction),
    "recommendation-lower-bound-cpu-percentile": ("lower_cpu_percentile", _fraction),
    "recommendation-upper-bound-cpu-percentile": ("upper_cpu_percentile", _fraction),
    "target-memory-percentile": ("target_memory_percentile", _fraction),
    "recommendation-lower-bound-memory-percentile": ("lower_memory_percentile", _fraction),
    "recommendation-upper-bound-memory-percentile": ("upper_memory_percentile", _fraction),
    "recommendation-margin-fraction": ("safety_margin_fraction", _number),
    "pod-recommendation-min-cpu-millicores": ("pod_min_cpu_millicores", _number),
    "pod-recommendation-min-memory-mb": ("pod_min_memory_mb", _number),
    "confidence-interval-cpu": ("confidence_interval_cpu_s", _seconds),
    "confidence-interval-memory": ("confidence_interval_memory_s", _seconds),
    "cpu-histogram-decay-half-life": ("cpu_half_life_s", _seconds),
    "memory-histogram-decay-half-life": ("memory_half_life_s", _seconds),
    "memory-aggregation-interval": ("memory_interval_s", _seconds),
    "memory-aggregation-interval-count": ("memory_interval_count", _integer),
    "oom-bump-up-ratio": ("oom_bump_ratio", _number),
    "oom-min-bump-up-bytes": ("oom_min_bump_bytes", _bytes),
    "round-cpu-millicores": ("round_cpu_millicores", _integer),
    "round-memory-bytes": ("round_memory_bytes", _integer),
    "recommender-interval": ("sample_interval_s", _seconds),
    # Constants upstream (logic/recommender.go, model/aggregations_config.go, VPA <= 1.3 behaviour):
    "upper-bound-confidence-multiplier": ("upper_confidence_multiplier", _number),
    "upper-bound-confidence-exponent": ("upper_confidence_exponent", _number),
    "lower-bound-confidence-multiplier": ("lower_confidence_multiplier", _number),
    "lower-bound-confidence-exponent": ("lower_confidence_exponent", _number),
    "min-sample-weight": ("min_sample_weight", _number),
    "request-weighted-cpu": ("request_weighted_cpu", _flag),
}
HISTOGRAMS = {"cpu-histogram": "cpu_histogram", "memory-histogram": "memory_histogram"}
HISTOGRAM_KEYS = {"first-bucket": "first_bucket", "ratio": "ratio", "max-value": "max_value", "epsilon": "epsilon"}
"""``cpu-histogram: {first-bucket: 0.01, ratio: 1.05, max-value: 1000, epsilon: 0.0001}`` and the memory one."""

assert {f for f, _ in FLAGS.values()} | set(HISTOGRAMS.values()) == {f.name for f in fields(RecommenderFlags)}


def parse_recommender_flags(doc: Any, source: str) -> RecommenderFlags:
    """Check a parsed settings document; a wrong name or value raises :class:`ManifestError` naming it."""
    if doc is None:
        return RecommenderFlags()
    if not isinstance(doc, dict):
        raise ManifestError(f"{source}: expected a mapping of recommender flags to values")
    values: dict[str, Any] = {}
    for key, raw in doc.items():
        if key in HISTOGRAMS:
            values[HISTOGRAMS[key]] = _histogram(raw, f"{source}: {key}", getattr(RecommenderFlags(), HISTOGRAMS[key]))
            continue
        if key not in FLAGS:
            raise ManifestError(f"{source}: {clip(key)} is not a recommender flag (known: {', '.join(sorted(FLAGS))})")
        name, parse = FLAGS[key]
        try:
            values[name] = parse(raw)
        except (ValueError, QuantityError) as exc:
            raise ManifestError(f"{source}: {key}: {clip(raw)} is not {exc}") from None
    try:
        return replace(RecommenderFlags(), **values)
    except SidecarImpactError as exc:
        raise ManifestError(f"{source}: {exc}") from None


def _histogram(raw: Any, where: str, default: HistogramOptions) -> HistogramOptions:
    if not isinstance(raw, dict) or set(raw) - set(HISTOGRAM_KEYS):
        raise ManifestError(f"{where}: expected a mapping of {', '.join(HISTOGRAM_KEYS)}")
    try:
        options = replace(default, **{HISTOGRAM_KEYS[k]: _number(v) for k, v in raw.items()})
    except ValueError:
        raise ManifestError(f"{where}: every value must be a finite number") from None
    if not (options.first_bucket > 0 and options.ratio > 1 and options.max_value > options.first_bucket > 0
            and options.epsilon > 0) or options.n_buckets > 10_000:  # fmt: skip
        raise ManifestError(f"{where}: needs first-bucket > 0, ratio > 1, max-value > first-bucket, epsilon > 0 "
                            "and at most 10,000 buckets")  # fmt: skip
    return options


def load_recommender_flags(path: str | os.PathLike[str]) -> RecommenderFlags:
    """Read a settings file (YAML or JSON) and check it (see the module docstring)."""
    path = Path(path)
    return parse_recommender_flags(read_document(path, "VPA recommender config", ManifestError), str(path))
