"""The sidecar hazards of every VPA, each a finding with severity, evidence and a YAML fix.

Rules (docs/vpa.md), one registry entry each; docs/vpa.md explains them.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd

from analyzer.findings.remedies import apply_command, patch_text, vpa_policy_ops
from analyzer.findings.severity import Severity
from analyzer.frames import records_by
from analyzer.model.classify import Role
from analyzer.model.usage_index import WORKLOAD_KEY
from analyzer.simulate.counterfactual import Counterfactual
from analyzer.simulate.hpa_spec import HPASpec
from analyzer.simulate.views import View
from analyzer.simulate.vpa_snapshot import VPARecommendations
from analyzer.simulate.vpa_updater import eviction_loop_rate
from analyzer.snapshot.vpa import VPASpec

HAZARD_COLUMNS = {
    "namespace": "workload namespace",
    "workload": "workload name",
    "vpa": "VPA name",
    "hazard": "rule id (docs/vpa.md)",
    "severity": "high, medium or low",
    "container": "the container concerned",
    "evidence": "what was found, with figures",
    "value": "the headline figure of the hazard (see evidence), NaN if none",
    "change": "what answers the hazard, in words",
    "command": "the command that applies the VPA's patch from the fixes/ directory (-o fixes); empty without one",
    "patch": "the VPA's JSON Patch (RFC 6902), guarded by a test of its policies as collected: one per VPA, "
    "answering every hazard of it that a policy change answers; empty when no patch answers this one",
    "fix": "the change, the command and the patch, as the findings show it",
}

VPA_HPA_COLUMNS = {
    "namespace": "HPA namespace",
    "hpa": "HPA name",
    "vpa": "the VPA on the same workload",
    "replica_hours_as_deployed": "replica-hours with today's requests",
    "replica_hours_with_vpa": "replica-hours with requests as the VPA would set them",
    "change_replica_hours": "with VPA minus as deployed",
    "change_percent": "relative change, percent",
}

NATIVE_SHARE = 0.2
"""A native sidecar holding at least this share of the pod's requests is worth a finding."""


@dataclass(frozen=True)
class Context:
    """Everything a rule looks at for one VPA; ``rows`` are its workload's rows of the recommendation
    table (:data:`analyzer.simulate.vpa_snapshot.VPA_COLUMNS`, plus ``cpu_mean_cores`` and
    ``memory_mean_bytes``), one attribute per column."""

    vpa: VPASpec
    rows: list[SimpleNamespace]
    hpas: list[HPASpec]
    replicas: float


@dataclass(frozen=True)
class Hazard:
    id: str
    severity: Severity
    summary: str
    check: Callable[[Context], list[dict[str, Any]]]


Changes = dict[str, dict[str, Any]]
"""Policy fields to set, by ``containerName`` (see :func:`analyzer.findings.remedies.vpa_policy_ops`)."""


def merge_changes(changes: list[Changes]) -> Changes:
    """Several hazards' policy changes as one: fields set in order, ``controlledResources`` narrowed to what
    every change keeps, and an entry left controlling nothing turned ``mode: Off``."""
    merged: Changes = {}
    for change in changes:
        for name, fields in change.items():
            entry = merged.setdefault(name, {})
            for key, value in fields.items():
                if key == "controlledResources" and key in entry:
                    value = [r for r in entry[key] if r in value]
                entry[key] = value
    for entry in merged.values():
        if entry.get("controlledResources") == []:
            del entry["controlledResources"]
            entry["mode"] = "Off"
    return merged


def _sidecars(ctx: Context) -> list[SimpleNamespace]:
    return [r for r in ctx.rows if r.role == Role.SIDECAR and not r.native_sidecar]


def _total(rows: list[SimpleNamespace], column: str) -> float:
    """The sum of a column over ``rows``, missing values left out (0 for none)."""
    return float(sum(v for v in (getattr(r, column) for r in rows) if not math.isnan(v)))


