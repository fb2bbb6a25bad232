"""What moving each classic sidecar to a native sidecar (an init container with ``restartPolicy: Always``,
KEP-753) would change for the autoscalers and the pod, and the change that does it (docs/native-sidecars.md).

- **HPA**: since 1.29 a ``Resource`` metric sums a native sidecar's request and usage as it sums a classic
  one's (kubernetes#120001, ``calculatePodRequestsFromContainers``): the replicas do not move; a
  ``ContainerResource`` metric on the app is unaffected; a sidecar without a request for the metric's
  resource stalls it as before. Before 1.29 native sidecars' requests do not count: the migration is not
  offered there.
- **VPA**: no released VPA manages init containers (kubernetes/autoscaler#7229): the sidecar leaves the
  VPA's hands (its requests stay as they are), and the pod's minimum is split over fewer containers.
- **Effective request** (KEP-753, :func:`analyzer.simulate.pod_requests.aggregate_container_requests`): the
  migrated sidecar goes first among the init containers, as the injectors place it, so each run-once init
  container after it needs its own request plus the sidecar's.
- **Order**: declared; the sidecar starts before the app (once started) and stops after it. Its start-up
  moves into the pod's ``Pending`` phase, where the HPA takes the pod as unready for every metric type, and
  delays the pod's readiness by as much. The replay groups new pods by age at each sync
  (:func:`analyzer.simulate.hpa_replay.grouped_alike_up_to`): a start-up up to the longest one that moves no
  new pod's grouping at any sync leaves every replay exactly as it is; the row says that bound.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import pandas as pd

from analyzer.findings.remedies import JOB_IMMUTABLE, apply_command, native_sidecar_ops, patch_text
from analyzer.model.classify import Role
from analyzer.simulate.hpa_spec import HPAObject
from analyzer.simulate.kube_version import KubeVersion
from analyzer.simulate.pod_requests import aggregate_container_requests
from analyzer.snapshot.kube import PodSpec, Workload, template_at

MIGRATION_FOLDER = "native-sidecars"
"""Where in ``fixes/`` the migration's patches go, apart from the fixes: a migration is a choice."""
NATIVE_SINCE_MINOR = 29
"""``SidecarContainers`` is on by default from 1.29 (beta), and the HPA counts native sidecars' requests."""
NATIVE_ANNOTATIONS = {
    "istio": ("sidecar.istio.io/nativeSidecar", "true"),
    "linkerd": ("config.linkerd.io/proxy-enable-native-sidecar", "true"),
}
"""The per-pod annotation with which an injector injects its sidecar as a native one."""
UNSUPPORTED = {
    "vault": "the Vault agent injector cannot inject a native sidecar yet (hashicorp/vault-k8s#620)",
}

MIGRATION_COLUMNS: dict[str, str] = {
    "namespace": "workload namespace",
    "workload_kind": "Deployment, StatefulSet, DaemonSet, ReplicaSet, CronJob, Job or Pod",
    "workload": "workload name",
    "container": "the classic sidecar (a spec.containers entry)",
    "kind": "sidecar kind",
    "injected": "added by a webhook (migrated by the injector's setting) rather than in the template",
    "offered": "whether the migration is offered (the cluster version and the injector allow it)",
    "why_not": "why it is not offered ('' when it is)",
    "hpa": "the workload's HPA ('' none)",
    "hpa_change": "what the migration changes in the HPA's arithmetic",
    "vpa_before": "what the workload's VPA does with the sidecar now ('' no VPA)",
    "vpa_after": "what it does after ('' no VPA)",
    "vpa_stops_sizing": "the workload's VPA sets the sidecar's requests now (updateMode not Off) and would not after",
    "effective_cpu_before_cores": "the pod's effective CPU request (KEP-753) now, cores (NaN: none set)",
    "effective_cpu_after_cores": "after the migration, cores",
    "effective_memory_before_bytes": "the pod's effective memory request now, bytes (NaN: none set)",
    "effective_memory_after_bytes": "after the migration, bytes",
    "start_order_after": "its measured start order (the app restarting before it) and after the move ('' none "
    "measured)",
    "stop_order_after": "its stop order on the workload's scale-downs now and after ('' none found)",
    "jobs_after": "the Job pods it holds open now and after ('' none)",
    "change": "the change that migrates the sidecar",
    "patch": "JSON Patch of the workload that makes it ('' none)",
    "command": "the kubectl command that applies the patch",
}
"""One row per classic sidecar of a workload: the native-sidecar migration, simulated."""


