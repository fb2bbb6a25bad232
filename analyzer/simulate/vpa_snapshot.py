"""VPA recommendations for a snapshot: every workload's tracked containers, with and without the sidecars.

Each VPA of the snapshot is simulated on its target's pods; workloads without a VPA get the
recommendation a default VPA (all containers on Auto) would make ("what would a VPA recommend here").
The recommender tracks ``spec.containers`` only: native sidecars appear with ``tracked`` False.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from analyzer.frames import records_by
from analyzer.model.classify import Role
from analyzer.model.containers import newest_pods
from analyzer.model.usage_index import WORKLOAD_KEY, UsageIndex
from analyzer.simulate.vpa_recommender import (
    DecayingHistograms,
    PeakGrid,
    RecommenderFlags,
    confidence,
    cpu_histograms,
    memory_histograms,
    recommend,
)
from analyzer.snapshot.schema import Snapshot
from analyzer.snapshot.vpa import VPASpec

VPA_COLUMNS = {
    "namespace": "workload namespace",
    "workload_kind": "workload kind",
    "workload": "workload name",
    "vpa": "the VPA targeting the workload; empty: none (a default VPA is simulated)",
    "update_mode": "the VPA's updateMode (Auto when simulated)",
    "container": "container name",
    "role": "app or sidecar",
    "kind": "sidecar kind",
    "native_sidecar": "a native sidecar: the VPA never tracks it",
    "injected": "added by a webhook",
    "mode": "the container policy's mode (Auto or Off)",
    "policy": "which containerPolicies entry applies (or default)",
    "tracked": "the recommender tracks the container (spec.containers, not mode Off)",
    "observed": "in the newest pod's vpaObservedContainers annotation (or no annotation): the updater checks it",
    "cpu_request_cores": "current CPU request (newest pod)",
    "memory_request_bytes": "current memory request",
    "cpu_limit_cores": "current CPU limit",
    "memory_limit_bytes": "current memory limit",
    "cpu_target_cores": "simulated target, cores",
    "cpu_lower_cores": "simulated lower bound",
    "cpu_upper_cores": "simulated upper bound",
    "memory_target_bytes": "simulated target, bytes",
    "memory_lower_bytes": "simulated lower bound",
    "memory_upper_bytes": "simulated upper bound",
    "cpu_target_alone_cores": "the target had only the app containers been tracked (the pod minimum unsplit)",
    "memory_target_alone_bytes": "the same for memory",
    "floor_cpu_cores": "the split pod minimum that applies to the container",
    "floor_memory_bytes": "the same for memory",
    "confidence_days": "min(history length, samples / 1440), the bounds' confidence",
}


@dataclass(frozen=True)
class VPARecommendations:
    """The per-container table and the parsed VPAs (invalid ones listed with the reason)."""

    table: pd.DataFrame
    vpas: dict[tuple[str, str, str], VPASpec]
    invalid: pd.DataFrame
    _cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def _tracked_of(self) -> dict[tuple[Any, ...], list[dict[str, Any]]]:
        if "tracked_of" not in self._cache:
            cols = [*WORKLOAD_KEY, "container", "cpu_target_cores", "memory_target_bytes"]
            self._cache["tracked_of"] = records_by(self.table.loc[self.table["tracked"], cols], WORKLOAD_KEY)
        return self._cache["tracked_of"]

    def requests_for(self, workload: tuple[str, str, str]) -> dict[str, dict[str, str]]:
        """The requests the admission controller would set per tracked, controlled container (quantities)."""
        spec = self.vpas.get(workload)
        if spec is None or spec.update_mode == "Off":
            return {}
        out: dict[str, dict[str, str]] = {}
        for r in self._tracked_of().get(workload, []):
            controlled = spec.policy(r["container"]).controlled_resources
            req = {}
            if "cpu" in controlled:
                req["cpu"] = f"{round(r['cpu_target_cores'] * 1000)}m"
            if "memory" in controlled:
                req["memory"] = str(int(r["memory_target_bytes"]))
            out[r["container"]] = req
        return out


OBSERVED_ANNOTATION = "vpaObservedContainers"


def _observed_containers(snapshot: Snapshot, groups: pd.DataFrame) -> dict[tuple[str, str, str], set[str] | None]:
    """Per workload, the containers its newest pod's ``vpaObservedContainers`` names (None: no annotation).

    The admission controller writes the containers present when it ran; a sidecar injected after it
    is missing there, and the updater then never evicts for it.
    """
    out: dict[tuple[str, str, str], set[str] | None] = {}
    for key, pod in newest_pods(snapshot, groups).items():
        raw = pod.annotations.get(OBSERVED_ANNOTATION)
        out[key] = None if raw is None else {c.strip() for c in raw.split(",") if c.strip()}
    return out


def vpa_recommendations(
    snapshot: Snapshot,
    index: UsageIndex,
    containers: pd.DataFrame,
    flags: RecommenderFlags | None = None,
    ooms: pd.DataFrame | None = None,
) -> VPARecommendations:
    """Simulate the recommender for every workload (see the module docstring). ``ooms``: the containers the
    kernel killed (namespace, pod, container, ``at_s`` seconds since the epoch), each fed to the memory
    peaks as the recommender's OOM observer does."""
    flags = flags or RecommenderFlags()
    vpas, invalid = {}, []
    for vpa in snapshot.vpas:
        if vpa.spec is None:
            invalid.append((vpa.namespace, vpa.name, vpa.invalid))
            continue
        # A VPA on a Deployment covers its ReplicaSets' pods, which the index resolves to the Deployment.
        vpas[(vpa.namespace, vpa.target_kind, vpa.target_name)] = vpa.spec

    usage = snapshot.usage
    groups = index.groups
    key = [*WORKLOAD_KEY, "container"]
    series = groups[[*key, "role", "kind", "native_sidecar", "injected"]].drop_duplicates(key)
    series = series.sort_values(key).reset_index(drop=True)
    series = series[series.role.isin([Role.APP, Role.SIDECAR])].reset_index(drop=True)
    wk = list(zip(series.namespace, series.workload_kind, series.workload, strict=True))
    specs = [vpas.get(k) for k in wk]
    policies = [(s.policy(c) if s else None) for s, c in zip(specs, series.container, strict=True)]
    series["vpa"] = [s.name if s else "" for s in specs]
    series["update_mode"] = [s.update_mode if s else "Auto" for s in specs]
    series["mode"] = [p.mode if p else "Auto" for p in policies]
    series["policy"] = [p.source if p else "default" for p in policies]
    series["tracked"] = ~series.native_sidecar & (series["mode"] != "Off")
    observed = _observed_containers(snapshot, groups)
    series["observed"] = [
        (observed.get(k) is None or c in observed[k]) for k, c in zip(wk, series.container, strict=True)
    ]
    n = len(series)

    position = groups[key].merge(series[key].reset_index(), on=key, how="left")["index"]
    sid_of_group = position.fillna(-1).to_numpy().astype(np.int64)
    sid_of_group[sid_of_group >= 0] = np.where(series["tracked"].to_numpy()[sid_of_group[sid_of_group >= 0]],
                                               sid_of_group[sid_of_group >= 0], -1)  # fmt: skip
    times_s = (index.times - index.times[0]).total_seconds().to_numpy()
    step = snapshot.metadata.step_s
    epoch_s = index.times[0].timestamp() if len(index.times) else 0.0
    cpu_hist = DecayingHistograms(n, flags.cpu_histogram, flags.cpu_half_life_s, epoch_s)
    first = np.full(n, np.inf)
    last = np.full(n, -np.inf)
    samples = np.zeros(n)
    # Pod containers' first samples open their memory windows (rows are in time order).
    grid = PeakGrid(times_s[index.time[index.first_row]], float(times_s[-1]) if len(times_s) else 0.0, flags)
    cpu_all = usage["cpu_cores"].to_numpy(dtype=np.float64)
    mem_all = usage["memory_bytes"].to_numpy(dtype=np.float64)
    for block in index.blocks():  # blocks bound the memory of the temporaries
        pod_container = index.group[block]
        sid = sid_of_group[pod_container]
        rows = np.flatnonzero(sid >= 0)
        sid, pod_container = sid[rows], pod_container[rows]
        t = times_s[index.time[block][rows]]
        cpu_histograms(sid, t, cpu_all[block][rows], n, flags, step, into=cpu_hist)
        grid.add(pod_container, t, mem_all[block][rows])
        np.minimum.at(first, sid, t)
        np.maximum.at(last, sid, t)
        samples += np.bincount(sid, minlength=n) * (step / flags.sample_interval_s)
    if ooms is not None and len(ooms):
        _add_ooms(grid, ooms, groups, sid_of_group, containers, epoch_s)
    mem_hist = memory_histograms(grid.peaks(np.maximum(sid_of_group, 0)), n, float(times_s.max()) if len(times_s)
                                 else 0.0, flags, epoch_s)  # fmt: skip
    have = np.isfinite(first)
    conf = np.where(have, confidence(first, last, samples, flags.confidence_interval_cpu_s), 0.0)
    conf_memory = np.where(have, confidence(first, last, samples, flags.confidence_interval_memory_s), 0.0)

    wid = series.groupby(WORKLOAD_KEY, sort=False).ngroup().to_numpy()
    tracked = series["tracked"].to_numpy()
    is_app = (series.role == Role.APP).to_numpy()
    n_tracked = np.bincount(wid, weights=tracked.astype(float))[wid]
    n_app = np.bincount(wid, weights=(tracked & is_app).astype(float))[wid]

    def allowed(field: str, res: str) -> np.ndarray:
        return np.array([getattr(p, field).get(res, np.nan) if p else np.nan for p in policies])

    def controls(res: str) -> np.ndarray:
        return np.array([res in p.controlled_resources if p else True for p in policies])

    caps = {
        "min_cpu": allowed("min_allowed", "cpu"),
        "max_cpu": allowed("max_allowed", "cpu"),
        "min_memory": allowed("min_allowed", "memory"),
        "max_memory": allowed("max_allowed", "memory"),
        "conf_memory": conf_memory,
        "controlled": (controls("cpu"), controls("memory")),
    }
    rec = recommend(cpu_hist.weights, mem_hist, conf, n_tracked, flags, **caps)
    alone = recommend(cpu_hist.weights, mem_hist, conf, np.maximum(n_app, 1), flags, **caps)

    current = containers.set_index(key)[["cpu_request_cores", "memory_request_bytes", "cpu_limit_cores",
                                         "memory_limit_bytes"]]  # fmt: skip
    table = series.join(current, on=key)
    nan = np.where(tracked, 1.0, np.nan)
    for name, values in (
        ("cpu_target_cores", rec.cpu_target),
        ("cpu_lower_cores", rec.cpu_lower),
        ("cpu_upper_cores", rec.cpu_upper),
        ("memory_target_bytes", rec.memory_target),
        ("memory_lower_bytes", rec.memory_lower),
        ("memory_upper_bytes", rec.memory_upper),
        ("cpu_target_alone_cores", np.where(is_app, alone.cpu_target, np.nan)),
        ("memory_target_alone_bytes", np.where(is_app, alone.memory_target, np.nan)),
        ("floor_cpu_cores", flags.pod_min_cpu_millicores / 1000.0 / np.maximum(n_tracked, 1)),
        ("floor_memory_bytes", flags.pod_min_memory_mb * 2.0**20 / np.maximum(n_tracked, 1)),
        ("confidence_days", conf),
    ):
        table[name] = values * nan
    return VPARecommendations(
        table=table[list(VPA_COLUMNS)],
        vpas=vpas,
        invalid=pd.DataFrame(invalid, columns=["namespace", "vpa", "reason"]),
    )


