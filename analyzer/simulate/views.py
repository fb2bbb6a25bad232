"""The views an HPA is replayed under, as the domain defines them: as deployed, app-only and each remedy
(what it changes in the metrics or the pod's requests), and the context of each HPA they are built from
(its newest pod, its containers' usage lines, its template and ScaledObject for the fixes)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from analyzer.frames import records_by
from analyzer.model.classify import Role
from analyzer.model.containers import newest_pods
from analyzer.model.usage_index import WORKLOAD_KEY
from analyzer.simulate.hpa_spec import HPAObject, HPASpec
from analyzer.simulate.kube_version import KubeVersion
from analyzer.simulate.pod_requests import containers_request, pod_request
from analyzer.snapshot.hpa import MetricSpec
from analyzer.snapshot.kube import PodSpec
from analyzer.snapshot.schema import Snapshot
from analyzer.units import MIB

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


class View(StrEnum):
    """The views an HPA is replayed under (``ViewColumn.view``, the ``view`` column of the series)."""

    AS_DEPLOYED = "as-deployed"
    APP_ONLY = "app-only"
    CONTAINER_RESOURCE = "container-resource"
    RETARGET = "retarget"
    SIDECAR_REQUESTS = "sidecar-requests"
    AVERAGE_VALUE = "average-value"
    VPA_REQUESTS = "vpa-requests"
    WITH_FAILURES = "with-failures"
    """As deployed, with the pods metrics-server left out of each scrape because a sidecar came back from a
    restart (only for HPAs whose sidecars did): as deployed is then the sidecars never failing."""


VIEWS = tuple(View)


@dataclass(frozen=True)
class UsageLine:
    """A container's modelled usage per pod: ``base + slope × app cores per pod`` for CPU (cores) and memory (bytes)."""

    cpu_base: float
    cpu_slope: float
    mem_base: float
    mem_slope: float

    def at(self, resource: str) -> tuple[float, float]:
        """(base, slope) in milli-units of ``resource``."""
        if resource == "cpu":
            return self.cpu_base * 1000.0, self.cpu_slope * 1000.0
        return self.mem_base * 1000.0, self.mem_slope * 1000.0


@dataclass(frozen=True)
class HPAContext:
    """What the replay needs about one HPA and its workload."""

    spec: HPASpec
    workload: tuple[str, str, str]
    pod_name: str
    pod_spec: PodSpec
    """The newest pod's spec: what the controller divides by."""
    app: str
    """The primary app container."""
    apps: tuple[str, ...]
    """Every app container, the primary first."""
    sidecars: tuple[str, ...]
    lines: dict[str, UsageLine]
    p90: dict[str, tuple[float, float]]
    typical_app_cores: float
    vpa_requests: dict[str, dict[str, str]] = field(default_factory=dict)
    template: Mapping[str, Any] | None = None
    """The workload's ``spec.template`` as in the snapshot, for the patch builders (None: a bare pod, or
    rebuilt without one)."""
    scaled_object: Mapping[str, Any] | None = None
    """The KEDA ScaledObject that generates this HPA as collected (for its patch builder), when the snapshot
    has it."""
    observed_conditions: dict[str, tuple[str, str]] = field(default_factory=dict)
    """The HPA's ``status.conditions`` in the snapshot: type -> (status, reason; "" when not recorded)."""


@dataclass(frozen=True)
class ViewColumn:
    """One replay column: an HPA under a view, the metrics it replays and what the view changed."""

    hpa: int
    view: str
    metrics: tuple[MetricSpec, ...]
    pod_spec: PodSpec
    counted: tuple[tuple[str, ...], ...]
    change: dict[str, Any] = field(default_factory=dict)


