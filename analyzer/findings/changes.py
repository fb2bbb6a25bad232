"""What changed between two runs of one cluster: findings new, resolved and persisting (with their severity
then and now), each HPA's skew, waste and shortfall then and now, and the workloads and sidecars that
appeared or went.

A run is compared through its :class:`RunState`: the few tables of its report that say what was found
(the rows of ``findings``, ``hpa_skew`` and ``containers`` as report.json holds them), so two runs compare
the same way whether both are in memory, or one is a report.json written months ago.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from analyzer.findings.severity import SEVERITIES, severity_rank
from analyzer.units import format_cpu, format_memory

STATE_COLUMNS: dict[str, tuple[str, ...]] = {
    "findings": ("severity", "kind", "namespace", "object", "message"),
    "hpa_skew": ("namespace", "hpa", "target", "direction", "skew_percent", "excess_replica_hours",
                 "missing_replica_hours", "waste_cost_month", "stalled_hours", "replica_hours_app_only",
                 "sidecar_cpu_usage_share"),
    "containers": ("namespace", "workload_kind", "workload", "container", "role", "kind", "cpu_request_cores",
                   "memory_request_bytes"),
    "hpas": ("namespace", "hpa", "metrics"),
}  # fmt: skip
"""The columns of the report tables a comparison reads."""

FIX_COLUMNS = {
    "namespace": "HPA namespace",
    "hpa": "HPA name",
    "remedy": "retarget, container-resource, average-value or sidecar-requests",
    "metrics_before": "what the object read when the fix was recommended: the HPA's metrics described, or for "
    "sidecar-requests the sidecars' requests",
    "metrics_after": "what it reads with the fix applied, the same way",
    "predicted_skew_percent": "the net skew the replay predicted with the fix applied, percent of app-only",
    "status": "recommended (by the run that wrote the state) or applied (seen applied by it or an earlier run)",
    "recommended_at": "the end of the snapshot window of the run that recommended it",
}
"""A run's state's ``fixes``: what a later run checks to tell whether a recommended fix was applied and held."""

VERDICT_COLUMNS = {
    "namespace": "HPA namespace",
    "hpa": "HPA name",
    "remedy": "the fix recommended",
    "verdict": "fix-verified (applied, and the net skew is within 2 points of the prediction or under 2 %), "
    "fix-underperformed (applied, the skew is further off), fix-reverted (the HPA went back to its metrics "
    "before the fix), changed-otherwise (the HPA's metrics changed, not as recommended), changed-not-recommended "
    "(an HPA with no fix recommended changed its metrics)",
    "predicted_skew_percent": "the net skew the replay predicted with the fix, percent",
    "measured_skew_percent": "the net skew measured now, percent",
    "metrics_now": "the HPA's metrics now, described",
    "note": "for an underperforming fix, what the replay can tell of why (the app's load, the sidecars' share)",
}
"""The verdicts on earlier runs' fixes (the ``fixes`` of a comparison)."""
VERIFIED_POINTS = 2.0
"""A fix holds when the skew measured is within this many points of the prediction, or under it."""

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
    hpas: pd.DataFrame
    fixes: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(FIX_COLUMNS)))

    def tables(self) -> dict[str, pd.DataFrame]:
        return {"findings": self.findings, "hpa_skew": self.hpa_skew, "containers": self.containers,
                "hpas": self.hpas, "fixes": self.fixes}  # fmt: skip

    def carrying(self, changes: Changes) -> RunState:
        """This state with the fixes ``changes`` saw applied carried on, for the next run to tell a revert."""
        if not len(changes.carried):
            return self
        fixes = pd.concat([self.fixes, changes.carried], ignore_index=True) if len(self.fixes) else changes.carried
        return replace(self, fixes=fixes.reset_index(drop=True))


