"""Robust straight-line fits ``y = base + slope × x`` for many groups at once (Huber IRLS over arrays).

Pure array code: every iteration is a handful of ``bincount`` sums and one sort for the per-group
median absolute deviation, so the cost grows with the number of samples, not with the number of
groups. Bursts and restarts (large residuals) get Huber weights below one instead of dragging the line.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from analyzer.model.grouping import GroupIndex

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

HUBER_K = 1.345
"""Huber's tuning constant: 95% efficiency under Gaussian noise."""
MAD_TO_SIGMA = 1.4826


@dataclass(frozen=True)
class LineFit:
    """Per group: the line, its standard errors, robust residual scale, R², sample count and x moments."""

    base: FloatArray
    slope: FloatArray
    base_se: FloatArray
    slope_se: FloatArray
    scale: FloatArray
    r2: FloatArray
    n: IntArray
    x_mean: FloatArray
    x_std: FloatArray
    y_median: FloatArray


class _Segments:
    """Rows in group order, ``counts[g]`` of group ``g``: per-group sums as contiguous reductions (a tenth
    of ``bincount``'s time), per-group values spread back to the rows."""

    def __init__(self, counts: IntArray) -> None:
        self.counts = counts
        self.filled = np.flatnonzero(counts)
        self.starts = (np.cumsum(counts) - counts)[self.filled]
        self.n_rows = int(counts.sum())

    def sum(self, values: FloatArray) -> FloatArray:
        out = np.zeros(len(self.counts))
        if self.n_rows:
            out[self.filled] = np.add.reduceat(values, self.starts)
        return out

    def spread(self, per_group: FloatArray) -> FloatArray:
        return np.repeat(per_group, self.counts)


def _weighted_line(
    seg: _Segments, x: FloatArray, y: FloatArray, z: FloatArray, w: FloatArray, spread: bool = False
) -> tuple[FloatArray, ...]:
    """Weighted instrumental-variable line (``z`` = ``x`` is least squares): slope = Σw·dz·dy / Σw·dz·dx.
    Returns per group base and slope; with ``spread``, also Σw, the weighted mean of x, Σw·dz·dx and
    Σw·dz² (what the standard errors need)."""
    sw = seg.sum(w)
    safe = np.maximum(sw, 1e-300)
    mx, my, mz = seg.sum(w * x) / safe, seg.sum(w * y) / safe, seg.sum(w * z) / safe
    dz = z - seg.spread(mz)
    wdz = w * dz
    szx = seg.sum(wdz * (x - seg.spread(mx)))
    szy = seg.sum(wdz * (y - seg.spread(my)))
    ok = szx > 0
    slope = np.where(ok, szy / np.where(ok, szx, 1.0), 0.0)
    if not spread:
        return my - slope * mx, slope
    return my - slope * mx, slope, sw, mx, szx, seg.sum(wdz * dz)


