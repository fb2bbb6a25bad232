"""The change at a cause's source, replayed: every member's HPA with the culprit sidecar's requests at the one
value the injector's default (or the namespace's annotation) would set.

A cause's members span partitions and shards, and the value is the median of all their sidecars' p90 usage:
it is known only once every part is analysed. So each part keeps, per HPA and candidate sidecar (injected, its
requests set by the injector or a namespace annotation), a *kit*: the HPA's as-deployed replay column with that
sidecar's request taken out, how the pod's request moves with it, the HPA's demand and its app-only
replica-hours. The merged analysis replays the kits of each cause's members at the cause's value
(:func:`replay_at_source`): one column each, the same controller as every other replay.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, replace
from typing import Any

import jsonschema
import numpy as np
import pandas as pd

from analyzer.model.classify import Role
from analyzer.model.signals import RequestSource
from analyzer.runtime.cpus import available_cpus
from analyzer.simulate.counterfactual import Counterfactual, PendingReplay, pack_columns
from analyzer.simulate.hpa_replay import ReplayColumns, replay
from analyzer.simulate.hpa_spec import ControllerFlags
from analyzer.simulate.kube_version import KubeVersion
from analyzer.simulate.views import View
from analyzer.snapshot.hpa import Policy, PolicyType, Rules, ScalingConfig, Select
from analyzer.units import milli_of, parse_quantity

KIT_COLUMNS: dict[str, str] = {
    "namespace": "HPA namespace",
    "hpa": "HPA name",
    "container": "the candidate sidecar (injected, requests from the injector or a namespace annotation)",
    "column": "the HPA's as-deployed replay column without that sidecar's request, and the controller's settings "
    "(JSON)",
    "demand": "the HPA's demand at every scrape, app cores (a list)",
    "initial": "the replay's initial replicas",
    "app_only_replica_hours": "the app-only replay's replica-hours: the yardstick of a residual",
}
"""One row per (HPA, candidate sidecar): what replaying the HPA at another request for that sidecar needs.
Kept between the parts of an analysis and their merge, never written to a report."""

_NUMBERS = {"type": "array", "items": {"type": "number"}, "maxItems": 16}
_FLAGS = {"type": "array", "items": {"type": "boolean"}, "maxItems": 16}
_RULES = {
    "type": "object",
    "required": ["window_s", "select", "tolerance", "policies"],
    "properties": {
        "window_s": {"type": ["integer", "null"], "minimum": 0, "maximum": 3600},
        "select": {"enum": [int(s) for s in Select]},
        "tolerance": {"type": ["number", "null"], "minimum": 0},
        "policies": {"type": "array", "maxItems": 16, "items": {
            "type": "array", "minItems": 3, "maxItems": 3,
            "prefixItems": [{"enum": [int(p) for p in PolicyType]}, {"type": "integer", "minimum": 1},
                            {"type": "integer", "minimum": 1, "maximum": 1800}]}},
    },
}  # fmt: skip
COLUMN_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["config", "tol_up", "tol_down", "resource", "is_util", "target", "request_m", "per_unit", "missing",
                 "base_m", "slope_m", "flags", "fallback_max_target", "step_s"],
    "properties": {
        "config": {"type": "object", "required": ["min", "max", "up", "down", "has_behavior"], "properties": {
            "min": {"type": "integer", "minimum": 0}, "max": {"type": "integer", "minimum": 1},
            "up": _RULES, "down": _RULES, "has_behavior": {"type": "boolean"}}},
        "tol_up": {"type": "number", "minimum": 0}, "tol_down": {"type": "number", "minimum": 0},
        "resource": {"type": "array", "items": {"enum": ["cpu", "memory"]}, "minItems": 1, "maxItems": 16},
        "is_util": _FLAGS, "missing": _FLAGS, "target": _NUMBERS, "request_m": _NUMBERS, "per_unit": _NUMBERS,
        "base_m": _NUMBERS, "slope_m": _NUMBERS,
        "flags": {"type": "object", "required": list(ControllerFlags.__dataclass_fields__),
                  "additionalProperties": False,
                  "properties": {f: {"type": "number", "minimum": 0} for f in ControllerFlags.__dataclass_fields__}},
        "fallback_max_target": {"type": "boolean"},
        "step_s": {"type": "number", "exclusiveMinimum": 0},
    },
}  # fmt: skip
"""The ``column`` document of a kit, as :func:`check_kits` holds a partial result's kits to it."""

