"""The analysis result: every table the findings and renderers read, and its headline figures.

It lives below the renderers (which read it) and the API (which builds it), so imports run one way.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any

import numpy as np
import pandas as pd

from analyzer.findings.causes import with_causes
from analyzer.findings.changes import FIX_COLUMNS, STATE_COLUMNS, Changes, RunState, requests_now
from analyzer.findings.hpa_skew import Direction
from analyzer.findings.jobs_held import JOB_HOLD_TABLE_COLUMNS
from analyzer.findings.native_migration import MIGRATION_COLUMNS
from analyzer.findings.severity import SEVERITIES, severity_rank
from analyzer.findings.sidecar_failures import FAILURE_TABLE_COLUMNS, TIMELINE_COLUMNS
from analyzer.findings.source_replay import KIT_COLUMNS
from analyzer.findings.start_order import START_ORDER_TABLE_COLUMNS
from analyzer.findings.stop_order import STOP_ORDER_TABLE_COLUMNS
from analyzer.model.classify import Role
from analyzer.prices import Prices
from analyzer.snapshot.schema import Metadata

SUMMARY_COLUMNS: dict[str, str] = {
    "workloads": "workloads analysed",
    "containers": "containers of those workloads (app, sidecar, init)",
    "sidecars": "sidecar containers",
    "ambiguous_pods": "pods whose app container had to be guessed",
    "multi_app_workloads": "workloads with several app containers, one or more counted as app on no evidence",
    "sidecar_cpu_request_share": "sidecars' share of the requested CPU, 0 to 1",
    "sidecar_memory_request_share": "sidecars' share of the requested memory, 0 to 1",
    "sidecar_cost_month": "what the sidecars' requests cost per month, dollars",
    "hpas": "HPAs in the snapshot",
    "hpas_stalled": "HPAs that cannot compute a replica count (a container lacks a request)",
    "hpas_skewed": "HPAs whose replicas the sidecars move by 2 % or more (inflated + diluted)",
    "hpas_inflated": "HPAs the sidecars make run more replicas than the app needs",
    "hpas_diluted": "HPAs the sidecars make run fewer replicas than the app needs",
    "hpas_uncertain": "HPAs rebuilt from kube-state-metrics whose replay would be skewed or stalled, but whose "
    "metrics cannot be told apart (Resource or ContainerResource): not in the waste and shortfall; collect with "
    "the Kubernetes API to measure them",
    "waste_replica_hours": "replica-hours run beyond the app's need over the window (HPAs with a finding)",
    "waste_cost_month": "those excess replica-hours per month at the configured prices, dollars",
    "shortfall_replica_hours": "replica-hours the app needed and did not get over the window: missing "
    "capacity, never a saving (HPAs with a finding)",
    "under_provisioned_hours": "hours, summed over HPAs, that an HPA ran fewer replicas than the app needed",
    "stalled_hours": "hours, summed over stalled HPAs, that they could not compute a replica count",
    "sidecar_restarts": "restarts of sidecars over the window (from the containers' status; 0 when not recorded)",
    "failure_held_pod_hours": "pod-hours new pods ran unready because a sidecar turned ready after their app",
    "failure_down_pod_hours": "pod-hours pods were NotReady because a sidecar was down (crashed, OOM-killed, "
    "restarting)",
    "failure_replica_hours": "replica-hours HPAs ran beyond their replay without the missing metrics: the pods "
    "restarted sidecars left out of the metrics (each HPA once)",
    "native_sidecars_offered": "classic sidecars the move to a native sidecar is offered for (docs/native-sidecars.md)",
    "native_sidecars_vpa_lost": "of those, sidecars a VPA sizes now and would no longer size",
    "start_order_pods_failed": "new pods whose app restarted at start before its classic sidecar was up "
    "(docs/lifecycle.md)",
    "start_order_pod_hours": "pod-hours those pods were unready after the sidecar was up",
    "stop_order_pods_removed": "pods scale-downs removed whose classic proxy may exit before the app drained",
    "jobs_held_pod_hours": "pod-hours Job pods were kept running after their app finished by a classic sidecar "
    "(docs/lifecycle.md)",
    "jobs_held_cost_month": "what those pods' requests cost per month at the configured prices, dollars",
    "jobs_unfinished": "Jobs whose pod a sidecar still held at the window's end: not completed",
    "vpas": "VPAs in the snapshot",
    "vpa_hazards": "sidecar hazards the VPA meets",
    "findings_high": "findings of high severity",
    "findings_medium": "findings of medium severity",
    "findings_low": "findings of low severity",
}
"""The keys of :meth:`Analysis.summary`, documented (the JSON schema and docs/findings.md use them)."""


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
    ``findings``: everything above, with a severity and a cause
    (:data:`analyzer.findings.summary.FINDING_TABLE_COLUMNS`);
    ``causes``: the findings grouped by cause (:data:`analyzer.findings.causes.CAUSE_COLUMNS`);
    ``failures``: each sidecar's readiness, restarts and OOM kills, their effect and fix
    (:data:`analyzer.findings.sidecar_failures.FAILURE_TABLE_COLUMNS`; empty without container status);
    ``failure_series``: the failing sidecars over time, for the timelines
    (:data:`analyzer.findings.sidecar_failures.TIMELINE_COLUMNS`; not written to CSV or JSON);
    ``native_migration``: each classic sidecar moved to a native one, simulated
    (:data:`analyzer.findings.native_migration.MIGRATION_COLUMNS`);
    ``start_order``: workloads whose app restarted at start before its classic sidecar was up
    (:data:`analyzer.findings.start_order.START_ORDER_TABLE_COLUMNS`; empty without container status);
    ``stop_order``: workloads whose classic proxy may exit before the app drains, with their scale-downs
    (:data:`analyzer.findings.stop_order.STOP_ORDER_TABLE_COLUMNS`);
    ``jobs_held``: Jobs and CronJobs whose pods a classic sidecar kept running after the app
    (:data:`analyzer.findings.jobs_held.JOB_HOLD_TABLE_COLUMNS`; empty without container status);
    ``pod_usage``: one pod's usage per container over time (:data:`analyzer.model.pod_usage.POD_USAGE_COLUMNS`),
    for the usage plots (not written to CSV or JSON: it is the snapshot's own data, binned);
    ``source_kits``: what replaying the causes' members at a change at the source needs
    (:data:`analyzer.findings.source_replay.KIT_COLUMNS`; kept for the merge, never written to a report).
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
    causes: pd.DataFrame
    pod_usage: pd.DataFrame
    failures: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(FAILURE_TABLE_COLUMNS)))
    failure_series: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(TIMELINE_COLUMNS)))
    native_migration: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(MIGRATION_COLUMNS)))
    start_order: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(START_ORDER_TABLE_COLUMNS)))
    stop_order: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(STOP_ORDER_TABLE_COLUMNS)))
    jobs_held: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(JOB_HOLD_TABLE_COLUMNS)))
    source_kits: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(KIT_COLUMNS)))
    samples: int = 0
    """Usage samples the analysis read (the snapshot's rows): coverage, with the metadata's window."""
    rebuilt: tuple[tuple[str, int], ...] = ()
    """Objects the collector rebuilt from kube-state-metrics, as (kind, count): the note a merge recomputes."""
    changes: Changes | None = None
    """What changed since an earlier run of the cluster, when the report is compared with one."""

    def state(self) -> RunState:
        """What this run found, as a later run compares it (:mod:`analyzer.findings.changes`)."""
        remedies = self.remedies
        chosen = remedies[remedies["recommended"] & (remedies["patch"] != "")] if len(remedies) else remedies
        before = dict(
            zip(zip(self.hpas["namespace"], self.hpas["hpa"], strict=True), self.hpas["metrics"], strict=True)
        )
        skew = self.hpa_skew
        targets = dict(zip(zip(skew["namespace"], skew["hpa"], strict=True), skew["target"], strict=True))

        def reads_before(r: Any) -> str:
            if r.remedy != "sidecar-requests":
                return before.get((r.namespace, r.hpa), "")
            names = [part.split(" cpu ", 1)[0] for part in str(r.reads_after).split("; ")]
            return requests_now(self.containers, r.namespace, str(targets.get((r.namespace, r.hpa), "")), names)

        at = self.metadata.end.isoformat().replace("+00:00", "Z")
        fixes = pd.DataFrame(
            [(r.namespace, r.hpa, r.remedy, reads_before(r), r.reads_after, float(r.residual_skew_percent),
              "recommended", at) for r in chosen.itertuples(index=False)],
            columns=list(FIX_COLUMNS),
        )  # fmt: skip
        return RunState(
            end=self.metadata.end,
            summary=self.summary(),
            **{name: getattr(self, name)[list(columns)] for name, columns in STATE_COLUMNS.items()},
            fixes=fixes,
        )

    @classmethod
    def table_names(cls) -> tuple[str, ...]:
        """The DataFrame fields, in declaration order (the partial results and the merge go by them)."""
        return tuple(f.name for f in fields(cls) if f.type in ("pd.DataFrame", pd.DataFrame))

    def at_or_above(self, severity: str) -> pd.DataFrame:
        """The findings of ``severity`` or worse (``severity`` one of low, medium, high)."""
        rank = severity_rank(severity)
        return self.findings[self.findings["severity"].map(severity_rank) >= rank]

    def keeping(self, severity: str) -> Analysis:
        """This analysis with only the findings of ``severity`` or worse, and the causes of those (itself when
        that is every finding: its causes stand)."""
        if (self.findings["severity"].map(severity_rank) >= severity_rank(severity)).all():
            return self
        findings, causes, _ = with_causes(
            self.at_or_above(severity).drop(columns="cause"), self.hpa_skew, self.containers, self.vpa_hazards,
            self.remedies, self.source_kits,
        )  # fmt: skip
        return replace(self, findings=findings.reset_index(drop=True), causes=causes)

    @property
    def ambiguous(self) -> pd.DataFrame:
        """Pods whose app container had to be guessed, with the choice and how to override it."""
        return self.classes[self.classes["ambiguous"]][["namespace", "pod", "workload", "container", "note"]]

    def summary(self) -> dict[str, int | float]:
        """Headline figures (:data:`SUMMARY_COLUMNS`) for a terminal, a notebook, the report and metrics.

        Waste and shortfall never mix: waste is replica-hours (and dollars) the sidecars add beyond the
        app's need; shortfall is replica-hours the app needed and did not get, and has no dollar figure.
        Both sum the HPAs with a finding (inflation, dilution or stalled).
        """
        cluster = self.cluster.iloc[0] if len(self.cluster) else None
        direction = self.hpa_skew["direction"]
        skewed = direction.isin([Direction.INFLATION, Direction.DILUTION])
        flagged = self.hpa_skew[skewed | (direction == Direction.STALLED)]

        def total(column: str, digits: int = 1) -> float:
            return round(float(flagged[column].fillna(0).sum()), digits)

        per_hpa = self.failures.drop_duplicates(["namespace", "workload_kind", "workload"])  # one row per sidecar
        migrating = self.native_migration

        return {
            "workloads": len(self.workloads),
            "containers": len(self.containers),
            "sidecars": int((self.containers["role"] == Role.SIDECAR).sum()),
            "ambiguous_pods": int(self.classes.loc[self.classes["ambiguous"], "pod"].nunique()),
            "multi_app_workloads": int((self.findings["kind"] == "multi-app").sum()),
            "sidecar_cpu_request_share": _share(cluster, "sidecar_cpu_request_share"),
            "sidecar_memory_request_share": _share(cluster, "sidecar_memory_request_share"),
            "sidecar_cost_month": round(float(cluster["sidecar_cost_month"]), 2) if cluster is not None else 0.0,
            "hpas": len(self.hpas),
            "hpas_stalled": int((self.hpas["status"] == "stalled").sum()),
            "hpas_skewed": int(skewed.sum()),
            "hpas_inflated": int((direction == Direction.INFLATION).sum()),
            "hpas_diluted": int((direction == Direction.DILUTION).sum()),
            "hpas_uncertain": int((direction == Direction.UNCERTAIN).sum()),
            "waste_replica_hours": total("excess_replica_hours"),
            "waste_cost_month": total("waste_cost_month", 2),
            "shortfall_replica_hours": total("missing_replica_hours"),
            "under_provisioned_hours": total("under_provisioned_hours"),
            "stalled_hours": round(
                float(flagged.loc[flagged["direction"] == Direction.STALLED, "stalled_hours"].sum()), 1
            ),
            "sidecar_restarts": int(self.failures["restarts"].sum()),
            "failure_held_pod_hours": round(float(self.failures["held_pod_hours"].sum()), 2),
            "failure_down_pod_hours": round(float(self.failures["down_pod_hours"].sum()), 2),
            "failure_replica_hours": round(float(per_hpa["replica_hours_beyond"].sum()), 2),
            "vpas": int((self.vpa["vpa"] != "").groupby([self.vpa.namespace, self.vpa.vpa]).any().sum()),
            "native_sidecars_offered": int(migrating["offered"].sum()),
            "native_sidecars_vpa_lost": int((migrating["offered"] & migrating["vpa_stops_sizing"]).sum()),
            "start_order_pods_failed": int(self.start_order["pods_failed"].sum()),
            "start_order_pod_hours": round(float(self.start_order["ready_lost_pod_hours"].sum()), 2),
            "stop_order_pods_removed": int(self.stop_order["pods_removed"].sum()),
            "jobs_held_pod_hours": round(float(self.jobs_held["held_pod_hours"].sum()), 2),
            "jobs_held_cost_month": round(float(self.jobs_held["cost_month"].sum()), 2),
            "jobs_unfinished": int(self.jobs_held["jobs_unfinished"].sum()),
            "vpa_hazards": len(self.vpa_hazards),
            **{f"findings_{sev}": int((self.findings["severity"] == sev).sum()) for sev in reversed(SEVERITIES)},
        }

    def _repr_html_(self) -> str:
        return pd.DataFrame([self.summary()]).to_html(index=False)


def _share(cluster: pd.Series | None, column: str) -> float:
    """A cluster share to four decimals, 0 when there is nothing to share."""
    value = float(cluster[column]) if cluster is not None else float("nan")
    return round(value, 4) if np.isfinite(value) else 0.0
