"""The typed objects every layer below the snapshot reads: each rule once (the owner, the container list,
the native sidecar, the newest pod), and the same answers as the objects they come from."""

from __future__ import annotations

import copy
from decimal import Decimal

import pytest

from analyzer.api import Analysis, load_snapshot
from analyzer.collect.written_objects import controller
from analyzer.model.workloads import pod_owners
from analyzer.snapshot.kube import (
    Container,
    OwnerRef,
    Pod,
    PodSpec,
    controller_of,
    newest_first_key,
    parse_pod,
    parse_pod_spec,
)

POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {
        "name": "web-1", "namespace": "shop", "creationTimestamp": "2026-11-02T00:00:00Z",
        "labels": {"app": "web"}, "annotations": {"a": "b"},
        "ownerReferences": [
            {"apiVersion": "v1", "kind": "Node", "name": "n1"},
            {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-abc", "controller": True},
        ],
    },
    "spec": {
        "initContainers": [
            {"name": "istio-init", "image": "proxyv2", "resources": {"requests": {"cpu": "10m"}}},
            {"name": "istio-proxy", "image": "proxyv2", "restartPolicy": "Always",
             "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "1Gi"}}},
        ],
        "containers": [{"name": "web", "image": "shop/web:1", "resources": {"requests": {"cpu": "0.5"}}}],
    },
    "status": {"phase": "Running", "startTime": "2026-11-02T00:00:05Z",
               "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2026-11-02T00:00:40Z"}]},
}  # fmt: skip


def test_a_pod_is_read_once_into_what_the_analysis_asks() -> None:
    pod = parse_pod(POD)
    assert pod.key == ("shop", "web-1") and pod.labels == {"app": "web"} and pod.created == "2026-11-02T00:00:00Z"
    assert pod.controller == OwnerRef("ReplicaSet", "web-abc", True)  # the controller, not the first reference
    assert [c.name for c in pod.spec.all_containers] == ["istio-init", "istio-proxy", "web"]  # init first
    init, proxy, web = pod.spec.all_containers
    assert init.runs_once and not init.native_sidecar
    assert proxy.native_sidecar and not proxy.runs_once and not web.init
    assert (
        proxy.request("memory") == 128 * 2**20 and proxy.limit("memory") == 2**30 and proxy.request_milli("cpu") == 100
    )
    assert web.request_milli("cpu") == 500 and web.request("memory") != web.request("memory")  # NaN: none
    assert pod.phase == "Running" and pod.ready is not None and pod.ready.last_transition == "2026-11-02T00:00:40Z"
    assert pod.has_status and pod.deletion is None


def test_the_owner_rule() -> None:
    """metav1.GetControllerOf: the reference marked controller; none marked: the first, else none."""
    rs, node = OwnerRef("ReplicaSet", "a", True), OwnerRef("Node", "n")
    assert controller_of((node, rs)) == rs
    assert controller_of((node, OwnerRef("Job", "j"))) == node
    assert controller_of(()) is None


def test_requests_change_by_name_and_quantities_are_exact() -> None:
    spec = parse_pod_spec(POD["spec"])
    changed = spec.with_requests({"istio-proxy": {"cpu": "37m"}, "nope": {"cpu": "1"}})
    assert changed.container("istio-proxy").requests == {"cpu": Decimal("0.037"), "memory": 128 * 2**20}
    assert (
        changed.container("web") == spec.container("web") and spec.container("istio-proxy").request_milli("cpu") == 100
    )
    assert PodSpec((Container("a", requests={"cpu": Decimal("0.0001")}),)).containers[0].request_milli("cpu") == 1


def test_the_newest_pod_is_the_latest_created_then_the_largest_name() -> None:
    a = Pod("ns", "a", PodSpec(), created="2026-11-02T00:00:00Z")
    b = Pod("ns", "b", PodSpec(), created="2026-11-02T00:00:00Z")
    c = Pod("ns", "c", PodSpec(), created="2026-11-01T00:00:00Z")
    assert max([a, b, c], key=newest_first_key) is b


def test_every_layer_reads_the_same_owner(sample_analysis: Analysis) -> None:
    """Workloads from the typed owners are the ones the analysis reports; collect -l keeps the pods of the
    selected pods' controllers (not of their first reference)."""
    snapshot = load_snapshot()
    owners = pod_owners(snapshot)
    assert set(zip(owners.namespace, owners.workload, strict=True)) >= set(
        zip(sample_analysis.workloads.namespace, sample_analysis.workloads.workload, strict=True)
    )
    pods = copy.deepcopy(snapshot.items("Pod"))
    first, *_ = [p for p in pods if p["metadata"].get("ownerReferences")]
    ref = first["metadata"]["ownerReferences"][0]
    first["metadata"]["ownerReferences"].insert(0, {"apiVersion": "v1", "kind": "Node", "name": "n1"})
    siblings = [p for p in pods if (p["metadata"].get("ownerReferences") or [{}])[-1].get("name") == ref["name"]]
    assert controller(first) == (first["metadata"]["namespace"], ref["kind"], ref["name"])
    picked = [p for p in pods if controller(p) == controller(first)]
    assert {p["metadata"]["name"] for p in picked} == {p["metadata"]["name"] for p in siblings} and len(siblings) > 1


@pytest.mark.parametrize("kind", ["ReplicaSet", "StatefulSet", "DaemonSet", "Deployment"])
def test_workloads_keep_their_template_raw_for_the_patch_builders(kind: str) -> None:
    snapshot = load_snapshot()
    for w, raw in zip(snapshot.workloads(kind), snapshot.items(kind), strict=True):
        assert w.key == (raw["metadata"]["namespace"], kind, raw["metadata"]["name"])
        assert w.template_raw is raw["spec"].get("template")
        if w.template is not None:
            assert [c.name for c in w.template.containers] == [
                c["name"] for c in raw["spec"]["template"]["spec"]["containers"]
            ]
