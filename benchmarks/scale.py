"""Large clusters, measured the way a user runs them: `sample` snapshots of 100, 1,000 and 3,000 workloads
× 7 days at 60 s (the generator's scenarios, with their pod churn), then `report` on each in a fresh
process: samples, pods, wall and CPU time per phase, peak PSS of the process and of its forked workers,
output bytes, µs per sample; the floor (reading the snapshot's Parquet into Arrow) and the run's ratio
to it; the growth exponent between sizes. The largest size is also run as 4 shards one after another
(each shard's peak and time) and merged. One size is also run with its workloads in the catalogue's 7
namespaces rather than a namespace each (``shop`` then holds a third of the cluster): a namespace larger
than a partition is cut between its workloads, so the peak should stay that of the usual layout.

Targets (issue 17, 2 cores): 1,000 workloads in ≤ 60 s and ≤ 3 GiB PSS with workers; 3,000 in ≤ 3× that
time at the same peak; growth exponent ≤ 1.1.

Environment: BENCH_SIZES (default 100,1000,3000), BENCH_DAYS (7), BENCH_CACHE (where the generated
snapshots are kept between runs: generating 3,000 workload-weeks takes about 20 minutes; default
$TMPDIR/sidecar-impact-bench), BENCH_SHARDS (4; 0 runs no shards), BENCH_SHARED (1000: the size also run
in 7 namespaces; 0 runs none), BENCH_TOP (5, the CLI's default ``--top``: HPAs and workloads plotted).
"""

from __future__ import annotations

import itertools
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _measure import GIB, PeakPss

HERE = Path(__file__).resolve().parent
SIZES = [int(x) for x in os.environ.get("BENCH_SIZES", "100,1000,3000").split(",")]
DAYS = float(os.environ.get("BENCH_DAYS", 7))
CACHE = Path(os.environ.get("BENCH_CACHE", Path(tempfile.gettempdir()) / "sidecar-impact-bench"))
SHARDS = int(os.environ.get("BENCH_SHARDS", 4))
SHARED = int(os.environ.get("BENCH_SHARED", 1000))
TOP = int(os.environ.get("BENCH_TOP", 5))  # the CLI's default --top
TARGET_1000_S, TARGET_GIB, TARGET_EXPONENT = 60.0, 3.0, 1.1

STAGES = {
    1: "classify+index",
    2: "overhead",
    3: "vpa",
    4: "hpa-prepare",
    5: "replay+skew",
}
"""What :func:`analyzer.api.analyze` has finished at each of its progress steps."""

CHILD = r"""
import json, sys, time
from analyzer.runtime.allocator import keep_arrow_pages
keep_arrow_pages()  # as the command line does, before anything loads pyarrow
sys.path.insert(0, {here!r})
from _measure import Phases
from analyzer import api
from analyzer.snapshot.shards import Shard

path, out, shard = sys.argv[1], sys.argv[2], sys.argv[3]
phases = Phases()
def progress(stage, done, total):
    if stage == "load":
        phases.mark("load")
    elif stage == "analysis":
        phases.mark({stages!r}[done])
    elif stage == "partitions":
        phases.mark("spill+wait", f"partition {{done}} of {{total}}")
part = None if shard == "-" else Shard.parse(shard)
analysis = api.analyze_dir(path, shard=part, progress=progress)
phases.mark("tables+merge")
if part is None:
    files = api.render(analysis, out, ["html", "json"], top={TOP})
    phases.mark("render")
else:
    files = [api.write_partial(analysis, out, part, {{}})]
    phases.mark("write-partial")
size = sum(f.stat().st_size for p in files for f in ([p] if p.is_file() else p.rglob("*")) if f.is_file())
print(json.dumps({{"wall": phases.wall, "cpu": phases.cpu, "timeline": phases.timeline, "samples": analysis.samples,
                  "workloads": len(analysis.workloads), "hpas": len(analysis.hpa_skew), "bytes": size,
                  "pods": len(analysis.classes[["namespace", "pod"]].drop_duplicates())}}))
"""

