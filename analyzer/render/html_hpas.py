"""The HTML report's action list and its one section per HPA: what is wrong in words, the figures, the
recommended fix, and (for the ``top`` HPAs that matter most) the plots. Every HPA gets a section, so the
contents reach each one; past ``top`` they are collapsed and carry no plots, which keeps a page for
thousands of HPAs short and light."""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING, Any

import pandas as pd

from analyzer.findings.hpa_skew import Direction, by_impact
from analyzer.findings.severity import Severity
from analyzer.render.drawing import FigureSheet

if TYPE_CHECKING:
    from analyzer.findings.analysis import Analysis

ACTIONS_SHOWN = 10
"""Causes listed on the first screen; the rest are in Findings, one link away."""
MEMBERS_LISTED = 200
"""A cause's members linked from the first screen; a larger cause says how many more Findings holds."""


def hpa_order(analysis: Analysis) -> pd.DataFrame:
    """Every HPA row: the replayed ones by impact (stalled first), then those that could not be replayed;
    ``anchor`` is its section's id (positional: Kubernetes names hold dots, which a CSS selector reads
    as classes)."""
    replayed = by_impact(analysis.hpa_skew)
    rest = analysis.hpa_skew.drop(index=replayed.index)
    ordered = pd.concat([replayed, rest])
    return ordered.assign(anchor=[f"hpa-{i}" for i in range(len(ordered))])


LIFECYCLE_KINDS = ("sidecar-start-order", "sidecar-stop-order", "job-held-by-sidecar")
"""Finding kinds the Sidecar lifecycle section details."""


def action_list(analysis: Analysis, ordered: pd.DataFrame) -> str:
    """The first screen's ranked list of causes (HPA stalls and skews, then any other high one): a cause of
    one HPA as that HPA's problem and recommended change; a cause of several as what they share, the change
    at its source where there is one, and its members one click away."""
    fix = _recommended(analysis)
    hpas = {(r.namespace, f"hpa/{r.hpa}"): r for r in ordered.itertuples(index=False)}
    causes = analysis.causes
    shown = causes[causes["kind"].isin(["hpa-stalled", "hpa-skew"]) | (causes["severity"] == Severity.HIGH)]
    items = []
    for c in shown.head(ACTIONS_SHOWN).itertuples(index=False):
        members = [(ns, obj) for ns, obj in (m.split("/", 1) for m in list(c.members))]
        if len(members) == 1 and members[0] in hpas:
            r = hpas[members[0]]
            source = f" {_cause_change(c, 'Or fix')}" if c.fix else ""
            items.append(f"<li><a href=#{r.anchor}>{escape(r.namespace)}/{escape(r.hpa)}</a>: {escape(_problem(r))}. "
                         f"{_change(fix.get((r.namespace, r.hpa)))}{source}</li>")  # fmt: skip
        else:
            items.append(f"<li><b>{escape(c.summary)}</b>. {_cause_change(c)}{_members(members, hpas)}</li>")
    more = len(causes) - len(items)
    tail = f"<p>{more:,} more causes in <a href=#findings>Findings</a>.</p>" if more > 0 else ""
    if not items:
        return "<p>No HPA is skewed or stalled by its sidecars.</p>"
    return f"<h3>What to do first</h3><ol>{''.join(items)}</ol>{tail}"


def _cause_change(c: Any, lead: str = "Fix") -> str:
    """A cause's change: at its source (with the setting one click away), or each member's own fix."""
    if c.fix:
        return (f"<b>{lead} at the source:</b> {escape(c.change)}. <details class=command><summary>setting</summary>"
                f"<pre>{escape(c.fix)}</pre></details>")  # fmt: skip
    if c.change:
        return f"<b>Fix each:</b> {escape(c.change)}."
    where = (
        "its section"
        if str(c.kind).startswith("hpa-")
        else "the <a href=#vpa>VPA section</a>"
        if c.kind.startswith("vpa-")
        else "the <a href=#lifecycle>Sidecar lifecycle</a> section"
        if c.kind in LIFECYCLE_KINDS
        else "the <a href=#failures>Sidecar failures</a> section"
        if c.kind.startswith("sidecar-")
        else "its <a href=#findings>finding</a>"
    )
    return f"<b>Fix each</b> as {where} says."


def _members(members: list[tuple[str, str]], hpas: dict[tuple[str, str], Any]) -> str:
    """The cause's objects, collapsed: an HPA links to its section."""
    links = [
        f"<a href=#{hpas[m].anchor}>{escape(m[0])}/{escape(m[1])}</a>" if m in hpas else escape(f"{m[0]}/{m[1]}")
        for m in members[:MEMBERS_LISTED]
    ]
    more = f" and {len(members) - MEMBERS_LISTED:,} more (Findings)" if len(members) > MEMBERS_LISTED else ""
    return (
        f"<details><summary>{len(members):,} members</summary>{', '.join(links)}{more}</details>"
        if len(members) > 1
        else f" ({links[0]})"
    )


def _change(remedy: Any) -> str:
    """The recommended change in words, its effect, and its command one click away."""
    if remedy is None:
        return "No fix applies as a patch: see the HPA's section."
    where = "" if remedy.object.startswith("hpa/") else f" (in {escape(remedy.object)})"
    text = (f"<b>Fix:</b> {escape(remedy.description)}{where}; residual skew "
            f"{remedy.residual_skew_replica_hours:+,.1f} replica-hours, "
            f"{remedy.stalled_hours:,.1f} h stalled.")  # fmt: skip
    if not remedy.command:
        return text + " No patch: see the HPA's section."
    return text + f"<details class=command><summary>command</summary><pre>{escape(remedy.command)}</pre></details>"