def native_migration(
    containers: pd.DataFrame,
    pods: Mapping[tuple[str, str, str], PodSpec],
    templates: Mapping[tuple[str, str, str], Workload],
    hpas: Sequence[HPAObject],
    vpa: pd.DataFrame,
    version: KubeVersion,
    lifecycle: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame] | None = None,
    unchanged_up_to_s: float | None = None,
) -> pd.DataFrame:
    """:data:`MIGRATION_COLUMNS` for every classic sidecar of ``containers``
    (:data:`analyzer.model.containers.CONTAINER_COLUMNS`); ``lifecycle``: the analysis' start order, stop order
    and held Jobs (:mod:`analyzer.findings.start_order`, ``stop_order``, ``jobs_held``), what the move ends;
    ``unchanged_up_to_s``: the native start-up up to which the HPA's replay is unchanged (None: not said);
    ``pods``: each workload's newest pod spec,
    ``templates`` its owner, ``vpa``: :data:`analyzer.simulate.vpa_snapshot.VPA_COLUMNS`."""
    key = ["namespace", "workload_kind", "workload"]
    classic = containers[(containers["role"] == Role.SIDECAR) & ~containers["native_sidecar"].astype(bool)]
    hpa_of = {(h.namespace, h.target_kind, h.target_name): h for h in hpas}
    real = vpa[vpa["vpa"] != ""]
    vpa_rows = {(r.namespace, r.workload_kind, r.workload, r.container): r for r in real.itertuples(index=False)}
    tracked = real[real["tracked"]].groupby(key, observed=True).size().to_dict()
    lifecycle_after = _lifecycle_after(*(lifecycle or (pd.DataFrame(), pd.DataFrame(), pd.DataFrame())))
    rows = []
    for r in classic.itertuples(index=False):
        workload = (r.namespace, r.workload_kind, r.workload)
        spec = pods.get(workload)
        why_not = _why_not(r, version)
        hpa = hpa_of.get(workload)
        v = vpa_rows.get((*workload, r.container))
        vpa_before, vpa_after = _vpa(v, tracked.get(workload, 0)) if v is not None else ("", "")
        before = after = {}
        if spec is not None:
            before = aggregate_container_requests(spec)
            after = aggregate_container_requests(as_native(spec, r.container))
        change, patch, command = ("", "", "") if why_not else _change(r, templates.get(workload))
        rows.append((*workload, r.container, r.kind, bool(r.injected), not why_not, why_not,
                     hpa.name if hpa else "", _hpa_change(hpa, r.container, spec, version, unchanged_up_to_s),
                     vpa_before, vpa_after,
                     v is not None and bool(v.tracked) and v.update_mode != "Off",
                     _cores(before, "cpu"), _cores(after, "cpu"), _cores(before, "memory"), _cores(after, "memory"),
                     *(part.get((*workload, r.container), "") for part in lifecycle_after), change, patch,
                     command))  # fmt: skip
    out = pd.DataFrame(rows, columns=list(MIGRATION_COLUMNS))
    return out.sort_values([*key, "container"], kind="stable", ignore_index=True)


Key = tuple[str, str, str, str]


def _lifecycle_after(
    start_order: pd.DataFrame, stop_order: pd.DataFrame, jobs_held: pd.DataFrame
) -> tuple[dict[Key, str], dict[Key, str], dict[Key, str]]:
    """Per (namespace, workload kind, workload, sidecar): its start order, stop order and held Jobs now, and after
    the move, in words (a native sidecar is started, and waited for with a startupProbe, before the app; stopped
    after it; and stopped once a Job's app has ended)."""
    start: dict[Key, str] = {}
    for r in start_order.itertuples(index=False):
        start[(r.namespace, r.workload_kind, r.workload, r.container)] = (
            f"the app restarted before it in {r.pods_failed} of {r.pods_started} new pods "
            f"({r.ready_lost_pod_hours:.2f} pod-hours unready) → started first and, with a startupProbe, waited for: "
            "none")  # fmt: skip
    stop: dict[Key, str] = {}
    for r in stop_order.itertuples(index=False):
        stop[(r.namespace, r.workload_kind, r.workload, r.container)] = (
            f"exits {r.proxy_exits_s:g} s into the {r.grace_s:g} s grace period on {r.pods_removed} pods scaled down "
            "→ stopped after the app")  # fmt: skip
    jobs: dict[Key, str] = {}
    for r in jobs_held.itertuples(index=False):
        unfinished = f", {r.jobs_unfinished} Jobs not completed" if r.jobs_unfinished else ""
        for name in str(r.held_by).split(", "):
            jobs[(r.namespace, r.workload_kind, r.workload, name)] = (
                f"holds {r.pods_held} pods {r.held_pod_hours:.1f} pod-hours after the app (${r.cost_month:,.2f}/month"
                f"{unfinished}) → stopped once the app ends: the Jobs complete")  # fmt: skip
    return start, stop, jobs


