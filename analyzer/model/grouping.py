"""Rows grouped by an integer id, sorted once: per-group quantiles without a sort per call.

The group order comes from one stable radix sort of the ids (16-bit ids when they fit), after which
a quantile is a gather plus ``np.partition`` within each group: O(rows) per call instead of a
lexsort of (group, value).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


class GroupIndex:
    """The rows of each group of ``group`` (ids in ``[0, n_groups)``), contiguous in ``order``."""

    def __init__(self, group: IntArray, n_groups: int) -> None:
        keys = group.astype(np.uint16) if n_groups <= np.iinfo(np.uint16).max else group
        self.order: IntArray | None = np.argsort(keys, kind="stable")
        self.counts = np.bincount(group, minlength=n_groups)
        self.starts = np.concatenate([[0], np.cumsum(self.counts)[:-1]]).astype(np.int64)
        self.n_groups = n_groups

    @classmethod
    def of_sorted(cls, counts: IntArray) -> GroupIndex:
        """The index of rows already in group order, ``counts[g]`` rows of group ``g`` (no sort, no gather)."""
        index = cls.__new__(cls)
        index.order = None
        index.counts = np.asarray(counts)
        index.starts = np.concatenate([[0], np.cumsum(index.counts)[:-1]]).astype(np.int64)
        index.n_groups = len(index.counts)
        return index

    def quantiles(self, values: FloatArray, qs: Sequence[float]) -> FloatArray:
        """(len(qs), groups): each group's quantiles, interpolated linearly as ``np.quantile`` does (NaN if empty)."""
        v = values if self.order is None else values[self.order]
        out = np.full((len(qs), self.n_groups), np.nan)
        q = np.asarray(qs, dtype=np.float64)
        for g in np.nonzero(self.counts)[0]:
            start, count = self.starts[g], self.counts[g]
            pos = q * (count - 1)
            lo = np.floor(pos).astype(np.int64)
            hi = np.minimum(lo + 1, count - 1)
            part = np.partition(v[start : start + count], np.unique(np.concatenate([lo, hi])))
            out[:, g] = part[lo] + (part[hi] - part[lo]) * (pos - lo)
        return out


def chunked_quantiles(
    group: npt.NDArray[np.integer],
    n_groups: int,
    columns: Sequence[FloatArray],
    qs: Sequence[float],
    max_rows: int = 1 << 22,
) -> list[FloatArray]:
    """:meth:`GroupIndex.quantiles` of each of ``columns``, over groups packed into chunks of about
    ``max_rows`` rows: the sort and the gathered copies are sized by a chunk, not by all rows."""
    counts = np.bincount(group, minlength=n_groups)
    chunk_of_group = (np.cumsum(counts) - counts) // max_rows
    out = [np.full((len(qs), n_groups), np.nan) for _ in columns]
    for c in range(int(chunk_of_group.max()) + 1 if n_groups else 0):
        members = np.flatnonzero(chunk_of_group == c)
        local = np.full(n_groups, -1, dtype=np.int64)
        local[members] = np.arange(len(members))
        rows = np.flatnonzero(chunk_of_group[group] == c)
        index = GroupIndex(local[group[rows]], len(members))
        for values, result in zip(columns, out, strict=True):
            result[:, members] = index.quantiles(values[rows], qs)
    return out
