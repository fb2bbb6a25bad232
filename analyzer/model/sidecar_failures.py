"""What the containers' status changes say about sidecar failures: per pod and container when it first
turned ready, its restarts and why, how long it was down after it had been ready; per workload and
sidecar, what that cost the pods (docs/failures.md).

Inputs are the snapshot's ``container_status`` (a row per change), the pods' start times, the containers'
roles and the usage samples. A change is seen at the first sample after it, so a time read from one is
that sample's time less half a step (the middle of the step it happened in), never before the pod
started. Every figure is over the snapshot's window; delays count the pods whose start it saw.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from analyzer.model.classify import Role
from analyzer.model.usage_index import UsageIndex
from analyzer.snapshot.kube import Pod
from analyzer.snapshot.schema import Snapshot

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

OOM_KILLED = "OOMKilled"
"""The termination reason of a container the kernel killed at its memory limit."""

FAILURE_COLUMNS: dict[str, str] = {
    "namespace": "workload namespace",
    "workload_kind": "Deployment, StatefulSet, DaemonSet, ReplicaSet, CronJob, Job or Pod",
    "workload": "workload name",
    "container": "the sidecar",
    "kind": "sidecar kind",
    "native_sidecar": "init container with restartPolicy Always",
    "injected": "added to the pod by a webhook (not in the owner's template)",
    "pods_started": "pods whose start the window saw (their readiness delays are measured)",
    "ready_delay_p50_s": "seconds the sidecar turned ready after the pod's app containers, median over the pods "
    "started (0: with them or before)",
    "ready_delay_p95_s": "the same, 95th percentile",
    "pods_held": "pods started whose sidecar turned ready a step or more after their app: the sidecar held them "
    "unready",
    "held_pod_hours": "pod-hours new pods were running, their app ready, but not Ready because of the sidecar: "
    "capacity paid for that served nothing",
    "restarts": "the sidecar's restarts over the window",
    "restarts_per_pod_day": "restarts per pod-day of the workload's pods",
    "oom_kills": "restarts after the kernel killed it at its memory limit (last terminated reason OOMKilled)",
    "error_exits": "restarts after any other termination (Error, a non-zero exit code)",
    "down_pod_hours": "pod-hours the sidecar was not ready after it had been (crashed, restarting, failing its "
    "probe): the pod was NotReady and served nothing, while an HPA on CPU still counted it",
    "missing_metric_scrapes": "scrapes at which its pod had no metric because the sidecar (re)appeared: "
    "metrics-server lists a pod only when each container was in its last two scrapes",
    "memory_limit_bytes": "the sidecar's memory limit (NaN: none), from the newest pod",
    "memory_peak_bytes": "its highest working set over the window",
}
"""One row per (workload, sidecar) that has container status, failing or not."""


def pod_start_times(pods: tuple[Pod, ...]) -> dict[tuple[str, str], tuple[float, float]]:
    """Per pod: when it started (``status.startTime``, else its creation) and when it was deleted (inf: not),
    in seconds since the epoch (the times parsed in one pass)."""
    starts = pd.to_datetime([p.started or None for p in pods], utc=True, format="ISO8601")
    ends = pd.to_datetime([p.gone or None for p in pods], utc=True, format="ISO8601")
    start_s = np.where(starts.isna(), np.nan, starts.as_unit("ns").asi8 / 1e9)
    end_s = np.where(ends.isna(), np.inf, ends.as_unit("ns").asi8 / 1e9)
    return {p.key: (float(a), float(b)) for p, a, b in zip(pods, start_s, end_s, strict=True)}


@dataclass(frozen=True)
class StatusEvents:
    """Per (namespace, pod, container) with status rows (``per``): ``ready_s`` (when it first turned ready
    after its pod started, NaN: not seen), ``restarts``, ``oom_kills``, ``error_exits``, ``down_s`` (seconds
    not ready after having been ready), ``start_s`` and ``started_in_window`` (the window saw the pod
    start); and the events behind them: ``down`` (namespace, pod, container, ``from_s``, ``to_s``) and
    ``restarted`` (namespace, pod, container, ``at_s``, ``count``, ``oom_kills``: how many of them followed
    an ``OOMKilled`` termination)."""

    per: pd.DataFrame
    down: pd.DataFrame
    restarted: pd.DataFrame


@dataclass(frozen=True)
class StatusRows:
    """``container_status`` rows as arrays: each row's time (``t``, s), its container's group (``ids``, rows
    grouped), whether it is its container's first or last row, and its pod's start and deletion (s; inf: not
    deleted)."""

    t: FloatArray
    ids: IntArray
    first: npt.NDArray[np.bool_]
    last: npt.NDArray[np.bool_]
    start_s: FloatArray
    gone_s: FloatArray

    @classmethod
    def of(cls, cs: pd.DataFrame, pods: tuple[Pod, ...]) -> StatusRows:
        """Rows of ``cs`` (:data:`analyzer.snapshot.schema.CONTAINER_STATUS_COLUMNS`, in key order), ``pods``: the
        snapshot's, for their start and deletion times."""
        t = cs["timestamp"].astype("int64").to_numpy() / 1e9
        ids = cs.groupby(["namespace", "pod", "container"], observed=True, sort=False).ngroup().to_numpy()
        first = np.concatenate([[True], ids[1:] != ids[:-1]])
        last = np.concatenate([ids[1:] != ids[:-1], [True]])
        starts = pod_start_times(pods)
        pod_keys = list(zip(cs["namespace"].astype(str), cs["pod"].astype(str), strict=True))
        start_s, gone_s = (np.array([starts.get(k, (np.nan, np.inf))[i] for k in pod_keys]) for i in (0, 1))
        return cls(t, ids, first, last, start_s, gone_s)


