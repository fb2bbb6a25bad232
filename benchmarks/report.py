"""The report for 1,000 workloads × 7 days: the default formats (HTML with the top 20 HPAs plotted,
JSON; target < 60 s, and < 50 MiB together: what a nightly run keeps), then CSV and the Parquet
replica series, timed and sized on their own. Each workload: 2 pods of an app and an injected
istio-proxy, a CPU HPA and a VPA. The snapshot is written by a child process and loaded here.
Environment: BENCH_DAYS. Also prints peak memory per million samples, the rule deploy/ is sized by."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _cluster import build

from analyzer.api import analyze, load_snapshot, render
from analyzer.snapshot.writing import write_snapshot

WORKLOADS, PODS = 1000, 2
DAYS = float(os.environ.get("BENCH_DAYS", 7))
TARGET_S = 60.0
TOP = 20  # the "top 20 plots"
BUDGET_MIB = 50  # what a nightly run may keep (issue: outputs sized for a schedule)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "snapshot"
        subprocess.run([sys.executable, __file__, "--write", str(path)], check=True)
        t0 = time.perf_counter()
        snap = load_snapshot(path)
        t1 = time.perf_counter()
        analysis = analyze(snap)
        t2 = time.perf_counter()
        paths = render(analysis, Path(tmp) / "out", ["html", "json"], top=TOP)
        t3 = time.perf_counter()
        extra = render(analysis, Path(tmp) / "extra", ["csv", "series"], top=TOP)
        t4 = time.perf_counter()
        sizes = {p.name: _bytes(p) for p in [*paths, *extra]}
        default_bytes = sum(_bytes(p) for p in paths)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"report: {len(snap.usage):,} samples, {len(analysis.hpa_skew)} HPAs, {len(analysis.workloads)} workloads")
    print(f"report: {t3 - t0:.1f} s (load {t1 - t0:.1f}, analyze {t2 - t1:.1f}, render html+json {t3 - t2:.1f}), "
          f"target < {TARGET_S:.0f} s; csv+series {t4 - t3:.1f} s more; peak RSS {peak:.2f} GiB, "
          f"{peak / (len(snap.usage) / 1e6):.3f} GiB per million samples")  # fmt: skip
    print("report: " + ", ".join(f"{name} {size / 2**20:.1f} MiB" for name, size in sizes.items()))
    print(
        f"report: default outputs (html+json) {default_bytes / 2**20:.1f} MiB, budget < {BUDGET_MIB} MiB: "
        f"{'within' if default_bytes < BUDGET_MIB * 2**20 else 'OVER'}"
    )


def _bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*")) if path.is_dir() else path.stat().st_size


if __name__ == "__main__":
    if sys.argv[1:2] == ["--write"]:
        write_snapshot(build(WORKLOADS, PODS, DAYS, hpas=True), sys.argv[2])
    else:
        main()
