"""Sidecar failures and readiness (analyzer.model.sidecar_failures, analyzer.findings.sidecar_failures)
against the generator's ground truth: a slow-starting istio-proxy, a crash-looping vault-agent, an OOM-killed
fluent-bit and a healthy control (``sample --catalogue failures``), one day at a 15 s step."""

from __future__ import annotations

import dataclasses
import json
import shlex
from pathlib import Path

import jsonpatch
import pandas as pd
import pytest

from analyzer.api import Analysis, analyze, render
from analyzer.findings.sidecar_failures import oom_limit_bytes
from analyzer.snapshot.schema import Snapshot
from analyzer.synth.generate import Synthetic, generate
from analyzer.units import MIB
from tests.patching import find, kubectl_local


@pytest.fixture(scope="module")
def failing() -> tuple[Synthetic, Analysis]:
    synthetic = generate(workloads=4, days=1.0, step_s=15.0, catalogue="failures")
    return synthetic, analyze(synthetic.snapshot)


STATUS_KINDS = ("sidecar-slow-start", "sidecar-crash-loop", "sidecar-oom")
"""The findings read from the containers' status (a proxy's stop order is read from its settings)."""

def truth_of(synthetic: Synthetic) -> dict[str, dict]:
    return {w["workload"]: w["failures"] for w in synthetic.truth["workloads"]}


def test_failure_figures_match_the_truth(failing: tuple[Synthetic, Analysis]) -> None:
    """Restarts, OOM kills and the scrapes a pod lost its metric are counted exactly; downtime within a step per
    restart; the pod-hours a late sidecar held new pods unready within a quarter (times are read at the step's
    middle: right on average); the control has nothing."""
    synthetic, analysis = failing
    truth = truth_of(synthetic)
    got = analysis.failures.set_index("workload")
    step_h = synthetic.snapshot.metadata.step_s / 3600
    for workload, t in truth.items():
        row = got.loc[workload]
        assert (row.restarts, row.oom_kills, row.missing_metric_scrapes) == (
            t["restarts"], t["oom_kills"], t["missing_metric_scrapes"]), workload  # fmt: skip
        assert row.down_pod_hours == pytest.approx(t["down_pod_hours"], abs=step_h * max(t["restarts"], 1) / 4)
        assert row.held_pod_hours == pytest.approx(t["held_pod_hours"], rel=0.25, abs=1e-9), workload
    assert truth["billing-worker"]["restarts"] > 100 and truth["audit-writer"]["oom_kills"] > 100
    assert truth["catalog-api"]["held_pod_hours"] > 0.05
    control = got.loc["catalog-api-control"]
    assert (control.restarts, control.pods_held, control.held_pod_hours, control.down_pod_hours) == (0, 0, 0, 0)


def test_what_the_failures_did_to_the_hpa(failing: tuple[Synthetic, Analysis]) -> None:
    """The truth (the same cluster run again with sidecars that never fail): late readiness and downtime move
    no replica (the HPA averages the load over the pods it counts); the pods left out of the metrics the scrape
    a sidecar comes back hold scale-downs. The replay with that share of pods missing at each scrape finds the
    replica-hours they held within a quarter (or a tenth of a replica-hour), and reproduces the observed
    replica-hours at least as well as the replay without them."""
    synthetic, analysis = failing
    truth = truth_of(synthetic)
    got = analysis.failures.set_index("workload")
    for workload in ("catalog-api", "catalog-api-control"):
        assert truth[workload]["replica_hours_beyond"] == truth[workload]["replica_hours_short"] == 0.0
        assert got.loc[workload, "replica_hours_beyond"] == got.loc[workload, "decisions_changed"] == 0
    for workload in ("billing-worker", "audit-writer"):
        assert truth[workload]["replica_hours_beyond"] > 0.2
        for side in ("replica_hours_beyond", "replica_hours_short"):
            assert got.loc[workload, side] == pytest.approx(truth[workload][side], rel=0.25, abs=0.1), (workload, side)
    assert got.loc[["billing-worker", "audit-writer"], "decisions_changed"].sum() > 0
    series = analysis.hpa_series
    for hpa in ("billing-worker", "audit-writer"):
        mine = series[series.hpa == hpa].groupby("view")["replicas"].sum()
        assert abs(mine["with-failures"] - mine["observed"]) <= abs(mine["as-deployed"] - mine["observed"]), hpa
    # The observed pods' grouping, with metrics-server's two-scrape rule, still predicts the generator's
    # controller: the restarted sidecars' pods are missing exactly when its HPA took them to be.
    skew = analysis.hpa_skew.set_index("hpa")
    assert (skew["decisions_matched"] >= 0.995).all(), skew["decisions_matched"]


