"""Issue acceptance on the bundled sample: skew against an independent app-only run of the generator."""

from __future__ import annotations

import copy
import json

import jsonpatch
import numpy as np
import pandas as pd
import pytest

from analyzer.api import SAMPLE_DATA, Analysis, analyze, load_snapshot
from analyzer.prices import HOURS_PER_MONTH
from analyzer.synth.generate import Synthetic, generate


@pytest.fixture
def sample(sample_analysis: Analysis) -> Analysis:
    """The session's shared analysis (tests/conftest.py)."""
    return sample_analysis


@pytest.fixture(scope="module")
def truth_app_only() -> pd.DataFrame:
    """The same seed and traffic with every HPA on the app container: the true app-only replicas."""
    meta = json.loads((SAMPLE_DATA / "metadata.json").read_text())["extra"]
    run = generate(workloads=meta["workloads"], days=meta["days"], seed=meta["seed"], app_only_hpas=True)
    return run.snapshot.replicas


def _rh(replicas: pd.DataFrame, ns: str, name: str, step_h: float) -> float:
    return float(replicas[(replicas.namespace == ns) & (replicas.name == name)].replicas.sum() * step_h)


@pytest.mark.parametrize(
    ("hpa", "direction"),
    [
        ("checkout", "inflation"),
        ("inventory", "dilution"),
        ("billing-api", "dilution"),
        ("pricing", "dilution"),
        ("edge-router", "inflation"),  # two app containers: app-only counts both
    ],
)
def test_skew_sign_and_size_match_the_ground_truth(sample: Analysis, truth_app_only: pd.DataFrame, hpa, direction):
    row = sample.hpa_skew.set_index("hpa").loc[hpa]
    step_h = sample.metadata.step_s / 3600
    name = row.target.split("/")[1]
    observed = load_snapshot().replicas
    true_skew = _rh(observed, row.namespace, name, step_h) - _rh(truth_app_only, row.namespace, name, step_h)
    assert row.direction == direction
    assert row.skew_replica_hours == pytest.approx(true_skew, rel=0.10)
    assert abs(true_skew) > 10  # a real effect, not noise


def test_waste_and_shortfall_split_the_net_skew_and_never_mix(sample: Analysis) -> None:
    """Per HPA, excess minus missing is the net skew; the summary adds waste and shortfall separately."""
    replayed = sample.hpa_skew.dropna(subset=["skew_replica_hours"])
    net = replayed.excess_replica_hours - replayed.missing_replica_hours
    assert np.allclose(net, replayed.skew_replica_hours)
    assert (replayed.excess_replica_hours >= 0).all() and (replayed.missing_replica_hours >= 0).all()
    assert (replayed.waste_cost_month >= 0).all()
    diluted = replayed[replayed.direction == "dilution"]
    assert len(diluted) == 3 and (diluted.missing_replica_hours > diluted.excess_replica_hours).all()
    assert (diluted.replicas_too_few_p95 >= diluted.replicas_too_few_mean).all()
    s = sample.summary()
    flagged = replayed[replayed.direction != "none"]
    assert s["waste_replica_hours"] == pytest.approx(flagged.excess_replica_hours.sum(), abs=0.05)
    assert s["shortfall_replica_hours"] == pytest.approx(flagged.missing_replica_hours.sum(), abs=0.05)
    assert s["waste_cost_month"] == pytest.approx(flagged.waste_cost_month.sum(), abs=0.005)
    costs = sample.findings.set_index("object").cost_month
    assert np.isnan(costs["hpa/inventory"]) and costs["hpa/checkout"] == pytest.approx(
        replayed.set_index("hpa").waste_cost_month["checkout"]
    )  # a dilution has no dollar figure; an inflation its waste


@pytest.mark.parametrize("hpa", ["catalog", "report-builder"])
def test_controls_show_no_skew(sample: Analysis, hpa: str) -> None:
    row = sample.hpa_skew.set_index("hpa").loc[hpa]
    assert row.direction == "none" and abs(row.skew_replica_hours) < 0.5
    assert not (sample.remedies.hpa == hpa).any()


def test_the_stalled_hpa_is_stalled_for_as_long_as_the_generator_says(sample: Analysis) -> None:
    analysis = sample
    demand = pd.read_parquet(SAMPLE_DATA / "ground_truth" / "demand.parquet")
    step_h = analysis.metadata.step_s / 3600
    true_hours = float(demand[demand.workload == "ledger"].stalled.sum() * step_h)
    row = analysis.hpa_skew.set_index("hpa").loc["ledger"]
    assert true_hours > 70
    assert row.stalled_hours == pytest.approx(true_hours, abs=2 * step_h)
    assert row.direction == "stalled" and row.utilization_as_deployed != row.utilization_as_deployed  # NaN
    fix = analysis.remedies[(analysis.remedies.hpa == "ledger") & (analysis.remedies.remedy == "sidecar-requests")]
    assert fix.stalled_hours.iloc[0] == 0
    assert fix.object.iloc[0] == "deployment/ledger"
    deployment = next(d for d in load_snapshot().items("Deployment") if d["metadata"]["name"] == "ledger")
    patched = jsonpatch.apply_patch(deployment, json.loads(fix.patch.iloc[0]))
    annotations = patched["spec"]["template"]["metadata"]["annotations"]
    assert {"config.linkerd.io/proxy-cpu-request", "config.linkerd.io/proxy-memory-request"} <= set(annotations)


