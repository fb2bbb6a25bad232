"""How much a finding matters: the ``severity`` of every finding, which ``--fail-on`` and ``--min-severity``
act on (docs/findings.md)."""

from __future__ import annotations

from enum import StrEnum


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


SEVERITIES = tuple(Severity)
"""Lowest first."""


def severity_rank(severity: str) -> int:
    """0 for low up to 2 for high; -1 for anything else (e.g. "none")."""
    return SEVERITIES.index(severity) if severity in SEVERITIES else -1