def test_findings_by_scenario_and_the_oom_fix_applies_with_kubectl(
    failing: tuple[Synthetic, Analysis], tmp_path: Path
) -> None:
    synthetic, analysis = failing
    kinds = analysis.findings[analysis.findings["kind"].isin(STATUS_KINDS)]
    by_object = kinds.groupby("object")["kind"].apply(set).to_dict()
    assert by_object == {
        "deployment/catalog-api": {"sidecar-slow-start"},
        "deployment/billing-worker": {"sidecar-crash-loop"},
        "deployment/audit-writer": {"sidecar-oom"},
    }
    severity = kinds.set_index("kind")["severity"]
    assert severity["sidecar-crash-loop"] == severity["sidecar-oom"] == "high"
    assert "served nothing" in kinds.set_index("kind").loc["sidecar-slow-start", "message"]
    # The OOM fix: the VPA's OOM rule on the 96Mi the kernel killed it at: max(96Mi × 1.2, 96Mi + 100Mi).
    assert oom_limit_bytes(96 * MIB, 96 * MIB) == 196 * MIB
    render(analysis, tmp_path, ["fixes"])
    script = (tmp_path / "fixes" / "apply.sh").read_text()
    commands = [c for c in script.splitlines() if c.startswith("kubectl patch deployment") and "jobs" in c]
    assert commands == ["kubectl patch deployment audit-writer -n jobs --type json --patch-file "
                        "fixes/jobs/deployment-audit-writer.json"]  # fmt: skip
    assert "# jobs/audit-writer: fluent-bit: raise fluent-bit's memory limit from 96Mi to 196Mi" in script
    words = shlex.split(commands[0])
    deployment = find(synthetic.snapshot, "jobs", "deployment/audit-writer")
    done = kubectl_local(commands[0], deployment, tmp_path)
    assert done.returncode == 0, done.stderr
    after = json.loads(done.stdout)
    assert after == jsonpatch.apply_patch(deployment, json.loads((tmp_path / words[-1]).read_text()))
    sidecar = next(c for c in after["spec"]["template"]["spec"]["containers"] if c["name"] == "fluent-bit")
    assert sidecar["resources"]["limits"]["memory"] == "196Mi"
    # Its VPA is in recommendation mode: it sees the kills and applies nothing, and the fix says so.
    oom = analysis.failures.set_index("workload").loc["audit-writer"]
    said = "audit-writer: recommends for it (memory target 237Mi, its OOM kills included), applies nothing " \
           "(updateMode Off)"  # fmt: skip
    assert oom.vpa == said and oom.fix.endswith(f"; its VPA {said}")


def test_the_vpa_recommender_sees_the_oom_kills(failing: tuple[Synthetic, Analysis]) -> None:
    """Each OOM kill is a memory peak of ``max(used + 100 MiB, used × 1.2)``, ``used`` the larger of the request
    and the interval's peak (``ContainerState.RecordOOM``, kubernetes/autoscaler
    vertical-pod-autoscaler/pkg/recommender/model/container.go): the OOM-killed fluent-bit's target is above
    what the kills' rule gives its 96 MiB limit; without the kills it is its peak and the margin; the failure
    row says which target the VPA (updateMode Off) recommends."""
    synthetic, analysis = failing
    vpa = analysis.vpa.set_index(["workload", "container"])
    row = analysis.failures.set_index("workload").loc["audit-writer"]
    fluent = vpa.loc[("audit-writer", "fluent-bit")]
    assert fluent.memory_target_bytes >= oom_limit_bytes(row.memory_peak_bytes, row.memory_limit_bytes)
    quiet = dataclasses.replace(synthetic.snapshot, container_status=synthetic.snapshot.container_status.iloc[:0])
    calm = analyze(quiet).vpa.set_index(["workload", "container"]).loc[("audit-writer", "fluent-bit")]
    assert calm.memory_target_bytes < row.memory_limit_bytes * 1.5 < fluent.memory_target_bytes
    assert "recommends for it (memory target" in row.vpa and "updateMode Off" in row.vpa


def test_the_timelines_add_up_to_the_figures_and_the_report_shows_them(
    failing: tuple[Synthetic, Analysis], tmp_path: Path
) -> None:
    """Per failing sidecar, its 5-minute bins hold every restart and every pod-hour it held pods unready; the
    HTML section shows a timeline per failing sidecar, the Markdown summary its line."""
    _, analysis = failing
    series = analysis.failure_series.groupby(["workload", "container"])
    got = analysis.failures.set_index(["workload", "container"])
    for key, rows in series:
        assert rows["restarts"].sum() == got.loc[key, "restarts"]
        assert rows["pods_unready"].sum() * 300 / 3600 == pytest.approx(
            got.loc[key, "down_pod_hours"] + got.loc[key, "held_pod_hours"], rel=1e-6, abs=1e-9)  # fmt: skip
    assert set(series.groups) == {("audit-writer", "fluent-bit"), ("billing-worker", "vault-agent"),
                                  ("catalog-api", "istio-proxy")}  # fmt: skip
    assert analysis.failure_series["replicas_held"].sum() > 0
    html, markdown = render(analysis, tmp_path, ["html", "markdown"])
    section = html.read_text().split("<section id=failures>", 1)[1].split("</section>", 1)[0]
    assert section.count("<img src=\"data:image/png;base64,") == 3
    assert "jobs/audit-writer: fluent-bit" in section and "fixes/jobs/deployment-audit-writer.json" in section
    assert "- sidecar failures: " in markdown.read_text()


def test_without_container_status_nothing_is_assessed(failing: tuple[Synthetic, Analysis], tmp_path: Path) -> None:
    """An older snapshot (no container_status): no failure rows, no failure findings, the rest unchanged, and
    the report says what it could not assess."""
    synthetic, analysis = failing
    snapshot: Snapshot = synthetic.snapshot
    bare = analyze(dataclasses.replace(snapshot, container_status=snapshot.container_status.iloc[:0]))
    assert bare.failures.empty and not bare.findings["kind"].isin(STATUS_KINDS).any()
    pd.testing.assert_frame_equal(bare.hpa_skew, analysis.hpa_skew)
    html, markdown = render(bare, tmp_path, ["html", "markdown"])
    assert "Not assessed: the snapshot has no container status over time" in html.read_text()
    assert "sidecar failures and readiness: not assessed" in markdown.read_text()
