"""Jobs held open by a sidecar (``job-held-by-sidecar``): what the pods a classic sidecar kept running after the
app finished cost, and the change that ends them with the app (docs/lifecycle.md).

The pod keeps its requests scheduled while it is held, so the cost is the held pod-hours at the pod's
effective request (KEP-753, :func:`analyzer.simulate.pod_requests.aggregate_container_requests`) at the report's
prices. A Job whose pod is still held at the window's end has not completed: under ``concurrencyPolicy:
Forbid`` every later run of its CronJob is skipped.

The fixes, per sidecar (1.29+ for native sidecars, which the kubelet stops once the app has ended):

- Istio: ``sidecar.istio.io/nativeSidecar: "true"`` on the pod template; before 1.29, the app ends with
  ``curl -fsS -X POST http://127.0.0.1:15020/quitquitquit``.
- Linkerd: ``config.linkerd.io/proxy-enable-native-sidecar: "true"``; before, the app runs under
  ``linkerd-await --shutdown -- <command>``.
- Vault agent: ``vault.hashicorp.com/agent-pre-populate-only: "true"`` (the secrets rendered by the init
  container alone, no sidecar), when the Job reads its secrets once at start.
- A sidecar in the template: moved to ``initContainers`` with ``restartPolicy: Always``.

A CronJob is patched at ``spec.jobTemplate.spec.template``; a Job's template cannot be changed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from analyzer.findings.native_migration import NATIVE_ANNOTATIONS, NATIVE_SINCE_MINOR
from analyzer.findings.remedies import (
    JOB_IMMUTABLE,
    RESOURCE_NAMES,
    annotation_ops,
    apply_command,
    native_sidecar_ops,
    patch_text,
)
from analyzer.findings.severity import Severity
from analyzer.prices import GIB, HOURS_PER_MONTH, Prices
from analyzer.simulate.kube_version import KubeVersion
from analyzer.simulate.pod_requests import aggregate_container_requests
from analyzer.snapshot.kube import PodSpec, Workload, template_at

FINDING_KIND = "job-held-by-sidecar"
MEDIUM_HELD_SHARE = 0.10
"""A workload whose pods were held for this share of their pod-hours or more is at least medium."""
QUIT_ANNOTATIONS = {"vault": ("vault.hashicorp.com/agent-pre-populate-only", "true")}
"""Annotations that make an injector leave the sidecar out, for a Job that needs it only at start."""
QUIT_BEFORE_NATIVE = {
    "istio": "end the app's command with `curl -fsS -X POST http://127.0.0.1:15020/quitquitquit` (Istio's quit API)",
    "linkerd": "run the app under `linkerd-await --shutdown -- <command>` (it stops the proxy when the app exits)",
}
"""What ends a classic sidecar with the app where native sidecars are not available."""

JOB_HOLD_TABLE_COLUMNS: dict[str, str] = {
    "namespace": "workload namespace",
    "workload_kind": "CronJob or Job",
    "workload": "workload name",
    "held_by": "the classic sidecars that kept its pods running after the app, comma-separated",
    "kind": "their sidecar kinds, comma-separated",
    "injected": "the sidecars were added by a webhook (changed by its annotation) rather than in the template",
    "pods": "pods whose app finished within the window",
    "pods_held": "of those, pods a sidecar kept running more than a step after the app",
    "held_pod_hours": "pod-hours within the window the pods were held",
    "held_minutes_p50": "minutes a held pod was held, median",
    "held_share": "held pod-hours over the pods' pod-hours from start to the app's end plus held",
    "jobs_unfinished": "Jobs whose pod was still held at the window's end: not completed",
    "apps_failed": "held pods whose app had failed (its termination reason not Completed): the Job saw neither the "
    "failure nor a retry while held",
    "cpu_request_cores": "the pod's effective CPU request (KEP-753), cores, newest pod",
    "memory_request_bytes": "the pod's effective memory request, bytes",
    "cost": "what the held requests cost over the window at the configured prices, dollars",
    "cost_month": "the same per month (730 hours), dollars",
    "fix": "what to change",
    "patch": "JSON Patch of the CronJob that applies it ('' none)",
    "command": "the kubectl command that applies the patch",
}
"""One row per Job or CronJob with Job pods whose app finished in the window."""


def job_hold_table(
    holds: pd.DataFrame,
    specs: Mapping[tuple[str, str, str], PodSpec],
    containers: pd.DataFrame,
    workloads: Mapping[tuple[str, str, str], Workload],
    prices: Prices,
    version: KubeVersion,
    window_h: float,
) -> pd.DataFrame:
    """:data:`JOB_HOLD_TABLE_COLUMNS` from ``holds`` (:data:`analyzer.model.job_holds.POD_HOLD_COLUMNS`), each
    workload's newest pod spec (``specs``), ``containers`` (:data:`analyzer.model.containers.CONTAINER_COLUMNS`,
    for the sidecars' kinds) and its object (``workloads``, for the patch); ``run_h``: per (namespace, pod)
    hours from its start to the app's end (None: held share against the held hours alone)."""
    if not len(holds):
        return pd.DataFrame(columns=list(JOB_HOLD_TABLE_COLUMNS))
    key = ["namespace", "workload_kind", "workload"]
    side = containers[containers["role"] == "sidecar"].set_index([*key, "container"])
    rows = []
    for workload, pods in holds.groupby(key, sort=True):
        held = pods[pods["held_s"] > 0]
        names = sorted({n for value in held["held_by"] for n in value.split(", ") if n})
        kinds = [str(side["kind"].get((*workload, n), "generic")) for n in names]
        injected = bool(names) and all(bool(side["injected"].get((*workload, n), False)) for n in names)
        requests = aggregate_container_requests(specs[workload]) if workload in specs else {}
        cpu, memory = requests.get("cpu", 0) / 1000.0, requests.get("memory", 0) / 1000.0
        hours = float(held["held_s"].sum() / 3600)
        ran = float(pods["run_s"].sum() / 3600)
        cost = hours * (cpu * prices.cpu_core_hour + memory / GIB * prices.memory_gib_hour)
        fix, patch, command = _fix(workload, names, kinds, bool(injected), workloads.get(workload), version)
        rows.append((*workload, ", ".join(names), ", ".join(kinds), injected, len(pods), len(held), hours,
                     float(held["held_s"].median() / 60) if len(held) else 0.0,
                     hours / (ran + hours) if ran + hours > 0 else 0.0, int(held["unfinished"].sum()),
                     int(held["app_failed"].sum()), cpu, memory,
                     cost, cost / window_h * HOURS_PER_MONTH if window_h > 0 else 0.0,
                     fix, patch, command))  # fmt: skip
    out = pd.DataFrame(rows, columns=list(JOB_HOLD_TABLE_COLUMNS))
    return out[out["pods_held"] > 0].reset_index(drop=True)


