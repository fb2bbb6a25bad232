from analyzer.simulate.kube_version import KubeVersion
from analyzer.simulate.pod_requests import pod_request
from analyzer.snapshot.kube import parse_pod_spec

APP = {"name": "app", "resources": {"requests": {"cpu": "500m", "memory": "256Mi"}}}
NATIVE = {"name": "istio-proxy", "restartPolicy": "Always", "resources": {"requests": {"cpu": "100m"}}}
INIT = {"name": "istio-init", "resources": {"requests": {"cpu": "2"}}}


def test_native_sidecar_requests_count_since_1_29() -> None:
    spec = {"containers": [APP], "initContainers": [INIT, NATIVE]}
    assert pod_request(parse_pod_spec(spec), "p", "cpu", KubeVersion(minor=29)).milli == 600
    assert pod_request(parse_pod_spec(spec), "p", "cpu", KubeVersion(minor=28)).milli == 500  # before: usage only


def test_missing_request_names_container_and_pod() -> None:
    spec = {"containers": [APP, {"name": "linkerd-proxy", "resources": {}}]}
    result = pod_request(parse_pod_spec(spec), "ledger-1", "cpu", KubeVersion())
    assert result.error == "missing request for cpu in container linkerd-proxy of Pod ledger-1"


def test_container_resource_counts_one_container_and_can_target_native_sidecar() -> None:
    spec = {"containers": [APP, {"name": "linkerd-proxy", "resources": {}}], "initContainers": [NATIVE]}
    assert pod_request(parse_pod_spec(spec), "p", "cpu", KubeVersion(), container="app").milli == 500
    assert pod_request(parse_pod_spec(spec), "p", "cpu", KubeVersion(), container="istio-proxy").milli == 100
    assert (
        pod_request(parse_pod_spec(spec), "p", "cpu", KubeVersion(), container="nope").error
        == "container nope not found in Pod p"
    )


def test_pod_level_requests_win_when_gate_on() -> None:
    spec = {
        "containers": [APP, {"name": "side", "resources": {}}],
        "resources": {"requests": {"cpu": "1"}},
        "overhead": {"cpu": "50m"},
    }
    assert pod_request(parse_pod_spec(spec), "p", "cpu", KubeVersion(minor=34)).milli == 1050
    # memory falls back to the container aggregate, unchecked for the request-less sidecar
    assert pod_request(parse_pod_spec(spec), "p", "memory", KubeVersion(minor=34)).milli == 256 * 2**20 * 1000
    off = KubeVersion(minor=34, gates={"PodLevelResources": False})
    assert (
        pod_request(parse_pod_spec(spec), "p", "cpu", off).error == "missing request for cpu in container side of Pod p"
    )
