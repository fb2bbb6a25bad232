"""Markdown: the summary and the findings, for a pull request, a wiki page or a chat message."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import pandas as pd

from analyzer.findings.hpa_skew import Direction, by_impact
from analyzer.render.renderer import Renderer

if TYPE_CHECKING:
    from analyzer.findings.analysis import Analysis


_HTML = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
_MARKUP = re.compile(r"([\\`*_\[\]|~])")


def text(value: object) -> str:
    """``value`` as literal Markdown text: no HTML, link, emphasis or table markup survives from a name.

    Markdown is often rendered (a pull request, a wiki), so a pod named ``<img src=x onerror=...>`` or
    ``[x](javascript:...)`` must arrive as text: HTML's three specials become entities, Markdown's are
    backslash-escaped, and line breaks become spaces.
    """
    plain = "" if value is None or (isinstance(value, float) and pd.isna(value)) else str(value)
    return _MARKUP.sub(r"\\\1", plain.translate(_HTML)).replace("\r", " ").replace("\n", " ")


def _table(frame: pd.DataFrame) -> str:
    head = "| " + " | ".join(text(c) for c in frame.columns) + " |"
    rule = "|" + "---|" * len(frame.columns)
    rows = ["| " + " | ".join(text(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([head, rule, *rows])


def _fix_line(fix: object) -> str:
    """The fix's first line and its command (the patches are in report.json and fixes/)."""
    lines = [line for line in str(fix or "").splitlines() if line.strip()]
    return " ".join(lines[:1] + [line[2:] for line in lines if line.startswith("# kubectl ")])


MEMBERS_NAMED = 5
"""A cause's objects named in its row; the rest are counted."""


def _by_cause(analysis: Analysis) -> pd.DataFrame:
    """One row per cause: a cause of one finding keeps that finding's message and fix; a larger one says
    what its findings share, names a few of them, and gives the change at its source."""
    first = analysis.findings.drop_duplicates("cause").set_index("cause")
    rows = []
    for c in analysis.causes.itertuples(index=False):
        members = list(c.members)
        named = ", ".join(members[:MEMBERS_NAMED]) + (f" and {len(members) - MEMBERS_NAMED:,} more"
                                                      if len(members) > MEMBERS_NAMED else "")  # fmt: skip
        if c.findings == 1:
            f = first.loc[c.cause]
            what, change = str(f["message"]), _fix_line(f["fix"])
            change += f" Or at the source: {c.change}" if c.fix else ""
        else:
            what, change = c.summary, c.change or "each finding's own fix (report.json)"
        cost = "" if pd.isna(c.waste_cost_month) or not c.waste_cost_month else f"${c.waste_cost_month:,.2f}/month"
        rows.append((c.severity, c.kind, c.findings, named, what, cost, change))
    return pd.DataFrame(rows, columns=["severity", "kind", "findings", "objects", "what", "waste", "change"])


CHANGES_LISTED = 50
"""New and resolved findings, and HPAs that moved, listed in the Markdown (report.json has them all)."""


def _since(analysis: Analysis) -> list[str]:
    """The section comparing this run with the earlier one, when the report was compared."""
    changes = analysis.changes
    if changes is None:
        return []
    moved = changes.findings[changes.findings["status"] != "persisting"]
    rows = moved[["status", "severity_now", "severity_before", "kind", "namespace", "object"]].head(CHANGES_LISTED)
    hpas = changes.hpas.head(CHANGES_LISTED).assign(
        waste=changes.hpas["waste_cost_month_change"].map("{:+,.2f} $/month".format),
        shortfall=changes.hpas["missing_replica_hours_change"].map("{:+,.1f} replica-h".format),
    )[["namespace", "hpa", "status", "direction_before", "direction_now", "waste", "shortfall"]]
    more = (
        f" (the first {CHANGES_LISTED} of {len(moved):,}; report.json has all)" if len(moved) > CHANGES_LISTED else ""
    )
    return [
        "## Since the last run",
        f"{text(changes.headline())}. Findings new or resolved{more}:",
        _table(rows) if len(rows) else "None.",
        "Fixes recommended by an earlier run that were applied (with the skew predicted and measured), reverted, "
        "or changed otherwise:",
        _table(
            changes.fixes[
                ["namespace", "hpa", "remedy", "verdict", "predicted_skew_percent", "measured_skew_percent", "note"]
            ]
        )
        if len(changes.fixes)
        else "None.",
        "HPAs whose direction changed or whose skew moved by 1 point or more, the largest change first:",
        _table(hpas) if len(hpas) else "None.",
    ]


def _failure_line(analysis: Analysis, s: dict[str, Any]) -> str:
    """The summary's line on sidecar failures (or that the snapshot could not tell)."""
    if not len(analysis.failures):
        return "- sidecar failures and readiness: not assessed (the snapshot has no container status over time)\n"
    return (f"- sidecar failures: {s['sidecar_restarts']:,} restarts; pods NotReady "
            f"{s['failure_down_pod_hours']:,.1f} pod-hours (a sidecar down) and {s['failure_held_pod_hours']:,.2f} "
            f"(one ready after the app); missing metrics held HPAs {s['failure_replica_hours']:,.1f} replica-hours "
            "beyond their replay without them\n")  # fmt: skip


