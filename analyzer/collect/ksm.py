"""kube-state-metrics series that describe pods, owners, workloads and HPAs over the range.

Each series is read once per coarse step with ``last_over_time`` (an hour, or the whole range when
shorter), so a pod that lived for one scrape is still seen and the request count does not depend on
the number of pods. Results are tidy frames keyed by the labels that identify an object.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analyzer.collect import promql
from analyzer.collect.prometheus_connection import PromClient
from analyzer.collect.prometheus_usage import plan
from analyzer.collect.promframe import last_points, last_points_of, range_frame
from analyzer.collect.status_changes import changes_only
from analyzer.collect.timerange import TimeRange
from analyzer.snapshot.schema import (
    COMPLETED,
    CONTAINER_STATUS_KEY,
    POD_PHASES,
    POD_STATUS_KEY,
    REPLICAS_KEY,
    empty_container_status,
    empty_pod_status,
)

POD = ("namespace", "pod")
CONTAINER = ("namespace", "pod", "container")
HPA = ("namespace", "horizontalpodautoscaler")


@dataclass(frozen=True)
class Series:
    """A kube-state-metrics metric, the labels kept (``max by``) and extra matchers."""

    metric: str
    by: tuple[str, ...]
    matchers: tuple[str, ...] = ()


SERIES: dict[str, Series] = {
    "requests": Series("kube_pod_container_resource_requests", (*CONTAINER, "resource")),
    "limits": Series("kube_pod_container_resource_limits", (*CONTAINER, "resource")),
    "init_requests": Series("kube_pod_init_container_resource_requests", (*CONTAINER, "resource")),
    "init_limits": Series("kube_pod_init_container_resource_limits", (*CONTAINER, "resource")),
    "containers": Series("kube_pod_container_info", (*CONTAINER, "image")),
    "init_containers": Series("kube_pod_init_container_info", (*CONTAINER, "image", "restart_policy")),
    "owners": Series("kube_pod_owner", (*POD, "owner_kind", "owner_name")),
    "replicaset_owners": Series("kube_replicaset_owner", ("namespace", "replicaset", "owner_kind", "owner_name")),
    "job_owners": Series("kube_job_owner", ("namespace", "job_name", "owner_kind", "owner_name")),
    "created": Series("kube_pod_created", POD),
    "started": Series("kube_pod_start_time", POD),
    "phase": Series("kube_pod_status_phase", (*POD, "phase")),
    "restarts": Series("kube_pod_container_status_restarts_total", CONTAINER),
    "oom_killed": Series("kube_pod_container_status_last_terminated_reason", CONTAINER, ('reason="OOMKilled"',)),
    "hpa_info": Series(
        "kube_horizontalpodautoscaler_info",
        (*HPA, "scaletargetref_api_version", "scaletargetref_kind", "scaletargetref_name"),
    ),
    "hpa_min": Series("kube_horizontalpodautoscaler_spec_min_replicas", HPA),
    "hpa_max": Series("kube_horizontalpodautoscaler_spec_max_replicas", HPA),
    "hpa_target": Series(
        "kube_horizontalpodautoscaler_spec_target_metric", (*HPA, "metric_name", "metric_target_type")
    ),
    "hpa_condition": Series("kube_horizontalpodautoscaler_status_condition", (*HPA, "condition", "status")),
    "hpa_current": Series("kube_horizontalpodautoscaler_status_current_replicas", HPA),
    "hpa_desired": Series("kube_horizontalpodautoscaler_status_desired_replicas", HPA),
}

STATUS_SERIES: dict[str, Series] = {
    "phase_now": Series("kube_pod_status_phase", (*POD, "phase"), ('phase!=""',)),
    "ready_now": Series("kube_pod_status_ready", POD, ('condition="true"',)),
}
"""Each pod's phase and readiness at every step: what the HPA's pod grouping needs over time."""

CONTAINER_SERIES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "ready": (("kube_pod_container_status_ready", "kube_pod_init_container_status_ready"), CONTAINER),
    "restarts": (("kube_pod_container_status_restarts_total", "kube_pod_init_container_status_restarts_total"),
                 CONTAINER),
    "running": (("kube_pod_container_status_running", "kube_pod_init_container_status_running"), CONTAINER),
    "waiting": (("kube_pod_container_status_waiting", "kube_pod_init_container_status_waiting"), CONTAINER),
    "terminated": (("kube_pod_container_status_terminated", "kube_pod_init_container_status_terminated"), CONTAINER),
    "last_reason": (("kube_pod_container_status_last_terminated_reason",
                     "kube_pod_init_container_status_last_terminated_reason"), (*CONTAINER, "reason")),
    "last_exit_code": (("kube_pod_container_status_last_terminated_exitcode",
                        "kube_pod_init_container_status_last_terminated_exitcode"), CONTAINER),
}  # fmt: skip
"""Each container's status (and each init container's: native sidecars are init containers), read as its
value at the range's start and the points where it changed (``container_status``)."""