def hpa_contexts(
    snapshot: Snapshot,
    classes: pd.DataFrame,
    containers: pd.DataFrame,
    overhead: pd.DataFrame,
    hpas: Sequence[HPAObject],
    vpa_requests: Callable[[tuple[str, str, str]], dict[str, dict[str, str]]] | None = None,
) -> tuple[list[HPAContext], pd.DataFrame]:
    """A context per replayable HPA of ``hpas`` (:func:`~analyzer.simulate.hpa_spec.parse_hpas`), and
    (namespace, hpa, reason) for those that cannot be replayed.

    ``vpa_requests`` gives, per workload, the requests its VPA would set (for the ``vpa-requests`` view).
    """
    newest = newest_pods(snapshot, classes)
    gone = {k for k, pod in newest.items() if pod.deletion is not None}
    containers_of = records_by(containers, WORKLOAD_KEY)
    fits = {
        (ns, kind, w, c, res): (b, s)
        for ns, kind, w, c, res, b, s in zip(
            *(overhead[col] for col in (*WORKLOAD_KEY, "container", "resource", "base", "slope")), strict=True
        )
    }
    contexts, skipped = [], []
    for hpa in hpas:
        ns, name, spec = hpa.namespace, hpa.name, hpa.spec
        if spec is None:
            skipped.append((ns, name, f"invalid HPA: {hpa.invalid}"))
            continue
        key = (ns, spec.target_kind, spec.target_name)
        source = snapshot.scaled_objects.get((ns, spec.scaled_object)) if spec.scaled_object else None
        if source is not None and source.invalid:
            skipped.append((ns, name, f"invalid ScaledObject: {source.invalid}"))
            continue
        if source is not None and source.app_targets:  # KEDA's HPA: the intent is recorded on its source
            spec = replace(spec, app_targets=source.app_targets)
        if not spec.metrics:
            skipped.append((ns, name, "no Resource or ContainerResource metric to replay"))
            continue
        if key not in newest or key in gone:
            skipped.append((ns, name, f"no pods of {spec.target_kind}/{spec.target_name} in the snapshot"))
            continue
        mine = containers_of.get(key, [])
        apps = [r for r in mine if r["role"] == Role.APP]
        if not apps or all(math.isnan(r["cpu_mean_cores"]) for r in apps):
            skipped.append((ns, name, f"no usage data for the app container of {spec.target_kind}/{spec.target_name}"))
            continue
        apps.sort(key=lambda r: not r["primary"])
        app_names = tuple(str(r["container"]) for r in apps)
        workload = snapshot.workload_map.get(key)
        contexts.append(
            HPAContext(
                spec=spec,
                workload=key,
                pod_name=newest[key].name,
                pod_spec=newest[key].spec,
                app=app_names[0],
                apps=app_names,
                sidecars=tuple(r["container"] for r in mine if r["role"] == Role.SIDECAR),
                lines=_lines(key, mine, fits, app_names),
                p90={r["container"]: (float(r["cpu_p90_cores"]), float(r["memory_p90_bytes"])) for r in mine},
                typical_app_cores=_typical_app_cores(spec, apps),
                vpa_requests=vpa_requests(key) if vpa_requests else {},
                template=None if workload is None else workload.template_raw,
                scaled_object=None if source is None else source.raw,
                observed_conditions=hpa.conditions,
            )
        )
    return contexts, pd.DataFrame(skipped, columns=["namespace", "hpa", "reason"])


def _lines(
    key: tuple[str, str, str],
    mine: list[dict[str, Any]],
    fits: dict[tuple[str, ...], tuple[float, float]],
    apps: tuple[str, ...],
) -> dict[str, UsageLine]:
    """Each container's usage line, from its workload's ``fits`` (a flat mean where there is none).

    The regressor is the pod's app CPU: a lone app container's CPU line is the identity; with several,
    each has its fitted line, or where it has none its share of the app containers' mean CPU.
    """
    means = {r["container"]: float(r["cpu_mean_cores"]) for r in mine if r["container"] in apps}
    app_total = sum(v for v in means.values() if not math.isnan(v))
    lines = {}
    for r in mine:
        c = r["container"]

        def fit(resource: str, mean: float, c: str = c) -> tuple[float, float]:
            found = fits.get((*key, c, resource))
            if found is not None:
                return float(found[0]), float(found[1])
            return (0.0 if math.isnan(mean) else mean), 0.0

        mem = fit("memory", float(r["memory_mean_bytes"]))
        if c in apps and (len(apps) == 1 or (*key, c, "cpu") not in fits):
            share = means[c] / app_total if len(apps) > 1 and app_total > 0 and not math.isnan(means[c]) else 1.0
            cpu = (0.0, share if len(apps) > 1 else 1.0)
        else:
            cpu = fit("cpu", float(r["cpu_mean_cores"]))
        lines[c] = UsageLine(cpu[0], cpu[1], mem[0], mem[1])
    return lines


def _typical_app_cores(spec: HPASpec, app_rows: list[dict[str, Any]]) -> float:
    """``a*``: app CPU per pod where an app-only CPU Utilization HPA settles (its target times the app
    containers' summed request), else the observed mean."""
    request = sum(float(r["cpu_request_cores"]) for r in app_rows)
    for m in spec.metrics:
        if m.resource == "cpu" and m.is_utilization and not math.isnan(request):
            return spec.app_target(m) / 100.0 * request
    return float(np.nansum([float(r["cpu_mean_cores"]) for r in app_rows]))


