"""The report on the 1,000-workload week with and without the containers' status over time.

`scale`'s cached week (generated when missing) is copied, its files hard-linked, with a
``container_status.parquet`` made from its ``pod_status``: each container of each pod waiting until the
pod runs and ready when the pod turns Ready, and one sidecar in ten (by a seeded draw) restarting every two
hours and down for two steps. Then the report (HTML and JSON, as `scale` runs it) alternates between the
two snapshots, each in a fresh process, and prints both sides' wall, CPU, peak memory and the failure
figures. The usage is the same in both, so no pod goes missing a metric: this measures the failures'
tables, findings and plots at scale, not the decisions without the missing metrics (docs/failures.md).

Environment: BENCH_ROUNDS (2), and `scale`'s BENCH_CACHE, BENCH_DAYS, BENCH_TOP.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from _measure import GIB
from scale import report, snapshot

from analyzer.snapshot import schema
from analyzer.snapshot.writing import container_status_table

ROUNDS = int(os.environ.get("BENCH_ROUNDS", 2))
FAILING_SHARE = 0.1
CRASH_EVERY_S = 7200.0
TARGET = 1.10
"""The report with container status may take at most 10 % longer than without (issue: sidecar failures)."""


def with_status(path: Path) -> Path:
    """``path``'s snapshot with a container_status, made once next to it (files hard-linked)."""
    out = path.with_name(path.name + "-failures")
    if (out / "metadata.json").is_file():
        return out
    tmp = Path(tempfile.mkdtemp(prefix=out.name + ".", dir=path.parent))
    for file in sorted(path.rglob("*")):
        if file.is_file() and "ground_truth" not in file.parts:
            target = tmp / file.relative_to(path)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.link(file, target)
    table = container_status_table(status_of(path))
    pq.write_table(table, tmp / schema.CONTAINER_STATUS_FILE, compression="zstd")
    tmp.rename(out)
    return out


def status_of(path: Path) -> pd.DataFrame:
    """The container_status rows: per pod, its first observation and its turn to Ready, for every container;
    a crash every two hours for one sidecar in ten."""
    step = json.loads((path / schema.METADATA_FILE).read_text())["step_s"]
    status = pd.read_parquet(path / schema.POD_STATUS_FILE, columns=["timestamp", "namespace", "pod", "ready"])
    status = status.astype({"namespace": str, "pod": str})
    first = status.groupby(["namespace", "pod"], sort=True).agg(seen=("timestamp", "min"), last=("timestamp", "max"))
    ready_at = status[status["ready"]].groupby(["namespace", "pod"])["timestamp"].min()
    first["ready_at"] = ready_at.reindex(first.index)
    pods = json.loads((path / schema.OBJECTS_DIR / "pods.json").read_text())["items"]
    names = {(p["metadata"]["namespace"], p["metadata"]["name"]): [c["name"] for c in p["spec"]["containers"]]
             for p in pods}  # fmt: skip
    rng = np.random.default_rng(7)
    rows = []
    for (ns, pod), r in first.iterrows():
        for i, container in enumerate(names.get((ns, pod), [])):
            base = {"namespace": ns, "pod": pod, "container": container, "restarts": 0, "last_reason": "",
                    "last_exit_code": -1}  # fmt: skip
            ready_now = pd.notna(r.ready_at) and r.ready_at <= r.seen
            rows.append({**base, "timestamp": r.seen, "ready": ready_now, "state": "running"})
            if pd.notna(r.ready_at) and not ready_now:
                rows.append({**base, "timestamp": r.ready_at, "ready": True, "state": "running"})
            if i == 0 or rng.random() >= FAILING_SHARE or pd.isna(r.ready_at):
                continue
            crash, restarts = r.ready_at + pd.Timedelta(seconds=CRASH_EVERY_S), 0
            while crash + pd.Timedelta(seconds=2 * step) < r["last"]:
                restarts += 1
                down = {**base, "restarts": restarts - 1, "last_reason": "Error", "last_exit_code": 1}
                rows.append({**down, "timestamp": crash, "ready": False, "state": "waiting"})
                back = {**base, "restarts": restarts, "last_reason": "Error", "last_exit_code": 1}
                rows.append({**back, "timestamp": crash + pd.Timedelta(seconds=2 * step), "ready": True,
                             "state": "running"})  # fmt: skip
                crash += pd.Timedelta(seconds=CRASH_EVERY_S)
    frame = pd.DataFrame(rows)
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True).dt.as_unit("ns")
    frame = frame.sort_values(["namespace", "pod", "container", "timestamp"], kind="stable", ignore_index=True)
    return frame.drop_duplicates(["namespace", "pod", "container", "timestamp"], keep="last")


def main() -> None:
    base, _ = snapshot(1000)
    failing = with_status(base)
    rows = pq.read_metadata(failing / schema.CONTAINER_STATUS_FILE).num_rows
    print(f"failures: the 1,000-workload week with and without container status ({rows:,} rows), {ROUNDS} rounds")
    walls: dict[str, list[float]] = {"without": [], "with": []}
    for _ in range(ROUNDS):
        for name, path in (("without", base), ("with", failing)):
            data, wall, pss = report(path)
            walls[name].append(wall)
            phases = ", ".join(f"{k} {v:.1f}" for k, v in data["wall"].items())
            print(f"failures {name} status: {wall:.1f} s wall ({sum(data['cpu'].values()):.1f} s CPU), peak PSS "
                  f"{pss.main / GIB:.2f} GiB main, {pss.tree / GIB:.2f} GiB with workers; outputs "
                  f"{data['bytes'] / 2**20:.1f} MiB; phases {phases}")  # fmt: skip
    ratio = np.mean(walls["with"]) / np.mean(walls["without"])
    print(f"failures: with status / without: {ratio:.3f} (target ≤ {TARGET})")


if __name__ == "__main__":
    main()
