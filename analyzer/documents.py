"""Reading small YAML or JSON documents a user hands the tool (rules, prices, settings), safely.

Bounded before and after parsing: the file's size, its nesting, and how many values YAML aliases
expand it to; errors are one line naming the file (and the line, counted from 1).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from analyzer.errors import SidecarImpactError, clip

MAX_DEPTH = 64
"""Nesting allowed in a document; a Kubernetes object is about 15 levels deep."""
MAX_VALUES_PER_BYTE = 4
"""Values a document may expand to per byte of its text: a YAML alias bomb expands far beyond it."""


def parse_text(text: str, where: str, *, json_only: bool = False, error: type[SidecarImpactError]) -> list[Any]:
    """The documents in ``text`` (JSON, or YAML with several documents), checked by :func:`check_shape`."""
    try:
        docs = [json.loads(text)] if json_only else [d for d in yaml.safe_load_all(text) if d is not None]
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise error(f"{where}: not valid {'JSON' if json_only else 'YAML'}{line_of(exc)}") from None
    except RecursionError:
        raise error(f"{where}: nested deeper than {MAX_DEPTH} levels") from None
    check_shape(docs, where, MAX_VALUES_PER_BYTE * len(text) + 1000, error)
    return docs


def read_document(path: Path, what: str, error: type[SidecarImpactError], max_bytes: int = 1 << 20) -> Any:
    """One YAML/JSON document from ``path`` (a ``what`` file, e.g. "price file"), at most ``max_bytes``."""
    try:
        with path.open("rb") as fh:
            raw = fh.read(max_bytes + 1)
    except OSError as exc:
        raise error(f"{path}: cannot read {what} ({exc.strerror or exc})") from None
    if len(raw) > max_bytes:
        raise error(f"{path}: {what} is larger than {max_bytes:,} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise error(f"{path}: {what} is not UTF-8 text") from None
    docs = parse_text(text, str(path), error=error)
    if len(docs) > 1:
        raise error(f"{path}: {what} holds {len(docs)} YAML documents, expected one")
    return docs[0] if docs else None


def line_of(exc: Exception) -> str:
    """`` (line N)`` of a JSON or YAML error, counting from 1 (PyYAML's marks count from 0)."""
    if isinstance(exc, json.JSONDecodeError):
        return f" (line {exc.lineno})"
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    return f" (line {mark.line + 1})" if mark is not None else ""


def check_shape(docs: list[Any], where: str, budget: int, error: type[SidecarImpactError]) -> None:
    """Refuse nesting beyond :data:`MAX_DEPTH`, more values than ``budget`` (shared aliases count each
    time they are reached), and mapping keys that are not strings, numbers or booleans."""
    stack: list[tuple[Any, int]] = [(d, 1) for d in docs]
    visited = 0
    while stack:
        value, depth = stack.pop()
        visited += 1
        if depth > MAX_DEPTH:
            raise error(f"{where}: nested deeper than {MAX_DEPTH} levels")
        if visited > budget:
            raise error(f"{where}: expands to more values than its size allows (YAML aliases?)")
        if isinstance(value, dict):
            bad = next((k for k in value if not isinstance(k, str | int | float | bool) and k is not None), None)
            if bad is not None:
                raise error(f"{where}: a mapping key is {type(bad).__name__} {clip(bad, 30)}, expected text")
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)


def check_json_depth(value: Any, where: str, error: type[SidecarImpactError]) -> None:
    """:func:`check_shape` for a value decoded from JSON, where only the nesting can be wrong (keys are
    text, and every value takes at least a character of the text): walks the containers alone, a fifth
    of the cost of visiting every value."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    pop, push = stack.pop, stack.append
    while stack:
        node, depth = pop()
        if depth > MAX_DEPTH or (depth == MAX_DEPTH and node):  # its values, containers or not, lie deeper
            raise error(f"{where}: nested deeper than {MAX_DEPTH} levels")
        for child in node.values() if node.__class__ is dict else node:
            if child.__class__ is dict or child.__class__ is list:
                push((child, depth + 1))
