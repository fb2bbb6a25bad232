"""The native-sidecar migration, simulated (analyzer.findings.native_migration): the KEP-753 request formula
by hand, the HPA's counting by version, the VPA's loss, the controls, and the patches with a real kubectl."""

from __future__ import annotations

import dataclasses
import shlex
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from analyzer.api import Analysis, analyze, load_snapshot, render
from analyzer.findings.native_migration import as_native
from analyzer.simulate.kube_version import KubeVersion
from analyzer.simulate.pod_requests import aggregate_container_requests, pod_request
from analyzer.snapshot.kube import Container, PodSpec
from analyzer.snapshot.schema import Snapshot
from analyzer.synth.generate import Synthetic
from tests.patching import applied, script_commands


def container(name: str, cpu: str, init: bool = False, policy: str | None = None) -> Container:
    return Container(name, init=init, restart_policy=policy, requests={"cpu": Decimal(cpu)})


# app 500m + istio-proxy 100m, with a run-once init container of ``init`` millicores.
@pytest.mark.parametrize(
    ("init", "before", "after"),
    [
        (None, 600, 600),  # no init container: the sum, before and after
        ("0.2", 600, 600),  # max(0.2 + 0.1, 0.5 + 0.1) = 600m: the containers' sum wins
        ("0.8", 800, 900),  # max(0.8 + 0.1, 0.5 + 0.1): the init container now runs beside the sidecar
    ],
)
def test_the_effective_request_follows_kep_753(init: str | None, before: int, after: int) -> None:
    """KEP-753: max over init containers of (the restartable ones before it + its request) and the sidecars +
    containers. The migrated sidecar goes first among the init containers, so a large init container after it
    needs the sidecar's request beside its own."""
    inits = (container("migrate", init, init=True),) if init else ()
    spec = PodSpec(containers=(container("app", "0.5"), container("istio-proxy", "0.1")), init_containers=inits)
    native = as_native(spec, "istio-proxy")
    assert native.init_containers[0].name == "istio-proxy" and native.init_containers[0].native_sidecar
    assert [c.name for c in native.containers] == ["app"]
    assert aggregate_container_requests(spec)["cpu"] == before  # milli-units: millicores
    assert aggregate_container_requests(native)["cpu"] == after


def test_the_hpa_counts_a_native_sidecars_request_from_1_29() -> None:
    """kubernetes#120001 (``calculatePodRequestsFromContainers``): from 1.29 the HPA's denominator sums
    restartable init containers with the containers, so the migration leaves it as it was; before, it drops
    the sidecar's request (and the utilization rises)."""
    spec = PodSpec(containers=(container("app", "0.5"), container("istio-proxy", "0.1")))
    native = as_native(spec, "istio-proxy")
    assert pod_request(spec, "p", "cpu", KubeVersion(29)).milli == 600
    assert pod_request(native, "p", "cpu", KubeVersion(29)).milli == 600
    assert pod_request(native, "p", "cpu", KubeVersion(28)).milli == 500
    # ContainerResource finds a native sidecar too (it searches containers and restartable init containers)
    assert pod_request(native, "p", "cpu", KubeVersion(29), container="istio-proxy").milli == 100


def test_the_sample_migration_table(sample_analysis: Analysis) -> None:
    """Every classic sidecar has a row; the workload already on a native sidecar (fraud-scorer) has none;
    vault-agent is not offered (its injector cannot yet); the VPAs that size istio-proxy lose it; no HPA
    replica moves on 1.34."""
    m = sample_analysis.native_migration.set_index("workload")
    classic = sample_analysis.containers[
        (sample_analysis.containers["role"] == "sidecar") & ~sample_analysis.containers["native_sidecar"]
    ]
    assert sorted(m.index) == sorted(classic["workload"]) and "fraud-scorer" not in m.index
    assert not m.loc["billing-api", "offered"] and "vault-k8s#620" in m.loc["billing-api", "why_not"]
    assert m.drop(index="billing-api")["offered"].all()
    for workload in ("recommender", "search"):
        assert m.loc[workload, "vpa_before"].endswith("sizes it (Auto)") and m.loc[workload, "vpa_stops_sizing"]
        assert "does not size it" in m.loc[workload, "vpa_after"] and "autoscaler#7229" in m.loc[workload, "vpa_after"]
    assert m.loc["cart", "hpa_change"].startswith("cpu (Resource): none")
    assert m.loc["ledger", "change"].startswith('pod template annotation config.linkerd.io/proxy-enable-native-sidecar')


