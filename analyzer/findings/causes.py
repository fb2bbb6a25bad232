"""Findings grouped by their cause: the sidecar behind them, what set its requests, and the finding kind.

On a fleet, one injector default makes the same finding on every workload it reaches. A cause is that
problem once: the finding kind, and for each sidecar behind it (the HPA's workload's sidecars; for a
stall, those without a request; for a VPA hazard, the container it names) its container name, image
repository and :class:`~analyzer.model.signals.RequestSource`. Each cause sums its members' effect
and says the change at the source that answers all of them (docs/findings.md, "Causes").
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from analyzer.findings.remedies import namespace_command
from analyzer.findings.severity import Severity, severity_rank
from analyzer.findings.source_replay import KIT_COLUMNS, SOURCES, member_kits, replay_at_source
from analyzer.findings.vpa_hazards import HAZARDS
from analyzer.model.classify import Role
from analyzer.model.signals import NAMESPACE_READERS, REQUEST_ANNOTATIONS, RequestSource
from analyzer.simulate.views import p90_request

CAUSE_COLUMNS = {
    "cause": "the cause's key: the finding kind, then container:image:request source of each sidecar behind it",
    "severity": "the highest severity among its findings",
    "kind": "the finding kind (hpa-skew: inflation and dilution, which one request setting answers)",
    "sidecars": "the sidecar containers behind it (empty when no sidecar is)",
    "request_source": "what sets those sidecars' requests: injector, namespace-annotation, pod-annotation or "
    "template; for a failure or lifecycle kind, whether they are injected or in the template",
    "findings": "findings with this cause",
    "hpas": "HPAs among them that are skewed or stalled (whose effect the sums below add up)",
    "namespaces": "namespaces they are in",
    "excess_replica_hours": "waste summed over its HPAs: replica-hours beyond the app's need",
    "missing_replica_hours": "shortfall summed over its HPAs: replica-hours the app needed and did not get",
    "waste_cost_month": "the excess replica-hours' monthly cost, dollars",
    "stalled_hours": "hours its HPAs could not compute a replica count, summed",
    "residual_replica_hours": "net skew left after the cause's change, replica-hours, |net| summed over its HPAs: "
    "for a change at the source (cpu_request, memory_request set), every member replayed with its sidecar at that "
    "one value; else each HPA's sidecars at their own p90 usage (the sidecar-requests remedy); NaN without a replay",
    "skew_percent_min": "the spread of its HPAs' net skew, percent: the lowest",
    "skew_percent_max": "the highest",
    "summary": "the cause in one line",
    "change": "the change at the source that answers every finding of the cause, in words; empty when each "
    "finding's own fix is the only one",
    "fix": "that change as configuration (annotations, Helm values), stated with who applies it",
    "sidecar_kind": "the sidecar kind of the sidecar behind it (istio, linkerd, ...), when one is",
    "cpu_request": "the CPU request that change sets (a quantity); empty without one",
    "memory_request": "the memory request that change sets (a quantity); empty without one",
    "members": "its findings' objects, each as namespace/object (a list; CSV: space-separated)",
    "member_residual_replica_hours": "per member, in the order of members: the net skew its HPA has left after "
    "the change (as residual_replica_hours says), replica-hours, signed (positive: beyond the app's need); NaN for "
    "a member without a replay (a list; CSV: space-separated)",
}

_SKEW_KINDS = ("hpa-stalled", "hpa-inflation", "hpa-dilution")
FAILURE_KINDS = (
    "sidecar-slow-start", "sidecar-crash-loop", "sidecar-oom", "sidecar-start-order", "sidecar-stop-order",
    "job-held-by-sidecar",
)  # fmt: skip
"""Findings on what a sidecar does to its pods, whose message begins with the sidecar's name."""


@dataclass(frozen=True)
class Culprit:
    """One sidecar behind a finding, as the cause names it."""

    container: str
    kind: str
    image: str
    source: str

    @property
    def key(self) -> str:
        return f"{self.container}:{self.image}:{self.source}"


