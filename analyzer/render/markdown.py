"""Markdown: the summary and the findings, for a pull request, a wiki page or a chat message."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pandas as pd

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


def produce(analysis: Analysis, top: int = 0) -> str:
    meta, s = analysis.metadata, analysis.summary()
    skew = analysis.hpa_skew.dropna(subset=["skew_replica_hours"])
    top = skew.reindex(skew["skew_cost_month"].abs().sort_values(ascending=False).index).head(10)
    top = top.assign(
        skew=top["skew_replica_hours"].map("{:+,.1f} replica-h".format),
        percent=top["skew_percent"].map("{:+.1f} %".format),
        cost=top["skew_cost_month"].map("${:+,.2f}/month".format),
    )[["namespace", "hpa", "direction", "skew", "percent", "cost"]]
    findings = analysis.findings.assign(
        cost=analysis.findings["cost_month"].map(lambda v: "" if pd.isna(v) else f"${v:,.2f}/month")
    )[["severity", "kind", "namespace", "object", "message", "cost"]]
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
                f"- {s['hpas']} HPAs: {s['hpas_skewed']} skewed by sidecars "
                f"({s['skew_replica_hours']:,.1f} replica-hours, ${s['skew_cost_month']:,.2f}/month), "
                f"{s['hpas_stalled']} stalled\n"
                f"- {s['vpas']} VPAs, {s['vpa_hazards']} sidecar hazards\n"
                f"- findings: {s['findings_high']} high, {s['findings_medium']} medium, {s['findings_low']} low",
                "## Findings",
                _table(findings) if len(findings) else "None.",
                "## HPAs by cost of the skew",
                _table(top) if len(top) else "No HPA could be replayed.",
            ]
        )
        + "\n"
    )


RENDERER = Renderer("markdown", "report.md", produce, "summary and findings as Markdown")