def as_native(spec: PodSpec, name: str) -> PodSpec:
    """``spec`` with the container ``name`` moved to the front of the init containers, ``restartPolicy: Always``."""
    moved = next(c for c in spec.containers if c.name == name)
    return replace(
        spec,
        containers=tuple(c for c in spec.containers if c.name != name),
        init_containers=(replace(moved, init=True, restart_policy="Always"), *spec.init_containers),
    )


def _why_not(r: Any, version: KubeVersion) -> str:
    if version.minor < NATIVE_SINCE_MINOR:
        return (f"the analysis assumes Kubernetes 1.{version.minor}: native sidecars are on by default, and "
                f"their requests counted by the HPA, from 1.{NATIVE_SINCE_MINOR}")  # fmt: skip
    if r.injected and r.kind in UNSUPPORTED:
        return UNSUPPORTED[r.kind]
    if r.injected and r.kind not in NATIVE_ANNOTATIONS:
        return f"no setting known to this tool makes its injector ({r.kind}) inject a native sidecar"
    return ""


def _hpa_change(
    hpa: HPAObject | None, container: str, spec: PodSpec | None, version: KubeVersion, unchanged_up_to_s: float | None
) -> str:
    if hpa is None:
        return ""
    if hpa.spec is None:
        return "not assessed: the HPA cannot be replayed"
    words = []
    for m in hpa.spec.metrics:
        if m.container is not None:
            words.append(f"{m.resource} of {m.container} (ContainerResource): unaffected")
            continue
        missing = spec is not None and (c := spec.container(container)) is not None and m.resource not in c.requests
        stall = f"; {container} has no {m.resource} request, which stalls it before and after" if missing else ""
        words.append(f"{m.resource} (Resource): none, the sidecar's request and usage still count "
                     f"(since 1.{NATIVE_SINCE_MINOR}){stall}")  # fmt: skip
    pending = "new pods stay Pending while the sidecar starts, unready for every metric type"
    if unchanged_up_to_s is not None:
        pending += (f": a start-up of up to {unchanged_up_to_s:g} s groups every new pod as before at every sync (the "
                    "replicas replay the same); a longer one delays new pods' readiness by a sync or more")  # fmt: skip
    words.append(pending)
    return "; ".join(words)


def _vpa(v: Any, tracked: int) -> tuple[str, str]:
    """What the VPA row ``v`` (its workload's VPA tracking ``tracked`` containers) does with the sidecar now and
    after the move."""
    if not v.tracked:
        before = f"{v.vpa}: does not size it (container policy mode {v.mode})"
    elif v.update_mode == "Off":
        before = f"{v.vpa}: recommends for it (updateMode Off)"
    else:
        before = f"{v.vpa}: sizes it ({v.update_mode})"
    after = f"{v.vpa}: does not size it (no released VPA manages init containers, kubernetes/autoscaler#7229)"
    if v.tracked and tracked > 1:
        after += f"; the pod's minimum goes to its other {tracked - 1}, not {tracked}, tracked containers"
    return before, after


def _change(r: Any, workload: Workload | None) -> tuple[str, str, str]:
    """The change that migrates the sidecar: the injector's annotation on the pod template, or the template's
    container moved to the init containers (:func:`analyzer.findings.remedies.native_sidecar_ops`)."""
    if r.injected:
        name, value = NATIVE_ANNOTATIONS[r.kind]
        text, annotations = f"pod template annotation {name}: \"{value}\"", {name: value}
    else:
        text, annotations = (f"{r.container} moved to the front of initContainers with restartPolicy: Always (add "
                             "a startupProbe if the app needs it up first)"), None  # fmt: skip
    if workload is None or workload.template_raw is None:
        return text + "; the snapshot has no template to patch", "", ""
    if workload.kind == "Job":
        return text + f"; {JOB_IMMUTABLE}", "", ""
    ops, note = native_sidecar_ops(workload.template_raw, r.container, annotations, template_at(workload.kind))
    if not ops:
        return f"{text}; {note}", "", ""
    return text, patch_text(ops), apply_command(r.namespace, str(r.workload_kind), str(r.workload), MIGRATION_FOLDER)


def _cores(requests: Mapping[str, int], resource: str) -> float:
    """A KEP-753 total (milli-units) in cores or bytes; NaN when no container sets it."""
    value = requests.get(resource)
    return float("nan") if value is None else value / 1000.0
