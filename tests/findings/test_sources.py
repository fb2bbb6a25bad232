"""Causes by the source of a sidecar's requests, against the generator's truth (``sample --catalogue sources``):
a Linkerd namespace annotation (which the injector copies into each pod), per-workload overrides of it, and the
injector's default. The truth names the one change that moves each sidecar's requests; the report must group
the findings by it, and the namespace patch it writes, applied by a real kubectl and regenerated, must answer
exactly the members of its cause."""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer.api import Analysis, analyze, render
from analyzer.findings.source_replay import check_kits, member_kits, replay_at_source
from analyzer.model.classify import Role
from analyzer.simulate.views import p90_request
from analyzer.synth.generate import Synthetic, generate

WORKLOADS, DAYS = 5, 1.0


@pytest.fixture(scope="module")
def sources() -> tuple[Synthetic, Analysis]:
    synthetic = generate(workloads=WORKLOADS, days=DAYS, catalogue="sources", seed=5)
    return synthetic, analyze(synthetic.snapshot)


def _truth(synthetic: Synthetic) -> dict[tuple[str, str], dict[str, str]]:
    """Per workload, its one sidecar's truth: request_source and requests_set_by."""
    return {(w["namespace"], w["workload"]): w["sidecars"][0] for w in synthetic.truth["workloads"]}


def test_each_sidecar_gets_the_source_the_generator_set_its_requests_with(sources: tuple[Synthetic, Analysis]) -> None:
    synthetic, analysis = sources
    sidecars = analysis.containers[analysis.containers["role"] == Role.SIDECAR]
    got = {(r.namespace, r.workload): r.request_source for r in sidecars.itertuples(index=False)}
    want = {k: t["request_source"] for k, t in _truth(synthetic).items()}
    assert got == want
    assert set(want.values()) == {"namespace-annotation", "pod-annotation", "injector"}


def test_the_causes_are_the_changes_the_truth_names(sources: tuple[Synthetic, Analysis]) -> None:
    """Each autoscaling cause's members are the workloads one kind of change moves: the namespace annotation
    (cart-api, tax-api: not promo-api, which overrides it in the same namespace), the overrides (one cause of
    two workloads in two namespaces, each its own change), the injector's default (the stall)."""
    synthetic, analysis = sources
    truth = _truth(synthetic)
    causes = analysis.causes.set_index("cause")
    hpa_causes = causes[causes["kind"].isin(["hpa-skew", "hpa-stalled"])]
    grouped = {key: {tuple(m.replace("/hpa/", "/").split("/")) for m in c.members}
               for key, c in hpa_causes.iterrows()}  # fmt: skip
    by_source: dict[str, set[tuple[str, str]]] = {}
    for k, t in truth.items():
        by_source.setdefault(t["request_source"], set()).add(k)
    assert grouped == {
        "hpa-skew/linkerd-proxy:linkerd/proxy:namespace-annotation": by_source["namespace-annotation"],
        "hpa-skew/linkerd-proxy:linkerd/proxy:pod-annotation": by_source["pod-annotation"],
        "hpa-stalled/linkerd-proxy:linkerd/proxy:injector": by_source["injector"],
    }
    assert {truth[m]["requests_set_by"] for m in by_source["namespace-annotation"]} == {"namespace/checkout"}
    assert len({truth[m]["requests_set_by"] for m in by_source["pod-annotation"]}) == 2  # one change each
    ns = causes.loc["hpa-skew/linkerd-proxy:linkerd/proxy:namespace-annotation"]
    assert "annotations of namespace checkout" in ns.change and "Helm" not in ns.fix
    assert ns.residual_replica_hours < 0.1 * (ns.missing_replica_hours + ns.excess_replica_hours)
    # every member replayed at the one value the namespace change sets
    at = {"cpu": ns.cpu_request, "memory": ns.memory_request}
    replayed = replay_at_source(member_kits(analysis.source_kits, ns.members, "linkerd-proxy"), at)
    assert ns.member_residual_replica_hours == [round(replayed[tuple(m.split("/hpa/"))], 1) for m in ns.members]
    assert ns.residual_replica_hours == pytest.approx(sum(abs(v) for v in replayed.values()), abs=0.05)
    override = causes.loc["hpa-skew/linkerd-proxy:linkerd/proxy:pod-annotation"]
    assert override.fix == "" and "its own annotation" in override.change
    # a lifecycle finding's cause does not split by what set the requests
    stop = causes[causes["kind"] == "sidecar-stop-order"]
    assert list(stop.index) == ["sidecar-stop-order/linkerd-proxy:linkerd/proxy:injected"]


