"""Fixes apply exactly as shown: every emitted patch applies to the snapshot's object (JSON Patch with the
python-json-patch library), the result validates against the Kubernetes schemas, the HPA patches change
only what their remedy changes (other metrics kept), and replaying the patched HPAs gives the effect the
remedy states."""

from __future__ import annotations

import copy
import json
import shlex
import subprocess
from dataclasses import replace
from pathlib import Path

import jsonpatch
import pytest

from analyzer.api import Analysis, analyze, render
from analyzer.findings.remedies import apply_command
from analyzer.snapshot.schema import Snapshot
from analyzer.synth.generate import Synthetic, generate
from tests.patching import applied, find, kubectl_local, patched, script_commands, valid


@pytest.fixture(scope="module")
def multi_metric(small: Synthetic) -> tuple[Snapshot, Analysis]:
    """The small snapshot with one HPA given three metrics: its CPU one, memory, and an External one."""
    objects = copy.deepcopy(small.snapshot.objects)
    hpa = next(h for h in objects["HorizontalPodAutoscaler"] if h["metadata"]["name"] == "checkout")
    hpa["spec"]["metrics"] += [
        {"type": "External", "external": {"metric": {"name": "queue_depth"},
                                          "target": {"type": "AverageValue", "averageValue": "30"}}},
        {"type": "Resource", "resource": {"name": "memory",
                                          "target": {"type": "Utilization", "averageUtilization": 90}}},
    ]  # fmt: skip
    snapshot = replace(small.snapshot, objects=objects)
    return snapshot, analyze(snapshot)


@pytest.fixture(scope="module")
def wide() -> tuple[Snapshot, Analysis]:
    """200 workloads (the catalogue over and over: multi-metric HPAs and KEDA ScaledObjects among them), 6 h."""
    snapshot = generate(workloads=200, days=0.25, step_s=60, seed=13).snapshot
    return snapshot, analyze(snapshot)


@pytest.fixture(params=["small", "multi-metric", "200-workloads"])
def case(request: pytest.FixtureRequest, small: Synthetic, small_analysis: Analysis,
         multi_metric: tuple[Snapshot, Analysis],
         wide: tuple[Snapshot, Analysis]) -> tuple[Snapshot, Analysis]:  # fmt: skip
    return {"small": (small.snapshot, small_analysis), "multi-metric": multi_metric, "200-workloads": wide}[
        request.param
    ]


def test_every_patch_applies_and_validates(case: tuple[Snapshot, Analysis]) -> None:
    snapshot, analysis = case
    emitted = analysis.remedies[analysis.remedies["patch"] != ""]
    assert len(emitted) >= 10
    for r in emitted.itertuples(index=False):
        before = find(snapshot, r.namespace, r.object)
        after = jsonpatch.apply_patch(before, json.loads(r.patch))  # raises if a test operation fails
        assert after != before
        valid(after)
        words = shlex.split(r.command)
        assert words[:2] == ["kubectl", "patch"] and words[3] == r.object.partition("/")[2]
        assert words[words.index("-n") + 1] == r.namespace and words[words.index("--type") + 1] == "json"