def status_events(snapshot: Snapshot) -> StatusEvents:
    """:class:`StatusEvents` from the snapshot's ``container_status``."""
    cs = snapshot.container_status
    step = snapshot.metadata.step_s
    window_start = snapshot.metadata.start.timestamp()
    window_end = snapshot.metadata.end.timestamp() + step
    keys = ["namespace", "pod", "container"]
    if not len(cs):
        return StatusEvents(
            pd.DataFrame(columns=[*keys, "ready_s", "restarts", "oom_kills", "error_exits", "down_s", "start_s",
                                  "started_in_window"]),
            pd.DataFrame(columns=[*keys, "from_s", "to_s"]),
            pd.DataFrame(columns=[*keys, "at_s", "count", "oom_kills"]),
        )  # fmt: skip
    rows = StatusRows.of(cs, snapshot.pods)
    t, ids, first, last, start_s, gone_s = rows.t, rows.ids, rows.first, rows.last, rows.start_s, rows.gone_s
    ready = cs["ready"].to_numpy(dtype=bool)
    # A ready row's time: the step before it, unless the container was already ready when first seen.
    est = np.maximum(t - step / 2, np.nan_to_num(start_s, nan=-np.inf))
    est = np.where(first, np.minimum(est, t), est)
    first_ready = _first_per_group(ids, np.where(ready, est, np.nan))
    restarts = cs["restarts"].to_numpy(dtype=np.int64)
    # A container first seen in a pod the window saw start restarted that often since; in an older pod, before.
    step_up = np.where(first, np.where(start_s >= window_start, restarts, 0), np.diff(restarts, prepend=0))
    step_up = np.maximum(step_up, 0)  # a reused name (a StatefulSet's new pod) starts again from 0
    oom = cs["last_reason"].astype(str).to_numpy() == OOM_KILLED
    until = np.where(last, np.minimum(window_end, gone_s), np.roll(t, -1))
    been_ready = pd.Series(ready).groupby(ids, sort=False).cummax().to_numpy(dtype=bool)
    # A container whose last row is terminated has ended (its pod finished: a Job's), not gone down.
    ended = last & (cs["state"].astype(str).to_numpy() == "terminated")
    down = np.where(~ready & been_ready & ~ended, np.maximum(until - t, 0.0), 0.0)
    frame = pd.DataFrame({"id": ids, "restarts": step_up, "oom_kills": step_up * oom, "error_exits": step_up * ~oom,
                          "down_s": down})  # fmt: skip
    out = frame.groupby("id", sort=True).sum()
    labels = cs.loc[first, keys].astype(str).set_index(ids[first]).sort_index()
    out = pd.concat([labels, out], axis=1)
    out["ready_s"] = first_ready
    out["start_s"] = start_s[first][np.argsort(ids[first])]
    out["started_in_window"] = out["start_s"] >= window_start
    labelled = cs[keys].astype(str).reset_index(drop=True)
    is_down, restarted = down > 0, step_up > 0
    return StatusEvents(
        out.reset_index(drop=True),
        labelled[is_down].assign(from_s=t[is_down], to_s=(t + down)[is_down]).reset_index(drop=True),
        labelled[restarted]
        .assign(at_s=t[restarted], count=step_up[restarted], oom_kills=(step_up * oom)[restarted])
        .reset_index(drop=True),
    )


