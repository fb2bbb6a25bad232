"""Prometheus query results (``[{"metric": {...}, "values": [[t, "v"], ...]}]``) as DataFrames."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd


def range_frame(result: list[dict[str, Any]], labels: Sequence[str], value: str = "value") -> pd.DataFrame:
    """One row per (series, point): the ``labels`` (missing ones as ""), ``timestamp`` (UTC) and ``value``."""
    columns: dict[str, Any] = {}
    lengths = np.fromiter((len(s.get("values", ())) for s in result), dtype=np.int64, count=len(result))
    for label in labels:
        names = [s["metric"].get(label, "") for s in result]
        columns[label] = pd.Categorical(np.repeat(np.asarray(names, dtype=object), lengths)) if len(result) else []
    if lengths.sum():
        points = np.concatenate([np.asarray(s["values"], dtype=np.float64) for s in result if s.get("values")])
    else:
        points = np.empty((0, 2))
    columns["timestamp"] = _utc(points[:, 0])
    columns[value] = points[:, 1]
    return pd.DataFrame(columns)


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


def _utc(seconds: np.ndarray) -> pd.DatetimeIndex:
    millis = np.round(seconds * 1000).astype(np.int64)
    return pd.to_datetime(millis, unit="ms", utc=True)
