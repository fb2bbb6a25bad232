"""The library API that the CLI and notebooks share: collect, load, generate, analyze, render."""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd

from analyzer.__about__ import __version__
from analyzer.errors import NothingToAnalyse, SidecarImpactError, clip
from analyzer.findings.analysis import Analysis
from analyzer.findings.changes import Changes, RunState, compare
from analyzer.findings.hpa_skew import hpa_skew
from analyzer.findings.hpa_status import hpa_table
from analyzer.findings.jobs_held import job_hold_table
from analyzer.findings.merge import canonical, merge
from analyzer.findings.native_migration import native_migration
from analyzer.findings.sidecar_failures import failure_effects, failure_timelines
from analyzer.findings.source_replay import source_kits
from analyzer.findings.spill import Spill
from analyzer.findings.start_order import start_order_effects
from analyzer.findings.stop_order import stop_order_fixes
from analyzer.findings.summary import findings_table, rebuilt_notes
from analyzer.findings.vpa_hazards import vpa_hazards, vpa_hpa_effect
from analyzer.model.classify import classify
from analyzer.model.containers import container_table, newest_pods
from analyzer.model.job_holds import pod_holds
from analyzer.model.overhead import FitPolicy, fit_overhead, pair_with_app
from analyzer.model.pod_usage import pod_usage
from analyzer.model.rules import Rule, load_rules
from analyzer.model.selection import select_pods
from analyzer.model.shares import workload_table
from analyzer.model.sidecar_failures import failures_and_series, missing_sidecar_groups, status_events
from analyzer.model.start_order import start_order
from analyzer.model.stop_order import stop_order
from analyzer.model.usage_index import index_usage
from analyzer.model.workloads import pod_owners, workload_labels
from analyzer.prices import Prices
from analyzer.render import partial, registry, run_index, runs
from analyzer.render.outputs import check_out_dir
from analyzer.render.renderer import DEFAULT_TOP
from analyzer.render.run_state import read_state, write_state
from analyzer.runtime.cpus import available_cpus
from analyzer.runtime.memory import release_free_memory
from analyzer.runtime.partitions import run_partitions
from analyzer.simulate import hpa_controller
from analyzer.simulate.counterfactual import PendingReplay, Replayed, prepare_counterfactual
from analyzer.simulate.hpa_replay import grouped_alike_up_to
from analyzer.simulate.hpa_spec import ControllerFlags, parse_hpas
from analyzer.simulate.kube_version import KubeVersion
from analyzer.simulate.pod_lifecycle import Lifecycle
from analyzer.simulate.vpa_recommender import RecommenderFlags
from analyzer.simulate.vpa_snapshot import VPARecommendations, vpa_recommendations
from analyzer.snapshot.kube import Workload
from analyzer.snapshot.partitions import (
    Partition,
    Slice,
    namespace_units,
    plan_partitions,
    split_namespace,
)
from analyzer.snapshot.schema import KUBERNETES_VERSION_KEY, NOTES_KEY, Metadata, Snapshot
from analyzer.snapshot.shards import Shard
from analyzer.snapshot.store import SnapshotFiles, namespace_filter
from analyzer.snapshot.store import load_snapshot as _load
from analyzer.snapshot.writing import atomic_directory
from analyzer.synth.generate import (
    generate,
    write_sample,
    write_sample_batches,
)
from analyzer.synth.scenarios import CATALOGUE


def _bundled_sample() -> Path:
    """The sample snapshot: package data in an installed wheel, the checkout's ``sample_data/`` otherwise."""
    packaged = resources.files("analyzer") / "sample_data"
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parent.parent / "sample_data"


SAMPLE_DATA = _bundled_sample()
REPORTS = Path("reports")
"""The default report folder: ``reports/`` in the current directory, wherever the tool is installed."""

__all__ = [
    "SAMPLE_DATA",
    "Analysis",
    "Shard",
    "SnapshotFiles",
    "analyze",
    "analyze_dir",
    "generate",
    "load_snapshot",
    "merge_partials",
    "render",
    "write_partial",
    "write_sample",
]


