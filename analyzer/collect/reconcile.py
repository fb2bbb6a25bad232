"""Where the API's live pods and kube-state-metrics disagree on requests and limits."""

from __future__ import annotations

from typing import Any

from analyzer.units import parse_quantity

MAX_LISTED = 10


def resource_table(pod: dict[str, Any]) -> dict[tuple[str, str, str], str]:
    """``(container, requests|limits, cpu|memory) -> quantity`` for containers and init containers."""
    out = {}
    spec = pod.get("spec") or {}
    for container in [*(spec.get("containers") or []), *(spec.get("initContainers") or [])]:
        for field in ("requests", "limits"):
            for resource, value in ((container.get("resources") or {}).get(field) or {}).items():
                if resource in ("cpu", "memory"):
                    out[(container["name"], field, resource)] = str(value)
    return out


def disagreements(api_pods: list[dict[str, Any]], ksm_pods: dict[tuple[str, str], dict[str, Any]]) -> list[str]:
    """One line per pod whose requests or limits differ between the API and kube-state-metrics.

    Quantities are compared as numbers at kube-state-metrics' precision (millicores, bytes).
    """
    lines = []
    for pod in api_pods:
        meta = pod["metadata"]
        other = ksm_pods.get((meta["namespace"], meta["name"]))
        if other is None:
            continue
        ours, theirs = resource_table(pod), resource_table(other)
        diffs = []
        for key in sorted(set(ours) | set(theirs)):
            a, b = ours.get(key), theirs.get(key)
            if a is None or b is None or _rounded(key[2], a) != _rounded(key[2], b):
                container, field, resource = key
                diffs.append(
                    f"{container} {field}.{resource} is {a or 'unset'} in the API, {b or 'unset'} in kube-state-metrics"
                )
        if diffs:
            lines.append(f"pod {meta['namespace']}/{meta['name']}: " + "; ".join(diffs))
    if len(lines) > MAX_LISTED:
        lines = [*lines[:MAX_LISTED], f"... and {len(lines) - MAX_LISTED} more pods"]
    return lines


def _rounded(resource: str, value: str) -> int:
    number = parse_quantity(value)
    return round(number * 1000) if resource == "cpu" else round(number)
