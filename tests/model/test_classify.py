"""Container classification on injected pods written from the injectors' documented output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer.errors import ManifestError
from analyzer.model.classify import CLASS_COLUMNS, _listed_by_injectors, classify, classify_pod
from analyzer.model.rules import load_rules, parse_rules
from analyzer.model.signals import image_repository, known_by_image
from analyzer.model.workloads import pod_owners
from analyzer.snapshot.kube import parse_pod
from analyzer.synth.generate import Synthetic

PODS = list(yaml.safe_load_all((Path(__file__).parent / "fixtures" / "injected_pods.yaml").read_text()))


def _roles(pod_name: str, rules=(), template=None) -> dict[str, tuple[str, str, bool]]:
    pod = next(p for p in PODS if p["metadata"]["name"] == pod_name)
    rows = [
        dict(zip(CLASS_COLUMNS, r, strict=True)) for r in classify_pod(parse_pod(pod), "Pod", pod_name, template, rules)
    ]
    return {r["container"]: (r["role"], r["kind"], r["native_sidecar"]) for r in rows}


@pytest.mark.parametrize(
    ("pod", "expected"),
    [
        (
            "productpage-v1-6b9d8f8b5-x2k4p",
            {"istio-init": ("init-only", "istio", False), "productpage": ("app", "", False),
             "istio-proxy": ("sidecar", "istio", False)},
        ),
        (
            "reviews-v2-5b667bcbf8-8qv7t",
            {"istio-init": ("init-only", "istio", False), "istio-proxy": ("sidecar", "istio", True),
             "reviews": ("app", "", False)},
        ),
        (
            "web-5f86686c4d-58p7k",
            {"linkerd-init": ("init-only", "linkerd", False), "linkerd-proxy": ("sidecar", "linkerd", False),
             "web-svc": ("app", "", False)},
        ),
        (
            "emoji-7d9b6c8f5c-hx2qz",
            {"linkerd-init": ("init-only", "linkerd", False), "linkerd-proxy": ("sidecar", "linkerd", True),
             "emoji-svc": ("app", "", False)},
        ),
        (
            "orgchart-69697d9598-l878s",
            {"vault-agent-init": ("init-only", "vault", False), "orgchart": ("app", "", False),
             "vault-agent": ("sidecar", "vault", False)},
        ),
        ("nodeapp-7b9c8d6f54-abcde", {"node": ("app", "", False), "daprd": ("sidecar", "dapr", False)}),
        (
            "gke-cloud-sql-app-5c7f9c9b7-q4wz2",
            {"gke-cloud-sql-app": ("app", "", False), "sql-proxy": ("sidecar", "cloud-sql-proxy", False)},
        ),
        (
            "api-6d5f7b9c8-zzz11",
            {"mesh": ("sidecar", "envoy", False), "proxy": ("app", "", False), "api": ("app", "", False)},
        ),
    ],
)  # fmt: skip
def test_injected_pods_are_classified(pod: str, expected: dict[str, tuple[str, str, bool]]) -> None:
    assert _roles(pod) == expected


def test_the_evidence_names_the_signal() -> None:
    pod = PODS[0]
    rows = {r[4]: r for r in classify_pod(parse_pod(pod), "Deployment", "productpage-v1", None)}
    assert rows["istio-proxy"][10] == "injected, listed by annotation sidecar.istio.io/status"
    assert rows["productpage"][10] == "named by annotation kubectl.kubernetes.io/default-container"
    native = {r[4]: r for r in classify_pod(parse_pod(PODS[1]), "Deployment", "reviews-v2", None)}
    assert native["istio-proxy"][10].startswith("native sidecar")


def _pod(containers: list[str], annotations: dict[str, str] | None = None) -> dict:
    return {
        "metadata": {"name": "p-0", "namespace": "ns", "annotations": annotations or {}},
        "spec": {"containers": [{"name": n, "image": f"registry.example.com/acme/{n}:1"} for n in containers]},
    }


ISTIO_STATUS = '{"containers":["istio-proxy"],"initContainers":["istio-init"]}'


@pytest.mark.parametrize(
    ("pod", "workload", "apps", "primary", "ambiguous"),
    [
        # Two unknown containers: both are app (no evidence says either is a sidecar); the first is primary.
        (PODS[-1], "edge-router", ["router", "authz"], "router", False),
        # Two app containers beside the injected proxy, as istio's injector test data has them
        # (istio/istio pkg/kube/inject/testdata/inject/app_probe/two_container.yaml.injected), plus a third.
        (_pod(["hello", "world", "istio-proxy", "bar"], {"sidecar.istio.io/status": ISTIO_STATUS}), "hello",
         ["hello", "world", "bar"], "hello", False),
        # kubectl.kubernetes.io/default-container marks the primary; it does not demote the others.
        (_pod(["a", "b", "c"], {"kubectl.kubernetes.io/default-container": "b"}), "w", ["a", "b", "c"], "b", False),
        # Named after the workload: primary, though not first.
        (_pod(["helper", "shop"]), "shop", ["helper", "shop"], "shop", False),
        # Only evidence of sidecars (an Envoy gateway's pod): one must be the app, and that is a guess.
        (_pod(["envoy", "fluent-bit"]), "gw", ["envoy"], "envoy", True),
    ],
)  # fmt: skip
def test_a_regular_container_is_app_unless_evidence_says_sidecar(pod, workload, apps, primary, ambiguous) -> None:
    rows = [
        dict(zip(CLASS_COLUMNS, r, strict=True)) for r in classify_pod(parse_pod(pod), "Deployment", workload, None)
    ]
    assert [r["container"] for r in rows if r["role"] == "app"] == apps
    assert [r["container"] for r in rows if r["primary"]] == [primary]
    assert any(r["ambiguous"] for r in rows) == ambiguous
    if ambiguous:
        note = next(r["note"] for r in rows if r["ambiguous"])
        assert "every container looks like a sidecar" in note and "--rules" in note


def test_a_rule_overrides_the_built_in_signals() -> None:
    rules = parse_rules(
        {
            "rules": [
                {"match": {"namespace": "edge", "container": "authz"}, "role": "sidecar", "kind": "generic"},
                {"match": {"image": "*/acme/not-proxyv2:*"}, "role": "sidecar", "kind": "log-shipper"},
                {"match": {"container": "istio-proxy", "namespace": "bookinfo"}, "role": "app"},
            ]
        },
        "rules.yaml",
    )
    assert _roles("edge-router-0", rules) == {"router": ("app", "", False), "authz": ("sidecar", "generic", False)}
    assert _roles("api-6d5f7b9c8-zzz11", rules)["proxy"] == ("sidecar", "log-shipper", False)
    assert _roles("productpage-v1-6b9d8f8b5-x2k4p", rules)["istio-proxy"] == ("app", "", False)


def test_a_container_missing_from_the_owner_template_is_an_injected_sidecar() -> None:
    roles = _roles("edge-router-0", template=frozenset({"router"}))
    assert roles == {"router": ("app", "", False), "authz": ("sidecar", "generic", False)}


@pytest.mark.parametrize(
    ("image", "repository", "kind"),
    [
        ("docker.io/istio/proxyv2:1.24.2", "istio/proxyv2", "istio"),
        ("gcr.io/istio-release/proxyv2@sha256:abc", "istio-release/proxyv2", "istio"),
        ("localhost:5000/linkerd/proxy:edge", "linkerd/proxy", "linkerd"),
        ("hashicorp/vault:1.18", "hashicorp/vault", "vault"),
        ("registry.example.com/acme/vault-ui:1", "acme/vault-ui", None),
        ("registry.example.com/acme/my-istio-proxyv2:1", "acme/my-istio-proxyv2", None),
        ("fluent/fluent-bit", "fluent/fluent-bit", "log-shipper"),
    ],
)
def test_images_match_on_the_repository_not_a_substring(image: str, repository: str, kind: str | None) -> None:
    assert image_repository(image) == repository
    known = known_by_image(image)
    assert (known.kind if known else None) == kind


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- match: {}", "expected a mapping with one key, 'rules'"),
        ("rules: [{match: {container: x}, role: boss}]", "rules[0].role: expected app or sidecar, got 'boss'"),
        ("rules: [{match: {contaner: x}, role: app}]", "rules[0].match: unknown field 'contaner'"),
        ("rules: [{match: {container: x}, role: sidecar, kind: mesh}]", "rules[0].kind: 'mesh' is not one of"),
        ("rules: [{match: {container: x}, role: app, kind: istio}]", "rules[0].kind: only sidecar rules take a kind"),
        ("rules: [{match: {container: 3}, role: app}]", "rules[0].match.container: expected a non-empty string"),
        ("rules: [\n  - match: {container: x\n", "not valid YAML (line"),
    ],
)
def test_a_malformed_rule_file_is_a_clear_error(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(text)
    with pytest.raises(ManifestError, match=None) as info:
        load_rules(path)
    assert str(info.value).startswith(str(path)) and message in str(info.value)


def test_generated_snapshot_classification_matches_the_ground_truth(small: Synthetic) -> None:
    snap = small.snapshot
    table = classify(snap, pod_owners(snap))
    steady = table[table.role != "init-only"]
    for w in small.truth["workloads"]:
        mine = steady[(steady.namespace == w["namespace"]) & (steady.workload == w["workload"])]
        assert not mine.empty
        expected = {a: ("app", "") for a in w["app_containers"]}
        expected |= {s["container"]: ("sidecar", s["kind"]) for s in w["sidecars"]}
        got = {(r.container): (r.role, r.kind) for r in mine.itertuples()}
        assert got == expected, w["workload"]
        natives = {s["container"] for s in w["sidecars"] if s["native"]}
        assert set(mine[mine.native_sidecar].container) == natives
        assert not mine.ambiguous.any(), w["workload"]
        assert set(mine[mine.primary].container) == {w["app_container"]}, w["workload"]


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=8),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["containers", "x"]), inner),
        max_leaves=10,
    )
)
@settings(max_examples=200)
def test_any_istio_status_annotation_is_read_or_ignored(status: object) -> None:
    """The injector's annotation is JSON the pod carries: any shape gives container names or the default."""
    found = _listed_by_injectors({"sidecar.istio.io/status": json.dumps(status)})
    assert all(isinstance(name, str) for name in found)
    assert all(kind == ("istio", "sidecar.istio.io/status") for kind in found.values())
