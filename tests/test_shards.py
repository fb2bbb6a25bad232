"""Shards and merge: `report --shard I/N` on every shard, then `merge`, gives the unsharded report."""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analyzer.api import (
    analyze,
    analyze_dir,
    load_snapshot,
    merge_partials,
    render,
    write_partial,
)
from analyzer.errors import NothingToAnalyse, SidecarImpactError
from analyzer.snapshot.partitions import plan_partitions
from analyzer.snapshot.shards import Shard, shard_of
from tests.console import sidecar_impact

SHARDS = 3
"""On the small snapshot's 7 namespaces, shard 2 of 3 holds none: the empty shard is covered too."""


def run_cli(*args: str) -> tuple[int | None, str]:
    """``sidecar-impact ARGS``: exit code and stderr."""
    done = sidecar_impact(*args, timeout=120)
    return done.returncode, done.stderr


@pytest.fixture(scope="module")
def runs(small_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small snapshot reported whole (``whole/``), partitioned (``partitioned/``), as 3 shards
    (``parts/``, shard 1 through JOB_COMPLETION_INDEX as an Indexed Job gives it) and merged (``merged/``),
    every text format."""
    root = tmp_path_factory.mktemp("shards")
    formats = ["-o", "json", "-o", "markdown", "-o", "csv", "-o", "html"]
    samples = sum(pq.read_metadata(f).num_rows for f in (small_dir / "usage").rglob("*.parquet"))
    runs = {
        "whole": (["report", "-s", str(small_dir), "--out", str(root / "whole"), "--group-by-label", "team",
                   *formats], None),
        "partitioned": (["report", "-s", str(small_dir), "--out", str(root / "partitioned"), "--group-by-label",
                         "team", "--partition-samples", str(samples // 2), *formats], None),
    }  # fmt: skip
    for index in range(SHARDS):
        spec, env = (f"/{SHARDS}", {"JOB_COMPLETION_INDEX": "1"}) if index == 1 else (f"{index}/{SHARDS}", None)
        shard = ["report", "-s", str(small_dir), "--shard", spec, "--out", str(root / "parts")]
        runs[f"shard {index}/{SHARDS}"] = ([*shard, "--group-by-label", "team"], env)
    for name, (args, env) in runs.items():
        done = sidecar_impact(*args, env={**os.environ, **env} if env else None)
        assert done.returncode == 0, f"{name}: {done.stderr}"
        if name.startswith("shard"):
            assert name in done.stdout
    merged = sidecar_impact("merge", str(root / "parts"), "--out", str(root / "merged"), *formats)
    assert merged.returncode == 0, merged.stderr
    return root


@pytest.mark.parametrize("how", ["merged", "partitioned"])
def test_a_merged_or_partitioned_report_is_the_whole_report(runs: Path, how: str) -> None:
    """Three shards merged, and one process analysing four partitions of namespaces in turn."""
    whole = json.loads((runs / "whole" / "report.json").read_text())
    merged = json.loads((runs / how / "report.json").read_text())
    assert merged == whole
    assert merged["summary"]["workloads"] > 0 and merged["findings"]
    for name in ("report.md", "report.html"):
        assert (runs / how / name).read_bytes() == (runs / "whole" / name).read_bytes(), name
    csv = sorted(p.relative_to(runs / "whole") for p in (runs / "whole").rglob("*.csv"))
    assert csv
    for rel in csv:
        assert (runs / how / rel).read_bytes() == (runs / "whole" / rel).read_bytes(), rel


def test_partitions_are_balanced_and_cover_every_namespace() -> None:
    rows = {"a": 90, "b": 50, "c": 40, "d": 10, "e": 0, "big": 300}
    groups = [set(p) for p in plan_partitions(rows, 100)]
    assert sorted(ns for g in groups for ns in g) == sorted(rows)
    assert {"big"} in groups  # larger than the budget: alone
    loads = sorted(sum(rows[n] for n in g) for g in groups)
    assert loads[-1] == 300 and max(loads[:-1]) <= 100
    assert plan_partitions({"a": 5}, 100) == [{"a": None}]


def test_each_shard_holds_its_namespaces_only(runs: Path, small_dir: Path) -> None:
    namespaces = sorted(p.name.removeprefix("namespace=") for p in (small_dir / "usage").iterdir())
    expected = Counter(shard_of(ns, SHARDS) for ns in namespaces)
    assert expected[2] == 0, "the fixture is meant to cover an empty shard"
    for index in range(SHARDS):
        manifest = json.loads((runs / "parts" / f"shard-{index}-of-{SHARDS}" / "partial.json").read_text())
        assert manifest["shard"] == {"index": index, "count": SHARDS}
        assert manifest["empty"] is (expected[index] == 0)
        if not manifest["empty"]:
            assert manifest["settings"]["group_by"] == ["team"]


def test_api_merge_equals_analyze_for_other_shard_counts(small_dir: Path, tmp_path: Path) -> None:
    whole = analyze(load_snapshot(small_dir))
    render(whole, tmp_path / "whole", ["json"])
    for count in (2, 7):
        for index in range(count):
            shard = Shard(index, count)
            try:
                part = analyze(load_snapshot(small_dir, shard=shard))
            except NothingToAnalyse:
                part = None
            write_partial(part, tmp_path / f"parts-{count}", shard, {"count-test": True})
        merged, settings_ = merge_partials([tmp_path / f"parts-{count}"])
        assert settings_ == {"count-test": True}
        assert merged.samples == whole.samples
        render(merged, tmp_path / f"merged-{count}", ["json"])
        assert (tmp_path / f"merged-{count}" / "report.json").read_bytes() == (
            tmp_path / "whole" / "report.json"
        ).read_bytes(), count


@given(st.lists(st.text(min_size=1, max_size=63), max_size=40, unique=True), st.integers(1, 50))
@settings(max_examples=200, deadline=None)
def test_every_namespace_is_in_exactly_one_shard(namespaces: list[str], count: int) -> None:
    for ns in namespaces:
        holders = [i for i in range(count) if Shard(i, count).holds(ns)]
        assert holders == [shard_of(ns, count)]


def test_shards_spread_namespaces_evenly() -> None:
    sizes = Counter(shard_of(f"team-{i}", 4) for i in range(2000))
    assert sorted(sizes) == [0, 1, 2, 3]
    assert all(400 <= n <= 600 for n in sizes.values()), sizes


@pytest.mark.parametrize(
    ("text", "environ", "expected"),
    [
        ("0/4", {}, Shard(0, 4)),
        ("3/4", {}, Shard(3, 4)),
        (" 1/2 ", {}, Shard(1, 2)),
        ("/4", {"JOB_COMPLETION_INDEX": "2"}, Shard(2, 4)),
        ("4", {"JOB_COMPLETION_INDEX": "3"}, Shard(3, 4)),
        ("0/1", {}, Shard(0, 1)),
    ],
)
def test_shard_parses_index_and_count(text: str, environ: dict[str, str], expected: Shard) -> None:
    assert Shard.parse(text, environ) == expected


@pytest.mark.parametrize(
    ("text", "environ", "message"),
    [
        ("4/4", {}, "0 <= INDEX < COUNT"),
        ("0/0", {}, "0 <= INDEX < COUNT"),
        ("-1/4", {}, "not INDEX/COUNT"),
        ("a/b", {}, "not INDEX/COUNT"),
        ("1/2/3", {}, "not INDEX/COUNT"),
        ("/4", {}, "JOB_COMPLETION_INDEX is unset"),
        ("/4", {"JOB_COMPLETION_INDEX": "x"}, "JOB_COMPLETION_INDEX is 'x'"),
        ("/4", {"JOB_COMPLETION_INDEX": "4"}, "0 <= INDEX < COUNT"),
        ("0/99999", {}, "COUNT <= 10000"),
    ],
)
def test_a_bad_shard_is_refused(text: str, environ: dict[str, str], message: str) -> None:
    with pytest.raises(SidecarImpactError, match=message.replace("(", r"\(")):
        Shard.parse(text, environ)


def _copy_parts(runs: Path, tmp_path: Path) -> Path:
    parts = tmp_path / "parts"
    shutil.copytree(runs / "parts", parts)
    return parts


def _refused(tmp_path: Path, *args: str) -> str:
    code, stderr = run_cli("merge", *args, "--out", str(tmp_path / "out"))
    assert code == 2, stderr
    assert stderr.count("\n") == 1 and stderr.startswith("error: "), stderr
    assert not (tmp_path / "out").exists()
    return stderr


def test_merge_refuses_an_incomplete_or_mixed_set(runs: Path, tmp_path: Path) -> None:
    parts = _copy_parts(runs, tmp_path)
    assert "shard 1/3 given twice" in _refused(tmp_path, str(parts), str(parts / "shard-1-of-3"))
    shutil.rmtree(parts / "shard-0-of-3")
    assert "shard 0/3 missing" in _refused(tmp_path, str(parts))
    shutil.copytree(runs / "parts" / "shard-0-of-3", parts / "shard-0-of-3")
    manifest = parts / "shard-1-of-3" / "partial.json"
    document = json.loads(manifest.read_text())
    document["settings"]["prices"] = "Prices(cpu_core_hour=1.0)"
    manifest.write_text(json.dumps(document))
    assert "differ in settings" in _refused(tmp_path, str(parts))
    document["settings"] = json.loads((parts / "shard-0-of-3" / "partial.json").read_text())["settings"]
    document["shard"]["count"] = 0
    manifest.write_text(json.dumps(document))
    assert "partial.json: shard/count" in _refused(tmp_path, str(parts))


@pytest.mark.parametrize(
    "damage", ["not-json", "symlink", "no-table", "bad-table", "bad-long-table", "not-a-dir", "empty-dir"]
)
def test_merge_refuses_a_damaged_part_in_one_line(runs: Path, tmp_path: Path, damage: str) -> None:
    parts = _copy_parts(runs, tmp_path)
    part = parts / "shard-0-of-3"
    target: Path = parts
    if damage == "not-json":
        (part / "partial.json").write_text("{not json")
        expected = "partial.json: not valid JSON"
    elif damage == "symlink":
        real = tmp_path / "elsewhere.json"
        shutil.move(part / "partial.json", real)
        (part / "partial.json").symlink_to(real)
        expected = "symbolic link"
    elif damage == "no-table":
        (part / "tables" / "hpa_skew.parquet").unlink()
        expected = "hpa_skew.parquet: missing"
    elif damage == "bad-table":
        (part / "tables" / "findings.parquet").write_bytes(b"PAR1 but not really")
        expected = "findings.parquet: not a readable Parquet table"
    elif damage == "bad-long-table":  # read at the merge, a column at a time
        (part / "tables" / "hpa_series.parquet").write_bytes(b"PAR1 but not really")
        expected = "hpa_series.parquet: not a readable Parquet table"
    elif damage == "not-a-dir":
        target = tmp_path / "file"
        target.write_text("x")
        expected = "is not a directory"
    else:
        target = tmp_path / "nothing"
        target.mkdir()
        expected = "holds no partial result"
    assert expected in _refused(tmp_path, str(target))


def test_report_options_belong_to_merge_not_to_a_shard(small_dir: Path, tmp_path: Path) -> None:
    code, stderr = run_cli("report", "-s", str(small_dir), "--shard", "0/2", "-o", "json", "--out", str(tmp_path))
    assert code == 2 and "--format belong to `merge`" in stderr, stderr
    code, stderr = run_cli("report", "-s", str(small_dir), "--shard", "2/2", "--out", str(tmp_path))
    assert code == 2 and "0 <= INDEX < COUNT" in stderr, stderr
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("processes", [1, 2])
def test_partitions_analysed_one_at_a_time_or_at_once_give_the_whole_analysis(
    small_dir: Path, tmp_path: Path, processes: int
) -> None:
    """analyze_dir analyses the partitions in this process, or in it and a forked one at once (each process
    replays its partitions' HPAs); either way gives the unpartitioned analysis, byte for byte."""
    samples = sum(pq.read_metadata(f).num_rows for f in (small_dir / "usage").rglob("*.parquet"))
    render(analyze(load_snapshot(small_dir)), tmp_path / "whole", ["json"])
    seen: list[tuple[str, int, int]] = []
    analysis = analyze_dir(small_dir, partition_samples=samples // 3, processes=processes,
                           progress=lambda *a: seen.append(a))  # fmt: skip
    render(analysis, tmp_path / "parted", ["json"])
    assert (tmp_path / "parted" / "report.json").read_bytes() == (tmp_path / "whole" / "report.json").read_bytes()
    # The budget is the run's: 3 partitions' worth for one process, 3 each for two (6, or 8 when the budget
    # rounds down), a multiple of the processes; every one reported done.
    finished = [(done, total) for stage, done, total in seen if stage == "partitions"]
    assert finished == [(k, finished[0][1]) for k in range(1, finished[0][1] + 1)]
    assert finished[0][1] in ({3, 4} if processes == 1 else {6, 8})


def test_partitions_keep_the_namespace_and_selector_filters(small_dir: Path, tmp_path: Path) -> None:
    samples = sum(pq.read_metadata(f).num_rows for f in (small_dir / "usage").rglob("*.parquet"))
    for namespaces, selector in ((["shop", "web", "data"], None), (None, "team in (shop,payments)")):
        whole = analyze(load_snapshot(small_dir, namespaces, selector))
        parted = analyze_dir(small_dir, namespaces, selector, partition_samples=samples // 5, processes=1)
        render(whole, tmp_path / "whole", ["json"])
        render(parted, tmp_path / "parted", ["json"])
        assert (tmp_path / "parted" / "report.json").read_bytes() == (tmp_path / "whole" / "report.json").read_bytes()
        assert set(parted.workloads["namespace"]) == set(namespaces or ["shop", "payments"])
    with pytest.raises(NothingToAnalyse, match="no pod matches the selector"):
        analyze_dir(small_dir, selector="team=nobody", partition_samples=samples // 5, processes=1)


MANIFEST_FIELDS = ["format", "format_version", "tool_version", "shard", "shard.index", "shard.count", "settings",
                   "metadata", "metadata.start", "metadata.step_s", "prices", "prices.cpu_core_hour", "empty",
                   "samples", "rebuilt"]  # fmt: skip
ODD_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(), st.text(max_size=50),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)  # fmt: skip


@given(field=st.sampled_from(MANIFEST_FIELDS), value=ODD_VALUES, shard=st.integers(0, SHARDS - 1))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_a_manifest_field_of_any_value_is_merged_or_refused_in_one_line(
    runs: Path, tmp_path: Path, field: str, value: object, shard: int
) -> None:
    parts = tmp_path / "parts"
    shutil.rmtree(parts, ignore_errors=True)
    shutil.copytree(runs / "parts", parts)
    manifest = parts / f"shard-{shard}-of-{SHARDS}" / "partial.json"
    document = json.loads(manifest.read_text())
    *parents, last = field.split(".")
    node = document
    for key in parents:
        node = node[key] if isinstance(node.get(key), dict) else {}
    node[last] = value
    manifest.write_text(json.dumps(document))
    try:
        merged, _ = merge_partials([parts])
    except SidecarImpactError as exc:
        assert "\n" not in str(exc) and len(str(exc)) < 600
    else:
        assert len(merged.workloads) > 0


@pytest.mark.parametrize("damage", ["drop-documented-column", "retype-column"])
@pytest.mark.parametrize(("name", "column"), [("hpa_skew", "skew_percent"), ("hpa_series", "replicas")])
def test_a_part_whose_table_lost_a_column_or_changed_type_is_refused(
    runs: Path, tmp_path: Path, damage: str, name: str, column: str
) -> None:
    """hpa_series is one of the long tables, which the merge reads from the parts' files a column at a time."""
    parts = _copy_parts(runs, tmp_path)
    file = parts / "shard-1-of-3" / "tables" / f"{name}.parquet"
    table = pq.read_table(file)
    assert table.num_rows > 0
    if damage == "drop-documented-column":
        table = table.drop_columns([column])
        expected = f"column '{column}' is missing"
    else:
        table = table.set_column(table.schema.get_field_index(column), column, table[column].cast("string"))
        expected = "columns or types differ"
    pq.write_table(table, file)
    assert expected in _refused(tmp_path, str(parts))


def test_a_part_whose_kits_are_damaged_is_refused_in_one_line(runs: Path, tmp_path: Path) -> None:
    """The kits a merge replays the causes' changes at the source with are checked once, at the part's load
    (each kind of damage: tests/findings/test_sources.py)."""
    damage, expected = '{"config": 1}', "row 0: column"
    parts = _copy_parts(runs, tmp_path)
    files = [f for f in parts.glob("shard-*/tables/source_kits.parquet") if pq.read_metadata(f).num_rows]
    assert files
    table = pq.read_table(files[0])
    column = table.schema.get_field_index("column")
    table = table.set_column(column, "column", pa.array([damage] * table.num_rows))
    pq.write_table(table, files[0])
    message = _refused(tmp_path, str(parts))
    assert expected in message and "source_kits.parquet" in message and "\n" not in message.strip()


def test_a_part_that_says_it_is_empty_but_holds_tables_is_refused(runs: Path, tmp_path: Path) -> None:
    """Otherwise its workloads would silently be left out of a report that looks whole."""
    parts = _copy_parts(runs, tmp_path)
    manifest = parts / "shard-0-of-3" / "partial.json"
    manifest.write_text(json.dumps({**json.loads(manifest.read_text()), "empty": True}))
    assert "says the shard is empty, but it has tables/" in _refused(tmp_path, str(parts))


def test_a_namespace_larger_than_a_partition_is_cut_between_its_workloads(small_dir: Path, tmp_path: Path) -> None:
    """At a budget of one sample every namespace is larger than a partition: each is cut into its units
    (a workload with its pods, HPA, ScaledObject and VPA), one partition each, and the merged analysis is
    still the whole one, report.json and report.md byte for byte."""
    whole = analyze(load_snapshot(small_dir))
    render(whole, tmp_path / "whole", ["json", "markdown"])
    seen: list[tuple[str, int, int]] = []
    parted = analyze_dir(small_dir, partition_samples=1, processes=1, progress=lambda *a: seen.append(a))
    render(parted, tmp_path / "cut", ["json", "markdown"])
    for name in ("report.json", "report.md"):
        assert (tmp_path / "cut" / name).read_bytes() == (tmp_path / "whole" / name).read_bytes(), name
    loads = [total for stage, _, total in seen if stage == "partitions"]
    assert loads and set(loads) == {len(whole.workloads)}
    shop = whole.workloads[whole.workloads["namespace"] == "shop"]
    assert len(shop) == 5 and len(whole.hpas[whole.hpas["namespace"] == "shop"]) == 5
