"""Run synthetic workloads through time: traffic -> per-pod usage -> the HPA controller -> pods.

The loop steps over HPA syncs (15 s) with arrays over (workload, pod slot, container); usage is
sampled at every metrics-server scrape (the snapshot step) and the HPA reads exactly those
samples, so the recorded replicas are what the controller would have decided on the recorded data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from analyzer.simulate import hpa_calculator as calc
from analyzer.simulate.hpa_behavior import ControllerFlags
from analyzer.simulate.hpa_normalize import Normalizer
from analyzer.simulate.hpa_spec import HPASpec, parse_hpa
from analyzer.simulate.kube_version import KubeVersion
from analyzer.simulate.pod_lifecycle import Lifecycle, pod_states
from analyzer.simulate.pod_requests import pod_request
from analyzer.synth import manifests
from analyzer.synth.scenarios import Scenario
from analyzer.units import milli

STARTUP_APP_CPU = 0.05
"""Cores an app uses while starting, before it serves traffic."""
WARMUP_S = 7200.0


@dataclass(frozen=True)
class SimResult:
    """Everything the loop produced. Usage rows index into ``pod_names``/``containers``."""

    scrape_times: npt.NDArray[np.float64]
    rps: npt.NDArray[np.float64]
    replicas: npt.NDArray[np.int64]
    stalled: npt.NDArray[np.bool_]
    row_time: npt.NDArray[np.int64]
    row_pod: npt.NDArray[np.int64]
    row_container: npt.NDArray[np.int64]
    row_cpu: npt.NDArray[np.float64]
    row_mem: npt.NDArray[np.float64]
    pod_workload: list[int]
    pod_names: list[str]
    pod_created: list[float]
    pod_deleted: list[float]
    container_names: list[list[str]]
    hpas: dict[int, HPASpec]


def simulate(
    scenarios: list[Scenario],
    start_s: float,
    n_scrapes: int,
    step_s: float,
    rng: np.random.Generator,
    version: KubeVersion,
    flags: ControllerFlags,
) -> SimResult:
    """Simulate ``n_scrapes`` scrapes from ``start_s`` after a two-hour warm-up that is not recorded."""
    life = Lifecycle(scrape_s=step_s)
    n_w = len(scenarios)
    names = [[s.workload, *(c.name for c in s.sidecars)] for s in scenarios]
    n_c = max(len(n) for n in names)
    present = np.zeros((n_w, n_c), dtype=bool)
    cpu_base = np.zeros((n_w, n_c))
    cpu_slope = np.zeros((n_w, n_c))
    mem_base = np.zeros((n_w, n_c))
    mem_slope = np.zeros((n_w, n_c))
    for w, s in enumerate(scenarios):
        present[w, : len(names[w])] = True
        for c, side in enumerate(s.sidecars, start=1):
            cpu_base[w, c], cpu_slope[w, c] = side.cpu_base, side.cpu_slope
            mem_base[w, c], mem_slope[w, c] = side.mem_base, side.mem_slope
    cpu_per_rps = np.array([s.cpu_per_rps for s in scenarios])
    app_mem_base = np.array([s.app_mem_base for s in scenarios])
    app_mem_per_rps = np.array([s.app_mem_per_rps for s in scenarios])

    hpa_rows = [w for w, s in enumerate(scenarios) if s.hpa is not None]
    hpas = {w: parse_hpa(manifests.hpa_object(scenarios[w], "") or {}, version, flags) for w in hpa_rows}
    n_m = max([len(h.metrics) for h in hpas.values()] or [1])
    n_h = len(hpa_rows)
    active = np.zeros((n_m, n_h), dtype=bool)
    counted = np.zeros((n_m, n_h, n_c), dtype=bool)
    is_cpu = np.ones((n_m, n_h), dtype=bool)
    target = np.ones((n_m, n_h), dtype=np.int64)
    is_util = np.ones((n_m, n_h), dtype=bool)
    request_m = np.zeros((n_m, n_h), dtype=np.int64)
    missing_request = np.zeros((n_m, n_h), dtype=bool)
    for j, w in enumerate(hpa_rows):
        spec, _ = manifests.pod_spec_and_annotations(scenarios[w])
        for m, metric in enumerate(hpas[w].metrics):
            active[m, j] = True
            is_cpu[m, j] = metric.resource == "cpu"
            target[m, j] = metric.target
            is_util[m, j] = metric.is_utilization
            if metric.container is None:
                counted[m, j] = present[w]
            else:
                counted[m, j, names[w].index(metric.container)] = True
            req = pod_request(spec, "pod", metric.resource, version, metric.container)
            request_m[m, j], missing_request[m, j] = req.milli, req.error is not None
    normalizer = Normalizer([hpas[w].scaling for w in hpa_rows], flags)
    tol_up = np.array([hpas[w].tol_up for w in hpa_rows])
    tol_down = np.array([hpas[w].tol_down for w in hpa_rows])

    initial = np.array(
        [
            min(max(s.replicas, (s.hpa or {}).get("minReplicas", 1)), (s.hpa or {}).get("maxReplicas", s.replicas))
            for s in scenarios
        ]
    )
    n_slots = int(max([s.hpa["maxReplicas"] if s.hpa else s.replicas for s in scenarios] + [int(initial.max())]))
    created = np.full((n_w, n_slots), np.nan)
    pod_index = np.full((n_w, n_slots), -1, dtype=np.int64)
    pod_workload: list[int] = []
    pod_names: list[str] = []
    pod_created: list[float] = []
    pod_deleted: list[float] = []
    sts = np.array([s.kind == "StatefulSet" for s in scenarios])
    warm_start = start_s - WARMUP_S

    def new_pod(w: int, slot: int, now: float) -> None:
        s = scenarios[w]
        if s.kind == "StatefulSet":
            name = f"{s.workload}-{slot}"
        else:
            suffix = "".join(rng.choice(list("bcdfghjklmnpqrstvwxz2456789"), 5))
            name = f"{s.workload}-{manifests.template_hash(s)}-{suffix}"
        created[w, slot] = now
        pod_index[w, slot] = len(pod_names)
        pod_workload.append(w)
        pod_names.append(name)
        pod_created.append(now)
        pod_deleted.append(np.nan)

    for w in range(n_w):
        for slot in range(initial[w]):
            new_pod(w, slot, warm_start - 86400.0 - float(rng.integers(0, 86400 // 15)) * 15)

    sync_s = flags.sync_period_s
    per_scrape = round(step_s / sync_s)
    if per_scrape * sync_s != step_s:
        raise ValueError(f"step {step_s}s must be a multiple of the HPA sync period {sync_s}s")
    warm_scrapes = int(WARMUP_S // step_s)
    all_scrapes = warm_scrapes + n_scrapes
    scrape_times = warm_start + step_s * np.arange(all_scrapes)
    rps = calc_rps = _rates(scrape_times, scenarios, rng)
    last_cpu = np.zeros((n_w, n_slots, n_c))
    last_mem = np.zeros((n_w, n_slots, n_c))
    replicas_out = np.zeros((n_scrapes, n_w), dtype=np.int64)
    stalled_out = np.zeros((n_scrapes, n_w), dtype=bool)
    rows: dict[str, list[npt.NDArray[np.generic]]] = {k: [] for k in ("t", "pod", "c", "cpu", "mem")}
    current = initial.astype(np.int64).copy()
    stalled_now = np.zeros(n_w, dtype=bool)

    for k in range(all_scrapes * per_scrape):
        now = warm_start + k * sync_s
        if k % per_scrape == 0:
            i = k // per_scrape
            st = pod_states(created, now, life, flags)
            n_serving = np.maximum(st.serving.sum(axis=1), 1)
            share = rng.normal(1.0, 0.06, (n_w, n_slots)) * st.serving
            share *= st.serving.sum(axis=1, keepdims=True) / np.maximum(share.sum(axis=1, keepdims=True), 1e-9)
            app_cpu = np.where(
                st.serving, calc_rps[i][:, None] * cpu_per_rps[:, None] / n_serving[:, None] * share, STARTUP_APP_CPU
            )
            rps_pod = np.where(st.serving, calc_rps[i][:, None] / n_serving[:, None] * share, 0.0)
            noise = rng.normal(1.0, 0.04, (n_w, n_slots, n_c))
            cpu = (cpu_base[:, None, :] + cpu_slope[:, None, :] * app_cpu[:, :, None]) * noise
            mem = (mem_base[:, None, :] + mem_slope[:, None, :] * app_cpu[:, :, None]) * rng.normal(
                1.0, 0.01, noise.shape
            )
            cpu[:, :, 0] = app_cpu * rng.normal(1.0, 0.02, (n_w, n_slots))
            mem[:, :, 0] = (app_mem_base[:, None] + app_mem_per_rps[:, None] * rps_pod) * rng.normal(
                1.0, 0.01, (n_w, n_slots)
            )
            cpu = np.round(np.maximum(cpu, 0.0), 5) * present[:, None, :]
            mem = np.round(np.maximum(mem, 0.0) / 4096) * 4096 * present[:, None, :]
            last_cpu, last_mem = cpu, mem
            if i >= warm_scrapes:
                r = i - warm_scrapes
                ws, ss, cs = np.nonzero(st.running[:, :, None] & present[:, None, :])
                rows["t"].append(np.full(len(ws), r, dtype=np.int64))
                rows["pod"].append(pod_index[ws, ss])
                rows["c"].append(cs)
                rows["cpu"].append(cpu[ws, ss, cs])
                rows["mem"].append(mem[ws, ss, cs])
                replicas_out[r] = current
                stalled_out[r] = stalled_now
        if not hpa_rows:
            continue
        st = pod_states(created, now, life, flags)
        rows_h = np.array(hpa_rows)
        props = np.zeros((n_m, n_h), dtype=np.int64)
        errs = np.zeros((n_m, n_h), dtype=np.int64)
        for m in range(n_m):
            usage = np.where(is_cpu[m][:, None, None], milli(last_cpu[rows_h]), milli(last_mem[rows_h]))
            per_pod = (usage * counted[m][:, None, :]).sum(axis=2)
            ready = np.where(is_cpu[m][:, None], st.cpu_ready[rows_h], st.mem_ready[rows_h])
            unready = np.where(is_cpu[m][:, None], st.cpu_unready[rows_h], st.unready_pending[rows_h])
            groups = calc.PodGroups(
                total=st.exists[rows_h].sum(axis=1),
                ready=ready.sum(axis=1),
                unready=unready.sum(axis=1),
                missing=st.missing[rows_h].sum(axis=1),
                with_metrics=st.has_metric[rows_h].sum(axis=1),
                ready_usage_m=(per_pod * ready).sum(axis=1),
                pod_request_m=request_m[m],
            )
            p = calc.replicas_for_metric(
                groups,
                current[rows_h],
                target[m],
                is_util[m],
                tol_down,
                tol_up,
                missing_request[m],
                version.missing_pod_fallback_is_max_target,
            )
            props[m], errs[m] = p.replicas, p.error
        proposal, first_error = calc.combine_metrics(props, errs, current[rows_h], active)
        stalled_now[rows_h] = first_error != 0
        desired = normalizer.step(now, current[rows_h], proposal)
        for j in np.nonzero(desired != current[rows_h])[0]:
            w = hpa_rows[j]
            _resize(w, int(desired[j]), now, created, pod_index, pod_deleted, sts[w], new_pod)
            current[w] = desired[j]

    def cat(key: str, dtype: type) -> npt.NDArray[np.generic]:
        return np.concatenate(rows[key]).astype(dtype) if rows[key] else np.zeros(0, dtype=dtype)

    return SimResult(
        scrape_times=scrape_times[warm_scrapes:],
        rps=rps[warm_scrapes:],
        replicas=replicas_out,
        stalled=stalled_out,
        row_time=cat("t", np.int64),
        row_pod=cat("pod", np.int64),
        row_container=cat("c", np.int64),
        row_cpu=cat("cpu", np.float64),
        row_mem=cat("mem", np.float64),
        pod_workload=pod_workload,
        pod_names=pod_names,
        pod_created=pod_created,
        pod_deleted=pod_deleted,
        container_names=names,
        hpas=hpas,
    )


def _rates(
    times: npt.NDArray[np.float64], scenarios: list[Scenario], rng: np.random.Generator
) -> npt.NDArray[np.float64]:
    from analyzer.synth.traffic import request_rates

    return request_rates(times, np.array([s.peak_rps for s in scenarios]), rng)


def _resize(w, desired, now, created, pod_index, pod_deleted, is_sts, new_pod) -> None:  # type: ignore[no-untyped-def]
    """Create pods in free slots, or delete the youngest (a StatefulSet: the highest ordinals)."""
    alive = ~np.isnan(created[w])
    count = int(alive.sum())
    if desired > count:
        for slot in np.nonzero(~alive)[0][: desired - count]:
            new_pod(w, int(slot), now)
    elif desired < count:
        rank = np.where(alive, np.arange(created.shape[1]) if is_sts else created[w], -np.inf)
        for slot in np.argsort(-rank, kind="stable")[: count - desired]:
            pod_deleted[pod_index[w, slot]] = now
            created[w, slot] = np.nan
            pod_index[w, slot] = -1