SOURCES = (RequestSource.INJECTOR, RequestSource.NAMESPACE_ANNOTATION)
"""What sets a sidecar's requests where one change at the source sets them for every member."""


def source_kits(
    pending: PendingReplay,
    cf: Counterfactual,
    containers: pd.DataFrame,
    version: KubeVersion,
    flags: ControllerFlags,
) -> pd.DataFrame:
    """:data:`KIT_COLUMNS` for every replayed HPA and candidate sidecar of its workload."""
    candidates: dict[tuple[str, str, str], list[str]] = {}
    sidecars = containers[(containers["role"] == Role.SIDECAR) & containers["injected"].astype(bool)
                          & containers["request_source"].isin([str(s) for s in SOURCES])]  # fmt: skip
    for r in sidecars.itertuples(index=False):
        candidates.setdefault((r.namespace, r.workload_kind, r.workload), []).append(r.container)
    col_of = {(c.hpa, c.view): j for j, c in enumerate(cf.columns)}
    hours = cf.step_s / 3600.0
    fallback = version.missing_pod_fallback_is_max_target
    rows = []
    for h, ctx in enumerate(cf.contexts):
        dep, app = col_of.get((h, View.AS_DEPLOYED)), col_of.get((h, View.APP_ONLY))
        if dep is None or app is None:
            continue
        deployed = cf.columns[dep]
        for container in candidates.get(ctx.workload, ()):
            if container not in ctx.sidecars:
                continue
            zero, unit = (pack_columns([replace(deployed, pod_spec=ctx.pod_spec.with_requests({container: q}))],
                                       cf.contexts, version) for q in ({"cpu": "0", "memory": "0"}, _UNIT))  # fmt: skip
            column = {
                "config": _scaling_json(ctx.spec.scaling),
                "tol_up": ctx.spec.tol_up,
                "tol_down": ctx.spec.tol_down,
                "resource": [m.resource for m in deployed.metrics],
                "is_util": zero.is_util[:, 0].tolist(),
                "target": zero.target[:, 0].tolist(),
                "request_m": zero.request_m[:, 0].tolist(),
                "per_unit": [(int(b) - int(a)) / _UNIT_MILLI[m.resource] for a, b, m in
                             zip(zero.request_m[:, 0], unit.request_m[:, 0], deployed.metrics, strict=True)],
                "missing": zero.missing_request[:, 0].tolist(),
                "base_m": zero.base_m[:, 0].tolist(),
                "slope_m": zero.slope_m[:, 0].tolist(),
                "flags": asdict(flags),
                "fallback_max_target": fallback,
                "step_s": cf.step_s,
            }  # fmt: skip
            rows.append((ctx.spec.namespace, ctx.spec.name, container, json.dumps(column, sort_keys=True),
                         pending.demand[:, dep].astype(np.float64), int(pending.initial[dep]),
                         float(cf.replicas[:, app].sum() * hours)))  # fmt: skip
    return pd.DataFrame(rows, columns=list(KIT_COLUMNS))


_UNIT = {"cpu": "1", "memory": "1Mi"}
_UNIT_MILLI = {r: milli_of(parse_quantity(q)) for r, q in _UNIT.items()}
"""A request of one unit for the culprit: how much the pod's request moves per unit of it (none when the pod's
own pod-level requests decide)."""


