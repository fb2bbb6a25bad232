"""Collecting from a real Prometheus that holds a generated cluster: values, objects, request counts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analyzer import api
from analyzer.collect.collector import Collection, collect_prometheus
from analyzer.collect.prometheus_connection import PromOptions
from analyzer.collect.timerange import time_range
from analyzer.errors import SidecarImpactError
from analyzer.snapshot.schema import DELETED_AT_ANNOTATION
from analyzer.snapshot.shards import Shard, shard_of
from analyzer.units import parse_quantity
from tests.collect.conftest import END, START, PromData
from tests.collect.promserver import PrometheusServer

KEYS = ["namespace", "pod", "container"]


def collect(out: Path, server_url: str, cluster: str, **kwargs: object) -> Collection:
    options = PromOptions(server_url, cluster_label="cluster", cluster=cluster, retries=0)
    return collect_prometheus(options, time_range(start=START, end=END, step="60s"), out, **kwargs)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def collected(prometheus: PrometheusServer, tmp_path_factory: pytest.TempPathFactory) -> Collection:
    return collect(tmp_path_factory.mktemp("collected") / "snap", prometheus.url, "small")


def truth_usage(prom_data: PromData) -> pd.DataFrame:
    return prom_data.small.snapshot.usage.astype({k: object for k in KEYS})


def test_cpu_is_the_rate_over_the_window_and_memory_the_gauge(collected: Collection, prom_data: PromData) -> None:
    meta = collected.snapshot.metadata.extra
    assert meta["scrape_interval_s"] == 60  # the median spacing of raw sample times; the data is 60 s apart
    assert meta["rate_window_s"] == max(60 + meta["scrape_interval_s"], 4 * meta["scrape_interval_s"])
    truth = truth_usage(prom_data).sort_values([*KEYS, "timestamp"], ignore_index=True)
    grouped = truth.groupby(KEYS, sort=False)
    # the window holds the counter at t-240 s .. t (five scrapes): the mean of the generator's last four
    # values; nearer a series' start, rate() extrapolates and the comparison does not hold exactly
    truth["expected"] = grouped["cpu_cores"].transform(lambda s: s.rolling(4).mean())
    truth["full"] = grouped["timestamp"].shift(4) == truth["timestamp"] - pd.Timedelta(minutes=4)
    got = collected.snapshot.usage.astype({k: object for k in KEYS})
    merged = got.merge(truth, on=["timestamp", *KEYS], suffixes=("", "_truth"), validate="one_to_one")
    assert len(merged) == len(got)  # nothing collected that the generator did not produce
    full = merged[merged["full"]]
    assert len(full) > 0.9 * len(merged)
    np.testing.assert_allclose(full["cpu_cores"], full["expected"], rtol=1e-6, atol=1e-9)
    np.testing.assert_array_equal(merged["memory_bytes"], merged["memory_bytes_truth"])
    # every container with two samples or more is there; no pause or cgroup rows; duplicates folded
    counts = truth.groupby(KEYS).size()
    assert set(got.groupby(KEYS).size().index) == set(counts[counts >= 2].index)
    assert not set(got["container"]) & {"", "POD"}


def _resources(container: dict) -> dict[tuple[str, str], float]:
    out = {}
    for field in ("requests", "limits"):
        for name, value in ((container.get("resources") or {}).get(field) or {}).items():
            out[(field, name)] = float(parse_quantity(value))
    return out


def test_pods_owners_requests_and_native_sidecars(collected: Collection, prom_data: PromData) -> None:
    truth = {(p["metadata"]["namespace"], p["metadata"]["name"]): p for p in prom_data.small.snapshot.items("Pod")}
    pods = {(p["metadata"]["namespace"], p["metadata"]["name"]): p for p in collected.snapshot.items("Pod")}
    assert set(pods) <= set(truth) and len(pods) >= len(truth) - 2  # pods that lived one sample have no rate
    natives = 0
    step = pd.Timedelta(minutes=1)
    for key, pod in pods.items():
        want = truth[key]
        # kube-state-metrics does not keep the order of containers: compare by name
        got_c = {c["name"]: c for c in pod["spec"]["containers"]}
        want_c = {c["name"]: c for c in want["spec"]["containers"]}
        assert set(got_c) == set(want_c)
        got_init = {c["name"]: c for c in pod["spec"].get("initContainers", [])}
        want_init = {c["name"]: c for c in want["spec"].get("initContainers", [])}
        assert set(got_init) == set(want_init)
        for name, c in want_init.items():
            assert got_init[name].get("restartPolicy") == c.get("restartPolicy")
            natives += c.get("restartPolicy") == "Always"
            assert _resources(got_init[name]) == _resources(c)
        for name, c in want_c.items():
            assert _resources(got_c[name]) == _resources(c), (key, name)
            assert got_c[name].get("image") == c.get("image")
        owner = pod["metadata"]["ownerReferences"][0]
        assert (owner["kind"], owner["name"]) == (want["metadata"]["ownerReferences"][0]["kind"],
                                                  want["metadata"]["ownerReferences"][0]["name"])  # fmt: skip
        assert pod["metadata"]["creationTimestamp"] == want["metadata"]["creationTimestamp"]
        assert pod["status"].get("startTime") == want["status"]["startTime"]  # kube_pod_start_time
        deleted = want["metadata"].get("annotations", {}).get(DELETED_AT_ANNOTATION)
        got_deleted = pod["metadata"]["annotations"].get(DELETED_AT_ANNOTATION)
        if deleted is not None and pd.Timestamp(deleted) < pd.Timestamp(END) - 2 * step:
            assert got_deleted is not None and abs(pd.Timestamp(got_deleted) - pd.Timestamp(deleted)) <= 2 * step
        elif deleted is None:
            assert got_deleted is None
    assert natives > 0  # the native-sidecar scenario's istio-proxy, from kube_pod_init_container_info
    rs_owner = {r["metadata"]["name"]: r["metadata"]["ownerReferences"][0]["name"]
                for r in collected.snapshot.items("ReplicaSet")}  # fmt: skip
    for rs in prom_data.small.snapshot.items("ReplicaSet"):
        if rs["metadata"]["name"] in rs_owner:
            assert rs_owner[rs["metadata"]["name"]] == rs["metadata"]["ownerReferences"][0]["name"]


def test_hpas_and_replicas_from_kube_state_metrics(collected: Collection, prom_data: PromData) -> None:
    truth = {h["metadata"]["name"]: h for h in prom_data.small.snapshot.items("HorizontalPodAutoscaler")}
    got = {h["metadata"]["name"]: h for h in collected.snapshot.items("HorizontalPodAutoscaler")}
    assert set(got) == set(truth)
    for name, hpa in got.items():
        want = truth[name]["spec"]
        spec = hpa["spec"]
        assert spec["scaleTargetRef"]["name"] == want["scaleTargetRef"]["name"]
        assert (spec["minReplicas"], spec["maxReplicas"]) == (want.get("minReplicas", 1), want["maxReplicas"])
        want_targets = sorted(
            (m.get("resource") or m.get("containerResource"))["target"].get("averageUtilization")
            for m in want["metrics"]
        )
        assert sorted(m["resource"]["target"].get("averageUtilization") for m in spec["metrics"]) == want_targets
        want_active = {c["type"]: c["status"] for c in truth[name]["status"]["conditions"]}["ScalingActive"]
        assert {c["type"]: c["status"] for c in hpa["status"]["conditions"]}["ScalingActive"] == want_active
    replicas = collected.snapshot.replicas.merge(
        prom_data.small.snapshot.replicas, on=["timestamp", "namespace", "kind", "name"], suffixes=("", "_truth")
    )
    assert len(replicas) >= 0.95 * len(prom_data.small.snapshot.replicas)
    np.testing.assert_array_equal(replicas["replicas"], replicas["replicas_truth"])


def test_request_count_does_not_grow_with_pods(
    prometheus: PrometheusServer, collected: Collection, tmp_path: Path
) -> None:
    big = collect(tmp_path / "big", prometheus.url, "big")
    assert len(big.snapshot.items("Pod")) == 2 * len(collected.snapshot.items("Pod"))
    assert len(big.snapshot.usage) == 2 * len(collected.snapshot.usage)
    assert big.requests["prometheus"] == collected.requests["prometheus"]


def test_namespace_batches_and_time_chunks_give_the_same_usage(
    prometheus: PrometheusServer, collected: Collection, tmp_path: Path
) -> None:
    split = collect(tmp_path / "split", prometheus.url, "small", sample_budget=3000)
    assert split.requests["prometheus"] > collected.requests["prometheus"] + 4
    pd.testing.assert_frame_equal(
        split.snapshot.usage.sort_values(["timestamp", *KEYS], ignore_index=True),
        collected.snapshot.usage.sort_values(["timestamp", *KEYS], ignore_index=True),
    )


def test_collected_snapshot_loads_and_classifies_like_the_generated_one(
    collected: Collection, prom_data: PromData, tmp_path
) -> None:
    loaded = api.load_snapshot(collected.path)
    assert loaded.metadata.source == "prometheus" and len(loaded.usage) == len(collected.snapshot.usage)
    ours = api.analyze(loaded)
    theirs = api.analyze(prom_data.small.snapshot)
    cols = ["namespace", "workload", "container", "role"]
    assert set(map(tuple, ours.classes[cols].drop_duplicates().to_numpy())) == set(
        map(tuple, theirs.classes[cols].drop_duplicates().to_numpy())
    )
    stalled = set(theirs.hpa_skew.loc[theirs.hpa_skew["direction"] == "stalled", "hpa"])
    assert stalled != set()
    # Without the API every HPA is rebuilt from kube-state-metrics, which exports a ContainerResource
    # metric as a Resource one: the replay still finds the stall, but the report says it cannot tell.
    mine = ours.hpa_skew.set_index("hpa")
    for hpa in stalled:
        assert mine.loc[hpa, "direction"] == "uncertain" and mine.loc[hpa, "stalled_hours"] > 0
        assert "rebuilt from kube-state-metrics" in mine.loc[hpa, "note"]
    kinds = set(ours.findings["kind"])
    assert "hpa-uncertain" in kinds and not kinds & {"hpa-stalled", "hpa-inflation", "hpa-dilution"}
    assert ours.remedies[ours.remedies["hpa"].isin(stalled)].empty  # no fix for what cannot be told
    # ... and says loudly that these HPAs are not in its waste and shortfall
    uncertain = int((ours.hpa_skew["direction"] == "uncertain").sum())
    assert ours.summary()["hpas_uncertain"] == uncertain >= len(stalled)
    assert theirs.summary()["hpas_uncertain"] == 0
    api.render(ours, tmp_path, ["markdown", "html"])
    assert f"**{uncertain} HPAs are not in these figures**" in (tmp_path / "report.md").read_text()
    assert f"<b>{uncertain} HPAs are not counted in these figures</b>" in (tmp_path / "report.html").read_text()
    notes = ours.findings.loc[ours.findings["kind"] == "collection", "message"]
    assert any(n.startswith("rebuilt from kube-state-metrics, not read from the API: ") and "HorizontalPodAutoscaler"
               in n for n in notes)  # fmt: skip


def test_pods_phase_and_readiness_over_time_from_kube_state_metrics(collected: Collection, prom_data: PromData) -> None:
    """kube_pod_status_phase and kube_pod_status_ready at every step become the snapshot's pod_status."""
    truth = prom_data.small.snapshot.pod_status.astype({"namespace": str, "pod": str, "phase": str})
    got = collected.snapshot.pod_status.astype({"namespace": str, "pod": str, "phase": str})
    both = truth.merge(got, on=["namespace", "pod", "timestamp"], suffixes=("_truth", ""))
    assert len(both) >= 0.95 * len(truth) and len(got) <= len(truth)
    assert (both["phase"] == both["phase_truth"]).all() and (both["ready"] == both["ready_truth"]).all()
    assert (both["phase"] == "Pending").sum() > 10 and (~both["ready"]).sum() > 20  # the slow starts came through


