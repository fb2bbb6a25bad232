"""A large synthetic snapshot built directly with numpy (the generator's controller loop is not needed
to measure the data pass): ``workloads`` Deployments of ``pods`` pods with an app and an injected
istio-proxy each, usage every ``step_s`` over ``days``, a VPA per workload."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analyzer.snapshot.schema import SCHEMA_VERSION, Metadata, Snapshot

START = pd.Timestamp("2026-11-01T00:00:00Z")


def build(workloads: int, pods: int, days: float, step_s: float = 60.0, seed: int = 1, hpas: bool = False) -> Snapshot:
    rng = np.random.default_rng(seed)
    n_t = int(days * 86400 / step_s)
    names = [f"w{i:04d}" for i in range(workloads)]
    pod_names = [f"{w}-5d9c7b8f6-p{j}" for w in names for j in range(pods)]
    namespaces = [f"ns{i % 20:02d}" for i in range(workloads) for _ in range(pods)]
    objects: dict[str, list[dict]] = {
        "Pod": [], "ReplicaSet": [], "Deployment": [], "VerticalPodAutoscaler": [], "HorizontalPodAutoscaler": []
    }  # fmt: skip
    for i, w in enumerate(names):
        ns = f"ns{i % 20:02d}"
        template = {"containers": [{"name": "app", "image": "registry.example.com/app:1"}]}
        objects["Deployment"].append({"kind": "Deployment", "metadata": {"name": w, "namespace": ns},
                                      "spec": {"template": {"spec": template}}})  # fmt: skip
        objects["ReplicaSet"].append(
            {
                "kind": "ReplicaSet",
                "metadata": {"name": f"{w}-5d9c7b8f6", "namespace": ns,
                             "ownerReferences": [{"kind": "Deployment", "name": w, "controller": True}]},
                "spec": {"template": {"spec": template}},
            }
        )  # fmt: skip
        if hpas:
            objects["HorizontalPodAutoscaler"].append(
                {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
                 "metadata": {"name": w, "namespace": ns},
                 "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": w},
                          "minReplicas": 1, "maxReplicas": 10,
                          "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                              "type": "Utilization", "averageUtilization": 70}}}]}}
            )  # fmt: skip
        objects["VerticalPodAutoscaler"].append(
            {"kind": "VerticalPodAutoscaler", "metadata": {"name": w, "namespace": ns},
             "spec": {"targetRef": {"kind": "Deployment", "name": w}, "updatePolicy": {"updateMode": "Auto"}}}
        )  # fmt: skip
    for p, ns in zip(pod_names, namespaces, strict=True):
        objects["Pod"].append(
            {
                "kind": "Pod",
                "metadata": {"name": p, "namespace": ns, "creationTimestamp": "2026-10-30T00:00:00Z",
                             "annotations": {"sidecar.istio.io/status": '{"containers":["istio-proxy"]}'},
                             "ownerReferences": [{"kind": "ReplicaSet", "name": p.rsplit("-", 1)[0],
                                                  "controller": True}]},
                "spec": {"containers": [
                    {"name": "app", "image": "registry.example.com/app:1",
                     "resources": {"requests": {"cpu": "500m", "memory": "512Mi"}}},
                    {"name": "istio-proxy", "image": "docker.io/istio/proxyv2:1.24.2",
                     "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}},
                ]},
            }
        )  # fmt: skip
    n_pods = len(pod_names)
    t = np.arange(n_t) * step_s
    diurnal = 0.55 + 0.45 * np.sin(2 * np.pi * t / 86400.0)
    peak = rng.uniform(0.1, 1.0, n_pods)
    app = (diurnal[:, None] * peak[None, :]) * rng.normal(1.0, 0.03, (n_t, n_pods))
    side = (0.008 + 0.28 * app) * rng.normal(1.0, 0.04, (n_t, n_pods))
    cpu = np.stack([app, side], axis=2).reshape(-1)  # (time, pod, container) in snapshot order
    mem = np.stack([300e6 + 50e6 * app, 62e6 + 8e6 * app], axis=2).reshape(-1)
    order = np.argsort(np.array(namespaces, dtype=object).astype(str), kind="stable")
    pods_sorted = [pod_names[i] for i in order]  # snapshot order: namespace, pod
    ns_sorted = [namespaces[i] for i in order]
    cpu = cpu.reshape(n_t, n_pods, 2)[:, order].reshape(-1)
    mem = mem.reshape(n_t, n_pods, 2)[:, order].reshape(-1)
    rows = n_t * n_pods * 2
    ns_codes, ns_names = pd.factorize(np.array(ns_sorted, dtype=object))
    usage = pd.DataFrame(
        {
            "timestamp": pd.DatetimeIndex(START + pd.to_timedelta(np.repeat(t, n_pods * 2), unit="s")),
            "namespace": pd.Categorical.from_codes(np.tile(np.repeat(ns_codes, 2), n_t), categories=ns_names),
            "pod": pd.Categorical.from_codes(np.tile(np.repeat(np.arange(n_pods), 2), n_t), categories=pods_sorted),
            "container": pd.Categorical.from_codes(np.tile([0, 1], rows // 2), categories=["app", "istio-proxy"]),
            "cpu_cores": cpu,
            "memory_bytes": mem,
        }
    )
    meta = Metadata(SCHEMA_VERSION, "benchmark", "bench", START, START + pd.Timedelta(seconds=t[-1]), step_s, "bench")
    replicas = pd.DataFrame(
        {
            "timestamp": pd.DatetimeIndex(START + pd.to_timedelta(np.repeat(t, workloads), unit="s")),
            "namespace": [f"ns{i % 20:02d}" for i in range(workloads)] * n_t,
            "kind": "Deployment",
            "name": names * n_t,
            "replicas": pods,
        }
    ) if hpas else pd.DataFrame()  # fmt: skip
    return Snapshot(metadata=meta, usage=usage, replicas=replicas, objects=objects)
