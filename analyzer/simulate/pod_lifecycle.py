"""How the HPA groups a pod at one sync, from the pod's creation time alone (``groupPods``).

Pods are created at a sync, start ``start_delay_s`` later (the kubelet's ``status.startTime``), run their
containers ``init_s`` after that (native sidecars starting one by one: the pod is ``Pending`` meanwhile), turn
Ready ``ready_delay_s`` after their containers run and appear in PodMetrics once two metrics-server scrapes
(every ``scrape_s``) have seen them running. Works on arrays of any shape (slots of pods, or cohorts of pods
of one age).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from analyzer.simulate.hpa_spec import ControllerFlags

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Lifecycle:
    """Start-up timings of new pods (seconds) and the metrics-server resolution; ``ready_delay_s`` may be
    an array that broadcasts against the creation times (a delay per workload or per pod). ``init_s``: what
    the pod's native sidecars take to start before its containers run (0: none, or classic sidecars, which
    start with the app)."""

    start_delay_s: float = 5.0
    ready_delay_s: float | FloatArray = 20.0
    scrape_s: float = 60.0
    init_s: float = 0.0


@dataclass(frozen=True)
class PodStates:
    """Boolean masks, same shape as the creation times. ``exists`` covers every other mask."""

    exists: BoolArray
    running: BoolArray
    serving: BoolArray
    has_metric: BoolArray
    cpu_ready: BoolArray
    cpu_unready: BoolArray
    mem_ready: BoolArray
    unready_pending: BoolArray
    missing: BoolArray


def last_scrape(now: float, scrape_s: float) -> float:
    """Time of the newest metrics-server scrape at or before ``now`` (scrapes on multiples of ``scrape_s``)."""
    return float(np.floor(now / scrape_s) * scrape_s)


def pod_states(created_s: FloatArray, now: float, life: Lifecycle, flags: ControllerFlags) -> PodStates:
    """Group pods created at ``created_s`` (NaN: no pod) as the HPA does at time ``now``."""
    with np.errstate(invalid="ignore"):
        exists = created_s <= now
        start = created_s + life.start_delay_s  # status.startTime: the CPU initialization period counts from it
        run = start + life.init_s
        running = exists & (run <= now)
        ready_at = run + life.ready_delay_s
        serving = running & (ready_at <= now)
        scraped = last_scrape(now, life.scrape_s)
        has_metric = running & (run <= scraped - life.scrape_s)
        transition = np.where(serving, ready_at, start)  # Ready=False is set as the pod starts
        in_init = start + flags.cpu_initialization_period_s > now
        early = ~serving | (scraped < transition + life.scrape_s)
        late = ~serving & (start + flags.initial_readiness_delay_s > transition)
    cpu_unready_metric = has_metric & np.where(in_init, early, late)
    pending = exists & ~running
    missing = running & ~has_metric
    return PodStates(
        exists=exists,
        running=running,
        serving=serving,
        has_metric=has_metric,
        cpu_ready=has_metric & ~cpu_unready_metric,
        cpu_unready=pending | cpu_unready_metric,
        mem_ready=has_metric,
        unready_pending=pending,
        missing=missing,
    )