def _first_per_group(ids: IntArray, values: FloatArray) -> FloatArray:
    """Per group id (0..n-1, rows grouped): its first non-NaN value."""
    n = int(ids.max()) + 1 if len(ids) else 0
    out = np.full(n, np.nan)
    ok = ~np.isnan(values)
    rows = np.flatnonzero(ok)
    first_of = np.unique(ids[rows], return_index=True)
    out[first_of[0]] = values[rows[first_of[1]]]
    return out


SERIES_BIN_S = 300.0
"""The failure timelines' shortest bin (seconds): the HPA series' step."""
SERIES_BINS = 336
"""At most this many bins per timeline (a week in half-hours): the table grows with the failing sidecars,
not with the window."""


def series_bin_s(window_s: float) -> float:
    """The timelines' bin for a window of ``window_s``: 5 minutes, or longer so that there are at most
    :data:`SERIES_BINS`, rounded up to a whole 5 minutes."""
    return float(max(SERIES_BIN_S, np.ceil(window_s / SERIES_BINS / SERIES_BIN_S) * SERIES_BIN_S))


FAILURE_SERIES_COLUMNS: dict[str, str] = {
    "namespace": "workload namespace",
    "workload_kind": "workload kind",
    "workload": "workload name",
    "container": "the sidecar",
    "timestamp": "bin start, UTC (5 minutes, or longer over a long window: at most 336 bins)",
    "restarts": "the sidecar's restarts in the bin",
    "pods_unready": "pods it held unready, on average over the bin (down, or not yet ready after the app)",
}
"""Per failing sidecar, its failures over time (for the report's timelines; not written to CSV or JSON)."""


