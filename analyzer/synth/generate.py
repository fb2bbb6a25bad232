"""``sidecar-impact sample``: a synthetic snapshot plus its ground truth, from a seed."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from analyzer.__about__ import __version__
from analyzer.errors import SidecarImpactError, reason
from analyzer.runtime.isolated_map import isolated_map
from analyzer.simulate.hpa_conditions import CONDITION_MESSAGES, REASON_TEXT, Reason
from analyzer.simulate.hpa_controller import ERROR_TEXT, MetricError
from analyzer.simulate.hpa_spec import ControllerFlags
from analyzer.simulate.kube_version import KubeVersion
from analyzer.simulate.pod_lifecycle import Lifecycle
from analyzer.simulate.pod_requests import pod_request
from analyzer.snapshot import schema
from analyzer.snapshot.kube import parse_pod_spec
from analyzer.snapshot.schema import Metadata, Snapshot
from analyzer.snapshot.writing import (
    ObjectFiles,
    atomic_directory,
    container_status_table,
    pod_status_table,
    replicas_table,
    write_json,
    write_snapshot_files,
    write_usage_partitions,
)
from analyzer.synth import manifests
from analyzer.synth.cluster import SimResult, simulate
from analyzer.synth.jobs import JOB_CATALOGUES, JobScenario, job_batch
from analyzer.synth.scenarios import CATALOGUE, CATALOGUES, Scenario, SidecarSpec, pick

DEFAULT_START = pd.Timestamp("2026-11-02T00:00:00Z")
GENERATOR_VERSION = KubeVersion(minor=34)


@dataclass(frozen=True)
class Synthetic:
    """A generated snapshot and the truth behind it (never read by the analysis)."""

    snapshot: Snapshot
    truth: dict[str, Any]
    demand: pd.DataFrame


BATCH_WORKLOADS = 2 * len(CATALOGUE)
"""Workloads simulated together: two rounds of the catalogue, whose namespaces are their own (pick()).
The simulation's cost is mostly per HPA sync, shared by a batch's workloads; memory follows the batch."""


def generate(
    workloads: int = len(CATALOGUE),
    days: float = 3.0,
    step_s: float = 60.0,
    seed: int = 7,
    start: pd.Timestamp = DEFAULT_START,
    app_only_hpas: bool = False,
    fixes: Mapping[tuple[str, str], Sequence[Mapping[str, Any]]] | None = None,
    load: float = 1.0,
    catalogue: str = "default",
    namespaces: Mapping[str, Mapping[str, str]] | None = None,
) -> Synthetic:
    """Simulate ``workloads`` scenarios for ``days`` at ``step_s``; identical output for identical arguments.

    ``app_only_hpas`` makes every Resource metric count the app containers alone (a ContainerResource
    metric on the app where there is one): the same traffic (drawn before any scaling) under HPAs that
    ignore the sidecars, the ground truth of the app-only counterfactual. ``fixes`` (by namespace and
    workload: a JSON Patch of its HPA, or of its ScaledObject for KEDA, as a report's fix gives it) and
    ``load`` (every workload's traffic scaled) make the same cluster after fixes were applied: the same
    traffic, drawn before any scaling, under the patched autoscalers; the truth names the patches. The
    whole snapshot in memory: :func:`write_sample_stream` writes a large one batch by batch instead.
    ``catalogue`` names the scenarios (:data:`analyzer.synth.scenarios.CATALOGUES`). ``namespaces`` (by name:
    annotations set on the namespace, as a report's namespace patch sets them) makes the same cluster with its
    workloads' pods injected again under those annotations.
    """
    scenarios = scenarios_of(catalogue, workloads)
    if namespaces:
        unknown_ns = set(namespaces) - {s.namespace for s in scenarios}
        if unknown_ns:
            raise SidecarImpactError(f"annotations for namespaces the cluster does not have: {sorted(unknown_ns)}")
        scenarios = [replace(s, namespace_annotations={**s.namespace_annotations, **namespaces.get(s.namespace, {})})
                     for s in scenarios]  # fmt: skip
    if fixes or load != 1.0:
        unknown = set(fixes or {}) - {(s.namespace, s.workload) for s in scenarios}
        if unknown:
            raise SidecarImpactError(f"fixes for workloads the cluster does not have: {sorted(unknown)}")
        scenarios = [replace(s, patch=tuple((fixes or {}).get((s.namespace, s.workload), ())),
                             peak_rps=s.peak_rps * load) for s in scenarios]  # fmt: skip
        for s in scenarios:  # each patch tried once here, so a wrong one is named before any simulation
            try:
                if s.patch and manifests.hpa_object(s, "") is None:
                    raise ValueError("the workload has no HPA")
            except (KeyError, IndexError, TypeError, ValueError) as exc:
                raise SidecarImpactError(f"fix for {s.namespace}/{s.workload}: {reason(exc, 200)}") from None
    batches = list(generate_batches(workloads, days, step_s, seed, start, app_only_hpas, scenarios,
                                    JOB_CATALOGUES.get(catalogue, ())))  # fmt: skip
    return batches[0] if len(batches) == 1 else _joined(batches)


def scenarios_of(catalogue: str, workloads: int) -> list[Scenario]:
    """``workloads`` scenarios of the catalogue named ``catalogue`` (:data:`analyzer.synth.scenarios.CATALOGUES`)."""
    if catalogue not in CATALOGUES:
        raise SidecarImpactError(f"--catalogue must be one of {', '.join(CATALOGUES)}, got {catalogue!r}")
    return pick(workloads, CATALOGUES[catalogue])


def generate_batches(
    workloads: int = len(CATALOGUE),
    days: float = 3.0,
    step_s: float = 60.0,
    seed: int = 7,
    start: pd.Timestamp = DEFAULT_START,
    app_only_hpas: bool = False,
    scenarios: list[Scenario] | None = None,
    jobs: Sequence[JobScenario] = (),
) -> Iterator[Synthetic]:
    """:func:`generate`'s snapshot as batches of :data:`BATCH_WORKLOADS` workloads with disjoint
    namespaces, each simulated with its own random stream (seeded by ``seed`` and the batch number), so
    memory follows one batch and a batch's data does not depend on how many follow it
    (:func:`write_sample_batches` simulates them in parallel)."""
    make, firsts = _batch_maker(workloads, days, step_s, seed, start, app_only_hpas, scenarios, jobs)
    yield from map(make, enumerate(firsts))


def _batch_maker(
    workloads: int,
    days: float,
    step_s: float,
    seed: int,
    start: pd.Timestamp,
    app_only_hpas: bool,
    scenarios: list[Scenario] | None = None,
    jobs: Sequence[JobScenario] = (),
) -> tuple[Callable[[tuple[int, int]], Synthetic], range]:
    """The arguments checked; the function that simulates batch ``(number, first workload)`` and the
    batches' first workloads."""
    if workloads < 1:
        raise SidecarImpactError(f"--workloads must be at least 1, got {workloads}")
    if not 0 < days <= 60:
        raise SidecarImpactError(f"--days must be in (0, 60], got {days}")
    flags = ControllerFlags()
    if step_s < flags.sync_period_s or step_s % flags.sync_period_s:
        raise SidecarImpactError(f"--step must be a multiple of the 15s HPA sync period, got {step_s:g}s")
    scenarios = scenarios if scenarios is not None else pick(workloads)
    make = partial(_batch, scenarios, workloads, days, step_s, seed, start, flags, app_only_hpas, tuple(jobs))
    return make, range(0, workloads, BATCH_WORKLOADS)


def _simulated_and_written(
    make: Callable[[tuple[int, int]], Synthetic], tmp: Path, numbered: tuple[int, int]
) -> _Written:
    """Batch ``numbered`` simulated and written into the snapshot at ``tmp`` (:func:`_written`)."""
    return _written(make(numbered), tmp, numbered[0])


def _batch(
    scenarios: list[Scenario],
    workloads: int,
    days: float,
    step_s: float,
    seed: int,
    start: pd.Timestamp,
    flags: ControllerFlags,
    app_only_hpas: bool,
    jobs: tuple[JobScenario, ...],
    numbered: tuple[int, int],
) -> Synthetic:
    """Batch ``number`` (its first workload ``first``), with its own random stream; batch 0 uses ``seed``
    alone, so a snapshot of one batch (the bundled sample) is what a single simulation gives. Batch 0 also
    holds the catalogue's CronJobs (``jobs``, :mod:`analyzer.synth.jobs`), in namespaces of their own."""
    number, first = numbered
    part = scenarios[first : first + BATCH_WORKLOADS]
    batch = _simulated(part, workloads, days, step_s, seed, start, seed if number == 0 else [seed, number], flags,
                       app_only_hpas)  # fmt: skip
    if number or not jobs:
        return batch
    snapshot, truth = job_batch(list(jobs), days, step_s, seed, start, workloads)
    cronjobs = Synthetic(snapshot=snapshot, truth={"workloads": [], "jobs": truth}, demand=batch.demand.iloc[:0])
    return _joined([batch, cronjobs])


def _simulated(
    scenarios: list[Scenario],
    workloads: int,
    days: float,
    step_s: float,
    seed: int,
    start: pd.Timestamp,
    stream: int | list[int],
    flags: ControllerFlags,
    app_only_hpas: bool,
) -> Synthetic:
    """One batch of scenarios simulated together (``workloads``: the whole snapshot's count, for metadata)
    from the random stream seeded by ``stream``. Where a sidecar turns ready late, the batch is simulated
    again from the same stream with pods Ready as their apps are: the truth of what the delay cost."""
    n_scrapes = int(days * 86400 // step_s)
    start_s = start.timestamp()
    run = partial(simulate, scenarios, start_s, n_scrapes, step_s, version=GENERATOR_VERSION, flags=flags,
                  app_only=app_only_hpas)  # fmt: skip
    sim = run(np.random.default_rng(stream))
    slow = any(c.ready_after_s or c.failures_per_hour for s in scenarios for c in s.sidecars) or any(
        s.app_start_timeout_s is not None for s in scenarios
    )
    healthy = run(np.random.default_rng(stream), healthy_sidecars=True) if slow else None
    times = pd.to_datetime(sim.scrape_times, unit="s", utc=True).as_unit("ns")
    end = times[-1]
    objects = _objects(scenarios, sim, end.timestamp(), start)
    usage = _usage(sim, scenarios, times)
    replicas = pd.DataFrame(
        {
            "timestamp": np.repeat(times, len(scenarios)),
            **{
                column: pd.Categorical(values * len(times), categories=sorted(set(values)))
                for column, values in (
                    ("namespace", [s.namespace for s in scenarios]),
                    ("kind", [s.kind for s in scenarios]),
                    ("name", [s.workload for s in scenarios]),
                )
            },
            "replicas": sim.replicas.ravel(),
        }
    ).sort_values(list(schema.REPLICAS_KEY), kind="stable", ignore_index=True)
    metadata = Metadata(
        schema_version=schema.SCHEMA_VERSION,
        source="synthetic",
        cluster=f"synthetic-{seed}",
        start=times[0],
        end=end,
        step_s=float(step_s),
        tool_version=__version__,
        extra={
            "seed": seed,
            "workloads": workloads,
            "days": days,
            "kubernetes_version": f"1.{GENERATOR_VERSION.minor}",
        },
    )
    snapshot = Snapshot(
        metadata=metadata,
        usage=usage,
        replicas=replicas,
        objects=objects,
        pod_status=_pod_status(sim, scenarios, times, step_s),
        container_status=_container_status(sim, scenarios, times) if slow else schema.empty_container_status(),
    )
    demand = pd.DataFrame(
        {
            "timestamp": np.repeat(times, len(scenarios)),
            "namespace": [s.namespace for s in scenarios] * len(times),
            "workload": [s.workload for s in scenarios] * len(times),
            "rps": sim.rps.ravel(),
            "primary_app_cpu_cores": (sim.rps * np.array([s.cpu_per_rps for s in scenarios])).ravel(),
            "stalled": (sim.metric_error != 0).ravel(),
        }
    )
    truth = _truth(scenarios, seed)
    drops = np.maximum(sim.replicas[:-1] - sim.replicas[1:], 0)
    for w, entry in enumerate(truth["workloads"]):
        entry["scale_downs"] = int((drops[:, w] > 0).sum())
        entry["pods_removed_by_scale_downs"] = int(drops[:, w].sum())
    if healthy is not None:
        for w, entry in enumerate(truth["workloads"]):
            entry["failures"] = _failure_truth(sim, healthy, scenarios[w], w, step_s)
    return Synthetic(snapshot=snapshot, truth=truth, demand=demand)


def write_sample(out: str | os.PathLike[str], synthetic: Synthetic, *, overwrite: bool = False) -> Path:
    """Write the snapshot and ``ground_truth/`` atomically (temporary sibling, then rename)."""
    with atomic_directory(out, overwrite=overwrite) as tmp:
        write_snapshot_files(synthetic.snapshot, tmp)
        truth_dir = tmp / schema.GROUND_TRUTH_DIR
        truth_dir.mkdir()
        write_json(truth_dir / "params.json", synthetic.truth)
        table = pa.Table.from_pandas(synthetic.demand, preserve_index=False)
        pq.write_table(table, truth_dir / "demand.parquet", compression="zstd")
    return Path(out)


def write_sample_stream(out: str | os.PathLike[str], batches: Iterable[Synthetic], *, overwrite: bool = False) -> Path:
    """Write :func:`generate_batches`' batches as one snapshot with ``ground_truth/``, batch by batch:
    memory follows the largest batch, not the snapshot. Atomic like :func:`write_sample`, and loads as
    the same snapshot; ``replicas.parquet`` and ``pod_status.parquet`` get a row group per namespace."""
    with _streaming(out, overwrite) as writer:
        for number, batch in enumerate(batches):
            writer.add(_written(batch, writer.tmp, number))
    return Path(out)


def write_sample_batches(
    out: str | os.PathLike[str],
    workloads: int = len(CATALOGUE),
    days: float = 3.0,
    step_s: float = 60.0,
    seed: int = 7,
    *,
    workers: int = 1,
    overwrite: bool = False,
    catalogue: str = "default",
) -> tuple[Path, dict[str, int]]:
    """:func:`generate_batches` written by :func:`write_sample_stream`, but each batch simulated and its
    tables written by a forked worker (``workers`` at once), which hands this process only its objects and
    truth: memory is a batch per worker, and the snapshot is the one a single process writes. Returns the
    path and the counts written (``pods``, ``samples``)."""
    make, firsts = _batch_maker(workloads, days, step_s, seed, DEFAULT_START, False, scenarios_of(catalogue, workloads),
                                JOB_CATALOGUES.get(catalogue, ()))  # fmt: skip
    with _streaming(out, overwrite) as writer:
        write = partial(_simulated_and_written, make, writer.tmp)
        for batch in isolated_map(write, enumerate(firsts), workers, preload=__name__):
            writer.add(batch)
        counts = {"pods": writer.pods, "samples": writer.samples}
    return Path(out), counts


@dataclass(frozen=True)
class _Written:
    """A batch whose long tables are on disk (usage in the snapshot's partitions, the rest in scratch files
    for :class:`_StreamWriter` to append in batch order) and the rest of it, small, in memory."""

    metadata: Metadata
    objects: dict[str, list[Any]]
    truth: dict[str, Any]
    tables: dict[str, Path]
    pods: int
    samples: int


_SCRATCH = ".batches"
"""The batches' tables, in the snapshot's temporary directory until they are appended."""


def _written(batch: Synthetic, tmp: Path, number: int) -> _Written:
    """Write ``batch``'s usage partitions into the snapshot at ``tmp``, and its replicas, pod and container
    status and demand into scratch files (namespaces of its own: batches can be written at once)."""
    snap = batch.snapshot
    write_usage_partitions(snap.usage, tmp)
    scratch = tmp / _SCRATCH
    tables: dict[str, Path] = {}
    for target, table in (
        (schema.REPLICAS_FILE, replicas_table(snap.replicas) if len(snap.replicas) else None),
        (schema.POD_STATUS_FILE, pod_status_table(snap.pod_status) if len(snap.pod_status) else None),
        (schema.CONTAINER_STATUS_FILE,
         container_status_table(snap.container_status) if len(snap.container_status) else None),
        (f"{schema.GROUND_TRUTH_DIR}/demand.parquet", pa.Table.from_pandas(batch.demand, preserve_index=False)),
    ):
        if table is not None:
            tables[target] = scratch / f"{number}-{Path(target).name}"
            pq.write_table(table, tables[target], compression="zstd")
    pods = len(snap.items("Pod"))
    return _Written(snap.metadata, snap.objects, batch.truth, tables, pods, len(snap.usage))


class _StreamWriter:
    """The snapshot directory ``tmp`` filled batch by batch (:func:`_streaming` makes one)."""

    def __init__(self, tmp: Path, objects: ObjectFiles) -> None:
        self.tmp = tmp
        self._objects = objects
        self._writers: dict[str, pq.ParquetWriter] = {}
        self._metadata: Metadata | None = None
        self._truth: dict[str, Any] = {}
        self.pods = self.samples = 0

    def add(self, batch: _Written) -> None:
        """Append a written batch (in batch order: the files' rows follow it) and remove its scratch files."""
        self._metadata = self._metadata or batch.metadata
        for target, path in batch.tables.items():
            self._append(target, pq.read_table(path), by_namespace=not target.startswith(schema.GROUND_TRUTH_DIR))
            path.unlink()
        for kind, items in batch.objects.items():
            self._objects.add(kind, items)
        workloads = [*self._truth.get("workloads", []), *batch.truth["workloads"]]
        self._truth = {**self._truth, **batch.truth, "workloads": workloads}
        self.pods += batch.pods
        self.samples += batch.samples

    def _append(self, target: str, table: pa.Table, by_namespace: bool) -> None:
        """Append ``table`` (rows sorted by namespace), one row group per namespace: a reader of some
        namespaces skips the others' row groups."""
        if target not in self._writers:
            self._writers[target] = pq.ParquetWriter(self.tmp / target, table.schema, compression="zstd")
        writer = self._writers[target]
        if not by_namespace:
            writer.write_table(table)
            return
        namespaces = table["namespace"].to_numpy(zero_copy_only=False)
        bounds = np.flatnonzero(namespaces[1:] != namespaces[:-1]) + 1  # the rows are sorted by namespace
        for start, stop in itertools.pairwise([0, *bounds.tolist(), len(namespaces)]):
            writer.write_table(table.slice(start, stop - start))

    def close(self) -> None:
        for writer in self._writers.values():
            writer.close()

    def finish(self) -> None:
        """The files written once every batch is in: metadata and the truth's parameters."""
        if self._metadata is None:
            raise SidecarImpactError("no batch to write")
        (self.tmp / _SCRATCH).rmdir()
        write_json(self.tmp / schema.METADATA_FILE, self._metadata.to_json())
        write_json(self.tmp / schema.GROUND_TRUTH_DIR / "params.json", self._truth)


@contextmanager
def _streaming(out: str | os.PathLike[str], overwrite: bool) -> Iterator[_StreamWriter]:
    """A :class:`_StreamWriter` on a temporary sibling of ``out`` that becomes ``out`` once the block has
    added every batch (:func:`~analyzer.snapshot.writing.atomic_directory`)."""
    with atomic_directory(out, overwrite=overwrite) as tmp:
        (tmp / schema.GROUND_TRUTH_DIR).mkdir()
        (tmp / _SCRATCH).mkdir()
        with ObjectFiles(tmp / schema.OBJECTS_DIR) as objects:
            writer = _StreamWriter(tmp, objects)
            try:
                yield writer
            finally:
                writer.close()
        writer.finish()


def _joined(batches: list[Synthetic]) -> Synthetic:
    """Batches with disjoint namespaces as one snapshot, sorted as the loader returns it."""
    snaps = [b.snapshot for b in batches]

    def cat(frames: list[pd.DataFrame], labels: tuple[str, ...], key: tuple[str, ...]) -> pd.DataFrame:
        frame = pd.concat([f.astype({c: str for c in labels}) for f in frames], ignore_index=True)
        for column in labels:
            frame[column] = pd.Categorical(frame[column], categories=sorted(frame[column].unique()))
        return frame.sort_values(list(key), kind="stable").reset_index(drop=True)

    status = cat([s.pod_status for s in snaps], ("namespace", "pod"), schema.POD_STATUS_KEY)
    status["phase"] = pd.Categorical(status["phase"], categories=list(schema.POD_PHASES))
    containers = cat([s.container_status for s in snaps], schema.CONTAINER_STATUS_LABELS, schema.CONTAINER_STATUS_KEY)
    containers["state"] = pd.Categorical(containers["state"], categories=list(schema.CONTAINER_STATES))
    snapshot = Snapshot(
        metadata=snaps[0].metadata,
        usage=cat([s.usage for s in snaps], ("namespace", "pod", "container"), schema.USAGE_KEY),
        replicas=cat([s.replicas for s in snaps], ("namespace", "kind", "name"), schema.REPLICAS_KEY),
        objects={kind: [o for s in snaps for o in s.objects[kind]] for kind in snaps[0].objects},
        pod_status=status,
        container_status=containers,
    )
    truth = {**batches[0].truth, "workloads": [w for b in batches for w in b.truth["workloads"]]}
    if any("jobs" in b.truth for b in batches):
        truth["jobs"] = [j for b in batches for j in b.truth.get("jobs", [])]
    return Synthetic(snapshot=snapshot, truth=truth, demand=pd.concat([b.demand for b in batches], ignore_index=True))


def _iso(seconds: float) -> str:
    return pd.Timestamp(seconds, unit="s", tz="UTC").strftime("%Y-%m-%dT%H:%M:%SZ")


def _usage(sim: SimResult, scenarios: list[Scenario], times: pd.DatetimeIndex) -> pd.DataFrame:
    pod_names = np.array(sim.pod_names, dtype=object)
    pod_ns = np.array([scenarios[w].namespace for w in sim.pod_workload], dtype=object)
    pod_w = np.array(sim.pod_workload)
    width = max(len(n) for n in sim.container_names)
    containers = np.array([n + [""] * (width - len(n)) for n in sim.container_names], dtype=object)
    frame = pd.DataFrame(
        {
            "timestamp": times[sim.row_time],
            "namespace": pod_ns[sim.row_pod],
            "pod": pod_names[sim.row_pod],
            "container": containers[pod_w[sim.row_pod], sim.row_container],
            "cpu_cores": sim.row_cpu,
            "memory_bytes": sim.row_mem,
        }
    )
    for column in ("namespace", "pod", "container"):  # as the loader returns them (schema.py)
        frame[column] = pd.Categorical(frame[column], categories=sorted(set(frame[column])))
    return frame.sort_values(list(schema.USAGE_KEY), kind="stable").reset_index(drop=True)


def _pod_status(sim: SimResult, scenarios: list[Scenario], times: pd.DatetimeIndex, step_s: float) -> pd.DataFrame:
    """Each pod's phase and readiness at every scrape it existed for, as kube-state-metrics would record
    them: Pending until it starts, Running after; Ready once started and ready (the cluster's Lifecycle).
    Pods that never ran at a scrape (so have no Pod object in the snapshot) are left out."""
    life = Lifecycle(scrape_s=step_s)
    t = sim.scrape_times
    created = np.array(sim.pod_created)
    deleted = np.where(np.isnan(sim.pod_deleted), np.inf, np.array(sim.pod_deleted))
    # A sync creates and deletes pods after that scrape's observation: a pod created at t is seen from the
    # next scrape on, one deleted at t is still seen at t.
    first = np.searchsorted(t, created, side="right")
    stop = np.searchsorted(t, deleted, side="right")
    count = np.maximum(stop - first, 0)
    pod = np.repeat(np.arange(len(created)), count)
    index = np.repeat(first - np.cumsum(count) + count, count) + np.arange(count.sum())
    at = t[index]
    started = at >= created[pod] + life.start_delay_s
    frame = pd.DataFrame(
        {
            "timestamp": times[index],
            "namespace": np.array([scenarios[w].namespace for w in sim.pod_workload], dtype=object)[pod],
            "pod": np.array(sim.pod_names, dtype=object)[pod],
            "phase": pd.Categorical(np.where(started, "Running", "Pending"), categories=list(schema.POD_PHASES)),
            "ready": at >= created[pod] + life.start_delay_s + np.array(sim.pod_ready_s)[pod],
        }
    )
    # A StatefulSet name reused by a later pod: the snapshot holds its latest incarnation (as _objects).
    frame = frame[np.isin(pod, np.unique(sim.row_pod))]
    frame = frame.drop_duplicates(["namespace", "pod", "timestamp"], keep="last")
    for column in ("namespace", "pod"):
        frame[column] = pd.Categorical(frame[column], categories=sorted(set(frame[column])))
    return frame.sort_values(list(schema.POD_STATUS_KEY), kind="stable").reset_index(drop=True)


def _container_status(sim: SimResult, scenarios: list[Scenario], times: pd.DatetimeIndex) -> pd.DataFrame:
    """Each container's status as changes (``container_status``): waiting until its pod starts, running after,
    ready from its own readiness on; a failed sidecar waiting (not ready) until it is back, its restarts and
    last termination counted from then. The pods of ``pod_status`` (every scrape a pod was observed at)."""
    life = Lifecycle()
    t = sim.scrape_times
    columns = ("timestamp", "namespace", "pod", "container", "ready", "state", "restarts", "last_reason",
               "last_exit_code", "terminated_reason")  # fmt: skip
    rows: dict[str, list[Any]] = {k: [] for k in columns}
    seen = set(np.unique(sim.row_pod).tolist())
    for p, w in enumerate(sim.pod_workload):
        if p not in seen:
            continue
        deleted = sim.pod_deleted[p] if not np.isnan(sim.pod_deleted[p]) else np.inf
        at = t[(t > sim.pod_created[p]) & (t <= deleted)]  # as _pod_status observes the pod
        start = sim.pod_created[p] + life.start_delay_s
        for c, name in enumerate(sim.container_names[w]):
            ready = at >= start + sim.container_ready_s[p][c]
            state = np.where(at >= start, "running", "waiting").astype(object)
            restarts = np.zeros(len(at), dtype=np.int64)
            reason = np.full(len(at), "", dtype=object)
            code = np.full(len(at), -1, dtype=np.int64)
            for f in (f for f in (sim.failures[p] if sim.failures else []) if f.container == c):
                down = (at >= f.down_s) & (at < f.up_s)
                ready &= ~down
                state[down] = "waiting"
                restarts += at >= f.up_s
                reason[at >= f.down_s], code[at >= f.down_s] = f.reason, f.exit_code
            values = (ready, state, restarts, reason, code, np.full(len(at), "", dtype=object))  # never terminated
            change = np.ones(len(at), dtype=bool)
            change[1:] = np.any([v[1:] != v[:-1] for v in values], axis=0)
            for column, value in zip(columns, (at, [scenarios[w].namespace] * len(at), [sim.pod_names[p]] * len(at),
                                               [name] * len(at), *values), strict=True):  # fmt: skip
                rows[column].append(np.asarray(value)[change])
    frame = pd.DataFrame({k: np.concatenate(v) if v else [] for k, v in rows.items()})
    frame["timestamp"] = pd.to_datetime(frame["timestamp"].astype(np.float64), unit="s", utc=True).dt.as_unit("ns")
    frame = frame.drop_duplicates(["namespace", "pod", "container", "timestamp"], keep="last")  # a reused name
    frame["state"] = pd.Categorical(frame["state"], categories=list(schema.CONTAINER_STATES))
    frame = frame.astype({"ready": bool, "restarts": np.int64, "last_exit_code": np.int64})
    for column in schema.CONTAINER_STATUS_LABELS:
        frame[column] = pd.Categorical(frame[column], categories=sorted(set(frame[column])))
    frame = frame.sort_values(list(schema.CONTAINER_STATUS_KEY), kind="stable").reset_index(drop=True)
    return frame[list(schema.CONTAINER_STATUS_COLUMNS)]


def _failure_truth(sim: SimResult, healthy: SimResult, s: Scenario, w: int, step_s: float) -> dict[str, Any]:
    """What the workload's late or failing sidecars cost: replica-hours as simulated, and with sidecars that
    never fail (the same traffic); the readiness each sidecar was drawn from; the failures in the window."""
    hours = step_s / 3600
    gap = healthy.replicas[:, w] - sim.replicas[:, w]
    first, end = sim.scrape_times[0], sim.scrape_times[-1] + step_s
    pods = [p for p, pw in enumerate(sim.pod_workload) if pw == w]

    def life_end(p: int) -> float:
        return min(end, sim.pod_deleted[p]) if not np.isnan(sim.pod_deleted[p]) else end

    every = [(p, f) for p in pods for f in (sim.failures[p] if sim.failures else []) if f.down_s < life_end(p)]
    failures = [(p, f) for p, f in every if f.container > 0]  # the sidecars'; the app's at start apart
    in_window = [(p, f) for p, f in failures if first <= f.up_s < life_end(p)]

    down_h = sum(max(0.0, min(f.up_s, life_end(p)) - max(f.down_s, first)) for p, f in failures) / 3600
    started = [p for p in pods if sim.pod_created[p] >= first and sim.pod_created[p] + 5 < life_end(p)]
    proxy_ready = {p: float(sim.container_ready_s[p][1:].max()) for p in started}
    app_ready = {p: float(sim.container_ready_s[p][0]) for p in started}
    app_failed = [p for p in started if any(f.container == 0 for f in sim.failures[p])]
    return {
        "sidecar_ready_after_s": {c.name: list(c.ready_after_s) for c in s.sidecars if c.ready_after_s},
        "app_ready_after_s": Lifecycle().ready_delay_s,
        "replica_hours": float(sim.replicas[:, w].sum() * hours),
        "replica_hours_healthy_sidecars": float(healthy.replicas[:, w].sum() * hours),
        "replica_hours_short": float(np.maximum(gap, 0).sum() * hours),
        "replica_hours_beyond": float(np.maximum(-gap, 0).sum() * hours),
        "held_pod_hours": float(sum(max(proxy_ready[p] - app_ready[p], 0.0) for p in started) / 3600),
        "app_start_timeout_s": s.app_start_timeout_s,
        "pods_started": len(started),
        "pods_app_failed_at_start": len(app_failed),
        "app_start_restarts": sum(
            1 for p, f in every if f.container == 0 and p in proxy_ready and first <= f.up_s < life_end(p)
        ),
        "start_order_pod_hours": float(sum(sim.pod_ready_s[p] - proxy_ready[p] for p in app_failed) / 3600),
        "restarts": len(in_window),
        "oom_kills": sum(f.reason == "OOMKilled" for _, f in in_window),
        "down_pod_hours": float(down_h),
        "missing_metric_scrapes": int(sim.missing_scrapes[w]) if len(sim.missing_scrapes) else 0,
    }


def _objects(scenarios: list[Scenario], sim: SimResult, end_s: float, start: pd.Timestamp) -> dict[str, list[Any]]:
    created = _iso(start.timestamp() - 30 * 86400)
    objects: dict[str, list[Any]] = {k: [] for k in schema.OBJECT_KINDS}
    last = {}
    for w, s in enumerate(scenarios):
        for obj in manifests.workload_objects(s, created, int(sim.replicas[-1, w])):
            objects[obj["kind"]].append(obj)
        hpa = manifests.hpa_object(s, created)
        if hpa is not None:
            hpa["status"] = _hpa_status(sim, s, w)
            objects["HorizontalPodAutoscaler"].append(hpa)
        so = manifests.scaled_object(s, created)
        if so is not None:
            objects["ScaledObject"].append(so)
        vpa = manifests.vpa_object(s, created)
        if vpa is not None:
            objects["VerticalPodAutoscaler"].append(vpa)
    seen_rows = set(sim.row_pod.tolist())
    for p, (w, name) in enumerate(zip(sim.pod_workload, sim.pod_names, strict=True)):
        if p in seen_rows:
            last[(w, name)] = p  # a StatefulSet name's latest incarnation wins
    for (w, name), p in sorted(last.items(), key=lambda kv: (scenarios[kv[0][0]].namespace, kv[0][1])):
        objects["Pod"].append(_pod(scenarios[w], name, sim.pod_created[p], sim.pod_deleted[p], end_s,
                                   sim.pod_ready_s[p] if sim.pod_ready_s else 20.0))  # fmt: skip
    return objects


def _pod(s: Scenario, name: str, created_s: float, deleted_s: float, end_s: float, ready_s: float) -> dict[str, Any]:
    spec, annotations = manifests.pod_spec_and_annotations(s)
    if not np.isnan(deleted_s) and deleted_s <= end_s:
        annotations[schema.DELETED_AT_ANNOTATION] = _iso(deleted_s)
    labels = manifests.labels(s)
    if s.kind == "Deployment":
        labels["pod-template-hash"] = manifests.template_hash(s)
    start = created_s + 5
    statuses = [
        {
            "name": c["name"],
            "ready": True,
            "restartCount": 0,
            "image": c["image"],
            "started": True,
            "state": {"running": {"startedAt": _iso(start)}},
        }
        for c in spec["containers"]
    ]
    init_statuses = [
        {
            "name": c["name"],
            "ready": c.get("restartPolicy") == "Always",
            "restartCount": 0,
            "image": c["image"],
            "state": (
                {"running": {"startedAt": _iso(start)}}
                if c.get("restartPolicy") == "Always"
                else {"terminated": {"exitCode": 0, "reason": "Completed"}}
            ),
        }
        for c in spec.get("initContainers", [])
    ]
    status: dict[str, Any] = {
        "phase": "Running",
        "startTime": _iso(start),
        "conditions": [
            {"type": "Ready", "status": "True", "lastTransitionTime": _iso(start + ready_s)},
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": _iso(created_s)},
        ],
        "containerStatuses": statuses,
    }
    if init_statuses:
        status["initContainerStatuses"] = init_statuses
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": s.namespace,
            "labels": labels,
            "annotations": annotations,
            "creationTimestamp": _iso(created_s),
            "ownerReferences": [manifests.owner_of_pods(s)],
        },
        "spec": spec,
        "status": status,
    }


def _hpa_status(sim: SimResult, s: Scenario, w: int) -> dict[str, Any]:
    """``status`` as the controller leaves it at the end: replicas and the three conditions of its last sync,
    each with the time its status last changed."""
    replicas = int(sim.replicas[-1, w])
    conditions = []
    for code, since in sim.conditions[w]:
        if code == Reason.NONE:
            continue
        kind, status, reason = REASON_TEXT[Reason(code)]
        condition = {"type": kind, "status": status, "reason": reason, "message": CONDITION_MESSAGES[Reason(code)]}
        if Reason(code) == Reason.FAILED_GET_METRIC:
            condition["message"] = "the HPA was unable to compute the replica count: " + _metric_error(sim, s, w)
        condition["lastTransitionTime"] = _iso(since)
        conditions.append(condition)
    return {"currentReplicas": replicas, "desiredReplicas": replicas, "conditions": conditions}


def _metric_error(sim: SimResult, s: Scenario, w: int) -> str:
    """The HPA's last metric error as the controller words it (a request error names the newest live pod)."""
    code = MetricError(int(sim.metric_error[-1, w]))
    if code != MetricError.MISSING_REQUEST:
        return ERROR_TEXT[code]
    live = [p for p, pw in enumerate(sim.pod_workload) if pw == w and np.isnan(sim.pod_deleted[p])]
    newest = max(live, key=lambda p: (sim.pod_created[p], sim.pod_names[p]))  # as the analysis picks it
    spec = parse_pod_spec(manifests.pod_spec_and_annotations(s)[0])
    errors = (
        pod_request(spec, sim.pod_names[newest], m.resource, GENERATOR_VERSION, m.container).error
        for m in sim.hpas[w].metrics
    )
    return next(e for e in errors if e)


def _true_line(c: SidecarSpec, s: Scenario, b_apps: float, s_apps: float) -> dict[str, Any]:
    """``c``'s truth against the pod's summed app CPU ``x = r + b_apps + s_apps·r`` (``r``: the primary's)."""
    source, set_by = manifests.requests_set_by(s, c)
    spec = manifests.pod_spec_and_annotations(s)[0]
    live = next(x for x in [*spec.get("initContainers", []), *spec["containers"]] if x["name"] == c.name)
    return {
        "container": c.name,
        "kind": c.kind,
        "native": c.native,
        "injected": c.injected,
        "cpu_base_cores": c.cpu_base - c.cpu_slope * b_apps / (1 + s_apps),
        "cpu_slope": c.cpu_slope / (1 + s_apps),
        "memory_base_bytes": c.mem_base - c.mem_slope * b_apps / (1 + s_apps),
        "memory_slope_bytes_per_core": c.mem_slope / (1 + s_apps),
        "requests": live.get("resources", {}).get("requests"),
        "request_source": source,
        "requests_set_by": set_by,
    }


def _truth(scenarios: list[Scenario], seed: int) -> dict[str, Any]:
    """Each workload's containers and true usage lines, against the regressor the analysis uses: the
    pod's app CPU summed over its app containers (the generator drives companions by the primary's)."""
    out: list[dict[str, Any]] = []
    for s in scenarios:
        apps = [c for c in s.sidecars if c.app]
        b_apps, s_apps = sum(c.cpu_base for c in apps), sum(c.cpu_slope for c in apps)
        line = partial(_true_line, s=s, b_apps=b_apps, s_apps=s_apps)

        out.append(
            {
                "namespace": s.namespace,
                "workload": s.workload,
                "kind": s.kind,
                "scenario": s.name,
                "shows": s.shows,
                "app_container": s.app_container,
                "app_containers": list(s.app_containers),
                "other_app_containers": [line(c) for c in apps],
                "cpu_per_rps": s.cpu_per_rps,
                "hpa_metrics": len(s.hpa["metrics"]) if s.hpa else 0,
                "keda": s.keda,
                "expected_vpa_hazards": sorted(s.expected_vpa_hazards),
                "sidecars": [line(c) for c in s.sidecars if not c.app],
                **({"patch": list(s.patch)} if s.patch else {}),
            }
        )
    note = "usage per pod = base + slope x app CPU per pod (cores, summed over the pod's app containers)"
    return {"seed": seed, "note": note, "workloads": out}