def _add_ooms(
    grid: PeakGrid,
    ooms: pd.DataFrame,
    groups: pd.DataFrame,
    sid_of_group: npt.NDArray[np.int64],
    containers: pd.DataFrame,
    epoch_s: float,
) -> None:
    """The OOM kills of tracked containers as the recommender records them (``ContainerState.RecordOOM``):
    a memory peak of ``max(used + 100 MiB, used × 1.2)`` in the interval of the kill, ``used`` the larger of
    the container's request and that interval's peak."""
    key = ["namespace", "pod", "container"]
    code = groups[key].astype(str).reset_index(drop=True).reset_index().set_index(key)["index"]
    at = pd.MultiIndex.from_frame(ooms[key].astype(str))
    group = code.reindex(at).to_numpy()
    known = ~np.isnan(group)
    group = group[known].astype(np.int64)
    tracked = sid_of_group[group] >= 0
    group = group[tracked]
    if not len(group):
        return
    columns = [*WORKLOAD_KEY, "container"]
    requests = containers.astype({c: str for c in columns}).set_index(columns)["memory_request_bytes"]
    owner = pd.MultiIndex.from_frame(groups.iloc[group][columns].astype(str))
    request = requests.reindex(owner).to_numpy(dtype=np.float64)
    at_s = ooms["at_s"].to_numpy(dtype=np.float64)[known][tracked]
    grid.add_ooms(group, at_s - epoch_s, request)