FLOOR = r"""
import sys, time
from pathlib import Path
import pyarrow.parquet as pq
root = Path(sys.argv[1])
t = time.perf_counter()
rows = 0
for f in sorted(root.rglob("*.parquet")):
    if "ground_truth" not in f.parts:
        rows += pq.read_table(f).num_rows  # one file at a time: the floor's memory is the largest file
print(time.perf_counter() - t, rows)
"""


def snapshot(workloads: int) -> tuple[Path, float]:
    """The cached snapshot of ``workloads`` (generated when missing) and the seconds generating it took (0: cached)."""
    path = CACHE / f"w{workloads}-d{DAYS:g}"
    if (path / "metadata.json").is_file():
        return path, 0.0
    CACHE.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    cmd = [sys.executable, "-m", "analyzer", "sample", "--out", str(path), "--workloads", str(workloads),
           "--days", str(DAYS), "--step", "60s", "--seed", "7", "--overwrite"]  # fmt: skip
    with PeakPss(pid=os.getpid()).watching() as pss:
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    took = time.perf_counter() - t
    print(f"  generated {workloads} workloads × {DAYS:g} d in {took:.0f} s, peak PSS {pss.tree / GIB:.2f} GiB")
    return path, took


def shared_namespaces(path: Path) -> tuple[Path, int]:
    """The snapshot at ``path`` with every workload in its catalogue scenario's namespace (``shop-12`` ->
    ``shop``; names stay unique, as the copies' workloads are numbered too), made once next to it; and
    the largest namespace's samples."""
    import re

    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    out = path.with_name(path.name + "-shared")
    base = re.compile(r"^(.*)-\d+$")
    if not (out / "metadata.json").is_file():
        tmp = Path(tempfile.mkdtemp(prefix=out.name + ".", dir=path.parent))
        for part in sorted((path / "usage").iterdir()):
            ns = part.name.removeprefix("namespace=")
            match = base.match(ns)
            target = tmp / "usage" / f"namespace={match.group(1) if match else ns}"
            target.mkdir(parents=True, exist_ok=True)
            os.link(part / "part-0.parquet", target / f"part-{ns}.parquet")
        for name in ("replicas.parquet", "pod_status.parquet"):
            table = pq.read_table(path / name)
            shared = pc.replace_substring_regex(table["namespace"], r"^(.*)-\d+$", r"\1")
            pq.write_table(table.set_column(table.schema.get_field_index("namespace"), "namespace", shared),
                           tmp / name, compression="zstd")  # fmt: skip
        (tmp / "objects").mkdir()
        for file in sorted((path / "objects").iterdir()):
            text = re.sub(r'"namespace": "(.*?)-\d+"', r'"namespace": "\1"', file.read_text())
            (tmp / "objects" / file.name).write_text(text)
        (tmp / "metadata.json").write_bytes((path / "metadata.json").read_bytes())
        tmp.rename(out)
    rows = {d.name: sum(pq.read_metadata(f).num_rows for f in d.glob("*.parquet")) for d in (out / "usage").iterdir()}
    return out, max(rows.values())


def measured(script: str, *args: str) -> tuple[str, float, PeakPss]:
    """Run ``script`` in a fresh interpreter; its stdout, wall seconds and peak PSS (it and its workers)."""
    t = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", script, *args], stdout=subprocess.PIPE, text=True)
    with PeakPss(pid=proc.pid).watching() as pss:
        out, _ = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"benchmark child failed with exit code {proc.returncode}")
    return out, time.perf_counter() - t, pss


def report(path: Path, shard: str = "-", out: Path | None = None) -> tuple[dict, float, PeakPss]:
    out = out or Path(tempfile.mkdtemp(prefix="scale-out-"))
    script = CHILD.format(here=str(HERE), stages=STAGES, TOP=TOP)
    text, wall, pss = measured(script, str(path), str(out), shard)
    return json.loads(text.strip().splitlines()[-1]), wall, pss