@dataclass(frozen=True)
class Changes:
    """A comparison of this run with an earlier one (:data:`CHANGE_COLUMNS`)."""

    since: pd.Timestamp
    """The end of the earlier run's snapshot window."""
    findings: pd.DataFrame
    hpas: pd.DataFrame
    workloads: pd.DataFrame
    figures: dict[str, float] = field(default_factory=dict)
    fixes: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(VERDICT_COLUMNS)))
    carried: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(FIX_COLUMNS)))
    """The fixes seen applied (now or earlier, not reverted since): the next state carries them."""

    def verdicts(self) -> dict[str, int]:
        """How many fixes got each verdict."""
        return {str(v): int(n) for v, n in self.fixes["verdict"].value_counts(sort=False).items()}

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
        verdicts = self.verdicts()
        parts += [
            f"{verdicts[v]} {'fix' if verdicts[v] == 1 else 'fixes'} {v.removeprefix('fix-')}"
            for v in ("fix-verified", "fix-underperformed", "fix-reverted")
            if verdicts.get(v)
        ]
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
    fixes, carried = _verdicts(before, now)
    return Changes(
        fixes=fixes,
        carried=carried,
        since=before.end,
        findings=_findings(before.findings, now.findings),
        hpas=_hpas(before.hpa_skew, now.hpa_skew),
        workloads=_workloads(before.containers, now.containers),
        figures={
            key: float(now.summary.get(key, 0.0) or 0.0) - float(before.summary.get(key, 0.0) or 0.0)
            for key in ("waste_cost_month", "shortfall_replica_hours", "stalled_hours", "sidecar_cost_month")
        },
    )


def requests_read(requests: Mapping[str, Mapping[str, str]]) -> str:
    """Sidecars' requests as a run reads them: ``istio-proxy cpu 57m memory 66Mi``, by container name."""
    return "; ".join(f"{c} cpu {r['cpu']} memory {r['memory']}" for c, r in sorted(requests.items()))


def requests_now(containers: pd.DataFrame, namespace: str, target: str, names: Sequence[str]) -> str:
    """The requests the containers ``names`` of the workload ``target`` (Kind/name) have in ``containers``, read
    as :func:`requests_read` writes them (a missing request reads ``none``)."""
    kind, _, workload = target.partition("/")
    rows = containers[(containers["namespace"] == namespace) & (containers["workload_kind"] == kind)
                      & (containers["workload"] == workload)].set_index("container")  # fmt: skip

    def quantity(value: float, write: Callable[[float], str]) -> str:
        return "none" if math.isnan(value) else write(value)

    return "; ".join(
        f"{c} cpu {quantity(float(rows.loc[c, 'cpu_request_cores']), format_cpu)} memory "
        f"{quantity(float(rows.loc[c, 'memory_request_bytes']), format_memory)}"
        for c in sorted(names) if c in rows.index
    )  # fmt: skip


def _reads(state: RunState, fix: Any, hpa_metrics: Mapping[tuple[str, str], str]) -> str | None:
    """What ``state`` reads where ``fix`` acts: the HPA's metrics, or its workload's sidecars' requests."""
    if fix.remedy != "sidecar-requests":
        return hpa_metrics.get((fix.namespace, fix.hpa))
    target = state.hpa_skew.loc[(state.hpa_skew["namespace"] == fix.namespace) & (state.hpa_skew["hpa"] == fix.hpa),
                                "target"]  # fmt: skip
    names = [part.split(" cpu ", 1)[0] for part in str(fix.metrics_after).split("; ")]
    return requests_now(state.containers, fix.namespace, str(target.iloc[0]), names) if len(target) else None


