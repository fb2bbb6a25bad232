"""A shard's partial result on disk, and reading a set of them back for a merge.

One folder per shard, ``shard-<index>-of-<count>/``: ``partial.json`` (what the shard is: the
snapshot's metadata, the prices, the settings that shape the analysis, the shard, the tool version) and
``tables/<name>.parquet``, one per table of the :class:`~analyzer.findings.analysis.Analysis` (Parquet
keeps floats bit for bit, so a merged report equals an unsharded one). A shard whose namespaces hold no
pods writes ``partial.json`` with ``"empty": true`` and no tables. The folder appears whole or not at all.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import jsonschema
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from analyzer.__about__ import __version__
from analyzer.errors import SidecarImpactError, SnapshotError, clip, reason
from analyzer.findings.analysis import Analysis
from analyzer.findings.hpa_skew import SERIES_COLUMNS
from analyzer.findings.merge import merge_columns, row_keys
from analyzer.findings.sidecar_failures import TIMELINE_COLUMNS
from analyzer.findings.source_replay import KIT_COLUMNS, check_kits
from analyzer.findings.spill import SPILLED, column_reader
from analyzer.model.pod_usage import POD_USAGE_COLUMNS
from analyzer.prices import Prices
from analyzer.render.outputs import cannot_write
from analyzer.render.report_schema import ELSEWHERE
from analyzer.render.report_schema import TABLES as REPORT_TABLES
from analyzer.snapshot.shards import MAX_SHARDS, Shard
from analyzer.snapshot.store import metadata_from_json
from analyzer.snapshot.writing import atomic_directory

FORMAT = "sidecar-impact-partial"
FORMAT_VERSION = 1
MANIFEST = "partial.json"
TABLES_DIR = "tables"
MAX_MANIFEST_BYTES = 4 * 1024 * 1024
_DIR_NAME = re.compile(r"shard-(\d{1,5})-of-(\d{1,5})")

TABLES = Analysis.table_names()
DOCUMENTED_COLUMNS: dict[str, Mapping[str, str]] = {
    **REPORT_TABLES,
    **{name: columns for name, (_, columns) in ELSEWHERE.items()},
    "hpa_series": SERIES_COLUMNS,
    "pod_usage": POD_USAGE_COLUMNS,
    "failure_series": TIMELINE_COLUMNS,
    "source_kits": KIT_COLUMNS,
}
"""The columns each table documents; a part's table with rows must have them all."""

_MANIFEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["format", "format_version", "tool_version", "shard", "settings", "metadata", "prices", "empty"],
    "properties": {
        "format": {"const": FORMAT},
        "format_version": {"const": FORMAT_VERSION},
        "tool_version": {"type": "string", "maxLength": 64},
        "shard": {
            "type": "object",
            "required": ["index", "count"],
            "properties": {
                "index": {"type": "integer", "minimum": 0, "maximum": MAX_SHARDS - 1},
                "count": {"type": "integer", "minimum": 1, "maximum": MAX_SHARDS},
            },
        },
        "settings": {"type": "object"},
        "metadata": {"type": "object"},
        "prices": {
            "type": "object",
            "required": ["cpu_core_hour", "memory_gib_hour", "source"],
            "properties": {
                "cpu_core_hour": {"type": "number"},
                "memory_gib_hour": {"type": "number"},
                "source": {"type": "string", "maxLength": 4096},
            },
        },
        "empty": {"type": "boolean"},
        "samples": {"type": "integer", "minimum": 0},
        "rebuilt": {
            "type": "array",
            "maxItems": 64,
            "items": {
                "type": "array",
                "prefixItems": [{"type": "string", "maxLength": 64}, {"type": "integer", "minimum": 0}],
                "minItems": 2,
                "maxItems": 2,
            },
        },
    },
}


def partial_dir(out: Path, shard: Shard) -> Path:
    """Where shard ``shard``'s partial result goes under ``out``."""
    return out / f"shard-{shard.index}-of-{shard.count}"


