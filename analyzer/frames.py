"""Row access by key without a pandas call per key (a ``.loc`` or a boolean mask per workload is
O(rows) each, so O(workloads x rows) over a cluster)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd


def records_by(frame: pd.DataFrame, keys: Sequence[str]) -> dict[tuple[Any, ...], list[dict[str, Any]]]:
    """Every row of ``frame`` as a dict, grouped by the tuple of its ``keys`` columns, rows in frame order."""
    out: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for record in frame.to_dict(orient="records"):
        out.setdefault(tuple(record[k] for k in keys), []).append(record)
    return out
