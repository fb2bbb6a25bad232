"""Reading and checking the Kubernetes objects of a snapshot (JSON or YAML ``List`` files)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from analyzer.documents import parse_text
from analyzer.errors import SnapshotError, clip
from analyzer.snapshot.schema import OBJECT_KINDS
from analyzer.snapshot.validation import first_error


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
    except (OSError, UnicodeDecodeError) as exc:
        raise SnapshotError(f"{path}: cannot read ({clip(str(exc), 120)})") from None
    docs = parse_text(text, str(path), json_only=path.suffix == ".json", error=SnapshotError)
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
