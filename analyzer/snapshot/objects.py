"""Reading and checking the Kubernetes objects of a snapshot (JSON or YAML ``List`` files)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from analyzer.errors import QuantityError, SnapshotError
from analyzer.snapshot.schema import OBJECT_KINDS
from analyzer.units import parse_quantity

_RESOURCE_FIELDS = ("requests", "limits")


def read_object_files(directory: Path) -> dict[str, list[dict[str, Any]]]:
    """Every ``*.json``/``*.yaml``/``*.yml`` under ``directory`` (or that one file), items grouped by kind and checked.

    A file may hold one object, a ``List`` (``kubectl get ... -o json``) or, in YAML, several
    documents. Kinds other than :data:`OBJECT_KINDS` are skipped.
    """
    grouped: dict[str, list[dict[str, Any]]] = {kind: [] for kind in OBJECT_KINDS}
    if directory.is_file():
        files = [directory]
    else:
        files = sorted(p for p in directory.rglob("*") if p.suffix in {".json", ".yaml", ".yml"} and p.is_file())
    for path in files:
        for index, item in enumerate(_items_of(path)):
            where = f"{path}: items[{index}]"
            if not isinstance(item, dict):
                raise SnapshotError(f"{where}: expected an object, got {type(item).__name__}")
            kind = item.get("kind")
            if kind not in grouped:
                continue
            check_object(item, where)
            grouped[kind].append(item)
    return grouped


def _items_of(path: Path) -> list[Any]:
    try:
        text = path.read_text(encoding="utf-8")
        docs = [json.loads(text)] if path.suffix == ".json" else [d for d in yaml.safe_load_all(text) if d is not None]
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        line = getattr(exc, "lineno", None) or getattr(getattr(exc, "problem_mark", None), "line", None)
        at = f" (line {line})" if line is not None else ""
        raise SnapshotError(f"{path}: not valid {path.suffix[1:].upper()}{at}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise SnapshotError(f"{path}: cannot read: {exc}") from exc
    items: list[Any] = []
    for doc in docs:
        if isinstance(doc, dict) and str(doc.get("kind", "")).endswith("List") and "items" in doc:
            if not isinstance(doc["items"], list):
                raise SnapshotError(f"{path}: 'items' must be a list")
            items.extend(doc["items"])
        else:
            items.append(doc)
    return items


def object_ref(item: dict[str, Any]) -> str:
    """``Kind namespace/name`` for messages."""
    meta = item.get("metadata") or {}
    return f"{item.get('kind')} {meta.get('namespace', '')}/{meta.get('name', '?')}"


def check_object(item: dict[str, Any], where: str) -> None:
    """Raise :class:`SnapshotError` naming the field when ``item`` lacks what the analysis reads."""
    meta = item.get("metadata")
    if not isinstance(meta, dict) or not isinstance(meta.get("name"), str) or not meta["name"]:
        raise SnapshotError(f"{where}: {item.get('kind')} without metadata.name")
    if not isinstance(meta.get("namespace"), str):
        raise SnapshotError(f"{where}: {object_ref(item)}: metadata.namespace is missing")
    at = f"{where}: {object_ref(item)}"
    spec = item.get("spec")
    if not isinstance(spec, dict):
        raise SnapshotError(f"{at}: spec is missing or not an object")
    kind = item["kind"]
    if kind == "Pod":
        _check_pod_spec(spec, f"{at}: spec")
    elif kind in {"ReplicaSet", "Deployment", "StatefulSet", "DaemonSet"}:
        if "template" in spec:  # absent when rebuilt from kube-state-metrics, which exports no templates
            template = (spec.get("template") or {}).get("spec")
            if not isinstance(template, dict):
                raise SnapshotError(f"{at}: spec.template.spec is missing")
            _check_pod_spec(template, f"{at}: spec.template.spec")
    elif kind == "HorizontalPodAutoscaler":
        _check_hpa(spec, at)
    elif kind == "VerticalPodAutoscaler":
        ref = spec.get("targetRef")
        if not isinstance(ref, dict) or not ref.get("kind") or not ref.get("name"):
            raise SnapshotError(f"{at}: spec.targetRef needs kind and name")


def _check_pod_spec(spec: dict[str, Any], at: str) -> None:
    containers = spec.get("containers")
    if not isinstance(containers, list) or not containers:
        raise SnapshotError(f"{at}.containers: must be a non-empty list")
    for field in ("containers", "initContainers"):
        entries = spec.get(field) or []
        if not isinstance(entries, list):
            raise SnapshotError(f"{at}.{field}: must be a list")
        for i, container in enumerate(entries):
            cat = f"{at}.{field}[{i}]"
            if not isinstance(container, dict) or not isinstance(container.get("name"), str):
                raise SnapshotError(f"{cat}: container without a name")
            resources = container.get("resources") or {}
            if not isinstance(resources, dict):
                raise SnapshotError(f"{cat}.resources: must be an object")
            for kind in _RESOURCE_FIELDS:
                values = resources.get(kind) or {}
                if not isinstance(values, dict):
                    raise SnapshotError(f"{cat}.resources.{kind}: must be an object")
                for resource, quantity in values.items():
                    try:
                        parse_quantity(quantity)
                    except QuantityError as exc:
                        raise SnapshotError(f"{cat}.resources.{kind}.{resource}: {exc}") from exc


def _check_hpa(spec: dict[str, Any], at: str) -> None:
    ref = spec.get("scaleTargetRef")
    if not isinstance(ref, dict) or not ref.get("kind") or not ref.get("name"):
        raise SnapshotError(f"{at}: spec.scaleTargetRef needs kind and name")
    if not isinstance(spec.get("maxReplicas"), int) or spec["maxReplicas"] < 1:
        raise SnapshotError(f"{at}: spec.maxReplicas must be a positive integer")
    min_replicas = spec.get("minReplicas", 1)
    if not isinstance(min_replicas, int) or min_replicas < 0:
        raise SnapshotError(f"{at}: spec.minReplicas must be a non-negative integer")
    metrics = spec.get("metrics", [])
    if not isinstance(metrics, list):
        raise SnapshotError(f"{at}: spec.metrics must be a list")
    for i, metric in enumerate(metrics):
        if not isinstance(metric, dict) or metric.get("type") not in {
            "Resource",
            "ContainerResource",
            "Pods",
            "Object",
            "External",
        }:
            raise SnapshotError(
                f"{at}: spec.metrics[{i}].type must be Resource, ContainerResource, Pods, Object or External"
            )
