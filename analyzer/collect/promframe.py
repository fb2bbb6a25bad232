"""Prometheus matrix answers (:class:`~analyzer.collect.prom_answers.Matrix`) as DataFrames."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from analyzer.collect.prom_answers import Matrix


def range_frame(answer: Matrix, labels: Sequence[str], value: str = "value") -> pd.DataFrame:
    """One row per (series, point): the ``labels`` (missing ones as ""), ``timestamp`` (UTC) and ``value``."""
    columns: dict[str, Any] = {}
    for label in labels:
        names = np.asarray([s.get(label, "") for s in answer.labels], dtype=object)
        columns[label] = per_point(names, answer.series) if len(names) else []
    columns["timestamp"] = _utc(answer.times)
    columns[value] = answer.values
    return pd.DataFrame(columns)


def per_point(per_series: np.ndarray, series: np.ndarray) -> pd.Categorical:
    """A label of every point, looked up once per series and indexed by its code: no string per point."""
    categories, inverse = np.unique(per_series.astype(str), return_inverse=True)
    return pd.Categorical.from_codes(inverse[series], categories)


def last_points(frame: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """Per ``keys`` group: the newest ``value`` and the first and last ``timestamp`` it was seen."""
    if frame.empty:
        return pd.DataFrame(columns=[*keys, "value", "first_seen", "last_seen"])
    ordered = frame.sort_values("timestamp", kind="stable")
    grouped = ordered.groupby(list(keys), observed=True, sort=True)
    out = grouped["value"].last().to_frame()
    out["first_seen"] = grouped["timestamp"].min()
    out["last_seen"] = grouped["timestamp"].max()
    return out.reset_index()


def last_points_of(parts: Sequence[pd.DataFrame], keys: Sequence[str]) -> pd.DataFrame:
    """:func:`last_points` of the ``parts`` (answers for successive times) together, from each part's own
    :func:`last_points`: what a collection keeps of each answer as it comes, a row per series rather than
    one per series and step. The newest value is the part seen last's, the times the extremes."""
    frames = [part.astype({k: object for k in keys}) for part in parts if len(part)]
    if not frames:
        return pd.DataFrame(columns=[*keys, "value", "first_seen", "last_seen"])
    ordered = pd.concat(frames, ignore_index=True).sort_values("last_seen", kind="stable")
    grouped = ordered.groupby(list(keys), sort=True)
    out = grouped["value"].last().to_frame()
    out["first_seen"] = grouped["first_seen"].min()
    out["last_seen"] = grouped["last_seen"].max()
    return out.reset_index()


def _utc(seconds: np.ndarray) -> pd.DatetimeIndex:
    millis = np.round(seconds * 1000).astype(np.int64)
    return pd.to_datetime(millis, unit="ms", utc=True)
