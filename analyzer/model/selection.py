"""Narrow a snapshot to the pods a Kubernetes label selector matches (``report -l``).

The selector syntax is the API server's: comma-separated requirements, each ``key=value``,
``key==value``, ``key!=value``, ``key in (a,b)``, ``key notin (a,b)``, ``key`` (exists) or ``!key``
(does not exist); all must hold. Workloads, HPAs and VPAs are kept only where they own or target a
matched pod, so the report covers just the selected workloads.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import replace

import numpy as np
import pandas as pd

from analyzer.errors import SidecarImpactError, clip
from analyzer.model.workloads import pod_owners
from analyzer.snapshot.schema import Snapshot

Requirement = Callable[[Mapping[str, str]], bool]

_KEY = r"(?:[a-z0-9A-Z.\-]+/)?[a-z0-9A-Z]([a-z0-9A-Z_.\-]*[a-z0-9A-Z])?"
_VALUE = r"([a-z0-9A-Z]([a-z0-9A-Z_.\-]*[a-z0-9A-Z])?)?"
_SET = re.compile(rf"^\s*({_KEY})\s+(in|notin)\s+\(([^()]*)\)\s*$")
_EQ = re.compile(rf"^\s*({_KEY})\s*(==|!=|=)\s*({_VALUE})\s*$")
_EXISTS = re.compile(rf"^\s*(!?)\s*({_KEY})\s*$")


def parse_selector(text: str) -> list[Requirement]:
    """The requirements of ``text``; a malformed one raises with the part that is wrong."""
    out: list[Requirement] = []
    for part in _split(text):
        if m := _SET.match(part):
            key, op = m.group(1), m.group(3)
            values = frozenset(v.strip() for v in m.group(4).split(","))
            if any(not re.fullmatch(_VALUE, v) for v in values):
                raise SidecarImpactError(
                    f"--selector: {clip(part.strip())}: a value in the set is not a valid label value"
                )
            out.append(_in(key, values) if op == "in" else _notin(key, values))
        elif m := _EQ.match(part):
            key, op, value = m.group(1), m.group(3), m.group(4)
            out.append(_not_equal(key, value) if op == "!=" else _equal(key, value))
        elif m := _EXISTS.match(part):
            out.append(_absent(m.group(2)) if m.group(1) else _present(m.group(2)))
        else:
            raise SidecarImpactError(
                f"--selector: {clip(part.strip())} is not a label requirement (key=value, key!=value, key in (a,b), "
                "key notin (a,b), key, !key)"
            )
    return out


def _split(text: str) -> list[str]:
    """Split on the commas between requirements, not those inside ``( )``."""
    parts, depth, current = [], 0, ""
    for ch in text:
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
            continue
        depth += {"(": 1, ")": -1}.get(ch, 0)
        current += ch
    parts.append(current)
    if not text.strip() or any(not p.strip() for p in parts):
        raise SidecarImpactError(f"--selector: {clip(text)} has an empty requirement")
    return parts


def _equal(key: str, value: str) -> Requirement:
    return lambda labels: labels.get(key) == value


def _not_equal(key: str, value: str) -> Requirement:
    return lambda labels: labels.get(key) != value


def _in(key: str, values: frozenset[str]) -> Requirement:
    return lambda labels: labels.get(key) in values


def _notin(key: str, values: frozenset[str]) -> Requirement:
    return lambda labels: labels.get(key) not in values


def _present(key: str) -> Requirement:
    return lambda labels: key in labels


def _absent(key: str) -> Requirement:
    return lambda labels: key not in labels


def matches(labels: Mapping[str, str] | None, requirements: list[Requirement]) -> bool:
    """Whether every requirement holds for ``labels``."""
    return all(req(labels or {}) for req in requirements)


def select_pods(snapshot: Snapshot, selector: str) -> Snapshot:
    """The snapshot with only the pods ``selector`` matches, their usage, and the workloads, HPAs, VPAs
    and replica series of their owners."""
    requirements = parse_selector(selector)
    chosen = [matches(p.labels, requirements) for p in snapshot.pods]
    pods = [raw for raw, keep in zip(snapshot.items("Pod"), chosen, strict=True) if keep]
    kept = {p.key for p, keep in zip(snapshot.pods, chosen, strict=True) if keep}
    objects = dict(snapshot.objects, Pod=pods)
    owners = pod_owners(replace(snapshot, objects=objects))
    targets = {(r.namespace, r.workload_kind, r.workload) for r in owners.itertuples(index=False)}

    for kind, typed in (("HorizontalPodAutoscaler", snapshot.hpas), ("VerticalPodAutoscaler", snapshot.vpas)):
        objects[kind] = [raw for raw, t in zip(snapshot.items(kind), typed, strict=True)
                         if (t.namespace, t.target_kind, t.target_name) in targets]  # fmt: skip
    usage = snapshot.usage[_rows_of(snapshot.usage, ["namespace", "pod"], kept)].reset_index(drop=True)
    reps = snapshot.replicas
    reps = reps[_rows_of(reps, ["namespace", "kind", "name"], targets)].reset_index(drop=True)
    return replace(snapshot, usage=usage, replicas=reps, objects=objects)


def _rows_of(frame: pd.DataFrame, columns: list[str], wanted: set[tuple[str, ...]]) -> np.ndarray:
    """Rows whose ``columns`` form a tuple in ``wanted``, through the categorical codes (no string hashing
    per row: usage has millions)."""
    if frame.empty or not wanted:
        return np.zeros(len(frame), dtype=bool)
    cats = [
        frame[c] if isinstance(frame[c].dtype, pd.CategoricalDtype) else frame[c].astype("category") for c in columns
    ]
    cell = np.zeros(len(frame), dtype=np.int64)
    wanted_cell = np.zeros(len(wanted), dtype=np.int64)
    known = np.ones(len(wanted), dtype=bool)
    for col, values in zip(cats, zip(*wanted, strict=True), strict=True):
        size = len(col.cat.categories)
        code = col.cat.categories.get_indexer(list(values))
        known &= code >= 0
        cell = cell * size + col.cat.codes.to_numpy()
        wanted_cell = wanted_cell * size + code
    return np.isin(cell, wanted_cell[known])
