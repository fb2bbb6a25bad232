"""Run synthetic workloads through time: traffic -> per-pod usage -> the HPA controller -> pods.

The loop steps over HPA syncs (15 s) with arrays over (workload, pod slot, container); usage is
sampled at every metrics-server scrape (the snapshot step) and the HPA reads exactly those
samples, so the recorded replicas are what the controller would have decided on the recorded data.
"""

from __future__ import annotations

import os
import zlib
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt

from analyzer.simulate import hpa_controller
from analyzer.simulate.hpa_conditions import REASON_TEXT, Reason
from analyzer.simulate.hpa_spec import ControllerFlags, HPASpec, hpa_spec
from analyzer.simulate.kube_version import KubeVersion
from analyzer.simulate.pod_lifecycle import Lifecycle, PodStates, pod_states
from analyzer.simulate.pod_requests import containers_request, pod_request
from analyzer.snapshot.hpa import parse_hpa
from analyzer.snapshot.kube import parse_pod_spec
from analyzer.synth import manifests
from analyzer.synth.scenarios import Scenario
from analyzer.synth.traffic import request_rates
from analyzer.units import milli, parse_quantity

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

STARTUP_APP_CPU = 0.05
"""Cores an app uses while starting, before it serves traffic."""
WARMUP_S = 7200.0
_NAME_ALPHABET = list("bcdfghjklmnpqrstvwxz2456789")


@dataclass(frozen=True)
class SimResult:
    """Everything the loop produced. Usage rows index into ``pod_names``/``container_names``.

    ``metric_error`` holds, per scrape and workload, the HPA's first :class:`MetricError` (0: none).
    ``conditions`` holds, per HPA workload, its (AbleToScale, ScalingActive, ScalingLimited) reason codes
    after the last sync and when each condition's status last changed (s).
    """

    scrape_times: FloatArray
    rps: FloatArray
    replicas: IntArray
    metric_error: IntArray
    row_time: IntArray
    row_pod: IntArray
    row_container: IntArray
    row_cpu: FloatArray
    row_mem: FloatArray
    pod_workload: list[int]
    pod_names: list[str]
    pod_created: list[float]
    pod_deleted: list[float]
    container_names: list[list[str]]
    hpas: dict[int, HPASpec]
    conditions: dict[int, tuple[tuple[int, float], ...]]
    container_ready_s: list[FloatArray] = field(default_factory=list)
    """Per pod: each container's readiness, seconds after the pod started (``container_names`` order)."""
    pod_ready_s: list[float] = field(default_factory=list)
    """Per pod: when its Ready condition turned True, seconds after it started."""
    failures: list[list[Failure]] = field(default_factory=list)
    """Per pod: its sidecars' failures, in time order."""
    missing_scrapes: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    """Per workload: recorded scrapes at which one of its pods had no metric because a sidecar came back."""


@dataclass(frozen=True)
class Failure:
    """A sidecar down from ``down_s`` to ``up_s`` (it then restarts), terminated with ``reason``/``exit_code``."""

    container: int
    down_s: float
    up_s: float
    reason: str
    exit_code: int


