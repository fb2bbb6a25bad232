"""Cutting a snapshot into partitions: units follow owner and target references, and the plan covers
every namespace, cutting only those larger than the budget, and only between units."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer.snapshot.partitions import Slice, Unit, namespace_units, plan_partitions, split_namespace
from analyzer.snapshot.store import SnapshotFiles


def obj(kind: str, name: str, owner: tuple[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "ns"}
    if owner is not None:
        meta["ownerReferences"] = [{"kind": owner[0], "name": owner[1], "controller": True}]
    return {"metadata": meta, "spec": spec}


def test_units_follow_owners_and_targets() -> None:
    objects = {
        "Deployment": [obj("Deployment", "web"), obj("Deployment", "api")],
        "ReplicaSet": [obj("ReplicaSet", "web-1", ("Deployment", "web")),
                       obj("ReplicaSet", "api-1", ("Deployment", "api"))],
        "Pod": [obj("Pod", "web-1-a", ("ReplicaSet", "web-1")), obj("Pod", "api-1-a", ("ReplicaSet", "api-1")),
                obj("Pod", "bare")],
        "HorizontalPodAutoscaler": [
            obj("HorizontalPodAutoscaler", "web", scaleTargetRef={"kind": "Deployment", "name": "web"}),
            {"metadata": {"name": "keda-hpa-q", "namespace": "ns", "labels": {"scaledobject.keda.sh/name": "q"}},
             "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "worker"}}},
            obj("HorizontalPodAutoscaler", "orphan", scaleTargetRef={"kind": "Deployment", "name": "gone"}),
        ],
        "ScaledObject": [obj("ScaledObject", "q", scaleTargetRef={"name": "worker"})],
        "VerticalPodAutoscaler": [obj("VerticalPodAutoscaler", "api", targetRef={"kind": "Deployment", "name": "api"})],
    }  # fmt: skip
    rows = {"web-1-a": 10, "api-1-a": 7, "bare": 3, "ghost": 2}
    units = namespace_units(objects, rows, [("StatefulSet", "db")])
    by_name = {n: u for u in units for n in u.names}
    web, api = by_name[("Deployment", "web")], by_name[("Deployment", "api")]
    assert web.names == {("Deployment", "web"), ("ReplicaSet", "web-1"), ("Pod", "web-1-a"),
                         ("HorizontalPodAutoscaler", "web")} and web.rows == 10  # fmt: skip
    assert api.names == {("Deployment", "api"), ("ReplicaSet", "api-1"), ("Pod", "api-1-a"),
                         ("VerticalPodAutoscaler", "api")} and api.rows == 7  # fmt: skip
    assert by_name[("ScaledObject", "q")].names == {("ScaledObject", "q"), ("HorizontalPodAutoscaler", "keda-hpa-q"),
                                                   ("Deployment", "worker")}  # fmt: skip
    assert by_name[("Pod", "ghost")].rows == 2 and by_name[("Pod", "bare")].rows == 3
    assert by_name[("StatefulSet", "db")].rows == 0
    assert sum(len(u.names) for u in units) == len(by_name)  # every name in exactly one unit
    assert sum(u.rows for u in units) == sum(rows.values())


UNIT_ROWS = st.lists(st.integers(0, 50), min_size=1, max_size=12)


@given(st.dictionaries(st.sampled_from("abcdefg"), UNIT_ROWS, min_size=1), st.integers(1, 120))
@settings(max_examples=200, deadline=None)
def test_plans_cover_every_unit_once_and_cut_only_large_namespaces(units: dict[str, list[int]], budget: int) -> None:
    made = {ns: [Unit(frozenset({("Pod", f"{ns}-{i}")}), n) for i, n in enumerate(rows)] for ns, rows in units.items()}
    rows = {ns: sum(n) for ns, n in units.items()}
    plan = plan_partitions(rows, budget, lambda ns: split_namespace(made[ns], budget))
    assert len(plan) <= max(1, -(-sum(rows.values()) // budget))
    pods: dict[str, list[str]] = {ns: [] for ns in rows}
    for partition in plan:
        assert partition
        load, largest = 0, 0
        for ns, piece in partition.items():
            if piece is None:
                assert rows[ns] <= budget  # whole: it fits
                pods[ns].extend(n for u in made[ns] for _, n in u.names)
                load, largest = load + rows[ns], max(largest, rows[ns])
            else:
                assert rows[ns] > budget and isinstance(piece, Slice)
                assert piece.pods == {n for k, n in piece.names if k == "Pod"}
                pods[ns].extend(piece.pods)
                inside = [u.rows for u in made[ns] if u.names <= piece.names]
                load, largest = load + sum(inside), max(largest, *inside)
        # Each item goes to the lightest partition, at most the average: no partition passes the budget by
        # more than one item, and a slice passes it by at most one unit.
        assert load <= 2 * budget + largest
    for ns, got in pods.items():
        assert sorted(got) == sorted(n for u in made[ns] for _, n in u.names), ns  # each unit exactly once


def test_pod_rows_count_every_row_group(small_dir: Path, tmp_path: Path) -> None:
    """A namespace's samples per pod, from the pod column alone, across row groups with dictionaries of
    their own."""
    copy = tmp_path / "snap"
    shutil.copytree(small_dir, copy)
    file = copy / "usage" / "namespace=shop" / "part-0.parquet"
    table = pq.read_table(file)
    pq.write_table(table, file, row_group_size=len(table) // 7 + 1)
    assert pq.ParquetFile(file).metadata.num_row_groups == 7
    expected = table["pod"].to_pandas().value_counts().to_dict()
    assert SnapshotFiles(copy).pod_rows("shop") == expected and len(expected) > 5
