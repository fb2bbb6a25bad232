"""Containers' status samples reduced to the rows where something changed: ``container_status``'s rows
(docs/snapshot.md), from kube-state-metrics' series or from pods listed at each poll."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from analyzer.errors import SourceError, clip
from analyzer.snapshot.schema import (
    CONTAINER_STATES,
    CONTAINER_STATUS_COLUMNS,
    CONTAINER_STATUS_KEY,
    CONTAINER_STATUS_LABELS,
    empty_container_status,
)

VALUES = list(CONTAINER_STATUS_COLUMNS)[4:]
"""The columns whose change makes a row: ready, restarts, state, last_reason, last_exit_code, terminated_reason."""


def changes_only(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` (:data:`CONTAINER_STATUS_COLUMNS`, a row per sample) in key order with each container's
    first row and the rows that differ from the one before; labels as categoricals with sorted names."""
    if not len(frame):
        return empty_container_status()
    keys = list(CONTAINER_STATUS_KEY)
    frame = frame.sort_values(keys, kind="stable", ignore_index=True)
    changed = np.zeros(len(frame), dtype=bool)
    changed[0] = True
    for column in [*keys[:3], *VALUES]:  # a new container, or one of its values differs from its last row
        values = frame[column].astype(str).to_numpy() if column in keys else frame[column].to_numpy()
        changed[1:] |= values[1:] != values[:-1]
    out = frame[changed].reset_index(drop=True)
    for column in CONTAINER_STATUS_LABELS:
        out[column] = pd.Categorical(out[column].astype(str), categories=sorted(set(out[column].astype(str))))
    out["state"] = pd.Categorical(out["state"].astype(str), categories=list(CONTAINER_STATES))
    out["timestamp"] = pd.to_datetime(out["timestamp"], utc=True).dt.as_unit("ns")
    return out.astype({"ready": bool, "restarts": np.int64, "last_exit_code": np.int64})[list(CONTAINER_STATUS_COLUMNS)]


def pod_statuses(pods: Iterable[Mapping[str, Any]], at: pd.Timestamp) -> list[tuple[Any, ...]]:
    """One row per container (init containers included) of each listed pod at ``at``, from its
    ``containerStatuses`` and ``initContainerStatuses``; a field of the wrong type is a SourceError naming it."""
    rows = []
    for pod in pods:
        meta = pod.get("metadata") or {}
        status = pod.get("status") or {}
        where = f"Pod {clip(meta.get('namespace', ''))}/{clip(meta.get('name', ''))}"
        for field in ("containerStatuses", "initContainerStatuses"):
            entries = status.get(field) or []
            if not isinstance(entries, list):
                raise SourceError(f"{where}: status.{field} must be a list")
            for i, c in enumerate(entries):
                found = _status(c, f"{where}: status.{field}[{i}]")
                rows.append((at, meta.get("namespace", ""), meta.get("name", ""), *found))
    return rows


def _status(c: Any, where: str) -> tuple[Any, ...]:
    """(container, ready, restarts, state, last reason, last exit code, terminated reason) of a ContainerStatus."""
    if not isinstance(c, Mapping) or not isinstance(c.get("name"), str):
        raise SourceError(f"{where}: needs a name")
    ready, restarts = c.get("ready", False), c.get("restartCount", 0)
    if not isinstance(ready, bool) or isinstance(restarts, bool) or not isinstance(restarts, int) or restarts < 0:
        raise SourceError(f"{where}: ready must be a boolean and restartCount a count")
    state = c.get("state") or {}
    now = next((s for s in ("running", "waiting", "terminated") if isinstance(state, Mapping) and s in state), "")
    last = _terminated(c.get("lastState"))
    reason, code = last.get("reason", ""), last.get("exitCode", -1)
    if not isinstance(reason, str) or isinstance(code, bool) or not isinstance(code, int) or code < -1:
        raise SourceError(f"{where}: lastState.terminated has a reason that is not text or an exit code below -1")
    why = _terminated(state).get("reason", "") if now == "terminated" else ""
    if not isinstance(why, str):
        raise SourceError(f"{where}: state.terminated.reason must be text")
    return c["name"], ready, restarts, now, _short(reason), code, _short(why)


def _terminated(state: Any) -> Mapping[str, Any]:
    """A ContainerState's ``terminated`` part ({} when it has none, or it or the state is no object)."""
    ended = state.get("terminated") if isinstance(state, Mapping) else None
    return ended if isinstance(ended, Mapping) else {}


def _short(text: str) -> str:
    """A reason as kept: cut when it is long (the API does not bound it)."""
    return clip(text) if len(text) > 80 else text