def write_partial(analysis: Analysis | None, out: Path, shard: Shard, settings: Mapping[str, Any]) -> Path:
    """Write a shard's partial result (``analysis`` None: the shard held no pods) under ``out``."""
    target = partial_dir(out, shard)
    if target.exists() and not (target / MANIFEST).is_file():
        raise SidecarImpactError(f"--out {out}: {target} exists and is not a partial result; not replacing it")
    prices = analysis.prices if analysis is not None else Prices()
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "tool_version": __version__,
        "shard": {"index": shard.index, "count": shard.count},
        "settings": dict(settings),
        "metadata": {} if analysis is None else analysis.metadata.to_json(),
        "prices": {"cpu_core_hour": prices.cpu_core_hour, "memory_gib_hour": prices.memory_gib_hour,
                   "source": prices.source},
        "empty": analysis is None,
        "samples": 0 if analysis is None else analysis.samples,
        "rebuilt": [] if analysis is None else [list(r) for r in analysis.rebuilt],
    }  # fmt: skip
    try:
        with atomic_directory(target, overwrite=True) as tmp:
            if analysis is not None:
                (tmp / TABLES_DIR).mkdir()
                for name in TABLES:
                    table = pa.Table.from_pandas(getattr(analysis, name), preserve_index=False)
                    pq.write_table(table, tmp / TABLES_DIR / f"{name}.parquet", compression="zstd")
            (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True), encoding="utf-8")
    except OSError as exc:
        raise cannot_write(target, exc) from None
    return target


def find_partials(paths: Sequence[Path]) -> list[Path]:
    """The partial-result folders named by ``paths``: each a partial itself or a folder of ``shard-*`` ones."""
    found: list[Path] = []
    for path in paths:
        if path.is_symlink() or not path.is_dir():
            raise SidecarImpactError(f"merge: {path} is not a directory")
        if (path / MANIFEST).is_file():
            found.append(path)
            continue
        inner = sorted(p for p in path.iterdir() if _DIR_NAME.fullmatch(p.name) and not p.is_symlink() and p.is_dir())
        if not inner:
            raise SidecarImpactError(f"merge: {path} holds no partial result ({MANIFEST} or shard-*-of-*/)")
        found += inner
    return found


def read_partials(paths: Sequence[Path]) -> tuple[list[Analysis], dict[str, Any], dict[str, list[Path]]]:
    """The non-empty parts of a complete shard set, the settings they share, and the files of the parts'
    long tables (:data:`~analyzer.findings.spill.SPILLED`), which the parts hold without rows: the merge
    reads them a column at a time (:func:`column_reader`).

    Refuses parts of different tool versions, snapshots, settings or shard counts, a shard given twice
    and a missing shard: a merge of an incomplete set would look like a whole report.
    """
    manifests = [(p, _manifest(p)) for p in find_partials(paths)]
    first_path, first = manifests[0]
    full = [(p, m) for p, m in manifests if not m["empty"]]
    for path, m in manifests[1:]:
        for key in ("tool_version", "settings", *(("metadata", "prices") if not m["empty"] and full else ())):
            reference_path, reference = (first_path, first) if key in ("tool_version", "settings") else full[0]
            if m[key] != reference[key]:
                raise SidecarImpactError(
                    f"merge: {path} and {reference_path} differ in {key}: they are not shards of the same run"
                )
    count = first["shard"]["count"]
    seen: dict[int, Path] = {}
    for path, m in manifests:
        index = m["shard"]["index"]
        if m["shard"]["count"] != count:
            raise SidecarImpactError(f"merge: {path} is a shard of {m['shard']['count']}, {first_path} of {count}")
        if index >= count:
            raise SidecarImpactError(f"merge: {path}: shard index {index} is not below its count {count}")
        if index in seen:
            raise SidecarImpactError(f"merge: shard {index}/{count} given twice ({seen[index]} and {path})")
        seen[index] = path
    missing = sorted(set(range(count)) - set(seen))
    if missing:
        listed = ", ".join(f"{i}/{count}" for i in missing[:10]) + (" …" if len(missing) > 10 else "")
        raise SidecarImpactError(f"merge: shard {listed} missing: every shard of {count} is needed for a report")
    ordered = sorted(manifests, key=lambda pm: pm[1]["shard"]["index"])
    long: dict[str, list[Path]] = {name: [] for name in SPILLED}
    parts = [_analysis(path, m, long) for path, m in ordered if not m["empty"]]
    for path, m in ordered:
        if not m["empty"] and not m["metadata"]:
            raise SidecarImpactError(f"{path / MANIFEST}: metadata is empty but the shard is not")
        if m["empty"] and os.path.lexists(path / TABLES_DIR):
            raise SidecarImpactError(f"{path / MANIFEST}: says the shard is empty, but it has {TABLES_DIR}/")
    if not parts:
        raise SnapshotError(f"merge: every one of the {count} shards is empty (no pods in any namespace)")
    _check_same_types(parts, [path for path, m in ordered if not m["empty"]])
    for name, files in long.items():
        _check_same_schemas(name, files)
    return parts, first["settings"], long