def load_snapshot(
    path: str | os.PathLike[str] = SAMPLE_DATA,
    namespaces: Iterable[str] | None = None,
    selector: str | None = None,
    shard: Shard | None = None,
) -> Snapshot:
    """Load and validate a snapshot directory (default: the bundled sample).

    ``namespaces``, a label ``selector`` (``app=web,tier in (a,b)``) and a ``shard`` (a hash-based
    share of the namespaces) narrow it to those pods and the workloads, HPAs and VPAs that own or
    target them. :class:`~analyzer.errors.NothingToAnalyse` when no pod is left.
    """
    namespaces = None if namespaces is None else list(namespaces)
    snapshot = _load(path, namespaces, shard)
    if selector:
        snapshot = select_pods(snapshot, selector)
        if not snapshot.items("Pod"):
            raise NothingToAnalyse(f"{path}: no pod matches the selector {clip(selector)}")
    return snapshot


PARTITION_SAMPLES = 8_000_000
"""Usage samples per partition of a large snapshot (docs/cli.md; memory per partition: benchmarks/README.md)."""
PARTITION_PROCESSES = 2
"""Partitions analysed at once by default (where as many CPUs are available): memory grows with them."""


def analyze_dir(
    path: str | os.PathLike[str] = SAMPLE_DATA,
    namespaces: Iterable[str] | None = None,
    selector: str | None = None,
    shard: Shard | None = None,
    partition_samples: int = PARTITION_SAMPLES,
    progress: Callable[[str, int, int], None] | None = None,
    processes: int | None = None,
    **options: Any,
) -> Analysis:
    """:func:`load_snapshot` and :func:`analyze` in bounded memory: a snapshot of more than
    ``partition_samples`` usage samples is analysed a partition of namespaces at a time (0: never) and the
    parts merged, which gives the same analysis (:mod:`analyzer.findings.merge`). ``processes`` analyse
    partitions at once (default: one per CPU, at most :data:`PARTITION_PROCESSES`): this one and forked ones
    (:mod:`analyzer.runtime.partitions`), each on partitions of its share of ``partition_samples``, as many as a
    multiple of the processes so that they end together. ``options`` go to :func:`analyze`.
    :class:`~analyzer.errors.NothingToAnalyse` when no pod is left."""
    namespaces = None if namespaces is None else list(namespaces)
    wanted = namespace_filter(namespaces, shard)[0] or (lambda _: True)
    files = SnapshotFiles(path, keep_objects=True)
    rows = files.usage_rows()
    total = sum(n for ns, n in (rows or {}).items() if wanted(ns))
    if rows is None or partition_samples <= 0 or total <= partition_samples:
        snapshot = load_snapshot(path, namespaces, selector, shard)
        if progress is not None:
            progress("load", 1, 1)
        return analyze(snapshot, progress=progress, **options)
    processes = max(1, min(available_cpus(), PARTITION_PROCESSES) if processes is None else processes)
    spaces = sorted(ns for ns in set(rows) | files.object_namespaces() if wanted(ns))
    # The budget is the run's: each of the processes analyses partitions of its share of it.
    count = -(-math.ceil(total * processes / partition_samples) // processes) * processes
    groups = _partitions(files, {ns: rows.get(ns, 0) for ns in spaces}, math.ceil(total / count))

    def job(i: int, poll: Callable[[], None] | None) -> Analysis | None:
        """The analysis of partition ``i``, its HPAs replayed (None when it holds no pod); ``poll`` (this
        process only) gives forked processes their next partition between this one's stages."""

        def polling(stage: str, done: int, total: int) -> None:
            assert poll is not None
            poll()
            if progress is not None:
                progress(stage, done, total)

        here = poll is not None
        try:
            group = groups[i]
            sliced = {ns: piece for ns, piece in group.items() if piece is not None}
            snapshot = files.load(group, f" in partition {i + 1} of {len(groups)}", sliced)
            if selector:
                snapshot = select_pods(snapshot, selector)
        except NothingToAnalyse:
            return None
        if here:
            polling("load", 1, 1)
        if not snapshot.items("Pod"):
            return None
        pending = _prepare(snapshot, **options, progress=polling if here else None)
        del snapshot
        workers = 1 if processes > 1 else None  # the other CPUs analyse other partitions
        replayed = pending.replays.replay(pending.version, pending.flags, workers)
        if poll is not None:
            poll()
        return pending.finish(replayed, polling if here else None, final=False)

    hpa_controller.warm()  # loaded once for every partition's loops, before any process is forked
    parts: dict[int, Analysis] = {}
    with Spill() as spill:

        def merged() -> Analysis:
            if not parts:
                what = f"no pod matches the selector {clip(selector)}" if selector else "no pods"
                raise NothingToAnalyse(f"{path}: {what} (nothing to analyse)")
            files.forget_objects()  # before the merge's peak
            release_free_memory()
            return spill.restore(merge([parts.pop(i) for i in sorted(parts)]))

        def keep(i: int, part: Analysis) -> None:
            parts[i] = spill.put(part, order=i)

        return run_partitions(job, len(groups), processes, keep, merged, progress)


def _partitions(files: SnapshotFiles, rows: Mapping[str, int], budget: int) -> list[Partition]:
    """The partitions of ``rows``' namespaces (usage samples each), a namespace larger than ``budget`` cut
    between its workloads."""

    def split(namespace: str) -> list[tuple[Slice, int]]:
        units = namespace_units(files.objects_of(namespace), files.pod_rows(namespace), files.row_names(namespace))
        return split_namespace(units, budget)

    return plan_partitions(rows, budget, split)


def analyze(
    snapshot: Snapshot,
    version: KubeVersion | None = None,
    flags: ControllerFlags | None = None,
    rules: Sequence[Rule] | str | os.PathLike[str] = (),
    prices: Prices | None = None,
    group_by: Sequence[str] = (),
    fit_policy: FitPolicy | None = None,
    vpa_flags: RecommenderFlags | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> Analysis:
    """Analyze a loaded snapshot under the given Kubernetes version (default 1.34) and controller flags.

    ``rules`` (a rule file path or parsed rules) override the built-in sidecar classification;
    ``prices`` default to OpenCost's; ``group_by`` names workload labels to roll costs up by;
    ``progress(stage, done, total)`` is called after each of the analysis's stages.
    """
    pending = _prepare(snapshot, version, flags, rules, prices, group_by, fit_policy, vpa_flags, progress)
    return pending.finish(pending.replays.replay(pending.version, pending.flags), progress)


@dataclass(frozen=True)
class _Pending:
    """An analysis but for its HPA replay: what is left once the snapshot's samples can go."""

    metadata: Metadata
    prices: Prices
    version: KubeVersion
    flags: ControllerFlags
    classes: pd.DataFrame
    containers: pd.DataFrame
    overhead: pd.DataFrame
    workloads: pd.DataFrame
    vpa: VPARecommendations
    replays: PendingReplay
    hpas: pd.DataFrame
    notes: list[str]
    pod_usage: pd.DataFrame
    samples: int
    rebuilt: tuple[tuple[str, int], ...]
    failures: pd.DataFrame
    failure_series: pd.DataFrame
    templates: dict[tuple[str, str, str], Workload]
    """The workloads with a failing sidecar, for the fixes' patches."""
    native_migration: pd.DataFrame
    start_order: pd.DataFrame
    stop_order: pd.DataFrame
    jobs_held: pd.DataFrame

    def finish(
        self, result: Replayed, progress: Callable[[str, int, int], None] | None = None, final: bool = True
    ) -> Analysis:
        """The analysis, given the replay of this snapshot's HPA columns; ``final`` False for a part of a larger
        one, whose causes the merge makes again (their changes at the source are not replayed here)."""
        replays = self.replays.finish(result)
        skew = hpa_skew(replays, self.containers, self.workloads)
        hazards = vpa_hazards(self.vpa, self.containers, [c.spec for c in replays.contexts], self.workloads)
        failures = failure_effects(self.failures, replays, self.workloads, self.templates, self.vpa.table)
        if progress is not None:
            progress("analysis", 5, 5)
        empty = pd.DataFrame()  # the rollups: canonical() computes them from the ordered workloads
        analysis = Analysis(
            metadata=self.metadata,
            prices=self.prices,
            classes=self.classes,
            containers=self.containers,
            overhead=self.overhead,
            workloads=self.workloads,
            namespaces=empty,
            cluster=empty,
            groups=empty,
            hpas=self.hpas,
            hpa_skew=skew.table,
            remedies=skew.remedies,
            hpa_series=skew.series,
            vpa=self.vpa.table,
            vpa_hazards=hazards,
            vpa_hpa=vpa_hpa_effect(replays, self.vpa),
            findings=findings_table(skew.table, skew.remedies, hazards, self.classes, self.notes, self.hpas, failures,
                                    self.jobs_held, self.start_order, self.stop_order),
            failures=failures,
            failure_series=failure_timelines(self.failure_series, replays),
            native_migration=self.native_migration,
            start_order=self.start_order,
            stop_order=self.stop_order,
            jobs_held=self.jobs_held,
            source_kits=source_kits(self.replays, replays, self.containers, self.version, self.flags),
            causes=empty,
            pod_usage=self.pod_usage,
            samples=self.samples,
            rebuilt=self.rebuilt,
        )
        return canonical(analysis, replay_sources=final)


def _prepare(
    snapshot: Snapshot,
    version: KubeVersion | None = None,
    flags: ControllerFlags | None = None,
    rules: Sequence[Rule] | str | os.PathLike[str] = (),
    prices: Prices | None = None,
    group_by: Sequence[str] = (),
    fit_policy: FitPolicy | None = None,
    vpa_flags: RecommenderFlags | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> _Pending:
    """Every stage of :func:`analyze` that reads the snapshot's samples (stages 1 to 4 of its progress)."""

    def step(done: int) -> None:
        if progress is not None:
            progress("analysis", done, 5)

    version = version or KubeVersion.of(snapshot.metadata.extra.get(KUBERNETES_VERSION_KEY))
    flags = flags or ControllerFlags()
    prices = prices or Prices()
    if isinstance(rules, str | os.PathLike):
        rules = load_rules(rules)
    owners = pod_owners(snapshot)
    classes = classify(snapshot, owners, rules)
    index = index_usage(snapshot.usage, classes)
    containers = container_table(snapshot, classes, index, snapshot.usage)
    workloads = workload_table(containers, index, snapshot.usage, prices)
    step(1)
    for label in group_by:
        workloads[f"label:{label}"] = workload_labels(snapshot, workloads, label)
    fit_policy = fit_policy or FitPolicy()
    overhead = fit_overhead(pair_with_app(snapshot.usage, index, fit_policy.max_points), fit_policy)
    step(2)
    events = status_events(snapshot)
    ooms = events.restarted[events.restarted["oom_kills"] > 0]
    vpa = vpa_recommendations(snapshot, index, containers, vpa_flags, ooms=ooms)
    step(3)
    hpas = parse_hpas(snapshot.hpas, version, flags)
    failures, failure_series = failures_and_series(snapshot, classes, index, containers, events)
    failing = set(zip(failures["namespace"], failures["workload_kind"], failures["workload"], strict=True))
    replays = prepare_counterfactual(
        snapshot, classes, containers, overhead, index, version, flags, hpas, vpa_requests=vpa.requests_for,
        missing_sidecars=missing_sidecar_groups(index, failures),
    )
    step(4)
    rebuilt = snapshot.rebuilt()
    workload_objects = snapshot.workload_map
    newest_objects = newest_pods(snapshot, classes)
    newest = {k: p.spec for k, p in newest_objects.items()}
    starts = start_order_effects(start_order(events, classes, newest_objects, snapshot.metadata.step_s), workloads,
                                 workload_objects, version, snapshot.metadata.window_h)  # fmt: skip
    stops = stop_order_fixes(stop_order(containers, newest_objects, snapshot.replicas), workload_objects, starts)
    jobs = job_hold_table(pod_holds(snapshot, classes), newest, containers, workload_objects, prices, version,
                          snapshot.metadata.window_h)
    return _Pending(
        metadata=snapshot.metadata,
        prices=prices,
        version=version,
        flags=flags,
        classes=classes,
        containers=containers,
        overhead=overhead,
        workloads=workloads,
        vpa=vpa,
        replays=replays,
        hpas=hpa_table(snapshot, owners, hpas, version),
        notes=[*snapshot.metadata.extra.get(NOTES_KEY, []), *rebuilt_notes(rebuilt)],
        pod_usage=pod_usage(index, snapshot.usage),
        samples=len(snapshot.usage),
        rebuilt=rebuilt,
        failures=failures,
        failure_series=failure_series,
        templates={k: w for k, w in workload_objects.items() if k in failing},
        native_migration=native_migration(
            containers, newest, workload_objects, hpas, vpa.table, version, (starts, stops, jobs),
            grouped_alike_up_to(Lifecycle(scrape_s=snapshot.metadata.step_s), flags),
        ),
        start_order=starts,
        stop_order=stops,
        jobs_held=jobs,
    )


def write_partial(
    analysis: Analysis | None, out: str | os.PathLike[str], shard: Shard, settings: Mapping[str, Any]
) -> Path:
    """Write one shard's analysis (None: its namespaces held no pods) to ``<out>/shard-I-of-N/`` for
    :func:`merge_partials`. ``settings``: what shaped the analysis (rules, prices, ...), JSON values;
    a merge refuses parts whose settings differ."""
    check_out_dir(Path(out))
    return partial.write_partial(analysis, Path(out), shard, settings)


def merge_partials(paths: Iterable[str | os.PathLike[str]]) -> tuple[Analysis, dict[str, Any]]:
    """The analysis of a complete set of shards (each path a shard's folder or a folder of them), the
    same as an unsharded :func:`analyze` of the snapshot, and the settings the shards share."""
    parts, settings, long = partial.read_partials([Path(p) for p in paths])
    return partial.with_long_tables(merge(parts), long), settings


def render(
    analysis: Analysis,
    out: str | os.PathLike[str] = REPORTS,
    formats: Sequence[str] = ("html", "json"),
    top: int = DEFAULT_TOP,
) -> list[Path]:
    """Write the report in each of ``formats`` into ``out``; each file appears whole or not at all.

    ``top``: how many HPAs and VPA workloads the HTML plots (tables always hold all).
    """
    check_out_dir(Path(out))
    return [registry.find(name).write(analysis, Path(out), top) for name in formats]


def render_run(
    analysis: Analysis,
    out: str | os.PathLike[str] = REPORTS,
    formats: Sequence[str] = ("html", "json"),
    keep: int = 0,
    now: pd.Timestamp | None = None,
    top: int = DEFAULT_TOP,
    keep_bytes: int = 0,
    state: RunState | None = None,
) -> list[Path]:
    """A scheduled run: the report in ``<out>/<cluster>/<UTC timestamp>/`` (whole or not at all), then
    ``<out>/<cluster>/latest`` pointed at it and all but the newest ``keep`` runs removed (0: keep all), then
    the oldest until the runs take at most ``keep_bytes`` (0: no limit; the new run always stays).
    The run is compared with the newest earlier one (unless ``analysis.changes`` is set already) and leaves
    its ``state`` (default: ``analysis.state()``) for the next to compare with.
    ``<out>/<cluster>/index.html`` lists the runs kept with their headline figures. A lock makes an
    overlapping run fail (:class:`~analyzer.errors.LockedError`) instead of writing the same place."""
    cluster = analysis.metadata.cluster
    check_out_dir(Path(out))
    base = runs.cluster_dir(Path(out), cluster)
    created = now if now is not None else pd.Timestamp.now(tz="UTC")
    with runs.run_lock(base):
        name = runs.run_name(created)
        state = state if state is not None else analysis.state()
        if analysis.changes is None:
            analysis = replace(analysis, changes=_since_last_run(base, cluster, state))
        if analysis.changes is not None:  # the fixes seen applied go on, for the next run to tell a revert
            state = state.carrying(analysis.changes)
        with atomic_directory(base / name) as tmp:
            written = render(analysis, tmp, formats, top)
            write_state(tmp, state)
            changes = analysis.changes
            since = None if changes is None else {
                "new": changes.counts("new"), "resolved": changes.counts("resolved"), "fixes": changes.verdicts()
            }  # fmt: skip
            runs.write_run_record(tmp, cluster, created, __version__, analysis.summary(), since)
        runs.point_latest(base, name)
        runs.prune(base, keep, current=name, cluster=cluster, keep_bytes=keep_bytes)
        run_index.write_index(base)
    return [base / name / p.name for p in written]


def since_last_run(analysis: Analysis, out: str | os.PathLike[str] = REPORTS) -> Changes | None:
    """``analysis`` compared with the newest earlier run of its cluster under ``out`` (as :func:`render_run`
    writes them); None when there is none."""
    base = runs.cluster_dir(Path(out), analysis.metadata.cluster)
    return _since_last_run(base, analysis.metadata.cluster, analysis.state()) if base.is_dir() else None


def _since_last_run(base: Path, cluster: str, state: RunState) -> Changes | None:
    """This run compared with the newest earlier run of the cluster; None when there is none, or its state
    cannot be read (a run of a version that wrote none, and no report.json)."""
    earlier = runs.runs_of(base, cluster)
    if not earlier:
        return None
    try:
        return compare(read_state(earlier[-1]), state)
    except SidecarImpactError:
        return None


def diff(before: str | os.PathLike[str], now: str | os.PathLike[str]) -> Changes:
    """How the run ``now`` differs from the run ``before``: each a run directory, its state file or a
    report.json (:mod:`analyzer.findings.changes`)."""
    return compare(read_state(Path(before)), read_state(Path(now)))


def sample(
    out: str | os.PathLike[str],
    workloads: int = len(CATALOGUE),
    days: float = 3.0,
    step_s: float = 60.0,
    seed: int = 7,
    overwrite: bool = False,
    workers: int | None = None,
    catalogue: str = "default",
) -> tuple[Path, dict[str, int]]:
    """Generate a synthetic snapshot with ground truth and write it to ``out`` batch by batch (bounded
    memory at any size; ``workers`` batches at once, default one per CPU); returns the path and the
    counts written (``pods``, ``samples``). ``catalogue``: ``default`` (sidecars that skew the autoscalers),
    ``failures`` (sidecars that start late, crash or are OOM-killed, and a healthy control), ``lifecycle``
    (CronJobs held open by their sidecars) or ``sources`` (sidecar requests from a namespace annotation,
    per-workload overrides and the injector's default)."""
    workers = available_cpus() if workers is None else workers
    return write_sample_batches(out, workloads, days, step_s, seed, workers=workers, overwrite=overwrite,
                                catalogue=catalogue)  # fmt: skip


@dataclass(frozen=True)
class Collected:
    """A snapshot :func:`collect` wrote: where, how many pods and usage samples, the requests each source
    answered, and what the collector could not see."""

    path: Path
    pods: int
    samples: int
    requests: dict[str, int]
    notes: list[str]


def collect(
    out: str | os.PathLike[str],
    *,
    prometheus_url: str | None = None,
    metrics_server: bool = False,
    since: str | None = None,
    start: str | None = None,
    end: str | None = None,
    step: str = "60s",
    scrape_interval: str | None = None,
    token_file: Path | None = None,
    token_from_env: bool = False,
    basic_auth_user: str | None = None,
    basic_auth_password_file: Path | None = None,
    headers: Sequence[str] = (),
    ca_file: Path | None = None,
    insecure_skip_tls_verify: bool = False,
    cluster_label: str | None = None,
    cluster_value: str | None = None,
    timeout: str = "60s",
    retries: int = 3,
    concurrency: int = 4,
    gzip: bool = False,
    kubeconfig: Path | None = None,
    context: str | None = None,
    in_cluster: bool = False,
    objects: Path | None = None,
    no_api: bool = False,
    namespaces: Sequence[str] = (),
    selector: str | None = None,
    duration: str = "1h",
    interval: str = "60s",
    cluster: str | None = None,
    shard: Shard | None = None,
    overwrite: bool = False,
    progress: Callable[[str, int, int], None] | None = None,
) -> Collected:
    """Collect usage and objects from a live cluster into a snapshot at ``out``, written atomically: what
    ``sidecar-impact collect`` does, with its options as keywords (docs/collect.md). Prometheus
    (cAdvisor + kube-state-metrics) with the Kubernetes API by default; ``metrics_server`` polls the
    Metrics API for ``duration`` instead. Durations are Prometheus durations (``60s``, ``7d``)."""
    from analyzer.collect import collector, timerange
    from analyzer.collect.kube_api import KubeOptions
    from analyzer.collect.metrics_server import collect_metrics_server
    from analyzer.collect.prometheus_connection import PromOptions, parse_headers, read_secret, resolve_token
    from analyzer.runtime.memory import freed_memory_returned
    from analyzer.units import parse_duration

    if (prometheus_url is None) == (not metrics_server):
        raise SidecarImpactError("give exactly one of --prometheus-url and --metrics-server")
    if selector and (no_api or objects is not None):
        raise SidecarImpactError("-l needs the Kubernetes API: pod labels are not in cAdvisor series")
    if shard is not None and metrics_server:
        raise SidecarImpactError("--shard needs --prometheus-url (it picks namespaces from Prometheus's series)")
    use_api = not no_api and objects is None
    kube = None
    if use_api or metrics_server:
        kube = KubeOptions(
            kubeconfig, context, in_cluster, tuple(namespaces), selector, timeout_s=parse_duration(timeout)
        )
    collect_one: Callable[[], collector.Collection]
    if metrics_server:
        assert kube is not None
        collect_one = functools.partial(
            collect_metrics_server, kube, parse_duration(duration), parse_duration(interval), out,
            overwrite=overwrite, cluster_name=cluster, progress=progress,
        )  # fmt: skip
    else:
        assert prometheus_url is not None
        password = (
            read_secret(basic_auth_password_file, "--basic-auth-password-file") if basic_auth_password_file else ""
        )
        options = PromOptions(
            url=prometheus_url,
            token=resolve_token(token_file, token_from_env),
            basic_auth=(basic_auth_user, password) if basic_auth_user else None,
            headers=parse_headers(headers),
            ca_file=ca_file,
            insecure_skip_tls_verify=insecure_skip_tls_verify,
            timeout_s=parse_duration(timeout),
            retries=retries,
            concurrency=concurrency,
            gzip=gzip,
            cluster_label=cluster_label,
            cluster=cluster_value,
        )
        collect_one = functools.partial(
            collector.collect_prometheus,
            options,
            timerange.time_range(since=since, start=start, end=end, step=step),
            out,
            overwrite=overwrite,
            namespaces=tuple(namespaces),
            kube=kube,
            objects_path=objects,
            scrape_interval=parse_duration(scrape_interval) if scrape_interval else None,
            cluster_name=cluster,
            progress=progress,
            shard=shard,
        )
    with freed_memory_returned():  # a stream: what each request makes is handed back once its rows are written
        result = collect_one()
    return Collected(result.path, result.pods, result.samples, dict(result.requests), list(result.notes))


def shard_settings(
    rules: Sequence[Rule],
    group_by: Sequence[str],
    prices: Prices,
    vpa_flags: RecommenderFlags | None,
    namespaces: Sequence[str],
    selector: str | None,
) -> dict[str, Any]:
    """What shaped a shard's analysis, as JSON values (:func:`write_partial`): the merge refuses parts whose
    settings differ."""
    return {
        "rules": [asdict(r) for r in rules],
        "group_by": list(group_by),
        "prices": asdict(prices),
        "vpa_recommender": None if vpa_flags is None else asdict(vpa_flags),
        "namespaces": sorted(namespaces),
        "selector": selector or "",
    }
