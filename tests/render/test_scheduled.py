"""Scheduled runs: run directories, latest, pruning, the lock; metrics for node-exporter and a Pushgateway."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import ClassVar

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from analyzer.api import Analysis, render_run
from analyzer.errors import LockedError, SidecarImpactError, SourceError
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
        "index.html",
        "latest",
    ]
    index = (base / "index.html").read_text()
    assert index.index("2026-11-25T03:00:00Z") < index.index("2026-11-25T02:00:00Z") and "01:00:00Z" not in index
    summary = analysis.summary()
    assert index.count(f"<td>${summary['waste_cost_month']:,.2f}</td>") == 2  # from each run's record
    assert (base / "latest").resolve() == (base / "20261125T030000Z").resolve()
    assert [p.parent.name for p in paths] == ["20261125T030000Z"] * 2
    assert (base / "latest" / "report.json").is_file() and (base / "latest" / "report.md").is_file()


def test_an_overlapping_run_fails_instead_of_writing(analysis: Analysis, tmp_path: Path) -> None:
    base = runs.cluster_dir(tmp_path, analysis.metadata.cluster)
    with runs.run_lock(base), pytest.raises(LockedError, match="another sidecar-impact run holds") as caught:
        render_run(analysis, tmp_path, ["json"])
    assert caught.value.exit_code == 4  # not 2: the input was fine, the folder was busy
    assert not any(p.name[0].isdigit() for p in base.iterdir())


@given(st.text(max_size=300), st.text(max_size=300))
@settings(max_examples=300, deadline=None)
def test_cluster_folder_names_are_one_safe_component_and_never_shared(a: str, b: str) -> None:
    for name in (a, b):
        folder = runs.cluster_dir_name(name)
        assert re.fullmatch(r"[A-Za-z0-9._@-]{1,100}", folder) and folder not in {".", ".."}
        assert not folder.startswith(".")
    assert (runs.cluster_dir_name(a) == runs.cluster_dir_name(b)) == (a == b)


def test_cluster_names_cannot_escape_or_collide(tmp_path: Path) -> None:
    assert runs.cluster_dir(tmp_path, "prod-eu.1") == tmp_path / "prod-eu.1"  # a plain name stays as it is
    escaped = runs.cluster_dir(tmp_path, "../../etc")
    assert escaped.parent == tmp_path and escaped.name.startswith("etc@")
    assert runs.cluster_dir_name("prod/eu") != runs.cluster_dir_name("prod_eu") == "prod_eu"
    assert len(runs.cluster_dir_name("x" * 5000)) <= runs.MAX_DIR_NAME


def test_colliding_names_keep_their_own_runs(analysis: Analysis, tmp_path: Path) -> None:
    """``prod/eu`` and ``prod_eu`` used to share a folder, and one's --keep deleted the other's runs."""
    slash = replace(analysis, metadata=replace(analysis.metadata, cluster="prod/eu"))
    under = replace(analysis, metadata=replace(analysis.metadata, cluster="prod_eu"))
    render_run(slash, tmp_path, ["json"], now=pd.Timestamp("2026-11-25T01:00:00Z"))
    render_run(under, tmp_path, ["json"], keep=1, now=pd.Timestamp("2026-11-25T02:00:00Z"))
    render_run(under, tmp_path, ["json"], keep=1, now=pd.Timestamp("2026-11-25T03:00:00Z"))
    folders = {p.name: sorted(q.name for q in p.iterdir() if q.name[0].isdigit()) for p in tmp_path.iterdir()}
    assert folders == {runs.cluster_dir_name("prod/eu"): ["20261125T010000Z"], "prod_eu": ["20261125T030000Z"]}
    record = runs.read_run_record(tmp_path / runs.cluster_dir_name("prod/eu") / "20261125T010000Z")
    assert record is not None and record["cluster"] == "prod/eu"


def test_a_run_named_in_the_future_does_not_push_out_the_new_run(analysis: Analysis, tmp_path: Path) -> None:
    render_run(analysis, tmp_path, ["json"], now=pd.Timestamp("2030-01-01T00:00:00Z"))  # clock skew
    base = runs.cluster_dir(tmp_path, analysis.metadata.cluster)
    stranger = base / "20991231T000000Z"  # a run-like folder this tool did not write: never deleted
    stranger.mkdir()
    paths = render_run(analysis, tmp_path, ["json"], keep=1, now=pd.Timestamp("2026-11-25T01:00:00Z"))
    assert paths[0].is_file()
    assert sorted(p.name for p in base.iterdir() if p.name[0].isdigit()) == ["20261125T010000Z", "20991231T000000Z"]
    assert (base / "latest").resolve() == (base / "20261125T010000Z").resolve()


def test_a_symlinked_lock_is_refused_and_its_target_untouched(analysis: Analysis, tmp_path: Path) -> None:
    base = runs.cluster_dir(tmp_path / "out", analysis.metadata.cluster)
    base.mkdir(parents=True)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (base / ".lock").symlink_to(victim)
    with pytest.raises(SidecarImpactError, match=r"\.lock: is not a regular file") as caught:
        render_run(analysis, tmp_path / "out", ["json"])
    assert caught.value.exit_code == 2 and victim.read_text() == "precious"
    assert sorted(p.name for p in base.iterdir()) == [".lock"]


@pytest.mark.parametrize("case", ["cluster folder is a symlink", "latest is a directory", "latest is a file"])
def test_parts_of_out_the_tool_did_not_make_are_refused(analysis: Analysis, tmp_path: Path, case: str) -> None:
    out = tmp_path / "out"
    base = runs.cluster_dir(out, analysis.metadata.cluster)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    if case == "cluster folder is a symlink":
        out.mkdir()
        base.symlink_to(elsewhere)
    else:
        base.mkdir(parents=True)
        (base / "latest").mkdir() if case == "latest is a directory" else (base / "latest").write_text("x")
    before = sorted(p.name for p in base.iterdir())
    with pytest.raises(SidecarImpactError, match="symlink") as caught:
        render_run(analysis, out, ["json"])
    assert caught.value.exit_code == 2
    assert sorted(p.name for p in base.iterdir()) == before and list(elsewhere.iterdir()) == []


def test_metrics_file_holds_the_headline_figures(analysis: Analysis, tmp_path: Path) -> None:
    path = tmp_path / "sidecar_impact.prom"
    write_metrics_file(analysis, path, duration_s=12.5)
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(path.read_text())
        for s in family.samples
    }
    cluster = (("cluster", "synthetic-11"),)
    summary = analysis.summary()
    assert samples[("sidecar_impact_sidecar_cost_dollars_per_month", cluster)] == summary["sidecar_cost_month"]
    assert samples[("sidecar_impact_hpas_stalled", cluster)] == summary["hpas_stalled"] == 1
    high = sum(v for (name, labels), v in samples.items() if name == "sidecar_impact_findings" and
               ("severity", "high") in labels)  # fmt: skip
    assert high == summary["findings_high"]
    by_kind = analysis.findings.groupby(["severity", "kind"]).size()
    for (severity, kind), n in by_kind.items():
        labels = (("cluster", "synthetic-11"), ("kind", kind), ("severity", severity))
        assert samples[("sidecar_impact_findings", labels)] == n
    for c in analysis.causes.itertuples(index=False):  # one series per cause, whatever it hits
        labels = (("cause", c.cause), ("cluster", "synthetic-11"), ("kind", c.kind), ("severity", c.severity))
        assert samples[("sidecar_impact_cause_findings", labels)] == c.findings
    per_cause = [v for (name, _), v in samples.items() if name == "sidecar_impact_cause_waste_dollars_per_month"]
    assert sum(per_cause) == pytest.approx(summary["waste_cost_month"], abs=0.06) and len(per_cause) < len(
        analysis.findings
    )
    assert samples[("sidecar_impact_run_duration_seconds", cluster)] == 12.5
    assert samples[("sidecar_impact_snapshot_samples", cluster)] == analysis.samples > 0
    assert abs(samples[("sidecar_impact_last_success_timestamp_seconds", cluster)] - time.time()) < 60
    for metric, key in (("sidecar_impact_waste_dollars_per_month", "waste_cost_month"),
                        ("sidecar_impact_shortfall_replica_hours", "shortfall_replica_hours"),
                        ("sidecar_impact_waste_replica_hours", "waste_replica_hours")):  # fmt: skip
        per_namespace = [v for (name, _), v in samples.items() if name == metric]
        assert len(per_namespace) == analysis.hpa_skew["namespace"].nunique()
        assert sum(per_namespace) == pytest.approx(summary[key], abs=0.06)  # the summary is rounded
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


def test_keep_bytes_deletes_the_oldest_runs_until_the_runs_fit(analysis: Analysis, tmp_path: Path) -> None:
    times = [pd.Timestamp(f"2026-11-25T0{h}:00:00Z") for h in (1, 2, 3, 4)]
    base = runs.cluster_dir(tmp_path, analysis.metadata.cluster)
    render_run(analysis, tmp_path, ["json"], now=times[0])
    one_run = runs.tree_bytes(base / "20261125T010000Z")
    for now in times[1:]:
        render_run(analysis, tmp_path, ["json"], now=now, keep_bytes=int(2.5 * one_run))
    assert sorted(p.name for p in base.iterdir() if p.name[0].isdigit()) == ["20261125T030000Z", "20261125T040000Z"]
    render_run(analysis, tmp_path, ["json"], now=pd.Timestamp("2026-11-25T05:00:00Z"), keep_bytes=1)
    assert sorted(p.name for p in base.iterdir() if p.name[0].isdigit()) == ["20261125T050000Z"]  # the new run stays