def failures_and_series(
    snapshot: Snapshot,
    classes: pd.DataFrame,
    index: UsageIndex,
    containers: pd.DataFrame,
    events: StatusEvents | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:data:`FAILURE_COLUMNS`: each sidecar's readiness, restarts and downtime per workload, from
    ``container_status`` (empty without it), the scrapes its pods lost their metric to it, and for the
    sidecars the kernel killed their limit (``containers``: :data:`analyzer.model.containers.CONTAINER_COLUMNS`)
    and peak; and, for the sidecars that failed or held pods unready, their failures over time
    (:data:`FAILURE_SERIES_COLUMNS`). ``events``: :func:`status_events` of the snapshot, where already read."""
    events = events or status_events(snapshot)
    per = events.per
    if not len(per):
        return pd.DataFrame(columns=list(FAILURE_COLUMNS)), pd.DataFrame(columns=list(FAILURE_SERIES_COLUMNS))
    roles = classes[["namespace", "pod", "container", "workload_kind", "workload", "role", "kind", "native_sidecar",
                     "injected"]]  # fmt: skip
    labels = ["namespace", "pod", "container"]
    per = per.merge(roles.astype(dict.fromkeys(labels, str)), on=labels)
    app = per[per["role"] == Role.APP].groupby(["namespace", "pod"])["ready_s"].max().rename("app_ready_s")
    side = per[per["role"] == Role.SIDECAR].merge(app, left_on=["namespace", "pod"], right_index=True, how="left")
    measured = side["started_in_window"] & side["ready_s"].notna() & side["app_ready_s"].notna()
    side["delay_s"] = np.where(measured, np.maximum(side["ready_s"] - side["app_ready_s"], 0.0), np.nan)
    step = snapshot.metadata.step_s
    side["held"] = side["delay_s"] >= step
    workload = ["namespace", "workload_kind", "workload"]
    key = [*workload, "container"]
    g = side.groupby(key, sort=True)
    out = pd.DataFrame(
        {
            "kind": g["kind"].first(),
            "native_sidecar": g["native_sidecar"].first().astype(bool),
            "injected": g["injected"].first().astype(bool),
            "pods_started": g["delay_s"].count(),
            "ready_delay_p50_s": g["delay_s"].quantile(0.5),
            "ready_delay_p95_s": g["delay_s"].quantile(0.95),
            "pods_held": g["held"].sum(),
            "held_pod_hours": g["delay_s"].sum() / 3600,
            "restarts": g["restarts"].sum(),
            "oom_kills": g["oom_kills"].sum(),
            "error_exits": g["error_exits"].sum(),
            "down_pod_hours": g["down_s"].sum() / 3600,
        }
    ).reset_index()
    pod_days = pd.Series(index_pod_days(index, step), dtype=float)
    days = [pod_days.get(k, np.nan) for k in out[workload].itertuples(index=False, name=None)]
    out["restarts_per_pod_day"] = out["restarts"] / np.where(np.array(days) > 0, days, np.nan)
    restarted = side.loc[side["restarts"] > 0, ["namespace", "pod", "container"]]
    missing = missing_metric_scrapes(index, restarted)
    out["missing_metric_scrapes"] = [int(missing.get(k, 0)) for k in out[key].itertuples(index=False, name=None)]
    limits = containers.astype({c: str for c in key}).set_index(key)["memory_limit_bytes"]
    out["memory_limit_bytes"] = [limits.get(k, np.nan) for k in out[key].itertuples(index=False, name=None)]
    killed = side.loc[side["oom_kills"] > 0, ["namespace", "pod", "container"]]
    peaks = memory_peaks(snapshot, index, killed)
    out["memory_peak_bytes"] = [peaks.get(k, np.nan) for k in out[key].itertuples(index=False, name=None)]
    return out[list(FAILURE_COLUMNS)], _series(snapshot, side, events)


def _time_within(lo: FloatArray, hi: FloatArray, edges: FloatArray) -> FloatArray:
    """At each of ``edges``: the time the spans ``[lo, hi)`` cover before it, summed over the spans
    (``Σ (x - lo)`` over the spans begun, less ``Σ (x - hi)`` over those ended: two sorted passes)."""
    out = np.zeros(len(edges))
    for bounds, sign in ((np.sort(lo), 1.0), (np.sort(hi), -1.0)):
        n = np.searchsorted(bounds, edges)
        total = np.concatenate([[0.0], np.cumsum(bounds)])[n]
        out += sign * (n * edges - total)
    return out


def _series(snapshot: Snapshot, side: pd.DataFrame, events: StatusEvents) -> pd.DataFrame:
    """The failing sidecars' restarts and the pods they held unready, per bin of :data:`SERIES_BIN_S`."""
    labels = ["namespace", "pod", "container"]
    key = ["namespace", "workload_kind", "workload", "container"]
    owner = side[[*labels, "workload_kind", "workload"]]
    held = side[side["delay_s"] > 0]
    spans = pd.concat([events.down, held[labels].assign(from_s=held["app_ready_s"], to_s=held["ready_s"])],
                      ignore_index=True).merge(owner, on=labels)  # fmt: skip
    restarted = events.restarted.merge(owner, on=labels)
    failing = pd.concat([spans[key], restarted[key]]).drop_duplicates()
    if not len(failing):
        return pd.DataFrame(columns=list(FAILURE_SERIES_COLUMNS))
    start = snapshot.metadata.start.timestamp()
    window = snapshot.metadata.end.timestamp() + snapshot.metadata.step_s - start
    bin_s = series_bin_s(window)
    n_bins = int(window // bin_s) + 1
    edges = start + bin_s * np.arange(n_bins + 1)
    frames = []
    none = np.zeros(0, dtype=np.int64)
    span_rows = spans.groupby(key, sort=False).indices if len(spans) else {}
    restart_rows = restarted.groupby(key, sort=False).indices if len(restarted) else {}
    for k in failing.itertuples(index=False, name=None):
        mine = span_rows.get(k, none)
        lo, hi = spans["from_s"].to_numpy()[mine], spans["to_s"].to_numpy()[mine]
        overlap = np.diff(_time_within(lo, hi, edges))  # pod-seconds unready in each bin
        hit = restart_rows.get(k, none)
        counts = np.bincount(np.clip(((restarted["at_s"].to_numpy()[hit] - start) // bin_s).astype(np.int64),
                                     0, n_bins - 1), weights=restarted["count"].to_numpy()[hit], minlength=n_bins)
        frames.append(pd.DataFrame({"namespace": k[0], "workload_kind": k[1], "workload": k[2], "container": k[3],
                                    "timestamp": pd.to_datetime(edges[:-1], unit="s", utc=True).as_unit("ns"),
                                    "restarts": counts.astype(np.int64), "pods_unready": overlap / bin_s}))
    return pd.concat(frames, ignore_index=True)[list(FAILURE_SERIES_COLUMNS)]  # fmt: skip


def index_pod_days(index: UsageIndex, step_s: float) -> dict[tuple[str, str, str], float]:
    """Per workload: pod-days observed (each pod's sampled scrapes of its primary app container)."""
    primary = index.groups["primary"].to_numpy(dtype=bool)
    rows = primary[index.group]
    counts = np.bincount(index.workload[rows], minlength=len(index.workloads))
    keys = index.workloads.itertuples(index=False, name=None)
    return {tuple(k): float(c) * step_s / 86400 for k, c in zip(keys, counts, strict=True)}


def _groups_of(index: UsageIndex, containers: pd.DataFrame) -> IntArray:
    """The usage groups of ``containers`` (rows with namespace, pod, container)."""
    if not len(containers):
        return np.zeros(0, dtype=np.int64)
    labels = index.groups[["namespace", "pod", "container"]].astype(str).reset_index()
    found = labels.merge(containers.astype(str).drop_duplicates(), on=["namespace", "pod", "container"])
    return found["index"].to_numpy(dtype=np.int64)


def missing_metric_scrapes(index: UsageIndex, restarted: pd.DataFrame) -> dict[tuple[str, ...], int]:
    """Per (namespace, workload kind, workload, sidecar): scrapes at which one of the ``restarted``
    containers (namespace, pod, container) reappeared in a pod sampled the scrape before without it:
    metrics-server leaves the pod out then. Reads only those pods' rows."""
    chosen = _groups_of(index, restarted)
    if not len(chosen):
        return {}
    groups = index.groups
    pod_code = groups.groupby(["namespace", "pod"], sort=False, observed=True).ngroup().to_numpy().astype(np.int64)
    pods = np.zeros(int(pod_code.max()) + 1, dtype=bool)
    pods[pod_code[chosen]] = True
    is_chosen = np.zeros(len(groups), dtype=bool)
    is_chosen[chosen] = True
    rows = np.flatnonzero(pods[pod_code[index.group]])
    n_t = index.n_times
    g, t = index.group[rows], index.time[rows].astype(np.int64)
    sampled = pod_code[g] * n_t + t  # (pod, scrape) of every sample of those pods, sorted for the look-ups
    sampled.sort()
    mine = is_chosen[g]
    g, t = g[mine], t[mine]
    order = np.argsort(g, kind="stable")  # each group's rows stay in time order
    g, t = g[order], t[order]
    gap = np.flatnonzero((g[1:] == g[:-1]) & (t[1:] - t[:-1] > 1)) + 1  # a sample after a scrape without one
    wanted = pod_code[g[gap]] * n_t + t[gap] - 1  # its pod sampled the scrape before: the sidecar came back
    reappeared = np.zeros(len(g), dtype=bool)
    if len(gap):
        found = np.minimum(np.searchsorted(sampled, wanted), len(sampled) - 1)
        reappeared[gap] = sampled[found] == wanted
    counts = np.bincount(g[reappeared], minlength=len(groups))
    out: dict[tuple[str, ...], int] = {}
    for k in np.flatnonzero(counts):
        row = groups.iloc[k]
        key = (str(row["namespace"]), str(row["workload_kind"]), str(row["workload"]), str(row["container"]))
        out[key] = out.get(key, 0) + int(counts[k])
    return out


def memory_peaks(snapshot: Snapshot, index: UsageIndex, killed: pd.DataFrame) -> dict[tuple[str, ...], float]:
    """Per (namespace, workload kind, workload, sidecar) of the ``killed`` containers: their highest working
    set over the window (reads only their rows)."""
    chosen = _groups_of(index, killed)
    if not len(chosen):
        return {}
    is_chosen = np.zeros(len(index.groups), dtype=bool)
    is_chosen[chosen] = True
    rows = np.flatnonzero(is_chosen[index.group])
    memory = snapshot.usage["memory_bytes"].to_numpy(dtype=np.float64)[rows]
    peak = pd.Series(memory).groupby(index.group[rows]).max()
    out: dict[tuple[str, ...], float] = {}
    for k, value in peak.items():
        row = index.groups.iloc[int(k)]
        key = (str(row["namespace"]), str(row["workload_kind"]), str(row["workload"]), str(row["container"]))
        out[key] = max(out.get(key, 0.0), float(value))
    return out


def missing_sidecar_groups(index: UsageIndex, failures: pd.DataFrame) -> npt.NDArray[np.bool_]:
    """Per usage group: a sidecar of a workload whose sidecars went missing from the metrics (``failures``:
    :data:`FAILURE_COLUMNS`), the containers the sidecars-never-missing decisions leave out."""
    hit = failures[failures["missing_metric_scrapes"] > 0] if len(failures) else failures
    if not len(hit):
        return np.zeros(len(index.groups), dtype=bool)
    keys = set(hit[["namespace", "workload_kind", "workload", "container"]].astype(str).itertuples(index=False,
                                                                                                 name=None))
    groups = index.groups[["namespace", "workload_kind", "workload", "container"]].astype(str)
    return np.array([k in keys for k in groups.itertuples(index=False, name=None)], dtype=bool)
