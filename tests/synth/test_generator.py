"""Generator determinism, the bundled sample, and each scenario's defining property."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analyzer.simulate.kube_version import KubeVersion
from analyzer.simulate.pod_requests import pod_request
from analyzer.snapshot.kube import parse_pod_spec
from analyzer.snapshot.store import load_snapshot
from analyzer.synth.generate import (
    BATCH_WORKLOADS,
    Synthetic,
    generate,
    generate_batches,
    write_sample,
    write_sample_batches,
    write_sample_stream,
)
from analyzer.synth.scenarios import CATALOGUE

ROOT = Path(__file__).resolve().parents[2]


def workload_usage(syn: Synthetic, ns: str, prefix: str) -> pd.DataFrame:
    u = syn.snapshot.usage
    return u[(u.namespace == ns) & u.pod.str.startswith(prefix + "-")]


def pod_of(syn: Synthetic, ns: str, workload: str) -> dict:
    return next(
        p
        for p in syn.snapshot.objects["Pod"]
        if p["metadata"]["namespace"] == ns and p["metadata"]["name"].startswith(workload + "-")
    )


def replicas(syn: Synthetic, name: str) -> pd.Series:
    r = syn.snapshot.replicas
    return r[r.name == name]["replicas"]


def test_same_seed_same_snapshot_other_seed_differs() -> None:
    a, b, c = (generate(workloads=4, days=0.1, step_s=60, seed=s) for s in (3, 3, 4))
    pd.testing.assert_frame_equal(a.snapshot.usage, b.snapshot.usage, check_exact=True)
    assert a.snapshot.objects == b.snapshot.objects
    assert not np.allclose(a.snapshot.usage.cpu_cores.to_numpy()[:50], c.snapshot.usage.cpu_cores.to_numpy()[:50])


def test_bundled_sample_regenerates_identically(tmp_path: Path) -> None:
    bundled = load_snapshot(ROOT / "sample_data")
    extra = bundled.metadata.extra
    fresh = generate(
        workloads=extra["workloads"], days=extra["days"], step_s=bundled.metadata.step_s, seed=extra["seed"]
    )
    pd.testing.assert_frame_equal(bundled.usage, fresh.snapshot.usage, check_dtype=False, check_exact=True)
    pd.testing.assert_frame_equal(bundled.replicas, fresh.snapshot.replicas, check_dtype=False, check_exact=True)
    assert {k: v for k, v in bundled.objects.items() if v} == {k: v for k, v in fresh.snapshot.objects.items() if v}
    truth = json.loads((ROOT / "sample_data" / "ground_truth" / "params.json").read_text())
    assert truth == json.loads(json.dumps(fresh.truth))


def test_streamed_batches_are_the_in_memory_snapshot(tmp_path: Path) -> None:
    """Three batches (two catalogue rounds and a part): the streamed files load as the joined snapshot, the
    first batch is the same whichever count follows it, and each batch holds namespaces of its own."""
    workloads = 2 * BATCH_WORKLOADS + 3
    batches = list(generate_batches(workloads, days=0.05, step_s=60, seed=5))
    assert [len(b.truth["workloads"]) for b in batches] == [BATCH_WORKLOADS, BATCH_WORKLOADS, 3]
    spaces = [set(b.snapshot.usage.namespace.astype(str)) for b in batches]
    assert all(not (a & b) for i, a in enumerate(spaces) for b in spaces[i + 1 :])
    alone = generate(BATCH_WORKLOADS, days=0.05, step_s=60, seed=5)
    pd.testing.assert_frame_equal(alone.snapshot.usage, batches[0].snapshot.usage, check_exact=True)
    joined = generate(workloads, days=0.05, step_s=60, seed=5)
    streamed = load_snapshot(write_sample_stream(tmp_path / "streamed", iter(batches)))
    in_memory = load_snapshot(write_sample(tmp_path / "in-memory", joined))
    for name in ("usage", "replicas", "pod_status"):
        pd.testing.assert_frame_equal(getattr(streamed, name), getattr(in_memory, name), check_exact=True)
    assert streamed.objects == in_memory.objects
    assert len(streamed.items("Pod")) == sum(len(b.snapshot.items("Pod")) for b in batches)
    truth = json.loads((tmp_path / "streamed" / "ground_truth" / "params.json").read_text())
    assert [w["workload"] for w in truth["workloads"]] == [w["workload"] for w in joined.truth["workloads"]]
    assert len(pd.read_parquet(tmp_path / "streamed" / "ground_truth" / "demand.parquet")) == len(joined.demand)
    # Simulated and written by two worker processes, handing over only objects and truth: the same files.
    path, counts = write_sample_batches(tmp_path / "parallel", workloads, days=0.05, step_s=60, seed=5, workers=2)
    assert counts == {"pods": len(streamed.items("Pod")), "samples": len(streamed.usage)}
    files = sorted(p.relative_to(path) for p in path.rglob("*") if p.is_file())
    assert files == sorted(
        p.relative_to(tmp_path / "streamed") for p in (tmp_path / "streamed").rglob("*") if p.is_file()
    )
    for rel in files:
        assert (path / rel).read_bytes() == (tmp_path / "streamed" / rel).read_bytes(), rel
    assert not any(p.name.startswith(".") for p in path.parent.iterdir())  # no scratch or temporary left


def test_usage_covers_every_scenario_and_namespace(small: Synthetic) -> None:
    assert set(small.snapshot.usage.namespace) == {s.namespace for s in CATALOGUE}
    assert len(small.truth["workloads"]) == len(CATALOGUE)


def test_inflation_sidecar_runs_hotter_than_app_relative_to_request(small: Synthetic) -> None:
    u = workload_usage(small, "shop", "checkout").groupby("container").cpu_cores.mean()
    assert u["istio-proxy"] / 0.1 > u["checkout"] / 0.5 * 1.2


def test_dilution_sidecar_barely_uses_its_one_cpu(small: Synthetic) -> None:
    u = workload_usage(small, "shop", "inventory").groupby("container").cpu_cores.mean()
    assert u["cloud-sql-proxy"] / 1.0 < 0.05 < u["inventory"] / 0.5


def test_stalled_scenario_lacks_request_and_never_scales(small: Synthetic) -> None:
    pod = pod_of(small, "payments", "ledger")
    proxy = next(c for c in pod["spec"]["containers"] if c["name"] == "linkerd-proxy")
    assert "requests" not in proxy["resources"]
    assert pod_request(parse_pod_spec(pod["spec"]), "x", "cpu", KubeVersion()).error.startswith(
        "missing request for cpu"
    )
    stalled = small.demand[small.demand.workload == "ledger"]["stalled"]
    assert stalled.all()
    assert replicas(small, "ledger").nunique() == 1
    hpa = next(h for h in small.snapshot.objects["HorizontalPodAutoscaler"] if h["metadata"]["name"] == "ledger")
    conditions = {c["type"]: (c["status"], c["reason"]) for c in hpa["status"]["conditions"]}
    assert conditions["ScalingActive"] == ("False", "FailedGetResourceMetric")
    assert conditions["AbleToScale"] == ("True", "SucceededGetScale") and "ScalingLimited" not in conditions
    assert not small.demand[small.demand.workload != "ledger"]["stalled"].any()


def test_native_sidecar_is_a_restartable_init_container(small: Synthetic) -> None:
    pod = pod_of(small, "payments", "fraud-scorer")
    init = {c["name"]: c for c in pod["spec"]["initContainers"]}
    assert init["istio-proxy"]["restartPolicy"] == "Always"
    assert "istio-proxy" in set(workload_usage(small, "payments", "fraud-scorer").container)


def test_injected_sidecar_absent_from_template(small: Synthetic) -> None:
    rs = next(r for r in small.snapshot.objects["ReplicaSet"] if r["metadata"]["name"].startswith("checkout-"))
    assert [c["name"] for c in rs["spec"]["template"]["spec"]["containers"]] == ["checkout"]
    pod = pod_of(small, "shop", "checkout")
    assert [c["name"] for c in pod["spec"]["containers"]] == ["checkout", "istio-proxy"]
    assert "sidecar.istio.io/status" in pod["metadata"]["annotations"]


def test_statefulset_pods_use_ordinals(small: Synthetic) -> None:
    names = {p["metadata"]["name"] for p in small.snapshot.objects["Pod"] if p["metadata"]["namespace"] == "data"}
    assert {"session-cache-0", "session-cache-1", "session-cache-2"} <= names


def test_hpa_scales_with_traffic_and_stays_within_bounds(small: Synthetic) -> None:
    r = replicas(small, "checkout")
    assert r.min() >= 2 and r.max() <= 20 and r.nunique() > 1
    rps = small.demand[small.demand.workload == "checkout"]["rps"].to_numpy()
    assert np.corrcoef(rps, r.to_numpy())[0, 1] > 0.6


def test_vpa_scenarios_present(small: Synthetic) -> None:
    vpas = {v["metadata"]["name"]: v for v in small.snapshot.objects["VerticalPodAutoscaler"]}
    assert set(vpas) == {"search", "recommender"}
    assert [p["containerName"] for p in vpas["search"]["spec"]["resourcePolicy"]["containerPolicies"]] == ["search"]


@pytest.mark.parametrize(("kwargs", "message"), [({"workloads": 0}, "--workloads"), ({"step_s": 50}, "multiple")])
def test_bad_arguments(kwargs: dict, message: str) -> None:
    from analyzer.errors import SidecarImpactError

    with pytest.raises(SidecarImpactError, match=message):
        generate(**{"days": 0.1, **kwargs})
