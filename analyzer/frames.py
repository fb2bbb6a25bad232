"""Row access by key without a pandas call per key (a ``.loc`` or a boolean mask per workload is
O(rows) each, so O(workloads x rows) over a cluster)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd


def records_by(frame: pd.DataFrame, keys: Sequence[str]) -> dict[tuple[Any, ...], list[dict[str, Any]]]:
    """Every row of ``frame`` as a dict, grouped by the tuple of its ``keys`` columns, rows in frame order."""
    out: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for record in frame.to_dict(orient="records"):
        out.setdefault(tuple(record[k] for k in keys), []).append(record)
    return out


def ranges(starts: npt.NDArray[np.integer], stops: npt.NDArray[np.integer]) -> npt.NDArray[np.int64]:
    """``concatenate([arange(a, b) for a, b in zip(starts, stops)])`` without a Python step per range: the
    rows of many keys out of rows sorted by key."""
    lengths = np.asarray(stops, dtype=np.int64) - np.asarray(starts, dtype=np.int64)
    ends = np.cumsum(lengths)
    shift = np.asarray(starts, dtype=np.int64) - (ends - lengths)
    return np.repeat(shift, lengths) + np.arange(int(ends[-1]) if len(ends) else 0, dtype=np.int64)
