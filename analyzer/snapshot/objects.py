"""Reading and checking the Kubernetes objects of a snapshot (JSON or YAML ``List`` files)."""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

from analyzer.documents import MAX_DEPTH, check_json_depth, line_of, parse_text
from analyzer.errors import SnapshotError, clip
from analyzer.snapshot.fast_validation import accepts
from analyzer.snapshot.kube import object_ref
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
    notes: list[str] = []
    for kind, item in iter_object_files(directory, notes):
        grouped[kind].append(item)
    return grouped, notes


def iter_object_files(directory: Path, notes: list[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """:func:`read_object_files` one checked object at a time, as ``(kind, object)``; the notes are appended
    to ``notes``. A JSON ``List`` is decoded an item at a time: a large cluster's pods are never all
    parsed objects at once."""
    seen: dict[tuple[str, str, str], str] = {}
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
            if kind not in OBJECT_KINDS:
                continue
            check_object(item, where)
            key = (kind, item["metadata"]["namespace"], item["metadata"]["name"])
            if key in seen:
                notes.append(f"{object_ref(item)} appears twice ({seen[key]} and {where}); the first was used")
                continue
            seen[key] = where
            yield kind, item


def _items_of(path: Path) -> Iterator[Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SnapshotError(f"{path}: cannot read ({clip(str(exc), 120)})") from None
    if path.suffix == ".json":
        streamed = _json_list_items(text, str(path))
        if streamed is not None:
            yield from streamed
            return
    yield from _parsed_items(text, path)


def _parsed_items(text: str, path: Path) -> list[Any]:
    docs = parse_text(text, str(path), json_only=path.suffix == ".json", error=SnapshotError)
    items: list[Any] = []
    for doc in docs:
        if isinstance(doc, dict) and str(doc.get("kind", "")).endswith("List") and "items" in doc:
            if not isinstance(doc["items"], list):
                raise SnapshotError(f"{path}: items must be a list, got {_json_type(doc['items'])}")
            items.extend(doc["items"])
        else:
            items.append(doc)
    return items


def _json_type(value: object) -> str:
    """The JSON name of a decoded value's type, for messages."""
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "a number", float: "a number"}
    return names.get(type(value), "null")


def check_object(item: dict[str, Any], where: str) -> None:
    """Raise :class:`SnapshotError` naming the object and field when ``item`` does not fit the schema."""
    problem = None if accepts(item["kind"], item) else first_error(item["kind"], item)
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


_DECODER = json.JSONDecoder()
_SPACE = re.compile(r"[ \t\n\r]*")


def _json_list_items(text: str, where: str) -> Iterator[Any] | None:
    """The items of a JSON ``{"kind": "...List", "items": [...]}`` decoded one at a time, each checked by
    :func:`~analyzer.documents.check_json_depth`; None when ``text`` does not look like one (the whole-text
    parser reads it then).

    Whether it is a List is read from the last ``"kind"`` key of the text (kubectl writes the List's kind
    after its items), and confirmed once the items are read."""
    at = text.rfind('"kind"')
    if at < 0:
        return None
    colon = _SPACE.match(text, at + 6).end()  # type: ignore[union-attr]
    if not text.startswith(":", colon):
        return None
    try:
        kind, _ = _DECODER.raw_decode(text, _SPACE.match(text, colon + 1).end())  # type: ignore[union-attr]
    except (ValueError, RecursionError):
        return None
    start = _SPACE.match(text, 0).end()  # type: ignore[union-attr]
    if not isinstance(kind, str) or not kind.endswith("List") or not text.startswith("{", start):
        return None
    return _list_items(text, start + 1, where)


def _list_items(text: str, pos: int, where: str) -> Iterator[Any]:
    top: dict[str, Any] = {}
    try:
        while True:
            pos = _SPACE.match(text, pos).end()  # type: ignore[union-attr]
            if text.startswith("}", pos):
                break
            key, pos = _DECODER.raw_decode(text, pos)
            pos = _SPACE.match(text, pos).end()  # type: ignore[union-attr]
            if not isinstance(key, str) or not text.startswith(":", pos):
                raise json.JSONDecodeError("Expecting a key and ':'", text, pos)
            pos = _SPACE.match(text, pos + 1).end()  # type: ignore[union-attr]
            if key in top:
                raise SnapshotError(f"{where}: the key {clip(key)} appears twice in the List")
            if key == "items" and text.startswith("[", pos):
                pos = yield from _array_items(text, pos + 1, where)
                top[key] = []
            elif key == "items":
                value, _ = _DECODER.raw_decode(text, pos)
                raise SnapshotError(f"{where}: items must be a list, got {_json_type(value)}")
            else:
                top[key], pos = _DECODER.raw_decode(text, pos)
            pos = _SPACE.match(text, pos).end()  # type: ignore[union-attr]
            if text.startswith(",", pos):
                pos += 1
            elif not text.startswith("}", pos):
                raise json.JSONDecodeError("Expecting ',' delimiter", text, pos)
        if _SPACE.match(text, pos + 1).end() != len(text):  # type: ignore[union-attr]
            raise json.JSONDecodeError("Extra data", text, pos + 1)
    except json.JSONDecodeError as exc:
        raise SnapshotError(f"{where}: not valid JSON{line_of(exc)}") from None
    except RecursionError:
        raise SnapshotError(f"{where}: nested deeper than {MAX_DEPTH} levels") from None
    if "items" not in top or not str(top.get("kind", "")).endswith("List"):
        raise SnapshotError(f"{where}: a JSON document with items must be a List (its kind is {clip(top.get('kind'))})")


def _array_items(text: str, pos: int, where: str) -> Generator[Any, None, int]:
    """Each item of the JSON array whose ``[`` ends before ``pos``; returns the position after its ``]``."""
    for index in itertools.count():
        pos = _SPACE.match(text, pos).end()  # type: ignore[union-attr]
        if text.startswith("]", pos):
            return pos + 1
        item, pos = _DECODER.raw_decode(text, pos)
        if item.__class__ is dict or item.__class__ is list:
            try:
                check_json_depth(item, "", SnapshotError)
            except SnapshotError as exc:
                named = isinstance(item, dict) and isinstance(item.get("metadata"), dict)
                raise SnapshotError(f"{where}: items[{index}]{f': {object_ref(item)}' if named else ''}{exc}") from None
        yield item
        pos = _SPACE.match(text, pos).end()  # type: ignore[union-attr]
        if text.startswith(",", pos):
            pos += 1
        elif not text.startswith("]", pos):
            raise json.JSONDecodeError("Expecting ',' delimiter", text, pos)