def test_a_multi_app_workload_counts_every_app_container_and_says_containerresource_cannot(sample: Analysis):
    """edge-router's pods run router and authz (both app) and istio-proxy. App-only sums both app
    containers; ContainerResource on router alone is replayed as its own remedy, and is far off."""
    remedies = sample.remedies[sample.remedies.hpa == "edge-router"].set_index("remedy")
    alone = remedies.loc["container-resource"]
    assert "app containers router, authz" in alone.notes and "router alone" in alone.notes
    skew = sample.hpa_skew.set_index("hpa").skew_replica_hours["edge-router"]
    assert alone.residual_skew_replica_hours > 2 * abs(skew)
    assert not alone.recommended and remedies.recommended.sum() == 1
    best = remedies[remedies.recommended].iloc[0]
    assert abs(best.residual_skew_replica_hours) < abs(alone.residual_skew_replica_hours)


def test_calibration_is_within_one_replica_95_percent_of_the_time(sample: Analysis) -> None:
    replayed = sample.hpa_skew.dropna(subset=["calibration_within_1"])
    assert len(replayed) == 12
    assert replayed.calibrated.all() and (replayed.calibration_within_1 >= 0.95).all()


def test_container_resource_remedy_is_ready_to_apply_and_removes_the_skew(sample: Analysis) -> None:
    fix = sample.remedies[(sample.remedies.hpa == "checkout") & (sample.remedies.remedy == "container-resource")]
    hpa = next(h for h in load_snapshot().items("HorizontalPodAutoscaler") if h["metadata"]["name"] == "checkout")
    doc = jsonpatch.apply_patch(hpa, json.loads(fix.patch.iloc[0]))
    assert fix.object.iloc[0] == "hpa/checkout" and fix.command.iloc[0].startswith("kubectl patch hpa checkout -n shop")
    assert doc["spec"]["metrics"] == [
        {
            "type": "ContainerResource",
            "containerResource": {
                "name": "cpu",
                "container": "checkout",
                "target": {"type": "Utilization", "averageUtilization": 70},
            },
        }
    ]
    assert fix.residual_skew_replica_hours.iloc[0] == 0


def test_retarget_is_the_pod_utilization_where_the_app_is_at_target(sample: Analysis) -> None:
    fits = sample.overhead.set_index(["workload", "container", "resource"])
    istio = fits.loc[("checkout", "istio-proxy", "cpu")]
    a = 0.70 * 0.5  # the app at its 70 % target of a 500m request
    expected = round(70 * ((a + istio.base + istio.slope * a) / 0.6) / (a / 0.5))
    fix = sample.remedies[(sample.remedies.hpa == "checkout") & (sample.remedies.remedy == "retarget")]
    replaced = [op for op in json.loads(fix.patch.iloc[0]) if op["op"] == "replace"]
    assert [op["path"] for op in replaced] == ["/spec/metrics/0"]
    target = replaced[0]["value"]["resource"]["target"]
    assert target == {"type": "Utilization", "averageUtilization": expected}
    assert expected in (75, 76, 77)
    assert abs(fix.residual_skew_percent.iloc[0]) < 3  # nearly app-only at typical load


def test_waste_is_excess_replica_hours_times_the_pod_price(sample: Analysis) -> None:
    row = sample.hpa_skew.set_index("hpa").loc["checkout"]
    w = sample.workloads.set_index("workload").loc["checkout"]
    window_h = len(load_snapshot().replicas.timestamp.unique()) * sample.metadata.step_s / 3600
    per_replica_hour = w.pod_cost_month / (HOURS_PER_MONTH * w.pods_mean)
    assert row.excess_replica_hours > 0 and row.missing_replica_hours == 0  # checkout is inflated throughout
    assert row.waste_cost_month == pytest.approx(
        row.excess_replica_hours / window_h * HOURS_PER_MONTH * per_replica_hour
    )
    assert row.replicas_too_many_mean == pytest.approx(row.excess_replica_hours / window_h)
    # docs/hpa.md's worked examples: 0.6 vCPU per replica, +3 replicas for a month = 2,190 replica-hours, about $41.5.
    assert 2190 * 0.6 * sample.prices.cpu_core_hour == pytest.approx(41.5, abs=0.1)


def test_hpas_that_cannot_be_replayed_are_findings_not_crashes(small: Synthetic) -> None:
    snap = small.snapshot
    objects = copy.deepcopy(snap.objects)
    ghost = copy.deepcopy(objects["HorizontalPodAutoscaler"][0])
    ghost["metadata"]["name"] = "ghost"
    ghost["spec"]["scaleTargetRef"]["name"] = "ghost"
    objects["HorizontalPodAutoscaler"].append(ghost)
    analysis = analyze(type(snap)(snap.metadata, snap.usage, snap.replicas, objects))
    row = analysis.hpa_skew.set_index("hpa").loc["ghost"]
    assert row.note == "no pods of Deployment/ghost in the snapshot"
    assert np.isnan(row.skew_replica_hours)
    assert analysis.hpas.set_index("hpa").loc["ghost"].status == "no-target"
