"""Where the API's live pods and kube-state-metrics disagree on requests and limits."""

from __future__ import annotations

import json
from typing import Any

from analyzer.units import parse_quantity

MAX_LISTED = 10


def resource_table(pod: dict[str, Any]) -> dict[tuple[str, str, str], str]:
    """``(container, requests|limits, cpu|memory) -> quantity`` for containers and init containers."""
    out = {}
    spec = pod.get("spec") or {}
    for container in [*(spec.get("containers") or []), *(spec.get("initContainers") or [])]:
        if not isinstance(container, dict) or not isinstance(container.get("name"), str):
            continue  # not a container: the snapshot's validation names it
        for field in ("requests", "limits"):
            for resource, value in ((container.get("resources") or {}).get(field) or {}).items():
                if resource in ("cpu", "memory"):
                    out[(container["name"], field, resource)] = str(value)
    return out


def compact_table(pod: dict[str, Any]) -> str:
    """:func:`resource_table` as compact text: what a collection keeps of each listed pod to compare it with
    kube-state-metrics' later (one string per pod, far smaller than the table)."""
    return json.dumps(sorted([*key, value] for key, value in resource_table(pod).items()), separators=(",", ":"))


def disagreement(listed: str, ksm_pod: dict[str, Any]) -> str | None:
    """The line saying where a listed pod's requests and limits (its :func:`compact_table`) differ from its
    kube-state-metrics' rebuilt object, or None when they agree.

    Quantities are compared as numbers at kube-state-metrics' precision (millicores, bytes).
    """
    ours = {(c, f, r): v for c, f, r, v in json.loads(listed)}
    theirs = resource_table(ksm_pod)
    diffs = []
    for key in sorted(set(ours) | set(theirs)):
        a, b = ours.get(key), theirs.get(key)
        if a is None or b is None or _rounded(key[2], a) != _rounded(key[2], b):
            container, field, resource = key
            api, ksm = a or "unset", b or "unset"
            diffs.append(f"{container} {field}.{resource} is {api} in the API, {ksm} in kube-state-metrics")
    meta = ksm_pod["metadata"]
    return f"pod {meta['namespace']}/{meta['name']}: " + "; ".join(diffs) if diffs else None


def clipped(lines: list[str]) -> list[str]:
    """The first :data:`MAX_LISTED` lines, and how many more there were."""
    if len(lines) <= MAX_LISTED:
        return lines
    return [*lines[:MAX_LISTED], f"... and {len(lines) - MAX_LISTED} more pods"]


def _rounded(resource: str, value: str) -> int:
    number = parse_quantity(value)
    return round(number * 1000) if resource == "cpu" else round(number)