def _migration_line(analysis: Analysis) -> str:
    """The summary's line on the native-sidecar migration (docs/native-sidecars.md)."""
    if not len(analysis.native_migration):
        return ""
    s = analysis.summary()
    return (f"- native sidecars: the move is offered for {s['native_sidecars_offered']:,} of "
            f"{len(analysis.native_migration):,} classic sidecars; it moves no HPA replica and takes "
            f"{s['native_sidecars_vpa_lost']:,} out of a VPA's hands (fixes/apply-native-sidecars.sh)\n")


def _uncertain_line(s: dict[str, Any]) -> str:
    """HPAs rebuilt from kube-state-metrics whose skew cannot be told, when there are any: not in the figures."""
    n = s["hpas_uncertain"]
    if not n:
        return ""
    return (f"- **{n} HPAs are not in these figures**: rebuilt from kube-state-metrics, whose metrics cannot be told "
            "(Resource or ContainerResource); collect with the Kubernetes API to measure them\n")  # fmt: skip


def _lifecycle_lines(s: dict[str, Any]) -> str:
    """The summary's lines on the sidecars' undeclared order: apps that started before their sidecar, Job pods
    held open by one (docs/lifecycle.md)."""
    out = ""
    if s["start_order_pods_failed"]:
        out += (f"- apps started before their sidecar in {s['start_order_pods_failed']:,} new pods: unready "
                f"{s['start_order_pod_hours']:,.2f} pod-hours after the sidecar was up\n")
    if s["stop_order_pods_removed"]:
        out += (f"- {s['stop_order_pods_removed']:,} pods removed by scale-downs had a proxy that may exit before "
                "the app drained\n")
    if s["jobs_held_pod_hours"]:
        unfinished = f"; {s['jobs_unfinished']:,} never completed" if s["jobs_unfinished"] else ""
        out += (f"- Jobs held open by a sidecar: {s['jobs_held_pod_hours']:,.1f} pod-hours after their app finished, "
                f"${s['jobs_held_cost_month']:,.2f}/month{unfinished}\n")
    return out


def produce(analysis: Analysis, top: int = 0) -> str:
    meta, s = analysis.metadata, analysis.summary()
    ranked = by_impact(analysis.hpa_skew)
    top = ranked[ranked["direction"] != Direction.NONE]
    top = top.assign(
        excess=top["excess_replica_hours"].map("{:,.1f} replica-h".format),
        waste=top["waste_cost_month"].map("${:,.2f}/month".format),
        missing=top["missing_replica_hours"].map("{:,.1f} replica-h".format),
        under=top["under_provisioned_hours"].map("{:,.1f} h".format),
        stalled=top["stalled_hours"].map("{:,.1f} h".format),
    )[["namespace", "hpa", "direction", "excess", "waste", "missing", "under", "stalled"]]
    findings = _by_cause(analysis)
    return (
        "\n\n".join(
            [
                f"# Sidecar impact: {text(meta.cluster)}",
                f"Snapshot {meta.start:%Y-%m-%d %H:%M} to {meta.end:%Y-%m-%d %H:%M} UTC "
                f"({text(meta.source)}, step {meta.step_s:g} s).",
                f"- {s['workloads']} workloads, {s['sidecars']} sidecar containers costing "
                f"**${s['sidecar_cost_month']:,.2f}/month** ({text(analysis.prices.source)}); sidecars hold "
                f"{s['sidecar_cpu_request_share']:.1%} of the requested CPU and "
                f"{s['sidecar_memory_request_share']:.1%} of the requested memory\n"
                f"- **waste: ${s['waste_cost_month']:,.2f}/month**, {s['waste_replica_hours']:,.1f} replica-hours "
                f"beyond the app's need ({s['hpas_inflated']} of {s['hpas']} HPAs inflated)\n"
                f"- **shortfall: {s['shortfall_replica_hours']:,.1f} replica-hours** the app needed and did not get, "
                f"{s['under_provisioned_hours']:,.1f} h under-provisioned ({s['hpas_diluted']} HPAs diluted), "
                f"{s['hpas_stalled']} stalled for {s['stalled_hours']:,.1f} h: missing capacity, not a saving\n"
                + _uncertain_line(s)
                + f"- {s['vpas']} VPAs, {s['vpa_hazards']} sidecar hazards\n"
                + _failure_line(analysis, s)
                + _lifecycle_lines(s)
                + _migration_line(analysis)
                + f"- findings: {s['findings_high']} high, {s['findings_medium']} medium, {s['findings_low']} low"
                + (f"\n- **{text(analysis.changes.headline())}**" if analysis.changes is not None else ""),
                *_since(analysis),
                "## Findings, by cause",
                f"{len(analysis.findings):,} findings with {len(analysis.causes):,} causes, one row each (every "
                "finding is in report.json and csv/findings.csv). A cause is the sidecar behind its findings and "
                "what set its requests; *change* answers all its findings at once where one change can.",
                _table(findings) if len(findings) else "None.",
                "## HPAs the sidecars skew or stall",
                "Stalled first, then by replica-hours off the app's need. *excess* and *waste*: replicas run "
                "beyond the need and their cost; *missing* and *under*: capacity the app needed and did not "
                "get, and for how long.",
                _table(top) if len(top) else "None: no HPA is skewed by 2 % or more, and none is stalled.",
            ]
        )
        + "\n"
    )


RENDERER = Renderer("markdown", "report.md", produce, "summary and findings as Markdown")
