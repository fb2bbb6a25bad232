"""Typed errors of the library; the CLI turns them into one stderr line and an exit code."""

from __future__ import annotations


class SidecarImpactError(Exception):
    """Base of every error the library raises on purpose. Exit code 2: bad input or usage."""

    exit_code = 2


class SnapshotError(SidecarImpactError):
    """A snapshot directory, file, column or object is missing or malformed (message names it)."""


class ManifestError(SidecarImpactError):
    """A Kubernetes object (pod, HPA, VPA, ...) or a rule file is malformed."""


class QuantityError(SidecarImpactError):
    """A Kubernetes resource quantity or a duration could not be parsed."""


class LockedError(SidecarImpactError):
    """Another run holds the lock of the same reports folder. Exit code 4: try again later, nothing is wrong."""

    exit_code = 4


class SourceError(SidecarImpactError):
    """Prometheus or the Kubernetes API server is unreachable or failing. Exit code 3."""

    exit_code = 3
