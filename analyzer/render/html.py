"""The HTML report: one self-contained page, every value escaped. The page is a Jinja2 template
(``templates/report.html``, autoescaping on); the tables, lists and figures it holds are built here and in
:mod:`analyzer.render.html_hpas`."""

from __future__ import annotations

import functools
from collections.abc import Callable
from html import escape
from importlib import resources
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import jinja2
import numpy as np
import pandas as pd
from markupsafe import Markup

from analyzer.__about__ import __version__
from analyzer.findings.analysis import SUMMARY_COLUMNS
from analyzer.findings.hpa_skew import Direction, by_impact
from analyzer.findings.severity import Severity
from analyzer.render.drawing import FigureSheet
from analyzer.render.html_hpas import action_list, hpa_order, hpa_sections
from analyzer.render.renderer import DEFAULT_TOP, Renderer

if TYPE_CHECKING:
    from analyzer.findings.analysis import Analysis

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#222;max-width:80rem}
table{border-collapse:collapse;margin:1rem 0;font-size:.9rem}
th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:left}
th{background:#f2f2f2}.stalled{color:#b00020;font-weight:600}
.headline{display:flex;gap:1rem;flex-wrap:wrap}.headline>div{border:1px solid #ccc;padding:.5rem 1rem;flex:1}
.big{font-size:1.6rem;font-weight:600;margin:.2rem 0}.scroll{overflow-x:auto;max-width:100%}
nav ol,ol.index{columns:3;font-size:.9rem}details>summary{cursor:pointer}:target{background:#fff6d5}
figure{margin:1rem 0}img{max-width:100%;height:auto}figcaption{font-size:.85rem;color:#555}
@media print{section{break-inside:avoid}}
"""


def _fix_summary(fix: str) -> str:
    """A finding's fix in a table cell: what it changes and the command (the patch is in Remedies and fixes/)."""
    lines = [line for line in str(fix).splitlines() if line.strip()]
    if lines and lines[0].startswith("# rules.yaml"):
        return "a --rules entry (report.json has it)"
    head = lines[:1] + [line[2:] for line in lines if line.startswith("# kubectl ")]
    return " ".join(head) if head else ""


def _since(analysis: Analysis) -> str:
    """What changed since the earlier run: findings new and resolved, severities that moved, the HPAs whose
    direction changed or skew moved, the workloads and sidecars that appeared or went."""
    changes = analysis.changes
    if changes is None:
        return ""
    f = changes.findings
    moved = f[f["status"] != "persisting"][["status", "severity_now", "severity_before", "kind", "namespace",
                                            "object", "message"]]  # fmt: skip
    severity = f[(f["status"] == "persisting") & (f["severity_before"] != f["severity_now"])]
    return (
        f"<h3>Findings new or resolved ({len(moved):,})</h3>" + (_table(moved) if len(moved) else "<p>None.</p>")
        + f"<h3>Findings whose severity changed ({len(severity):,})</h3>"
        + (_table(severity[["severity_before", "severity_now", "kind", "namespace", "object"]]) if len(severity)
           else "<p>None.</p>")
        + f"<h3>HPAs whose direction changed or whose skew moved by a point or more ({len(changes.hpas):,})</h3>"
        + (_table(changes.hpas, {"skew_percent_before": "{:+.1f}%", "skew_percent_now": "{:+.1f}%",
                                 "waste_cost_month_change": "{:+,.2f}", "missing_replica_hours_change": "{:+,.1f}"})
           if len(changes.hpas) else "<p>None.</p>")
        + f"<h3>Fixes recommended earlier: applied, held, reverted ({len(changes.fixes):,})</h3>"
        + (_table(changes.fixes, {"predicted_skew_percent": "{:+.1f}%", "measured_skew_percent": "{:+.1f}%"})
           if len(changes.fixes) else "<p>None seen applied or changed since.</p>")
        + f"<h3>Workloads and sidecars that appeared or went ({len(changes.workloads):,})</h3>"
        + (_table(changes.workloads) if len(changes.workloads) else "<p>None.</p>")
    )  # fmt: skip


def _findings_by_cause(analysis: Analysis) -> str:
    """The causes as a table, then each cause's findings folded under it (the highest severity first)."""
    if not len(analysis.findings):
        return "<p>None.</p>"
    causes = analysis.causes
    overview = _table(
        causes[["severity", "summary", "findings", "excess_replica_hours", "missing_replica_hours",
                "waste_cost_month", "stalled_hours", "residual_replica_hours", "change"]],
        {"excess_replica_hours": "{:,.1f}", "missing_replica_hours": "{:,.1f}", "waste_cost_month": "${:,.2f}",
         "stalled_hours": "{:,.1f}", "residual_replica_hours": "{:,.1f}"},
    )  # fmt: skip
    findings = analysis.findings.assign(fix=analysis.findings["fix"].map(_fix_summary))
    columns = ["severity", "kind", "namespace", "object", "message", "cost_month", "fix"]
    members = findings.groupby("cause", sort=False).indices
    parts = [
        f"<details><summary>{escape(c.severity)}: {escape(c.summary)} ({c.findings:,} finding"
        f"{'s' * (c.findings != 1)})</summary>"
        + (f"<pre>{escape(c.fix)}</pre>" if c.fix else "")
        + _cause_members(findings.iloc[members[c.cause]][columns], c)
        + "</details>"
        for c in causes.itertuples(index=False)
    ]
    return f"<p>{len(findings):,} findings with {len(causes):,} causes.</p>{overview}{''.join(parts)}"


LEFT = "left after the change (replica-h)"
"""The column of a source-fixed cause's findings: each member's net skew replayed under the change."""


def _cause_members(rows: pd.DataFrame, cause: Any) -> str:
    """A cause's findings; with a change at its source, each member's residual beside it (its replay under that
    change: what the one value leaves of its skew)."""
    if cause.fix and cause.cpu_request:
        left = dict(zip(cause.members, cause.member_residual_replica_hours, strict=True))
        rows = rows.assign(**{LEFT: (rows["namespace"] + "/" + rows["object"]).map(left)})
    return _rows_table(rows, {"cost_month": "${:,.2f}", LEFT: "{:+,.1f}"})


def _failures(analysis: Analysis, top: int, sheet: FigureSheet) -> str:
    """What late, crashing and OOM-killed sidecars cost: the figures per sidecar that failed, each fix and the
    timelines of the ``top`` costliest, or why nothing could be assessed."""
    from analyzer.render import plots  # matplotlib: imported only when a page is drawn

    failures = analysis.failures
    if not len(failures):
        return ("<p>Not assessed: the snapshot has no container status over time (<code>container_status.parquet"
                "</code>; <code>collect</code> from a Prometheus that scrapes kube-state-metrics records it).</p>")
    hit = failures[(failures["restarts"] > 0) | (failures["pods_held"] > 0)]
    s = analysis.summary()
    lead = (f"<p>{len(failures):,} sidecars assessed, {len(hit):,} failed or held pods unready (the costliest "
            f"{min(len(hit), SHOWN_ROWS):,} below, by the capacity they took out of service): "
            f"{s['sidecar_restarts']:,} restarts; pods NotReady {s['failure_down_pod_hours']:,.1f} pod-hours because "
            f"a sidecar was down and {s['failure_held_pod_hours']:,.2f} because one turned ready after the app; "
            f"the pods left out of the metrics the scrape a sidecar came back held HPAs "
            f"{s['failure_replica_hours']:,.1f} replica-hours beyond their replay without them. "
            "A late or crashed sidecar moves no HPA replica by itself (the HPA averages the load over "
            "the pods it counts); it takes capacity out of service. docs/failures.md says how each figure is "
            "measured.</p>")  # fmt: skip
    if not len(hit):
        return lead
    # The costliest first (capacity lost, then restarts): on a fleet the table is long, its top is the news.
    hit = hit.sort_values(["cost_month", "restarts"], ascending=False, kind="stable", na_position="last")
    shown = hit.assign(workload=hit["namespace"] + "/" + hit["workload"])
    table = _table(
        shown.head(SHOWN_ROWS)[["workload", "container", "restarts", "restarts_per_pod_day", "oom_kills",
               "down_pod_hours", "missing_metric_scrapes", "replica_hours_beyond", "decisions_changed", "pods_started",
               "ready_delay_p50_s", "ready_delay_p95_s", "held_pod_hours", "cost_month"]],
        {"ready_delay_p50_s": "{:.0f} s", "ready_delay_p95_s": "{:.0f} s", "held_pod_hours": "{:,.2f}",
         "restarts_per_pod_day": "{:.1f}", "down_pod_hours": "{:,.1f}", "replica_hours_beyond": "{:,.1f}",
         "cost_month": "${:,.2f}"},
    )  # fmt: skip
    fixes = []
    costly = hit.head(top)
    plotted = set(zip(costly["namespace"], costly["workload"], costly["container"], strict=True))
    for f, raw in zip(shown.head(SHOWN_ROWS).itertuples(index=False), hit.head(SHOWN_ROWS).itertuples(index=False),
                      strict=True):  # fmt: skip
        command = (f"<pre>{escape(f.command)}</pre><details><summary>patch</summary><pre>{escape(f.patch)}</pre>"
                   "</details>") if f.command else ""  # fmt: skip
        figure = ""
        if (raw.namespace, raw.workload, raw.container) in plotted:
            figure = sheet.figure(
                lambda r=raw: plots.failure_figure(analysis, r.namespace, r.workload, r.container),
                f"{raw.namespace}/{raw.workload}: {raw.container}'s restarts and the pods it held unready, against "
                "the HPA's replicas and those its missing metrics held",
            )
        fixes.append(f"<h3>{escape(f.workload)}: {escape(f.container)}</h3><p>Fix: {escape(f.fix)}.</p>{command}"
                     f"{figure}")  # fmt: skip
    more = len(shown) - SHOWN_ROWS
    tail = f"<p>{more:,} more, cheaper, in report.json's <code>failures</code>.</p>" if more > 0 else ""
    return lead + table + "".join(fixes) + tail


def _lifecycle(analysis: Analysis) -> str:
    """The classic sidecars' undeclared order: apps that start before their proxy, then Jobs held open
    (docs/lifecycle.md)."""
    return ("<h3>Apps that start before their sidecar</h3>" + _start_order(analysis)
            + "<h3>Proxies that may exit before the app drains</h3>" + _stop_order(analysis)
            + "<h3>Jobs held open after the app finished</h3>" + _jobs_held(analysis))  # fmt: skip


def _stop_order(analysis: Analysis) -> str:
    """Workloads whose classic proxy may exit before the app has drained, most pods removed first."""
    table = analysis.stop_order
    if not len(table):
        return "<p>No workload that scaled down has a classic proxy that exits before its app may have drained.</p>"
    lead = (f"<p>{len(table):,} workloads scaled down {int(table['pods_removed'].sum()):,} pods whose classic proxy "
            "exits on SIGTERM before the pod's grace period ends, while the app may still be draining: its calls out "
            "then fail. A risk: how each deleted pod ended is not in the data.</p>")  # fmt: skip
    ranked = table.sort_values("pods_removed", ascending=False, kind="stable").head(SHOWN_ROWS)
    shown = ranked.assign(workload=ranked["namespace"] + "/" + ranked["workload"])
    columns = ["workload", "container", "grace_s", "proxy_exits_s", "exposed_s", "scale_downs", "pods_removed"]
    shared = ""
    for column in ("setting", "fix"):
        if shown[column].nunique() == 1:
            shared += f"<p>{column.capitalize()}, for each: {escape(shown[column].iloc[0])}.</p>"
        else:
            columns.append(column)
    more = len(table) - SHOWN_ROWS
    tail = f"<p>{more:,} more in report.json's <code>stop_order</code>.</p>" if more > 0 else ""
    return lead + shared + _table(shown[columns]) + tail


def _start_order(analysis: Analysis) -> str:
    """Workloads whose app restarted at start while its classic sidecar was not up, each with its fix."""
    table = analysis.start_order
    if not len(table):
        return ("<p>No app restarted at start before its sidecar was up (or the snapshot records no container "
                "status).</p>")  # fmt: skip
    s = analysis.summary()
    lead = (f"<p>In {s['start_order_pods_failed']:,} new pods the app started before its classic sidecar was up, "
            f"exited and was restarted: the pods stayed unready {s['start_order_pod_hours']:,.2f} pod-hours after "
            "the sidecar was ready. The HPA's counts do not move; each new pod serves that much later.</p>")
    ranked = table.sort_values("ready_lost_pod_hours", ascending=False, kind="stable")
    shown = ranked.assign(
        workload=ranked["namespace"] + "/" + ranked["workload"],
        failed=[f"{f:,} of {p:,}" for f, p in zip(ranked["pods_failed"], ranked["pods_started"], strict=True)],
        median_seconds_unready=ranked["ready_lost_p50_s"].round(0).astype(int),
        pod_hours=ranked["ready_lost_pod_hours"].round(2),
    ).head(SHOWN_ROWS)
    columns = ["workload", "container", "failed", "app_restarts", "median_seconds_unready", "pod_hours"]
    shared = ""
    for column in ("setting", "fix"):  # said once when every row shown says the same
        if shown[column].nunique() == 1:
            shared += f"<p>{column.capitalize()}, for each: {escape(shown[column].iloc[0])}.</p>"
        else:
            columns.append(column)
    patched = shown[shown["command"] != ""]
    each = "".join(
        f"<pre>{escape(r.command)}</pre><details><summary>patch</summary><pre>{escape(r.patch)}</pre></details>"
        for r in patched.itertuples(index=False)
    )
    plural = "s" if len(patched) != 1 else ""
    commands = (f"<details><summary>{len(patched):,} command{plural} (each in <code>fixes/apply.sh</code>, <code>-o "
                f"fixes</code>)</summary>{each}</details>") if len(patched) else ""  # fmt: skip
    more = len(table) - SHOWN_ROWS
    tail = f"<p>{more:,} more in report.json's <code>start_order</code>.</p>" if more > 0 else ""
    return lead + shared + _table(shown[columns]) + commands + tail


def _jobs_held(analysis: Analysis) -> str:
    """Jobs and CronJobs whose pods a classic sidecar kept running after the app, costliest first, each with
    its fix."""
    table = analysis.jobs_held
    if not len(table):
        return ("<p>No Job pod was held open by a sidecar after its app finished (or the snapshot records no "
                "container status).</p>")  # fmt: skip
    s = analysis.summary()
    unfinished = s["jobs_unfinished"]
    lead = (f"<p>{len(table):,} Job workload{'s' if len(table) != 1 else ''} whose classic sidecar kept pods running "
            f"after the app finished: {s['jobs_held_pod_hours']:,.1f} pod-hours with their requests scheduled, "
            f"${s['jobs_held_cost_month']:,.2f}/month at the report's prices"
            + (f"; {unfinished:,} Job{'s' if unfinished != 1 else ''} never completed in the window" if unfinished
               else "")
            + (f"; in {failed:,} held pod{'s' if failed != 1 else ''} the app had failed, which its Job could not see "
               "(nor retry) until the pod ended" if (failed := int(table["apps_failed"].sum())) else "")
            + ". A native sidecar is stopped with the app; docs/lifecycle.md says how each figure is found.</p>")
    ranked = table.sort_values(["jobs_unfinished", "cost_month"], ascending=False, kind="stable")
    shown = ranked.assign(
        workload=ranked["workload_kind"].str.lower() + " " + ranked["namespace"] + "/" + ranked["workload"],
        held=[f"{h:,} of {p:,}" for h, p in zip(ranked["pods_held"], ranked["pods"], strict=True)],
        median_minutes=ranked["held_minutes_p50"].round(0).astype(int),
        pod_hours=ranked["held_pod_hours"].round(1),
        per_month=[f"${c:,.2f}" for c in ranked["cost_month"]],
        never_completed=ranked["jobs_unfinished"],
        app_failed=ranked["apps_failed"],
    )
    rows = _table(shown[["workload", "held_by", "held", "median_minutes", "pod_hours", "never_completed", "app_failed",
                         "per_month", "fix"]].head(SHOWN_ROWS))  # fmt: skip
    patched = shown[shown["command"] != ""].head(SHOWN_ROWS)
    fixes = "".join(
        f"<h4>{escape(r.workload)}</h4><pre>{escape(r.command)}</pre>"
        f"<details><summary>patch</summary><pre>{escape(r.patch)}</pre></details>"
        for r in patched.itertuples(index=False)
    )
    more = len(table) - SHOWN_ROWS
    tail = f"<p>{more:,} more in report.json's <code>jobs_held</code>.</p>" if more > 0 else ""
    return lead + rows + fixes + tail


def _native_migration(analysis: Analysis) -> str:
    """Each classic sidecar moved to a native one, simulated: what the HPA, the VPA and the pod's effective
    request would see, and the change (docs/native-sidecars.md)."""
    table = analysis.native_migration
    if not len(table):
        return "<p>No classic sidecar: nothing to migrate.</p>"
    s = analysis.summary()
    lost = s["native_sidecars_vpa_lost"]
    changes_request = ~(np.isclose(table["effective_cpu_before_cores"], table["effective_cpu_after_cores"],
                                   equal_nan=True)
                        & np.isclose(table["effective_memory_before_bytes"], table["effective_memory_after_bytes"],
                                     equal_nan=True))  # fmt: skip
    moved = int((table["offered"] & changes_request).sum())
    lead = (f"<p>{len(table):,} classic sidecars; the move to a native sidecar (an init container with "
            f"<code>restartPolicy: Always</code>) is offered for {s['native_sidecars_offered']:,}. It changes no "
            "HPA replica: since 1.29 a Resource metric counts a native sidecar's request and usage as before, and a "
            "ContainerResource metric never counted it. It declares the order (the sidecar starts before the app "
            f"and stops after it). It takes {lost:,} sidecar{'s' if lost != 1 else ''} out of a VPA's hands (no "
            f"released VPA manages init containers), and changes {moved:,} pod{'s' if moved != 1 else ''}' "
            "effective request (a run-once init container then needs the sidecar's request beside its own). "
            "docs/native-sidecars.md says how each column is found.</p>" + _migration_ends(analysis))  # fmt: skip
    # What the move changes first: a VPA that stops sizing the sidecar, a pod asking for more; then the rest,
    # and what is not offered last.
    rank = (~table["offered"]).astype(int) * 4 - table["vpa_stops_sizing"].astype(int) * 2
    table = table.assign(_rank=rank - changes_request.astype(int)).sort_values("_rank", kind="stable")
    shown = table.assign(
        workload=table["namespace"] + "/" + table["workload"],
        offered=[f"no: {w}" if w else "yes" for w in table["why_not"]],
        effective_cpu=[_pair(a, b, _millicores) for a, b in zip(table["effective_cpu_before_cores"],
                                                                 table["effective_cpu_after_cores"], strict=True)],
        effective_memory=[_pair(a, b, _mib) for a, b in zip(table["effective_memory_before_bytes"],
                                                             table["effective_memory_after_bytes"], strict=True)],
    )  # fmt: skip
    shown["vpa"] = [f"{b.partition(': ')[2]} → does not size it" if b else "" for b in table["vpa_before"]]
    rows = _table(shown[["workload", "container", "offered", "vpa", "effective_cpu", "effective_memory", "change"]])
    annotated = int((shown["command"] != "").sum() - ((shown["command"] != "") & ~shown["injected"]).sum())
    note = (f"<p>The {annotated:,} injected sidecars migrate by their injector's annotation on the pod template: "
            "<code>fixes/apply-native-sidecars.sh</code> (<code>-o fixes</code>) has each command; the template "
            "sidecars' moves follow.</p>") if annotated else ""  # fmt: skip
    patched = shown[(shown["command"] != "") & ~shown["injected"]]
    changes = note + "".join(
        f"<h3>{escape(r.workload)}: {escape(r.container)}</h3><pre>{escape(r.command)}</pre>"
        f"<details><summary>patch</summary><pre>{escape(r.patch)}</pre></details>"
        for r in patched.head(SHOWN_ROWS).itertuples(index=False)
    )
    more = len(patched) - SHOWN_ROWS
    tail = f"<p>{more:,} more patches in report.json's <code>native_migration</code>.</p>" if more > 0 else ""
    return lead + rows + changes + tail


def _migration_ends(analysis: Analysis) -> str:
    """What the offered moves end of the lifecycle costs the report measured (docs/lifecycle.md), in one line."""
    offered = analysis.native_migration[analysis.native_migration["offered"]]
    parts = []
    ending = offered[offered["jobs_after"] != ""]
    if len(ending):
        keys = set(zip(ending["namespace"], ending["workload_kind"], ending["workload"], strict=True))
        jobs = analysis.jobs_held[[k in keys for k in zip(analysis.jobs_held["namespace"],
                                                          analysis.jobs_held["workload_kind"],
                                                          analysis.jobs_held["workload"], strict=True)]]  # fmt: skip
        parts.append(f"{jobs['held_pod_hours'].sum():,.1f} pod-hours of Jobs held open "
                     f"(${jobs['cost_month'].sum():,.2f}/month)")  # fmt: skip
    starts = int((offered["start_order_after"] != "").sum())
    if starts:
        parts.append(f"the apps restarting before their sidecar in {starts:,} workload{'s' if starts != 1 else ''}")
    stops = int((offered["stop_order_after"] != "").sum())
    if stops:
        parts.append(f"the proxy exiting before the app on the scale-downs of {stops:,} workload"
                     f"{'s' if stops != 1 else ''}")  # fmt: skip
    return f"<p>Of what this report measured, the offered moves would end {'; '.join(parts)}.</p>" if parts else ""


def _pair(before: float, after: float, fmt: Callable[[float], str]) -> str:
    """``before → after`` (one value when they are equal)."""
    if not np.isfinite(before) and not np.isfinite(after):
        return ""
    text = fmt(before) if np.isfinite(before) else "none"
    return text if before == after else f"{text} → {fmt(after) if np.isfinite(after) else 'none'}"


def _figure_text(key: str, value: float) -> str:
    """A summary figure with its unit."""
    if key.endswith("_share"):
        return f"{value:.1%}"
    if key.endswith("_cost_month"):
        return f"${value:,.2f}/month"
    if key.endswith("replica_hours"):
        return f"{value:,.1f} replica-hours"
    if key.endswith("_hours"):
        return f"{value:,.1f} h"
    return f"{value:,}"


def _remedies(analysis: Analysis) -> str:
    """The recommended fix of each HPA with a finding (impact order), then every alternative, collapsed."""
    ranked = by_impact(analysis.hpa_skew)
    order = {key: i for i, key in enumerate(zip(ranked["namespace"], ranked["hpa"], strict=True))}
    keys = zip(analysis.remedies["namespace"], analysis.remedies["hpa"], strict=True)
    rows = analysis.remedies.assign(_o=[order.get(k, len(order)) for k in keys])
    rows = rows.sort_values(["_o", "remedy"], kind="stable")
    chosen = rows[rows["recommended"]].head(TOP_REMEDY_HPAS)
    parts = [
        "<p>One fix per HPA with a finding, chosen by the simulation (the smallest residual skew against "
        "app-only that stalls nothing; near-ties go to the least invasive change). Each is a JSON Patch that "
        "changes only what it says, guarded by test operations; <code>-o fixes</code> writes them all with "
        "<code>fixes/apply.sh</code>.</p>"
    ]
    for r in chosen.itertuples(index=False):
        parts.append(
            f"<h3>{escape(r.namespace)}/{escape(r.hpa)}: {escape(r.remedy)}</h3>"
            f"<p>{escape(r.description)}. Simulated: {r.replica_hours:,.1f} replica-hours, residual skew "
            f"{r.residual_skew_replica_hours:+,.1f} against app-only, {r.stalled_hours:,.1f} h stalled. "
            f"Why: {escape(r.why)}.</p>"
            + (f"<pre>{escape(r.command)}</pre><details><summary>patch</summary><pre>{escape(r.patch)}</pre>"
               "</details>" if r.command else "")
            + (f"<p>Not in the patch: {escape(r.notes)}.</p>" if r.notes else "")
        )  # fmt: skip
    if len(rows[rows["recommended"]]) > len(chosen):
        parts.append(f"<p>{len(rows[rows['recommended']]) - len(chosen)} more fixes are in report.json and fixes/.</p>")
    others = rows[~rows["recommended"]]
    if len(others):
        parts.append(
            f"<details><summary>All {len(others)} other alternatives</summary>"
            + _table(
                others[
                    [
                        "namespace",
                        "hpa",
                        "remedy",
                        "description",
                        "replica_hours",
                        "residual_skew_replica_hours",
                        "stalled_hours",
                        "command",
                    ]
                ],
                {"replica_hours": "{:,.1f}", "residual_skew_replica_hours": "{:+,.1f}", "stalled_hours": "{:,.1f}"},
            )
            + "</details>"
        )
    return "".join(parts)


SHOWN_ROWS = 25
"""Rows of a table shown open; the rest of a longer table sits in a collapsed ``<details>`` (nothing is cut)."""


def _table(frame: pd.DataFrame, formats: dict[str, Format] | None = None) -> str:
    """The frame as a table: the first :data:`SHOWN_ROWS` rows, then every row in a collapsed part."""
    if len(frame) <= SHOWN_ROWS:
        return _rows_table(frame, formats)
    return (
        _rows_table(frame.head(SHOWN_ROWS), formats)
        + f"<details><summary>all {len(frame):,} rows</summary>{_rows_table(frame, formats)}</details>"
    )


def _mib(value: float) -> str:
    """Bytes as MiB (the unit Kubernetes requests are usually written in)."""
    return f"{value / 2**20:,.1f} Mi"


def _millicores(value: float) -> str:
    """Cores as millicores, the unit of a CPU request."""
    return f"{value * 1000:,.0f}m"


Format = str | Callable[[float], str]


def _overhead_in_units(overhead: pd.DataFrame) -> pd.DataFrame:
    """The fits' base and slope as text in each row's unit: millicores for CPU, MiB for memory, the slope per
    app core (the same units as the containers table)."""
    cpu = (overhead["resource"] == "cpu").to_numpy()

    def text(values: pd.Series, suffix: str) -> list[str]:
        return [
            "" if pd.isna(v) else (f"{v * 1000:,.1f}m" if is_cpu else f"{v / 2**20:,.1f} Mi") + suffix
            for v, is_cpu in zip(values, cpu, strict=True)
        ]

    return overhead.assign(base=text(overhead["base"], ""), slope=text(overhead["slope"], " per app core"))


def _header(column: str, fmt: Format | None) -> str:
    """A column's header in words; a unit the formatter replaces (cores, bytes) is left out of it."""
    if fmt in (_mib, _millicores):
        column = column.removesuffix("_cores").removesuffix("_bytes")
    return column.replace("_", " ")


def _rows_table(frame: pd.DataFrame, formats: dict[str, Format] | None = None) -> str:
    formats = formats or {}
    head = "".join(f"<th>{escape(_header(str(c), formats.get(c)))}</th>" for c in frame.columns)
    body = []
    for row in frame.itertuples(index=False):
        cells = []
        for col, value in zip(frame.columns, row, strict=True):
            fmt = formats.get(col)
            text = (
                ""
                if pd.isna(value)
                else str(value)
                if fmt is None
                else fmt(value)
                if callable(fmt)
                else fmt.format(value)
            )
            css = ' class="stalled"' if col == "status" and value == "stalled" else ""
            cells.append(f"<td{css}>{escape(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<div class=scroll><table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"


TOP_REMEDY_HPAS = 50
"""HPAs (largest skew cost first) whose remedies the HTML spells out; report.json and CSV hold all."""


def _figures(analysis: Analysis, top: int, sheet: FigureSheet) -> str:
    """The cluster figures, then as inline PNGs: one pod's stacked usage of the ``top`` workloads whose
    sidecars cost most, and the VPA targets of the ``top`` workloads with the worst VPA hazards (each
    HPA's own plots are in its section)."""
    from analyzer.render import plots  # matplotlib: imported only when a page is drawn

    out = [
        sheet.figure(
            lambda: plots.skew_figure(analysis),
            "net replica-hours each HPA runs as deployed beyond (right) or short "
            "of (left) its app-only replay: the biggest bars are where to look first",
        )
    ]
    if len(analysis.namespaces):
        many = len(analysis.namespaces) > plots.SHARE_NAMESPACES
        which = f"the {plots.SHARE_NAMESPACES} namespaces whose sidecars cost most" if many else "each namespace"
        out.append(
            sheet.figure(
                lambda: plots.sidecar_share_figure(analysis),
                f"sidecars' share of the billed CPU and memory (max(request, usage), as OpenCost bills) of {which}: "
                "the cost of the sidecars whether or not an HPA scales on them"
                + (" (report.json and the CSV hold every namespace)" if many else ""),
            )
        )
    costly = analysis.workloads[analysis.workloads["sidecars"] != ""]
    costly = costly.sort_values("sidecar_cost_month", ascending=False, kind="stable").head(top)
    for ns, workload in costly[["namespace", "workload"]].itertuples(index=False):
        out.append(
            sheet.figure(
                lambda ns=ns, workload=workload: plots.usage_figure(analysis, ns, workload),
                f"{ns}/{workload}: one pod's usage, app first "
                "and sidecars stacked, against the app's and the pod's requests",
            )
        )
    hazards = analysis.vpa_hazards.assign(
        _rank=analysis.vpa_hazards["severity"].map({Severity.HIGH: 0, Severity.MEDIUM: 1, Severity.LOW: 2})
    )
    worst = hazards.sort_values("_rank")[["namespace", "workload"]].drop_duplicates().head(top)
    for ns, workload in worst.itertuples(index=False):
        out.append(
            sheet.figure(
                lambda ns=ns, workload=workload: plots.vpa_figure(analysis, ns, workload),
                f"{ns}/{workload}: each container's CPU request "
                "against the VPA's target and bounds: a sidecar's bar far from its target is what the VPA "
                "would move",
            )
        )
    return "".join(out)


CONTENTS = (
    ("summary", "Summary"), ("findings", "Findings"), ("hpa-details", "HPA details"), ("plots", "Plots"),
    ("hpas", "HPAs"), ("hpa-skew", "HPA skew"), ("remedies", "Remedies and fixes"), ("vpa", "VPA"),
    ("failures", "Sidecar failures"), ("lifecycle", "Sidecar lifecycle"), ("native", "Native sidecar migration"),
    ("workloads", "Workloads"), ("containers", "Containers"), ("overhead", "Sidecar overhead"),
    ("glossary", "Glossary"),
)  # fmt: skip
"""The page's sections as its contents list them: (anchor, title)."""


@functools.cache
def _template() -> jinja2.Template:
    """The page's template (``templates/report.html``), every value escaped unless it is markup built here."""
    text = resources.files("analyzer.render").joinpath("templates/report.html").read_text(encoding="utf-8")
    return jinja2.Environment(autoescape=True, keep_trailing_newline=True).from_string(text)


def produce(analysis: Analysis, top: int = DEFAULT_TOP) -> str:
    meta = analysis.metadata
    summary = analysis.summary()
    containers = _table(
        analysis.containers,
        {
            **{
                c: _millicores
                for c in ("cpu_request_cores", "cpu_limit_cores", "cpu_mean_cores", "cpu_p90_cores", "cpu_p95_cores")
            },
            **{
                c: _mib
                for c in (
                    "memory_request_bytes",
                    "memory_limit_bytes",
                    "memory_mean_bytes",
                    "memory_p90_bytes",
                    "memory_p95_bytes",
                )
            },
            "cpu_usage_per_request": "{:.0%}",
            "memory_usage_per_request": "{:.0%}",
        },
    )
    workloads = _table(
        analysis.workloads[
            ["namespace", "workload", "app_container", "sidecars", "pods_mean", "sidecar_cpu_request_share",
             "sidecar_memory_request_share", "sidecar_cpu_usage_share_mean", "sidecar_cost_month", "pod_cost_month"]
        ],
        {"pods_mean": "{:.1f}", "sidecar_cpu_request_share": "{:.0%}", "sidecar_memory_request_share": "{:.0%}",
         "sidecar_cpu_usage_share_mean": "{:.0%}", "sidecar_cost_month": "${:,.2f}", "pod_cost_month": "${:,.2f}"},
    )  # fmt: skip
    overhead = _table(
        _overhead_in_units(analysis.overhead)[
            ["namespace", "workload", "container", "resource", "method", "base", "slope", "r2", "samples", "reason"]
        ],
        {"r2": "{:.2f}"},
    )
    skew = _table(
        analysis.hpa_skew[
            ["namespace", "hpa", "metrics", "counted_containers", "direction", "replica_hours_as_deployed",
             "replica_hours_app_only", "skew_replica_hours", "skew_percent", "excess_replica_hours",
             "waste_cost_month", "missing_replica_hours", "under_provisioned_hours", "replicas_too_many_mean",
             "replicas_too_many_p95", "replicas_too_few_mean", "replicas_too_few_p95", "stalled_hours",
             "calibration_within_1", "decisions_matched", "held_as_deployed", "note"]
        ],
        {"replica_hours_as_deployed": "{:,.1f}", "replica_hours_app_only": "{:,.1f}", "skew_replica_hours": "{:+,.1f}",
         "skew_percent": "{:+.1f}%", "excess_replica_hours": "{:,.1f}", "waste_cost_month": "${:,.2f}",
         "missing_replica_hours": "{:,.1f}", "under_provisioned_hours": "{:,.1f}", "replicas_too_many_mean": "{:.2f}",
         "replicas_too_many_p95": "{:.0f}", "replicas_too_few_mean": "{:.2f}", "replicas_too_few_p95": "{:.0f}",
         "stalled_hours": "{:,.1f}", "calibration_within_1": "{:.1%}", "decisions_matched": "{:.1%}"},
    )  # fmt: skip
    remedies = _remedies(analysis)
    sheet = FigureSheet()
    figures = _figures(analysis, top, sheet)
    ordered = hpa_order(analysis)
    ranked = by_impact(analysis.hpa_skew)
    ranked = ranked[ranked.direction != Direction.NONE]
    top_skew = _table(
        ranked[["namespace", "hpa", "direction", "excess_replica_hours", "waste_cost_month", "missing_replica_hours",
                "under_provisioned_hours", "stalled_hours"]],
        {"excess_replica_hours": "{:,.1f}", "waste_cost_month": "${:,.2f}", "missing_replica_hours": "{:,.1f}",
         "under_provisioned_hours": "{:,.1f}", "stalled_hours": "{:,.1f}"},
    )  # fmt: skip
    vpa = _table(
        analysis.vpa[
            ["namespace", "workload", "vpa", "container", "role", "tracked", "mode", "cpu_request_cores",
             "cpu_target_cores", "cpu_lower_cores", "cpu_upper_cores", "memory_request_bytes",
             "memory_target_bytes", "floor_cpu_cores"]
        ],
        {"cpu_request_cores": _millicores, "cpu_target_cores": _millicores, "cpu_lower_cores": _millicores,
         "cpu_upper_cores": _millicores, "memory_request_bytes": _mib, "memory_target_bytes": _mib,
         "floor_cpu_cores": _millicores},
    )  # fmt: skip
    ranked_hazards = analysis.vpa_hazards.assign(
        _rank=analysis.vpa_hazards["severity"].map({Severity.HIGH: 0, Severity.MEDIUM: 1, Severity.LOW: 2})
    ).sort_values("_rank", kind="stable")
    findings = _findings_by_cause(analysis)
    ambiguous = analysis.ambiguous
    page = _template().render(
        meta=meta,
        style=Markup(_STYLE),
        version=__version__,
        contents=CONTENTS
        if analysis.changes is None
        else (CONTENTS[0], ("since", "Since the last run"), *CONTENTS[1:]),
        since="" if analysis.changes is None else analysis.changes.headline(),
        since_section=Markup(_since(analysis)),
        s=SimpleNamespace(**summary),
        actions=Markup(action_list(analysis, ordered)),
        summary_rows=[
            (k.replace("_", " "), _figure_text(k, v), SUMMARY_COLUMNS.get(k, "")) for k, v in summary.items()
        ],
        skewed=len(ranked),
        top_skew=Markup(top_skew),
        findings=Markup(findings),
        hpa_details=Markup(hpa_sections(analysis, ordered, top, sheet)),
        figures=Markup(figures),
        hpas=Markup(_table(analysis.hpas)),
        skew=Markup(skew),
        remedies=Markup(remedies),
        vpa=Markup(vpa),
        failures=Markup(_failures(analysis, top, sheet)),
        lifecycle=Markup(_lifecycle(analysis)),
        native=Markup(_native_migration(analysis)),
        hazards=list(ranked_hazards.itertuples(index=False)),
        shown=SHOWN_ROWS,
        prices=analysis.prices.source,
        workloads=Markup(workloads),
        containers=Markup(containers),
        overhead=Markup(overhead),
        ambiguous=Markup(_table(ambiguous)) if len(ambiguous) else "",
    )
    return sheet.fill(page)


RENDERER = Renderer("html", "report.html", produce, "one self-contained page")
