"""Usage per pod over time, per workload container: what the stacked usage plots draw.

Each (workload, container) gets the mean CPU and working set of one pod in bins of
:data:`POD_USAGE_STEP_S`: the samples of all its pods in the bin summed and divided by their
count, so the app and each sidecar stack to what a typical pod of the workload uses.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analyzer.model.classify import Role
from analyzer.model.usage_index import WORKLOAD_KEY, UsageIndex

POD_USAGE_STEP_S = 300.0
"""Bin width of the per-pod usage series (or the snapshot step when coarser)."""

POD_USAGE_COLUMNS = {
    "timestamp": "start of the bin, UTC",
    "namespace": "workload namespace",
    "workload_kind": "workload kind",
    "workload": "workload name",
    "container": "container name",
    "role": "app or sidecar",
    "cpu_cores": "mean CPU usage of the container in one pod, cores",
    "memory_bytes": "mean working set of the container in one pod, bytes",
}


def pod_usage(index: UsageIndex, usage: pd.DataFrame, step_s: float = POD_USAGE_STEP_S) -> pd.DataFrame:
    """:data:`POD_USAGE_COLUMNS` for every app and sidecar container of every workload (rows with samples only)."""
    groups = index.groups
    steady = groups["role"].isin([Role.APP, Role.SIDECAR]).to_numpy()
    series_of_group, series = pd.factorize(
        pd.MultiIndex.from_arrays([groups["workload_id"], groups["container"]]), sort=True
    )
    series_of_group = np.where(steady, series_of_group, -1)
    if len(index.times) == 0 or not steady.any():
        return pd.DataFrame({c: pd.Series(dtype=object) for c in POD_USAGE_COLUMNS})
    seconds = (index.times - index.times[0]).total_seconds().to_numpy()
    width = max(step_s, float(np.min(np.diff(seconds))) if len(seconds) > 1 else step_s)
    bin_of_time = np.floor(seconds / width + 1e-9).astype(np.int64)
    n_bins = int(bin_of_time[-1]) + 1
    size = len(series) * n_bins
    cpu_all = usage["cpu_cores"].to_numpy(dtype=np.float64)
    mem_all = usage["memory_bytes"].to_numpy(dtype=np.float64)
    cpu, mem, count = np.zeros(size), np.zeros(size), np.zeros(size)
    for block in index.blocks():
        sid = series_of_group[index.group[block]]
        keep = np.flatnonzero(sid >= 0)
        cell = sid[keep].astype(np.int64) * n_bins + bin_of_time[index.time[block][keep]]
        cpu += np.bincount(cell, weights=cpu_all[block][keep], minlength=size)
        mem += np.bincount(cell, weights=mem_all[block][keep], minlength=size)
        count += np.bincount(cell, minlength=size)
    present = np.flatnonzero(count > 0)
    sid, b = np.divmod(present, n_bins)
    workload_id = series.get_level_values(0).to_numpy()[sid]
    workloads = index.workloads
    role_of = dict(zip(zip(groups["workload_id"], groups["container"], strict=True), groups["role"], strict=True))
    roles = pd.Categorical([role_of[key] for key in series])
    containers = pd.Categorical(series.get_level_values(1))
    return pd.DataFrame(
        {
            "timestamp": index.times[0] + pd.to_timedelta(b * width, unit="s"),
            **{column: pd.Categorical(workloads[column].to_numpy()[workload_id]) for column in WORKLOAD_KEY},
            "container": pd.Categorical.from_codes(containers.codes[sid], containers.categories),
            "role": pd.Categorical.from_codes(roles.codes[sid], roles.categories),
            "cpu_cores": cpu[present] / count[present],
            "memory_bytes": mem[present] / count[present],
        }
    )
