"""What changed between two runs of one cluster: findings new, resolved and persisting (with their severity
then and now), each HPA's skew, waste and shortfall then and now, and the workloads and sidecars that
appeared or went.

A run is compared through its :class:`RunState`: the few tables of its report that say what was found
(the rows of ``findings``, ``hpa_skew`` and ``containers`` as report.json holds them), so two runs compare
the same way whether both are in memory, or one is a report.json written months ago.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from analyzer.findings.severity import SEVERITIES, severity_rank

STATE_COLUMNS: dict[str, tuple[str, ...]] = {
    "findings": ("severity", "kind", "namespace", "object", "message"),
    "hpa_skew": ("namespace", "hpa", "direction", "skew_percent", "excess_replica_hours", "missing_replica_hours",
                 "waste_cost_month", "stalled_hours"),
    "containers": ("namespace", "workload_kind", "workload", "container", "role", "kind"),
}  # fmt: skip
"""The columns of the report tables a comparison reads."""

FINDING_KEY = ["kind", "namespace", "object"]
HPA_KEY = ["namespace", "hpa"]
WORKLOAD_KEY = ["namespace", "workload_kind", "workload"]

CHANGE_COLUMNS = {
    "findings": {
        "status": "new (only in this run), resolved (only in the earlier one) or persisting",
        "kind": "finding kind",
        "namespace": "namespace of the object",
        "object": "the object concerned",
        "severity_before": "its severity in the earlier run (empty when new)",
        "severity_now": "its severity in this run (empty when resolved)",
        "message": "the message of the run that has it (this run's when both do)",
    },
    "hpas": {
        "namespace": "HPA namespace",
        "hpa": "HPA name",
        "status": "appeared, gone or present (in both runs)",
        "direction_before": "inflation, dilution, none, stalled, uncertain; empty when not in the earlier run",
        "direction_now": "the same in this run",
        "skew_percent_before": "net skew relative to app-only, percent, in the earlier run",
        "skew_percent_now": "the same in this run",
        "waste_cost_month_change": "waste now minus before, dollars per month",
        "missing_replica_hours_change": "shortfall now minus before, replica-hours (each run over its own window)",
    },
    "workloads": {
        "status": "appeared or gone",
        "namespace": "workload namespace",
        "workload_kind": "workload kind",
        "workload": "workload name",
        "container": "the sidecar that appeared or went; empty for the workload itself",
    },
}
"""The tables of a comparison (the ``changes`` of report.json), documented."""


@dataclass(frozen=True)
class RunState:
    """What a run found: its report's ``findings``, ``hpa_skew`` and ``containers`` rows (the
    :data:`STATE_COLUMNS`), its summary and the end of its snapshot's window."""

    end: pd.Timestamp
    summary: dict[str, Any]
    findings: pd.DataFrame
    hpa_skew: pd.DataFrame
    containers: pd.DataFrame

    def tables(self) -> dict[str, pd.DataFrame]:
        return {"findings": self.findings, "hpa_skew": self.hpa_skew, "containers": self.containers}


@dataclass(frozen=True)
class Changes:
    """A comparison of this run with an earlier one (:data:`CHANGE_COLUMNS`)."""

    since: pd.Timestamp
    """The end of the earlier run's snapshot window."""
    findings: pd.DataFrame
    hpas: pd.DataFrame
    workloads: pd.DataFrame
    figures: dict[str, float] = field(default_factory=dict)

    def counts(self, status: str) -> dict[str, int]:
        """Findings of ``status`` (new, resolved) per severity, the severity they had in the run that has them."""
        rows = self.findings[self.findings["status"] == status]
        column = "severity_before" if status == "resolved" else "severity_now"
        return {str(sev): int((rows[column] == sev).sum()) for sev in reversed(SEVERITIES)}

    def headline(self) -> str:
        """One line: "Since 2026-12-06 00:00 UTC: 2 new high findings, 3 resolved, waste −$41.00/month, ..."."""
        new, resolved = self.counts("new"), self.counts("resolved")
        parts = [f"{n} new {sev}" for sev, n in new.items() if n] or ["no new finding"]
        gone = sum(resolved.values())
        parts.append(f"{gone} resolved" if gone else "none resolved")
        waste, short = self.figures.get("waste_cost_month", 0.0), self.figures.get("shortfall_replica_hours", 0.0)
        parts.append(f"waste {_signed(waste, '${:,.2f}/month')}")
        parts.append(f"shortfall {_signed(short, '{:,.1f} replica-hours')}")
        appeared = int((self.workloads["status"] == "appeared").sum())
        went = int((self.workloads["status"] == "gone").sum())
        if appeared or went:
            parts.append(f"{appeared} workloads or sidecars appeared, {went} went")
        return f"Since {self.since:%Y-%m-%d %H:%M} UTC: " + ", ".join(parts)


def _signed(value: float, fmt: str) -> str:
    """``+$3.00/month``, ``−$41.00/month`` (a true minus sign), ``±0`` when nothing moved."""
    if round(value, 2) == 0:
        return "unchanged"
    return ("+" if value > 0 else "−") + fmt.format(abs(value))


