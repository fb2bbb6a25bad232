"""The kubernetes client against a local server speaking the API's JSON: pagination, 410, 403, 404,
401, and a collection that joins the API's live pods with kube-state-metrics' deleted ones."""

from __future__ import annotations

import copy
import json
import math
import re
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer import api
from analyzer.collect.collector import collect_prometheus
from analyzer.collect.kube_api import REDACTED, KubeLister, KubeOptions, release
from analyzer.collect.prometheus_connection import PromOptions
from analyzer.collect.timerange import time_range
from analyzer.collect.written_objects import WrittenObjects
from analyzer.errors import SidecarImpactError, SourceError
from analyzer.snapshot.schema import DELETED_AT_ANNOTATION
from analyzer.snapshot.writing import ObjectFiles
from tests.collect.conftest import END, START, PromData
from tests.collect.fake_apiserver import FakeApiServer
from tests.collect.promserver import PrometheusServer, free_port

TOKEN = "kube-token-do-not-log"


def live_objects(prom_data: PromData) -> dict[str, list[dict]]:
    """What the API would list at the end: pods not yet deleted, every workload and autoscaler."""
    objects = copy.deepcopy(prom_data.small.snapshot.objects)
    objects["Pod"] = [p for p in objects["Pod"] if DELETED_AT_ANNOTATION not in p["metadata"].get("annotations", {})]
    first = objects["Pod"][0]
    first["metadata"]["managedFields"] = [{"manager": "kubectl"}]
    first["spec"]["containers"][0]["env"] = [{"name": "DB_PASSWORD", "value": "hunter2"}, {"name": "MODE"}]
    return objects


@pytest.fixture
def apiserver(prom_data: PromData) -> Iterator[FakeApiServer]:
    server = FakeApiServer(live_objects(prom_data), TOKEN)
    yield server
    server.close()


def lister(server: FakeApiServer, tmp_path: Path, **kwargs: object) -> KubeLister:
    return KubeLister(KubeOptions(kubeconfig=server.kubeconfig(tmp_path), **kwargs))  # type: ignore[arg-type]


