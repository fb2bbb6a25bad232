"""Sidecar overhead: each sidecar's usage per pod as ``base + slope × app CPU per pod``.

Fitted per (workload, container, resource) over every pod-time sample, against the workload's
mean app CPU per pod at that time (the sum over the pod's app containers). The app containers' own
memory is fitted the same way, and so is each app container's CPU where a pod has several: the HPA
counterfactual needs them at replica counts that were never observed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from analyzer.model.classify import Role
from analyzer.model.robust_fit import fit_lines_in_chunks
from analyzer.model.usage_index import UsageIndex

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

FIT_COLUMNS = {
    "namespace": "workload namespace",
    "workload_kind": "workload kind",
    "workload": "workload name",
    "container": "container name",
    "role": "sidecar, or app (its memory against the pod's app CPU; its CPU too where the pod has several app "
    "containers)",
    "kind": "sidecar kind",
    "resource": "cpu (cores) or memory (bytes)",
    "method": "robust-linear (Huber) or flat-median (the fallback)",
    "base": "usage per pod at zero app load: cores or bytes",
    "slope": "extra usage per app core per pod: cores/core or bytes/core",
    "base_low": "95% interval of base, low end",
    "base_high": "95% interval of base, high end",
    "slope_low": "95% interval of slope, low end",
    "slope_high": "95% interval of slope, high end",
    "r2": "R² of the line (NaN for flat-median)",
    "samples": "pod-time samples of the container (a fit thins them to FitPolicy.max_points, evenly over time)",
    "app_cpu_mean": "mean app CPU per pod over those samples, cores",
    "trustworthy": "the fit can be used for counterfactuals",
    "reason": "why the fit fell back to a flat median, or is not trustworthy",
}

SERIES_KEY = ["namespace", "workload_kind", "workload", "container"]
Z95 = 1.96
INSTRUMENT_HALF_WIDTH = 5
"""Samples on each side of t averaged into the instrument (5 minutes each way at 60 s)."""


@dataclass(frozen=True)
class FitPolicy:
    """When a line is not used: too few samples, too little load variation, a poor fit."""

    min_samples: int = 60
    min_x_cv: float = 0.05
    max_relative_scale: float = 0.5
    max_points: int = 5000
    """Samples per fit beyond this are thinned evenly over time (every k-th): the line does not need them."""


@dataclass(frozen=True)
class PairedUsage:
    """Usage rows of sidecars (and the app's memory) with the workload's app CPU per pod at the same time.

    ``series`` has :data:`SERIES_KEY` plus ``role``, ``kind`` and ``samples`` (all its samples);
    ``series_id`` indexes it per row. Rows are thinned to at most ``max_points`` per series.
    """

    series: pd.DataFrame
    series_id: IntArray
    app_cpu: FloatArray
    instrument: FloatArray
    cpu: FloatArray
    memory: FloatArray


def pair_with_app(usage: pd.DataFrame, index: UsageIndex, max_points: int = FitPolicy.max_points) -> PairedUsage:
    """Pair each sample with the mean app CPU per pod of its workload at the same timestamp.

    The regressor is the workload's mean, not the pod's own app CPU: per-pod load varies little
    under an HPA (it holds utilization near the target), so the app's own measurement noise would
    bias a per-pod slope towards zero (errors in variables); the mean over pods averages that noise
    away. It is also the quantity the HPA counterfactual feeds the model: demand / ready pods.
    What noise remains is handled by an instrument: the same mean at the neighbouring timestamps
    (:func:`neighbour_mean`), which follows the load but not this sample's noise. A series with more
    than ``max_points`` samples keeps every k-th timestamp.
    """
    total, pods = index.demand(usage)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_app = total / pods
    groups = index.groups
    fitted = groups["role"].isin([Role.SIDECAR, Role.APP]).to_numpy()
    series = groups.loc[fitted, [*SERIES_KEY, "role", "kind"]].drop_duplicates(SERIES_KEY)
    series = series.sort_values(SERIES_KEY).reset_index(drop=True)
    position = groups[SERIES_KEY].merge(series[SERIES_KEY].reset_index(), on=SERIES_KEY, how="left")["index"]
    sid_of_group = position.fillna(-1).to_numpy().astype(np.int64)
    samples = np.zeros(len(series), dtype=np.int64)
    for block in index.blocks():
        sid = sid_of_group[index.group[block]]
        samples += np.bincount(sid[sid >= 0], minlength=len(series))
    stride = np.maximum(np.ceil(samples / max_points), 1).astype(np.int64)
    picked = []
    for block in index.blocks():
        sid = sid_of_group[index.group[block]]
        keep = (sid >= 0) & (index.time[block] % stride[np.maximum(sid, 0)] == 0)
        picked.append(block.start + np.flatnonzero(keep))
    rows = np.concatenate(picked) if picked else np.zeros(0, dtype=np.int64)
    del picked
    row_sid = sid_of_group.astype(np.int32)[index.group[rows]]
    flat = index.cell(rows)
    x = mean_app.ravel()[flat]
    z = neighbour_mean(mean_app, INSTRUMENT_HALF_WIDTH).ravel()[flat]
    del flat, mean_app, total, pods
    ok = np.isfinite(x) & np.isfinite(z)
    rows = rows[ok]
    series["samples"] = samples
    return PairedUsage(
        series=series,
        series_id=row_sid[ok],
        app_cpu=x[ok],
        instrument=z[ok],
        cpu=usage["cpu_cores"].to_numpy(dtype=np.float64)[rows],
        memory=usage["memory_bytes"].to_numpy(dtype=np.float64)[rows],
    )


def fit_overhead(paired: PairedUsage, policy: FitPolicy | None = None) -> pd.DataFrame:
    """One row per (workload, sidecar, resource) and per (workload, app, memory): :data:`FIT_COLUMNS`."""
    policy = policy or FitPolicy()
    frames = []
    n = len(paired.series)
    is_app = (paired.series["role"] == Role.APP).to_numpy()
    workload = paired.series.groupby(SERIES_KEY[:3], sort=False).ngroup().to_numpy()
    lone_app = is_app & (np.bincount(workload, weights=is_app)[workload] == 1)
    samples = paired.series["samples"].to_numpy()
    for resource, y in (("cpu", paired.cpu), ("memory", paired.memory)):
        fit = fit_lines_in_chunks(paired.series_id, paired.app_cpu, y, n, z=paired.instrument)
        frame = paired.series.drop(columns="samples")
        frame.insert(6, "resource", resource)
        too_few = samples < policy.min_samples
        flat_x = fit.x_std < policy.min_x_cv * np.maximum(fit.x_mean, 1e-9)
        y_level = np.maximum(np.abs(fit.y_median), 1e-12)
        poor = fit.scale > policy.max_relative_scale * y_level
        insignificant = np.abs(fit.slope) < 2.0 * fit.slope_se
        flat = too_few | flat_x | poor | insignificant
        reason = np.select(
            [too_few, flat_x, poor, insignificant],
            [
                [f"too few samples ({k} < {policy.min_samples}): flat median" for k in samples],
                "no load variation (app CPU per pod nearly constant): flat median",
                [f"poor fit (residual scale {r:.0%} of the median): flat median" for r in fit.scale / y_level],
                "usage does not depend on load: flat median",
            ],
            "",
        )  # fmt: skip
        frame["method"] = np.where(flat, "flat-median", "robust-linear")
        frame["base"] = np.where(flat, fit.y_median, fit.base)
        frame["slope"] = np.where(flat, 0.0, fit.slope)
        spread_base = np.where(flat, Z95 * MAD_SE(fit.scale, fit.n), Z95 * fit.base_se)
        frame["base_low"] = frame["base"] - spread_base
        frame["base_high"] = frame["base"] + spread_base
        frame["slope_low"] = np.where(flat, 0.0, fit.slope - Z95 * fit.slope_se)
        frame["slope_high"] = np.where(flat, 0.0, fit.slope + Z95 * fit.slope_se)
        frame["r2"] = np.where(flat, np.nan, fit.r2)
        frame["samples"] = samples
        frame["app_cpu_mean"] = fit.x_mean
        frame["trustworthy"] = ~(too_few | flat_x | poor)
        frame["reason"] = reason
        if resource == "cpu":
            frame = frame[~lone_app]  # a lone app container's CPU is the regressor itself
        frames.append(frame)
    out = pd.concat(frames, ignore_index=True)
    out = out[out["samples"] > 0]
    return out.sort_values([*SERIES_KEY, "resource"]).reset_index(drop=True)[list(FIT_COLUMNS)]


def neighbour_mean(series: FloatArray, half_width: int, rows_per_block: int = 256) -> FloatArray:
    """Per row of a (series, time) array: the mean of the finite values within ``half_width`` steps, excluding t."""
    if len(series) > rows_per_block:
        return np.concatenate(
            [neighbour_mean(series[i : i + rows_per_block], half_width) for i in range(0, len(series), rows_per_block)]
        )
    finite = np.isfinite(series)
    values = np.where(finite, series, 0.0)
    pad = ((0, 0), (half_width + 1, half_width))
    csum = np.cumsum(np.pad(values, pad), axis=1)
    ccount = np.cumsum(np.pad(finite.astype(np.float64), pad), axis=1)
    width = 2 * half_width + 1
    window_sum = csum[:, width:] - csum[:, :-width]
    window_count = ccount[:, width:] - ccount[:, :-width]
    total = window_sum - values
    count = window_count - finite
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / count, np.nan)


def MAD_SE(scale: FloatArray, n: IntArray) -> FloatArray:
    """Standard error of a median: ``1.2533 × σ / √n``."""
    return 1.2533 * scale / np.sqrt(np.maximum(n, 1))