def compare(before: RunState, now: RunState) -> Changes:
    """How ``now`` differs from ``before`` (see the module docstring)."""
    return Changes(
        since=before.end,
        findings=_findings(before.findings, now.findings),
        hpas=_hpas(before.hpa_skew, now.hpa_skew),
        workloads=_workloads(before.containers, now.containers),
        figures={
            key: float(now.summary.get(key, 0.0) or 0.0) - float(before.summary.get(key, 0.0) or 0.0)
            for key in ("waste_cost_month", "shortfall_replica_hours", "stalled_hours", "sidecar_cost_month")
        },
    )


def _worst(findings: pd.DataFrame) -> pd.DataFrame:
    """One row per finding key, at its highest severity (a VPA can hold one hazard per container)."""
    rank = findings["severity"].map(severity_rank)
    return findings.assign(_r=rank).sort_values("_r", ascending=False, kind="stable").drop_duplicates(FINDING_KEY)


def _findings(before: pd.DataFrame, now: pd.DataFrame) -> pd.DataFrame:
    cols = [*FINDING_KEY, "severity", "message"]
    joined = _worst(before)[cols].merge(_worst(now)[cols], on=FINDING_KEY, how="outer", suffixes=("_b", "_n"),
                                        indicator=True)  # fmt: skip
    status = joined["_merge"].map({"left_only": "resolved", "right_only": "new", "both": "persisting"})
    out = pd.DataFrame(
        {
            "status": status.astype(str),
            **{k: joined[k].astype(str) for k in FINDING_KEY},
            "severity_before": joined["severity_b"].fillna("").astype(str),
            "severity_now": joined["severity_n"].fillna("").astype(str),
            "message": joined["message_n"].fillna(joined["message_b"]).astype(str),
        }
    )
    order = {"new": 0, "resolved": 1, "persisting": 2}
    worst = np.maximum(out["severity_now"].map(severity_rank), out["severity_before"].map(severity_rank))
    return (
        out.assign(_s=out["status"].map(order), _w=-worst)
        .sort_values(["_s", "_w", *FINDING_KEY], kind="stable")
        .drop(columns=["_s", "_w"])
        .reset_index(drop=True)[list(CHANGE_COLUMNS["findings"])]
    )


def _hpas(before: pd.DataFrame, now: pd.DataFrame) -> pd.DataFrame:
    cols = [*HPA_KEY, "direction", "skew_percent", "waste_cost_month", "missing_replica_hours"]
    joined = before[cols].merge(now[cols], on=HPA_KEY, how="outer", suffixes=("_b", "_n"), indicator=True)
    status = joined["_merge"].map({"left_only": "gone", "right_only": "appeared", "both": "present"})
    out = pd.DataFrame(
        {
            **{k: joined[k].astype(str) for k in HPA_KEY},
            "status": status.astype(str),
            "direction_before": joined["direction_b"].fillna("").astype(str),
            "direction_now": joined["direction_n"].fillna("").astype(str),
            "skew_percent_before": joined["skew_percent_b"].astype(float),
            "skew_percent_now": joined["skew_percent_n"].astype(float),
            "waste_cost_month_change": joined["waste_cost_month_n"].astype(float).fillna(0.0)
            - joined["waste_cost_month_b"].astype(float).fillna(0.0),
            "missing_replica_hours_change": joined["missing_replica_hours_n"].astype(float).fillna(0.0)
            - joined["missing_replica_hours_b"].astype(float).fillna(0.0),
        }
    )
    moved = (out["status"] != "present") | (out["direction_before"] != out["direction_now"]) | (
        (out["skew_percent_now"] - out["skew_percent_before"]).abs() >= 1.0
    )  # fmt: skip
    change = (out["waste_cost_month_change"].abs() + out["missing_replica_hours_change"].abs()).to_numpy()
    return out[moved.to_numpy()].iloc[np.argsort(-change[moved.to_numpy()], kind="stable")].reset_index(drop=True)


def _workloads(before: pd.DataFrame, now: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for frame_b, frame_n, with_container in (
        (before[WORKLOAD_KEY].drop_duplicates(), now[WORKLOAD_KEY].drop_duplicates(), False),
        (before.loc[before["role"] == "sidecar", [*WORKLOAD_KEY, "container"]],
         now.loc[now["role"] == "sidecar", [*WORKLOAD_KEY, "container"]], True),
    ):  # fmt: skip
        key = [*WORKLOAD_KEY, "container"] if with_container else WORKLOAD_KEY
        joined = frame_b.merge(frame_n, on=key, how="outer", indicator=True)
        if with_container:  # a sidecar of a workload that appeared or went is said with its workload
            present = frame_b[WORKLOAD_KEY].merge(frame_n[WORKLOAD_KEY]).drop_duplicates()
            joined = joined.merge(present, on=WORKLOAD_KEY)
        for r in joined[joined["_merge"] != "both"].itertuples(index=False):
            rows.append(("appeared" if r._merge == "right_only" else "gone", r.namespace, r.workload_kind,
                         r.workload, r.container if with_container else ""))  # fmt: skip
    table = pd.DataFrame(rows, columns=list(CHANGE_COLUMNS["workloads"]))
    return table.sort_values(["status", *WORKLOAD_KEY, "container"], kind="stable").reset_index(drop=True)
