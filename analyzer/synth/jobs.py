"""Synthetic CronJobs whose pods a classic sidecar may hold open after the app finished (issue: sidecar
lifecycle), with the truth of what each held.

A CronJob starts a Job every ``every_s`` (skipped while one runs under ``concurrencyPolicy: Forbid``). Its pod
starts :data:`START_DELAY_S` after creation; the app runs its drawn time and terminates (``Completed``); then:

- a **native** sidecar is stopped by the kubelet with the app (the pod succeeds);
- a classic sidecar that **quits** (the app calls Istio's ``/quitquitquit``, or ``linkerd-await --shutdown``)
  stops ``quits_after_s`` later (the pod succeeds);
- any other classic sidecar keeps running: the pod, its requests and its Job are **held** until
  ``activeDeadlineSeconds`` kills it (the Job fails, ``DeadlineExceeded``) or, without one, past the window.

The observations are what cAdvisor and kube-state-metrics would record: usage only of running containers,
each container's state as changes, the pod's phase per scrape (``Succeeded``/``Failed`` at the scrape after it
ended); a finished pod is deleted the scrape after that (its Job's history kept short).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from analyzer.__about__ import __version__
from analyzer.prices import GIB, Prices
from analyzer.simulate.pod_requests import aggregate_container_requests
from analyzer.snapshot import schema
from analyzer.snapshot.kube import parse_pod_spec
from analyzer.snapshot.schema import Metadata, Snapshot
from analyzer.synth import manifests
from analyzer.synth.scenarios import MIB, Scenario, SidecarSpec, istio_proxy

START_DELAY_S = 5.0
"""Seconds from a pod's creation to its containers running (as the Deployments' pods, pod_lifecycle)."""


@dataclass(frozen=True)
class JobScenario:
    """A CronJob and how its sidecar ends. ``pod`` carries the pod's containers and requests (its ``workload``
    is the CronJob's name); the app uses ``app_cpu`` cores while it runs, sidecars their ``cpu_base``."""

    pod: Scenario
    every_s: float
    app_run_s: tuple[float, float]
    app_cpu: float
    deadline_s: float | None = None
    quits_after_s: float | None = None
    concurrency: str = "Allow"
    app_reason: str = "Completed"
    """Why the app's container terminates (``Error``: it failed; its Job cannot see it while the pod is held)."""

    @property
    def held(self) -> bool:
        """Whether a classic sidecar outlives the app (the pod is held)."""
        classic = any(not c.native and not c.app for c in self.pod.sidecars)
        return classic and self.quits_after_s is None


@dataclass(frozen=True)
class _Run:
    job: str
    pod: str
    created_s: float
    app_end_s: float
    end_s: float
    """When the pod's last container stopped (inf: after the window)."""
    failed: bool