TERMINATED_REASON = (("kube_pod_container_status_terminated_reason",
                      "kube_pod_init_container_status_terminated_reason"), (*CONTAINER, "reason"))  # fmt: skip
"""Why a terminated container terminated: read once, its newest value over the range (a container that ends
stays terminated until its pod goes), and put on the container's terminated rows."""

REPLICA_SERIES: dict[str, Series] = {
    "Deployment": Series("kube_deployment_spec_replicas", ("namespace", "deployment")),
    "StatefulSet": Series("kube_statefulset_replicas", ("namespace", "statefulset")),
    "DaemonSet": Series("kube_daemonset_status_desired_number_scheduled", ("namespace", "daemonset")),
}


@dataclass(frozen=True)
class KsmState:
    """Newest value, first and last sighting per key of each :data:`SERIES` entry; each workload's newest
    observed replicas (``newest_replicas``: the series went to the sink :func:`collect_ksm` was given); each pod's
    first step with a phase (``first_phase``, by namespace and pod; the pod status itself went to its
    sink too); the containers' status (``container_status``)."""

    tables: dict[str, pd.DataFrame]
    newest_replicas: pd.DataFrame
    first_phase: pd.Series = field(default_factory=lambda: first_phases([]))
    container_status: pd.DataFrame = field(default_factory=empty_container_status)

    @property
    def present(self) -> bool:
        """Whether kube-state-metrics is scraped at all (it describes pods)."""
        return not self.tables["requests"].empty or not self.tables["owners"].empty

    def table(self, name: str) -> pd.DataFrame:
        return self.tables[name]


STATUS_BUDGET = 500_000
"""Series × steps one query of the pods' status evaluates at most: these queries read every series at every
step, and sent for a whole cluster at once they run past Prometheus's query timeout and fill its memory
(benchmarks/README.md, "Container status collection")."""


def status_batches(
    scope: promql.Scope, tr: TimeRange, sizes: Mapping[str, int] | None, budget: int = STATUS_BUDGET
) -> list[tuple[promql.Scope, TimeRange]]:
    """The (namespace batch, time chunk) pairs the per-step queries go by: namespaces packed and the range cut
    so that each evaluates at most ``budget`` series × steps (``sizes``: the most containers reporting at
    once per namespace; None: the whole scope, chunk by chunk)."""
    if not sizes:
        return [(scope, chunk) for chunk in tr.chunks()]
    return [(scope.only(r.namespaces), r.chunk) for r in plan(dict(sizes), tr, budget)]


Sink = Callable[[pd.DataFrame], None]
"""Takes a table's rows (``pod_status`` or ``replicas`` columns) a namespace batch at a time, each batch in
the table's key order and the batches in namespace order."""

REPLICAS_BUDGET = 2_000_000
"""Points one query of the replica series answers at most (a series per workload and step; the batches are
sized by the containers per namespace, more than the workloads)."""