def cause_kind(kind: str) -> str:
    """The kind a cause groups by: inflation and dilution are one skew (one request setting answers both)."""
    return "hpa-skew" if kind in ("hpa-inflation", "hpa-dilution") else kind


def with_causes(
    findings: pd.DataFrame,
    hpa_skew: pd.DataFrame,
    containers: pd.DataFrame,
    vpa_hazards: pd.DataFrame,
    remedies: pd.DataFrame,
    kits: pd.DataFrame | None = None,
    replay_sources: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """``findings`` with a ``cause`` column, one row per cause (:data:`CAUSE_COLUMNS`), the highest severity
    first, then the most findings, then the most replica-hours off the app's need, and the ``kits``
    (:data:`~analyzer.findings.source_replay.KIT_COLUMNS`) its causes' changes at the source are replayed with
    (``replay_sources`` False: kept, not replayed; the changes are then left out)."""
    culprits = _culprits(findings, hpa_skew, containers, vpa_hazards)
    keys = [
        cause_kind(kind) + ("/" + "+".join(c.key for c in found) if found else "")
        for kind, found in zip(findings["kind"], culprits, strict=True)
    ]
    findings = findings.assign(cause=keys)
    skew = {(r.namespace, f"hpa/{r.hpa}"): r for r in hpa_skew.itertuples(index=False)}
    own = remedies[remedies["remedy"] == "sidecar-requests"] if len(remedies) else remedies
    residual = {
        (ns, f"hpa/{h}"): float(v)
        for ns, h, v in zip(
            own.get("namespace", ()), own.get("hpa", ()), own.get("residual_skew_replica_hours", ()), strict=True
        )
    }
    kits = pd.DataFrame(columns=list(KIT_COLUMNS)) if kits is None else kits
    rows, used = [], [kits.iloc[:0]]
    for key, members in findings.groupby("cause", sort=True).indices.items():
        group = findings.iloc[members]
        objects = list(zip(group["namespace"], group["object"], strict=True))
        measured = group["kind"].isin(_SKEW_KINDS).to_numpy()  # the effects of a skew or stall, counted once
        effects = [skew[k] for k, m in zip(objects, measured, strict=True) if m and k in skew]
        culprit = culprits[members[0]]
        left = {f"{ns}/{obj}": residual[(ns, obj)] for ns, obj in objects if (ns, obj) in residual}
        pooled = _pooled(cause_kind(str(group["kind"].iloc[0])), culprit, effects, containers)
        names = [f"{ns}/{obj}" for ns, obj in objects]
        mine = kits.iloc[:0] if pooled is None else member_kits(kits, names, culprit[0].container)
        used.append(mine)
        if len(mine) and pooled is not None and replay_sources:  # every member at the one value
            left = {f"{ns}/hpa/{h}": v for (ns, h), v in replay_at_source(mine, pooled.requests).items()}
        else:
            pooled = None
        rows.append(_cause_row(key, group, culprit, effects, left, containers, pooled))
    table = pd.DataFrame(rows, columns=list(CAUSE_COLUMNS))
    off = table["excess_replica_hours"] + table["missing_replica_hours"]
    order = np.lexsort(
        (
            table["cause"].to_numpy(),
            -off.to_numpy(),
            -table["findings"].to_numpy(),
            -table["severity"].map(severity_rank).to_numpy(),
        )
    )
    return findings, table.iloc[order].reset_index(drop=True), pd.concat(used, ignore_index=True)


def _culprits(
    findings: pd.DataFrame, hpa_skew: pd.DataFrame, containers: pd.DataFrame, vpa_hazards: pd.DataFrame
) -> list[tuple[Culprit, ...]]:
    """Per finding, the sidecars behind it (none for a finding no sidecar causes)."""
    sidecars = containers[containers["role"] == Role.SIDECAR]
    of_workload: dict[tuple[str, str, str], list[Any]] = {}
    by_name: dict[tuple[str, str, str], Any] = {}
    for r in sidecars.itertuples(index=False):
        of_workload.setdefault((r.namespace, r.workload_kind, r.workload), []).append(r)
        by_name.setdefault((r.namespace, r.workload, r.container), r)
    targets = {(r.namespace, f"hpa/{r.hpa}"): tuple(str(r.target).split("/", 1)) for r in hpa_skew.itertuples()}
    hazards: dict[tuple[str, str, str], list[Any]] = {}
    for h in vpa_hazards.itertuples(index=False):
        hazards.setdefault((h.namespace, f"vpa/{h.vpa}", f"vpa-{h.hazard}"), []).append(h)
    out: list[tuple[Culprit, ...]] = []
    for ns, kind, obj, message in zip(findings["namespace"], findings["kind"], findings["object"],
                                      findings["message"], strict=True):  # fmt: skip
        rows: list[Any] = []
        if kind in _SKEW_KINDS and (ns, obj) in targets:
            rows = of_workload.get((ns, *targets[(ns, obj)]), [])
            if kind == "hpa-stalled":
                rows = [r for r in rows if math.isnan(r.cpu_request_cores) or math.isnan(r.memory_request_bytes)]
        elif kind.startswith("vpa-"):
            found = (by_name.get((ns, h.workload, h.container)) for h in hazards.get((ns, obj, kind), []))
            rows = [r for r in found if r is not None]
        elif kind in FAILURE_KINDS:  # a failure finding's message begins with its sidecar's name
            hit = by_name.get((ns, obj.split("/", 1)[-1], str(message).split(" ", 1)[0].rstrip(",")))
            rows = [hit] if hit is not None else []
        culprits = {Culprit(r.container, r.kind, r.image, _culprit_source(kind, r.request_source)) for r in rows}
        out.append(tuple(sorted(culprits, key=lambda c: c.key)))
    return out


INJECTED = "injected"
"""A failure or lifecycle cause's source for any injected sidecar: what set its requests does not matter there."""


def _culprit_source(kind: str, source: str) -> str:
    """The source a cause names: what set the requests, or for failure kinds whether the sidecar is injected."""
    if kind in FAILURE_KINDS:
        return source if source == RequestSource.TEMPLATE else INJECTED
    return source


def _cause_row(
    key: str,
    group: pd.DataFrame,
    culprits: Sequence[Culprit],
    effects: Sequence[Any],
    residual: Mapping[str, float],
    containers: pd.DataFrame,
    pooled: Pooled | None = None,
) -> tuple[Any, ...]:
    kind = cause_kind(str(group["kind"].iloc[0]))
    severity = max(group["severity"], key=severity_rank)
    skews = [float(e.skew_percent) for e in effects if np.isfinite(e.skew_percent)]
    excess = sum(float(e.excess_replica_hours) for e in effects)
    missing = sum(float(e.missing_replica_hours) for e in effects)
    waste = sum(float(e.waste_cost_month) for e in effects if np.isfinite(e.waste_cost_month))
    stalled = sum(float(e.stalled_hours) for e in effects)
    names = ", ".join(c.container for c in culprits)
    sources = ", ".join(sorted({c.source for c in culprits}))
    members = sorted(f"{ns}/{obj}" for ns, obj in zip(group["namespace"], group["object"], strict=True))
    left = round(sum(abs(v) for v in residual.values()), 1) if residual else np.nan
    net = sum(abs(float(e.skew_replica_hours)) for e in effects if np.isfinite(e.skew_replica_hours))
    source = _source_fix(kind, culprits, group, net, left, pooled)
    summary = _summary(kind, culprits, group, excess, missing, stalled)
    return (
        key,
        Severity(severity),
        kind,
        names,
        sources,
        len(group),
        len(effects),
        group["namespace"].nunique(),
        round(excess, 1),
        round(missing, 1),
        round(waste, 2),
        round(stalled, 1),
        left,
        min(skews) if skews else np.nan,
        max(skews) if skews else np.nan,
        summary,
        source.change,
        source.fix,
        culprits[0].kind if len(culprits) == 1 else "",
        source.cpu,
        source.memory,
        members,
        [round(residual[m], 1) if m in residual else np.nan for m in members],
    )


def _summary(
    kind: str, culprits: Sequence[Culprit], group: pd.DataFrame, excess: float, missing: float, stalled: float
) -> str:
    """The cause in one line: the sidecar and where its requests come from, what it does, to how many."""
    n, namespaces = len(group), group["namespace"].nunique()
    where = f"in {namespaces} namespace{'s' * (namespaces != 1)}"
    words = _FAILURE_SOURCE_WORDS if kind in FAILURE_KINDS else _SOURCE_WORDS
    who = " and ".join(f"{c.container} ({words[c.source]})" for c in culprits)
    hpas = f"{n} HPA{'s' * (n != 1)}"
    if kind == "hpa-stalled" and culprits:
        return f"{who} without a request stalls {hpas} {where} ({stalled:,.0f} h frozen)"
    if kind == "hpa-skew":
        up, down = int((group["kind"] == "hpa-inflation").sum()), int((group["kind"] == "hpa-dilution").sum())
        parts = [
            f"{up} inflated ({excess:,.0f} replica-hours beyond the app's need)" if up else "",
            f"{down} diluted ({missing:,.0f} replica-hours short of it)" if down else "",
        ]
        return f"{who} skews {hpas} {where}: " + ", ".join(p for p in parts if p)
    subject = f"{who}: " if culprits else ""
    hazard = next((h.summary for h in HAZARDS if f"vpa-{h.id}" == kind), None)
    if hazard is not None:
        return f"{subject}{hazard} ({kind}), {n} VPA{'s' * (n != 1)} {where}"
    what, objects = _OTHER_WORDS.get(kind, (kind, "object"))
    return f"{subject}{what}: {n} {objects}{'s' * (n != 1)} {where}"


_OTHER_WORDS = {
    "hpa-uncalibrated": ("the replay does not reproduce the observed replicas (its figures are rough)", "HPA"),
    "hpa-uncertain": ("rebuilt from kube-state-metrics, the skew cannot be told", "HPA"),
    "multi-app": ("several app containers, one counted as the app on no evidence", "workload"),
    "ambiguous-app": ("every container looked like a sidecar: the app was guessed", "workload"),
    "collection": ("what the collector could not see", "note"),
    "sidecar-slow-start": ("turns ready after the app, holding new pods unready", "workload"),
    "sidecar-crash-loop": ("crash-loops: its pods NotReady yet counted by the HPA, scale-downs held", "workload"),
    "sidecar-oom": ("OOM-killed at its memory limit", "workload"),
    "sidecar-start-order": ("not up when the app starts: the app restarts, new pods turn Ready later", "workload"),
    "sidecar-stop-order": ("may exit before the app drains on a scale-down", "workload"),
    "job-held-by-sidecar": ("keeps Job pods running after the app finished", "Job workload"),
}
"""What findings of the kinds no sidecar causes have in common, and what their objects are."""


_SOURCE_WORDS = {
    RequestSource.INJECTOR: "injected, requests from the injector's configuration",
    RequestSource.NAMESPACE_ANNOTATION: "injected, requests from its namespace's annotation",
    RequestSource.POD_ANNOTATION: "injected, requests from each workload's annotation",
    RequestSource.TEMPLATE: "in each workload's template",
}


_FAILURE_SOURCE_WORDS = {INJECTED: "injected", RequestSource.TEMPLATE: "in each workload's template"}


MESH_ORDER = {
    "sidecar-start-order": ("hold every app until its {} is up: holdApplicationUntilProxyStarts: true",
                            "    holdApplicationUntilProxyStarts: true\n"),
    "sidecar-stop-order": ("let every {} wait for its connections to end: EXIT_ON_ZERO_ACTIVE_CONNECTIONS",
                           "    proxyMetadata:\n      EXIT_ON_ZERO_ACTIVE_CONNECTIONS: \"true\"\n"),
}
"""The Istio mesh-wide setting that answers a start- or stop-order cause of several workloads: the change in words
and its ``meshConfig.defaultConfig`` lines."""


class SourceFix(NamedTuple):
    """The change at a cause's source: in words, as configuration, and the requests it sets."""

    change: str = ""
    fix: str = ""
    cpu: str = ""
    memory: str = ""


class Pooled(NamedTuple):
    """The requests a change at the source sets for every member: the median of their sidecar's p90 usage."""

    requests: dict[str, str]
    spread: str
    """How the members' p90 usage spreads, in words."""


def _pooled(kind: str, culprits: Sequence[Culprit], effects: Sequence[Any], containers: pd.DataFrame) -> Pooled | None:
    """For a stall or skew whose one sidecar's requests an injector's default or a namespace annotation sets, the
    value that change would set: the per-HPA rule (:func:`~analyzer.simulate.views.p90_request`) on the median
    of the members' p90 usage. None for any other cause."""
    if kind not in ("hpa-stalled", "hpa-skew") or len(culprits) != 1 or culprits[0].source not in SOURCES:
        return None
    c = culprits[0]
    workloads = {(e.namespace, *str(e.target).split("/", 1)) for e in effects}
    mine = [
        k in workloads
        for k in zip(containers["namespace"], containers["workload_kind"], containers["workload"], strict=True)
    ]
    rows = containers[np.array(mine, dtype=bool) & (containers["container"] == c.container).to_numpy()]
    cpu = rows["cpu_p90_cores"].dropna().to_numpy()
    mem = rows["memory_p90_bytes"].dropna().to_numpy()
    if not len(cpu) or not len(mem):
        return None
    low, high = p90_request(cpu.min(), mem.min()), p90_request(cpu.max(), mem.max())
    spread = (
        f"the median of {len(cpu)} workloads' p90 usage; they range {low['cpu']}–{high['cpu']} and "
        f"{low['memory']}–{high['memory']}"
        if len(cpu) > 1
        else "its p90 usage"
    )
    return Pooled(p90_request(float(np.median(cpu)), float(np.median(mem))), spread)


def _source_fix(
    kind: str,
    culprits: Sequence[Culprit],
    group: pd.DataFrame,
    net: float,
    left: float,
    pooled: Pooled | None = None,
) -> SourceFix:
    """The one change that answers every member: for a sidecar whose requests the injector's configuration
    (or its namespace's annotation, which that injector copies into the pod) sets, that configuration at the
    ``pooled`` value — when the replay of every member at that value leaves less net skew (``left``) than today
    (``net``). For injected istio-proxies that start after their apps, the mesh-wide
    ``holdApplicationUntilProxyStarts``."""
    if kind in MESH_ORDER and len(culprits) == 1 and culprits[0].kind == "istio" and len(group) > 1:
        change, setting = MESH_ORDER[kind]
        return SourceFix(f"{change.format(culprits[0].container)}, mesh-wide: in the mesh's default proxy config (or "
                         "each workload's own fix)", "# IstioOperator spec (or istiod's Helm values under meshConfig), "
                         f"applied by whoever owns the mesh\nmeshConfig:\n  defaultConfig:\n{setting}")  # fmt: skip
    if kind not in ("hpa-stalled", "hpa-skew") or len(culprits) != 1:
        return SourceFix()
    c = culprits[0]
    if c.source == RequestSource.TEMPLATE and len(group) > 1:
        return SourceFix(
            f"{c.container}'s requests are in each workload's template: where these {len(group)} share a base "
            "(a Helm chart, a Kustomize component), change it there; else apply each HPA's own fix"
        )
    if c.source == RequestSource.POD_ANNOTATION and len(group) > 1:
        inherited = (
            "the namespace's annotation, or else the injector's default"
            if c.kind in NAMESPACE_READERS
            else "the injector's default"
        )
        return SourceFix(
            f"each of these workloads sets {c.container}'s requests with its own annotation, over the "
            f"injector's: change them (each HPA's own fix), or remove them to take {inherited}"
        )
    if pooled is None:
        return SourceFix()
    cpu, memory = pooled.requests["cpu"], pooled.requests["memory"]
    whose, their = ("its", "its") if len(group) == 1 else ("every member's", "their")
    replayed = (
        f"replayed with {whose} {c.container} at cpu {cpu}, memory {memory}, {their} net skew goes from "
        f"{net:,.1f} to {left:,.1f} replica-hours"
    )
    if not np.isfinite(left) or left >= net:
        return SourceFix(
            f"one {c.container} request for all of these does not answer them (the median of their p90 usage, "
            f"cpu {cpu}, memory {memory}: {replayed}): apply each HPA's own fix"
        )
    namespaces = sorted(set(group["namespace"]))
    if c.source == RequestSource.NAMESPACE_ANNOTATION:
        where = f"namespace {namespaces[0]}" if len(namespaces) == 1 else f"{len(namespaces)} namespaces"
        change = (
            f"{c.container}'s requests come from the {c.kind} annotations of {where}, which its injector copies "
            f"into each new pod: set them to cpu {cpu}, memory {memory} ({pooled.spread}); {replayed}. "
            "Workloads there that set their own annotation keep it. The per-HPA fixes are the alternative"
        )
        setting = _injector_setting(c.kind, cpu, memory, namespaces, mesh_wide=False)
        return SourceFix(change, setting, cpu, memory)
    change = (
        f"set {c.container}'s default requests in the {c.kind} injector to cpu {cpu}, memory {memory} "
        f"({pooled.spread}); {replayed}. The per-HPA fixes are the alternative where the injector cannot change"
    )
    setting = _injector_setting(c.kind, cpu, memory, namespaces)
    return SourceFix(change, setting, cpu, memory)


def _injector_setting(kind: str, cpu: str, mem: str, namespaces: Sequence[str], mesh_wide: bool = True) -> str:
    """The injector's setting for these requests, as its owner applies it (``mesh_wide`` False: the namespaces'
    annotations alone, for requests a namespace annotation sets, which the injector's defaults do not reach)."""
    if kind == "istio":
        return (
            "# mesh-wide, applied by the mesh owner: IstioOperator spec.values (or istiod's Helm values)\n"
            f"global:\n  proxy:\n    resources:\n      requests:\n        cpu: {cpu}\n        memory: {mem}\n"
        )
    if kind in NAMESPACE_READERS:
        cpu_key, mem_key = REQUEST_ANNOTATIONS[kind]
        per_ns = "".join(namespace_command(ns) + "\n" for ns in namespaces)
        head = (
            f"# per namespace, the annotations {cpu_key}: {cpu} and {mem_key}: {mem} (the patches in fixes/, "
            "-o fixes; pods take them when next injected: restart the workloads)\n"
        )
        if not mesh_wide:
            return head + per_ns
        return (
            head
            + per_ns
            + "# or mesh-wide, applied by the mesh owner: linkerd-control-plane Helm values\n"
            f"proxy:\n  resources:\n    cpu:\n      request: {cpu}\n    memory:\n      request: {mem}\n"
        )
    if kind == "vault":
        return (
            "# the injector's defaults, applied by the Vault owner: vault Helm values\n"
            f"injector:\n  agentDefaults:\n    cpuRequest: {cpu}\n    memRequest: {mem}\n"
        )
    if kind in REQUEST_ANNOTATIONS:
        cpu_key, mem_key = REQUEST_ANNOTATIONS[kind]
        return (
            f"# {kind} takes requests per pod only: the pod-template annotations\n{cpu_key}: {cpu}\n{mem_key}: {mem}\n"
        )
    return f"# set in the {kind} injector's configuration\nrequests:\n  cpu: {cpu}\n  memory: {mem}\n"