@dataclass(frozen=True)
class _UsageModel:
    """True usage per (workload, container): app from traffic, sidecars ``base + slope × app CPU``."""

    present: BoolArray
    cpu_base: FloatArray
    cpu_slope: FloatArray
    mem_base: FloatArray
    mem_slope: FloatArray
    cpu_per_rps: FloatArray
    app_mem_base: FloatArray
    app_mem_per_rps: FloatArray

    @classmethod
    def of(cls, scenarios: list[Scenario], n_c: int) -> _UsageModel:
        n_w = len(scenarios)
        arrays = {k: np.zeros((n_w, n_c)) for k in ("cpu_base", "cpu_slope", "mem_base", "mem_slope")}
        present = np.zeros((n_w, n_c), dtype=bool)
        for w, s in enumerate(scenarios):
            present[w, : 1 + len(s.sidecars)] = True
            for c, side in enumerate(s.sidecars, start=1):
                arrays["cpu_base"][w, c], arrays["cpu_slope"][w, c] = side.cpu_base, side.cpu_slope
                arrays["mem_base"][w, c], arrays["mem_slope"][w, c] = side.mem_base, side.mem_slope
        return cls(
            present=present,
            cpu_per_rps=np.array([s.cpu_per_rps for s in scenarios]),
            app_mem_base=np.array([s.app_mem_base for s in scenarios]),
            app_mem_per_rps=np.array([s.app_mem_per_rps for s in scenarios]),
            **arrays,
        )

    def sample(
        self, rps: FloatArray, st: PodStates, rng: np.random.Generator, idle: BoolArray | None = None
    ) -> tuple[FloatArray, FloatArray]:
        """CPU cores and memory bytes per (workload, slot, container) at one scrape, noise included.

        The workload's traffic is spread over its serving pods with per-pod imbalance that sums to
        zero; pods that run but do not serve yet use :data:`STARTUP_APP_CPU`; pods ``idle`` marks (out of
        service while a sidecar is down, their app long started) serve nothing and their app idles.
        """
        n_w, n_slots = st.serving.shape
        serving_count = st.serving.sum(axis=1, keepdims=True)
        share = rng.normal(1.0, 0.06, (n_w, n_slots)) * st.serving
        share *= serving_count / np.maximum(share.sum(axis=1, keepdims=True), 1e-9)
        rps_pod = np.where(st.serving, rps[:, None] / np.maximum(serving_count, 1) * share, 0.0)
        app_cpu = np.where(st.serving, rps_pod * self.cpu_per_rps[:, None], STARTUP_APP_CPU)
        if idle is not None:
            app_cpu = np.where(idle & ~st.serving, 0.0, app_cpu)
        noise = rng.normal(1.0, 0.04, (n_w, n_slots, self.present.shape[1]))
        cpu = (self.cpu_base[:, None, :] + self.cpu_slope[:, None, :] * app_cpu[:, :, None]) * noise
        mem = (self.mem_base[:, None, :] + self.mem_slope[:, None, :] * app_cpu[:, :, None]) * rng.normal(
            1.0, 0.01, noise.shape
        )
        cpu[:, :, 0] = app_cpu * rng.normal(1.0, 0.02, (n_w, n_slots))
        mem[:, :, 0] = (self.app_mem_base[:, None] + self.app_mem_per_rps[:, None] * rps_pod) * rng.normal(
            1.0, 0.01, (n_w, n_slots)
        )
        cpu = np.round(np.maximum(cpu, 0.0), 5) * self.present[:, None, :]
        mem = np.round(np.maximum(mem, 0.0) / 4096) * 4096 * self.present[:, None, :]
        return cpu, mem