def _check_same_types(parts: list[Analysis], paths: list[Path]) -> None:
    """Refuse a table whose columns or types differ between parts (tables with rows: an empty one may
    hold no types)."""
    for name in TABLES:
        shapes = [(path, getattr(part, name)) for path, part in zip(paths, parts, strict=True)]
        shapes = [(path, table) for path, table in shapes if len(table)]
        for path, table in shapes[1:]:
            reference_path, reference = shapes[0]
            if list(table.columns) != list(reference.columns) or [str(t) for t in table.dtypes] != [
                str(t) for t in reference.dtypes
            ]:
                raise SidecarImpactError(
                    f"{path / TABLES_DIR / name}.parquet: columns or types differ from {reference_path}'s"
                )


def _check_same_schemas(name: str, files: list[Path]) -> None:
    """Refuse a long table whose columns or types differ between parts (by their Parquet schemas)."""

    def shape(schema: pa.Schema) -> list[tuple[str, Any]]:
        # A dictionary's index width follows its category count, which parts need not share.
        return [(f.name, f.type.value_type if pa.types.is_dictionary(f.type) else f.type) for f in schema]

    shapes = [(file, shape(_schema(file))) for file in files]
    for file, found in shapes[1:]:
        if found != shapes[0][1]:
            raise SidecarImpactError(f"{file}: columns or types differ from {shapes[0][0]}'s")


def with_long_tables(merged: Analysis, long: dict[str, list[Path]]) -> Analysis:
    """``merged`` (the merge of parts without their long tables' rows) with those tables merged in from the
    parts' files, a column at a time."""
    tables = {
        name: merge_columns([column_reader(f) for f in files], _schema(files[0]).names, row_keys(name))
        for name, files in long.items()
        if files
    }
    return replace(merged, **tables)


def _schema(file: Path) -> pa.Schema:
    try:
        return pq.read_schema(file)
    except (OSError, pa.ArrowException) as exc:
        raise SidecarImpactError(f"{file}: not a readable Parquet table ({reason(exc, 100)})") from None


def _manifest(path: Path) -> dict[str, Any]:
    file = path / MANIFEST
    try:
        if file.is_symlink():
            raise SidecarImpactError(f"{file}: is a symbolic link; not following it")
        if file.stat().st_size > MAX_MANIFEST_BYTES:
            raise SidecarImpactError(f"{file}: larger than {MAX_MANIFEST_BYTES:,} bytes; not a partial result")
        raw = json.loads(file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        raise SidecarImpactError(f"{file}: not valid JSON") from None
    except OSError as exc:
        raise SidecarImpactError(f"{file}: cannot read ({exc.strerror})") from None
    try:
        jsonschema.validate(raw, _MANIFEST_SCHEMA)
    except jsonschema.ValidationError as exc:
        where = "/".join(map(str, exc.absolute_path)) or "(top)"
        raise SidecarImpactError(f"{file}: {where}: {reason(exc, 120)}") from None
    return raw


def _analysis(path: Path, manifest: dict[str, Any], long: dict[str, list[Path]]) -> Analysis:
    """The part's tables; a long table's file with rows is added to ``long`` and the table left empty."""
    tables: dict[str, pd.DataFrame] = {}
    for name in TABLES:
        file = path / TABLES_DIR / f"{name}.parquet"
        if file.is_symlink() or not file.is_file():
            raise SidecarImpactError(f"{file}: missing (a partial result has every table)")
        try:
            if name in SPILLED:
                schema, rows = _schema(file), pq.read_metadata(file).num_rows
                tables[name] = schema.empty_table().to_pandas()
                if rows:
                    long[name].append(file)
            else:
                tables[name] = pq.read_table(file).to_pandas()
                rows = len(tables[name])
        except (OSError, pa.ArrowException) as exc:
            raise SidecarImpactError(f"{file}: not a readable Parquet table ({reason(exc, 100)})") from None
        missing = [c for c in DOCUMENTED_COLUMNS.get(name, ()) if c not in tables[name].columns]
        if rows and missing:
            raise SidecarImpactError(f"{file}: column {clip(missing[0])} is missing")
        problem = check_kits(tables[name]) if name == "source_kits" and rows else None
        if problem is not None:
            raise SidecarImpactError(f"{file}: {clip(problem, 200)}")
    try:
        metadata = metadata_from_json(manifest["metadata"], path / MANIFEST)
        prices = Prices(**manifest["prices"])
    except SidecarImpactError as exc:
        raise SidecarImpactError(f"{path / MANIFEST}: {clip(str(exc), 200)}") from None
    return Analysis(
        metadata=metadata,
        prices=prices,
        **tables,
        samples=manifest["samples"],
        rebuilt=tuple((kind, n) for kind, n in manifest["rebuilt"]),
    )
