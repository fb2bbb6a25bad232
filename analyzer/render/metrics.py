"""Headline figures as Prometheus metrics: a textfile for node-exporter, or a push to a Pushgateway."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Gauge, generate_latest, push_to_gateway

from analyzer.errors import SidecarImpactError, SourceError, clip, reason
from analyzer.findings.hpa_skew import Direction
from analyzer.findings.severity import SEVERITIES
from analyzer.render.outputs import cannot_write, check_file_target

if TYPE_CHECKING:
    from analyzer.findings.analysis import Analysis

JOB = "sidecar-impact"


def registry_of(analysis: Analysis, duration_s: float | None = None, now: float | None = None) -> CollectorRegistry:
    """Gauges named by Prometheus conventions (base units, ``_dollars``, ``_ratio``), labelled by cluster.

    Written only by a run that succeeded, so ``sidecar_impact_last_success_timestamp_seconds`` is the
    time to alert on when it grows old; ``duration_s`` is the run's wall time (omitted when None).
    """
    reg = CollectorRegistry()
    cluster = analysis.metadata.cluster
    s = analysis.summary()

    def gauge(name: str, doc: str, labels: tuple[str, ...] = ()) -> Gauge:
        return Gauge(name, doc, ("cluster", *labels), registry=reg)

    def single(name: str, doc: str, value: float) -> None:
        gauge(name, doc).labels(cluster).set(value)

    single("sidecar_impact_last_success_timestamp_seconds", "When the last run that succeeded finished",
           time.time() if now is None else now)  # fmt: skip
    if duration_s is not None:
        single("sidecar_impact_run_duration_seconds", "Wall time of the last run that succeeded", duration_s)
    meta = analysis.metadata
    single("sidecar_impact_snapshot_start_timestamp_seconds", "Start of the analysed window", meta.start.timestamp())
    single("sidecar_impact_snapshot_end_timestamp_seconds", "End of the analysed window", meta.end.timestamp())
    single("sidecar_impact_snapshot_pods", "Pods in the snapshot", float(analysis.classes["pod"].nunique()))
    single("sidecar_impact_snapshot_samples", "Usage samples in the snapshot", float(analysis.samples))
    single("sidecar_impact_workloads", "Workloads analysed", s["workloads"])
    single(
        "sidecar_impact_sidecar_cost_dollars_per_month", "Monthly cost of sidecar containers", s["sidecar_cost_month"]
    )
    single("sidecar_impact_hpas", "HPAs analysed", s["hpas"])
    single("sidecar_impact_hpas_stalled", "HPAs that cannot compute a replica count", s["hpas_stalled"])
    single("sidecar_impact_hpas_skewed", "HPAs whose replicas sidecars move by 2 % or more", s["hpas_skewed"])
    single("sidecar_impact_hpas_uncertain", "HPAs rebuilt from kube-state-metrics whose skew cannot be told (not in "
           "the waste and shortfall)", s["hpas_uncertain"])  # fmt: skip
    single("sidecar_impact_native_sidecars_offered", "Classic sidecars the move to a native sidecar is offered for",
           s["native_sidecars_offered"])  # fmt: skip
    single("sidecar_impact_native_sidecars_vpa_lost", "Offered sidecars a VPA sizes now and would no longer size",
           s["native_sidecars_vpa_lost"])  # fmt: skip
    held = gauge("sidecar_impact_jobs_held_pod_hours", "Pod-hours a classic sidecar kept Job pods running after "
                 "their app finished, over the window", ("namespace", "workload_kind", "workload", "container"))
    for j in analysis.jobs_held.itertuples(index=False):
        held.labels(cluster, j.namespace, j.workload_kind, j.workload, j.held_by).set(j.held_pod_hours)
    single("sidecar_impact_jobs_held_cost_dollars_per_month", "What Job pods held open by a sidecar cost per month",
           s["jobs_held_cost_month"])  # fmt: skip
    single("sidecar_impact_jobs_unfinished", "Jobs a sidecar still held at the window's end", s["jobs_unfinished"])
    _lifecycle(gauge, cluster, analysis)
    failures = analysis.failures
    if len(failures):  # only when the snapshot recorded the containers' status: no series means not assessed
        restarts = gauge("sidecar_impact_failure_restarts", "Sidecar restarts over the window, by sidecar and reason",
                         ("namespace", "workload", "container", "reason"))  # fmt: skip
        down = gauge("sidecar_impact_failure_unready_pod_seconds",
                     "Pod-seconds pods were NotReady because of a sidecar (down, or ready after the app)",
                     ("namespace", "workload", "container"))  # fmt: skip
        held = gauge("sidecar_impact_failure_replica_seconds",
                     "Replica-seconds an HPA ran beyond its replay without the sidecars' missing metrics",
                     ("namespace", "workload", "container"))  # fmt: skip
        hit = failures[(failures["restarts"] > 0) | (failures["pods_held"] > 0)]  # a series per failing sidecar
        for f in hit.itertuples(index=False):
            who = (f.namespace, f.workload, f.container)
            restarts.labels(cluster, *who, "OOMKilled").set(f.oom_kills)
            restarts.labels(cluster, *who, "other").set(f.error_exits)
            down.labels(cluster, *who).set((f.down_pod_hours + f.held_pod_hours) * 3600)
            held.labels(cluster, *who).set(f.replica_hours_beyond * 3600)
    findings = gauge("sidecar_impact_findings", "Findings by severity and kind", ("severity", "kind"))
    counts = analysis.findings.groupby(["severity", "kind"]).size()
    for severity in reversed(SEVERITIES):  # every severity present, so an alert sees 0 rather than no series
        if severity not in counts.index.get_level_values(0):
            findings.labels(cluster, severity, "any").set(0)
    for (severity, kind), n in counts.items():
        findings.labels(cluster, severity, kind).set(n)
    _per_namespace(gauge, cluster, analysis)
    _per_cause(gauge, cluster, analysis)
    if analysis.changes is not None:  # compared with an earlier run (--runs)
        for status in ("new", "resolved"):
            metric = gauge(f"sidecar_impact_findings_{status}", f"Findings {status} since the last run, by severity",
                           ("severity",))  # fmt: skip
            for severity, n in analysis.changes.counts(status).items():
                metric.labels(cluster, severity).set(n)
    skew = gauge(
        "sidecar_impact_hpa_skew_ratio", "Replica-hours as deployed over app-only, minus one", ("namespace", "hpa")
    )
    for r in analysis.hpa_skew.dropna(subset=["skew_percent"]).itertuples(index=False):
        skew.labels(cluster, r.namespace, r.hpa).set(r.skew_percent / 100.0)
    return reg


NAMESPACE_FIGURES = {
    "waste_cost_month": ("sidecar_impact_waste_dollars_per_month", "Monthly cost of replicas beyond the app's need"),
    "excess_replica_hours": ("sidecar_impact_waste_replica_hours", "Replica-hours beyond the app's need in the window"),
    "missing_replica_hours": (
        "sidecar_impact_shortfall_replica_hours",
        "Replica-hours the app needed and did not get in the window",
    ),
    "under_provisioned_hours": (
        "sidecar_impact_under_provisioned_hours",
        "Hours, summed over HPAs, below the app's replica need",
    ),
    "stalled_hours": ("sidecar_impact_stalled_hours", "Hours, summed over stalled HPAs, without a replica count"),
}
"""Waste and shortfall per namespace (HPAs with a finding), the split the summary makes: never added together."""


CAUSE_FIGURES = {
    "findings": ("sidecar_impact_cause_findings", "Findings of one cause (docs/findings.md, Causes)"),
    "waste_cost_month": ("sidecar_impact_cause_waste_dollars_per_month", "Monthly cost of the cause's excess replicas"),
    "missing_replica_hours": (
        "sidecar_impact_cause_shortfall_replica_hours",
        "Replica-hours the cause's HPAs' apps needed and did not get in the window",
    ),
}
"""Per cause, labelled by its key, severity and kind: one series per problem, however many objects it hits."""


LIFECYCLE_FIGURES = {
    "start_order": (
        ("sidecar_impact_start_order_unready_pod_seconds", "Pod-seconds new pods were not Ready after their sidecar "
         "was because the app had started before it", "ready_lost_pod_hours", 3600.0),
        ("sidecar_impact_start_order_app_restarts", "App restarts at pod start, before the sidecar was ready, over "
         "the window", "app_restarts", 1.0),
    ),
    "stop_order": (
        ("sidecar_impact_stop_order_exposed_seconds", "Seconds of the grace period the app may run without its proxy "
         "on shutdown", "exposed_s", 1.0),
        ("sidecar_impact_stop_order_pods_removed", "Pods the workload's scale-downs removed over the window, each "
         "exposed so", "pods_removed", 1.0),
    ),
}  # fmt: skip
"""Per analysis table: (metric, help, column, factor to the metric's unit), a series per row."""


def _lifecycle(gauge: Callable[..., Gauge], cluster: str, analysis: Analysis) -> None:
    """Start and stop order per (workload, classic sidecar) with a row: no series means none found."""
    who = ("namespace", "workload_kind", "workload", "container")
    for table, figures in LIFECYCLE_FIGURES.items():
        rows = getattr(analysis, table)
        for name, doc, column, factor in figures:
            metric = gauge(name, doc, who)
            for labels, value in zip(rows[list(who)].itertuples(index=False, name=None), rows[column], strict=True):
                metric.labels(cluster, *labels).set(float(value) * factor)


def _per_cause(gauge: Callable[..., Gauge], cluster: str, analysis: Analysis) -> None:
    for column, (name, doc) in CAUSE_FIGURES.items():
        metric = gauge(name, doc, ("cause", "severity", "kind"))
        for c in analysis.causes.itertuples(index=False):
            metric.labels(cluster, c.cause, c.severity, c.kind).set(float(getattr(c, column)))


def _per_namespace(gauge: Callable[..., Gauge], cluster: str, analysis: Analysis) -> None:
    table = analysis.hpa_skew
    flagged = table[table["direction"].isin([Direction.INFLATION, Direction.DILUTION, Direction.STALLED])].copy()
    flagged.loc[flagged["direction"] != Direction.STALLED, "stalled_hours"] = 0.0
    sums = flagged.groupby("namespace")[list(NAMESPACE_FIGURES)].sum() if len(flagged) else None
    for column, (name, doc) in NAMESPACE_FIGURES.items():
        metric = gauge(name, doc, ("namespace",))
        for namespace in sorted(set(table["namespace"])):
            value = float(sums.loc[namespace, column]) if sums is not None and namespace in sums.index else 0.0
            metric.labels(cluster, namespace).set(value)


def write_metrics_file(analysis: Analysis, path: str | os.PathLike[str], duration_s: float | None = None) -> None:
    """Write the text exposition atomically: a fresh temporary file (``mkstemp``: created exclusively,
    never through a link) in the same folder, renamed over ``path`` when whole."""
    target = Path(path)
    check_file_target(target, "--metrics-file")
    text = generate_latest(registry_of(analysis, duration_s))
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(text)
            os.chmod(tmp, 0o644)  # node-exporter runs as another user
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise cannot_write(target, exc) from None


def push_metrics(analysis: Analysis, url: str, timeout_s: float = 10.0, duration_s: float | None = None) -> None:
    """Push to a Pushgateway (job ``sidecar-impact``, grouped by cluster); failures are a :class:`SourceError`."""
    try:
        push_to_gateway(
            url,
            job=JOB,
            registry=registry_of(analysis, duration_s),
            grouping_key={"cluster": analysis.metadata.cluster},
            timeout=timeout_s,
        )
    except ValueError as exc:
        raise SidecarImpactError(f"--pushgateway {clip(url)}: not a URL ({reason(exc)})") from exc
    except OSError as exc:
        raise SourceError(f"pushgateway {url}: {reason(exc)}") from exc
