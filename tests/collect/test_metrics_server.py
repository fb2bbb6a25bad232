"""metrics-server polling against the local API server: samples per poll, deleted pods, errors."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from analyzer.collect.kube_api import KubeOptions
from analyzer.collect.metrics_server import collect_metrics_server
from analyzer.errors import SourceError
from analyzer.snapshot.schema import DELETED_AT_ANNOTATION
from tests.collect.conftest import PromData
from tests.collect.fake_apiserver import FakeApiServer
from tests.console import sidecar_impact

TOKEN = "metrics-token"


class FakeClock:
    """Time that moves only when slept through, so polls are exact and instant."""

    def __init__(self) -> None:
        self.now = 1_793_620_800.0

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def pod_metrics(pods: list[dict]) -> callable:
    def answer(poll: int) -> list[dict]:
        out = []
        for i, pod in enumerate(pods):
            containers = [
                {
                    "name": c["name"],
                    "usage": {"cpu": f"{(i + 1) * 1000 + poll}u", "memory": f"{(i + 1) * 1024 + poll}Ki"},
                }
                for c in pod["spec"]["containers"]
            ]
            meta = {"name": pod["metadata"]["name"], "namespace": pod["metadata"]["namespace"]}
            out.append(
                {"metadata": meta, "timestamp": "2026-11-25T00:00:00Z", "window": "15s", "containers": containers}
            )
        return out

    return answer


@pytest.fixture
def server(prom_data: PromData):
    objects = copy.deepcopy(prom_data.small.snapshot.objects)
    objects["Pod"] = [p for p in objects["Pod"] if DELETED_AT_ANNOTATION not in p["metadata"].get("annotations", {})][
        :3
    ]
    server = FakeApiServer(objects, TOKEN)
    server.pod_metrics = pod_metrics(objects["Pod"])
    yield server
    server.close()


def test_polls_build_samples_and_pods_gone_are_marked(server: FakeApiServer, tmp_path: Path) -> None:
    clock = FakeClock()
    pods = server.objects["Pod"]
    gone = pods[2]
    original = server.pod_metrics

    def vanishing(poll: int) -> list[dict]:  # the third pod is deleted after the second poll
        items = original(poll)
        return items if poll <= 2 else items[:2]

    server.pod_metrics = vanishing
    real_list = server.answer

    def answer(path: str, auth: str):
        code, body = real_list(path, auth)
        if server.metrics_polls >= 3 and path.startswith("/api/v1/pods"):
            body = {**body, "items": [i for i in body["items"] if i["metadata"]["name"] != gone["metadata"]["name"]]}
        return code, body

    server.answer = answer
    options = KubeOptions(kubeconfig=server.kubeconfig(tmp_path))
    seen: list[tuple[int, int]] = []
    result = collect_metrics_server(
        options, 120, 60, tmp_path / "snap", clock=clock.time, sleep=clock.sleep,
        progress=lambda s, d, t: seen.append((d, t)),
    )  # fmt: skip
    usage = result.snapshot.usage
    assert seen == [(1, 3), (2, 3), (3, 3)]
    assert usage["timestamp"].nunique() == 3
    assert usage["timestamp"].diff().dropna().dt.total_seconds().isin([0, 60]).all()
    first = usage[(usage["pod"] == pods[0]["metadata"]["name"])].sort_values("timestamp")
    assert first["cpu_cores"].tolist() == pytest.approx([1001e-6, 1002e-6, 1003e-6])
    assert first["memory_bytes"].tolist()[0] == 1025 * 1024
    assert set(usage.loc[usage["timestamp"] == usage["timestamp"].max(), "pod"]) == {
        p["metadata"]["name"] for p in pods[:2]
    }
    marked = {p["metadata"]["name"]: p for p in result.snapshot.items("Pod")}[gone["metadata"]["name"]]
    assert DELETED_AT_ANNOTATION in marked["metadata"]["annotations"]
    assert (result.path / "metadata.json").exists() and result.path == tmp_path / "snap"


def test_metrics_api_missing_is_a_source_error(server: FakeApiServer, tmp_path: Path) -> None:
    server.missing = {"PodMetrics"}
    clock = FakeClock()
    with pytest.raises(SourceError, match=r"metrics\.k8s\.io"):
        collect_metrics_server(
            KubeOptions(kubeconfig=server.kubeconfig(tmp_path)), 60, 60, tmp_path / "snap", clock=clock.time,
            sleep=clock.sleep,
        )  # fmt: skip
    assert not (tmp_path / "snap").exists()


def test_cli_metrics_server_and_flag_errors(server: FakeApiServer, tmp_path: Path) -> None:
    config = str(server.kubeconfig(tmp_path))
    out = tmp_path / "snap"
    args = ["--metrics-server", "--kubeconfig", config, "--duration", "1s", "--interval", "1s", "--out", str(out)]
    done = sidecar_impact("collect", *args, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "wrote" in done.stdout and out.is_dir()
    for args, message in (
        (["--out", str(tmp_path / "x")], "exactly one of --prometheus-url and --metrics-server"),
        (["--prometheus-url", "ftp://x", "--no-api", "--out", str(tmp_path / "x")], "not an http(s) URL"),
        (["--prometheus-url", "http://x", "--no-api", "--step", "soon", "--out", str(tmp_path / "x")], "--step"),
        (["--prometheus-url", "http://x", "--no-api", "-l", "a=b", "--out", str(tmp_path / "x")], "-l needs"),
        (
            [
                "--prometheus-url",
                "http://x",
                "--no-api",
                "--since",
                "1d",
                "--start",
                "2026-11-01",
                "--out",
                str(tmp_path / "x"),
            ],
            "exclusive",
        ),
    ):
        result = sidecar_impact("collect", *args, timeout=60)
        assert result.returncode == 2, (args, result.stderr)
        assert result.stderr.count("\n") == 1 and message in result.stderr, result.stderr


def test_polls_record_the_containers_status_as_changes(server: FakeApiServer, tmp_path: Path) -> None:
    """Pods are listed at each poll for their containers' status; the rows kept are the changes: a sidecar
    OOM-killed before the second poll (terminated OOMKilled, NotReady, one restart, 137) and running and ready
    again at the third."""
    clock = FakeClock()
    pod = server.objects["Pod"][0]
    name, sidecar = pod["metadata"]["name"], pod["spec"]["containers"][-1]["name"]
    real_answer = server.answer

    def answer(path: str, auth: str):
        code, body = real_answer(path, auth)
        if path.startswith("/api/v1/pods") and server.metrics_polls >= 2:
            body = copy.deepcopy(body)
            for item in body["items"]:
                if item["metadata"]["name"] != name:
                    continue
                for status in item["status"]["containerStatuses"]:
                    if status["name"] == sidecar:
                        status["restartCount"] = 1
                        status["lastState"] = {"terminated": {"reason": "OOMKilled", "exitCode": 137}}
                        status["ready"] = server.metrics_polls >= 3
                        if server.metrics_polls == 2:
                            status["state"] = {"terminated": {"reason": "OOMKilled", "exitCode": 137}}
        return code, body

    server.answer = answer
    result = collect_metrics_server(KubeOptions(kubeconfig=server.kubeconfig(tmp_path)), 120, 60, tmp_path / "snap",
                                    clock=clock.time, sleep=clock.sleep)  # fmt: skip
    status = result.snapshot.container_status.astype(
        {"pod": str, "container": str, "last_reason": str, "state": str, "terminated_reason": str}
    )
    mine = status[(status["pod"] == name) & (status["container"] == sidecar)]
    fields = ["ready", "restarts", "last_reason", "last_exit_code", "state", "terminated_reason"]
    assert [tuple(r) for r in mine[fields].itertuples(index=False)] == [
        (True, 0, "", -1, "running", ""), (False, 1, "OOMKilled", 137, "terminated", "OOMKilled"),
        (True, 1, "OOMKilled", 137, "running", "")]  # fmt: skip
    assert mine["timestamp"].diff().dropna().dt.total_seconds().tolist() == [60.0, 60.0]
    others = status[~((status["pod"] == name) & (status["container"] == sidecar))]
    assert len(others) == others[["pod", "container"]].drop_duplicates().shape[0] > 0  # one row each: no change
    assert (result.path / "container_status.parquet").is_file()


def test_a_pod_status_of_the_wrong_shape_is_a_source_error(server: FakeApiServer, tmp_path: Path) -> None:
    clock = FakeClock()
    real_answer = server.answer

    def answer(path: str, auth: str):
        code, body = real_answer(path, auth)
        if path.startswith("/api/v1/pods") and server.metrics_polls >= 1:
            body = copy.deepcopy(body)
            body["items"][0]["status"]["containerStatuses"][0]["restartCount"] = "many"
        return code, body

    server.answer = answer
    with pytest.raises(SourceError, match=r"status\.containerStatuses\[0\]: ready must be a boolean and restartCount"):
        collect_metrics_server(KubeOptions(kubeconfig=server.kubeconfig(tmp_path)), 60, 60, tmp_path / "snap",
                               clock=clock.time, sleep=clock.sleep)  # fmt: skip
