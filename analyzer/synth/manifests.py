"""Kubernetes objects of a synthetic workload, as the API would return them (injected sidecars included)."""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from analyzer.model.signals import NAMESPACE_READERS, REQUEST_ANNOTATIONS
from analyzer.simulate.keda import generated_metric
from analyzer.snapshot.hpa import KEDA_LABEL
from analyzer.synth.scenarios import Scenario, SidecarSpec

_INIT_CONTAINERS = {
    "istio": {
        "name": "istio-init",
        "image": "docker.io/istio/proxyv2:1.24.2",
        "args": ["istio-iptables", "-p", "15001"],
        "resources": {"requests": {"cpu": "10m", "memory": "40Mi"}},
    },
    "linkerd": {
        "name": "linkerd-init",
        "image": "cr.l5d.io/linkerd/proxy-init:v2.4.1",
        "args": ["--incoming-proxy-port", "4143"],
        "resources": {"requests": {"cpu": "10m", "memory": "10Mi"}},
    },
    "vault": {
        "name": "vault-agent-init",
        "image": "hashicorp/vault:1.18.3",
        "args": ["agent", "-config=/vault/config/init-config.hcl"],
        "resources": {"requests": {"cpu": "250m", "memory": "64Mi"}},
    },
}


def template_hash(scenario: Scenario) -> str:
    """A stable pod-template-hash for the workload's ReplicaSet."""
    return hashlib.sha256(f"{scenario.namespace}/{scenario.workload}".encode()).hexdigest()[:10]


def _container(name: str, image: str, requests: dict[str, str] | None, limits: dict[str, str] | None) -> dict[str, Any]:
    resources: dict[str, Any] = {}
    if requests:
        resources["requests"] = dict(requests)
    if limits:
        resources["limits"] = dict(limits)
    return {"name": name, "image": image, "resources": resources}