def test_below_1_29_nothing_is_offered(small: Synthetic) -> None:
    old = analyze(small.snapshot, version=KubeVersion(28))
    assert len(old.native_migration) and not old.native_migration["offered"].any()
    assert old.native_migration["why_not"].str.contains("1.28").all()
    assert (old.native_migration["patch"] == "").all()
    # the version a snapshot records (collect reads the API server's /version) is the one simulated
    metadata = dataclasses.replace(small.snapshot.metadata, extra={**small.snapshot.metadata.extra,
                                                                   "kubernetes_version": "1.28"})  # fmt: skip
    recorded = analyze(dataclasses.replace(small.snapshot, metadata=metadata))
    pd.testing.assert_frame_equal(recorded.native_migration, old.native_migration)
    assert analyze(small.snapshot).native_migration["offered"].any()  # the generator records 1.34


@pytest.fixture(scope="module")
def sample_snapshot() -> Snapshot:
    return load_snapshot()


def test_every_migration_patch_applies_with_the_real_kubectl(
    sample_analysis: Analysis, sample_snapshot: Snapshot, tmp_path: Path
) -> None:
    """apply-native-sidecars.sh: each command, run by a real kubectl on the workload as collected, annotates the
    template for an injected sidecar, or moves a template sidecar to the init containers with restartPolicy
    Always; the result parses as a pod spec with the sidecar native. apply.sh does not hold them."""
    render(sample_analysis, tmp_path, ["fixes"])
    fixes = tmp_path / "fixes"
    commands = script_commands(fixes / "apply-native-sidecars.sh")
    assert len(commands) == sample_analysis.native_migration["offered"].sum()
    assert "native-sidecars" not in (fixes / "apply.sh").read_text()
    rows = sample_analysis.native_migration.set_index(["namespace", "workload"])
    for command in commands:
        words = shlex.split(command)
        _, after = applied(command, sample_snapshot, tmp_path)
        template = after["spec"]["template"]
        row = rows.loc[(words[5], words[3])]
        if row.injected:
            annotation = row.change.split()[3].rstrip(":")
            assert template["metadata"]["annotations"][annotation] == "true"
        else:
            names = [c["name"] for c in template["spec"]["containers"]]
            first = template["spec"]["initContainers"][0]
            assert row.container not in names and first["name"] == row.container
            assert first["restartPolicy"] == "Always"


def test_the_report_shows_the_migration(sample_analysis: Analysis, tmp_path: Path) -> None:
    """The HTML section has a row per classic sidecar and a patch for each template sidecar (the injected ones'
    annotations are in the script); the Markdown summary says what the move changes."""
    html_path, md_path = render(sample_analysis, tmp_path, ["html", "markdown"])
    page = html_path.read_text()
    section = page[page.index("<section id=native>") : page.index("</section>", page.index("<section id=native>"))]
    table = sample_analysis.native_migration
    assert section.count("<tr>") == len(table) + 1
    template = table[table["offered"] & ~table["injected"]]
    assert section.count("<pre>") == 2 * len(template) and len(template) == 2  # cloud-sql-proxy, fluent-bit
    assert "<a href=#native>" in page
    assert "- native sidecars: the move is offered for 12 of 13 classic sidecars; it moves no HPA replica and " \
           "takes 2 out of a VPA's hands" in md_path.read_text()  # fmt: skip