def fit_lines(
    group: IntArray,
    x: FloatArray,
    y: FloatArray,
    n_groups: int,
    z: FloatArray | None = None,
    iterations: int = 8,
    index: GroupIndex | None = None,
) -> LineFit:
    """Fit one robust line per group; ``group`` holds ids in ``[0, n_groups)``.

    ``z`` is an instrument for ``x``: a quantity that moves with ``x`` but whose noise is independent
    of ``x``'s. Measurement noise in ``x`` biases a least-squares slope towards zero; an instrumental
    variable slope is free of that bias. Without ``z`` the fit is plain (Huber) least squares.

    The rows are put in group order once (stably), so that every per-group sum is a reduction over the
    group's own contiguous rows: a group's line depends on its rows alone, never on the rows around it
    (a shard of the cluster gives the same lines as the whole). Each iteration passes over the rows of the
    groups still moving only.
    """
    z = x if z is None else z
    index = index or GroupIndex(group, n_groups)
    if index.order is not None:
        x, y, z = x[index.order], y[index.order], z[index.order]
        index = GroupIndex.of_sorted(index.counts)
    n = index.counts
    whole = _Segments(n)
    w = np.ones_like(x)
    base, slope = _weighted_line(whole, x, y, z, w)
    scale = np.zeros(n_groups)
    active = np.ones(n_groups, dtype=bool)
    rows: slice | IntArray = slice(None)  # the rows of the groups still moving, in group order
    seg, xr, yr, zr, sub = whole, x, y, z, index
    for _ in range(iterations):
        # A group stops when its own line stops moving.
        resid = yr - seg.spread(base) - seg.spread(slope) * xr
        scale = np.where(active, MAD_TO_SIGMA * sub.quantiles(np.abs(resid), [0.5])[0], scale)
        cut = HUBER_K * seg.spread(np.maximum(scale, 1e-12))
        a = np.abs(resid)
        w[rows] = np.where(seg.spread(active), np.where(a <= cut, 1.0, cut / np.maximum(a, 1e-300)), w[rows])
        new_base, new_slope = _weighted_line(seg, xr, yr, zr, w[rows])
        converged = np.isclose(new_slope, slope, rtol=1e-6, atol=1e-12) & np.isclose(new_base, base, rtol=1e-6)
        base, slope = np.where(active, new_base, base), np.where(active, new_slope, slope)
        active &= ~converged
        if not active.any():
            break
        if n[active].sum() < 0.8 * len(xr):  # a fifth of the rows have settled: drop them from the passes
            rows = np.flatnonzero(whole.spread(active))
            xr, yr, zr = x[rows], y[rows], z[rows]
            counts = np.where(active, n, 0)
            seg, sub = _Segments(counts), GroupIndex.of_sorted(counts)
    _, _, sw, mx, szx, szz = _weighted_line(whole, x, y, z, w, spread=True)
    resid = y - whole.spread(base) - whole.spread(slope) * x
    dof = np.maximum(sw - 2.0, 1.0)
    sigma2 = whole.sum(w * resid * resid) / dof
    # IV variance: σ² Σdz² / (Σdz·dx)²; with z = x it is the least-squares σ² / Σdx².
    slope_var = np.where(szx > 0, sigma2 * szz / np.where(szx > 0, szx, 1.0) ** 2, np.inf)
    slope_se = np.sqrt(slope_var)
    with np.errstate(invalid="ignore"):  # an empty group: 0 × inf, NaN is its honest answer
        base_se = np.sqrt(sigma2 / np.maximum(sw, 1e-300) + mx * mx * slope_var)
    ymean = whole.sum(y) / np.maximum(n, 1)
    sst = whole.sum((y - whole.spread(ymean)) ** 2)
    sse = whole.sum(resid * resid)
    r2 = np.where(sst > 0, 1.0 - sse / np.where(sst > 0, sst, 1.0), np.nan)
    xmean = whole.sum(x) / np.maximum(n, 1)
    xvar = whole.sum((x - whole.spread(xmean)) ** 2) / np.maximum(n - 1, 1)
    return LineFit(
        base=base,
        slope=slope,
        base_se=base_se,
        slope_se=slope_se,
        scale=scale,
        r2=r2,
        n=n.astype(np.int64),
        x_mean=xmean,
        x_std=np.sqrt(xvar),
        y_median=index.quantiles(y, [0.5])[0],
    )


def fit_lines_in_chunks(
    group: IntArray,
    x: FloatArray,
    y: FloatArray,
    n_groups: int,
    z: FloatArray | None = None,
    max_rows: int = 1 << 21,
) -> LineFit:
    """:func:`fit_lines` over groups packed into chunks of about ``max_rows`` rows: the same lines, with
    the iterations' temporaries sized by a chunk instead of by all rows."""
    counts = np.bincount(group, minlength=n_groups)
    chunk_of_group = (np.cumsum(counts) - counts) // max_rows
    n_chunks = int(chunk_of_group.max()) + 1 if n_groups else 0
    if n_chunks <= 1:
        return fit_lines(group, x, y, n_groups, z)
    fields = {name: np.full(n_groups, np.nan) for name in LineFit.__dataclass_fields__}
    fields["n"] = np.zeros(n_groups, dtype=np.int64)
    for c in range(n_chunks):
        members = np.flatnonzero(chunk_of_group == c)
        local = np.full(n_groups, -1, dtype=np.int64)
        local[members] = np.arange(len(members))
        rows = np.flatnonzero(chunk_of_group[group] == c)
        part = fit_lines(local[group[rows]], x[rows], y[rows], len(members), None if z is None else z[rows])
        for name, values in fields.items():
            values[members] = getattr(part, name)
    return LineFit(**fields)