def _runs(s: JobScenario, start_s: float, end_s: float, rng: np.random.Generator) -> list[_Run]:
    runs: list[_Run] = []
    for at in np.arange(start_s, end_s, s.every_s):
        if s.concurrency == "Forbid" and runs and runs[-1].end_s > at:
            continue  # the CronJob controller skips a run while the last one is active
        minutes = int(at // 60)
        job = f"{s.pod.workload}-{minutes}"
        begin = at + START_DELAY_S
        app_end = begin + rng.uniform(*s.app_run_s)
        end, failed = app_end, False
        if s.held:
            deadline = begin - START_DELAY_S + s.deadline_s if s.deadline_s else np.inf
            end, failed = deadline, bool(np.isfinite(deadline))
        elif s.quits_after_s is not None:
            end = app_end + s.quits_after_s
        suffix = "".join(rng.choice(list("bcdfghjklmnpqrstvwxz2456789"), 5))
        runs.append(_Run(job, f"{job}-{suffix}", float(at), float(app_end), float(end), failed))
    return runs


def _sidecar_end(s: JobScenario, r: _Run, side: SidecarSpec) -> str:
    """A sidecar's termination reason: killed at the Job's deadline (exit 137: ``Error``), else it exited."""
    return "Error" if r.failed and not side.native and s.held else "Completed"


def job_batch(scenarios: list[JobScenario], days: float, step_s: float, seed: int, start: pd.Timestamp,
              workloads: int) -> tuple[Snapshot, list[dict[str, Any]]]:  # fmt: skip
    """The CronJobs' snapshot over ``days`` at ``step_s`` (no replicas: Jobs have no HPA) and each one's truth."""
    rng = np.random.default_rng([seed, 34])
    n = int(days * 86400 // step_s)
    start_s = start.timestamp()
    t = start_s + step_s * np.arange(n)
    window_end = t[-1] + step_s
    usage: list[tuple[Any, ...]] = []
    status: list[tuple[Any, ...]] = []
    changes: list[tuple[Any, ...]] = []
    objects: dict[str, list[Any]] = {k: [] for k in schema.OBJECT_KINDS}
    truth: list[dict[str, Any]] = []
    for s in scenarios:
        spec, annotations = manifests.pod_spec_and_annotations(s.pod)
        requests = aggregate_container_requests(parse_pod_spec(spec))
        cpu, memory = requests.get("cpu", 0) / 1000.0, requests.get("memory", 0) / 1000.0
        runs = _runs(s, start_s - s.every_s if s.concurrency == "Allow" else start_s, t[-1], rng)
        runs = [r for r in runs if r.end_s > start_s and r.created_s < t[-1]]
        held: list[float] = []
        for r in runs:
            seen = t[(t > r.created_s) & (t <= r.end_s + step_s)]  # a finished pod is seen once more
            if not len(seen):
                continue
            running = seen < r.end_s
            phase = np.where(seen < r.created_s + START_DELAY_S, "Pending",
                             np.where(running, "Running", "Failed" if r.failed else "Succeeded"))  # fmt: skip
            for at, p in zip(seen, phase, strict=True):
                status.append((at, s.pod.namespace, r.pod, p, bool(p == "Running" and at < r.app_end_s)))
            begin = r.created_s + START_DELAY_S
            for c, name in enumerate(s.pod.app_containers[:1] + tuple(x.name for x in s.pod.sidecars)):
                side = None if c == 0 else s.pod.sidecars[c - 1]
                stop = r.app_end_s if side is None else (r.app_end_s if side.native else r.end_s)
                on = (seen >= begin) & (seen < stop)
                state = np.where(seen < begin, "waiting", np.where(on, "running", "terminated"))
                keep = np.ones(len(seen), dtype=bool)
                keep[1:] = state[1:] != state[:-1]
                ended = s.app_reason if side is None else _sidecar_end(s, r, side)
                for at, st in zip(seen[keep], state[keep], strict=True):
                    changes.append((at, s.pod.namespace, r.pod, name, st == "running", 0, st, "", -1,
                                    ended if st == "terminated" else ""))  # fmt: skip
                for at in seen[on]:
                    c_cpu = s.app_cpu if side is None else side.cpu_base
                    c_mem = s.pod.app_mem_base if side is None else side.mem_base
                    usage.append((at, s.pod.namespace, r.pod, name, c_cpu * rng.normal(1, 0.04),
                                  c_mem * rng.normal(1, 0.01)))  # fmt: skip
            if s.held:
                held.append(max(0.0, min(r.end_s, window_end) - max(r.app_end_s, start_s)))
            objects["Pod"].append(_pod(s, r, spec, annotations, window_end, step_s))
        for r in runs[-3:]:
            objects["Job"].append(_job(s, r, window_end))
        objects["CronJob"].append(_cronjob(s))
        prices = Prices()
        hours = sum(held) / 3600
        truth.append({
            "namespace": s.pod.namespace, "workload": s.pod.workload, "kind": "CronJob", "scenario": s.pod.name,
            "shows": s.pod.shows, "held": s.held, "pods": len(runs),
            "pods_held": sum(1 for h in held if h > 0),
            "held_pod_hours": hours,
            "jobs_unfinished": sum(1 for r in runs if s.held and r.end_s >= window_end),
            "apps_failed": sum(1 for h in held if h > 0) if s.app_reason != "Completed" else 0,
            "pod_cpu_request_cores": cpu, "pod_memory_request_bytes": memory,
            "held_cost": hours * (cpu * prices.cpu_core_hour + memory / GIB * prices.memory_gib_hour),
            "sidecars": [c.name for c in s.pod.sidecars],
        })  # fmt: skip
    snapshot = Snapshot(
        metadata=Metadata(schema_version=schema.SCHEMA_VERSION, source="synthetic", cluster=f"synthetic-{seed}",
                          start=pd.Timestamp(t[0], unit="s", tz="UTC"), end=pd.Timestamp(t[-1], unit="s", tz="UTC"),
                          step_s=float(step_s), tool_version=__version__,
                          extra={"seed": seed, "workloads": workloads, "days": days}),
        usage=_frame(usage, schema.USAGE_COLUMNS, ("namespace", "pod", "container"), schema.USAGE_KEY),
        replicas=_frame([], schema.REPLICAS_COLUMNS, ("namespace", "kind", "name"), schema.REPLICAS_KEY),
        objects=objects,
        pod_status=_frame(status, schema.POD_STATUS_COLUMNS, ("namespace", "pod"), schema.POD_STATUS_KEY),
        container_status=_frame(
            changes, schema.CONTAINER_STATUS_COLUMNS, schema.CONTAINER_STATUS_LABELS, schema.CONTAINER_STATUS_KEY,
        ),
    )
    return snapshot, truth


def _frame(rows: list[tuple[Any, ...]], columns: Any, labels: tuple[str, ...], key: tuple[str, ...]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(columns))
    frame["timestamp"] = pd.to_datetime(frame["timestamp"].astype(np.float64), unit="s", utc=True).dt.as_unit("ns")
    for column in labels:
        frame[column] = pd.Categorical(frame[column].astype(str), categories=sorted(set(frame[column].astype(str))))
    if "phase" in frame:
        frame["phase"] = pd.Categorical(frame["phase"], categories=list(schema.POD_PHASES))
    if "state" in frame:
        frame["state"] = pd.Categorical(frame["state"], categories=list(schema.CONTAINER_STATES))
        frame = frame.astype({"ready": bool, "restarts": np.int64, "last_exit_code": np.int64})
    return frame.sort_values(list(key), kind="stable").reset_index(drop=True)


def _iso(seconds: float) -> str:
    return pd.Timestamp(seconds, unit="s", tz="UTC").strftime("%Y-%m-%dT%H:%M:%SZ")


def _template(s: JobScenario) -> dict[str, Any]:
    meta = manifests.template_metadata(s.pod, manifests.labels(s.pod))
    spec = {**manifests.template_spec(s.pod), "restartPolicy": "Never"}
    return {"metadata": meta, "spec": spec}


def _job_spec(s: JobScenario) -> dict[str, Any]:
    spec: dict[str, Any] = {"backoffLimit": 0, "template": _template(s)}
    if s.deadline_s:
        spec["activeDeadlineSeconds"] = int(s.deadline_s)
    return spec


def _cronjob(s: JobScenario) -> dict[str, Any]:
    minutes = int(s.every_s // 60)
    schedule = f"*/{minutes} * * * *" if minutes < 60 else f"0 */{minutes // 60} * * *"
    return {
        "apiVersion": "batch/v1", "kind": "CronJob",
        "metadata": {"name": s.pod.workload, "namespace": s.pod.namespace, "labels": manifests.labels(s.pod),
                     "creationTimestamp": "2026-10-01T00:00:00Z"},
        "spec": {"schedule": schedule, "concurrencyPolicy": s.concurrency, "jobTemplate": {"spec": _job_spec(s)}},
    }  # fmt: skip


def _job(s: JobScenario, r: _Run, window_end: float) -> dict[str, Any]:
    status: dict[str, Any] = {"startTime": _iso(r.created_s)}
    if r.end_s < window_end:
        condition = ("Failed", "DeadlineExceeded") if r.failed else ("Complete", "")
        status["conditions"] = [{"type": condition[0], "status": "True", "reason": condition[1]}]
        status["failed" if r.failed else "succeeded"] = 1
        if not r.failed:
            status["completionTime"] = _iso(r.end_s)
    else:
        status["active"] = 1
    return {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": r.job, "namespace": s.pod.namespace, "creationTimestamp": _iso(r.created_s),
                     "ownerReferences": [{"apiVersion": "batch/v1", "kind": "CronJob", "name": s.pod.workload,
                                          "uid": _uid(s.pod.namespace, s.pod.workload), "controller": True}]},
        "spec": _job_spec(s),
        "status": status,
    }  # fmt: skip


def _pod(s: JobScenario, r: _Run, spec: dict[str, Any], annotations: dict[str, str], window_end: float,
         step_s: float) -> dict[str, Any]:  # fmt: skip
    annotations = dict(annotations)
    if r.end_s + step_s < window_end:
        annotations[schema.DELETED_AT_ANNOTATION] = _iso(r.end_s + step_s)
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": r.pod, "namespace": s.pod.namespace, "labels": {**manifests.labels(s.pod),
                     "job-name": r.job}, "annotations": annotations, "creationTimestamp": _iso(r.created_s),
                     "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": r.job,
                                          "uid": _uid(s.pod.namespace, r.job), "controller": True}]},
        "spec": {**json.loads(json.dumps(spec)), "restartPolicy": "Never"},
        "status": {"phase": "Running" if r.end_s >= window_end else "Failed" if r.failed else "Succeeded",
                   "startTime": _iso(r.created_s + START_DELAY_S)},
    }  # fmt: skip


