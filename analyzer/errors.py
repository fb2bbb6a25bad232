"""Typed errors of the library; the CLI turns them into one stderr line and an exit code."""

from __future__ import annotations


def clip(value: object, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters for a one-line message (hostile input can be megabytes)."""
    text = repr(value) if not isinstance(value, str) or len(value) <= limit else repr(value[:limit])
    if isinstance(value, str) and len(value) > limit:
        return f"{text[:-1]}…{text[-1]} ({len(value):,} characters)"
    return text if len(text) <= limit + 2 else f"{text[:limit]}… ({len(text):,} characters)"


def reason(exc: BaseException, limit: int = 160) -> str:
    """A library's exception text as one short line, to quote inside our own message."""
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else f"{text[:limit]}…"


class SidecarImpactError(Exception):
    """Base of every error the library raises on purpose. Exit code 2: bad input or usage."""

    exit_code = 2


class SnapshotError(SidecarImpactError):
    """A snapshot directory, file, column or object is missing or malformed (message names it)."""


class NothingToAnalyse(SnapshotError):
    """No pod or no sample is left in the namespaces, selector or shard asked for."""


class ManifestError(SidecarImpactError):
    """A Kubernetes object (pod, HPA, VPA, ...) or a rule file is malformed."""


class QuantityError(SidecarImpactError):
    """A Kubernetes resource quantity or a duration could not be parsed."""


class LockedError(SidecarImpactError):
    """Another run holds the lock of the same reports folder. Exit code 4: try again later, nothing is wrong."""

    exit_code = 4


class WorkerFailed(SidecarImpactError):
    """A process of the run's died without a word (killed: out of memory, a signal). Exit code 5."""

    exit_code = 5


class SourceError(SidecarImpactError):
    """Prometheus or the Kubernetes API server is unreachable or failing. Exit code 3."""

    exit_code = 3