def no_catch_all(ctx: Context) -> list[dict[str, Any]]:
    apps = [r for r in ctx.rows if r.role == Role.APP]
    names_app = any(r.container in ctx.vpa.policies for r in apps)
    injected = [r for r in _sidecars(ctx) if r.injected and r.mode != "Off"]
    if not names_app or ctx.vpa.has_catch_all_off or not injected:
        return []
    app = apps[0]
    names = ", ".join(r.container for r in injected)
    floor_alone = app.floor_cpu_cores * (1 + len(injected))
    evidence = (
        f'containerPolicies name {app.container} but have no catch-all "*" with mode Off: '
        f"{names} stay on Auto, are recommended for, and split the pod minimum: "
        f"{app.container}'s floor is {app.floor_cpu_cores * 1000:g}m / {app.floor_memory_bytes / 2**20:g}Mi "
        f"instead of {floor_alone * 1000:g}m / {app.floor_memory_bytes * (1 + len(injected)) / 2**20:g}Mi"
    )
    change = (f'add a catch-all "*" with mode Off to the containerPolicies: {names} leave the VPA and '
              f"{app.container} keeps the whole pod minimum")  # fmt: skip
    return [{"container": names, "evidence": evidence, "value": float(len(injected)), "change": change,
             "policies": {"*": {"mode": "Off"}}}]  # fmt: skip


def eviction_loop(ctx: Context) -> list[dict[str, Any]]:
    if not ctx.vpa.evicts:
        return []
    out = []
    for r in _sidecars(ctx):
        if not r.injected or not r.tracked or not r.observed:
            continue  # not observed: the VPA webhook ran before the injector, the updater ignores it
        controlled = ctx.vpa.policy(r.container).controlled_resources
        outside = []
        for res, req, lo, hi, fmt in (
            ("cpu", r.cpu_request_cores, r.cpu_lower_cores, r.cpu_upper_cores, lambda v: f"{v * 1000:g}m"),
            ("memory", r.memory_request_bytes, r.memory_lower_bytes, r.memory_upper_bytes,
             lambda v: f"{v / 2**20:.0f}Mi"),
        ):  # fmt: skip
            if res not in controlled:
                continue
            if np.isnan(req):
                outside.append(f"{res} request missing")
            elif not lo <= req <= hi:
                outside.append(f"{res} request {fmt(req)} outside [{fmt(lo)}, {fmt(hi)}]")
        if not outside:
            continue
        rate = _loop_rate(round(ctx.replicas))
        evidence = (
            f"the injector sets {r.container}'s resources on every pod while the VPA ({ctx.vpa.update_mode}) manages "
            f"it: {'; '.join(outside)}. If the injector runs after the VPA webhook, the updater evicts every pod "
            f"as soon as it runs: about {rate:,.0f} evictions/day at {round(ctx.replicas)} replicas"
        )
        change = f"set {r.container}'s container policy to mode Off: the injector alone sets its resources"
        out.append({"container": r.container, "evidence": evidence, "value": rate, "change": change,
                    "policies": {r.container: {"mode": "Off"}}})  # fmt: skip
    return out


@functools.lru_cache(maxsize=256)
def _loop_rate(replicas: int) -> float:
    return float(eviction_loop_rate(np.array([replicas]))[0])


def native_sidecar_ignored(ctx: Context) -> list[dict[str, Any]]:
    out = []
    rows = ctx.rows
    for r in (r for r in rows if r.native_sidecar):
        shares = []
        for res, col in (("cpu", "cpu_request_cores"), ("memory", "memory_request_bytes")):
            total = _total(rows, col)
            if total > 0 and not np.isnan(getattr(r, col)):
                shares.append((getattr(r, col) / total, res))
        if not shares or max(shares)[0] < NATIVE_SHARE:
            continue
        share, res = max(shares)
        evidence = (
            f"{r.container} is a native sidecar (an init container with restartPolicy Always): the VPA never "
            f"recommends for it, yet it holds {share:.0%} of the pod's {res} requests"
        )
        change = (f"set {r.container}'s requests in the workload from its measured usage: the VPA cannot size "
                  "native sidecars (autoscaler#6691), so no VPA change answers this")  # fmt: skip
        out.append({"container": r.container, "evidence": evidence, "value": share, "change": change,
                    "policies": {}})  # fmt: skip
    return out