def replay_at_source(kits: pd.DataFrame, requests: Mapping[str, str]) -> dict[tuple[str, str], float]:
    """Per (namespace, HPA) of ``kits``: the net skew, replica-hours, with the kit's sidecar at ``requests``
    (``{"cpu": "21m", "memory": "20Mi"}``): its replica-hours less its app-only replica-hours."""
    if not len(kits):
        return {}
    columns = [json.loads(c) for c in kits["column"]]
    wanted = {r: milli_of(parse_quantity(q)) for r, q in requests.items()}
    width = max(len(c["resource"]) for c in columns)
    shape = (width, len(columns))
    active, is_cpu, is_util = np.zeros(shape, bool), np.ones(shape, bool), np.ones(shape, bool)
    target, request, missing = np.ones(shape, np.int64), np.zeros(shape, np.int64), np.zeros(shape, bool)
    base, slope = np.zeros(shape), np.zeros(shape)
    for j, c in enumerate(columns):
        for m, resource in enumerate(c["resource"]):
            active[m, j], is_cpu[m, j], is_util[m, j] = True, resource == "cpu", c["is_util"][m]
            target[m, j], missing[m, j] = c["target"][m], c["missing"][m]
            request[m, j] = c["request_m"][m] + round(c["per_unit"][m] * wanted[resource])
            base[m, j], slope[m, j] = c["base_m"][m], c["slope_m"][m]
    packed = ReplayColumns(
        configs=[_scaling(c["config"]) for c in columns],
        tol_up=np.array([c["tol_up"] for c in columns]),
        tol_down=np.array([c["tol_down"] for c in columns]),
        active=active, is_cpu=is_cpu, is_util=is_util, target=target, request_m=request,
        missing_request=missing, base_m=base, slope_m=slope,
    )  # fmt: skip
    first = columns[0]
    demand = np.stack([np.asarray(d, dtype=np.float64) for d in kits["demand"]], axis=1)
    initial = kits["initial"].to_numpy(dtype=np.int64)
    result = replay(packed, demand, initial, first["step_s"], ControllerFlags(**first["flags"]),
                    first["fallback_max_target"], workers=available_cpus())  # fmt: skip
    hours = first["step_s"] / 3600.0
    replica_hours = result.replicas.sum(axis=0) * hours
    left = replica_hours - kits["app_only_replica_hours"].to_numpy(dtype=np.float64)
    return {(ns, h): float(v) for ns, h, v in zip(kits["namespace"], kits["hpa"], left, strict=True)}


def check_kits(kits: pd.DataFrame) -> str | None:
    """The first problem of kits read back from a partial result (None: none): each ``column`` a document of
    :data:`COLUMN_SCHEMA` whose per-metric lists are as long as its resources, each ``demand`` a list of numbers
    as long as every other kit's, ``initial`` at least one."""
    validator = jsonschema.Draft202012Validator(COLUMN_SCHEMA)
    lengths = set()
    for i, (text, demand, initial) in enumerate(zip(kits["column"], kits["demand"], kits["initial"], strict=True)):
        try:
            column = json.loads(text)
        except (TypeError, ValueError):
            return f"row {i}: column is not a JSON document"
        error = next(iter(validator.iter_errors(column)), None)
        if error is not None:
            return f"row {i}: column{''.join(f'[{p!r}]' for p in error.path)}: {error.message[:120]}"
        width = len(column["resource"])
        if any(len(column[k]) != width for k in ("is_util", "missing", "target", "request_m", "per_unit", "base_m",
                                                  "slope_m")):  # fmt: skip
            return f"row {i}: column's per-metric lists differ in length from its {width} resources"
        try:
            values = None if demand is None else np.asarray(demand)
        except (TypeError, ValueError):  # a ragged or nested list
            values = None
        if values is None or values.ndim != 1 or values.dtype.kind not in "fiu":
            return f"row {i}: demand is not a list of numbers"
        lengths.add(len(values))
        if not isinstance(initial, int | np.integer) or initial < 1:
            return f"row {i}: initial must be a positive integer"
    if len(lengths) > 1:
        return f"demand lists differ in length ({', '.join(map(str, sorted(lengths)[:2]))})"
    return None


def member_kits(kits: pd.DataFrame, members: Sequence[str], container: str) -> pd.DataFrame:
    """The kits of ``container`` for the members (``namespace/hpa/NAME``) that are HPAs, in the members' order."""
    wanted = [tuple(m.split("/hpa/", 1)) for m in members if "/hpa/" in m]
    if not wanted or not len(kits):
        return kits.iloc[:0]
    mine = kits[kits["container"] == container].set_index(["namespace", "hpa"])
    have = [k for k in wanted if k in mine.index]
    return mine.loc[have].reset_index() if have else kits.iloc[:0]


def _scaling_json(config: ScalingConfig) -> dict[str, Any]:
    def rules(r: Rules) -> dict[str, Any]:
        return {"window_s": r.window_s, "select": int(r.select), "tolerance": r.tolerance,
                "policies": [[int(p.type), p.value, p.period_s] for p in r.policies]}  # fmt: skip

    return {"min": config.min_replicas, "max": config.max_replicas, "up": rules(config.up),
            "down": rules(config.down), "has_behavior": config.has_behavior}  # fmt: skip


def _scaling(raw: Mapping[str, Any]) -> ScalingConfig:
    def rules(r: Mapping[str, Any]) -> Rules:
        policies = tuple(Policy(PolicyType(t), v, p) for t, v, p in r["policies"])
        return Rules(r["window_s"], Select(r["select"]), policies, r["tolerance"])

    return ScalingConfig(raw["min"], raw["max"], rules(raw["up"]), rules(raw["down"]), raw["has_behavior"])
