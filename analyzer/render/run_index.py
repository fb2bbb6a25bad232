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
from urllib.parse import quote

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
    head = "".join(f"<th>{escape(label)}</th>" for _, label, _ in COLUMNS)
    rows = []
    for created, name, record in found:
        s = record.get("summary") if isinstance(record.get("summary"), dict) else {}
        cells = "".join(
            f"<td>{escape(fmt.format(s[key]))}</td>" if isinstance(s.get(key), int | float) else "<td></td>"
            for key, _, fmt in COLUMNS
        )
        link = quote(name)
        files = " ".join(
            f'<a href="{link}/{quote(f)}">{escape(f)}</a>'
            for f in ("report.html", "report.json", "report.md")
            if (cluster_dir / name / f).is_file()
        )
        rows.append(f"<tr><td>{escape(created)}</td>{cells}<td>{files}</td></tr>")
    body = "".join(rows) or f'<tr><td colspan="{len(COLUMNS) + 2}">No runs yet.</td></tr>'
    return (
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
        f"<title>sidecar-impact runs: {escape(cluster)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>sidecar-impact runs: {escape(cluster)}</h1>"
        '<p><a href="latest/report.html">latest report</a>. Waste and shortfall never add up: waste is money '
        "spent on replicas beyond the app's need, shortfall is capacity the app needed and did not get.</p>"
        f"<table><tr><th>run (UTC)</th>{head}<th>files</th></tr>{body}</table></body></html>\n"
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
