"""A run's state on disk: what a later run compares itself with (:mod:`analyzer.findings.changes`).

Each scheduled run writes :data:`STATE_FILE` beside its report: the report's ``snapshot``, ``summary`` and
the rows of ``findings``, ``hpa_skew`` and ``containers`` a comparison reads, in report.json's own shape
(so a report.json is read the same way, and a run that wrote no JSON report can still be compared). It is
checked when read: a file that is not a run's state says which file and which field.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import pandas as pd

from analyzer.errors import SidecarImpactError, clip, reason
from analyzer.findings.changes import FIX_COLUMNS, STATE_COLUMNS, Changes, RunState

STATE_FILE = ".sidecar-impact-state.json"
REPORT_FILE = "report.json"
MAX_STATE_BYTES = 1 << 30
"""A larger file is not a report this tool wrote."""


def _rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{k: _plain(v) for k, v in r.items()} for r in frame.to_dict(orient="records")]


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):
        value = value.item()
    return None if isinstance(value, float) and not math.isfinite(value) else value


def state_document(state: RunState) -> dict[str, Any]:
    """The state as JSON-ready data, in report.json's shape."""
    return {
        "snapshot": {"end": state.end.isoformat().replace("+00:00", "Z")},
        "summary": state.summary,
        **{name: _rows(frame) for name, frame in state.tables().items()},
    }


def write_state(run_dir: Path, state: RunState) -> None:
    """Write the state into a run's (still temporary) directory."""
    fd = os.open(run_dir / STATE_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(state_document(state), fh, sort_keys=True)


def state_path(path: Path) -> Path:
    """The file a run's state is read from: ``path`` itself, or in a run directory its state file (else its
    report.json)."""
    if path.is_dir() and not path.is_symlink():
        return path / STATE_FILE if (path / STATE_FILE).is_file() else path / REPORT_FILE
    return path


def read_state(path: Path) -> RunState:
    """A run's state from a run directory, its state file or a report.json; a file that is not one raises
    :class:`SidecarImpactError` naming the file and the field."""
    file = state_path(path)
    try:
        fd = os.open(file, os.O_RDONLY | os.O_NOFOLLOW)
        with os.fdopen(fd, "rb") as fh:
            data = fh.read(MAX_STATE_BYTES + 1)
    except OSError as exc:
        raise SidecarImpactError(f"{file}: cannot read ({reason(exc, 100)})") from None
    if len(data) > MAX_STATE_BYTES:
        raise SidecarImpactError(f"{file}: larger than {MAX_STATE_BYTES >> 20} MiB: not a report of this tool")
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise SidecarImpactError(f"{file}: not JSON ({reason(exc, 100)})") from None
    return _state(doc, file)


def _state(doc: Any, file: Path) -> RunState:
    if not isinstance(doc, dict):
        raise SidecarImpactError(f"{file}: not a report (a JSON object with findings, hpa_skew and containers)")
    end = (doc.get("snapshot") or {}).get("end") if isinstance(doc.get("snapshot"), dict) else None
    try:
        stamp = pd.Timestamp(end)
        if stamp.tzinfo is None:
            raise ValueError("no time zone")
    except (ValueError, TypeError):
        raise SidecarImpactError(f"{file}: snapshot.end: not an ISO time with a zone ({clip(end)})") from None
    summary = doc.get("summary")
    if not isinstance(summary, dict):
        raise SidecarImpactError(f"{file}: summary: missing or not an object")
    for key, value in summary.items():
        if not _number(value):
            raise SidecarImpactError(f"{file}: summary.{clip(key)}: must be a number")
    tables = {name: _table(doc.get(name), name, columns, file) for name, columns in STATE_COLUMNS.items()}
    tables["fixes"] = _table(doc.get("fixes", []), "fixes", tuple(FIX_COLUMNS), file)
    return RunState(end=stamp.tz_convert("UTC"), summary=summary, **tables)


NUMBERS = {
    "hpa_skew": ("skew_percent", "excess_replica_hours", "missing_replica_hours", "waste_cost_month", "stalled_hours",
                 "replica_hours_app_only", "sidecar_cpu_usage_share"),
    "containers": ("cpu_request_cores", "memory_request_bytes"),
    "fixes": ("predicted_skew_percent",),
}  # fmt: skip
"""The columns of the state's tables that hold numbers (null allowed); every other column holds text."""


def _number(value: Any) -> bool:
    """A JSON number a float holds (not a boolean, not beyond a float's range)."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return False
    try:
        return not math.isinf(float(value))
    except OverflowError:
        return False


def _table(rows: Any, name: str, columns: tuple[str, ...], file: Path) -> pd.DataFrame:
    """One of the state's tables: a list of objects with ``columns``, each a number (or null) or text as
    :data:`NUMBERS` says; anything else names the row and the column."""
    if not isinstance(rows, list):
        raise SidecarImpactError(f"{file}: {name}: missing or not a list")
    numbers = NUMBERS.get(name, ())
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise SidecarImpactError(f"{file}: {name}[{i}]: not an object")
        for column in columns:
            if column not in row:
                raise SidecarImpactError(f"{file}: {name}[{i}]: '{column}' is missing")
            value = row[column]
            if column in numbers and not (value is None or _number(value)):
                raise SidecarImpactError(f"{file}: {name}[{i}]: {column} must be a number or null")
            if column not in numbers and not isinstance(value, str):
                raise SidecarImpactError(f"{file}: {name}[{i}]: {column} must be text")
    frame = pd.DataFrame([{c: row[c] for c in columns} for row in rows], columns=list(columns))
    for column in numbers:
        frame[column] = frame[column].astype(float)
    return frame


def changes_document(changes: Changes) -> dict[str, Any]:
    """A comparison as JSON-ready data (report.json's ``changes``)."""
    return {
        "since": changes.since.isoformat().replace("+00:00", "Z"),
        "headline": changes.headline(),
        "figures": {k: round(v, 2) for k, v in changes.figures.items()},
        "new": changes.counts("new"),
        "resolved": changes.counts("resolved"),
        "findings": _rows(changes.findings[changes.findings["status"] != "persisting"]),
        "severity_changed": _rows(
            changes.findings[
                (changes.findings["status"] == "persisting")
                & (changes.findings["severity_before"] != changes.findings["severity_now"])
            ]
        ),
        "hpas": _rows(changes.hpas),
        "workloads": _rows(changes.workloads),
        "fixes": _rows(changes.fixes),
    }
