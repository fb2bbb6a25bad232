"""Hostile and broken objects: every field the analysis reads, given a value of the wrong type, size or
range, is refused at load with one line naming the file, the object and the field, or else analysed
without a crash. Never a traceback, never an answer built on a value Kubernetes would refuse."""

from __future__ import annotations

import copy
import dataclasses
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from analyzer.api import analyze, load_snapshot
from analyzer.documents import MAX_DEPTH
from analyzer.errors import SnapshotError
from analyzer.snapshot import schema
from analyzer.snapshot.fast_validation import accepts
from analyzer.snapshot.objects import _items_of, _parsed_items
from analyzer.snapshot.schema import Snapshot
from analyzer.snapshot.validation import SHARED_PARTS, VALIDATORS, field_path, first_error, first_problem
from analyzer.snapshot.writing import write_snapshot
from analyzer.synth.generate import Synthetic, generate
from analyzer.synth.scenarios import CATALOGUE
from tests.limits import in_child


@pytest.fixture(scope="module")
def tiny() -> Synthetic:
    """Every catalogue scenario over one hour: big enough to analyse, small enough to do it often."""
    return generate(workloads=len(CATALOGUE), days=0.05, step_s=60, seed=3)


@pytest.fixture(scope="module")
def tiny_dir(tiny: Synthetic, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_snapshot(tiny.snapshot, tmp_path_factory.mktemp("tiny") / "snap")


READ_PATHS: dict[str, list[str]] = {
    "Pod": [
        "kind", "metadata", "metadata.name", "metadata.namespace", "metadata.labels", "metadata.labels.app",
        "metadata.annotations", "metadata.ownerReferences", "metadata.ownerReferences.0",
        "metadata.ownerReferences.0.kind", "metadata.ownerReferences.0.name", "metadata.ownerReferences.0.controller",
        "metadata.creationTimestamp", "spec", "spec.containers", "spec.containers.0", "spec.containers.0.name",
        "spec.containers.0.image", "spec.containers.0.resources", "spec.containers.0.resources.requests",
        "spec.containers.0.resources.requests.cpu", "spec.containers.0.resources.limits",
        "spec.containers.0.resources.requests.memory", "spec.initContainers", "status", "status.phase",
        "status.startTime", "status.conditions", "status.conditions.0", "status.conditions.0.status",
        "status.conditions.0.lastTransitionTime", "metadata.deletionTimestamp",
    ],
    "Deployment": ["spec", "spec.replicas", "spec.template", "spec.template.spec", "spec.template.spec.containers",
                   "spec.template.metadata.annotations", "metadata.ownerReferences"],
    "ReplicaSet": ["metadata.ownerReferences", "metadata.ownerReferences.0.kind", "spec.template.spec.containers.0"],
    "HorizontalPodAutoscaler": [
        "spec.scaleTargetRef", "spec.scaleTargetRef.kind", "spec.scaleTargetRef.name", "spec.minReplicas",
        "spec.maxReplicas", "spec.metrics", "spec.metrics.0", "spec.metrics.0.type", "spec.metrics.0.resource",
        "spec.metrics.0.resource.name", "spec.metrics.0.resource.target", "spec.metrics.0.resource.target.type",
        "spec.metrics.0.resource.target.averageUtilization", "spec.behavior", "spec.behavior.scaleUp",
        "spec.behavior.scaleDown.stabilizationWindowSeconds", "spec.behavior.scaleUp.policies", "status.conditions",
        "status.conditions.0", "status.conditions.0.type", "status.conditions.0.reason", "metadata.ownerReferences",
        "metadata.labels",
    ],
    "ScaledObject": [
        "spec", "spec.scaleTargetRef", "spec.scaleTargetRef.name", "spec.triggers", "spec.triggers.0",
        "spec.triggers.0.type", "spec.triggers.0.metricType", "spec.triggers.0.metadata",
        "spec.triggers.0.metadata.value", "spec.maxReplicaCount",
    ],
    "VerticalPodAutoscaler": [
        "spec.targetRef", "spec.targetRef.name", "spec.updatePolicy", "spec.updatePolicy.updateMode",
        "spec.resourcePolicy", "spec.resourcePolicy.containerPolicies", "spec.resourcePolicy.containerPolicies.0",
        "spec.resourcePolicy.containerPolicies.0.containerName", "spec.resourcePolicy.containerPolicies.0.minAllowed",
        "spec.resourcePolicy.containerPolicies.0.controlledResources",
    ],
}  # fmt: skip


def nested(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = {"a": value}
    return value


HOSTILE = st.one_of(
    st.sampled_from(
        [
            None,
            True,
            False,
            0,
            -1,
            -(2**63),
            10**30,
            1.5,
            float("inf"),
            "",
            "x" * 100_000,
            [],
            {},
            "-100m",
            "1e999999999",
            "NaN",
            "<script>alert(1)</script>",
            "$\\frac{1}{0}$",
            [None],
            {"": None},
            nested(MAX_DEPTH + 5),
            [[[[[]]]]],
        ]
    ),
    st.integers(),
    st.text(max_size=300),
    st.lists(st.integers() | st.text(max_size=5), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5), max_size=3),
)


def set_path(item: dict[str, Any], path: str, value: Any) -> bool:
    """Put ``value`` at the dotted ``path`` (list indices as numbers); False when the path is not there."""
    *parents, last = path.split(".")
    node: Any = item
    for part in parents:
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return False
    if isinstance(node, list) and last.isdigit() and int(last) < len(node):
        node[int(last)] = value
    elif isinstance(node, dict):
        node[last] = value
    else:
        return False
    return True


def one_line(error: SnapshotError) -> str:
    message = str(error)
    assert "\n" not in message and len(message) < 600, message
    return message


CASES = [(kind, path) for kind, paths in READ_PATHS.items() for path in paths]


@given(case=st.sampled_from(CASES), value=HOSTILE, which=st.integers(0, 50))
@example(case=("Pod", "spec.containers.0.name"), value="0", which=50)  # a sidecar with no usage left to size
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_a_hostile_value_at_a_read_field_is_refused_or_analysed(
    tiny_dir: Path, tmp_path: Path, case: tuple[str, str], value: Any, which: int
) -> None:
    refused_or_analysed(tiny_dir, tmp_path, case, value, which)


def refused_or_analysed(source: Path, tmp_path: Path, case: tuple[str, str], value: Any, which: int) -> None:
    """``value`` at ``case``'s (kind, path) in an object of a copy of the snapshot at ``source``: refused in one
    line naming the file (or the objects folder, when a dropped object leaves usage orphaned), or analysed."""
    kind, path = case
    root = tmp_path / "snap"
    shutil.rmtree(root, ignore_errors=True)
    shutil.copytree(source, root)
    file = root / schema.OBJECTS_DIR / schema.OBJECT_FILE_NAMES[kind]
    doc = json.loads(file.read_text())
    items = doc["items"]
    assert items, kind
    if not set_path(items[which % len(items)], path, copy.deepcopy(value)):
        return
    file.write_text(json.dumps(doc))
    try:
        snapshot = load_snapshot(root)
    except SnapshotError as exc:
        assert str(root) in one_line(exc)
        return
    analyze(snapshot)  # accepted: then it must analyse without raising


@pytest.mark.parametrize(
    ("kind", "path", "value", "expected"),
    [
        ("Pod", "kind", 7, "kind must be a string, got int 7"),
        ("Pod", "spec.containers.0.resources.requests.cpu", "-100m", "negative quantity '-100m'"),
        ("Pod", "spec.containers.0.resources.limits", {"memory": "1e400"}, "limits.memory: quantity out of range"),
        ("Pod", "metadata.labels", ["a"], "metadata.labels: must be an object, got list"),
        ("Pod", "metadata.ownerReferences", {"kind": "x"}, "metadata.ownerReferences: must be a list"),
        ("Pod", "metadata.annotations", {"a": 1}, "metadata.annotations.a: must be a string, got int 1"),
        ("HorizontalPodAutoscaler", "spec.maxReplicas", 10**30, "spec.maxReplicas: 1000000000000000000000000000000 is"),
        ("HorizontalPodAutoscaler", "spec.maxReplicas", 5.0, "spec.maxReplicas: must be an integer"),
        ("HorizontalPodAutoscaler", "spec.minReplicas", 50, "spec.minReplicas (50) is greater than spec.maxReplicas"),
        ("HorizontalPodAutoscaler", "spec.metrics.0.resource.target.averageUtilization", "80",
         "averageUtilization: must be an integer, got str '80'"),
        ("VerticalPodAutoscaler", "spec.resourcePolicy", [], "spec.resourcePolicy: must be an object, got list"),
        ("VerticalPodAutoscaler", "spec.resourcePolicy.containerPolicies", {"a": 1}, "containerPolicies: must be a"),
        ("Deployment", "spec.template.spec.containers", [], "spec.template.spec.containers: must not be empty"),
        ("Pod", "metadata.creationTimestamp", "yesterday", "not an RFC 3339 time with a zone: 'yesterday'"),
        ("Pod", "metadata.annotations", nested(MAX_DEPTH - 2), "nested deeper than 64 levels"),
    ],
)  # fmt: skip
def test_the_message_names_the_object_and_field(
    tiny_dir: Path, tmp_path: Path, kind: str, path: str, value: Any, expected: str
) -> None:
    root = tmp_path / "snap"
    shutil.copytree(tiny_dir, root)
    file = root / schema.OBJECTS_DIR / schema.OBJECT_FILE_NAMES[kind]
    doc = json.loads(file.read_text())
    item = next(i for i in doc["items"] if set_path(i, path, value))
    file.write_text(json.dumps(doc))
    with pytest.raises(SnapshotError) as caught:
        load_snapshot(root)
    message = one_line(caught.value)
    assert message.startswith(f"{file}: items[") and expected in message
    if path != "kind":
        assert f"{kind} {item['metadata']['namespace']}/{item['metadata']['name']}" in message


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("deep.json", "[" * 100_000 + "]" * 100_000, "nested deeper than 64 levels"),
        ("deep.yaml", "a:\n" + "".join(" " * i + "- \n" for i in range(1, 3000)), "nested deeper than 64 levels"),
        ("deep2.yaml", "[" * 5000 + "]" * 5000, "nested deeper than 64 levels"),
        ("bomb.yaml", "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
            f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
            for p, c in zip("abcdefgh", "bcdefghi", strict=True)), "expands to more values than its size allows"),
        ("tab.yaml", "kind: Pod\nmetadata:\n\tname: x\n", "not valid YAML (line 3)"),
        ("binary.yaml", "\x00\x01\x02\xff", "not valid YAML"),
    ],
)  # fmt: skip
def test_pathological_files_are_refused_in_one_line_in_bounded_time_and_memory(
    tiny_dir: Path, tmp_path: Path, name: str, text: str, expected: str
) -> None:
    root = tmp_path / "snap"
    shutil.copytree(tiny_dir, root)
    (root / schema.OBJECTS_DIR / name).write_text(text, encoding="utf-8", errors="surrogateescape")
    result = in_child(lambda: load_snapshot(root) and None, memory_bytes=512 << 20, timeout_s=20)
    assert result.error is not None and result.error["type"] == "SnapshotError", result.error
    message = result.error["message"]
    assert expected in message and "\n" not in message and len(message) < 600


