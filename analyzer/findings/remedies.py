"""Ready-to-apply fixes for each HPA remedy, as JSON Patches (RFC 6902) that change only what the remedy
changes: the replayed ``spec.metrics`` entries of the HPA (every other metric kept, each replaced entry
guarded by a ``test`` of its old value), or the sidecars' requests in the workload's pod template (the
injector's annotations, or the container's ``resources.requests`` found by name and guarded by a
``test`` of that name). A patch applies with ``kubectl patch ... --type json --patch-file FILE`` and
fails, changing nothing, when the object no longer looks like the one analysed."""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from typing import Any

from analyzer.model.signals import LIMIT_ANNOTATIONS, REQUEST_ANNOTATIONS
from analyzer.paths import safe_component
from analyzer.simulate.hpa_spec import HPASpec
from analyzer.snapshot.hpa import APP_TARGETS_ANNOTATION, MetricSpec
from analyzer.snapshot.kube import DEFAULT_TEMPLATE_AT, Workload, template_at
from analyzer.snapshot.vpa import VPASpec


def metric_entry(m: MetricSpec) -> dict[str, Any]:
    """One ``spec.metrics`` entry in autoscaling/v2 form."""
    if m.is_utilization:
        target: dict[str, Any] = {"type": "Utilization", "averageUtilization": int(m.target)}
    else:
        target = {"type": "AverageValue", "averageValue": m.average_value()}
    if m.container is None:
        return {"type": "Resource", "resource": {"name": m.resource, "target": target}}
    return {
        "type": "ContainerResource",
        "containerResource": {"name": m.resource, "container": m.container, "target": target},
    }


RESOURCE_NAMES = {
    "HorizontalPodAutoscaler": "hpa",
    "ScaledObject": "scaledobject",
    "Deployment": "deployment",
    "StatefulSet": "statefulset",
    "DaemonSet": "daemonset",
    "ReplicaSet": "replicaset",
    "Job": "job",
    "CronJob": "cronjob",
    "VerticalPodAutoscaler": "vpa",
    "Namespace": "namespace",
}
"""``kubectl`` resource names of the objects fixes patch."""

KIND_OF_RESOURCE = {name: kind for kind, name in RESOURCE_NAMES.items()}
"""The kind of each ``kubectl`` resource name a remedy's ``object`` starts with."""


def pointer(*parts: str | int) -> str:
    """A JSON Pointer (RFC 6901): ``~`` and ``/`` in a part escaped (annotation keys hold ``/``)."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def fix_file(namespace: str, kind: str, name: str) -> str:
    """Where a fix lives in ``fixes/``: one file per object, each part a safe path component."""
    return f"{safe_component(namespace)}/{safe_component(f'{RESOURCE_NAMES[kind]}-{name}')}.json"


def apply_command(namespace: str, kind: str, name: str, under: str = "") -> str:
    """The one command that applies the object's fix from the ``fixes/`` directory, or from its folder
    ``under`` (every word shell-quoted: a name from the cluster is data, never shell)."""
    where = f"fixes/{under}/" if under else "fixes/"
    words = ["kubectl", "patch", RESOURCE_NAMES[kind], name, "-n", namespace, "--type", "json",
             "--patch-file", where + fix_file(namespace, kind, name)]  # fmt: skip
    return " ".join(shlex.quote(w) for w in words)


def namespace_command(namespace: str) -> str:
    """The command that applies a namespace's merge patch from ``fixes/`` (a namespace has no namespace)."""
    words = ["kubectl", "patch", "namespace", namespace, "--type", "merge",
             "--patch-file", f"fixes/{fix_file(namespace, 'Namespace', namespace)}"]  # fmt: skip
    return " ".join(shlex.quote(w) for w in words)


def app_targets_ops(targets: Mapping[str, int], has_annotations: bool) -> list[dict[str, Any]]:
    """JSON Patch operations recording on the object (an HPA, or the ScaledObject generating it) the app-level
    targets its new pod-level targets stand for (:data:`~analyzer.snapshot.hpa.APP_TARGETS_ANNOTATION`)."""
    value = json.dumps(dict(sorted(targets.items())), separators=(",", ":"))
    if not has_annotations:
        return [{"op": "add", "path": "/metadata/annotations", "value": {APP_TARGETS_ANNOTATION: value}}]
    return [{"op": "add", "path": pointer("metadata", "annotations", APP_TARGETS_ANNOTATION), "value": value}]


def annotations_patch(annotations: Mapping[str, str]) -> dict[str, Any]:
    """A JSON merge patch (RFC 7386) that sets ``annotations`` on an object and leaves its others as they are."""
    return {"metadata": {"annotations": dict(annotations)}}


