"""The analysis result: every table the findings and renderers read, and its headline figures.

It lives below the renderers (which read it) and the API (which builds it), so imports run one way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analyzer.findings.summary import severity_rank
from analyzer.prices import Prices
from analyzer.snapshot.schema import Metadata


@dataclass(frozen=True)
class Analysis:
    """What :func:`analyze` returns; every table is a DataFrame with documented columns.

    ``classes``: every container of every pod (:data:`analyzer.model.classify.CLASS_COLUMNS`);
    ``containers``: per workload container (:data:`analyzer.model.containers.CONTAINER_COLUMNS`);
    ``overhead``: sidecar fits (:data:`analyzer.model.overhead.FIT_COLUMNS`);
    ``workloads``: sidecar shares and cost (:data:`analyzer.model.shares.WORKLOAD_COLUMNS`);
    ``namespaces``/``cluster``/``groups``: the same rolled up (``groups`` by ``group_by`` labels);
    ``hpas``: :data:`analyzer.findings.hpa_status.HPA_COLUMNS`;
    ``hpa_skew``/``remedies``/``hpa_series``: the HPA replays (:mod:`analyzer.findings.hpa_skew`);
    ``vpa``: simulated recommendations (:data:`analyzer.simulate.vpa_snapshot.VPA_COLUMNS`);
    ``vpa_hazards``/``vpa_hpa``: :mod:`analyzer.findings.vpa_hazards`;
    ``findings``: everything above with a severity (:data:`analyzer.findings.summary.FINDING_COLUMNS`);
    ``pod_usage``: one pod's usage per container over time (:data:`analyzer.model.pod_usage.POD_USAGE_COLUMNS`),
    for the usage plots (not written to CSV or JSON: it is the snapshot's own data, binned).
    """

    metadata: Metadata
    prices: Prices
    classes: pd.DataFrame
    containers: pd.DataFrame
    overhead: pd.DataFrame
    workloads: pd.DataFrame
    namespaces: pd.DataFrame
    cluster: pd.DataFrame
    groups: pd.DataFrame
    hpas: pd.DataFrame
    hpa_skew: pd.DataFrame
    remedies: pd.DataFrame
    hpa_series: pd.DataFrame
    vpa: pd.DataFrame
    vpa_hazards: pd.DataFrame
    vpa_hpa: pd.DataFrame
    findings: pd.DataFrame
    pod_usage: pd.DataFrame

    def at_or_above(self, severity: str) -> pd.DataFrame:
        """The findings of ``severity`` or worse (``severity`` one of low, medium, high)."""
        rank = severity_rank(severity)
        return self.findings[self.findings["severity"].map(severity_rank) >= rank]

    @property
    def ambiguous(self) -> pd.DataFrame:
        """Pods whose app container had to be guessed, with the choice and how to override it."""
        return self.classes[self.classes["ambiguous"]][["namespace", "pod", "workload", "container", "note"]]

    def summary(self) -> dict[str, int | float]:
        """Headline figures for a terminal or a notebook."""
        cluster = self.cluster.iloc[0] if len(self.cluster) else None
        skewed = self.hpa_skew["direction"].isin(["inflation", "dilution"])
        return {
            "workloads": len(self.workloads),
            "containers": len(self.containers),
            "sidecars": int((self.containers["role"] == "sidecar").sum()),
            "ambiguous_pods": int(self.classes.loc[self.classes["ambiguous"], "pod"].nunique()),
            "sidecar_cpu_request_share": _share(cluster, "sidecar_cpu_request_share"),
            "sidecar_memory_request_share": _share(cluster, "sidecar_memory_request_share"),
            "sidecar_cost_month": round(float(cluster["sidecar_cost_month"]), 2) if cluster is not None else 0.0,
            "hpas": len(self.hpas),
            "hpas_stalled": int((self.hpas["status"] == "stalled").sum()),
            "hpas_skewed": int(skewed.sum()),
            "skew_replica_hours": round(float(self.hpa_skew.loc[skewed, "skew_replica_hours"].abs().sum()), 1),
            "skew_cost_month": round(float(self.hpa_skew.loc[skewed, "skew_cost_month"].abs().sum()), 2),
            "vpas": int((self.vpa["vpa"] != "").groupby([self.vpa.namespace, self.vpa.vpa]).any().sum()),
            "vpa_hazards": len(self.vpa_hazards),
            **{f"findings_{sev}": int((self.findings["severity"] == sev).sum()) for sev in ("high", "medium", "low")},
        }

    def _repr_html_(self) -> str:
        return pd.DataFrame([self.summary()]).to_html(index=False)


def _share(cluster: pd.Series | None, column: str) -> float:
    """A cluster share to four decimals, 0 when there is nothing to share."""
    value = float(cluster[column]) if cluster is not None else float("nan")
    return round(value, 4) if np.isfinite(value) else 0.0
