"""The library API that the CLI and notebooks share: load, generate, analyze, render."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd

from analyzer.__about__ import __version__
from analyzer.errors import NothingToAnalyse, clip
from analyzer.findings.analysis import Analysis
from analyzer.findings.hpa_skew import hpa_skew
from analyzer.findings.hpa_status import hpa_table
from analyzer.findings.merge import canonical, merge
from analyzer.findings.summary import findings_table, rebuilt_notes
from analyzer.findings.vpa_hazards import vpa_hazards, vpa_hpa_effect
from analyzer.model.classify import classify
from analyzer.model.containers import container_table
from analyzer.model.overhead import FitPolicy, fit_overhead, pair_with_app
from analyzer.model.pod_usage import pod_usage
from analyzer.model.rules import Rule, load_rules
from analyzer.model.selection import select_pods
from analyzer.model.shares import rollup, workload_table
from analyzer.model.usage_index import index_usage
from analyzer.model.workloads import pod_owners, workload_labels
from analyzer.prices import Prices
from analyzer.render import partial, registry, run_index, runs
from analyzer.render.outputs import check_out_dir
from analyzer.render.renderer import DEFAULT_TOP
from analyzer.simulate.counterfactual import counterfactual
from analyzer.simulate.hpa_behavior import ControllerFlags
from analyzer.simulate.kube_version import KubeVersion
from analyzer.simulate.vpa_recommender import RecommenderFlags
from analyzer.simulate.vpa_snapshot import vpa_recommendations
from analyzer.snapshot.schema import KSM_SOURCE, NOTES_KEY, SOURCE_ANNOTATION, Snapshot
from analyzer.snapshot.shards import Shard
from analyzer.snapshot.store import atomic_directory
from analyzer.snapshot.store import load_snapshot as _load
from analyzer.synth.generate import Synthetic, generate, write_sample


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
    "analyze",
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

    def step(done: int) -> None:
        if progress is not None:
            progress("analysis", done, 5)

    version = version or KubeVersion()
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
    vpa = vpa_recommendations(snapshot, index, containers, vpa_flags)
    step(3)
    replays = counterfactual(
        snapshot, classes, containers, overhead, index, version, flags, vpa_requests=vpa.requests_for
    )
    step(4)
    skew = hpa_skew(replays, containers, workloads)
    hazards = vpa_hazards(vpa, containers, [c.spec for c in replays.contexts], workloads)
    step(5)
    hpas = hpa_table(snapshot, owners, version, flags)
    rebuilt = rebuilt_counts(snapshot)
    analysis = Analysis(
        metadata=snapshot.metadata,
        prices=prices,
        classes=classes,
        containers=containers,
        overhead=overhead,
        workloads=workloads,
        namespaces=rollup(workloads, ["namespace"]),
        cluster=rollup(workloads, []),
        groups=rollup(workloads, [f"label:{x}" for x in group_by]) if group_by else pd.DataFrame(),
        hpas=hpas,
        hpa_skew=skew.table,
        remedies=skew.remedies,
        hpa_series=skew.series,
        vpa=vpa.table,
        vpa_hazards=hazards,
        vpa_hpa=vpa_hpa_effect(replays, vpa),
        findings=findings_table(
            skew.table,
            skew.remedies,
            hazards,
            classes,
            [*snapshot.metadata.extra.get(NOTES_KEY, []), *rebuilt_notes(rebuilt)],
            hpas,
        ),
        pod_usage=pod_usage(index, snapshot.usage),
        samples=len(snapshot.usage),
        rebuilt=rebuilt,
    )
    return canonical(analysis)


def rebuilt_counts(snapshot: Snapshot) -> tuple[tuple[str, int], ...]:
    """How many objects of each kind the collector rebuilt from kube-state-metrics."""
    return tuple(
        (kind, sum((o["metadata"].get("annotations") or {}).get(SOURCE_ANNOTATION) == KSM_SOURCE for o in items))
        for kind, items in snapshot.objects.items()
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
    parts, settings = partial.read_partials([Path(p) for p in paths])
    return merge(parts), settings


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
) -> list[Path]:
    """A scheduled run: the report in ``<out>/<cluster>/<UTC timestamp>/`` (whole or not at all), then
    ``<out>/<cluster>/latest`` pointed at it and all but the newest ``keep`` runs removed (0: keep all), then
    the oldest until the runs take at most ``keep_bytes`` (0: no limit; the new run always stays).
    ``<out>/<cluster>/index.html`` lists the runs kept with their headline figures. A lock makes an
    overlapping run fail (:class:`~analyzer.errors.LockedError`) instead of writing the same place."""
    cluster = analysis.metadata.cluster
    check_out_dir(Path(out))
    base = runs.cluster_dir(Path(out), cluster)
    created = now if now is not None else pd.Timestamp.now(tz="UTC")
    with runs.run_lock(base):
        name = runs.run_name(created)
        with atomic_directory(base / name) as tmp:
            written = render(analysis, tmp, formats, top)
            runs.write_run_record(tmp, cluster, created, __version__, analysis.summary())
        runs.point_latest(base, name)
        runs.prune(base, keep, current=name, cluster=cluster, keep_bytes=keep_bytes)
        run_index.write_index(base)
    return [base / name / p.name for p in written]


def sample(
    out: str | os.PathLike[str],
    workloads: int = 13,
    days: float = 3.0,
    step_s: float = 60.0,
    seed: int = 7,
    overwrite: bool = False,
) -> tuple[Path, Synthetic]:
    """Generate a synthetic snapshot with ground truth and write it to ``out``."""
    synthetic = generate(workloads=workloads, days=days, step_s=step_s, seed=seed)
    return write_sample(out, synthetic, overwrite=overwrite), synthetic
