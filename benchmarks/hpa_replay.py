"""1,000 HPAs replayed over 7 days of 15 s syncs, all views and remedies (issue: HPA, target < 20 s).

The HPAs are the bundled sample's (every scenario of the catalogue), repeated to 1,000 with their
demand tiled to 7 days and scaled and phase-shifted per copy, so the mix of metrics, behaviors,
sidecars and stalls is the sample's. Environment: BENCH_HPAS, BENCH_DAYS, BENCH_WORKERS (default: all CPUs).
"""

from __future__ import annotations

import os
import time

import numpy as np

from analyzer.api import load_snapshot
from analyzer.model.classify import classify
from analyzer.model.containers import container_table
from analyzer.model.overhead import fit_overhead, pair_with_app
from analyzer.model.usage_index import WORKLOAD_KEY, index_usage
from analyzer.model.workloads import pod_owners
from analyzer.runtime.cpus import available_cpus
from analyzer.simulate.counterfactual import pack_columns
from analyzer.simulate.hpa_replay import replay
from analyzer.simulate.hpa_spec import ControllerFlags, parse_hpas
from analyzer.simulate.kube_version import KubeVersion
from analyzer.simulate.views import VIEWS, hpa_contexts, view_columns

HPAS = int(os.environ.get("BENCH_HPAS", 1000))
DAYS = float(os.environ.get("BENCH_DAYS", 7))
TARGET_S = 20.0
WORKERS = int(os.environ.get("BENCH_WORKERS", 0)) or None


def main() -> None:
    snap = load_snapshot()
    version, flags = KubeVersion(), ControllerFlags()
    classes = classify(snap, pod_owners(snap))
    index = index_usage(snap.usage, classes)
    containers = container_table(snap, classes, index, snap.usage)
    overhead = fit_overhead(pair_with_app(snap.usage, index))
    base, _ = hpa_contexts(snap, classes, containers, overhead, parse_hpas(snap.hpas, version, flags))
    total, _ = index.demand(snap.usage)
    wid = index.workloads.reset_index().set_index(WORKLOAD_KEY)["index"]
    step = snap.metadata.step_s
    n_t = int(DAYS * 86400 / step)
    rng = np.random.default_rng(1)
    contexts = [base[i % len(base)] for i in range(HPAS)]
    demand = np.empty((n_t, HPAS))
    for h, ctx in enumerate(contexts):
        series = total[int(wid.loc[ctx.workload])]
        shift = int(rng.integers(0, series.size))
        demand[:, h] = np.resize(np.roll(series, shift), n_t) * rng.uniform(0.8, 1.2)
    initial = np.array([ctx.spec.scaling.min_replicas + 1 for ctx in contexts], dtype=np.int64)

    t0 = time.perf_counter()
    cols = [c for h, ctx in enumerate(contexts) for c in view_columns(ctx, h, version) if c.view in VIEWS]
    hpa_of = np.array([c.hpa for c in cols], dtype=np.int64)
    packed = pack_columns(cols, contexts, version)
    result = replay(packed, demand[:, hpa_of], initial[hpa_of], step, flags,
                    version.missing_pod_fallback_is_max_target, workers=WORKERS or available_cpus())  # fmt: skip
    elapsed = time.perf_counter() - t0
    syncs = int(n_t * step / flags.sync_period_s)
    views = sorted({c.view for c in cols})
    print(f"hpa_replay: {HPAS} HPAs, {len(cols)} columns ({', '.join(views)}), {syncs} syncs over {DAYS} days")
    cpus = WORKERS or available_cpus()
    per_sync = elapsed / syncs * 1e6
    print(f"hpa_replay: {elapsed:.1f} s ({per_sync:.0f} us per sync, {cpus} processes), target < {TARGET_S:.0f} s")
    print(f"hpa_replay: mean replicas {result.replicas.mean():.2f}, failed share {result.failed.mean():.3f}")


if __name__ == "__main__":
    main()