@dataclass(frozen=True)
class _HPAArrays:
    """The HPA workloads' metrics as (metric, HPA) arrays; HPAs with fewer metrics are padded (``active``)."""

    rows: IntArray
    specs: dict[int, HPASpec]
    active: BoolArray
    counted: BoolArray
    is_cpu: BoolArray
    is_util: BoolArray
    target: IntArray
    request_m: IntArray
    missing_request: BoolArray
    tol_up: FloatArray
    tol_down: FloatArray

    @classmethod
    def of(
        cls,
        scenarios: list[Scenario],
        names: list[list[str]],
        n_c: int,
        version: KubeVersion,
        flags: ControllerFlags,
        app_only: bool = False,
    ) -> _HPAArrays:
        """``app_only``: each Resource metric counts the app containers alone (usage and requests), the
        truth of the app-only counterfactual; with one app container it is ContainerResource on it."""
        rows = [w for w, s in enumerate(scenarios) if s.hpa is not None]
        specs = {w: hpa_spec(parse_hpa(manifests.hpa_object(scenarios[w], "") or {}), version, flags) for w in rows}
        shape = (max([len(h.metrics) for h in specs.values()] or [1]), len(rows))
        a = cls(
            rows=np.array(rows, dtype=np.int64),
            specs=specs,
            active=np.zeros(shape, dtype=bool),
            counted=np.zeros((*shape, n_c), dtype=bool),
            is_cpu=np.ones(shape, dtype=bool),
            is_util=np.ones(shape, dtype=bool),
            target=np.ones(shape, dtype=np.int64),
            request_m=np.zeros(shape, dtype=np.int64),
            missing_request=np.zeros(shape, dtype=bool),
            tol_up=np.array([specs[w].tol_up for w in rows]),
            tol_down=np.array([specs[w].tol_down for w in rows]),
        )
        for j, w in enumerate(rows):
            pod_spec = parse_pod_spec(manifests.pod_spec_and_annotations(scenarios[w])[0])
            for m, metric in enumerate(specs[w].metrics):
                a.active[m, j] = True
                a.is_cpu[m, j] = metric.resource == "cpu"
                a.is_util[m, j] = metric.is_utilization
                a.target[m, j] = metric.target
                if metric.container is not None:
                    counted: tuple[str, ...] | None = (metric.container,)
                else:
                    counted = scenarios[w].app_containers if app_only else None
                if counted is None:
                    a.counted[m, j, : len(names[w])] = True
                    req = pod_request(pod_spec, "pod", metric.resource, version)
                else:
                    a.counted[m, j, [names[w].index(c) for c in counted]] = True
                    req = containers_request(pod_spec, "pod", metric.resource, version, counted)
                a.request_m[m, j], a.missing_request[m, j] = req.milli, req.error is not None
        return a

    def metric_per_pod(self, cpu: FloatArray, mem: FloatArray) -> IntArray:
        """Each metric's value per (metric, HPA, slot) in milli-units: counted containers' ``MilliValue()`` summed."""
        cpu_m, mem_m = milli(cpu[self.rows]), milli(mem[self.rows])
        usage = np.where(self.is_cpu[:, :, None, None], cpu_m[None], mem_m[None])
        return (usage * self.counted[:, :, None, :]).sum(axis=3)

    def proposals(
        self, per_pod: IntArray, st: PodStates, current: IntArray, version: KubeVersion
    ) -> tuple[IntArray, IntArray]:
        """Combined proposal and first error per HPA at one sync (``computeReplicasForMetrics``)."""
        props = np.zeros(self.active.shape, dtype=np.int64)
        errs = np.zeros(self.active.shape, dtype=np.int64)
        exists, missing, has_metric = (x[self.rows] for x in (st.exists, st.missing, st.has_metric))
        for m in range(self.active.shape[0]):
            cpu = self.is_cpu[m][:, None]
            ready = np.where(cpu, st.cpu_ready[self.rows], st.mem_ready[self.rows])
            unready = np.where(cpu, st.cpu_unready[self.rows], st.unready_pending[self.rows])
            props[m], _, errs[m] = hpa_controller.metric_replicas(
                exists.sum(axis=1), ready.sum(axis=1), unready.sum(axis=1), missing.sum(axis=1),
                has_metric.sum(axis=1), (per_pod[m] * ready).sum(axis=1), self.request_m[m], self.target[m],
                self.is_util[m], self.missing_request[m], self.tol_down, self.tol_up, current,
                version.missing_pod_fallback_is_max_target,
            )  # fmt: skip
        return hpa_controller.combine_metrics(props, errs, current, self.active)