def hpa_sections(analysis: Analysis, ordered: pd.DataFrame, top: int, sheet: FigureSheet) -> str:
    """One section per HPA; the first ``top`` with a finding open and with plots (on ``sheet``), the others
    collapsed."""
    fix = _recommended(analysis)
    findings = analysis.findings.groupby(["namespace", "object"], sort=False)["message"].agg(list).to_dict()
    index = "".join(f"<li><a href=#{r.anchor}>{escape(r.namespace)}/{escape(r.hpa)}</a></li>"
                    for r in ordered.itertuples(index=False))  # fmt: skip
    parts = [f"<p>Every HPA, the ones that matter most first.</p><ol class=index>{index}</ol>"]
    plotted = 0
    for r in ordered.itertuples(index=False):
        body = _body(analysis, r, fix.get((r.namespace, r.hpa)), findings.get((r.namespace, f"hpa/{r.hpa}"), []))
        title = f"{escape(r.namespace)}/{escape(r.hpa)}: {escape(_problem(r))}"
        if plotted < top and r.direction in (Direction.STALLED, Direction.INFLATION, Direction.DILUTION):
            plotted += 1
            parts.append(f"<section id={r.anchor}><h3>{title}</h3>{body}{_plots(analysis, r, sheet)}</section>")
        else:
            parts.append(f"<details id={r.anchor}><summary>{title}</summary>{body}</details>")
    return "".join(parts)


def _recommended(analysis: Analysis) -> dict[tuple[str, str], Any]:
    chosen = analysis.remedies[analysis.remedies["recommended"]]
    return {(r.namespace, r.hpa): r for r in chosen.itertuples(index=False)}


def _problem(r: Any) -> str:
    """The HPA's state in a few words."""
    if r.direction == Direction.STALLED:
        return f"stalled {r.stalled_hours:,.1f} h (replicas frozen)"
    if r.direction == Direction.INFLATION:
        return (f"inflated: {r.excess_replica_hours:,.1f} replica-hours beyond the app's need, "
                f"${r.waste_cost_month:,.2f}/month")  # fmt: skip
    if r.direction == Direction.DILUTION:
        return (f"diluted: {r.missing_replica_hours:,.1f} replica-hours short, {r.under_provisioned_hours:,.1f} h "
                "under-provisioned")  # fmt: skip
    if r.direction == Direction.UNCERTAIN:
        return "cannot tell (rebuilt from kube-state-metrics)"
    if r.direction == Direction.NONE:
        return "no sidecar skew"
    return "not replayed"


def _body(analysis: Analysis, r: Any, fix: Any, messages: list[str]) -> str:
    if pd.isna(r.skew_replica_hours):
        return f"<p>Not replayed: {escape(str(r.note))}.</p>"
    figures = (f"<p>Target {escape(str(r.target))}, {escape(str(r.metrics))}, counting "
               f"{escape(str(r.counted_containers))}. As deployed {r.replica_hours_as_deployed:,.1f} replica-hours, "
               f"app-only {r.replica_hours_app_only:,.1f} (net {r.skew_replica_hours:+,.1f}, {r.skew_percent:+.1f} %); "
               f"replicas too many {r.replicas_too_many_mean:.2f} "
               f"on average ({r.replicas_too_many_p95:.0f} at p95), too few {r.replicas_too_few_mean:.2f} "
               f"({r.replicas_too_few_p95:.0f}). Replay matches the observed replicas within ±1 "
               f"{r.calibration_within_1:.1%} of the time; decisions on the observed pods "
               f"{r.decisions_matched:.1%}.</p>")  # fmt: skip
    held = f"<p>As deployed the controller was {escape(r.held_as_deployed)}.</p>" if r.held_as_deployed else ""
    found = "".join(f"<p>Finding: {escape(m)}.</p>" for m in messages)
    if fix is None:
        remedy = ""
    else:
        remedy = (f"<p>Recommended: {escape(fix.remedy)} on {escape(fix.object)}: {escape(fix.description)}. "
                  f"{escape(fix.why[:1].upper() + fix.why[1:])}.</p>"
                  + (f"<pre>{escape(fix.command)}</pre><details><summary>patch</summary><pre>{escape(fix.patch)}"
                     "</pre></details>" if fix.command else "")
                  + (f"<p>Not in the patch: {escape(fix.notes)}.</p>" if fix.notes else ""))  # fmt: skip
    return figures + held + found + remedy


def _plots(analysis: Analysis, r: Any, sheet: FigureSheet) -> str:
    """The HPA's replicas and utilization, and one pod of its target stacked: captions say what to read."""
    from analyzer.render import plots  # matplotlib: imported only when a page is drawn

    workload = str(r.target).partition("/")[2]
    out = [
        sheet.figure(lambda: plots.replicas_figure(analysis, r.namespace, r.hpa),
             f"{r.namespace}/{r.hpa}: replicas as deployed against app-only; the gap between them is the skew "
             f"({r.skew_replica_hours:+,.1f} replica-hours)"),
        sheet.figure(lambda: plots.utilization_figure(analysis, r.namespace, r.hpa),
             f"{r.namespace}/{r.hpa}: the utilization each view computes against its target; where as deployed "
             "sits above app-only the sidecars push replicas up, below they hold them down"),
    ]  # fmt: skip
    w = analysis.workloads
    have = w[(w["namespace"] == r.namespace) & (w["workload"] == workload)]
    if len(have) and have["sidecars"].iloc[0]:
        caption = (
            f"{r.namespace}/{workload}: one pod's usage, app first and sidecars stacked, against the app's "
            "and the pod's requests: the HPA divides the whole stack by the whole request"
        )
        out.append(sheet.figure(lambda: plots.usage_figure(analysis, r.namespace, workload), caption))
    return "".join(out)
