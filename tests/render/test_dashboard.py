"""deploy/grafana-dashboard.json against a real Prometheus: the metrics two scheduled runs write, backfilled
with promtool, answer every panel's query (a query that returns nothing fails the test)."""

from __future__ import annotations

import json
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from analyzer.api import Analysis, analyze, load_snapshot
from analyzer.findings.changes import compare
from analyzer.render import metrics
from tests.collect.promserver import PrometheusServer, require
from tests.patching import patched

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana-dashboard.json"
FIRST, SECOND = 1_796_000_000, 1_796_086_400  # two nights, a day apart (2026-11)


def openmetrics(runs: list[tuple[Analysis, float]]) -> str:
    """The runs' metrics (what ``--metrics-file`` writes) as OpenMetrics with each run's time, for promtool."""
    families: dict[str, tuple[str, list[str]]] = {}
    for analysis, at in runs:
        text = generate_latest(metrics.registry_of(analysis, duration_s=42.0, now=at)).decode()
        for family in text_string_to_metric_families(text):
            _, lines = families.setdefault(family.name, (family.type, []))
            for s in family.samples:
                labels = ",".join(f'{k}="{json.dumps(v)[1:-1]}"' for k, v in sorted(s.labels.items()))
                lines.append(f"{s.name}{{{labels}}} {s.value} {at}")
    out = []
    for name, (kind, lines) in families.items():
        out += [f"# TYPE {name} {kind}", *sorted(lines, key=lambda line: float(line.rsplit(" ", 1)[1]))]
    return "\n".join([*out, "# EOF"]) + "\n"


@pytest.fixture(scope="module")
def prometheus(sample_analysis: Analysis, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    remedies = sample_analysis.remedies
    fixed = analyze(patched(load_snapshot(), remedies[remedies["recommended"] & (remedies["patch"] != "")]))
    second = replace(fixed, changes=compare(sample_analysis.state(), fixed.state()))
    workdir = tmp_path_factory.mktemp("dashboard")
    (workdir / "data.om").write_text(openmetrics([(sample_analysis, FIRST), (second, SECOND)]))
    subprocess.run([require("promtool"), "tsdb", "create-blocks-from", "openmetrics", str(workdir / "data.om"),
                    str(workdir / "tsdb")], check=True, capture_output=True)  # fmt: skip
    server = PrometheusServer(workdir / "tsdb", workdir)
    yield server
    server.stop()


def query(server: PrometheusServer, expr: str, at: float) -> list[dict[str, object]]:
    url = f"{server.url}/api/v1/query?" + urllib.parse.urlencode({"query": expr, "time": at})
    with urllib.request.urlopen(url, timeout=10) as answer:
        body = json.loads(answer.read())
    assert body["status"] == "success", (expr, body)
    return body["data"]["result"]


def test_the_dashboard_is_grafanas_shape() -> None:
    board = json.loads(DASHBOARD.read_text())
    assert board["uid"] == "sidecar-impact" and {v["name"] for v in board["templating"]["list"]} == {
        "datasource", "cluster"
    }  # fmt: skip
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids)) >= 8 and all(p["targets"] for p in board["panels"])


def test_every_panel_query_returns_data(prometheus: PrometheusServer) -> None:
    board = json.loads(DASHBOARD.read_text())
    variable = board["templating"]["list"][1]["query"]["query"]  # label_values(METRIC, LABEL), as Grafana asks it
    metric, label = (part.strip() for part in variable.removeprefix("label_values(").removesuffix(")").split(","))
    clusters = query(prometheus, f"group by ({label}) ({metric})", SECOND)
    assert [c["metric"]["cluster"] for c in clusters] == ["synthetic-7"]
    empty = []
    for panel in board["panels"]:
        for target in panel["targets"]:
            expr = target["expr"].replace("$cluster", "synthetic-7")
            if not query(prometheus, expr, SECOND):
                empty.append(f"{panel['title']}: {expr}")
    assert empty == []
    waste = query(prometheus, 'sum(sidecar_impact_waste_dollars_per_month{cluster="synthetic-7"})', FIRST)
    assert float(waste[0]["value"][1]) > 0  # the first night, before the fixes
    resolved = query(prometheus, 'sum(sidecar_impact_findings_resolved{cluster="synthetic-7"})', SECOND)
    assert float(resolved[0]["value"][1]) == 12.0
