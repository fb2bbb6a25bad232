"""Integer codes for a snapshot's usage rows, computed once and shared by every model.

Row-wise work then runs on ``bincount``/fancy indexing over these codes instead of joins on
strings: the group (pod, container), its workload, its role and the sample's time index.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from analyzer.model.classify import Role

IntArray = npt.NDArray[np.integer]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

WORKLOAD_KEY = ["namespace", "workload_kind", "workload"]
BLOCK_ROWS = 1 << 22
"""Rows per block in passes over all samples (see :meth:`UsageIndex.blocks`)."""


@dataclass(frozen=True)
class UsageIndex:
    """Codes per usage row (int32: they are the biggest arrays of an analysis); ``groups`` has one row per
    (namespace, pod, container) with its classification.

    ``workloads`` lists :data:`WORKLOAD_KEY` (ids are positions); ``times`` the distinct timestamps.
    """

    groups: pd.DataFrame
    workloads: pd.DataFrame
    times: pd.DatetimeIndex
    group: IntArray
    workload: IntArray
    time: IntArray
    is_app: BoolArray
    first_row: IntArray
    """Each group's first row (its first sample: rows are in time order)."""

    @property
    def n_times(self) -> int:
        return len(self.times)

    def cell(self, rows: IntArray | slice = slice(None)) -> IntArray:
        """The (workload, time) cell of ``rows`` as one int64 index into a (workloads × times) array."""
        return self.workload[rows].astype(np.int64) * self.n_times + self.time[rows]

    def demand(self, usage: pd.DataFrame) -> tuple[FloatArray, FloatArray]:
        """Per (workload, time): the app containers' summed CPU (cores) and how many pods reported it.

        A pod counts once however many app containers it has: by its primary app container's sample.
        """
        size = len(self.workloads) * self.n_times
        cpu = usage["cpu_cores"].to_numpy(dtype=np.float64)
        primary = self.groups["primary"].to_numpy(dtype=bool)
        total = np.zeros(size)
        pods = np.zeros(size)
        for block in self.blocks():
            rows = block.start + np.flatnonzero(self.is_app[block])
            key = self.cell(rows)
            total += np.bincount(key, weights=cpu[rows], minlength=size)
            counted = primary[self.group[rows]]
            pods += np.bincount(key[counted], minlength=size)
        return total.reshape(-1, self.n_times), pods.reshape(-1, self.n_times)

    def blocks(self) -> list[slice]:
        """Row ranges of at most :data:`BLOCK_ROWS`: passes over millions of rows keep their temporaries small."""
        return [slice(s, min(s + BLOCK_ROWS, len(self.group))) for s in range(0, len(self.group), BLOCK_ROWS)]


def index_usage(usage: pd.DataFrame, classes: pd.DataFrame) -> UsageIndex:
    """Build the codes; ``classes`` is :func:`analyzer.model.classify.classify`'s table."""
    keys = ["namespace", "pod", "container"]
    gid, first = _group_ids(usage, keys)
    groups = usage.iloc[first][keys].reset_index(drop=True)
    for column in keys:
        groups[column] = groups[column].astype(object)
    cols = [*keys, "workload_kind", "workload", "role", "kind", "native_sidecar", "injected", "primary"]
    groups = groups.merge(classes[cols], on=keys, how="left")
    groups["primary"] = groups["primary"].fillna(False).astype(bool)
    groups["native_sidecar"] = groups["native_sidecar"].fillna(False).astype(bool)
    groups["injected"] = groups["injected"].fillna(False).astype(bool)
    groups["workload_kind"] = groups["workload_kind"].fillna("Pod")
    groups["workload"] = groups["workload"].fillna(groups["pod"])
    groups["role"] = groups["role"].fillna("")
    workloads = groups[WORKLOAD_KEY].drop_duplicates().sort_values(WORKLOAD_KEY).reset_index(drop=True)
    wid = groups[WORKLOAD_KEY].merge(workloads.reset_index(), on=WORKLOAD_KEY, how="left")["index"].to_numpy()
    groups["workload_id"] = wid
    codes, times = _time_codes(usage["timestamp"])
    return UsageIndex(
        groups=groups,
        workloads=workloads,
        times=pd.DatetimeIndex(times),
        group=gid.astype(np.int32),
        workload=wid.astype(np.int32)[gid],
        time=codes.astype(np.int32),
        is_app=(groups["role"].to_numpy() == Role.APP)[gid],
        first_row=first.astype(np.int64),
    )


def _time_codes(timestamps: pd.Series) -> tuple[np.ndarray, pd.DatetimeIndex]:
    """Codes of the distinct sample times in time order; O(rows) when the rows are sorted by time (snapshot order)."""
    values = timestamps.astype("int64").to_numpy()  # the unit's integer ticks: order and equality are all we need
    if len(values) and (values[1:] >= values[:-1]).all():
        change = np.concatenate([[True], values[1:] != values[:-1]])
        return np.cumsum(change) - 1, pd.DatetimeIndex(timestamps.iloc[np.flatnonzero(change)])
    codes, times = pd.factorize(timestamps, sort=True)
    return codes, pd.DatetimeIndex(times)


DENSE_CELLS = 50_000_000
"""Below this many (namespace, pod, container) code combinations, ids come from a dense table, not a sort."""


def _group_ids(usage: pd.DataFrame, keys: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """An int32 id per row for its (namespace, pod, container), and each id's first row.

    With categorical label columns (as snapshots load) the ids come from the codes without hashing
    strings: a dense table of the code combinations when it is small, ``np.unique`` otherwise.
    """
    labels = [
        usage[k] if isinstance(usage[k].dtype, pd.CategoricalDtype) else usage[k].astype("category") for k in keys
    ]
    sizes = [len(c.cat.categories) for c in labels]
    cell = np.zeros(len(usage), dtype=np.int64)
    for c, size in zip(labels, sizes, strict=True):
        cell *= size
        cell += c.cat.codes.to_numpy()
    if int(np.prod(sizes, dtype=np.float64)) <= DENSE_CELLS:
        present = np.bincount(cell, minlength=int(np.prod(sizes)))
        id_of_cell = (np.cumsum(present > 0) - 1).astype(np.int32)
        gid = id_of_cell[cell]
        del cell
        first = np.full(int(id_of_cell.max()) + 1 if len(gid) else 0, len(gid), dtype=np.int64)
        np.minimum.at(first, gid, np.arange(len(gid), dtype=np.int64))
    else:
        _, first, gid = np.unique(cell, return_index=True, return_inverse=True)
        gid = gid.astype(np.int32)
    return gid, first