def view_columns(ctx: HPAContext, hpa: int, version: KubeVersion) -> list[ViewColumn]:
    """The columns of one HPA: as-deployed and app-only always, the remedies where they apply.

    ``app-only`` counts every app container. ContainerResource names one container, so where a pod has
    several app containers the ``container-resource`` remedy (the primary alone) is replayed as a view
    of its own; with one app container the two are the same replay.
    """
    steady = (*ctx.apps, *ctx.sidecars)
    deployed = tuple((m.container,) if m.container else steady for m in ctx.spec.metrics)
    app_metrics = tuple(
        replace(m, type="ContainerResource", container=ctx.app, target=ctx.spec.app_target(m))
        if m.container is None
        else m
        for m in ctx.spec.metrics
    )
    app_counted = tuple(ctx.apps if m.container is None else (m.container,) for m in ctx.spec.metrics)
    cols = []
    if ctx.vpa_requests:
        spec = ctx.pod_spec.with_requests(ctx.vpa_requests)
        cols.append(
            ViewColumn(hpa, View.VPA_REQUESTS, ctx.spec.metrics, spec, deployed, {"requests": ctx.vpa_requests})
        )
    cols += [
        ViewColumn(hpa, View.AS_DEPLOYED, ctx.spec.metrics, ctx.pod_spec, deployed),
        ViewColumn(
            hpa,
            View.APP_ONLY,
            app_metrics,
            ctx.pod_spec,
            app_counted,
            {"metrics": app_metrics},
        ),
    ]
    if len(ctx.apps) > 1:
        only = tuple((m.container,) for m in app_metrics)
        cols.append(ViewColumn(hpa, View.CONTAINER_RESOURCE, app_metrics, ctx.pod_spec, only, {"metrics": app_metrics}))
    if not any(m.container is None or m.container in ctx.sidecars for m in ctx.spec.metrics) or not ctx.sidecars:
        return cols  # no metric counts a sidecar: nothing to remedy
    resource_util = [i for i, m in enumerate(ctx.spec.metrics) if m.container is None and m.is_utilization]
    if resource_util and all(
        pod_request(ctx.pod_spec, ctx.pod_name, ctx.spec.metrics[i].resource, version).error is None
        for i in resource_util
    ):
        retargeted = tuple(
            replace(m, target=retarget(ctx, m, version)) if i in resource_util else m
            for i, m in enumerate(ctx.spec.metrics)
        )
        cols.append(ViewColumn(hpa, View.RETARGET, retargeted, ctx.pod_spec, deployed, {"metrics": retargeted}))
    requests, spec = sidecar_p90_requests(ctx)
    cols.append(ViewColumn(hpa, View.SIDECAR_REQUESTS, ctx.spec.metrics, spec, deployed, {"requests": requests}))
    average = [i for i, m in enumerate(ctx.spec.metrics) if m.container is None and not m.is_utilization]
    if average:
        raised = tuple(
            replace(m, target=m.target + round(_sidecar_usage_m(ctx, m.resource))) if i in average else m
            for i, m in enumerate(ctx.spec.metrics)
        )
        cols.append(ViewColumn(hpa, View.AVERAGE_VALUE, raised, ctx.pod_spec, deployed, {"metrics": raised}))
    return cols


def _sidecar_usage_m(ctx: HPAContext, resource: str) -> float:
    a = ctx.typical_app_cores
    return sum(b + s * a for b, s in (ctx.lines[c].at(resource) for c in ctx.sidecars))


def retarget(ctx: HPAContext, metric: MetricSpec, version: KubeVersion) -> int:
    """The pod-level utilization target that equals the app's at ``a*``: T × (pod util / app util), rounded,
    T the app's target (:meth:`~analyzer.simulate.hpa_spec.HPASpec.app_target`: the one recorded when the
    HPA was retargeted before, else the metric's)."""
    a = ctx.typical_app_cores
    pod_value = sum(b + s * a for b, s in (ctx.lines[c].at(metric.resource) for c in (*ctx.apps, *ctx.sidecars)))
    app_value = sum(b + s * a for b, s in (ctx.lines[c].at(metric.resource) for c in ctx.apps))
    pod_req = pod_request(ctx.pod_spec, ctx.pod_name, metric.resource, version).milli
    app_req = containers_request(ctx.pod_spec, ctx.pod_name, metric.resource, version, ctx.apps).milli
    if app_value <= 0 or pod_req <= 0 or app_req <= 0:
        return metric.target
    return max(1, round(ctx.spec.app_target(metric) * (pod_value / pod_req) / (app_value / app_req)))


def sidecar_p90_requests(ctx: HPAContext) -> tuple[dict[str, dict[str, str]], PodSpec]:
    """Every sidecar's requests set to its p90 usage (CPU rounded up to 1m, memory to 1Mi), and the new pod spec;
    a sidecar without usage in the snapshot keeps its requests."""
    requests: dict[str, dict[str, str]] = {}
    for c in (*ctx.pod_spec.containers, *ctx.pod_spec.init_containers):
        if c.name not in ctx.sidecars:
            continue
        cpu, mem = ctx.p90[c.name]
        if math.isnan(cpu) or math.isnan(mem):
            continue  # no usage of this sidecar in the snapshot: nothing to size its request from
        requests[c.name] = p90_request(cpu, mem)
    return requests, ctx.pod_spec.with_requests(requests)


def p90_request(cpu_cores: float, memory_bytes: float) -> dict[str, str]:
    """A sidecar's requests sized from its p90 usage: CPU rounded up to 1m, memory up to 1Mi (at least one)."""
    return {"cpu": f"{max(1, math.ceil(cpu_cores * 1000))}m", "memory": f"{max(1, math.ceil(memory_bytes / MIB))}Mi"}
