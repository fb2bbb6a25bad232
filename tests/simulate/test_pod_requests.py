from analyzer.simulate.kube_version import KubeVersion
from analyzer.simulate.pod_requests import aggregate_container_requests, pod_request
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


def _cpu(name: str, milli: int, **extra: str) -> dict[str, object]:
    return {"name": name, "resources": {"requests": {"cpu": f"{milli}m"}}, **extra}


UPSTREAM_CALCULATE_POD_REQUESTS = [
    # (name, containers, init containers, container, expected milli-CPU or error)
    ("pod with regular containers", [_cpu("container1", 100), _cpu("container2", 50)], [], None, 150),
    ("calculate requests with special container", [_cpu("container1", 100), _cpu("container2", 50)], [],
     "container1", 100),
    ("container missing requests", [{"name": "container1"}], [], None,
     "missing request for cpu in container container1 of Pod test-pod"),
    ("pod with restartable init containers", [_cpu("container1", 100)],
     [_cpu("init-container1", 20), _cpu("restartable-container1", 50, restartPolicy="Always")], None, 150),
]  # fmt: skip


def test_upstream_calculate_pod_requests_cases() -> None:
    """kubernetes/kubernetes pkg/controller/podautoscaler/replica_calculator_test.go, ``TestCalculatePodRequests``
    (its restartable init container case came with kubernetes#120001): a run-once init container's request is not
    counted, a restartable one's is, beside the containers'; a container without a request is the error."""
    for name, containers, inits, container, expected in UPSTREAM_CALCULATE_POD_REQUESTS:
        spec = parse_pod_spec({"containers": containers, "initContainers": inits})
        got = pod_request(spec, "test-pod", "cpu", KubeVersion(minor=29), container=container)
        assert (got.error if isinstance(expected, str) else got.milli) == expected, name


UPSTREAM_POD_RESOURCE_REQUESTS = [
    # (description, init containers, containers, expected milli-CPU)
    ("restartable init container", [_cpu("restartable-init-1", 1000, restartPolicy="Always")],
     [_cpu("container-1", 1000)], 2000),
    ("multiple restartable init containers",  # max(5, restartable (3+2+1) + regular 1) = 7
     [_cpu("init-1", 5000), _cpu("restartable-init-1", 1000, restartPolicy="Always"),
      _cpu("restartable-init-2", 2000, restartPolicy="Always"),
      _cpu("restartable-init-3", 3000, restartPolicy="Always")], [_cpu("container-1", 1000)], 7000),
    ("multiple restartable and regular init containers",  # init-2 needs 5 + the sidecars before it (1+2) = 8
     [_cpu("init-1", 5000), _cpu("restartable-init-1", 1000, restartPolicy="Always"),
      _cpu("restartable-init-2", 2000, restartPolicy="Always"), _cpu("init-2", 5000),
      _cpu("restartable-init-3", 3000, restartPolicy="Always")], [_cpu("container-1", 1000)], 8000),
    ("restartable-init, init and regular",
     [_cpu("restartable-init-1", 10000, restartPolicy="Always"), _cpu("init-1", 200000)],
     [_cpu("container-1", 100000)], 210000),
]  # fmt: skip


def test_upstream_pod_resource_requests_cases() -> None:
    """kubernetes/kubernetes staging/src/k8s.io/component-helpers/resource/helpers_test.go,
    ``TestPodResourceRequests``: the KEP-753 effective request with restartable init containers (the formula the
    native-sidecar migration and the held Jobs' cost use)."""
    for name, inits, containers, expected in UPSTREAM_POD_RESOURCE_REQUESTS:
        spec = parse_pod_spec({"containers": containers, "initContainers": inits})
        assert aggregate_container_requests(spec)["cpu"] == expected, name
