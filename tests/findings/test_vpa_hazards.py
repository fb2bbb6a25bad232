"""VPA acceptance on the bundled sample: the hazards each scenario is built to show, and no others."""

from __future__ import annotations

import copy
import json

import jsonpatch
import numpy as np
import pytest

from analyzer.api import Analysis, analyze, load_snapshot
from analyzer.simulate.vpa_recommender import CPU_HISTOGRAM
from analyzer.snapshot.schema import Snapshot
from analyzer.snapshot.vpa import parse_vpa
from analyzer.synth.generate import Synthetic


@pytest.fixture
def sample(sample_analysis: Analysis) -> Analysis:
    """The session's shared analysis (tests/conftest.py)."""
    return sample_analysis


def test_scenarios_raise_exactly_their_expected_hazards(sample: Analysis, small: Synthetic) -> None:
    found = sample.vpa_hazards.groupby("workload")["hazard"].apply(set).to_dict()
    for w in small.truth["workloads"]:  # the same catalogue as the sample
        assert found.get(w["workload"], set()) == set(w["expected_vpa_hazards"]), w["workload"]
    assert set(sample.vpa_hazards.severity) <= {"high", "medium", "low"}
    for h in sample.vpa_hazards.itertuples(index=False):  # each answered by its VPA's one guarded patch
        assert h.command == f"kubectl patch vpa {h.vpa} -n {h.namespace} --type json --patch-file " \
                            f"fixes/{h.namespace}/vpa-{h.vpa}.json"  # fmt: skip
        assert json.loads(h.patch)[0]["op"] == "test" and h.fix.startswith(f"{h.change}\n# {h.command}\n")


def test_the_floor_split_is_shown_and_the_fix_restores_it(small: Synthetic) -> None:
    before = analyze(small.snapshot)
    search = before.vpa.set_index(["workload", "container"]).loc[("search", "search")]
    assert search.floor_cpu_cores == 0.0125 and search.floor_memory_bytes == 125 * 2**20
    fix = before.vpa_hazards[(before.vpa_hazards.workload == "search") & (before.vpa_hazards.hazard == "no-catch-all")]
    vpa = next(v for v in small.snapshot.items("VerticalPodAutoscaler") if v["metadata"]["name"] == "search")
    patched = jsonpatch.apply_patch(vpa, json.loads(fix.patch.iloc[0]))
    after = analyze(
        _with_vpa_policies(small.snapshot, "search", patched["spec"]["resourcePolicy"]["containerPolicies"])
    )
    rows = after.vpa.set_index(["workload", "container"])
    assert rows.loc[("search", "search")].floor_cpu_cores == 0.025
    assert not rows.loc[("search", "istio-proxy")].tracked
    assert not (after.vpa_hazards.workload == "search").any()


def test_a_memory_only_vpa_with_the_sidecar_off_raises_nothing(small: Synthetic) -> None:
    policies = [
        {"containerName": "*", "controlledResources": ["memory"]},
        {"containerName": "istio-proxy", "mode": "Off"},
    ]
    after = analyze(_with_vpa_policies(small.snapshot, "recommender", policies))
    assert not (after.vpa_hazards.workload == "recommender").any()


def test_a_native_sidecar_holding_a_fifth_of_the_requests_is_flagged(small: Synthetic) -> None:
    snap = small.snapshot
    objects = copy.deepcopy(snap.objects)
    vpa = copy.deepcopy(objects["VerticalPodAutoscaler"][0])
    vpa["metadata"] = {**vpa["metadata"], "name": "fraud-scorer", "namespace": "payments"}
    vpa["spec"] = {
        "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "fraud-scorer"},
        "updatePolicy": {"updateMode": "Initial"},
        # memory only: the CPU HPA on the same workload is then no hazard
        "resourcePolicy": {"containerPolicies": [{"containerName": "*", "controlledResources": ["memory"]}]},
    }
    objects["VerticalPodAutoscaler"].append(vpa)
    analysis = analyze(Snapshot(snap.metadata, snap.usage, snap.replicas, objects))
    found = analysis.vpa_hazards[analysis.vpa_hazards.workload == "fraud-scorer"]
    assert found.hazard.tolist() == ["native-sidecar-ignored"]
    assert found.value.iloc[0] == pytest.approx(0.2)  # 250m of 1250m, 256Mi of 1280Mi
    native = analysis.vpa.set_index(["workload", "container"]).loc[("fraud-scorer", "istio-proxy")]
    assert not native.tracked and np.isnan(native.cpu_target_cores)