def _sidecar(s: SidecarSpec, annotations: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The container; an injected one takes its requests from the pod's injector annotations where set."""
    requests = dict(s.requests or {})
    if annotations and s.kind in REQUEST_ANNOTATIONS:
        for resource, key in zip(("cpu", "memory"), REQUEST_ANNOTATIONS[s.kind], strict=True):
            if key in annotations:
                requests[resource] = annotations[key]
    c = _container(s.name, s.image, requests or None, s.limits)
    if s.native:
        c["restartPolicy"] = "Always"
    return c


def template_spec(scenario: Scenario) -> dict[str, Any]:
    """The owner's pod template: the app plus sidecars declared by hand (not webhook-injected ones)."""
    containers = [_container(scenario.app_container, scenario.app_image, scenario.app_requests, scenario.app_limits)]
    containers += [_sidecar(s) for s in scenario.sidecars if not s.injected and not s.native]
    init = [_sidecar(s) for s in scenario.sidecars if not s.injected and s.native]
    spec: dict[str, Any] = {"containers": containers}
    if init:
        spec["initContainers"] = init
    return spec


def pod_spec_and_annotations(scenario: Scenario) -> tuple[dict[str, Any], dict[str, str]]:
    """The live pod's spec after the injectors ran, and the annotations they leave."""
    spec = json.loads(json.dumps(template_spec(scenario)))
    annotations = dict(scenario.annotations)
    for s in scenario.sidecars:
        if not s.injected:
            continue
        if s.kind in NAMESPACE_READERS:  # Linkerd's injector: the namespace's config annotations the pod lacks
            inherited = {k: v for k, v in scenario.namespace_annotations.items() if k.startswith(_LINKERD_CONFIG)}
            annotations = {**inherited, **annotations}
        init = json.loads(json.dumps(_INIT_CONTAINERS.get(s.kind))) if s.kind in _INIT_CONTAINERS else None
        inits = spec.setdefault("initContainers", [])
        if init is not None and not s.native:
            inits.append(init)
        if s.native:
            inits.append(_sidecar(s, annotations))
        else:
            spec["containers"].append(_sidecar(s, annotations))
        annotations.update(_injector_annotations(s, scenario.app_container, init is not None and not s.native))
    if not spec.get("initContainers"):
        spec.pop("initContainers", None)
    return spec, annotations


_LINKERD_CONFIG = ("config.linkerd.io/", "config.alpha.linkerd.io/")


def requests_set_by(scenario: Scenario, s: SidecarSpec) -> tuple[str, str]:
    """The truth of what sets sidecar ``s``'s requests, by how the scenario is built: its
    :class:`~analyzer.model.signals.RequestSource` and the one change that moves them (``namespace/<ns>``,
    ``<ns>/<workload>``, or ``injector/<kind>``)."""
    workload = f"{scenario.namespace}/{scenario.workload}"
    if not s.injected:
        return "template", workload
    keys = REQUEST_ANNOTATIONS.get(s.kind, ())
    if any(k in scenario.annotations for k in keys):
        return "pod-annotation", workload
    if s.kind in NAMESPACE_READERS and any(k in scenario.namespace_annotations for k in keys):
        return "namespace-annotation", f"namespace/{scenario.namespace}"
    return "injector", f"injector/{s.kind}"


def _injector_annotations(s: SidecarSpec, app: str, with_init: bool) -> dict[str, str]:
    if s.kind == "istio":
        status = {
            "initContainers": ["istio-init"] if with_init else [],
            "containers": [s.name],
            "volumes": ["istio-envoy", "istio-data"],
            "imagePullSecrets": None,
            "revision": "default",
        }
        return {
            "sidecar.istio.io/status": json.dumps(status, sort_keys=True),
            "kubectl.kubernetes.io/default-container": app,
            "kubectl.kubernetes.io/default-logs-container": app,
        }
    if s.kind == "linkerd":
        return {
            "linkerd.io/inject": "enabled",
            "linkerd.io/proxy-version": "edge-24.11.8",
            "linkerd.io/created-by": "linkerd/proxy-injector edge-24.11.8",
        }
    if s.kind == "vault":
        return {"vault.hashicorp.com/agent-inject": "true", "vault.hashicorp.com/agent-inject-status": "injected"}
    return {}


def template_metadata(scenario: Scenario, labels: Mapping[str, str]) -> dict[str, Any]:
    """The pod template's metadata: its labels, and the workload's own annotations where it has any."""
    meta: dict[str, Any] = {"labels": dict(labels)}
    if scenario.annotations:
        meta["annotations"] = dict(scenario.annotations)
    return meta


def labels(scenario: Scenario) -> dict[str, str]:
    return {"app.kubernetes.io/name": scenario.workload, "team": scenario.namespace, **scenario.labels}


def workload_objects(scenario: Scenario, created: str, replicas: int) -> list[dict[str, Any]]:
    """The Deployment with its ReplicaSet, or the StatefulSet."""
    meta = {
        "name": scenario.workload,
        "namespace": scenario.namespace,
        "labels": labels(scenario),
        "uid": _uid(scenario, scenario.kind),
        "creationTimestamp": created,
    }
    selector = {"matchLabels": {"app.kubernetes.io/name": scenario.workload}}
    template = {"metadata": template_metadata(scenario, labels(scenario)), "spec": template_spec(scenario)}
    if scenario.kind == "StatefulSet":
        return [
            {
                "apiVersion": "apps/v1",
                "kind": "StatefulSet",
                "metadata": meta,
                "spec": {
                    "replicas": replicas,
                    "selector": selector,
                    "serviceName": scenario.workload,
                    "podManagementPolicy": "Parallel",
                    "template": template,
                },
                "status": {"replicas": replicas, "readyReplicas": replicas},
            }
        ]
    rs_name = f"{scenario.workload}-{template_hash(scenario)}"
    rs_labels = {**labels(scenario), "pod-template-hash": template_hash(scenario)}
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta,
        "spec": {"replicas": replicas, "selector": selector, "template": template},
        "status": {"replicas": replicas, "readyReplicas": replicas},
    }
    rs = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": rs_name,
            "namespace": scenario.namespace,
            "labels": rs_labels,
            "uid": _uid(scenario, "ReplicaSet"),
            "creationTimestamp": created,
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "name": scenario.workload,
                    "uid": meta["uid"],
                    "controller": True,
                }
            ],
        },
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": rs_labels},
            "template": {"metadata": template_metadata(scenario, rs_labels), "spec": template_spec(scenario)},
        },
        "status": {"replicas": replicas},
    }
    return [deployment, rs]


def owner_of_pods(scenario: Scenario) -> dict[str, Any]:
    if scenario.kind == "StatefulSet":
        return {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "name": scenario.workload,
            "uid": _uid(scenario, "StatefulSet"),
            "controller": True,
        }
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "name": f"{scenario.workload}-{template_hash(scenario)}",
        "uid": _uid(scenario, "ReplicaSet"),
        "controller": True,
    }