def test_lists_every_page_and_writes_objects_unchanged_but_secrets(
    apiserver: FakeApiServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pods = apiserver.objects["Pod"]
    listed = lister(apiserver, tmp_path, page_size=4).list_all()
    assert [p["metadata"]["name"] for p in listed.objects["Pod"]] == [p["metadata"]["name"] for p in pods]
    assert sum("/api/v1/pods" in r for r in apiserver.requests) == math.ceil(len(pods) / 4)
    assert all(p["kind"] == "Pod" and p["apiVersion"] == "v1" for p in listed.objects["Pod"])
    assert listed.objects["HorizontalPodAutoscaler"][0]["apiVersion"] == "autoscaling/v2"
    first = listed.objects["Pod"][0]
    assert "managedFields" not in first["metadata"]
    assert first["spec"]["containers"][0]["env"] == [{"name": "DB_PASSWORD", "value": REDACTED}, {"name": "MODE"}]
    assert first["spec"]["containers"][0]["resources"] == pods[0]["spec"]["containers"][0]["resources"]
    assert listed.notes == []
    assert TOKEN not in caplog.text


def test_410_gone_mid_list_restarts_the_list(apiserver: FakeApiServer, tmp_path: Path, caplog) -> None:
    apiserver.gone_once = {"Pod"}
    items = lister(apiserver, tmp_path, page_size=5).list_all().objects["Pod"]
    names = [p["metadata"]["name"] for p in items]
    assert names == [p["metadata"]["name"] for p in apiserver.objects["Pod"]]  # complete, no duplicates
    assert "410 Gone" in caplog.text
    assert sum("/api/v1/pods" in r and "continue" not in r for r in apiserver.requests) == 2


def test_403_on_vpas_is_one_note_and_the_rest_is_listed(apiserver: FakeApiServer, tmp_path: Path) -> None:
    apiserver.forbidden = {"VerticalPodAutoscaler"}
    listed = lister(apiserver, tmp_path).list_all()
    assert listed.notes == [
        "no permission to list verticalpodautoscalers (403 Forbidden); VerticalPodAutoscaler analysis is missing: "
        "grant list on it (deploy/rbac.yaml)"
    ]
    assert "VerticalPodAutoscaler" not in listed.objects
    assert len(listed.objects["Pod"]) == len(apiserver.objects["Pod"])


def test_a_kind_refused_in_a_later_namespace_is_taken_back_whole(apiserver: FakeApiServer, tmp_path: Path) -> None:
    """Pods listed from the first namespace, then refused (403) in the second: the kind was not listed, in
    memory or in the snapshot's files, and a kind with no items in the namespace listed is listed."""
    namespaces = sorted({p["metadata"]["namespace"] for p in apiserver.objects["Pod"]})
    first, second = namespaces[:2]
    apiserver.forbidden_in = {("Pod", second)}
    kube = lister(apiserver, tmp_path, namespaces=(first, second), page_size=2)
    listed = kube.list_all()
    assert "Pod" not in listed.objects and len(listed.notes) == 1 and "403" in listed.notes[0]
    with ObjectFiles(tmp_path / "objects") as files:
        written = WrittenObjects(files)
        notes = kube.list_all(sink=written).notes
    assert notes == listed.notes and "Pod" not in written.listed and written.names["Pod"] == []
    assert json.loads((tmp_path / "objects" / "pods.json").read_text())["items"] == []
    assert "HorizontalPodAutoscaler" in written.listed and "ReplicaSet" in written.listed
    first_pods = [p for p in apiserver.objects["Pod"] if p["metadata"]["namespace"] == first]
    assert len(first_pods) > 2  # more than a page was written before the refusal


def test_missing_vpa_crd_is_not_an_error(apiserver: FakeApiServer, tmp_path: Path) -> None:
    apiserver.missing = {"VerticalPodAutoscaler"}
    listed = lister(apiserver, tmp_path).list_all()
    assert len(listed.notes) == 1 and "CRD is not installed" in listed.notes[0]
    assert len(listed.objects["HorizontalPodAutoscaler"]) == len(apiserver.objects["HorizontalPodAutoscaler"])


SCALED_OBJECT = {
    "apiVersion": "keda.sh/v1alpha1",
    "kind": "ScaledObject",
    "metadata": {"name": "orders", "namespace": "shop"},
    "spec": {"scaleTargetRef": {"name": "orders"}, "triggers": [{"type": "cpu", "metricType": "Utilization",
                                                                 "metadata": {"value": "60"}}]},
}  # fmt: skip


def test_keda_scaledobjects_are_listed_and_a_cluster_without_keda_is_no_news(
    apiserver: FakeApiServer, tmp_path: Path
) -> None:
    apiserver.missing = {"ScaledObject"}
    listed = lister(apiserver, tmp_path).list_all()
    assert listed.notes == [] and listed.objects["ScaledObject"] == []
    apiserver.missing = set()
    apiserver.objects["ScaledObject"] = [SCALED_OBJECT]
    assert lister(apiserver, tmp_path).list_all().objects["ScaledObject"] == [SCALED_OBJECT]
    apiserver.forbidden = {"ScaledObject"}
    assert lister(apiserver, tmp_path).list_all().notes == [
        "no permission to list scaledobjects (403 Forbidden); ScaledObject analysis is missing: "
        "grant list on it (deploy/rbac.yaml)"
    ]


def test_namespaces_and_selector_reach_the_server(apiserver: FakeApiServer, tmp_path: Path) -> None:
    pods = lister(apiserver, tmp_path, namespaces=("payments",), selector="app.kubernetes.io/name=fraud-scorer")
    items = pods.list_all().objects["Pod"]
    assert items and {p["metadata"]["namespace"] for p in items} == {"payments"}
    assert {p["metadata"]["labels"]["app.kubernetes.io/name"] for p in items} == {"fraud-scorer"}
    assert all("/namespaces/payments/" in r for r in apiserver.requests)


def test_bad_token_and_unreachable_server_are_source_errors(apiserver: FakeApiServer, tmp_path: Path) -> None:
    config = apiserver.kubeconfig(tmp_path, token="wrong")
    with pytest.raises(SourceError, match="401 Unauthorized") as raised:
        KubeLister(KubeOptions(kubeconfig=config)).list_all()
    assert "wrong" not in str(raised.value)
    dead = tmp_path / "dead"
    dead.mkdir()
    closed = FakeApiServer({}, TOKEN)
    path = closed.kubeconfig(dead)
    closed.close()
    path.write_text(path.read_text().replace(closed.url, f"http://127.0.0.1:{free_port()}"))
    with pytest.raises(SourceError, match="cannot list pods"):
        KubeLister(KubeOptions(kubeconfig=path, timeout_s=2)).list_all()


def test_a_broken_kubeconfig_is_bad_input(tmp_path: Path) -> None:
    config = tmp_path / "kubeconfig"
    config.write_text("apiVersion: v1\nkind: Config\ncontexts: []\n")
    with pytest.raises(SidecarImpactError, match="kubeconfig"):
        KubeLister(KubeOptions(kubeconfig=config, context="missing"))


def test_prometheus_and_api_together(
    prometheus: PrometheusServer, apiserver: FakeApiServer, prom_data: PromData, tmp_path: Path
) -> None:
    apiserver.forbidden = {"VerticalPodAutoscaler"}
    changed = next(p for p in apiserver.objects["Pod"] if len(p["spec"]["containers"]) > 1)
    changed["spec"]["containers"][0]["resources"]["requests"]["cpu"] = "1234m"
    prom = PromOptions(prometheus.url, cluster_label="cluster", cluster="small")
    kube = KubeOptions(kubeconfig=apiserver.kubeconfig(tmp_path))
    result = collect_prometheus(prom, time_range(start=START, end=END, step="60s"), tmp_path / "snap", kube=kube)
    pods = {p["metadata"]["name"]: p for p in result.snapshot.items("Pod")}
    live = {p["metadata"]["name"] for p in apiserver.objects["Pod"]}
    assert live <= set(pods)
    from_api = [p for n, p in pods.items() if n in live]
    assert all("sidecar-impact.io/source" not in p["metadata"].get("annotations", {}) for p in from_api)
    rebuilt = [p for n, p in pods.items() if n not in live]
    assert rebuilt and all(DELETED_AT_ANNOTATION in p["metadata"]["annotations"] for p in rebuilt)
    name = changed["metadata"]["name"]
    container = changed["spec"]["containers"][0]["name"]
    assert any(
        f"pod {changed['metadata']['namespace']}/{name}: {container} requests.cpu is 1234m in the API" in note
        for note in result.notes
    )
    assert any("verticalpodautoscalers (403 Forbidden)" in note for note in result.notes)
    assert result.requests["kubernetes"] == len(apiserver.requests)
    assert result.snapshot.metadata.extra["kubernetes_version"] == "1.31"  # /version's minor "31+", as on EKS
    path = result.path
    assert TOKEN not in "".join(f.read_text() for f in path.rglob("*.json"))
    analysis = api.analyze(api.load_snapshot(path))
    notes = analysis.findings[analysis.findings["kind"] == "collection"]
    assert (notes["severity"] == "low").all()
    rebuilt_note = [m for m in notes["message"] if m.startswith("rebuilt from kube-state-metrics")]
    assert len(rebuilt_note) == 1 and f"{len(rebuilt)} Pod" in rebuilt_note[0]  # the deleted pods, and only they
    assert len(notes) == len(result.notes) + 1
    assert json.loads((path / "metadata.json").read_text())["extra"]["objects_from"] == "kubernetes-api"


def test_lists_read_again_after_410_are_written_once(
    prometheus: PrometheusServer, apiserver: FakeApiServer, tmp_path: Path
) -> None:
    """A collection writes the objects as the pages come: a list that expires mid-way takes back what it had
    written, so the snapshot holds each object once, the API's in the order listed, then the rebuilt ones."""
    apiserver.gone_once = {"Pod", "ReplicaSet"}
    prom = PromOptions(prometheus.url, cluster_label="cluster", cluster="small")
    kube = KubeOptions(kubeconfig=apiserver.kubeconfig(tmp_path), page_size=3)
    result = collect_prometheus(prom, time_range(start=START, end=END, step="60s"), tmp_path / "snap", kube=kube)
    assert not apiserver.gone_once  # both lists expired once
    for kind in ("Pod", "ReplicaSet"):
        names = [o["metadata"]["name"] for o in result.snapshot.items(kind)]
        live = [o["metadata"]["name"] for o in apiserver.objects[kind]]
        assert names[: len(live)] == live and len(names) == len(set(names))
    assert result.pods == len(result.snapshot.items("Pod")) > len(apiserver.objects["Pod"])


def test_usage_of_pods_outside_the_selector_is_dropped_from_the_written_files(
    prometheus: PrometheusServer, apiserver: FakeApiServer, tmp_path: Path
) -> None:
    """`-l`: the usage already written for pods no object describes is taken out of the Parquet files (and
    a namespace left without usage loses its directory); the pods kept have every sample they had."""
    prom = PromOptions(prometheus.url, cluster_label="cluster", cluster="small")
    tr = time_range(start=START, end=END, step="60s")
    every = collect_prometheus(prom, tr, tmp_path / "all", kube=KubeOptions(kubeconfig=apiserver.kubeconfig(tmp_path)))
    selector = "app.kubernetes.io/name=fraud-scorer"
    kube = KubeOptions(kubeconfig=apiserver.kubeconfig(tmp_path), selector=selector)
    apiserver.version = None
    some = collect_prometheus(prom, tr, tmp_path / "some", kube=kube)
    assert every.snapshot.metadata.extra["kubernetes_version"] == "1.31"
    assert "kubernetes_version" not in some.snapshot.metadata.extra  # /version forbidden: the default is assumed
    dropped = [n for n in some.notes if n.startswith("dropped the usage of") and n.endswith("(outside -l)")]
    assert len(dropped) == 1
    kept = some.snapshot.usage.astype({"namespace": str, "pod": str, "container": str})
    whole = every.snapshot.usage.astype({"namespace": str, "pod": str, "container": str})
    pods = {(p["metadata"]["namespace"], p["metadata"]["name"]) for p in some.snapshot.items("Pod")}
    assert set(zip(kept["namespace"], kept["pod"], strict=True)) == pods
    lost = len(set(zip(whole["namespace"], whole["pod"], strict=True)) - pods)
    assert dropped[0].startswith(f"dropped the usage of {lost} pods") and lost > 0
    mine = whole[[(ns, pod) in pods for ns, pod in zip(whole["namespace"], whole["pod"], strict=True)]]
    pd.testing.assert_frame_equal(kept.reset_index(drop=True), mine.reset_index(drop=True))
    assert sorted(p.name for p in (tmp_path / "some" / "usage").iterdir()) == sorted(
        f"namespace={ns}" for ns in kept["namespace"].unique()
    )
    assert some.samples == len(kept)


@settings(max_examples=200, deadline=None)
@given(
    st.none()
    | st.integers()
    | st.text(max_size=5)
    | st.dictionaries(
        st.sampled_from(["major", "minor", "gitVersion"]),
        st.none() | st.integers() | st.text(alphabet="0123456789+.-a", max_size=6),
        max_size=3,
    )
)
def test_any_version_document_is_a_release_or_none(document: object) -> None:
    got = release(document)
    assert got is None or re.fullmatch(r"1\.[0-9]{1,3}", got)  # what metadata.json validation accepts


def test_version_documents_as_servers_write_them() -> None:
    assert release({"major": "1", "minor": "31+", "gitVersion": "v1.31.4-eks-2d5f260"}) == "1.31"
    assert release({"major": "1", "minor": "29"}) == "1.29"
    assert release({"major": "1", "minor": "031"}) == "1.31"
    assert release({"major": "2", "minor": "0"}) is None and release({"major": "1", "minor": "1234"}) is None
