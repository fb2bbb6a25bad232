"""The object lists a collection writes item by item: the same bytes as the whole list written at once,
whatever was taken back on the way (a list read again after the API's 410 Gone)."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer.snapshot.objects import read_object_files
from analyzer.snapshot.writing import ObjectFiles, write_json


def pod(n: int) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"p{n}", "namespace": "ns"},
            "spec": {"containers": [{"name": "app", "resources": {"requests": {"cpu": f"{n + 1}m"}}}]}}  # fmt: skip


# A step: add n pods, take a mark, or rewind to one of the marks taken (by index).
STEPS = st.lists(
    st.one_of(st.tuples(st.just("add"), st.integers(0, 3)), st.just(("mark", 0)), st.tuples(st.just("rewind"),
                                                                                       st.integers(0, 5))),
    max_size=25,
)  # fmt: skip


@settings(max_examples=30, deadline=None)
@given(STEPS)
def test_adds_and_rewinds_write_what_is_left(tmp_path_factory, steps: list[tuple[str, int]]) -> None:
    root = tmp_path_factory.mktemp("objects")
    kept: list[dict] = []
    marks: list[tuple[tuple[int, int], int]] = []
    made = 0
    with ObjectFiles(root / "objects") as files:
        for step, n in steps:
            if step == "add":
                items = [pod(made + i) for i in range(n)]
                made += n
                files.add("Pod", items)
                kept.extend(items)
            elif step == "mark":
                marks.append((files.mark("Pod"), len(kept)))
            elif marks:
                mark, count = marks[n % len(marks)]
                if count <= len(kept):  # a mark taken before what is kept now ended
                    files.rewind("Pod", mark)
                    del kept[count:]
                    marks = [m for m in marks if m[1] <= count]
    expected = root / "expected.json"
    write_json(expected, {"apiVersion": "v1", "kind": "List", "items": kept})
    assert (root / "objects" / "pods.json").read_bytes() == expected.read_bytes()
    objects, _ = read_object_files(root / "objects")
    assert [p["metadata"]["name"] for p in objects["Pod"]] == [p["metadata"]["name"] for p in kept]


def test_a_kind_taken_back_whole_leaves_no_file_but_the_pods_and_hpas_lists(tmp_path: Path) -> None:
    with ObjectFiles(tmp_path / "objects") as files:
        mark = files.mark("VerticalPodAutoscaler")
        files.add("VerticalPodAutoscaler", [{"kind": "VerticalPodAutoscaler", "metadata": {"name": "v"}}])
        files.rewind("VerticalPodAutoscaler", mark)
    assert sorted(p.name for p in (tmp_path / "objects").iterdir()) == ["hpas.json", "pods.json"]
    assert json.loads((tmp_path / "objects" / "pods.json").read_text())["items"] == []