def test_a_kit_replayed_at_the_sidecars_own_p90_is_its_sidecar_requests_remedy(
    sources: tuple[Synthetic, Analysis],
) -> None:
    """The merged analysis replays each member's kit at the cause's value; at the member's own p90 (its only
    sidecar) that is exactly the sidecar-requests remedy the partition replayed: the kit rebuilds the column."""
    _, analysis = sources
    kits = analysis.source_kits
    assert set(zip(kits["namespace"], kits["hpa"], strict=True)) == {
        ("checkout", "cart-api"), ("checkout", "tax-api"), ("catalog", "stock-api")}  # fmt: skip
    own = analysis.remedies[analysis.remedies["remedy"] == "sidecar-requests"].set_index(["namespace", "hpa"])
    p90 = analysis.containers[analysis.containers["container"] == "linkerd-proxy"].set_index(["namespace", "workload"])
    for i in range(len(kits)):
        key = (kits["namespace"].iloc[i], kits["hpa"].iloc[i])
        at = p90_request(float(p90.loc[key, "cpu_p90_cores"]), float(p90.loc[key, "memory_p90_bytes"]))
        assert replay_at_source(kits.iloc[[i]], at)[key] == pytest.approx(
            own.loc[key, "residual_skew_replica_hours"], abs=1e-9)  # fmt: skip
        assert replay_at_source(kits.iloc[[i]], {"cpu": "250m", "memory": "64Mi"})[key] != pytest.approx(
            own.loc[key, "residual_skew_replica_hours"], abs=1.0)  # fmt: skip


def test_the_namespace_patch_answers_its_members_and_no_other(
    sources: tuple[Synthetic, Analysis], tmp_path: Path
) -> None:
    """apply-at-source.sh's patch of namespace checkout, run by a real kubectl on the namespace as it is, gives
    the annotations the cluster is generated again with (the same traffic): the cause's HPAs are no longer
    skewed; promo-api (its own annotation, same namespace) and the catalog workloads keep their findings."""
    _, analysis = sources
    render(analysis, tmp_path, ["fixes"])
    commands = [c for c in (tmp_path / "fixes" / "apply-at-source.sh").read_text().splitlines()
                if c.startswith("kubectl patch namespace checkout ")]  # fmt: skip
    assert len(commands) == 1
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "checkout", "annotations": {
        "config.linkerd.io/proxy-cpu-request": "250m", "config.linkerd.io/proxy-memory-request": "64Mi"}}}  # fmt: skip
    (tmp_path / "namespace.json").write_text(json.dumps(namespace))
    words = shlex.split(commands[0])
    done = subprocess.run(["kubectl", "patch", "--local", "-f", "namespace.json", *words[4:], "-o", "json"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    annotations = json.loads(done.stdout)["metadata"]["annotations"]
    assert annotations["config.linkerd.io/proxy-cpu-request"] != "250m"

    fixed = analyze(generate(workloads=WORKLOADS, days=DAYS, catalogue="sources", seed=5,
                             namespaces={"checkout": annotations}).snapshot)  # fmt: skip
    before = analysis.hpa_skew.set_index(["namespace", "hpa"])["skew_percent"]
    after = fixed.hpa_skew.set_index(["namespace", "hpa"])["skew_percent"]
    for hpa in [("checkout", "cart-api"), ("checkout", "tax-api")]:
        assert before[hpa] < -10 and abs(after[hpa]) < 2, hpa
    for hpa in [("checkout", "promo-api"), ("catalog", "search-api"), ("catalog", "stock-api")]:
        assert after[hpa] == pytest.approx(before[hpa], abs=1.5), hpa
    # the residual the report predicts for the cause (each member at its own p90) against the generator's truth at
    # the one value the namespace now sets: within a replica-hour
    ns = analysis.causes.set_index("cause").loc["hpa-skew/linkerd-proxy:linkerd/proxy:namespace-annotation"]
    truth = fixed.hpa_skew.set_index(["namespace", "hpa"])["skew_replica_hours"]
    left = sum(abs(truth[tuple(m.split("/hpa/"))]) for m in ns.members)
    assert left == pytest.approx(ns.residual_replica_hours, abs=1.0)
    kinds = {(f.namespace, f.object): f.kind for f in fixed.findings.itertuples() if f.kind.startswith("hpa-")}
    assert kinds == {("checkout", "hpa/promo-api"): "hpa-dilution", ("catalog", "hpa/search-api"): "hpa-dilution",
                     ("catalog", "hpa/stock-api"): "hpa-stalled"}  # fmt: skip


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                    max_leaves=20)  # fmt: skip


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_a_kit_of_any_shape_is_checked_or_refused_in_words(
    sources: tuple[Synthetic, Analysis], data: st.DataObject
) -> None:
    """A partial result's kits, damaged anywhere (a field of the column document, the demand, the initial
    replicas): the check names the first problem or passes it, and a kit it passes replays."""
    _, analysis = sources
    kit = analysis.source_kits.iloc[[0]].reset_index(drop=True).copy()
    column = json.loads(kit.at[0, "column"])
    field = data.draw(st.sampled_from(sorted(column)))
    column[field] = data.draw(JSON | st.just(column[field]))
    kit.at[0, "column"] = data.draw(st.just(json.dumps(column)) | st.text(max_size=8))
    kit.at[0, "demand"] = data.draw(st.just(kit.at[0, "demand"]) | st.lists(JSON, max_size=3).map(list))
    kit.at[0, "initial"] = data.draw(st.just(int(kit.at[0, "initial"])) | st.integers(-2, 2))
    problem = check_kits(pd.DataFrame(kit))
    assert problem is None or (problem.startswith("row 0: ") and "\n" not in problem)
    if problem is None:
        key = (kit.at[0, "namespace"], kit.at[0, "hpa"])
        assert key in replay_at_source(kit, {"cpu": "10m", "memory": "10Mi"})
