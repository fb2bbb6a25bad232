"""Snapshot round trip and every validation error: one line naming the file and the problem."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer.errors import SnapshotError
from analyzer.snapshot.store import load_snapshot
from analyzer.snapshot.tables import read_pod_status
from analyzer.snapshot.writing import write_snapshot
from analyzer.synth.generate import Synthetic


def copy(src: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "snap"
    shutil.copytree(src, dst)
    return dst


def first_part(root: Path) -> Path:
    return sorted((root / "usage").glob("namespace=*/part-0.parquet"))[0]


def test_round_trip_preserves_everything(small: Synthetic, tmp_path: Path) -> None:
    path = write_snapshot(small.snapshot, tmp_path / "rt")
    loaded = load_snapshot(path)
    expected = small.snapshot.usage.reset_index(drop=True)
    pd.testing.assert_frame_equal(loaded.usage, expected, check_dtype=False)
    assert loaded.objects["Pod"] == small.snapshot.objects["Pod"]
    assert loaded.objects["HorizontalPodAutoscaler"] == small.snapshot.objects["HorizontalPodAutoscaler"]
    assert loaded.replicas["replicas"].sum() == small.snapshot.replicas["replicas"].sum()
    assert loaded.metadata == small.snapshot.metadata
    pd.testing.assert_frame_equal(loaded.pod_status, small.snapshot.pod_status.reset_index(drop=True),
                                  check_categorical=False)  # fmt: skip


def test_one_namespace_reads_only_its_partition(small_dir: Path) -> None:
    snap = load_snapshot(small_dir, namespaces=["payments"])
    assert set(snap.usage["namespace"]) == {"payments"}
    assert {p["metadata"]["namespace"] for p in snap.items("Pod")} == {"payments"}


def test_write_refuses_to_clobber(small: Synthetic, small_dir: Path) -> None:
    with pytest.raises(SnapshotError, match="already exists"):
        write_snapshot(small.snapshot, small_dir)


def rewrite_part(root: Path, change) -> Path:  # type: ignore[no-untyped-def]
    """Change the busiest namespace's partition (shop: its CPU in millicores is far above any real core count)."""
    part = root / "usage" / "namespace=shop" / "part-0.parquet"
    frame = pq.read_table(part).to_pandas()
    frame = change(frame)
    frame.to_parquet(part, index=False)
    return part


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.drop(columns="memory_bytes"), "column 'memory_bytes' is missing"),
        (lambda f: f.rename(columns={"cpu_cores": "cpu_millicores"}), r"expected cpu_cores \(cores, not millicores\)"),
        (lambda f: f.assign(cpu_cores=f.cpu_cores * 1000), "look like millicores, expected cores"),
        (lambda f: f.assign(memory_bytes=f.memory_bytes / 2**20), "look like MiB or KiB, expected bytes"),
        (
            lambda f: f.assign(cpu_cores=f.cpu_cores.where(f.index != 3, -0.5)),
            "1 negative or non-finite values, e.g. -0.5 for",
        ),
        (
            lambda f: f.assign(memory_bytes=f.memory_bytes.where(f.index != 3, float("nan"))),
            "non-finite values, e.g. nan",
        ),
        (lambda f: f.assign(pod=f.pod.where(f.index != 3, None)), "column 'pod' has 1 empty values"),
        (lambda f: f.assign(container=f.container.where(f.index % 2 == 0, None)), "column 'container' has \\d+ empty"),
        (
            lambda f: f.assign(timestamp=f.timestamp.where(f.index != 3, pd.NaT)),
            "column 'timestamp' has 1 empty values",
        ),
        (lambda f: f.assign(pod=pd.Categorical(f.index % 5)), r"column 'pod' has type (dictionary<values=)?int64"),
        (
            lambda f: f.assign(cpu_cores=f.cpu_cores.astype(str)),
            r"column 'cpu_cores' has type (large_)?string, expected double",
        ),
        (lambda f: pd.concat([f, f.iloc[:2]]), "2 duplicate samples"),
    ],
)
def test_usage_errors_name_file_and_problem(small_dir: Path, tmp_path: Path, change, message: str) -> None:  # type: ignore[no-untyped-def]
    root = copy(small_dir, tmp_path)
    part = rewrite_part(root, change)
    with pytest.raises(SnapshotError, match=message) as err:
        load_snapshot(root)
    text = str(err.value)
    assert "\n" not in text
    assert str(part) in text or str(root / "usage") in text


