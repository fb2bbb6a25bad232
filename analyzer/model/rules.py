"""User classification rules: a YAML file that forces containers to app or sidecar, ahead of the built-ins.

Format (first matching rule wins; every ``match`` field is a shell-style glob, all given must match)::

    rules:
      - match: {namespace: "shop", workload: "gateway*", container: "authz"}
        role: sidecar
        kind: generic          # sidecars only; one of analyzer.model.signals.SIDECAR_KINDS
      - match: {image: "*/acme/log-forwarder:*"}
        role: sidecar
        kind: log-shipper
      - match: {container: "router"}
        role: app
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from analyzer.documents import read_document
from analyzer.errors import ManifestError, clip
from analyzer.model.signals import SIDECAR_KINDS

MATCH_FIELDS = ("namespace", "workload", "container", "image")
ROLES = ("app", "sidecar")


@dataclass(frozen=True)
class Rule:
    """One rule: globs per :data:`MATCH_FIELDS` (None: any), the role it forces, the sidecar kind."""

    match: dict[str, str]
    role: str
    kind: str
    source: str

    def matches(self, namespace: str, workload: str, container: str, image: str) -> bool:
        values = {"namespace": namespace, "workload": workload, "container": container, "image": image}
        return all(fnmatchcase(values[k], pattern) for k, pattern in self.match.items())


def load_rules(path: str | os.PathLike[str]) -> tuple[Rule, ...]:
    """Read and check a rule file; a malformed one raises :class:`ManifestError` naming the field."""
    path = Path(path)
    return parse_rules(read_document(path, "rule file", ManifestError), str(path))


def parse_rules(doc: Any, source: str) -> tuple[Rule, ...]:
    """Check a parsed rule document (see the module docstring)."""
    if not isinstance(doc, dict) or set(doc) != {"rules"} or not isinstance(doc["rules"], list):
        raise ManifestError(f"{source}: expected a mapping with one key, 'rules', holding a list")
    rules = []
    for i, raw in enumerate(doc["rules"]):
        at = f"{source}: rules[{i}]"
        if not isinstance(raw, dict):
            raise ManifestError(f"{at}: expected a mapping with match, role and kind")
        unknown = set(raw) - {"match", "role", "kind"}
        if unknown:
            raise ManifestError(f"{at}: unknown key {clip(sorted(map(str, unknown))[0])} (allowed: match, role, kind)")
        match = raw.get("match")
        if not isinstance(match, dict) or not match:
            raise ManifestError(f"{at}.match: expected a non-empty mapping of {', '.join(MATCH_FIELDS)}")
        for key, value in match.items():
            if key not in MATCH_FIELDS:
                raise ManifestError(f"{at}.match: unknown field {clip(key)} (allowed: {', '.join(MATCH_FIELDS)})")
            if not isinstance(value, str) or not value:
                raise ManifestError(f"{at}.match.{key}: expected a non-empty string pattern")
        role = raw.get("role")
        if role not in ROLES:
            raise ManifestError(f"{at}.role: expected app or sidecar, got {clip(role)}")
        kind = raw.get("kind", "generic" if role == "sidecar" else "")
        if role == "app" and kind:
            raise ManifestError(f"{at}.kind: only sidecar rules take a kind")
        if role == "sidecar" and kind not in SIDECAR_KINDS:
            raise ManifestError(f"{at}.kind: {clip(kind)} is not one of {', '.join(SIDECAR_KINDS)}")
        rules.append(Rule(match=dict(match), role=role, kind=kind, source=f"{at}"))
    return tuple(rules)