def hpa_same_resource(ctx: Context) -> list[dict[str, Any]]:
    if ctx.vpa.update_mode == "Off":
        return []
    out = []
    tracked = [r for r in ctx.rows if r.tracked]
    for hpa in ctx.hpas:
        for m in hpa.metrics:
            counted = tracked if m.container is None else [r for r in tracked if r.container == m.container]
            managed = [r for r in counted if m.resource in ctx.vpa.policy(r.container).controlled_resources]
            if not managed:
                continue
            target_col = "cpu_target_cores" if m.resource == "cpu" else "memory_target_bytes"
            mean_col = "cpu_mean_cores" if m.resource == "cpu" else "memory_mean_bytes"
            usage, target = _total(counted, mean_col), _total(counted, target_col)
            pinned = 100.0 * usage / target if target else (math.inf if usage else math.nan)
            if not m.is_utilization:
                continue
            drift = (
                "up: utilization stays above the target whatever the replica count, towards maxReplicas"
                if m.target < pinned
                else "down: utilization stays below the target, towards minReplicas"
            )
            evidence = (
                f"HPA {hpa.name} scales on {m.resource} at {m.target}% while the VPA sets the {m.resource} requests "
                f"of {', '.join(r.container for r in managed)}: requests follow usage (≈ 1.15 × p90), pinning "
                f"utilization near {pinned:.0f}%; replicas drift {drift}"
            )
            policies = _without_resource(ctx, managed, m.resource, whole_pod=m.container is None)
            change = (f"stop the VPA setting {m.resource} for {', '.join(r.container for r in managed)} "
                      f"(controlledResources without {m.resource}): HPA {hpa.name} alone answers {m.resource}, the "
                      "VPA keeps the rest")  # fmt: skip
            out.append({"container": ", ".join(r.container for r in managed), "evidence": evidence,
                        "value": pinned, "change": change, "policies": policies})  # fmt: skip
    return out


def _without_resource(ctx: Context, managed: list[SimpleNamespace], resource: str, whole_pod: bool) -> Changes:
    """Policy changes that take ``resource`` out of the VPA's hands for the ``managed`` containers: on the
    entry that applies to each (its own, or ``"*"``); one without an entry gets ``"*"`` when the HPA counts
    the whole pod, its own entry when it counts that container alone."""
    changes: Changes = {}
    for r in managed:
        policy = ctx.vpa.policy(r.container)
        if r.container in ctx.vpa.policies:
            name = r.container
        elif "*" in ctx.vpa.policies or whole_pod:
            name = "*"
        else:
            name = r.container
        kept = [res for res in policy.controlled_resources if res != resource]
        changes[name] = {"controlledResources": kept}
    return changes


def sidecar_moves_denominator(ctx: Context) -> list[dict[str, Any]]:
    if not ctx.vpa.evicts:
        return []
    out = []
    for hpa in ctx.hpas:
        if not any(m.resource == "cpu" and m.container is None for m in hpa.metrics):
            continue
        for r in _sidecars(ctx):
            if not r.tracked or "cpu" not in ctx.vpa.policy(r.container).controlled_resources:
                continue
            before = _total(ctx.rows, "cpu_request_cores")
            after = before - (0 if np.isnan(r.cpu_request_cores) else r.cpu_request_cores) + r.cpu_target_cores
            evidence = (
                f"HPA {hpa.name} divides by the pod's CPU request, {r.container}'s included; the VPA would move "
                f"{r.container}'s request to {r.cpu_target_cores * 1000:g}m, the pod's from {before * 1000:g}m to "
                f"{after * 1000:g}m, while the app's request is unchanged"
            )
            change = f"set {r.container}'s container policy to mode Off: the pod's CPU request stays as the HPA sees it"
            out.append({"container": r.container, "evidence": evidence, "value": after - before, "change": change,
                        "policies": {r.container: {"mode": "Off"}}})  # fmt: skip
    return out