def test_duplicate_objects_are_dropped_with_a_note(tiny_dir: Path, tmp_path: Path) -> None:
    root = tmp_path / "snap"
    shutil.copytree(tiny_dir, root)
    hpas = json.loads((root / schema.OBJECTS_DIR / "hpas.json").read_text())
    changed = copy.deepcopy(hpas["items"][0])
    changed["spec"]["maxReplicas"] = changed["spec"]["maxReplicas"] + 7
    (root / schema.OBJECTS_DIR / "more.json").write_text(json.dumps({"kind": "List", "items": [changed]}))
    snapshot = load_snapshot(root)
    name = f"{changed['metadata']['namespace']}/{changed['metadata']['name']}"
    kept = [
        h for h in snapshot.items("HorizontalPodAutoscaler") if h["metadata"]["name"] == changed["metadata"]["name"]
    ]
    assert len(kept) == 1 and kept[0]["spec"]["maxReplicas"] == hpas["items"][0]["spec"]["maxReplicas"]
    notes = snapshot.metadata.extra[schema.NOTES_KEY]
    assert any(f"HorizontalPodAutoscaler {name} appears twice" in n and "more.json" in n for n in notes)
    findings = analyze(snapshot).findings
    assert any("appears twice" in m for m in findings.loc[findings["kind"] == "collection", "message"])


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"extra": []}, "extra: must be an object, got list"),
        ({"extra": {"collection_notes": "x"}}, "extra.collection_notes: must be a list"),
        ({"extra": {"collection_notes": [1]}}, "extra.collection_notes[0]: must be a string"),
        ({"extra": {"kubernetes_version": "1.x"}}, "extra.kubernetes_version: "),
        ({"extra": {"kubernetes_version": 1.3}}, "extra.kubernetes_version: must be a string"),
        ({"step_s": 0}, "step_s: 0 is out of range (minimum 1)"),
        ({"step_s": "60"}, "step_s: must be a number, got str '60'"),
        ({"step_s": 45}, "not on the step_s 45 grid"),
        ({"cluster": 7}, "cluster: must be a string, got int 7"),
        ({"cluster": "x" * 300}, "cluster: 'xxxx"),
        ({"start": "last tuesday"}, "start: not an RFC 3339 time with a zone: 'last tuesday'"),
        (
            {"start": "2000-01-01T00:00:00Z", "step_s": 1},
            "846,897,061 steps for 72 sample times; the range or step is wrong",
        ),
        ({"schema_version": True}, "unknown schema_version True"),
    ],
)
def test_malformed_metadata_is_refused_in_one_line(
    tiny_dir: Path, tmp_path: Path, change: dict[str, Any], expected: str
) -> None:
    root = tmp_path / "snap"
    shutil.copytree(tiny_dir, root)
    path = root / schema.METADATA_FILE
    path.write_text(json.dumps({**json.loads(path.read_text()), **change}))
    with pytest.raises(SnapshotError) as caught:
        load_snapshot(root)
    message = one_line(caught.value)
    assert message.startswith(f"{path}: ") and expected in message