def _verdicts(before: RunState, now: RunState) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each fix of ``before`` (recommended by it, or carried as applied) against the HPA's metrics ``now``:
    a fix recommended and now applied gets a verdict from the skew measured against the skew predicted; an
    applied one back to its old metrics is reverted; one whose HPA changed otherwise says so. Also the fixes
    to carry on as applied."""
    metrics = dict(zip(zip(now.hpas["namespace"], now.hpas["hpa"], strict=True), now.hpas["metrics"], strict=True))
    skew_now = {(r.namespace, r.hpa): r for r in now.hpa_skew.itertuples(index=False)}
    skew_then = {(r.namespace, r.hpa): r for r in before.hpa_skew.itertuples(index=False)}
    rows, carried = [], []
    for f in before.fixes.itertuples(index=False):
        key = (f.namespace, f.hpa)
        current = _reads(now, f, metrics)
        if current is None:
            continue  # the HPA or its workload is gone: its finding says so
        measured = skew_now[key].skew_percent if key in skew_now else np.nan
        if current == f.metrics_after:
            carried.append({**f._asdict(), "status": "applied"})
            if f.status == "applied":
                continue  # applied before, still applied: judged when it was
            off = abs(measured) - abs(float(f.predicted_skew_percent))
            held = abs(measured) < VERIFIED_POINTS or off <= VERIFIED_POINTS
            verdict = "fix-verified" if held else "fix-underperformed"
            note = "" if held else _why(skew_then.get(key), skew_now.get(key), off)
        elif current == f.metrics_before:
            if f.status != "applied":
                continue  # recommended, not applied (yet)
            verdict, note = "fix-reverted", f"the HPA is back to {f.metrics_before}"
        else:
            verdict, note = "changed-otherwise", f"recommended: {f.metrics_after}"
        rows.append((f.namespace, f.hpa, f.remedy, verdict, float(f.predicted_skew_percent), float(measured),
                     current, note))  # fmt: skip
    hpa_fixes = before.fixes[before.fixes["remedy"] != "sidecar-requests"]
    recommended = set(zip(hpa_fixes["namespace"], hpa_fixes["hpa"], strict=True))
    for ns, hpa, then in zip(before.hpas["namespace"], before.hpas["hpa"], before.hpas["metrics"], strict=True):
        key = (ns, hpa)
        if key in metrics and key not in recommended and metrics[key] != then:
            measured = skew_now[key].skew_percent if key in skew_now else np.nan
            rows.append((ns, hpa, "", "changed-not-recommended", np.nan, float(measured), metrics[key],
                         f"was {then}"))  # fmt: skip
    return (
        pd.DataFrame(rows, columns=list(VERDICT_COLUMNS)),
        pd.DataFrame(carried, columns=list(FIX_COLUMNS)).drop_duplicates(["namespace", "hpa", "metrics_after"]),
    )


def _why(then: Any, now: Any, off: float) -> str:
    """What the replays can tell of why a fix fell short: the app's load or the sidecars' share moved."""
    reasons = [f"{off:+.1f} points beyond the prediction"]
    if then is not None and now is not None:
        load_then, load_now = float(then.replica_hours_app_only), float(now.replica_hours_app_only)
        if load_then > 0 and abs(load_now / load_then - 1) > 0.2:
            reasons.append(f"the app's load changed (app-only replica-hours {load_then:,.1f} → {load_now:,.1f})")
        share_then, share_now = float(then.sidecar_cpu_usage_share), float(now.sidecar_cpu_usage_share)
        if share_then > 0 and abs(share_now / share_then - 1) > 0.2:
            reasons.append(f"the sidecars' share of CPU usage changed ({share_then:.0%} → {share_now:.0%})")
    return "; ".join(reasons)


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
    kept = before[WORKLOAD_KEY].drop_duplicates().merge(now[WORKLOAD_KEY].drop_duplicates())
    for frame_b, frame_n, with_container in (
        (before[WORKLOAD_KEY].drop_duplicates(), now[WORKLOAD_KEY].drop_duplicates(), False),
        (before.loc[before["role"] == "sidecar", [*WORKLOAD_KEY, "container"]],
         now.loc[now["role"] == "sidecar", [*WORKLOAD_KEY, "container"]], True),
    ):  # fmt: skip
        key = [*WORKLOAD_KEY, "container"] if with_container else WORKLOAD_KEY
        joined = frame_b.merge(frame_n, on=key, how="outer", indicator="side")
        if with_container:  # a sidecar of a workload that appeared or went is said with its workload
            joined = joined.merge(kept, on=WORKLOAD_KEY)
        for r in joined[joined["side"] != "both"].itertuples(index=False):
            rows.append(("appeared" if r.side == "right_only" else "gone", r.namespace, r.workload_kind,
                         r.workload, r.container if with_container else ""))  # fmt: skip
    table = pd.DataFrame(rows, columns=list(CHANGE_COLUMNS["workloads"]))
    return table.sort_values(["status", *WORKLOAD_KEY, "container"], kind="stable").reset_index(drop=True)