def hpa_metrics_ops(spec: HPASpec, new: tuple[MetricSpec, ...]) -> list[dict[str, Any]]:
    """JSON Patch operations turning the HPA's replayed metrics into ``new`` (one per replayed metric, same
    order), leaving every other ``spec.metrics`` entry (Pods, Object, External, unchanged ones) as it is."""
    if not spec.raw_metrics:  # no spec.metrics: the controller's default CPU 80 %, now written out
        return [{"op": "add", "path": "/spec/metrics", "value": [metric_entry(m) for m in new]}]
    ops: list[dict[str, Any]] = []
    for old, index, metric in zip(spec.metrics, spec.metric_indices, new, strict=True):
        entry = metric_entry(metric)
        if metric == old:
            continue
        path = pointer("spec", "metrics", index)
        ops += [{"op": "test", "path": path, "value": spec.raw_metrics[index]},
                {"op": "replace", "path": path, "value": entry}]  # fmt: skip
    return ops


def vpa_policy_ops(vpa: VPASpec, changes: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """JSON Patch operations giving the VPA's ``containerPolicies`` the fields in ``changes``, keyed by
    ``containerName``: the entry that applies to that name (the first naming it, the last ``"*"``, as the VPA
    resolves them) gets the fields, other fields kept; a name without an entry gets one appended. Guarded by
    a ``test`` of the policies as collected, so it changes nothing once someone else has changed them. (A VPA
    without ``resourcePolicy`` gets one; JSON Patch cannot test for absence, as for an HPA without metrics.)"""
    if not changes:
        return []
    entries = [{"containerName": name, **fields} for name, fields in changes.items()]
    if vpa.resource_policy is None:
        return [{"op": "add", "path": "/spec/resourcePolicy", "value": {"containerPolicies": entries}}]
    current = vpa.resource_policy.get("containerPolicies")
    if not current:
        return [{"op": "test", "path": "/spec/resourcePolicy", "value": vpa.resource_policy},
                {"op": "add", "path": "/spec/resourcePolicy/containerPolicies", "value": entries}]  # fmt: skip
    at = ("spec", "resourcePolicy", "containerPolicies")
    ops: list[dict[str, Any]] = [{"op": "test", "path": pointer(*at), "value": current}]
    for entry in entries:
        index = vpa.policy_index.get(entry["containerName"])
        if index is None:
            ops.append({"op": "add", "path": pointer(*at, "-"), "value": entry})
            continue
        ops += [{"op": "add", "path": pointer(*at, index, key), "value": value}
                for key, value in entry.items() if current[index].get(key) != value]  # fmt: skip
    return ops


def sidecar_requests_ops(
    template: Mapping[str, Any] | None,
    requests: dict[str, dict[str, str]],
    sidecar_kinds: dict[str, str],
    injected: dict[str, bool],
    native: dict[str, bool],
) -> tuple[list[dict[str, Any]], list[str]]:
    """JSON Patch operations on a workload that set each sidecar's requests where its owner reads them,
    and notes for what no patch can set (an injector without request annotations, no template)."""
    ops: list[dict[str, Any]] = []
    notes: list[str] = []
    annotations: dict[str, str] = {}
    for container, req in requests.items():
        side_kind = sidecar_kinds.get(container, "generic")
        if injected.get(container) and side_kind in REQUEST_ANNOTATIONS:
            cpu_key, mem_key = REQUEST_ANNOTATIONS[side_kind]
            annotations[cpu_key], annotations[mem_key] = req["cpu"], req["memory"]
        elif injected.get(container):
            notes.append(f"{container} is injected by a webhook: set requests cpu {req['cpu']}, memory "
                         f"{req['memory']} in its injector's configuration")  # fmt: skip
        elif template is None:
            notes.append(f"the snapshot has no pod template for {container}: set requests cpu {req['cpu']}, "
                         f"memory {req['memory']} in the workload's manifest")  # fmt: skip
        else:
            ops += _container_resource_ops(template, container, "requests", req, native.get(container, False), notes)
    if annotations:
        if template is None:
            notes.append("the snapshot has no pod template: add the annotations " + ", ".join(
                f"{k}: {v}" for k, v in annotations.items()) + " to the workload's template")  # fmt: skip
        else:
            changed = annotation_ops(template, annotations)
            if not changed:
                notes.append("the template's annotations already set these requests")
            ops += changed
    return ops, notes


def sidecar_limit_ops(
    template: Mapping[str, Any], container: str, limits: dict[str, str], kind: str, injected: bool, native: bool,
    at: tuple[str, ...] = DEFAULT_TEMPLATE_AT,
) -> tuple[list[dict[str, Any]], list[str]]:
    """JSON Patch operations on a workload that set a sidecar's limits where its owner reads them (the
    injector's limit annotations, or the template's container), and notes for what no patch can set;
    ``at``: where the object keeps ``template`` (:func:`analyzer.snapshot.kube.template_at`)."""
    notes: list[str] = []
    if injected and kind in LIMIT_ANNOTATIONS:
        keys = dict(zip(("cpu", "memory"), LIMIT_ANNOTATIONS[kind], strict=True))
        return annotation_ops(template, {keys[r]: q for r, q in limits.items()}, at), notes
    if injected:
        wanted = ", ".join(f"{r} {q}" for r, q in limits.items())
        return [], [f"{container} is injected by a webhook: set its limits ({wanted}) in its injector's configuration"]
    return _container_resource_ops(template, container, "limits", limits, native, notes, at), notes


def native_sidecar_ops(
    template: Mapping[str, Any], container: str, annotations: dict[str, str] | None,
    at: tuple[str, ...] = DEFAULT_TEMPLATE_AT,
) -> tuple[list[dict[str, Any]], str]:
    """JSON Patch operations on a workload that make a classic sidecar native: the injector's
    ``annotations`` on the pod template, or (None) the template's container moved to the front of its
    ``initContainers`` with ``restartPolicy: Always``; and why there are none, when there are none."""
    if annotations is not None:
        return annotation_ops(template, annotations, at), ""
    spec = template.get("spec") or {}
    entries = spec.get("containers") or []
    index = next((i for i, c in enumerate(entries) if isinstance(c, dict) and c.get("name") == container), None)
    if index is None:
        return [], f"{container} is not in the workload's template"
    entry = pointer(*at, "spec", "containers", index)
    moved = {**entries[index], "restartPolicy": "Always"}
    ops: list[dict[str, Any]] = [{"op": "test", "path": f"{entry}/name", "value": container},
                                 {"op": "remove", "path": entry}]  # fmt: skip
    if isinstance(spec.get("initContainers"), list):
        return [*ops, {"op": "add", "path": pointer(*at, "spec", "initContainers", 0), "value": moved}], ""
    return [*ops, {"op": "add", "path": pointer(*at, "spec", "initContainers"), "value": [moved]}], ""


def annotation_ops(
    template: Mapping[str, Any], annotations: dict[str, str], at: tuple[str, ...] = DEFAULT_TEMPLATE_AT
) -> list[dict[str, Any]]:
    """JSON Patch operations that set ``annotations`` on the pod template kept at ``at`` (``template``); none
    for an annotation the template already has at that value."""
    meta = template.get("metadata")
    if not isinstance(meta, dict):
        return [{"op": "add", "path": pointer(*at, "metadata"), "value": {"annotations": annotations}}]
    current = meta.get("annotations")
    if not isinstance(current, dict):
        return [{"op": "add", "path": pointer(*at, "metadata", "annotations"), "value": annotations}]
    return [{"op": "add", "path": pointer(*at, "metadata", "annotations", k), "value": v}
            for k, v in annotations.items() if current.get(k) != v]  # fmt: skip


def _container_resource_ops(
    template: Mapping[str, Any], container: str, part: str, values: dict[str, str], native: bool, notes: list[str],
    at: tuple[str, ...] = DEFAULT_TEMPLATE_AT,
) -> list[dict[str, Any]]:
    """Set the template container's ``resources.<part>`` (requests or limits) to ``values``."""
    field_name = "initContainers" if native else "containers"
    entries = (template.get("spec") or {}).get(field_name) or []
    index = next((i for i, c in enumerate(entries) if c.get("name") == container), None)
    if index is None:
        wanted = ", ".join(f"{r} {q}" for r, q in values.items())
        notes.append(f"{container} is not in the workload's template: set {part} {wanted} where it is defined")
        return []
    at = (*at, "spec", field_name, index)
    ops: list[dict[str, Any]] = [{"op": "test", "path": pointer(*at, "name"), "value": container}]
    resources = entries[index].get("resources")
    if not isinstance(resources, dict):
        return [*ops, {"op": "add", "path": pointer(*at, "resources"), "value": {part: dict(values)}}]
    if not isinstance(resources.get(part), dict):
        return [*ops, {"op": "add", "path": pointer(*at, "resources", part), "value": dict(values)}]
    return [*ops, *({"op": "add", "path": pointer(*at, "resources", part, r), "value": q} for r, q in values.items())]


JOB_IMMUTABLE = "a Job's pod template cannot be changed: change it where the Job is made (its manifest, or its CronJob)"
"""Why a Job gets no patch: the API refuses changes to its pod template."""


def template_annotation_fix(
    text: str, workload: Workload | None, annotations: dict[str, str], namespace: str, kind: str, name: str
) -> tuple[str, str, str]:
    """A fix that sets pod template ``annotations``: its ``text``, the JSON Patch and its command; the text says
    why there is no patch when the snapshot has no template, or the object is a Job (its template is fixed)."""
    if workload is None or workload.template_raw is None:
        return text + "; the snapshot has no template to patch", "", ""
    if workload.kind == "Job":
        return f"{text}; {JOB_IMMUTABLE}", "", ""
    ops = annotation_ops(workload.template_raw, annotations, template_at(workload.kind))
    return text, patch_text(ops), apply_command(namespace, kind, name)


def patch_text(ops: list[dict[str, Any]]) -> str:
    """The patch file's content: the operations as indented JSON."""
    return json.dumps(ops, indent=2) + "\n"
