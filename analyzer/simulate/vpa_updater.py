"""What the VPA admission controller writes into a new pod, and when the updater evicts one."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

EVICTION_LIFETIME_S = 12 * 3600.0
POD_UPDATE_THRESHOLD = 0.1
EVICT_AFTER_OOM_S = 600.0


@dataclass(frozen=True)
class Resources:
    """One container's requests and limits in cores/bytes (None: unset)."""

    cpu_request: float | None
    memory_request: float | None
    cpu_limit: float | None = None
    memory_limit: float | None = None


def evictable(
    requests: dict[str, Resources],
    lower: dict[str, tuple[float, float]],
    upper: dict[str, tuple[float, float]],
    target: dict[str, tuple[float, float]],
    age_s: float,
    oom_within_s: float | None = None,
) -> tuple[bool, str]:
    """The updater's test for one pod over its observed containers (``vpaObservedContainers``).

    ``lower``/``upper``/``target`` map a container to (cpu cores, memory bytes). Evictable when any
    request is outside [lower, upper] (a missing request counts), or the pod is 12 h old and the
    summed relative difference to the targets, CPU and memory added, is at least 10 %, or it was
    OOMKilled within 10 minutes of starting and differs from the target at all.
    """
    for name, res in requests.items():
        if name not in target:
            continue
        for i, (req, r) in enumerate(((res.cpu_request, "cpu"), (res.memory_request, "memory"))):
            if req is None or not lower[name][i] <= req <= upper[name][i]:
                shown = "missing" if req is None else f"{req:g}"
                return True, f"{name} {r} request {shown} outside [lower, upper]"
    diff = 0.0
    for i, _ in enumerate(("cpu", "memory")):
        total_req = sum((res.cpu_request, res.memory_request)[i] or 0.0 for n, res in requests.items() if n in target)
        total_target = sum(target[n][i] for n in requests if n in target)
        if total_req > 0:
            diff += abs(total_req - total_target) / total_req
    if age_s >= EVICTION_LIFETIME_S and diff >= POD_UPDATE_THRESHOLD:
        return True, f"older than 12 h and {diff:.0%} from the target"
    if oom_within_s is not None and oom_within_s <= EVICT_AFTER_OOM_S and diff > 0:
        return True, "OOMKilled soon after start"
    return False, ""


def eviction_loop_rate(
    replicas: np.ndarray,
    tolerance: float = 0.5,
    min_replicas: int = 2,
    restart_s: float = 60.0,
    interval_s: float = 60.0,
    horizon_s: float = 86400.0,
) -> np.ndarray:
    """Evictions per day when every pod is evictable as soon as it runs (an injector undoes the VPA).

    Simulates the updater's loop for each workload (vectorised): per loop it may evict running pods
    as long as ``n − int(n × tolerance)`` stay running (``--eviction-tolerance``), never below
    ``--min-replicas`` pods; an evicted pod runs again ``restart_s`` later and is evicted again.
    """
    n = np.asarray(replicas, dtype=np.int64)
    required = n - np.floor(n * tolerance).astype(np.int64)
    eligible = n >= min_replicas
    delay = max(1, math.ceil(restart_s / interval_s))
    pending = np.zeros((delay, len(n)), dtype=np.int64)
    running = n.copy()
    total = np.zeros(len(n), dtype=np.int64)
    loops = int(horizon_s / interval_s)
    for k in range(loops):
        slot = k % delay
        running += pending[slot]
        pending[slot] = 0
        evict = np.where(eligible, np.clip(running - required, 0, running), 0)
        running -= evict
        pending[slot] += evict
        total += evict
    return total * (86400.0 / horizon_s)
