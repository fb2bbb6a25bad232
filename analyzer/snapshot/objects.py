"""Reading and checking the Kubernetes objects of a snapshot (JSON or YAML ``List`` files)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from analyzer.errors import SnapshotError, clip
from analyzer.snapshot.schema import OBJECT_KINDS
from analyzer.snapshot.validation import first_error

MAX_DEPTH = 64
"""Nesting allowed in an object file; a Kubernetes object is about 15 levels deep."""
MAX_NODES_PER_BYTE = 4
"""Values a file may expand to per byte of text: a YAML alias bomb expands far beyond it."""


def read_object_files(directory: Path) -> tuple[dict[str, list[dict[str, Any]]], list[str]]:
    """Every ``*.json``/``*.yaml``/``*.yml`` under ``directory`` (or that one file), items grouped by kind and checked.

    A file may hold one object, a ``List`` (``kubectl get ... -o json``) or, in YAML, several
    documents. Kinds other than :data:`OBJECT_KINDS` are skipped. Each object is validated against
    :mod:`analyzer.snapshot.validation`; an object whose kind, namespace and name were already read
    is dropped, and the returned notes say so.
    """
    grouped: dict[str, list[dict[str, Any]]] = {kind: [] for kind in OBJECT_KINDS}
    seen: dict[tuple[str, str, str], str] = {}
    notes: list[str] = []
    if directory.is_file():
        files = [directory]
    else:
        files = sorted(
            p for p in directory.rglob("*")
            if p.suffix in {".json", ".yaml", ".yml"} and p.is_file() and not p.is_symlink()
        )  # fmt: skip
    for path in files:
        for index, item in enumerate(_items_of(path)):
            where = f"{path}: items[{index}]"
            if not isinstance(item, dict):
                raise SnapshotError(f"{where}: expected an object, got {type(item).__name__}")
            kind = item.get("kind")
            if not isinstance(kind, str):
                raise SnapshotError(f"{where}: kind must be a string, got {type(kind).__name__} {clip(kind, 40)}")
            if kind not in grouped:
                continue
            check_object(item, where)
            key = (kind, item["metadata"]["namespace"], item["metadata"]["name"])
            if key in seen:
                notes.append(f"{object_ref(item)} appears twice ({seen[key]} and {where}); the first was used")
                continue
            seen[key] = where
            grouped[kind].append(item)
    return grouped, notes


def _items_of(path: Path) -> list[Any]:
    try:
        text = path.read_text(encoding="utf-8")
        docs = [json.loads(text)] if path.suffix == ".json" else [d for d in yaml.safe_load_all(text) if d is not None]
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise SnapshotError(f"{path}: not valid {path.suffix[1:].upper()}{_line_of(exc)}") from None
    except RecursionError:
        raise SnapshotError(f"{path}: nested deeper than {MAX_DEPTH} levels") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SnapshotError(f"{path}: cannot read ({clip(str(exc), 120)})") from None
    _check_shape(docs, path, budget=MAX_NODES_PER_BYTE * len(text) + 1000)
    items: list[Any] = []
    for doc in docs:
        if isinstance(doc, dict) and str(doc.get("kind", "")).endswith("List") and "items" in doc:
            if not isinstance(doc["items"], list):
                raise SnapshotError(f"{path}: 'items' must be a list")
            items.extend(doc["items"])
        else:
            items.append(doc)
    return items


def _line_of(exc: Exception) -> str:
    """`` (line N)`` of a JSON or YAML error, counting from 1 (PyYAML's marks count from 0)."""
    if isinstance(exc, json.JSONDecodeError):
        return f" (line {exc.lineno})"
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    return f" (line {mark.line + 1})" if mark is not None else ""


def _check_shape(docs: list[Any], path: Path, budget: int) -> None:
    """Refuse nesting beyond :data:`MAX_DEPTH` and more values than ``budget`` (shared YAML aliases count each time)."""
    stack: list[tuple[Any, int]] = [(d, 1) for d in docs]
    visited = 0
    while stack:
        value, depth = stack.pop()
        visited += 1
        if depth > MAX_DEPTH:
            raise SnapshotError(f"{path}: nested deeper than {MAX_DEPTH} levels")
        if visited > budget:
            raise SnapshotError(f"{path}: expands to more values than its size allows (YAML aliases?)")
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)


def object_ref(item: dict[str, Any]) -> str:
    """``Kind namespace/name`` for messages (each part cut short: a hostile name can be megabytes)."""
    meta = item.get("metadata") or {}

    def short(value: object) -> str:
        text = str(value)
        return text if len(text) <= 80 else f"{text[:80]}…"

    return f"{short(item.get('kind'))} {short(meta.get('namespace', ''))}/{short(meta.get('name', '?'))}"


def check_object(item: dict[str, Any], where: str) -> None:
    """Raise :class:`SnapshotError` naming the object and field when ``item`` does not fit the schema."""
    problem = first_error(item["kind"], item)
    if problem is None:
        problem = _semantic_problem(item)
    if problem is not None:
        meta = item.get("metadata")
        named = isinstance(meta, dict) and isinstance(meta.get("name"), str) and isinstance(meta.get("namespace"), str)
        at = f"{where}: {object_ref(item)}" if named else f"{where}: {item['kind']}"
        raise SnapshotError(f"{at}: {problem}")


def _semantic_problem(item: dict[str, Any]) -> str | None:
    """What a schema cannot say: the API server's cross-field rules the analysis relies on."""
    spec = item["spec"]
    if item["kind"] == "HorizontalPodAutoscaler" and spec.get("minReplicas", 1) > spec["maxReplicas"]:
        return f"spec.minReplicas ({spec.get('minReplicas')}) is greater than spec.maxReplicas ({spec['maxReplicas']})"
    if item["kind"] == "HorizontalPodAutoscaler":
        for i, metric in enumerate(spec.get("metrics") or []):
            key = {"Resource": "resource", "ContainerResource": "containerResource"}.get(metric["type"])
            if key is not None and key not in metric:
                return f"spec.metrics[{i}].{key}: is missing for a {metric['type']} metric"
    return None