def _fix(
    workload: tuple[str, str, str], names: list[str], kinds: list[str], injected: bool, obj: Workload | None,
    version: KubeVersion,
) -> tuple[str, str, str]:
    """The change that ends the sidecars with the app, and the CronJob patch that makes it."""
    native = version.minor >= NATIVE_SINCE_MINOR
    texts: list[str] = []
    annotations: dict[str, str] = {}
    moves: list[str] = []
    for name, kind in zip(names, kinds, strict=True):
        if kind in QUIT_ANNOTATIONS and injected:
            key, value = QUIT_ANNOTATIONS[kind]
            annotations[key] = value
            texts.append(f"{name}: pod template annotation {key}: \"{value}\" (secrets rendered once by the init "
                         "container, no sidecar), if the Job reads its secrets only at start")  # fmt: skip
        elif injected and native and kind in NATIVE_ANNOTATIONS:
            key, value = NATIVE_ANNOTATIONS[kind]
            annotations[key] = value
            texts.append(f"{name}: pod template annotation {key}: \"{value}\" (a native sidecar, stopped once the "
                         "app has ended)")  # fmt: skip
        elif not injected and native and not moves:
            moves.append(name)
            texts.append(f"{name}: moved to initContainers with restartPolicy: Always (a native sidecar)")
        elif kind in QUIT_BEFORE_NATIVE:
            texts.append(f"{name}: {QUIT_BEFORE_NATIVE[kind]}")
        else:
            texts.append(f"{name}: make the app stop it when it exits (a shared process namespace or a shutdown "
                         f"endpoint){'' if native else f'; native sidecars need 1.{NATIVE_SINCE_MINOR}'}")  # fmt: skip
    text = "; ".join(texts)
    if not annotations and not moves:
        return text, "", ""
    if obj is None or obj.template_raw is None:
        return text + "; the snapshot has no template to patch", "", ""
    if obj.kind == "Job":
        return f"{text}; {JOB_IMMUTABLE}", "", ""
    at = template_at(obj.kind)
    ops: list[dict[str, Any]] = []
    if annotations:
        ops += annotation_ops(obj.template_raw, annotations, at)
    if moves:  # one at a time: a second move's index would change with the first
        ops += native_sidecar_ops(obj.template_raw, moves[0], None, at)[0]
    if not ops:
        return text, "", ""
    return text, patch_text(ops), apply_command(workload[0], workload[1], workload[2])


def job_hold_rows(table: pd.DataFrame) -> list[tuple[Any, ...]]:
    """The ``job-held-by-sidecar`` findings (:data:`analyzer.findings.summary.FINDING_COLUMNS` order)."""
    rows: list[tuple[Any, ...]] = []
    for r in table.itertuples(index=False):
        if r.jobs_unfinished > 0:
            sev = Severity.HIGH
        elif r.held_share >= MEDIUM_HELD_SHARE:
            sev = Severity.MEDIUM
        else:
            sev = Severity.LOW
        resource = RESOURCE_NAMES.get(str(r.workload_kind), str(r.workload_kind).lower())
        unfinished = (f"; {r.jobs_unfinished} Job{'s' if r.jobs_unfinished != 1 else ''} still held at the "
                      "window's end, not completed (a Forbid CronJob skips every run meanwhile)"
                      if r.jobs_unfinished else "")  # fmt: skip
        failed = (f"; in {r.apps_failed} of them the app had failed, which the Job saw only when the pod ended "
                  "(no retry meanwhile)" if r.apps_failed else "")  # fmt: skip
        rows.append((sev, FINDING_KIND, r.namespace, f"{resource}/{r.workload}",
                     f"{r.held_by} kept {r.pods_held} of {r.pods} Job pods running after the app finished "
                     f"({r.held_minutes_p50:.0f} min at the median, {r.held_pod_hours:.1f} pod-hours, "
                     f"{r.held_share:.0%} of their time), their requests held: ${r.cost_month:,.2f}/month"
                     f"{unfinished}{failed} (rule: high when a Job never completes, medium from "
                     f"{MEDIUM_HELD_SHARE:.0%} of the pods' time held)",
                     r.cost_month if r.cost_month > 0 else np.nan, r.fix))  # fmt: skip
    return rows
