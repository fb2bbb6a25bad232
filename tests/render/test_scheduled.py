"""Scheduled runs: run directories, latest, pruning, the lock; metrics for node-exporter and a Pushgateway."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import ClassVar

import pandas as pd
import pytest
from prometheus_client.parser import text_string_to_metric_families

from analyzer.api import Analysis, render_run
from analyzer.errors import SidecarImpactError, SourceError
from analyzer.render import runs
from analyzer.render.metrics import push_metrics, write_metrics_file


@pytest.fixture
def analysis(small_analysis: Analysis) -> Analysis:
    """The session's shared analysis (tests/conftest.py)."""
    return small_analysis


def test_runs_are_timestamped_pruned_and_latest_points_at_the_newest(analysis: Analysis, tmp_path: Path) -> None:
    times = [pd.Timestamp(f"2026-11-25T0{h}:00:00Z") for h in (1, 2, 3)]
    for now in times:
        paths = render_run(analysis, tmp_path, ["json", "markdown"], keep=2, now=now)
    base = tmp_path / "synthetic-11"
    assert sorted(p.name for p in base.iterdir() if not p.name.startswith(".")) == [
        "20261125T020000Z",
        "20261125T030000Z",
        "latest",
    ]
    assert (base / "latest").resolve() == (base / "20261125T030000Z").resolve()
    assert [p.parent.name for p in paths] == ["20261125T030000Z"] * 2
    assert (base / "latest" / "report.json").is_file() and (base / "latest" / "report.md").is_file()


def test_an_overlapping_run_fails_instead_of_writing(analysis: Analysis, tmp_path: Path) -> None:
    base = runs.cluster_dir(tmp_path, analysis.metadata.cluster)
    with runs.run_lock(base), pytest.raises(SidecarImpactError, match="another sidecar-impact run holds"):
        render_run(analysis, tmp_path, ["json"])
    assert not any(p.name[0].isdigit() for p in base.iterdir())


def test_cluster_names_cannot_escape_the_reports_directory(tmp_path: Path) -> None:
    assert runs.cluster_dir(tmp_path, "../../etc") == tmp_path / "etc"
    assert runs.cluster_dir(tmp_path, "prod/eu west") == tmp_path / "prod_eu_west"


def test_metrics_file_holds_the_headline_figures(analysis: Analysis, tmp_path: Path) -> None:
    path = tmp_path / "sidecar_impact.prom"
    write_metrics_file(analysis, path)
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(path.read_text())
        for s in family.samples
    }
    cluster = (("cluster", "synthetic-11"),)
    summary = analysis.summary()
    assert samples[("sidecar_impact_sidecar_cost_dollars_per_month", cluster)] == summary["sidecar_cost_month"]
    assert samples[("sidecar_impact_hpas_stalled", cluster)] == summary["hpas_stalled"] == 1
    high = (("cluster", "synthetic-11"), ("severity", "high"))
    assert samples[("sidecar_impact_findings", high)] == summary["findings_high"]
    skew = analysis.hpa_skew.set_index("hpa").loc["inventory"].skew_percent / 100
    inv = (("cluster", "synthetic-11"), ("hpa", "inventory"), ("namespace", "shop"))
    assert samples[("sidecar_impact_hpa_skew_ratio", inv)] == pytest.approx(skew)


class _Gateway(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[str, str, bytes]]] = []
    status: ClassVar[int] = 200

    def do_PUT(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        type(self).received.append((self.command, self.path, body))
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def gateway() -> Iterator[tuple[str, type[_Gateway]]]:
    handler = type("Gateway", (_Gateway,), {"received": [], "status": 200})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()


def test_push_to_a_pushgateway(analysis: Analysis, gateway: tuple[str, type[_Gateway]]) -> None:
    url, handler = gateway
    push_metrics(analysis, url)
    ((method, path, body),) = handler.received
    assert method == "PUT" and path == "/metrics/job/sidecar-impact/cluster/synthetic-11"
    assert b"sidecar_impact_hpas_stalled" in body
    handler.status = 500
    with pytest.raises(SourceError, match=re.escape(f"pushgateway {url}")):
        push_metrics(analysis, url)


def test_an_unreachable_pushgateway_is_a_source_error(analysis: Analysis) -> None:
    with pytest.raises(SourceError, match=re.escape("pushgateway http://127.0.0.1:9/")):
        push_metrics(analysis, "http://127.0.0.1:9/", timeout_s=2)
