"""``OUT/<cluster>/index.html`` of scheduled runs: every run kept, newest first, with its headline figures.

Read from each run's record (:data:`~analyzer.render.runs.RUN_RECORD`), which holds its summary. The page
is self-contained, escapes every value and links each run's files relatively, so it works served by
``sidecar-impact serve`` or opened from disk.
"""

from __future__ import annotations

import os
import tempfile
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pandas as pd

from analyzer.render import runs

INDEX = "index.html"
_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2rem;color:#222;max-width:80rem}"
    "table{border-collapse:collapse}th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:right}"
    "th{background:#f2f2f2}td:first-child,th:first-child{text-align:left}"
)
COLUMNS = (
    ("waste_cost_month", "waste $/month", "${:,.2f}"),
    ("waste_replica_hours", "waste replica-h", "{:,.1f}"),
    ("shortfall_replica_hours", "shortfall replica-h", "{:,.1f}"),
    ("hpas_stalled", "stalled HPAs", "{:,.0f}"),
    ("findings_high", "high findings", "{:,.0f}"),
    ("sidecar_cost_month", "sidecar cost $/month", "${:,.2f}"),
)


def _figures(record: dict[str, Any]) -> dict[str, float]:
    """A run record's headline figures, numbers only (a record is read from disk: anything else is dropped)."""
    summary = record.get("summary")
    if not isinstance(summary, dict):
        return {}
    return {k: float(v) for k, v in summary.items() if isinstance(v, int | float) and not isinstance(v, bool)}


def _since(record: dict[str, Any], status: str) -> int:
    """Findings ``status`` (new, resolved) since the run before, all severities, as the record says."""
    since = record.get("since")
    counts = since.get(status) if isinstance(since, dict) else None
    if not isinstance(counts, dict):
        return 0
    return sum(int(v) for v in counts.values() if isinstance(v, int) and not isinstance(v, bool) and v >= 0)


def _fixed(record: dict[str, Any], verdicts: tuple[str, ...] = ("fix-verified", "fix-underperformed")) -> int:
    """Fixes with one of ``verdicts`` since the run before (by default: found applied), as the record says."""
    since = record.get("since")
    counts = since.get("fixes") if isinstance(since, dict) else None
    if not isinstance(counts, dict):
        return 0
    return sum(v for k, v in counts.items() if k in verdicts and isinstance(v, int) and not isinstance(v, bool)
               and v > 0)  # fmt: skip


def _trends(found: list[tuple[str, str, dict[str, Any]]]) -> str:
    """The runs over time as one figure, from the second run on (one run makes no line)."""
    from analyzer.render import plots  # matplotlib: imported only when a page is drawn

    dated = []
    for created, _, record in found:
        try:
            dated.append((pd.Timestamp(created).tz_convert("UTC").tz_localize(None), record))
        except (ValueError, TypeError):
            continue
    dated.sort(key=lambda d: d[0])
    if len(dated) < 2:
        return "<p>The trends appear from the second run on.</p>" if dated else ""
    figure = plots.trends_figure(
        [t for t, _ in dated],
        [_figures(r) for _, r in dated],
        [_since(r, "resolved") for _, r in dated],
        [_fixed(r) for _, r in dated],
    )
    alt = f"waste, shortfall, sidecar cost and findings by severity over {len(dated)} runs"
    return f'<p><img src="{plots.png_data_uri(figure)}" alt="{escape(alt)}" width=900></p>'


def index_html(cluster_dir: Path) -> str:
    """The page for one cluster's runs (those holding a run record), newest recorded first."""
    found = []
    for entry in os.scandir(cluster_dir):
        if not entry.is_dir(follow_symlinks=False):
            continue
        record = runs.read_run_record(Path(entry.path))
        if record is not None:
            found.append((record["created"], entry.name, record))
    found.sort(reverse=True)
    cluster = found[0][2]["cluster"] if found else cluster_dir.name
    head = "".join(f"<th>{escape(label)}</th>" for _, label, _ in COLUMNS) + "<th>since the run before</th>"
    rows = []
    for created, name, record in found:
        s = _figures(record)
        cells = "".join(
            f"<td>{escape(fmt.format(s[key]))}</td>" if key in s else "<td></td>" for key, _, fmt in COLUMNS
        )
        new, resolved = _since(record, "new"), _since(record, "resolved")
        fixed, undone = _fixed(record), _fixed(record, ("fix-reverted",))
        applied = f", {fixed:,} fix{'es' * (fixed != 1)} applied" if fixed else ""
        applied += f", {undone:,} fix{'es' * (undone != 1)} reverted" if undone else ""
        cells += f"<td>{new:,} new, {resolved:,} resolved{applied}</td>" if "since" in record else "<td></td>"
        link = quote(name)
        files = " ".join(
            f'<a href="{link}/{quote(f)}">{escape(f)}</a>'
            for f in ("report.html", "report.json", "report.md")
            if (cluster_dir / name / f).is_file()
        )
        rows.append(f"<tr><td>{escape(created)}</td>{cells}<td>{files}</td></tr>")
    body = "".join(rows) or f'<tr><td colspan="{len(COLUMNS) + 3}">No runs yet.</td></tr>'
    return (
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
        f"<title>sidecar-impact runs: {escape(cluster)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>sidecar-impact runs: {escape(cluster)}</h1>"
        '<p><a href="latest/report.html">latest report</a>. Waste and shortfall never add up: waste is money '
        "spent on replicas beyond the app's need, shortfall is capacity the app needed and did not get.</p>"
        f"{_trends(found)}<table><tr><th>run (UTC)</th>{head}<th>files</th></tr>{body}</table></body></html>\n"
    )


def write_index(cluster_dir: Path) -> Path:
    """Write ``index.html`` in ``cluster_dir`` atomically (a fresh temporary file renamed over it)."""
    target = cluster_dir / INDEX
    fd, tmp = tempfile.mkstemp(prefix=f".{INDEX}.", dir=cluster_dir)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(index_html(cluster_dir))
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
