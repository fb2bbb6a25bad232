"""The JSON Schema of ``report.json``, built from the tables' documented columns.

``docs/report.schema.json`` is this module's output (a test keeps them equal); regenerate with
``python3 -m analyzer.render.report_schema > docs/report.schema.json``.
"""

from __future__ import annotations

import json
from typing import Any

from analyzer.findings.analysis import SUMMARY_COLUMNS
from analyzer.findings.causes import CAUSE_COLUMNS
from analyzer.findings.changes import CHANGE_COLUMNS, VERDICT_COLUMNS
from analyzer.findings.hpa_skew import REMEDY_COLUMNS, SKEW_COLUMNS
from analyzer.findings.hpa_status import HPA_COLUMNS
from analyzer.findings.jobs_held import JOB_HOLD_TABLE_COLUMNS
from analyzer.findings.native_migration import MIGRATION_COLUMNS
from analyzer.findings.sidecar_failures import FAILURE_TABLE_COLUMNS
from analyzer.findings.start_order import START_ORDER_TABLE_COLUMNS
from analyzer.findings.stop_order import STOP_ORDER_TABLE_COLUMNS
from analyzer.findings.summary import FINDING_TABLE_COLUMNS
from analyzer.findings.vpa_hazards import HAZARD_COLUMNS, VPA_HPA_COLUMNS
from analyzer.model.classify import CLASS_COLUMNS
from analyzer.model.containers import CONTAINER_COLUMNS
from analyzer.model.overhead import FIT_COLUMNS
from analyzer.model.shares import ROLLUP_COLUMNS, WORKLOAD_COLUMNS
from analyzer.simulate.vpa_snapshot import VPA_COLUMNS

REPORT_SCHEMA_VERSION = 6
"""report.json's ``report_schema_version``: raised when a table or column changes incompatibly (2: the
per-pod ``classes`` rows left report.json for ``-o pods``; 3: ``causes``, the findings' ``cause``, the
containers' ``image`` and ``request_source``; 4: ``failures``; 5: ``native_migration``; 6: ``jobs_held``,
``start_order``, ``stop_order``)."""
TABLES: dict[str, dict[str, str]] = {
    "causes": CAUSE_COLUMNS,
    "findings": FINDING_TABLE_COLUMNS,
    "workloads": WORKLOAD_COLUMNS,
    "namespaces": {"namespace": "namespace", **ROLLUP_COLUMNS},
    "cluster": {"scope": "always 'cluster'", **ROLLUP_COLUMNS},
    "containers": CONTAINER_COLUMNS,
    "overhead": FIT_COLUMNS,
    "hpas": HPA_COLUMNS,
    "hpa_skew": SKEW_COLUMNS,
    "remedies": REMEDY_COLUMNS,
    "vpa": VPA_COLUMNS,
    "vpa_hazards": HAZARD_COLUMNS,
    "vpa_hpa": VPA_HPA_COLUMNS,
    "failures": FAILURE_TABLE_COLUMNS,
    "native_migration": MIGRATION_COLUMNS,
    "start_order": START_ORDER_TABLE_COLUMNS,
    "stop_order": STOP_ORDER_TABLE_COLUMNS,
    "jobs_held": JOB_HOLD_TABLE_COLUMNS,
}
ELSEWHERE: dict[str, tuple[str, dict[str, str]]] = {
    "classes": ("pods.parquet (-o pods): every container of every pod with its classification", CLASS_COLUMNS),
}
"""Tables report.json leaves out because they grow with every pod: where each goes instead, and its columns."""
SCALAR = {"type": ["string", "number", "integer", "boolean", "null"]}
LISTS = {"causes": {"members": "string", "member_residual_replica_hours": ["number", "null"]}}
"""Columns whose cells are lists, and their items' types (the rest are scalars)."""


def _table(name: str, columns: dict[str, str]) -> dict[str, Any]:
    lists = LISTS.get(name, {})

    def cell(column: str) -> dict[str, Any]:
        return {"type": "array", "items": {"type": lists[column]}} if column in lists else SCALAR

    return {
        "type": "array",
        "items": {
            "type": "object",
            "required": list(columns),
            "properties": {column: {**cell(column), "description": text} for column, text in columns.items()},
        },
    }


def report_schema() -> dict[str, Any]:
    """The schema document (JSON Schema 2020-12)."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://sidecar-impact.example/report.schema.json",
        "title": "sidecar-impact report",
        "description": "Every table of the analysis as a list of rows, but those that grow with every pod: "
        + "; ".join(f"{name} is in {where}" for name, (where, _) in ELSEWHERE.items()),
        "type": "object",
        "required": ["report_schema_version", "snapshot", "summary", "prices", *TABLES],
        "properties": {
            "report_schema_version": {"const": REPORT_SCHEMA_VERSION},
            "snapshot": {
                "type": "object",
                "required": ["schema_version", "source", "cluster", "start", "end", "step_s", "tool_version"],
            },
            "summary": {
                "type": "object",
                "required": list(SUMMARY_COLUMNS),
                "properties": {k: {"type": "number", "description": v} for k, v in SUMMARY_COLUMNS.items()},
                "additionalProperties": False,
            },
            "prices": {
                "type": "object",
                "required": ["cpu_core_hour", "memory_gib_hour"],
                "properties": {"cpu_core_hour": {"type": "number"}, "memory_gib_hour": {"type": "number"}},
            },
            **{name: _table(name, columns) for name, columns in TABLES.items()},
            "changes": {
                "type": "object",
                "description": "with --runs, when there is an earlier run of the cluster: what changed since it "
                "(docs/cli.md)",
                "required": [
                    "since",
                    "headline",
                    "figures",
                    "new",
                    "resolved",
                    "findings",
                    "severity_changed",
                    "hpas",
                    "workloads",
                ],
                "properties": {
                    "since": {"type": "string", "description": "the end of the earlier run's snapshot window"},
                    "headline": {"type": "string", "description": "the comparison in one line"},
                    "figures": {
                        "type": "object",
                        "description": "now minus before: waste_cost_month, "
                        "shortfall_replica_hours, stalled_hours, sidecar_cost_month",
                    },
                    "new": {"type": "object", "description": "new findings per severity"},
                    "resolved": {"type": "object", "description": "resolved findings per severity (as they were)"},
                    "findings": _table("findings", CHANGE_COLUMNS["findings"]),
                    "severity_changed": _table("findings", CHANGE_COLUMNS["findings"]),
                    "hpas": _table("hpas", CHANGE_COLUMNS["hpas"]),
                    "workloads": _table("workloads", CHANGE_COLUMNS["workloads"]),
                    "fixes": _table("fixes", VERDICT_COLUMNS),
                },
            },
        },
    }


def main() -> None:
    print(json.dumps(report_schema(), indent=2, sort_keys=True, ensure_ascii=False))


if __name__ == "__main__":
    main()