def test_unknown_schema_version(small_dir: Path, tmp_path: Path) -> None:
    root = copy(small_dir, tmp_path)
    meta = json.loads((root / "metadata.json").read_text())
    meta["schema_version"] = 99
    (root / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(SnapshotError, match=r"metadata.json: unknown schema_version 99 \(this version reads 1\)"):
        load_snapshot(root)


def test_malformed_object_names_the_field(small_dir: Path, tmp_path: Path) -> None:
    root = copy(small_dir, tmp_path)
    pods_file = root / "objects" / "pods.json"
    doc = json.loads(pods_file.read_text())
    doc["items"][2]["spec"]["containers"][0]["resources"]["requests"]["cpu"] = "lots"
    pods_file.write_text(json.dumps(doc))
    name = doc["items"][2]["metadata"]["name"]
    with pytest.raises(
        SnapshotError, match=rf"items\[2\]: Pod \w+/{name}: spec.containers\[0\].resources.requests.cpu"
    ):
        load_snapshot(root)


def test_invalid_json_file(small_dir: Path, tmp_path: Path) -> None:
    root = copy(small_dir, tmp_path)
    (root / "objects" / "hpas.json").write_text('{"items": [')
    with pytest.raises(SnapshotError, match=r"hpas.json: not valid JSON"):
        load_snapshot(root)


def test_usage_for_pod_without_object(small_dir: Path, tmp_path: Path) -> None:
    root = copy(small_dir, tmp_path)
    rewrite_part(root, lambda f: f.assign(pod=f.pod.where(f.index != 0, "ghost-pod")))
    with pytest.raises(SnapshotError, match=r"usage samples for pod \w+/ghost-pod, which has no Pod object"):
        load_snapshot(root)


def test_missing_metadata_and_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(SnapshotError, match="not a snapshot directory"):
        load_snapshot(tmp_path / "nope")
    with pytest.raises(SnapshotError, match=r"metadata\.json: missing"):
        load_snapshot(tmp_path)


def test_hand_built_snapshot_from_kubectl_list_and_csv(small: Synthetic, tmp_path: Path) -> None:
    """The docs/snapshot.md recipe: one `kubectl get ... -o json` List and a usage CSV."""
    root = tmp_path / "hand"
    (root / "objects").mkdir(parents=True)
    items = [
        o
        for kind in ("Pod", "ReplicaSet", "Deployment", "HorizontalPodAutoscaler")
        for o in small.snapshot.objects[kind]
        if o["metadata"]["namespace"] == "shop"
    ]
    (root / "objects" / "cluster.json").write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
    usage = small.snapshot.usage[small.snapshot.usage.namespace == "shop"].head(500)
    usage.assign(timestamp=usage.timestamp.dt.strftime("%Y-%m-%dT%H:%M:%SZ")).to_csv(root / "usage.csv", index=False)
    (root / "metadata.json").write_text(
        json.dumps(
            {
                "schema_version": 1,
                "source": "manual",
                "cluster": "prod",
                "start": "2026-11-02T00:00:00Z",
                "end": "2026-11-02T08:00:00Z",
                "step_s": 60,
            }
        )
    )
    snap = load_snapshot(root)
    assert len(snap.usage) == 500
    assert snap.usage["cpu_cores"].sum() == pytest.approx(usage["cpu_cores"].sum())
    assert len(snap.items("HorizontalPodAutoscaler")) == sum(
        h["metadata"]["namespace"] == "shop" for h in small.snapshot.items("HorizontalPodAutoscaler")
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.assign(phase="Sleeping"), "column 'phase' holds 'Sleeping', expected one of Pending, Running"),
        (lambda f: pd.concat([f, f.iloc[:1]]), "two rows for the same (namespace, pod, timestamp)"),
        (lambda f: f.assign(ready=f["ready"].astype(str)), "column 'ready' has type large_string, expected bool"),
        (lambda f: f.drop(columns="phase"), "column 'phase' is missing"),
    ],
)
def test_pod_status_errors_name_file_and_problem(small_dir: Path, tmp_path: Path, change, message: str) -> None:  # type: ignore[no-untyped-def]
    root = copy(small_dir, tmp_path)
    path = root / "pod_status.parquet"
    frame = pd.read_parquet(path)
    change(frame).to_parquet(path)
    with pytest.raises(SnapshotError) as info:
        load_snapshot(root)
    assert str(info.value).startswith(f"{path}: ") and message in str(info.value)


@given(
    namespaces=st.lists(st.sampled_from(["a", "b", "bb", "c", "z-1"]), min_size=1, max_size=40),
    group_rows=st.integers(1, 12),
    wanted=st.sets(st.sampled_from(["a", "b", "bb", "c", "z-1", "q"])),
    in_order=st.booleans(),
)
@settings(max_examples=60, deadline=None)
def test_a_namespace_read_skips_row_groups_and_keeps_exactly_its_rows(
    tmp_path_factory: pytest.TempPathFactory, namespaces: list[str], group_rows: int, wanted: set[str], in_order: bool
) -> None:
    """pod_status read for some namespaces: row groups are chosen by their statistics, and rows filtered
    where a group holds several namespaces; the rows are exactly those of the wanted namespaces."""
    names = sorted(namespaces) if in_order else namespaces
    frame = pd.DataFrame({
        "timestamp": pd.date_range("2026-01-01", periods=len(names), freq="min", tz="UTC"),
        "namespace": names, "pod": [f"p{i}" for i in range(len(names))], "phase": "Running", "ready": True,
    })  # fmt: skip
    root = tmp_path_factory.mktemp("status")
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), root / "pod_status.parquet",
                   row_group_size=group_rows)  # fmt: skip
    got = read_pod_status(root, wanted)
    expected = frame[frame["namespace"].isin(wanted)]
    assert sorted(zip(got["namespace"].astype(str), got["pod"].astype(str), strict=True)) == sorted(
        zip(expected["namespace"], expected["pod"], strict=True)
    )


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[: len(data) // 2],  # truncated
        lambda data: b"",  # empty
        lambda data: bytes(range(256)) * 64,  # random bytes
        lambda data: b"PAR1" + b"\x00" * 100 + b"PAR1",  # garbage between the magic numbers
    ],
    ids=["truncated", "empty", "random-bytes", "garbage-after-magic"],
)
def test_a_corrupt_usage_file_is_named_by_itself(small_dir: Path, tmp_path: Path, damage) -> None:  # type: ignore[no-untyped-def]
    root = copy(small_dir, tmp_path)
    part = root / "usage" / "namespace=shop" / "part-0.parquet"
    part.write_bytes(damage(part.read_bytes()))
    with pytest.raises(SnapshotError) as caught:
        load_snapshot(root)
    message = str(caught.value)
    assert message.startswith(f"{part}: not a readable Parquet file") and "\n" not in message