@given(
    field=st.sampled_from(["schema_version", "source", "cluster", "start", "end", "step_s", "tool_version", "extra"]),
    value=HOSTILE,
)
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_metadata_value_is_refused_or_loaded(tiny_dir: Path, tmp_path: Path, field: str, value: Any) -> None:
    root = tmp_path / "snap"
    shutil.rmtree(root, ignore_errors=True)
    shutil.copytree(tiny_dir, root)
    path = root / schema.METADATA_FILE
    path.write_text(json.dumps({**json.loads(path.read_text()), field: value}))
    try:
        load_snapshot(root)
    except SnapshotError as exc:
        assert str(path) in one_line(exc)


USAGE_VALUES = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.integers(-(2**63), 2**63 - 1),
    st.text(max_size=20),
    st.none(),
)


@given(
    column=st.sampled_from(["timestamp", "pod", "container", "cpu_cores", "memory_bytes", "cpu_millicores", "extra"]),
    values=st.lists(USAGE_VALUES, min_size=1, max_size=5),
    drop=st.booleans(),
)
@example(column="cpu_cores", values=[9_007_199_254_740_993], drop=False)  # an int64 beyond float64's 2**53
@example(column="pod", values=["\n"], drop=False)  # one pod named "\n": its duplicates named on one line
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_usage_frames_of_any_shape_are_refused_or_loaded(
    tiny_dir: Path, tmp_path: Path, column: str, values: list[Any], drop: bool
) -> None:
    """A usage Parquet file with a column dropped, retyped or filled with hostile values: one line or a load."""
    root = tmp_path / "snap"
    shutil.rmtree(root, ignore_errors=True)
    shutil.copytree(tiny_dir, root)
    part = sorted((root / schema.USAGE_DIR).rglob("*.parquet"))[0]
    frame = pd.read_parquet(part)
    if drop and column in frame.columns:
        frame = frame.drop(columns=column)
    else:
        filled = (values * (len(frame) // len(values) + 1))[: len(frame)]
        frame[column] = pd.Series(filled, dtype=object)
    try:
        frame.to_parquet(part)
    except (pa.ArrowException, ValueError, TypeError, OverflowError):
        return  # not even writable as Parquet: nothing to load
    try:
        snapshot = load_snapshot(root)
    except SnapshotError as exc:
        assert str(root) in one_line(exc)
        return
    assert np.isfinite(snapshot.usage[["cpu_cores", "memory_bytes"]].to_numpy()).all()
    assert (snapshot.usage[["cpu_cores", "memory_bytes"]].to_numpy() >= 0).all()


def mangled_table(
    source: Path, tmp_path: Path, name: str, column: str, values: list[Any], drop: bool, rows: int | None
) -> Snapshot | None:
    """A copy of the snapshot at ``source`` whose table ``name`` has ``column`` dropped or filled with
    ``values`` (cut to ``rows`` first): loaded, or None when it was refused in one line naming the file (or
    could not even be written as Parquet)."""
    root = tmp_path / "snap"
    shutil.rmtree(root, ignore_errors=True)
    shutil.copytree(source, root)
    path = root / name
    frame = pd.read_parquet(path)
    frame = frame if rows is None else frame.head(rows)
    if drop and column in frame.columns:
        frame = frame.drop(columns=column)
    elif len(frame):
        filled = (values * (len(frame) // len(values) + 1))[: len(frame)]
        frame[column] = pd.Series(filled, dtype=object, index=frame.index)
    try:
        frame.to_parquet(path)
    except (pa.ArrowException, ValueError, TypeError, OverflowError):
        return None  # not even writable as Parquet: nothing to load
    try:
        return load_snapshot(root)
    except SnapshotError as exc:
        message = one_line(exc)
        assert str(path) in message or str(root) in message
        return None


@given(
    column=st.sampled_from(["timestamp", "namespace", "pod", "phase", "ready", "extra"]),
    values=st.lists(USAGE_VALUES | st.sampled_from(["Pending", "Failed", "Running", True, False]), min_size=1,
                    max_size=5),
    drop=st.booleans(),
    rows=st.sampled_from([0, 1, 7, None]),
)  # fmt: skip
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@example(column="namespace", values=[""], drop=False, rows=1)  # no cell to put the usage in: crashed once
def test_pod_status_of_any_shape_is_refused_or_loaded_and_analysed(
    tiny_dir: Path, tmp_path: Path, column: str, values: list[Any], drop: bool, rows: int | None
) -> None:
    """pod_status.parquet with a column dropped, retyped or filled with hostile values, or cut to a few
    rows: one line naming the file, or a load the analysis gets through."""
    snapshot = mangled_table(tiny_dir, tmp_path, schema.POD_STATUS_FILE, column, values, drop, rows)
    if snapshot is None:
        return
    assert set(snapshot.pod_status["phase"].astype(str)) <= set(schema.POD_PHASES)
    assert snapshot.pod_status["ready"].dtype == bool
    analyze(snapshot)


@pytest.fixture(scope="module")
def failing_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The failure scenarios over two hours: a container_status file with restarts and OOM kills."""
    synthetic = generate(workloads=4, days=0.1, step_s=60, catalogue="failures")
    assert (synthetic.snapshot.container_status["restarts"] > 0).any()
    return write_snapshot(synthetic.snapshot, tmp_path_factory.mktemp("failing") / "snap")


def test_container_status_is_written_and_read_back_as_it_was(failing_dir: Path) -> None:
    synthetic = generate(workloads=4, days=0.1, step_s=60, catalogue="failures")
    loaded = load_snapshot(failing_dir)
    pd.testing.assert_frame_equal(loaded.container_status, synthetic.snapshot.container_status, check_categorical=False)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.assign(state="Sleeping"), "column 'state' holds 'Sleeping', expected one of '', 'running'"),
        (lambda f: pd.concat([f, f.iloc[:1]]), "two rows for the same (namespace, pod, container, timestamp)"),
        (lambda f: f.assign(restarts=-1), "column 'restarts' has negative values"),
        (lambda f: f.assign(last_exit_code=-5), "column 'last_exit_code' has values below -1 (-1: none)"),
        (lambda f: f.assign(ready=None), "column 'ready' has"),
    ],
)
def test_container_status_errors_name_file_and_problem(failing_dir: Path, tmp_path: Path, change, message) -> None:  # type: ignore[no-untyped-def]
    root = tmp_path / "snap"
    shutil.copytree(failing_dir, root)
    path = root / schema.CONTAINER_STATUS_FILE
    change(pd.read_parquet(path)).to_parquet(path)
    with pytest.raises(SnapshotError) as info:
        load_snapshot(root)
    assert str(info.value).startswith(f"{path}: ") and message in str(info.value), str(info.value)


@given(
    column=st.sampled_from([*schema.CONTAINER_STATUS_COLUMNS, "extra"]),
    values=st.lists(USAGE_VALUES | st.sampled_from(["running", "waiting", "OOMKilled", "", True, False, -1, -2]),
                    min_size=1, max_size=5),
    drop=st.booleans(),
    rows=st.sampled_from([0, 1, 7, None]),
)  # fmt: skip
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_container_status_of_any_shape_is_refused_or_loaded_and_analysed(
    failing_dir: Path, tmp_path: Path, column: str, values: list[Any], drop: bool, rows: int | None
) -> None:
    """container_status.parquet with a column dropped, retyped or filled with hostile values (a state outside
    the four, negative restarts, an exit code below -1, duplicates), or cut to a few rows: one line naming the
    file, or a load the analysis gets through."""
    snapshot = mangled_table(failing_dir, tmp_path, schema.CONTAINER_STATUS_FILE, column, values, drop, rows)
    if snapshot is None:
        return
    status = snapshot.container_status
    assert set(status["state"].astype(str)) <= set(schema.CONTAINER_STATES)
    assert (status["restarts"] >= 0).all() and (status["last_exit_code"] >= -1).all()
    analyze(snapshot)


def test_a_sidecar_with_no_usage_left_keeps_its_request(tiny: Synthetic) -> None:
    """The newest edge-router pod's first container renamed: the pod's containers no longer match the
    samples, a sidecar has no usage to size a request from, and the analysis goes on (a NaN once crashed)."""
    objects = copy.deepcopy(tiny.snapshot.objects)
    pods = [p for p in objects["Pod"] if p["metadata"]["name"].startswith("edge-router-")]
    newest = max(pods, key=lambda p: (p["metadata"]["creationTimestamp"], p["metadata"]["name"]))
    newest["spec"]["containers"][0]["name"] = "0"
    analysis = analyze(dataclasses.replace(tiny.snapshot, objects=objects))
    assert "edge-router" in set(analysis.hpa_skew["target"].str.partition("/")[2])


SHARED_CASES = [(kind, path) for kind, path in CASES if kind in SHARED_PARTS]


@given(case=st.sampled_from(SHARED_CASES), value=HOSTILE, which=st.integers(0, 50))
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_validating_shared_parts_once_gives_the_whole_schemas_verdict(
    tiny: Synthetic, case: tuple[str, str], value: Any, which: int
) -> None:
    """first_error checks a pod's spec, labels and annotations once per distinct value; the verdict and the
    message are the whole schema's, whether the value is new or remembered."""
    kind, path = case
    items = tiny.snapshot.objects[kind]
    item = copy.deepcopy(items[which % len(items)])
    if not set_path(item, path, value):
        return
    whole = first_problem(VALIDATORS[kind], item)
    assert (first_error(kind, item) is None) == (whole is None)
    assert (first_error(kind, copy.deepcopy(item)) is None) == (whole is None)  # now from the memo
    if whole is not None:  # a field the whole schema finds wrong too (best_match may rank another first)
        field = first_error(kind, item).split(": ")[0]
        wrong = {field_path(e.absolute_path) or "document" for e in VALIDATORS[kind].iter_errors(item)}
        assert field in wrong or any(field.startswith(w) or w.startswith(field) for w in wrong), (field, wrong)


@given(
    case=st.sampled_from(CASES),
    value=HOSTILE | st.floats() | st.sampled_from([5.0, -0.0, 2.0**31, -1]),
    which=st.integers(0, 50),
)
@example(case=("HorizontalPodAutoscaler", "spec.maxReplicas"), value=5.0, which=0)  # 3.0 is no int32
@example(case=("Pod", "spec.containers.0.resources.requests.cpu"), value=-1, which=0)  # a negative number
@example(case=("Pod", "status.conditions.0.lastTransitionTime"), value=None, which=0)  # null: both accept
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_the_compiled_fast_path_accepts_only_what_the_schema_accepts(
    tiny: Synthetic, case: tuple[str, str], value: Any, which: int
) -> None:
    """fast_validation.accepts is trusted to accept without the full check: it must never accept an object
    the schema refuses (it may refuse more: those go to the full check). The unmodified objects pass it, so
    the fast path is in use."""
    kind, path = case
    items = tiny.snapshot.objects[kind]
    item = copy.deepcopy(items[which % len(items)])
    assert accepts(kind, item), kind
    if not set_path(item, path, value):
        return
    if accepts(kind, item):
        assert first_problem(VALIDATORS[kind], item) is None, (path, value)
    if isinstance(value, float) and path.endswith("Replicas"):
        assert not accepts(kind, item) and first_error(kind, item) is not None  # floats are no int32


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=12,
)


@given(
    items=st.lists(JSON_VALUES, max_size=5) | JSON_VALUES,
    extra=st.dictionaries(st.sampled_from(["apiVersion", "metadata", "x"]), JSON_VALUES, max_size=3),
    kind=st.sampled_from(["List", "PodList", "Pod", 3, None]),
    indent=st.sampled_from([None, 0, 2, "\t"]),
    cut=st.integers(0, 400),
)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_a_json_list_read_item_by_item_is_the_parsed_list(
    tmp_path: Path, items: list[Any], extra: dict[str, Any], kind: Any, indent: Any, cut: int
) -> None:
    """Large object files are decoded an item at a time; any JSON text gives the whole-text parser's items,
    or an error where it gives one (truncated texts included)."""
    doc = {**extra, "items": items, **({"kind": kind} if kind is not None else {})}
    text = json.dumps(doc, indent=indent)
    for sample in (text, text[: len(text) - cut] if cut else text):
        path = tmp_path / "objects.json"
        path.write_text(sample)
        try:
            expected: Any = _parsed_items(sample, path)
        except SnapshotError:
            expected = SnapshotError
        try:
            got: Any = list(_items_of(path))
        except SnapshotError:
            got = SnapshotError
        if expected is SnapshotError:
            assert got is SnapshotError, sample
        elif got is SnapshotError:  # only a document that is no List, which the loader refuses anyway
            assert not str(doc.get("kind", "")).endswith("List"), sample
        else:
            assert got == expected


@pytest.fixture(scope="module")
def lifecycle_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small snapshot with Jobs and CronJobs (the lifecycle catalogue, six hours)."""
    small = generate(workloads=1, days=0.25, step_s=60.0, catalogue="lifecycle")
    return write_snapshot(small.snapshot, tmp_path_factory.mktemp("lifecycle") / "snap")


JOB_READ_PATHS: dict[str, list[str]] = {
    "Job": ["spec", "spec.template", "spec.template.spec.containers", "spec.activeDeadlineSeconds",
            "spec.backoffLimit", "metadata.ownerReferences", "metadata.ownerReferences.0.kind",
            "metadata.ownerReferences.0.name"],
    "CronJob": ["spec", "spec.jobTemplate", "spec.jobTemplate.spec", "spec.jobTemplate.spec.template",
                "spec.jobTemplate.spec.template.spec.containers.0", "spec.jobTemplate.spec.template.metadata",
                "spec.jobTemplate.spec.template.metadata.annotations", "spec.concurrencyPolicy", "spec.schedule",
                "metadata.name"],
}  # fmt: skip
JOB_CASES = [(kind, path) for kind, paths in JOB_READ_PATHS.items() for path in paths]


@given(case=st.sampled_from(JOB_CASES), value=HOSTILE, which=st.integers(0, 50))
@example(case=("Job", "spec"), value={}, which=0)  # a Job without a template: its pods still resolve
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_a_hostile_value_in_a_job_or_cronjob_is_refused_or_analysed(
    lifecycle_dir: Path, tmp_path: Path, case: tuple[str, str], value: Any, which: int
) -> None:
    """Jobs and CronJobs are read like the other workloads: any value at a field the analysis reads is refused
    in one line naming the file, or loaded and analysed (the owner rule, the held Jobs, their fixes)."""
    refused_or_analysed(lifecycle_dir, tmp_path, case, value, which)
