"""A collection's objects, written to the snapshot's files as they are listed (or read from ``--objects``)
and kept in memory only as what assembling the snapshot needs of them: names, and of each pod its
controller and its requests. A large cluster's objects never sit in memory at once."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

from analyzer.collect.reconcile import compact_table
from analyzer.snapshot.kube import controller_of, parse_owners
from analyzer.snapshot.writing import ObjectFiles

Owner = tuple[str, str, str]
"""``(namespace, kind, name)`` of a pod's controller."""


class WrittenObjects:
    """An :class:`~analyzer.collect.kube_api.ObjectSink` into :class:`ObjectFiles`: ``add(kind, [])`` records
    that ``kind`` was listed; objects of namespaces ``wanted`` refuses are not written. ``owners``,
    ``resources``: keep each pod's controller (for ``-l``), its requests and limits (to compare them with
    kube-state-metrics')."""

    def __init__(
        self, files: ObjectFiles, wanted: Callable[[str], bool] | None = None, owners: bool = False,
        resources: bool = False,
    ) -> None:  # fmt: skip
        self.files = files
        self.wanted = wanted
        self.keep_owners, self.keep_resources = owners, resources
        self.listed: set[str] = set()
        self.names: dict[str, list[tuple[str, str]]] = defaultdict(list)
        """Each kind's ``(namespace, name)``, in the order written."""
        self.pod_owners: list[Owner | None] = []
        """Each pod's controller, in the order of ``names["Pod"]``."""
        self.pod_resources: list[str] = []
        """Each pod's requests and limits (:func:`~analyzer.collect.reconcile.compact_table`), in the same order."""

    def add(self, kind: str, items: list[dict[str, Any]]) -> None:
        if not items:
            self.listed.add(kind)
            return
        if self.wanted is not None:
            items = [item for item in items if self.wanted(_name(item)[0])]
        self.files.add(kind, items)
        self.names[kind].extend(_name(item) for item in items)
        if kind == "Pod":
            self.pod_owners.extend(controller(item) if self.keep_owners else None for item in items)
            self.pod_resources.extend(compact_table(item) if self.keep_resources else "[]" for item in items)

    def mark(self, kind: str) -> tuple[tuple[int, int], int]:
        return self.files.mark(kind), len(self.names[kind])

    def rewind(self, kind: str, mark: tuple[tuple[int, int], int]) -> None:
        written, count = mark
        self.files.rewind(kind, written)
        del self.names[kind][count:]
        if kind == "Pod":
            del self.pod_owners[count:], self.pod_resources[count:]


def controller(pod: dict[str, Any]) -> Owner | None:
    """The pod's controller, if it names one."""
    ref = controller_of(parse_owners(pod["metadata"].get("ownerReferences")))
    return None if ref is None else (pod["metadata"]["namespace"], ref.kind, ref.name)


def _name(item: dict[str, Any]) -> tuple[str, str]:
    meta = item.get("metadata") or {}
    return meta.get("namespace") or "", meta.get("name") or ""
