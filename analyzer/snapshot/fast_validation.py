"""A compiled fast path for the object schemas, trusted only to accept.

``jsonschema`` interprets a schema at every object, which is most of the time it takes to read a large
cluster's objects. ``fastjsonschema`` compiles the same schemas into Python code that checks an object
many times faster (benchmarks/README.md). Its verdicts are used one way only: an object it accepts is valid; any object
it refuses goes to :func:`analyzer.snapshot.validation.first_error`, which decides and words the error.
So the fast path may be stricter than the schema, never more lenient, and the compiled copies are made
stricter where the two libraries differ:

- ``integer``: fastjsonschema takes ``3.0`` for an integer; its generated check is narrowed to ``int``
  (as the API server's JSON decoding, and :mod:`~analyzer.snapshot.validation`, require).
- ``format``: fastjsonschema checks formats on strings only, so a node with a format accepts only
  strings here (a numeric quantity is left to the full check).
- custom formats that raise are a refusal.

When the installed fastjsonschema generates code these changes do not recognise, :func:`accepts` says
no to everything, and every object gets the full check: slower, never wrong.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

import fastjsonschema

from analyzer.snapshot.validation import FORMATS, VALIDATORS

_FLOAT_AS_INTEGER = re.compile(r" and not \(isinstance\((\w+), float\) and \1\.is_integer\(\)\)")


def _format(name: str) -> Callable[[Any], bool]:
    """The format's check as a verdict, remembered for the last few thousand values (a cluster's pods
    repeat a handful of quantities and times thousands of times)."""
    check = FORMATS.checkers[name][0]

    @functools.lru_cache(maxsize=4096)
    def remembered(value: str | None) -> bool:
        try:
            return bool(check(value))
        except Exception:  # any refusal means: let the full check decide and word it
            return False

    def accepted(value: Any) -> bool:
        return remembered(value) if value is None or value.__class__ is str else False

    return accepted


_FORMATS = {name: _format(name) for name in FORMATS.checkers}


def _strings_only(schema: Any) -> Any:
    """A copy of ``schema`` with every node that has a ``format`` narrowed to strings (and null, where the node allows
    it and the format accepts it, as a condition's ``lastTransitionTime`` does)."""
    if isinstance(schema, list):
        return [_strings_only(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _strings_only(v) for k, v in schema.items()}
    if "format" in out:
        types = out.get("type", [])
        nullable = "null" in ([types] if isinstance(types, str) else types) and _FORMATS[out["format"]](None)
        out["type"] = ["string", "null"] if nullable else "string"
    return out


def _compile(schema: dict[str, Any]) -> Callable[[Any], Any]:
    code = fastjsonschema.compile_to_code(_strings_only(schema), formats=_FORMATS, use_default=False)
    namespace: dict[str, Any] = {}
    exec(_FLOAT_AS_INTEGER.sub("", code), namespace)  # code generated from our own schemas
    validate = namespace["validate"]
    return lambda document: validate(document, custom_formats=_FORMATS)


def _sound(validate: Callable[[Any], Any]) -> bool:
    """Whether a validator compiled this way refuses what the fast path must never accept."""
    probes = [3.0, True, "3"]
    for probe in probes:
        try:
            validate(probe)
        except fastjsonschema.JsonSchemaException:
            continue
        return False
    return True


@functools.cache
def _validators() -> dict[str, Callable[[Any], Any]]:
    """The compiled validators, made on first use (compiling costs 0.15 s, which a run that reads no object
    need not pay)."""
    try:
        if not _sound(_compile({"type": "integer", "minimum": 0})):
            return {}
        return {kind: _compile(validator.schema) for kind, validator in VALIDATORS.items()}
    except Exception:  # an unknown fastjsonschema: no fast path, the full check for all
        return {}


def accepts(kind: str, item: Any) -> bool:
    """True when ``item`` is certainly a valid ``kind`` object; False means: ask the full check."""
    validate = _validators().get(kind)
    if validate is None:
        return False
    try:
        validate(item)
    except Exception:  # a refusal, or e.g. a comparison the generated code did not expect
        return False
    return True