@dataclass
class _Pods:
    """Pod slots per workload (creation time, NaN when empty; readiness after start) and the registry of
    every pod ever made. ``healthy_sidecars``: pods turn Ready with their app containers, whatever their
    sidecars do (the truth of the sidecars-never-failing counterfactual)."""

    scenarios: list[Scenario]
    rng: np.random.Generator
    created: FloatArray
    index: IntArray
    ready_delay: FloatArray
    app_ready_s: float
    healthy_sidecars: bool = False
    workload: list[int] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    created_at: list[float] = field(default_factory=list)
    deleted_at: list[float] = field(default_factory=list)
    container_ready: list[FloatArray] = field(default_factory=list)
    pod_ready: list[float] = field(default_factory=list)
    failures: list[list[Failure]] = field(default_factory=list)
    end_s: float = 0.0
    name_rng: np.random.Generator | None = None
    """Where pod names are drawn (default ``rng``): a batch with failing or late sidecars draws them from a
    stream of their own, so its run with healthy sidecars, which makes pods at other times, draws the same
    usage noise: the two runs differ by the failures' effect alone."""

    def create(self, w: int, slot: int, now: float) -> None:
        s = self.scenarios[w]
        if s.kind == "StatefulSet":
            name = f"{s.workload}-{slot}"
        else:
            name = f"{s.workload}-{manifests.template_hash(s)}-{''.join(self._names.choice(_NAME_ALPHABET, 5))}"
        draws = np.random.default_rng(zlib.crc32(name.encode()))  # the pod's own stream: see _container_ready
        ready = self._container_ready(s, draws)
        app_failures = self._app_start_failures(s, now + 5.0, ready)
        self.created[w, slot] = now
        self.index[w, slot] = len(self.names)
        self.ready_delay[w, slot] = self.app_ready_s if self.healthy_sidecars else float(ready.max())
        self.workload.append(w)
        self.names.append(name)
        self.created_at.append(now)
        self.deleted_at.append(np.nan)
        self.container_ready.append(ready)
        self.pod_ready.append(float(self.ready_delay[w, slot]))
        self.failures.append(sorted(app_failures + self._failures(s, now + 5.0 + float(ready.max()), draws),
                                    key=lambda f: f.down_s))  # fmt: skip

    @property
    def _names(self) -> np.random.Generator:
        return self.name_rng or self.rng

    def _container_ready(self, s: Scenario, draws: np.random.Generator) -> FloatArray:
        """Each container's readiness after the pod starts: the app's, or a sidecar's draw from its range
        (``draws``: a stream of the pod's own, so the simulation's random stream is the same without it)."""
        ready = np.full(1 + len(s.sidecars), self.app_ready_s)
        for c, side in enumerate(s.sidecars, start=1):
            if side.ready_after_s is not None:
                ready[c] = max(self.app_ready_s, round(float(draws.uniform(*side.ready_after_s)), 1))
        return ready

    def _app_start_failures(self, s: Scenario, start_s: float, ready: FloatArray) -> list[Failure]:
        """The app's exits at start while its proxy is not up (``app_start_timeout_s``), each restarted after
        the kubelet's back-off (10 s, doubling); ``ready[0]`` becomes the app's readiness after its last start.
        None with healthy sidecars: the counterfactual proxy is up with the app."""
        if s.app_start_timeout_s is None or self.healthy_sidecars or len(ready) < 2:
            return []
        proxy_up, began, backoff, out = float(ready[1:].max()), 0.0, 10.0, []
        while began + s.app_start_timeout_s < proxy_up:
            down = began + s.app_start_timeout_s
            began = down + backoff
            out.append(Failure(0, round(start_s + down, 1), round(start_s + began, 1), "Error", 1))
            backoff = min(2 * backoff, 300.0)
        ready[0] = max(ready[0], began + self.app_ready_s)
        return out

    def _failures(self, s: Scenario, ready_s: float, draws: np.random.Generator) -> list[Failure]:
        """The pod's sidecar failures from its readiness to the end of the simulation (none when healthy)."""
        out = []
        for c, side in enumerate(s.sidecars, start=1):
            now = ready_s
            while side.failures_per_hour > 0:
                now += float(draws.exponential(3600.0 / side.failures_per_hour))
                if now >= self.end_s:
                    break
                up = now + float(draws.uniform(*side.failure_down_s))
                out.append(Failure(c, round(now, 1), round(up, 1), side.failure_reason, side.failure_exit_code))
                now = up
        return [] if self.healthy_sidecars else sorted(out, key=lambda f: f.down_s)

    def down(self, now: float, n_c: int) -> BoolArray:
        """(workload, slot, container): the sidecars down at ``now``."""
        out = np.zeros((*self.created.shape, n_c), dtype=bool)
        for w, slot in zip(*np.nonzero(self.index >= 0), strict=True):
            for f in self.failures[self.index[w, slot]]:
                if f.down_s > now:
                    break
                if now < f.up_s:
                    out[w, slot, f.container] = True
        return out

    def resize(self, w: int, desired: int, now: float) -> None:
        """Create pods in free slots, or delete the youngest (a StatefulSet: the highest ordinals)."""
        alive = ~np.isnan(self.created[w])
        count = int(alive.sum())
        if desired > count:
            for slot in np.nonzero(~alive)[0][: desired - count]:
                self.create(w, int(slot), now)
        elif desired < count:
            sts = self.scenarios[w].kind == "StatefulSet"
            rank = np.where(alive, np.arange(alive.size) if sts else self.created[w], -np.inf)
            for slot in np.argsort(-rank, kind="stable")[: count - desired]:
                self.deleted_at[self.index[w, slot]] = now
                self.created[w, slot] = np.nan
                self.index[w, slot] = -1


