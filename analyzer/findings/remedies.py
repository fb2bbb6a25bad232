"""Ready-to-apply YAML for each HPA remedy: the HPA's ``metrics`` block, or the sidecar's request settings."""

from __future__ import annotations

from typing import Any

import yaml

from analyzer.simulate.hpa_spec import MetricSpec

SIDECAR_REQUEST_ANNOTATIONS = {
    "istio": ("sidecar.istio.io/proxyCPU", "sidecar.istio.io/proxyMemory"),
    "linkerd": ("config.linkerd.io/proxy-cpu-request", "config.linkerd.io/proxy-memory-request"),
    "vault": ("vault.hashicorp.com/agent-requests-cpu", "vault.hashicorp.com/agent-requests-mem"),
    "dapr": ("dapr.io/sidecar-cpu-request", "dapr.io/sidecar-memory-request"),
}
"""Pod-template annotations through which each injector takes the sidecar's requests (docs/model.md)."""


def metric_entry(m: MetricSpec) -> dict[str, Any]:
    """One ``spec.metrics`` entry in autoscaling/v2 form."""
    if m.is_utilization:
        target: dict[str, Any] = {"type": "Utilization", "averageUtilization": int(m.target)}
    else:
        value = f"{m.target}m" if m.resource == "cpu" else str(-(-m.target // 1000))
        target = {"type": "AverageValue", "averageValue": value}
    if m.container is None:
        return {"type": "Resource", "resource": {"name": m.resource, "target": target}}
    return {
        "type": "ContainerResource",
        "containerResource": {"name": m.resource, "container": m.container, "target": target},
    }


def hpa_metrics_patch(namespace: str, name: str, metrics: tuple[MetricSpec, ...]) -> str:
    """The HPA with its new ``spec.metrics`` (apply with ``kubectl patch hpa --type merge`` or in Git)."""
    doc = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"metrics": [metric_entry(m) for m in metrics]},
    }
    return to_yaml(doc)


def sidecar_requests_patch(
    namespace: str,
    kind: str,
    name: str,
    requests: dict[str, dict[str, str]],
    sidecar_kinds: dict[str, str],
    injected: dict[str, bool],
    native: dict[str, bool],
) -> str:
    """A patch of the workload that sets each sidecar's requests where its owner reads them.

    Injected sidecars take requests from pod-template annotations of their injector; sidecars in the
    template get a strategic-merge patch of their container (``initContainers`` for native ones).
    """
    annotations: dict[str, str] = {}
    containers: list[dict[str, Any]] = []
    init: list[dict[str, Any]] = []
    notes = []
    for container, req in requests.items():
        side_kind = sidecar_kinds.get(container, "generic")
        if injected.get(container) and side_kind in SIDECAR_REQUEST_ANNOTATIONS:
            cpu_key, mem_key = SIDECAR_REQUEST_ANNOTATIONS[side_kind]
            annotations[cpu_key], annotations[mem_key] = req["cpu"], req["memory"]
        elif injected.get(container):
            notes.append(f"# {container} is injected by a webhook: set requests cpu {req['cpu']}, "
                         f"memory {req['memory']} in its injector's configuration")  # fmt: skip
        else:
            entry = {"name": container, "resources": {"requests": dict(req)}}
            (init if native.get(container) else containers).append(entry)
    template: dict[str, Any] = {}
    if annotations:
        template["metadata"] = {"annotations": annotations}
    spec: dict[str, Any] = {}
    if containers:
        spec["containers"] = containers
    if init:
        spec["initContainers"] = init
    if spec:
        template["spec"] = spec
    doc = {
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"template": template},
    }
    return "\n".join(notes) + ("\n" if notes else "") + to_yaml(doc)


_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
"""libyaml's emitter where PyYAML has it (the same text, about ten times faster)."""


def to_yaml(doc: dict[str, Any]) -> str:
    """Block-style YAML in the document's key order."""
    return yaml.dump(doc, Dumper=_DUMPER, sort_keys=False, default_flow_style=False)
