"""Findings grouped by cause (analyzer.findings.causes), checked against the generator's scenarios: which
sidecar each finding comes from, what set its requests, and the one change at the source."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from analyzer.api import Analysis, analyze
from analyzer.model.classify import Role
from analyzer.synth.generate import Synthetic, generate
from analyzer.synth.scenarios import CATALOGUE


def expected_sources(synthetic: Synthetic) -> dict[tuple[str, str, str], str]:
    """What the generator set each sidecar's requests with (its truth, from how the scenario is built): the
    template, the workload's injector annotation, the namespace's, or the injector's own configuration."""
    return {
        (w["namespace"], w["workload"], c["container"]): c["request_source"]
        for w in synthetic.truth["workloads"]
        for c in w["sidecars"]
    }


def test_every_sidecar_gets_the_request_source_the_generator_used(small: Synthetic, small_analysis: Analysis) -> None:
    sidecars = small_analysis.containers[small_analysis.containers["role"] == Role.SIDECAR]
    got = dict(zip(zip(sidecars.namespace, sidecars.workload, sidecars.container, strict=True),
                   sidecars.request_source, strict=True))  # fmt: skip
    assert got == expected_sources(small)
    assert {"template", "injector", "pod-annotation"} <= set(got.values())


def test_every_finding_has_one_cause_and_the_causes_add_up(small_analysis: Analysis) -> None:
    findings, causes = small_analysis.findings, small_analysis.causes
    assert findings["cause"].map(len).min() > 0
    assert sorted(causes["cause"]) == sorted(set(findings["cause"]))
    assert causes["findings"].sum() == len(findings)
    skew = small_analysis.hpa_skew.assign(object="hpa/" + small_analysis.hpa_skew["hpa"])
    for c in causes.itertuples(index=False):
        mine = findings[findings["cause"] == c.cause]
        assert list(c.members) == sorted(mine["namespace"] + "/" + mine["object"])
        assert c.severity == max(mine["severity"], key=["low", "medium", "high"].index)
        measured = mine[mine["kind"].isin(["hpa-stalled", "hpa-inflation", "hpa-dilution"])]
        hpas = skew.merge(measured[["namespace", "object"]], on=["namespace", "object"])
        assert c.hpas == len(hpas)
        assert c.excess_replica_hours == pytest.approx(hpas["excess_replica_hours"].sum(), abs=0.051)
        assert c.missing_replica_hours == pytest.approx(hpas["missing_replica_hours"].sum(), abs=0.051)
    order = causes["severity"].map(["low", "medium", "high"].index)
    assert order.is_monotonic_decreasing


def test_the_sample_causes_and_their_fixes_at_the_source(sample_analysis: Analysis) -> None:
    causes = sample_analysis.causes.set_index("cause")
    containers = sample_analysis.containers.set_index(["namespace", "workload", "container"])

    # The linkerd proxy without a request: the injector's setting at its p90 usage, per namespace or mesh-wide.
    stalled = causes.loc["hpa-stalled/linkerd-proxy:linkerd/proxy:injector"]
    proxy = containers.loc[("payments", "ledger", "linkerd-proxy")]
    cpu, mem = math.ceil(proxy.cpu_p90_cores * 1000), math.ceil(proxy.memory_p90_bytes / 2**20)
    assert f"cpu {cpu}m, memory {mem}Mi" in stalled.change
    assert (stalled.cpu_request, stalled.memory_request, stalled.sidecar_kind) == (f"{cpu}m", f"{mem}Mi", "linkerd")
    assert (
        f"the annotations config.linkerd.io/proxy-cpu-request: {cpu}m and config.linkerd.io/proxy-memory-request: "
        f"{mem}Mi"
    ) in stalled.fix
    assert "kubectl patch namespace payments --type merge --patch-file fixes/payments/namespace-payments.json" in (
        stalled.fix
    )  # fmt: skip
    assert f"cpu:\n      request: {cpu}m" in stalled.fix and stalled.stalled_hours == pytest.approx(72.0)

    # The injector's istio-proxy skews HPAs both ways: one cause; sizing it from usage does not help (the
    # replay says so), so no setting is proposed and each HPA keeps its own fix.
    istio = causes.loc["hpa-skew/istio-proxy:istio/proxyv2:injector"]
    members = list(istio.members)
    kinds = sample_analysis.findings.set_index(["namespace", "object"]).loc[
        [tuple(m.split("/", 1)) for m in members], "kind"
    ]
    assert {"hpa-inflation", "hpa-dilution"} == set(kinds) and istio.hpas == len(members) >= 5
    assert istio.fix == "" and "does not answer them" in istio.change
    net = sample_analysis.hpa_skew.set_index("hpa").loc[[m.split("/")[-1] for m in members], "skew_replica_hours"]
    assert istio.residual_replica_hours >= net.abs().sum()

    # A workload that overrides the injector with its own annotation is a cause apart.
    # The workloads that override the injector with their own annotations (the generator's scenarios that set
    # sidecar.istio.io/proxyCPU) are a cause apart.
    overriding = {"shop/hpa/pricing", "edge/hpa/edge-router", "payments/hpa/fraud-scorer"}
    override = set(causes.loc["hpa-skew/istio-proxy:istio/proxyv2:pod-annotation"].members)
    assert {"shop/hpa/pricing", "edge/hpa/edge-router"} <= override <= overriding
    assert not overriding & set(members)
    assert causes.loc["hpa-skew/vault-agent:hashicorp/vault:injector"].fix.startswith("# the injector's defaults")


def test_clones_of_one_problem_across_namespaces_are_one_cause() -> None:
    """Three rounds of the catalogue in nine namespaces each: every linkerd-stalled clone is a member of one
    cause, and nothing else is."""
    synthetic = generate(workloads=3 * len(CATALOGUE), days=0.25, step_s=60, seed=5)
    analysis = analyze(synthetic.snapshot)
    stalled = {
        (w["namespace"], w["workload"]) for w in synthetic.truth["workloads"] if w["scenario"] == "linkerd-stalled"
    }
    assert len(stalled) == 3
    causes = analysis.causes.set_index("cause")
    members = causes.loc["hpa-stalled/linkerd-proxy:linkerd/proxy:injector", "members"]
    targets = dict(zip(analysis.hpa_skew["namespace"] + "/hpa/" + analysis.hpa_skew["hpa"],
                       analysis.hpa_skew["target"].str.split("/").str[1], strict=True))  # fmt: skip
    assert {(m.split("/")[0], targets[m]) for m in members} == stalled
    assert len(analysis.causes) < len(analysis.findings) / 2
    assert isinstance(analysis.causes, pd.DataFrame)