def test_hpa_patches_keep_every_metric_they_do_not_change(multi_metric: tuple[Snapshot, Analysis]) -> None:
    snapshot, analysis = multi_metric
    original = find(snapshot, "shop", "hpa/checkout")["spec"]["metrics"]
    hpa_fixes = analysis.remedies[
        (analysis.remedies["hpa"] == "checkout") & analysis.remedies["object"].str.startswith("hpa/")
    ]
    assert set(hpa_fixes["remedy"]) >= {"retarget", "container-resource"}
    for r in hpa_fixes.itertuples(index=False):
        metrics = jsonpatch.apply_patch(find(snapshot, "shop", "hpa/checkout"), json.loads(r.patch))["spec"]["metrics"]
        assert len(metrics) == 3 and metrics[1] == original[1]  # the External metric, untouched
        assert metrics[0] != original[0]  # the CPU metric is what the remedy changes
    stale = copy.deepcopy(find(snapshot, "shop", "hpa/checkout"))
    stale["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] = 55  # changed since the snapshot
    with pytest.raises(jsonpatch.JsonPatchTestFailed):
        jsonpatch.apply_patch(stale, json.loads(hpa_fixes.iloc[0]["patch"]))


def test_replaying_the_patched_hpas_gives_the_stated_effect(case: tuple[Snapshot, Analysis]) -> None:
    snapshot, analysis = case
    chosen = analysis.remedies[
        analysis.remedies["recommended"] & analysis.remedies["object"].str.startswith(("hpa/", "scaledobject/"))
    ]
    assert len(chosen) >= 3
    again = analyze(patched(snapshot, chosen)).hpa_skew.set_index(["namespace", "hpa"])
    for r in chosen.itertuples(index=False):
        row = again.loc[(r.namespace, r.hpa)]
        assert row.replica_hours_as_deployed == pytest.approx(r.replica_hours), (r.hpa, r.remedy)
        assert row.stalled_hours == r.stalled_hours == 0


def test_one_recommended_remedy_per_hpa_with_a_finding_and_none_without(small_analysis: Analysis) -> None:
    flagged = small_analysis.hpa_skew[small_analysis.hpa_skew["direction"].isin(["inflation", "dilution", "stalled"])]
    recommended = small_analysis.remedies[small_analysis.remedies["recommended"]]
    assert sorted(recommended["hpa"]) == sorted(flagged["hpa"])
    assert recommended["why"].str.startswith("smallest residual skew without a stall").all()
    assert (recommended["command"] != "").all()
    findings = small_analysis.findings.set_index("object")
    for r in recommended.itertuples(index=False):
        assert r.command in findings.loc[f"hpa/{r.hpa}", "fix"]


def test_the_fixes_folder_holds_one_file_per_object_and_a_script(small_analysis: Analysis, tmp_path: Path) -> None:
    render(small_analysis, tmp_path, ["fixes"])
    folder = tmp_path / "fixes"
    script = (folder / "apply.sh").read_text()
    assert script.startswith("#!/bin/sh\n") and "set -eu" in script and (folder / "apply.sh").stat().st_mode & 0o111
    chosen = small_analysis.remedies[small_analysis.remedies["recommended"]]
    commands = [line for line in script.splitlines() if line.startswith("kubectl ")]
    vpa_commands = small_analysis.vpa_hazards["command"]
    stop = small_analysis.stop_order["command"]
    assert sorted(commands) == sorted(set(chosen["command"]) | set(vpa_commands[vpa_commands != ""])
                                      | set(stop[stop != ""]))  # fmt: skip
    assert any(c.startswith("kubectl patch vpa ") for c in commands)
    for command in commands:
        path = tmp_path / shlex.split(command)[-1]
        assert path.is_file() and isinstance(json.loads(path.read_text()), list)


def test_hostile_names_stay_data_in_commands_and_paths(small_analysis: Analysis, tmp_path: Path) -> None:
    remedies = small_analysis.remedies.copy()
    hostile = "x; rm -rf / #"
    remedies.loc[remedies["recommended"], "command"] = apply_command("../../etc", "HorizontalPodAutoscaler", hostile)
    command = remedies.loc[remedies["recommended"], "command"].iloc[0]
    words = shlex.split(command)
    assert words[3] == hostile and words[5] == "../../etc" and ".." not in Path(words[-1]).parts


@pytest.mark.parametrize("how", ["ownerReferences", "label"])
def test_a_keda_owned_hpa_is_never_patched_directly(small: Synthetic, how: str) -> None:
    """KEDA rewrites the HPA it generates from its ScaledObject: the fix goes there, or to the workload."""
    objects = copy.deepcopy(small.snapshot.objects)
    hpa = next(h for h in objects["HorizontalPodAutoscaler"] if h["metadata"]["name"] == "checkout")
    if how == "ownerReferences":
        hpa["metadata"]["ownerReferences"] = [{"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject",
                                               "name": "checkout-so", "uid": "u", "controller": True}]  # fmt: skip
    else:
        hpa["metadata"].setdefault("labels", {})["scaledobject.keda.sh/name"] = "checkout-so"
    analysis = analyze(replace(small.snapshot, objects=objects))
    mine = analysis.remedies[analysis.remedies["hpa"] == "checkout"]
    on_hpa = mine[mine["object"] == "hpa/checkout"]
    assert len(on_hpa) >= 2 and (on_hpa["patch"] == "").all() and (on_hpa["command"] == "").all()
    assert on_hpa["notes"].str.contains("KEDA ScaledObject checkout-so").all()
    recommended = mine[mine["recommended"]]
    assert recommended.empty or (recommended["object"] != "hpa/checkout").all()


def test_every_high_or_medium_hpa_finding_has_one_fix_that_applies(wide: tuple[Snapshot, Analysis]) -> None:
    """On 200 workloads: one recommended fix per high/medium HPA finding, with its command, its patch and its
    simulated effect; the KEDA HPAs' fixes patch their ScaledObjects, the multi-metric HPAs keep both
    metrics (each its own resource)."""
    snapshot, analysis = wide
    serious = analysis.findings[analysis.findings["severity"].isin(["high", "medium"])
                                & analysis.findings["kind"].str.startswith("hpa-")]  # fmt: skip
    assert len(serious) >= 20
    recommended = analysis.remedies[analysis.remedies["recommended"]].set_index(["namespace", "hpa"])
    for f in serious.itertuples(index=False):
        fix = recommended.loc[[(f.namespace, f.object.partition("/")[2])]]
        assert len(fix) == 1
        r = fix.iloc[0]
        assert r.command.startswith("kubectl patch ") and json.loads(r.patch) and r.replica_hours > 0
    keda = recommended[recommended.index.get_level_values("hpa").str.startswith("keda-hpa-")]
    assert len(keda) >= 1 and keda["object"].str.startswith(("scaledobject/", "deployment/")).all()
    carts = [
        h for h in snapshot.items("HorizontalPodAutoscaler") if h["spec"]["scaleTargetRef"]["name"].startswith("cart")
    ]
    assert len(carts) >= 10
    for hpa in carts:
        key = (hpa["metadata"]["namespace"], hpa["metadata"]["name"])
        if key in recommended.index and recommended.loc[[key]].iloc[0]["object"].startswith("hpa/"):
            after = jsonpatch.apply_patch(hpa, json.loads(recommended.loc[[key]].iloc[0]["patch"]))["spec"]["metrics"]
            names = [(m.get("resource") or m.get("containerResource"))["name"] for m in after]
            assert names == ["cpu", "memory"]


ANSWERED_BY_A_VPA_PATCH = {"eviction-loop", "no-catch-all", "hpa-vpa-same-resource", "sidecar-moves-hpa-denominator"}


def test_every_vpa_hazard_a_policy_answers_has_a_patch_that_applies_and_clears_it(
    case: tuple[Snapshot, Analysis],
) -> None:
    """Each VPA's one patch applies to the VPA as collected, validates, and the snapshot analysed again with the
    patched VPAs has none of the hazards it answers (the native-sidecar one, which no VPA change answers, has
    no patch and stays)."""
    snapshot, analysis = case
    hazards = analysis.vpa_hazards
    answered = hazards[hazards["hazard"].isin(ANSWERED_BY_A_VPA_PATCH)]
    assert len(answered) >= 3 and (answered["patch"] != "").all() and (answered["command"] != "").all()
    assert (hazards.loc[~hazards["hazard"].isin(ANSWERED_BY_A_VPA_PATCH), "patch"] == "").all()
    per_vpa = answered.drop_duplicates(["namespace", "vpa"]).assign(object="vpa/" + answered["vpa"])
    assert (answered.groupby(["namespace", "vpa"])["patch"].nunique() == 1).all()  # one patch per VPA
    for r in per_vpa.itertuples(index=False):
        after = jsonpatch.apply_patch(find(snapshot, r.namespace, r.object), json.loads(r.patch))
        valid(after)
    again = analyze(patched(snapshot, per_vpa)).vpa_hazards
    left = again.merge(per_vpa[["namespace", "vpa"]], on=["namespace", "vpa"])
    assert not left["hazard"].isin(ANSWERED_BY_A_VPA_PATCH).any(), left[["vpa", "hazard"]]
    stale = copy.deepcopy(find(snapshot, per_vpa.iloc[0].namespace, per_vpa.iloc[0].object))
    stale["spec"]["resourcePolicy"] = {"containerPolicies": [{"containerName": "*", "mode": "Auto"}]}
    with pytest.raises(jsonpatch.JsonPatchTestFailed):  # someone changed the policies since the snapshot
        jsonpatch.apply_patch(stale, json.loads(per_vpa.iloc[0].patch))


def test_every_command_of_apply_sh_applies_with_the_real_kubectl(
    case: tuple[Snapshot, Analysis], tmp_path: Path
) -> None:
    """Each command ``apply.sh`` lists, run by a real kubectl on the object as collected, gives what the JSON
    Patch library gives, and the result validates; on an object changed since, kubectl refuses the patch. A
    command whose operations (kind, op and path each) another already ran, a catalogue clone's, is checked with
    the library alone: kubectl ran those operations once."""
    snapshot, analysis = case
    render(analysis, tmp_path, ["fixes"])
    commands = script_commands(tmp_path / "fixes" / "apply.sh")
    assert any(" vpa " in c for c in commands) and any(" hpa " in c for c in commands)
    shapes: set[tuple[object, ...]] = set()
    for command in commands:
        words = shlex.split(command)
        patch = json.loads((tmp_path / words[-1]).read_text())
        expected = jsonpatch.apply_patch(find(snapshot, words[5], f"{words[2]}/{words[3]}"), patch)
        shape = (words[2], tuple((op["op"], op["path"]) for op in patch))
        if shape in shapes:
            continue
        shapes.add(shape)
        _, after = applied(command, snapshot, tmp_path)
        assert after == expected, command
    vpa_command = next(c for c in commands if " vpa " in c)
    words = shlex.split(vpa_command)
    stale = copy.deepcopy(find(snapshot, words[5], f"vpa/{words[3]}"))
    stale["spec"]["resourcePolicy"] = {"containerPolicies": [{"containerName": "*", "mode": "Auto"}]}
    refused = kubectl_local(vpa_command, stale, tmp_path)
    assert refused.returncode != 0 and "test failed" in refused.stderr


def test_the_fixes_at_the_source_apply_with_the_real_kubectl(sample_analysis: Analysis, tmp_path: Path) -> None:
    """apply-at-source.sh: each namespace patch, run by a real kubectl on a namespace with and without
    annotations, sets the injector's request annotations the cause names and keeps every other one."""
    render(sample_analysis, tmp_path, ["fixes"])
    script = (tmp_path / "fixes" / "apply-at-source.sh").read_text()
    commands = [line for line in script.splitlines() if line.startswith("kubectl ")]
    linkerd = sample_analysis.causes.set_index("cause").loc["hpa-stalled/linkerd-proxy:linkerd/proxy:injector"]
    assert commands == ["kubectl patch namespace payments --type merge --patch-file "
                        "fixes/payments/namespace-payments.json"]  # fmt: skip
    assert "#     agentDefaults:" in script and "#       cpuRequest: " in script  # vault: for its owner
    wanted = {"config.linkerd.io/proxy-cpu-request": linkerd.cpu_request,
              "config.linkerd.io/proxy-memory-request": linkerd.memory_request}  # fmt: skip
    for before in ({}, {"team": "payments", "config.linkerd.io/proxy-cpu-request": "1m"}):
        namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "payments"}}
        if before:
            namespace["metadata"]["annotations"] = before
        source = tmp_path / "namespace.json"
        source.write_text(json.dumps(namespace))
        words = shlex.split(commands[0])
        done = subprocess.run(["kubectl", "patch", "--local", "-f", str(source), *words[4:], "-o", "json"],
                              cwd=tmp_path, capture_output=True, text=True, timeout=60)  # fmt: skip
        assert done.returncode == 0, done.stderr
        annotations = json.loads(done.stdout)["metadata"]["annotations"]
        assert annotations == {**before, **wanted} and wanted["config.linkerd.io/proxy-cpu-request"].endswith("m")


def test_fixes_of_one_object_never_undo_each_other() -> None:
    """Two fixes built against a template without annotations each add the whole map; in one file the second
    adds its keys instead, so applying the file keeps both (and a nested map the same way)."""
    from analyzer.render.fixes import combined

    template = {"spec": {"template": {"spec": {"containers": [{"name": "app"}]}}}}
    first = [{"op": "add", "path": "/spec/template/metadata", "value": {"annotations": {"a/b": "1"}}}]
    second = [{"op": "add", "path": "/spec/template/metadata", "value": {"annotations": {"c~d": "2"}}}]
    third = [{"op": "add", "path": "/spec/template/metadata/annotations", "value": {"e": "3"}}]
    after = jsonpatch.apply_patch(template, combined(first + second + third))
    assert after["spec"]["template"]["metadata"]["annotations"] == {"a/b": "1", "c~d": "2", "e": "3"}
    assert jsonpatch.apply_patch(template, first + second)["spec"]["template"]["metadata"]["annotations"] == {
        "c~d": "2"}  # what one file of both did before  # fmt: skip
