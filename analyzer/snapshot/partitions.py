"""How a large snapshot is cut into partitions that are analysed one at a time.

A partition is a set of namespaces, but a namespace larger than the budget is cut further, between its
units: a unit is what the analysis of one workload reads, the workload's objects, its pods, the HPAs,
ScaledObjects and VPAs that target it and its replica series, linked by owner references and target
references. No unit is ever cut, so each partition's rows are those of the whole analysis
(:mod:`analyzer.findings.merge` orders them the same way).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

Name = tuple[str, str]
"""An object's (kind, name) within its namespace."""

KEDA_LABEL = "scaledobject.keda.sh/name"
"""The label KEDA puts on the HPA it generates, naming its ScaledObject."""

_TARGET_FIELDS = {
    "HorizontalPodAutoscaler": "scaleTargetRef",
    "ScaledObject": "scaleTargetRef",
    "VerticalPodAutoscaler": "targetRef",
}


@dataclass(frozen=True)
class Slice:
    """Some units of one namespace: their pods (usage and status rows) and their objects and replica
    series, by (kind, name), pods included as ``("Pod", name)``."""

    pods: frozenset[str]
    names: frozenset[Name]

    def __or__(self, other: Slice) -> Slice:
        return Slice(self.pods | other.pods, self.names | other.names)


@dataclass(frozen=True)
class Unit:
    """A set of names that the analysis reads together, and its usage samples."""

    names: frozenset[Name]
    rows: int


T = TypeVar("T")
Partition = dict[str, Slice | None]
"""Namespaces to analyse together, each whole (None) or a slice of it."""


def namespace_units(
    objects: Mapping[str, Iterable[dict[str, Any]]],
    pod_rows: Mapping[str, int],
    other: Iterable[Name] = (),
) -> list[Unit]:
    """The units of one namespace, from its objects (by kind), its pods' usage samples (pods with
    samples but no object are units of their own) and ``other`` names its rows refer to (replica
    series, pod status), in a stable order (by their least name)."""
    parent: dict[Name, Name] = {}

    def find(name: Name) -> Name:
        parent.setdefault(name, name)
        root = name
        while parent[root] != root:
            root = parent[root]
        while parent[name] != root:
            parent[name], name = root, parent[name]
        return root

    def join(a: Name, b: Name) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)

    for kind, items in objects.items():
        for obj in items:
            meta = obj["metadata"]
            name = (kind, meta["name"])
            find(name)
            for ref in meta.get("ownerReferences") or []:
                if ref.get("kind") and ref.get("name"):
                    join(name, (ref["kind"], ref["name"]))
            target = (obj.get("spec") or {}).get(_TARGET_FIELDS.get(kind, ""))
            if isinstance(target, dict) and target.get("name"):
                join(name, (target.get("kind") or "Deployment", target["name"]))
            scaled_object = (meta.get("labels") or {}).get(KEDA_LABEL)
            if kind == "HorizontalPodAutoscaler" and scaled_object:
                join(name, ("ScaledObject", scaled_object))
    for pod in pod_rows:
        find(("Pod", pod))
    for name in other:
        find(name)
    members: dict[Name, set[Name]] = {}
    for name in list(parent):
        members.setdefault(find(name), set()).add(name)
    units = [
        Unit(frozenset(names), sum(pod_rows.get(n, 0) for k, n in names if k == "Pod")) for names in members.values()
    ]
    return sorted(units, key=lambda u: min(u.names))


def split_namespace(units: Collection[Unit], budget: int) -> list[tuple[Slice, int]]:
    """``units`` in as few slices as ``budget`` samples each allows, balanced (largest first, each into the
    lightest slice), with their sample counts; a unit larger than the budget is a slice of its own."""
    bins = _packed([(u, u.rows) for u in units], budget)
    out = []
    for members in bins:
        names = frozenset().union(*(u.names for u in members))
        pods = frozenset(n for k, n in names if k == "Pod")
        out.append((Slice(pods, names), sum(u.rows for u in members)))
    return out


def plan_partitions(
    rows: Mapping[str, int], budget: int, split: Callable[[str], list[tuple[Slice, int]]] | None = None
) -> list[Partition]:
    """Namespaces (with their usage samples) in as few partitions as ``budget`` samples each allows,
    balanced; with ``split``, a namespace larger than the budget is cut into the slices ``split`` gives for
    it, each placed on its own (slices of one namespace that land together are joined)."""
    items: list[tuple[tuple[str, Slice | None], int]] = []
    for ns in sorted(rows):
        if split is not None and rows[ns] > budget:
            items.extend(((ns, piece), n) for piece, n in split(ns))
        else:
            items.append(((ns, None), rows[ns]))
    out = []
    for members in _packed(items, budget):
        partition: Partition = {}
        for ns, piece in members:  # a namespace is whole, or all its items are slices
            known = partition.get(ns)
            partition[ns] = piece if known is None or piece is None else known | piece
        out.append(partition)
    return out


def _packed(items: list[tuple[T, int]], budget: int) -> list[list[T]]:
    """``items`` (each with its weight, in a stable order) in ``ceil(total / budget)`` bins, largest first,
    each into the lightest bin; empty bins dropped, each bin's items in their given order."""
    count = max(1, -(-sum(w for _, w in items) // max(budget, 1)))
    bins: list[list[int]] = [[] for _ in range(count)]
    load = [0] * count
    for i in sorted(range(len(items)), key=lambda i: (-items[i][1], i)):
        lightest = min(range(count), key=lambda b: (load[b], b))
        bins[lightest].append(i)
        load[lightest] += items[i][1]
    return [[items[i][0] for i in sorted(b)] for b in bins if b]
