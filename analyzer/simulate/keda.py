"""KEDA ScaledObjects and the HPA each generates: how a cpu/memory trigger becomes an HPA metric, and the
JSON Patch on the ScaledObject that makes KEDA generate the metrics a remedy wants.

KEDA (keda.sh/v1alpha1) writes one HPA metric per trigger, in trigger order. A ``cpu`` or ``memory``
trigger becomes a ``Resource`` metric, or a ``ContainerResource`` one when its ``metadata.containerName``
is set; ``metricType`` (``Utilization`` or ``AverageValue``) and ``metadata.value`` give the target
(KEDA's cpu and memory scalers). KEDA reverts edits of the generated HPA, so a fix goes to the
ScaledObject.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from analyzer.simulate.hpa_spec import HPASpec
from analyzer.snapshot.hpa import MetricSpec

RESOURCE_TRIGGERS = ("cpu", "memory")


def generated_metric(trigger: dict[str, Any]) -> dict[str, Any] | None:
    """The HPA metric KEDA generates from a cpu or memory trigger (None for other trigger types)."""
    if trigger.get("type") not in RESOURCE_TRIGGERS:
        return None
    meta = trigger.get("metadata") or {}
    metric_type = trigger.get("metricType") or "Utilization"
    value = meta.get("value", "")
    if metric_type == "Utilization":
        target: dict[str, Any] = {"type": "Utilization", "averageUtilization": int(value)}
    else:
        target = {"type": "AverageValue", "averageValue": value}
    body = {"name": trigger["type"], "target": target}
    if meta.get("containerName"):
        return {"type": "ContainerResource", "containerResource": {**body, "container": meta["containerName"]}}
    return {"type": "Resource", "resource": body}


def scaled_object_ops(scaled_object: dict[str, Any], spec: HPASpec, new: tuple[MetricSpec, ...]) -> tuple[
    list[dict[str, Any]], list[str]
]:  # fmt: skip
    """JSON Patch operations on ``scaled_object`` whose triggers generate ``new`` in place of the HPA's
    replayed metrics (same order), each guarded by a ``test`` of the trigger's type; notes for what no
    operation can express."""
    triggers = (scaled_object.get("spec") or {}).get("triggers") or []
    ops: list[dict[str, Any]] = []
    notes: list[str] = []
    for old, index, metric in zip(spec.metrics, spec.metric_indices, new, strict=True):
        if metric == old:
            continue
        trigger = triggers[index] if index < len(triggers) else None
        if trigger is None or trigger.get("type") != metric.resource:
            notes.append(f"the ScaledObject's trigger {index} is not its {metric.resource} trigger: change it by hand")
            continue
        at = f"/spec/triggers/{index}"
        ops.append({"op": "test", "path": f"{at}/type", "value": trigger["type"]})
        meta = trigger.get("metadata")
        if not isinstance(meta, dict):
            ops.append({"op": "add", "path": f"{at}/metadata", "value": {}})
            meta = {}
        if metric.container != old.container:
            ops.append({"op": "add", "path": f"{at}/metadata/containerName", "value": metric.container})
        value = str(metric.target) if metric.is_utilization else metric.average_value()
        if value != meta.get("value"):
            ops.append({"op": "add", "path": f"{at}/metadata/value", "value": value})
        metric_type = "Utilization" if metric.is_utilization else "AverageValue"
        if metric_type != (trigger.get("metricType") or "Utilization"):
            ops.append({"op": "add", "path": f"{at}/metricType", "value": metric_type})
    return ops, notes


def has_annotations(scaled_object: Mapping[str, Any]) -> bool:
    """The ScaledObject has ``metadata.annotations`` (a patch adds a key to it, or the whole map)."""
    return isinstance((scaled_object.get("metadata") or {}).get("annotations"), dict)