def simulate(
    scenarios: list[Scenario],
    start_s: float,
    n_scrapes: int,
    step_s: float,
    rng: np.random.Generator,
    version: KubeVersion,
    flags: ControllerFlags,
    app_only: bool = False,
    healthy_sidecars: bool = False,
) -> SimResult:
    """Simulate ``n_scrapes`` scrapes from ``start_s`` after a two-hour warm-up that is not recorded.

    ``app_only``: every HPA's Resource metrics count the app containers alone (see ``_HPAArrays.of``);
    ``healthy_sidecars``: every pod turns Ready with its app containers (see ``_Pods``).
    """
    sync_s = flags.sync_period_s
    per_scrape = round(step_s / sync_s)
    if per_scrape * sync_s != step_s:
        raise ValueError(f"step {step_s}s must be a multiple of the HPA sync period {sync_s}s")
    life = Lifecycle(scrape_s=step_s)
    n_w = len(scenarios)
    names = [[s.app_container, *(c.name for c in s.sidecars)] for s in scenarios]
    n_c = max(len(n) for n in names)
    model = _UsageModel.of(scenarios, n_c)
    hpas = _HPAArrays.of(scenarios, names, n_c, version, flags, app_only)
    controllers = hpa_controller.Controllers([hpas.specs[w].scaling for w in hpas.rows.tolist()], flags)

    initial = np.array([_initial_replicas(s) for s in scenarios], dtype=np.int64)
    n_slots = max([s.hpa["maxReplicas"] if s.hpa else s.replicas for s in scenarios] + [int(initial.max())])
    pods = _Pods(scenarios, rng, np.full((n_w, n_slots), np.nan), np.full((n_w, n_slots), -1, dtype=np.int64),
                 np.full((n_w, n_slots), life.ready_delay_s), life.ready_delay_s, healthy_sidecars,
                 end_s=start_s + n_scrapes * step_s,
                 name_rng=np.random.default_rng([7, 33]) if _has_failures(scenarios) else None)  # fmt: skip
    slow = any(c.ready_after_s for s in scenarios for c in s.sidecars) or _starts_in_order(scenarios)
    failing = not healthy_sidecars and (any(c.failures_per_hour for s in scenarios for c in s.sidecars)
                                        or _starts_in_order(scenarios))  # fmt: skip
    limits = np.full((n_w, n_c), np.inf)  # the memory limit of each sidecar that is OOM-killed
    for w, s in enumerate(scenarios):
        for c, side in enumerate(s.sidecars, start=1):
            if side.failure_reason == "OOMKilled" and side.limits and "memory" in side.limits:
                limits[w, c] = float(parse_quantity(side.limits["memory"]))
    down_before = np.zeros((n_w, n_slots, n_c), dtype=bool)
    relisted = np.zeros((n_w, n_slots), dtype=bool)
    missing_out = np.zeros(n_w, dtype=np.int64)
    warm_start = start_s - WARMUP_S
    for w in range(n_w):
        for slot in range(initial[w]):
            pods.create(w, slot, warm_start - 86400.0 - float(rng.integers(0, 86400 // 15)) * 15)

    warm_scrapes = int(WARMUP_S // step_s)
    all_scrapes = warm_scrapes + n_scrapes
    scrape_times = warm_start + step_s * np.arange(all_scrapes)
    rps = request_rates(scrape_times, np.array([s.peak_rps for s in scenarios]), rng)
    per_pod = np.zeros((*hpas.active.shape, n_slots), dtype=np.int64)
    replicas_out = np.zeros((n_scrapes, n_w), dtype=np.int64)
    error_out = np.zeros((n_scrapes, n_w), dtype=np.int64)
    rows: dict[str, list[npt.NDArray[np.generic]]] = {k: [] for k in ("t", "pod", "c", "cpu", "mem")}
    current = initial.copy()
    error_now = np.zeros(n_w, dtype=np.int64)
    is_true = np.array([REASON_TEXT.get(r, ("", "", ""))[1] == "True" for r in Reason])
    status = np.zeros((3, len(hpas.rows)), dtype=np.int8)  # 0 unset, 1 False, 2 True
    since = np.full((3, len(hpas.rows)), np.nan)

    for k in range(all_scrapes * per_scrape):
        now = warm_start + k * sync_s
        # Each pod's own readiness when some sidecar's differs (the masks cost no more either way).
        st = pod_states(pods.created, now, replace(life, ready_delay_s=pods.ready_delay) if slow else life, flags)
        down = pods.down(now, n_c) if failing else None
        idle = None
        if down is not None:  # a sidecar down: its pod serves nothing (NotReady), the HPA still counts it
            idle = st.serving & down.any(axis=2)
            st = replace(st, serving=st.serving & ~idle)
        if k % per_scrape == 0:
            i = k // per_scrape
            cpu, mem = model.sample(rps[i], st, rng, idle)
            sampled = st.running[:, :, None] & model.present[:, None, :]
            if down is not None:
                # A container about to be OOM-killed is at its limit; a down one has no sample. A pod whose
                # sidecar is back after missing the last scrape is not listed by metrics-server this scrape.
                soon = pods.down(now + step_s, n_c) & ~down & np.isfinite(limits)[:, None, :]
                mem = np.where(soon, limits[:, None, :], mem)
                cpu, mem = np.where(down, 0.0, cpu), np.where(down, 0.0, mem)
                sampled &= ~down
                relisted = st.running & (down_before & ~down).any(axis=2)
                down_before = down
                if i >= warm_scrapes:
                    missing_out += relisted.sum(axis=1)
            per_pod = hpas.metric_per_pod(cpu, mem)
            if i >= warm_scrapes:
                r = i - warm_scrapes
                ws, ss, cs = np.nonzero(sampled)
                rows["t"].append(np.full(len(ws), r, dtype=np.int64))
                rows["pod"].append(pods.index[ws, ss])
                rows["c"].append(cs)
                rows["cpu"].append(cpu[ws, ss, cs])
                rows["mem"].append(mem[ws, ss, cs])
                replicas_out[r] = current
                error_out[r] = error_now
        if not len(hpas.rows):
            continue
        if relisted.any() and not os.environ.get("NO_RELIST"):
            st = replace(st, has_metric=st.has_metric & ~relisted, cpu_ready=st.cpu_ready & ~relisted,
                         mem_ready=st.mem_ready & ~relisted, missing=st.missing | (st.running & relisted))  # fmt: skip
        proposal, first_error = hpas.proposals(per_pod, st, current[hpas.rows], version)
        error_now[hpas.rows] = first_error
        desired = controllers.step(now, current[hpas.rows], proposal)
        now_status = np.where(controllers.conditions == 0, 0, 1 + is_true[controllers.conditions])
        since = np.where(now_status != status, now, since)
        status = now_status
        for j in np.nonzero(desired != current[hpas.rows])[0]:
            w = int(hpas.rows[j])
            pods.resize(w, int(desired[j]), now)
            current[w] = desired[j]

    def cat(key: str, dtype: type) -> npt.NDArray[np.generic]:
        return np.concatenate(rows[key]).astype(dtype) if rows[key] else np.zeros(0, dtype=dtype)

    return SimResult(
        scrape_times=scrape_times[warm_scrapes:],
        rps=rps[warm_scrapes:],
        replicas=replicas_out,
        metric_error=error_out,
        row_time=cat("t", np.int64),
        row_pod=cat("pod", np.int64),
        row_container=cat("c", np.int64),
        row_cpu=cat("cpu", np.float64),
        row_mem=cat("mem", np.float64),
        pod_workload=pods.workload,
        pod_names=pods.names,
        pod_created=pods.created_at,
        pod_deleted=pods.deleted_at,
        container_names=names,
        container_ready_s=pods.container_ready,
        pod_ready_s=pods.pod_ready,
        failures=pods.failures,
        missing_scrapes=missing_out,
        hpas=hpas.specs,
        conditions={
            int(w): tuple((int(controllers.conditions[t, j]), float(since[t, j])) for t in range(3))
            for j, w in enumerate(hpas.rows)
        }
        if len(hpas.rows)
        else {},
    )


def _has_failures(scenarios: list[Scenario]) -> bool:
    """Whether some sidecar turns ready late or fails, or some app fails at start before its proxy is up."""
    return any(c.ready_after_s or c.failures_per_hour for s in scenarios for c in s.sidecars) or _starts_in_order(
        scenarios
    )


def _starts_in_order(scenarios: list[Scenario]) -> bool:
    """Whether some app exits at start while its proxy is not up."""
    return any(s.app_start_timeout_s is not None for s in scenarios)


def _initial_replicas(s: Scenario) -> int:
    """The scenario's replicas clamped into its HPA's [min, max]."""
    if s.hpa is None:
        return s.replicas
    return min(max(s.replicas, s.hpa.get("minReplicas", 1)), s.hpa["maxReplicas"])
