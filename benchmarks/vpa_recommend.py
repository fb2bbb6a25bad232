"""VPA recommendations and the sidecar overhead fit for 3,000 containers × 7 days of 60 s samples,
in one pass over the data (issue: VPA, target < 15 s and < 2 GiB). Environment: BENCH_DAYS.

The snapshot is built and written in a child process; this process loads it like a user's run, so
the peak RSS printed is the loader's and the analysis's, not the builder's.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _cluster import build

from analyzer.model.classify import classify
from analyzer.model.containers import container_table
from analyzer.model.overhead import fit_overhead, pair_with_app
from analyzer.model.usage_index import index_usage
from analyzer.model.workloads import pod_owners
from analyzer.simulate.vpa_snapshot import vpa_recommendations
from analyzer.snapshot.store import load_snapshot
from analyzer.snapshot.writing import write_snapshot

WORKLOADS, PODS = 750, 2  # x 2 containers = 3,000 pod containers
DAYS = float(os.environ.get("BENCH_DAYS", 7))
TARGET_S, TARGET_GIB = 15.0, 2.0


def peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "snapshot"
        subprocess.run([sys.executable, __file__, "--write", str(path)], check=True)
        t_load = time.perf_counter()
        snap = load_snapshot(path)
        load_s = time.perf_counter() - t_load
    rows = len(snap.usage)
    before = peak_gib()
    stages = {}
    t0 = time.perf_counter()
    classes = classify(snap, pod_owners(snap))
    stages["classify"] = time.perf_counter()
    peaks = {"classify": peak_gib()}
    index = index_usage(snap.usage, classes)
    stages["index"] = time.perf_counter()
    peaks["index"] = peak_gib()
    containers = container_table(snap, classes, index, snap.usage)
    stages["containers"] = time.perf_counter()
    peaks["containers"] = peak_gib()
    fits = fit_overhead(pair_with_app(snap.usage, index))
    stages["overhead fit"] = time.perf_counter()
    peaks["overhead fit"] = peak_gib()
    recs = vpa_recommendations(snap, index, containers)
    stages["vpa"] = time.perf_counter()
    peaks["vpa"] = peak_gib()
    elapsed = stages["vpa"] - t0
    last = t0
    parts = []
    for name, at in stages.items():
        parts.append(f"{name} {at - last:.1f}s/{peaks[name]:.2f}GiB")
        last = at
    print(f"vpa_recommend: {rows:,} samples, {len(recs.table)} VPA containers, {len(fits)} fits; load {load_s:.1f} s")
    print(f"vpa_recommend: {elapsed:.1f} s, target < {TARGET_S:.0f} s (stage time/peak RSS so far: {', '.join(parts)})")
    peak = peak_gib()
    print(f"vpa_recommend: peak RSS {peak:.2f} GiB (after loading: {before:.2f} GiB), target < {TARGET_GIB:.0f} GiB")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--write"]:
        write_snapshot(build(WORKLOADS, PODS, DAYS), sys.argv[2])
    else:
        main()