def peak_phase(data: dict, wall: float, pss: PeakPss) -> str:
    """When the tree's peak PSS was seen: the mark that closed the phase it fell in (the child's phases
    start after its imports, taken as the wall time they do not account for), and how many processes
    were alive then."""
    at = pss.tree_at_s - (wall - sum(data["wall"].values()))
    name = next((label for label, end in data["timeline"] if at <= end), "exit")
    return f"peak at {pss.tree_at_s:.0f} s of {wall:.0f} (before: {name}; {pss.processes_at_peak} processes)"


def main() -> None:
    print(
        f"scale: {', '.join(map(str, SIZES))} workloads × {DAYS:g} days at 60 s, HTML (top {TOP}) and JSON "
        f"(snapshots in {CACHE})"
    )
    results = []
    for workloads in SIZES:
        path, _ = snapshot(workloads)
        floor_text, _, floor_pss = measured(FLOOR, str(path))
        floor_s, rows = floor_text.split()
        data, wall, pss = report(path)
        results.append((workloads, data["samples"], wall))
        print(f"scale {workloads}: {data['samples']:,} samples, {data['pods']:,} pods, {data['hpas']} HPAs; "
              f"report {wall:.1f} s wall ({sum(data['cpu'].values()):.1f} s CPU), peak PSS {pss.main / GIB:.2f} GiB "
              f"main, {pss.tree / GIB:.2f} GiB with workers; outputs {data['bytes'] / 2**20:.1f} MiB; "
              f"{wall / data['samples'] * 1e6:.2f} µs/sample; floor (Parquet -> Arrow, {int(rows):,} rows) "
              f"{float(floor_s):.1f} s, {floor_pss.tree / GIB:.2f} GiB: run/floor "
              f"{wall / float(floor_s):.0f}×; {peak_phase(data, wall, pss)}")  # fmt: skip
        phases = ", ".join(f"{k} {v:.1f}/{data['cpu'][k]:.1f}" for k, v in data["wall"].items())
        print(f"  phases wall/CPU s: {phases}")
        if workloads == SHARED:
            shared, largest_rows = shared_namespaces(path)
            data, wall, pss = report(shared)
            print(f"scale {workloads} in 7 namespaces (the largest {largest_rows / 1e6:.1f} M samples): report "
                  f"{wall:.1f} s wall, peak PSS {pss.main / GIB:.2f} GiB main, {pss.tree / GIB:.2f} GiB with "
                  f"workers; {data['workloads']} workloads, {data['hpas']} HPAs")  # fmt: skip
    for (w1, s1, t1), (w2, s2, t2) in itertools.pairwise(results):
        exponent = math.log(t2 / t1) / math.log(s2 / s1)
        print(f"scale: growth {w1} -> {w2} workloads: time × {t2 / t1:.2f} for samples × {s2 / s1:.2f}, exponent "
              f"{exponent:.2f} (target ≤ {TARGET_EXPONENT})")  # fmt: skip
    if SHARDS < 1:
        return
    largest = SIZES[-1]
    path, _ = snapshot(largest)
    parts = Path(tempfile.mkdtemp(prefix="scale-parts-"))
    for index in range(SHARDS):
        data, wall, pss = report(path, f"{index}/{SHARDS}", parts)
        print(f"scale {largest} shard {index}/{SHARDS}: {data['workloads']} workloads, {wall:.1f} s, peak PSS "
              f"{pss.tree / GIB:.2f} GiB with workers")  # fmt: skip
    merge = (f"import sys; from analyzer import api; a, _ = api.merge_partials([{str(parts)!r}]); "
             f"api.render(a, sys.argv[1], ['html', 'json'], top={TOP})")  # fmt: skip
    _, wall, pss = measured(merge, tempfile.mkdtemp(prefix="scale-merged-"))
    merged = f"{wall:.1f} s (with the HTML and JSON), peak PSS {pss.tree / GIB:.2f} GiB"
    print(f"scale {largest} merge of {SHARDS} shards: {merged}")


if __name__ == "__main__":
    main()