def _uid(namespace: str, name: str) -> str:
    h = hashlib.sha256(f"{namespace}/{name}".encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def _job_pod(name: str, workload: str, shows: str, sidecars: tuple[SidecarSpec, ...],
             annotations: dict[str, str] | None = None) -> Scenario:  # fmt: skip
    return Scenario(name=name, namespace="batch", workload=workload, shows=shows,
                    app_image=f"registry.example.com/batch/{workload}:1.4.0",
                    app_requests={"cpu": "1", "memory": "2Gi"}, app_limits={"memory": "2Gi"}, cpu_per_rps=0.0,
                    app_mem_base=900 * MIB, app_mem_per_rps=0.0, peak_rps=0.0, sidecars=sidecars, kind="CronJob",
                    replicas=0, annotations=annotations or {})  # fmt: skip


_LINKERD = SidecarSpec(name="linkerd-proxy", image="cr.l5d.io/linkerd/proxy:edge-24.11.8", kind="linkerd",
                       requests={"cpu": "100m", "memory": "64Mi"}, limits=None, cpu_base=0.004, cpu_slope=0.0,
                       mem_base=18 * MIB, mem_slope=0.0)  # fmt: skip
_VAULT = SidecarSpec(name="vault-agent", image="hashicorp/vault:1.18.3", kind="vault",
                     requests={"cpu": "250m", "memory": "64Mi"}, limits={"cpu": "500m", "memory": "128Mi"},
                     cpu_base=0.002, cpu_slope=0.0, mem_base=22 * MIB, mem_slope=0.0)  # fmt: skip
_FLUENT_BIT = SidecarSpec(name="fluent-bit", image="cr.fluentbit.io/fluent/fluent-bit:3.2.2", kind="fluent-bit",
                          requests={"cpu": "50m", "memory": "64Mi"}, limits={"memory": "96Mi"}, cpu_base=0.004,
                          cpu_slope=0.0, mem_base=40 * MIB, mem_slope=0.0, injected=False)  # fmt: skip
_ISTIO_IDLE = SidecarSpec(**{**istio_proxy().__dict__, "cpu_slope": 0.0, "mem_slope": 0.0})

JOBS: tuple[JobScenario, ...] = (
    JobScenario(_job_pod("cronjob-held-istio", "report-export", "an hourly CronJob whose injected istio-proxy keeps "
                         "running after the app: each pod held until activeDeadlineSeconds (30 min) fails its Job",
                         (_ISTIO_IDLE,)),
                every_s=3600, app_run_s=(240, 480), app_cpu=0.8, deadline_s=1800),
    JobScenario(_job_pod("cronjob-held-linkerd", "ledger-reconcile", "a six-hourly CronJob (Forbid) whose "
                         "linkerd-proxy never exits: its first Job never completes and every later run is skipped",
                         (_LINKERD,)),
                every_s=6 * 3600, app_run_s=(900, 1500), app_cpu=0.9, concurrency="Forbid"),
    JobScenario(_job_pod("cronjob-held-vault", "secrets-sync", "a CronJob every 30 min whose app fails (Error) while "
                         "its vault-agent sidecar outlives it until the 15-minute deadline", (_VAULT,)),
                every_s=1800, app_run_s=(60, 120), app_cpu=0.3, deadline_s=900, app_reason="Error"),
    JobScenario(_job_pod("cronjob-native-control", "invoice-batch", "control: an hourly CronJob on a native "
                         "istio-proxy, stopped with the app; the Job completes",
                         (SidecarSpec(**{**_ISTIO_IDLE.__dict__, "native": True}),),
                         {"sidecar.istio.io/nativeSidecar": "true"}),
                every_s=3600, app_run_s=(300, 600), app_cpu=0.7, deadline_s=3000),
    JobScenario(_job_pod("cronjob-quits-control", "cache-warmer", "control: a CronJob every 20 min whose fluent-bit "
                         "sidecar is stopped by the app's wrapper seconds after it exits; the Job completes",
                         (_FLUENT_BIT,)),
                every_s=1200, app_run_s=(120, 300), app_cpu=0.5, quits_after_s=3),
)  # fmt: skip
"""The lifecycle catalogue's CronJobs (``sidecar-impact sample --catalogue lifecycle``)."""

JOB_CATALOGUES: dict[str, tuple[JobScenario, ...]] = {"lifecycle": JOBS}
"""The CronJobs each catalogue adds to its workloads (:data:`analyzer.synth.scenarios.CATALOGUES`)."""