def collect_ksm(
    client: PromClient,
    scope: promql.Scope,
    tr: TimeRange,
    pod_status: Sink,
    replicas: Sink,
    progress: Callable[[int, int], None] | None = None,
    sizes: Mapping[str, int] | None = None,
) -> KsmState:
    """Read every :data:`SERIES` entry at a coarse step, and by namespace batches of ``sizes`` the
    workloads' replicas (:data:`REPLICAS_BUDGET`) and the pods' status (:func:`status_batches`) at every
    step, then the containers' status. Each batch's pod status and replica series go to ``pod_status`` and
    ``replicas`` as soon as its answers are in: the cluster's rows per step are never held at once."""
    span = (tr.end - tr.start).total_seconds()
    step = max(tr.step_s, min(3600.0, span))
    first = tr.end - pd.Timedelta(seconds=step * (span // step))
    coarse = TimeRange(first, tr.end, step)  # aligned on the end; the first window reaches back past start
    window = step
    jobs: list[tuple[str, TimeRange, str, tuple[str, int] | None]] = []
    for name, series in SERIES.items():
        query = promql.last_seen(series.metric, series.by, scope, window, *series.matchers)
        jobs.extend((name, chunk, query, None) for chunk in coarse.chunks())
    expected: dict[tuple[str, int], int] = {}
    tables_by_step: tuple[tuple[str, int, Mapping[str, Series]], ...] = (
        ("replicas", REPLICAS_BUDGET, REPLICA_SERIES),
        ("status", STATUS_BUDGET, STATUS_SERIES),
    )
    for table, budget, named in tables_by_step:
        batches = status_batches(scope, tr, sizes, budget)
        for (part, chunk), group in zip(batches, _batch_numbers(batches), strict=True):
            for name, series in named.items():
                query = promql.present(series.metric, series.by, part, *series.matchers)
                jobs.append((name, chunk, f"{query} == 1" if name == "phase_now" else query, (table, group)))
                expected[(table, group)] = expected.get((table, group), 0) + 1

    def fetch(job: tuple[str, TimeRange, str, tuple[str, int] | None]) -> pd.DataFrame:
        name, chunk, query, _ = job
        result = client.matrix_range(query, chunk.start, chunk.end, chunk.step_s)
        by = {**SERIES, **REPLICA_SERIES, **STATUS_SERIES}[name].by
        return range_frame(result, by)

    parts: dict[str, list[pd.DataFrame]] = {}
    waiting: dict[tuple[str, int], dict[str, list[pd.DataFrame]]] = {}
    firsts: list[pd.Series] = []
    newest: list[pd.DataFrame] = []
    for done, (job, frame) in enumerate(zip(jobs, client.map(fetch, jobs), strict=True), 1):
        name, batch = job[0], job[3]
        if batch is None:  # each series' newest point: a row per series kept, not one per series and hour
            parts.setdefault(name, []).append(last_points(frame, SERIES[name].by))
        else:
            frames = waiting.setdefault(batch, {})
            frames.setdefault(name, []).append(frame)
            if sum(map(len, frames.values())) == expected[batch]:
                del waiting[batch]
                if batch[0] == "status":
                    rows = _pod_status(frames.get("phase_now", []), frames.get("ready_now", []))
                    firsts.append(rows.groupby(["namespace", "pod"], observed=True)["timestamp"].min())
                    if len(rows):
                        pod_status(rows)
                else:
                    rows = _replica_rows(frames)
                    if len(rows):
                        newest.append(rows.groupby(["namespace", "kind", "name"], observed=True).tail(1))
                        replicas(rows)
        if progress is not None:
            progress(done, len(jobs))
    tables = {}
    for name, series in SERIES.items():
        tables[name] = last_points_of(parts[name], series.by)
    last = (
        pd.concat([n.astype({"namespace": str, "kind": str, "name": str}) for n in newest], ignore_index=True)
        if newest
        else pd.DataFrame(columns=["timestamp", "namespace", "kind", "name", "replicas"])
    )
    first_phase = first_phases(firsts)
    # The first round reads each series once over the range (Prometheus evaluates a function of a range
    # one series at a time): it needs no namespace batches.
    containers = collect_container_status(client, [scope], tr, first_phase)
    return KsmState(tables, last, first_phase, containers)


def _replica_rows(frames: dict[str, list[pd.DataFrame]]) -> pd.DataFrame:
    """A namespace batch's replica series (``replicas`` columns, categorical labels) in key order."""
    rows = []
    for kind, series in REPLICA_SERIES.items():
        frame = pd.concat(frames.get(kind, []) or [pd.DataFrame()], ignore_index=True)
        if frame.empty:
            continue
        rows.append(pd.DataFrame({
            "timestamp": frame["timestamp"],
            "namespace": frame["namespace"].astype(str),
            "kind": kind,
            "name": frame[series.by[1]].astype(str),
            "replicas": frame["value"].round().astype("int64"),
        }).astype({"namespace": "category", "kind": "category", "name": "category"}))  # fmt: skip
    if not rows:
        return pd.DataFrame(columns=["timestamp", "namespace", "kind", "name", "replicas"])
    every = _concat_categorical(rows).drop_duplicates(["namespace", "kind", "name", "timestamp"])
    return every.sort_values(list(REPLICAS_KEY), kind="stable").reset_index(drop=True)


def _concat_categorical(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """``frames`` concatenated with their categorical columns kept categorical (the union of categories):
    the replica series are a row per workload and step, millions at cluster scale."""
    columns = [c for c in frames[0].columns if isinstance(frames[0][c].dtype, pd.CategoricalDtype)]
    for c in columns:
        union = pd.api.types.union_categoricals([f[c] for f in frames]).categories
        frames = [f.assign(**{c: f[c].cat.set_categories(union)}) for f in frames]
    return pd.concat(frames, ignore_index=True)


def _batch_numbers(batches: list[tuple[promql.Scope, TimeRange]]) -> list[int]:
    """The namespace batch of each (batch, chunk) pair: pairs of the same namespaces share a number."""
    numbers: dict[tuple[str, ...], int] = {}
    return [numbers.setdefault(tuple(part.namespaces), len(numbers)) for part, _ in batches]


def first_phases(firsts: list[pd.Series]) -> pd.Series:
    """Each pod's first step with a phase, by (namespace, pod) as strings."""
    if not firsts:
        index = pd.MultiIndex.from_arrays([[], []], names=["namespace", "pod"])
        return pd.Series(pd.to_datetime([], utc=True), index=index, name="timestamp")
    every = pd.concat(firsts)
    every.index = pd.MultiIndex.from_arrays(
        [every.index.get_level_values(0).astype(str), every.index.get_level_values(1).astype(str)],
        names=["namespace", "pod"],
    )
    return every.groupby(level=[0, 1]).min()


def collect_container_status(
    client: PromClient, scopes: list[promql.Scope], tr: TimeRange, first_phase: pd.Series
) -> pd.DataFrame:
    """``container_status`` over ``tr``, per namespace batch of ``scopes``, in two rounds: first each series'
    value at the start and at the end and which containers changed (:func:`container_jobs`), then the change
    points of those alone (:func:`changed_jobs`); ``first_phase`` (each pod's first step with a phase, by
    namespace and pod) dates the containers that never changed."""

    def fetch(job: tuple[str, TimeRange, str]) -> pd.DataFrame:
        name, chunk, query = job
        kind, _, series = name.partition(":")
        result = client.matrix_range(query, chunk.start, chunk.end, chunk.step_s)
        by = TERMINATED_REASON[1] if kind == "reason" else CONTAINER_SERIES[series][1]
        return range_frame(result, CONTAINER if kind == "changed" else by)

    parts: dict[str, list[pd.DataFrame]] = {}
    window = (tr.end - tr.start).total_seconds() + tr.step_s
    at_end = TimeRange(tr.end, tr.end, tr.step_s)
    jobs = container_jobs(scopes, tr)
    jobs += [("reason:", at_end, promql.last_values(*TERMINATED_REASON, part, window)) for part in scopes]
    for job, frame in zip(jobs, client.map(fetch, jobs), strict=True):
        parts.setdefault(job[0], []).append(frame)
    changed = _changed(parts)
    again = changed_jobs(scopes, changed, tr)
    for job, frame in zip(again, client.map(fetch, again), strict=True):
        parts.setdefault(job[0], []).append(frame)
    return container_status(container_points(parts, changed, first_phase, tr), parts.get("reason:", []))


CHANGED_PODS_PER_QUERY = 200
"""Pods named in one query's ``pod=~`` matcher."""


def container_jobs(scopes: list[promql.Scope], tr: TimeRange) -> list[tuple[str, TimeRange, str]]:
    """The first round of the :data:`CONTAINER_SERIES` queries, per namespace batch: each series' value at the
    range's start (``container:<name>``), its newest value over the range (``last:<name>``), and the
    containers one of whose series changed over it (``changed:<name>``). Each reads every sample once: most
    containers never change, and :func:`changed_jobs` then follows only those that did, step by step."""
    at_start = TimeRange(tr.start, tr.start, tr.step_s)
    at_end = TimeRange(tr.end, tr.end, tr.step_s)
    window = (tr.end - tr.start).total_seconds() + tr.step_s
    jobs = []
    for name, (metrics, by) in CONTAINER_SERIES.items():
        for part in scopes:
            jobs.append((f"container:{name}", at_start, promql.values_of(metrics, by, part)))
            jobs.append((f"last:{name}", at_end, promql.last_values(metrics, by, part, window)))
            jobs.append((f"changed:{name}", at_end, promql.changed_containers(metrics, by, part, window)))
    return jobs


def changed_jobs(scopes: list[promql.Scope], changed: pd.DataFrame, tr: TimeRange) -> list[tuple[str, TimeRange, str]]:
    """The second round: for the pods whose containers changed (``changed``: namespace, pod, container), the
    points where each series differs from a step before or appeared, chunk by chunk."""

    def regex(names: list[str]) -> str:
        return promql.escape("|".join(re.escape(n) for n in names))

    jobs = []
    for part in scopes:
        mine = changed[changed["namespace"].isin(part.namespaces)] if part.namespaces else changed
        pods = sorted(set(mine["pod"]))
        for i in range(0, len(pods), CHANGED_PODS_PER_QUERY):
            group = mine[mine["pod"].isin(pods[i : i + CHANGED_PODS_PER_QUERY])]
            matchers = (f'pod=~"{regex(sorted(set(group["pod"])))}"',
                        f'container=~"{regex(sorted(set(group["container"])))}"')  # fmt: skip
            for name, (metrics, by) in CONTAINER_SERIES.items():
                query = promql.changes(metrics, by, part, tr.step_s, *matchers)
                jobs.extend((f"container:{name}", chunk, query) for chunk in tr.chunks())
    return jobs


def _changed(parts: dict[str, list[pd.DataFrame]]) -> pd.DataFrame:
    """The containers whose status changed over the range, from the ``changed:`` answers."""
    frames = [f for name in CONTAINER_SERIES for f in parts.get(f"changed:{name}", []) if not f.empty]
    if not frames:
        return pd.DataFrame(columns=list(CONTAINER))
    return pd.concat(frames, ignore_index=True)[list(CONTAINER)].astype(str).drop_duplicates(ignore_index=True)


def container_points(
    parts: dict[str, list[pd.DataFrame]], changed: pd.DataFrame, first_phase: pd.Series, tr: TimeRange
) -> dict[str, pd.DataFrame]:
    """Each :data:`CONTAINER_SERIES` entry's points: its values at the start, the change points of the
    containers that changed, and for the others their one value from their pod's first step in the range
    (a container that never changed held its newest value throughout)."""
    first_seen = first_phase if len(first_phase) else None
    moved = set(zip(changed["namespace"], changed["pod"], changed["container"], strict=True))
    points = {}
    for name in CONTAINER_SERIES:
        frames = [f for f in parts.get(f"container:{name}", []) if not f.empty]
        last = pd.concat([f for f in parts.get(f"last:{name}", []) if not f.empty] or [pd.DataFrame()],
                         ignore_index=True)  # fmt: skip
        if len(last):
            keys = list(zip(last["namespace"].astype(str), last["pod"].astype(str), last["container"].astype(str),
                            strict=True))  # fmt: skip
            last = last[[k not in moved for k in keys]]
            at = pd.Series(tr.start, index=last.index)
            if first_seen is not None and len(last):
                pods = pd.MultiIndex.from_arrays([last["namespace"].astype(str), last["pod"].astype(str)])
                seen = first_seen.reindex(pods).to_numpy()
                at = pd.Series(np.where(pd.isna(seen), tr.start, seen), index=last.index)
            frames.append(last.assign(timestamp=pd.to_datetime(at, utc=True)))
        points[name] = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return points


def terminated_reasons(frames: list[pd.DataFrame]) -> pd.Series:
    """Per (namespace, pod, container) the reason its :data:`TERMINATED_REASON` series held (value 1) the newest
    the range saw: ``Completed`` when among them (a Job's app that completed after failing has completed), else
    the first other by name."""
    found = [f[f["value"] == 1] for f in frames if not f.empty]
    found = [f for f in found if len(f)]
    index = pd.MultiIndex.from_arrays([[], [], []], names=["namespace", "pod", "container"])
    if not found:
        return pd.Series([], index=index, dtype=object, name="terminated_reason")
    rows = pd.concat(found, ignore_index=True)[["namespace", "pod", "container", "reason"]].astype(str)
    rows["rank"] = np.where(rows["reason"] == COMPLETED, "", rows["reason"])
    rows = rows.sort_values(["namespace", "pod", "container", "rank"], kind="stable")
    first = rows.drop_duplicates(["namespace", "pod", "container"]).set_index(["namespace", "pod", "container"])
    return first["reason"].rename("terminated_reason")


def container_status(points: dict[str, pd.DataFrame], reasons: list[pd.DataFrame] | None = None) -> pd.DataFrame:
    """``container_status`` from each :data:`CONTAINER_SERIES` entry's points (its value at the start and
    where it changed): every series carried forward to each container's change times, a row kept where
    something changed; ``reasons``: the :data:`TERMINATED_REASON` answers, put on the terminated rows."""
    keys = list(CONTAINER_STATUS_KEY)
    events = []
    for name, frame in points.items():
        if frame.empty:
            continue
        frame = frame.astype({k: object for k in keys[:3]})
        if name == "last_reason":
            frame = frame[frame["value"] == 1].assign(value=frame["reason"].astype(str))
        events.append(frame[[*keys, "value"]].assign(field=name))
    if not events:
        return empty_container_status()
    ev = pd.concat(events, ignore_index=True).drop_duplicates([*keys, "field"], keep="last")
    wide = ev.pivot(index=keys, columns="field", values="value").sort_index()
    wide = wide.reindex(columns=list(CONTAINER_SERIES)).groupby(level=[0, 1, 2], sort=False).ffill()
    state = np.full(len(wide), "", dtype=object)
    for candidate in ("terminated", "waiting", "running"):  # the one whose series is 1
        state = np.where(wide[candidate].to_numpy(dtype=float) == 1, candidate, state)
    out = wide.reset_index()[keys]
    out.columns.name = None
    out["ready"] = wide["ready"].to_numpy(dtype=float) == 1
    out["restarts"] = np.nan_to_num(wide["restarts"].to_numpy(dtype=float)).round().astype(np.int64)
    out["state"] = state
    reason = wide["last_reason"].astype(object)
    out["last_reason"] = reason.where(reason.notna(), "").astype(str).to_numpy()
    out["last_exit_code"] = np.nan_to_num(wide["last_exit_code"].to_numpy(dtype=float), nan=-1).round().astype(np.int64)
    why = terminated_reasons(reasons or [])
    at = pd.MultiIndex.from_frame(out[["namespace", "pod", "container"]].astype(str))
    known = why.reindex(at).fillna("").to_numpy(dtype=object)
    out["terminated_reason"] = np.where(state == "terminated", known, "")
    return changes_only(out)


def _pod_status(phases: list[pd.DataFrame], ready: list[pd.DataFrame]) -> pd.DataFrame:
    """One row per (pod, step) with a phase: the phase whose series is 1, Ready where its series is 1."""
    phase = pd.concat(phases, ignore_index=True)
    if phase.empty:
        return empty_pod_status()
    phase = phase[phase["phase"].isin(POD_PHASES)].astype({"namespace": object, "pod": object})
    phase = phase.drop_duplicates(["namespace", "pod", "timestamp"], keep="last")
    ready_frame = pd.concat(ready, ignore_index=True)
    if not ready_frame.empty:
        ready_frame = ready_frame.astype({"namespace": object, "pod": object}).drop_duplicates(
            ["namespace", "pod", "timestamp"], keep="last"
        )
        phase = phase.merge(ready_frame[["namespace", "pod", "timestamp", "value"]].rename(columns={"value": "r"}),
                            on=["namespace", "pod", "timestamp"], how="left")  # fmt: skip
    else:
        phase["r"] = 0.0
    out = pd.DataFrame(
        {
            "timestamp": phase["timestamp"],
            "namespace": pd.Categorical(phase["namespace"], categories=sorted(set(phase["namespace"]))),
            "pod": pd.Categorical(phase["pod"], categories=sorted(set(phase["pod"]))),
            "phase": pd.Categorical(phase["phase"], categories=list(POD_PHASES)),
            "ready": phase["r"].fillna(0).to_numpy() == 1,
        }
    )
    return out.sort_values(list(POD_STATUS_KEY), kind="stable").reset_index(drop=True)