HAZARDS: tuple[Hazard, ...] = (
    Hazard(
        "no-catch-all", Severity.MEDIUM, 'policy names the app, no "*" Off, an injected sidecar on Auto', no_catch_all
    ),
    Hazard(
        "eviction-loop",
        Severity.HIGH,
        "VPA manages an injected sidecar whose request is outside its bounds",
        eviction_loop,
    ),
    Hazard(
        "native-sidecar-ignored",
        Severity.MEDIUM,
        "a native sidecar the VPA cannot see holds ≥ 20 % of requests",
        native_sidecar_ignored,
    ),
    Hazard("hpa-vpa-same-resource", Severity.HIGH, "an HPA and the VPA act on the same resource", hpa_same_resource),
    Hazard(
        "sidecar-moves-hpa-denominator",
        Severity.MEDIUM,
        "the VPA resizes a sidecar counted in a CPU HPA's denominator",
        sidecar_moves_denominator,
    ),
)


def vpa_hazards(
    recs: VPARecommendations,
    containers: pd.DataFrame,
    hpas: Sequence[HPASpec],
    workloads: pd.DataFrame,
) -> pd.DataFrame:
    """Every hazard of every VPA in the snapshot (:data:`HAZARD_COLUMNS`)."""
    usage = containers.set_index(["namespace", "workload_kind", "workload", "container"])[
        ["cpu_mean_cores", "memory_mean_bytes"]
    ]
    table = recs.table.join(usage, on=["namespace", "workload_kind", "workload", "container"])
    keys = zip(*(workloads[c] for c in WORKLOAD_KEY), strict=True)
    pods = dict(zip(keys, workloads["pods_mean"], strict=True))
    rows = []
    rows_of = records_by(table, WORKLOAD_KEY)
    hpas_of: dict[tuple[str, str, str], list[HPASpec]] = {}
    for h in hpas:
        hpas_of.setdefault((h.namespace, h.target_kind, h.target_name), []).append(h)
    for key, vpa in recs.vpas.items():
        if key not in rows_of:
            continue
        mine = [SimpleNamespace(**r) for r in rows_of[key]]
        on_target = hpas_of.get(key, [])
        ctx = Context(vpa=vpa, rows=mine, hpas=on_target, replicas=float(pods.get(key, 0.0)))
        found = [(hazard, f) for hazard in HAZARDS for f in hazard.check(ctx)]
        ops = vpa_policy_ops(vpa, merge_changes([f["policies"] for _, f in found]))
        patch = patch_text(ops) if ops else ""
        command = apply_command(vpa.namespace, "VerticalPodAutoscaler", vpa.name) if ops else ""
        answered = sum(bool(f["policies"]) for _, f in found)
        for hazard, f in found:
            mine_patch = bool(f["policies"]) and bool(ops)
            fix = f"{f['change']}\n"
            if mine_patch:
                fix += f"# {command}\n{patch}"
                if answered > 1:
                    fix += "# the VPA's one patch answers its other hazards too\n"
            rows.append({"namespace": key[0], "workload": key[2], "vpa": vpa.name, "hazard": hazard.id,
                         "severity": hazard.severity, "container": f["container"], "evidence": f["evidence"],
                         "value": f["value"], "change": f["change"], "command": command if mine_patch else "",
                         "patch": patch if mine_patch else "", "fix": fix})  # fmt: skip
    return pd.DataFrame(rows, columns=list(HAZARD_COLUMNS))


def vpa_hpa_effect(cf: Counterfactual, recs: VPARecommendations) -> pd.DataFrame:
    """Per HPA whose workload has a VPA: replica-hours with the VPA's requests vs as deployed."""
    hours = cf.step_s / 3600.0
    col_of = {(c.hpa, c.view): j for j, c in enumerate(cf.columns)}
    rows = []
    for h, ctx in enumerate(cf.contexts):
        if (h, View.VPA_REQUESTS) not in col_of:
            continue
        dep = float(cf.replicas[:, col_of[(h, View.AS_DEPLOYED)]].sum() * hours)
        vpa = float(cf.replicas[:, col_of[(h, View.VPA_REQUESTS)]].sum() * hours)
        rows.append(
            {
                "namespace": ctx.spec.namespace,
                "hpa": ctx.spec.name,
                "vpa": recs.vpas[ctx.workload].name,
                "replica_hours_as_deployed": dep,
                "replica_hours_with_vpa": vpa,
                "change_replica_hours": vpa - dep,
                "change_percent": 100.0 * (vpa - dep) / dep if dep else np.nan,
            }
        )
    return pd.DataFrame(rows, columns=list(VPA_HPA_COLUMNS))