def hpa_object(scenario: Scenario, created: str) -> dict[str, Any] | None:
    """The workload's HPA: the scenario's, or for a KEDA scenario the one KEDA generates from its ScaledObject
    (named ``keda-hpa-<name>``, owned and labelled by the ScaledObject, its metrics from the triggers)."""
    if scenario.hpa is None:
        return None
    hpa = _autoscaler(scenario, created, "autoscaling/v2", "HorizontalPodAutoscaler", "scaleTargetRef", scenario.hpa)
    so = scaled_object(scenario, created)
    if so is None:
        return apply_patch(hpa, scenario.patch)
    meta = hpa["metadata"]
    meta["name"] = f"keda-hpa-{scenario.workload}"
    meta["labels"] = {KEDA_LABEL: scenario.workload}
    owner = {"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject", "name": scenario.workload}
    meta["ownerReferences"] = [{**owner, "uid": so["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}]
    hpa["spec"]["metrics"] = [generated_metric(t) for t in so["spec"]["triggers"]]
    return hpa


def apply_patch(obj: dict[str, Any], ops: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """``obj`` with the JSON Patch (RFC 6902) ``ops`` applied: the ``test``, ``add`` and ``replace``
    operations the report's fixes use; a failed ``test`` or a missing parent is an error (a fix written
    for another object)."""
    for op in ops:
        *parents, last = [p.replace("~1", "/").replace("~0", "~") for p in str(op["path"]).split("/")[1:]]
        node: Any = obj
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        key: Any = int(last) if isinstance(node, list) and last != "-" else last
        if op["op"] == "test":
            if node[key] != op["value"]:
                raise ValueError(f"test failed at {op['path']}")
        elif op["op"] == "add" and isinstance(node, list):
            node.insert(len(node) if key == "-" else key, copy.deepcopy(op["value"]))
        elif op["op"] in ("add", "replace"):
            if op["op"] == "replace" and (key not in node if isinstance(node, dict) else key >= len(node)):
                raise ValueError(f"nothing to replace at {op['path']}")
            node[key] = copy.deepcopy(op["value"])
        else:
            raise ValueError(f"unsupported operation {op['op']!r}")
    return obj


def scaled_object(scenario: Scenario, created: str) -> dict[str, Any] | None:
    """A KEDA scenario's ScaledObject: one cpu/memory trigger per Resource metric of the scenario's HPA."""
    if not scenario.keda or scenario.hpa is None:
        return None
    triggers = []
    for m in scenario.hpa["metrics"]:
        target = m["resource"]["target"]
        value = str(target["averageUtilization"]) if target["type"] == "Utilization" else str(target["averageValue"])
        triggers.append({"type": m["resource"]["name"], "metricType": target["type"], "metadata": {"value": value}})
    return apply_patch({
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {
            "name": scenario.workload,
            "namespace": scenario.namespace,
            "creationTimestamp": created,
            "uid": _uid(scenario, "ScaledObject"),
        },
        "spec": {
            "scaleTargetRef": {"name": scenario.workload},
            "minReplicaCount": scenario.hpa.get("minReplicas", 1),
            "maxReplicaCount": scenario.hpa["maxReplicas"],
            "triggers": triggers,
        },
    }, scenario.patch)  # fmt: skip


def vpa_object(scenario: Scenario, created: str) -> dict[str, Any] | None:
    if scenario.vpa is None:
        return None
    return _autoscaler(scenario, created, "autoscaling.k8s.io/v1", "VerticalPodAutoscaler", "targetRef", scenario.vpa)


def _autoscaler(
    scenario: Scenario, created: str, api_version: str, kind: str, ref_field: str, spec: dict[str, Any]
) -> dict[str, Any]:
    """An HPA or VPA named after the workload, pointing at it, with a deep copy of the scenario's spec."""
    return {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {
            "name": scenario.workload,
            "namespace": scenario.namespace,
            "creationTimestamp": created,
            "uid": _uid(scenario, kind),
        },
        "spec": {
            ref_field: {"apiVersion": "apps/v1", "kind": scenario.kind, "name": scenario.workload},
            **json.loads(json.dumps(spec)),
        },
    }


def _uid(scenario: Scenario, kind: str) -> str:
    h = hashlib.sha256(f"{kind}/{scenario.namespace}/{scenario.workload}".encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"
