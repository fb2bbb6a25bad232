"""How much of each workload's usage, requests and money its sidecars take; rolled up by namespace or label."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from analyzer.model.classify import Role
from analyzer.model.usage_index import WORKLOAD_KEY, UsageIndex
from analyzer.prices import GIB, HOURS_PER_MONTH, Prices

WORKLOAD_COLUMNS = {
    "namespace": "workload namespace",
    "workload_kind": "workload kind",
    "workload": "workload name",
    "app_container": "the app container",
    "sidecars": "sidecar containers, comma-separated",
    "pods_mean": "mean number of pods reporting usage",
    "sidecar_cpu_usage_share_mean": "sidecars' share of the pods' CPU usage, mean over time",
    "sidecar_cpu_usage_share_p95": "the same, 95th percentile over time",
    "sidecar_memory_usage_share_mean": "sidecars' share of the pods' working set, mean over time",
    "sidecar_memory_usage_share_p95": "the same, 95th percentile over time",
    "sidecar_cpu_request_share": "sidecars' share of the pod's CPU requests",
    "sidecar_memory_request_share": "sidecars' share of the pod's memory requests",
    "sidecar_cpu_cores": "sidecar CPU billed per pod: max(request, mean usage), cores",
    "sidecar_memory_bytes": "sidecar memory billed per pod: max(request, mean usage), bytes",
    "sidecar_cost_month": "sidecars' monthly cost at the configured prices, dollars",
    "pod_cost_month": "whole pods' monthly cost (app and sidecars), dollars",
}

ROLLUP_COLUMNS = {
    "workloads": "workloads in the group",
    "workloads_with_sidecars": "of which with at least one sidecar",
    "pods_mean": "summed mean pod counts",
    "sidecar_cpu_total": "sidecar CPU billed, cores (max(request, usage) × pods)",
    "sidecar_memory_total": "sidecar memory billed, bytes",
    "pod_cpu_total": "all containers' CPU billed, cores",
    "pod_memory_total": "all containers' memory billed, bytes",
    "sidecar_cpu_request_total": "sidecars' CPU requests, cores (× pods)",
    "sidecar_memory_request_total": "sidecars' memory requests, bytes (× pods)",
    "pod_cpu_request_total": "all containers' CPU requests, cores (× pods)",
    "pod_memory_request_total": "all containers' memory requests, bytes (× pods)",
    "sidecar_cost_month": "sidecars' monthly cost, dollars",
    "pod_cost_month": "whole pods' monthly cost, dollars",
    "sidecar_cpu_share": "sidecars' share of the billed CPU",
    "sidecar_memory_share": "sidecars' share of the billed memory",
    "sidecar_cpu_request_share": "sidecars' share of the requested CPU",
    "sidecar_memory_request_share": "sidecars' share of the requested memory",
    "sidecar_cost_share": "sidecars' share of the cost",
}
"""Columns of :func:`rollup` besides the grouping key (namespace, a label, or ``scope`` = cluster)."""

ROLLUP_SUMS = ["pods_mean", "sidecar_cpu_total", "sidecar_memory_total", "pod_cpu_total", "pod_memory_total",
               "sidecar_cpu_request_total", "sidecar_memory_request_total", "pod_cpu_request_total",
               "pod_memory_request_total", "sidecar_cost_month", "pod_cost_month"]  # fmt: skip


def workload_table(
    containers: pd.DataFrame, index: UsageIndex, usage: pd.DataFrame, prices: Prices | None = None
) -> pd.DataFrame:
    """One row per workload: :data:`WORKLOAD_COLUMNS`.

    Money follows OpenCost's allocation: each container costs max(request, usage), here the mean
    usage over the window, per pod, times the mean pod count, at ``prices`` for 730 hours.
    """
    prices = prices or Prices()
    role = index.groups["role"].to_numpy()
    side = (role == Role.SIDECAR)[index.group]
    steady = ((role == Role.SIDECAR) | (role == Role.APP))[index.group]
    key = index.cell()
    size = len(index.workloads) * index.n_times
    shape = (len(index.workloads), index.n_times)
    out = index.workloads.copy()
    _, pods = index.demand(usage)
    present = pods.sum(axis=1) > 0
    out["pods_mean"] = np.where(present, pods.sum(axis=1) / np.maximum((pods > 0).sum(axis=1), 1), 0.0)
    for res, col in (("cpu", "cpu_cores"), ("memory", "memory_bytes")):
        v = usage[col].to_numpy(dtype=np.float64)
        s = np.bincount(key[side], weights=v[side], minlength=size).reshape(shape)
        t = np.bincount(key[steady], weights=v[steady], minlength=size).reshape(shape)
        with np.errstate(invalid="ignore", divide="ignore"):
            share = np.where(t > 0, s / t, np.nan)
        has = np.isfinite(share).any(axis=1)
        out[f"sidecar_{res}_usage_share_mean"] = np.where(
            has, np.nanmean(np.where(has[:, None], share, 0), axis=1), np.nan
        )
        out[f"sidecar_{res}_usage_share_p95"] = np.where(
            has, np.nanpercentile(np.where(has[:, None], share, 0), 95, axis=1), np.nan
        )

    c = containers.copy()
    is_side = (c["role"] == Role.SIDECAR).to_numpy()
    c["cpu_req"] = c["cpu_request_cores"].fillna(0)
    c["memory_req"] = c["memory_request_bytes"].fillna(0)
    c["pod_cpu_total"] = np.fmax(c["cpu_req"], c["cpu_mean_cores"].fillna(0))
    c["pod_memory_total"] = np.fmax(c["memory_req"], c["memory_mean_bytes"].fillna(0))
    c["sidecar_cpu_req"] = c["cpu_req"] * is_side
    c["sidecar_memory_req"] = c["memory_req"] * is_side
    c["sidecar_cpu_cores"] = c["pod_cpu_total"] * is_side
    c["sidecar_memory_bytes"] = c["pod_memory_total"] * is_side
    sums = ["cpu_req", "memory_req", "pod_cpu_total", "pod_memory_total", "sidecar_cpu_req", "sidecar_memory_req",
            "sidecar_cpu_cores", "sidecar_memory_bytes"]  # fmt: skip
    per = c.groupby(WORKLOAD_KEY)[sums].sum().rename(columns={"cpu_req": "pod_cpu_req", "memory_req": "pod_memory_req"})
    per["app_container"] = c[c["role"] == Role.APP].groupby(WORKLOAD_KEY)["container"].agg(",".join)
    per["sidecars"] = c[is_side].groupby(WORKLOAD_KEY)["container"].agg(",".join)
    per = per.reset_index()
    out = out.merge(per, on=WORKLOAD_KEY, how="left")
    with np.errstate(invalid="ignore", divide="ignore"):
        out["sidecar_cpu_request_share"] = out["sidecar_cpu_req"] / out["pod_cpu_req"]
        out["sidecar_memory_request_share"] = out["sidecar_memory_req"] / out["pod_memory_req"]
    month = HOURS_PER_MONTH * out["pods_mean"]
    out["sidecar_cost_month"] = month * (
        out["sidecar_cpu_cores"] * prices.cpu_core_hour + out["sidecar_memory_bytes"] / GIB * prices.memory_gib_hour
    )
    out["pod_cost_month"] = month * (
        out["pod_cpu_total"] * prices.cpu_core_hour + out["pod_memory_total"] / GIB * prices.memory_gib_hour
    )
    for res in ("cpu", "memory"):
        out[f"sidecar_{res}_request_total"] = out[f"sidecar_{res}_req"] * out["pods_mean"]
        out[f"pod_{res}_request_total"] = out[f"pod_{res}_req"] * out["pods_mean"]
    out["sidecar_cpu_total"] = out["sidecar_cpu_cores"] * out["pods_mean"]
    out["sidecar_memory_total"] = out["sidecar_memory_bytes"] * out["pods_mean"]
    out["pod_cpu_total"] = out["pod_cpu_total"] * out["pods_mean"]
    out["pod_memory_total"] = out["pod_memory_total"] * out["pods_mean"]
    out["app_container"] = out["app_container"].fillna("")
    out["sidecars"] = out["sidecars"].fillna("")
    return out[[*WORKLOAD_COLUMNS, *[c for c in ROLLUP_SUMS if c not in WORKLOAD_COLUMNS]]]


def rollup(workloads: pd.DataFrame, by: Sequence[str] = ("namespace",)) -> pd.DataFrame:
    """Sum a :func:`workload_table` by ``by`` (e.g. namespace, or a label column); ``by=()`` is the cluster.

    Shares are recomputed from sums: the sidecars' share of the billed CPU and memory, and of cost.
    """
    frame = workloads.assign(_all="cluster")
    keys = list(by) or ["_all"]
    sums = frame.groupby(keys, dropna=False)[ROLLUP_SUMS].sum()
    sums.insert(0, "workloads", frame.groupby(keys, dropna=False).size())
    sums.insert(1, "workloads_with_sidecars", frame.assign(w=frame["sidecars"] != "").groupby(keys)["w"].sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        sums["sidecar_cpu_share"] = sums["sidecar_cpu_total"] / sums["pod_cpu_total"]
        sums["sidecar_memory_share"] = sums["sidecar_memory_total"] / sums["pod_memory_total"]
        for res in ("cpu", "memory"):
            sums[f"sidecar_{res}_request_share"] = (
                sums[f"sidecar_{res}_request_total"] / sums[f"pod_{res}_request_total"]
            )
        sums["sidecar_cost_share"] = sums["sidecar_cost_month"] / sums["pod_cost_month"]
    return sums.reset_index().rename(columns={"_all": "scope"})