def test_container_status_changes_from_kube_state_metrics(collected: Collection, prom_data: PromData) -> None:
    """Each container's readiness, restarts, state and last termination come through as the rows where they
    changed: the same rows the cluster was built from, the OOM kill included (only changes are queried), its
    terminated row with the reason it terminated for, and none on the rows after."""
    truth = prom_data.small.snapshot.container_status
    got = collected.snapshot.container_status
    got = got[got["namespace"].isin(set(truth["namespace"]))]  # the other pods export their restarts alone
    assert len(truth) > 50 and (truth["last_reason"] == "OOMKilled").any()
    as_text = {"namespace": str, "pod": str, "container": str, "state": str, "last_reason": str,
               "terminated_reason": str}  # fmt: skip
    pd.testing.assert_frame_equal(got.astype(as_text).reset_index(drop=True), truth.astype(as_text))
    killed = got[got["last_reason"] == "OOMKilled"]
    got_kill = [tuple(killed.iloc[i][["restarts", "last_exit_code", "ready", "state", "terminated_reason"]])
                for i in range(2)]  # fmt: skip
    assert got_kill == [(1, 137, False, "terminated", "OOMKilled"), (1, 137, False, "waiting", "")]


def test_collect_shards_partition_the_namespaces(
    prometheus: PrometheusServer, collected: Collection, tmp_path: Path
) -> None:
    """`collect --shard i/2`: each shard holds the namespaces report --shard gives it, and together the whole."""
    parts = [collect(tmp_path / f"shard-{i}", prometheus.url, "small", shard=Shard(i, 2)) for i in range(2)]
    whole = collected.snapshot.usage
    for i, part in enumerate(parts):
        spaces = set(part.snapshot.usage["namespace"].astype(str))
        assert spaces and all(shard_of(ns, 2) == i for ns in spaces)
        assert {p["metadata"]["namespace"] for p in part.snapshot.items("Pod")} == spaces
        assert {h["metadata"]["namespace"] for h in part.snapshot.items("HorizontalPodAutoscaler")} <= spaces
    joined = pd.concat([p.snapshot.usage.astype({k: object for k in KEYS}) for p in parts], ignore_index=True)
    pd.testing.assert_frame_equal(
        joined.sort_values(["timestamp", *KEYS], ignore_index=True),
        whole.astype({k: object for k in KEYS}).sort_values(["timestamp", *KEYS], ignore_index=True),
    )
    assert sum(len(p.snapshot.items("Pod")) for p in parts) == len(collected.snapshot.items("Pod"))


def test_a_notebook_collects_through_the_library(prometheus: PrometheusServer, collected: Collection, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """``api.collect`` is what ``sidecar-impact collect`` runs: the same snapshot, written atomically."""
    done = api.collect(tmp_path / "snap", prometheus_url=prometheus.url, no_api=True, cluster_label="cluster",
                       cluster_value="small", start=START, end=END, step="60s", retries=0)  # fmt: skip
    assert done.path == tmp_path / "snap" and (done.path / "metadata.json").is_file()
    assert done.samples == len(collected.snapshot.usage) and done.pods == len(collected.snapshot.items("Pod"))
    loaded = api.load_snapshot(done.path)
    assert len(loaded.usage) == done.samples
    with pytest.raises(SidecarImpactError, match="exactly one of --prometheus-url and --metrics-server"):
        api.collect(tmp_path / "other")
    assert not (tmp_path / "other").exists()
