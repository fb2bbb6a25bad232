"""Integer codes for a snapshot's usage rows, computed once and shared by every model.

Row-wise work then runs on ``bincount``/fancy indexing over these codes instead of joins on
strings: the group (pod, container), its workload, its role and the sample's time index.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from analyzer.model.classify import APP

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

WORKLOAD_KEY = ["namespace", "workload_kind", "workload"]


@dataclass(frozen=True)
class UsageIndex:
    """Codes per usage row; ``groups`` has one row per (namespace, pod, container) with its classification.

    ``workloads`` lists :data:`WORKLOAD_KEY` (ids are positions); ``times`` the distinct timestamps.
    """

    groups: pd.DataFrame
    workloads: pd.DataFrame
    times: pd.DatetimeIndex
    group: IntArray
    workload: IntArray
    time: IntArray
    is_app: BoolArray

    @property
    def n_times(self) -> int:
        return len(self.times)

    def demand(self, usage: pd.DataFrame) -> tuple[FloatArray, FloatArray]:
        """Per (workload, time): the app containers' summed CPU (cores) and how many pods reported it."""
        key = self.workload * self.n_times + self.time
        size = len(self.workloads) * self.n_times
        cpu = usage["cpu_cores"].to_numpy(dtype=np.float64)
        total = np.bincount(key[self.is_app], weights=cpu[self.is_app], minlength=size)
        pods = np.bincount(key[self.is_app], minlength=size).astype(np.float64)
        return total.reshape(-1, self.n_times), pods.reshape(-1, self.n_times)


def index_usage(usage: pd.DataFrame, classes: pd.DataFrame) -> UsageIndex:
    """Build the codes; ``classes`` is :func:`analyzer.model.classify.classify`'s table."""
    keys = ["namespace", "pod", "container"]
    gid = usage.groupby(keys, sort=False, observed=True).ngroup().to_numpy().astype(np.int64)
    first = np.unique(gid, return_index=True)[1]
    groups = usage.iloc[first][keys].reset_index(drop=True)
    cols = [*keys, "workload_kind", "workload", "role", "kind", "native_sidecar", "injected"]
    groups = groups.merge(classes[cols], on=keys, how="left")
    groups["native_sidecar"] = groups["native_sidecar"].fillna(False).astype(bool)
    groups["injected"] = groups["injected"].fillna(False).astype(bool)
    groups["workload_kind"] = groups["workload_kind"].fillna("Pod")
    groups["workload"] = groups["workload"].fillna(groups["pod"])
    groups["role"] = groups["role"].fillna("")
    workloads = groups[WORKLOAD_KEY].drop_duplicates().sort_values(WORKLOAD_KEY).reset_index(drop=True)
    wid = groups[WORKLOAD_KEY].merge(workloads.reset_index(), on=WORKLOAD_KEY, how="left")["index"].to_numpy()
    groups["workload_id"] = wid
    codes, times = pd.factorize(usage["timestamp"], sort=True)
    return UsageIndex(
        groups=groups,
        workloads=workloads,
        times=pd.DatetimeIndex(times),
        group=gid,
        workload=wid[gid].astype(np.int64),
        time=codes.astype(np.int64),
        is_app=(groups["role"].to_numpy() == APP)[gid],
    )