def test_hpa_and_vpa_on_cpu_drift_the_way_the_replay_shows(sample: Analysis) -> None:
    hazard = sample.vpa_hazards[sample.vpa_hazards.hazard == "hpa-vpa-same-resource"].iloc[0]
    assert hazard.value > 60 and "drift up" in hazard.evidence  # pinned above the 60 % target
    effect = sample.vpa_hpa.set_index("hpa").loc["recommender"]
    assert effect.change_replica_hours > 0.1 * effect.replica_hours_as_deployed


def test_cpu_targets_match_a_hand_computed_weighted_percentile(sample: Analysis) -> None:
    """Reference: sort the samples, weight each by 2^(age / 24 h), take p90, its bucket's upper edge × 1.15."""
    snap = load_snapshot()
    usage = snap.usage
    end = usage.timestamp.max()
    checked = 0
    for r in sample.vpa[sample.vpa.tracked].itertuples():
        if r.cpu_target_cores <= r.floor_cpu_cores + 0.001:
            continue  # floor-bound: nothing to compare
        pods = sample.classes[(sample.classes.workload == r.workload) & (sample.classes.container == r.container)]
        rows = usage[usage.pod.isin(pods.pod) & (usage.container == r.container) & (usage.namespace == r.namespace)]
        values = rows.cpu_cores.to_numpy()
        weights = np.exp2(-(end - rows.timestamp).dt.total_seconds().to_numpy() / 86400)
        order = np.argsort(values, kind="stable")
        cum = np.cumsum(weights[order])
        p90 = values[order][np.searchsorted(cum, 0.9 * cum[-1])]
        expected = CPU_HISTOGRAM.bucket_start(CPU_HISTOGRAM.bucket_of(np.array([p90]))[0] + 1) * 1.15
        assert abs(np.log(r.cpu_target_cores / expected)) <= np.log(1.05) + 1e-3, (r.workload, r.container)
        checked += 1
    assert checked >= 10


def _with_vpa_policies(snap: Snapshot, name: str, policies: list[dict]) -> Snapshot:
    objects = copy.deepcopy(snap.objects)
    for vpa in objects["VerticalPodAutoscaler"]:
        if vpa["metadata"]["name"] == name:
            vpa["spec"].setdefault("resourcePolicy", {})["containerPolicies"] = policies
    return Snapshot(snap.metadata, snap.usage, snap.replicas, objects)


def test_a_sidecar_the_vpa_webhook_never_saw_cannot_loop_evictions(small: Synthetic) -> None:
    snap = small.snapshot
    objects = copy.deepcopy(snap.objects)
    for pod in objects["Pod"]:
        if pod["metadata"]["namespace"] == "web" and pod["metadata"]["name"].startswith("search-"):
            pod["metadata"].setdefault("annotations", {})["vpaObservedContainers"] = "search"
    analysis = analyze(Snapshot(snap.metadata, snap.usage, snap.replicas, objects))
    search = analysis.vpa_hazards[analysis.vpa_hazards.workload == "search"]
    assert set(search.hazard) == {"no-catch-all"}  # still recommended for, still splitting the floor
    row = analysis.vpa.set_index(["workload", "container"]).loc[("search", "istio-proxy")]
    assert row.tracked and not row.observed


def test_the_first_entry_naming_a_container_applies_and_the_last_catch_all(small: Synthetic) -> None:
    """``GetContainerResourcePolicy``: the first entry with the container's name, else the last ``"*"``."""
    policies = [
        {"containerName": "istio-proxy", "mode": "Off"},
        {"containerName": "*", "mode": "Auto"},
        {"containerName": "istio-proxy", "mode": "Auto"},
        {"containerName": "*", "mode": "Off"},
    ]
    after = analyze(_with_vpa_policies(small.snapshot, "search", policies))
    rows = after.vpa.set_index(["workload", "container"])
    assert rows.loc[("search", "istio-proxy")]["mode"] == "Off" and rows.loc[("search", "search")]["mode"] == "Off"
    vpa = next(v for v in small.snapshot.items("VerticalPodAutoscaler") if v["metadata"]["name"] == "search")
    spec = parse_vpa({**vpa, "spec": {**vpa["spec"], "resourcePolicy": {"containerPolicies": policies}}})
    assert spec.policy_index == {"istio-proxy": 0, "*": 3}  # the entries a patch of these names changes
