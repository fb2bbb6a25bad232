"""Session fixtures: one real Prometheus holding two generated clusters, the second with twice the pods."""

from __future__ import annotations

import copy
import fcntl
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd
import pytest

from analyzer.snapshot.schema import CONTAINER_STATES, CONTAINER_STATUS_LABELS, Snapshot
from analyzer.synth.generate import Synthetic, generate
from tests.collect.promserver import PrometheusServer, backfill

START = "2026-11-02T00:00:00Z"
END = "2026-11-02T12:00:00Z"


@dataclass(frozen=True)
class PromData:
    """What the server holds: ``small`` (cluster="small") and ``big`` (cluster="big", every pod twice)."""

    small: Synthetic
    big: Snapshot
    tsdb: Path


def doubled(snapshot: Snapshot) -> Snapshot:
    """Every pod twice: a twin named ``<pod>-twin`` with the same containers and usage."""
    twin_usage = snapshot.usage.astype({"pod": object}).assign(pod=lambda f: f["pod"] + "-twin")
    usage = pd.concat([snapshot.usage.astype({"pod": object}), twin_usage], ignore_index=True)
    twins = []
    for pod in snapshot.items("Pod"):
        twin = copy.deepcopy(pod)
        twin["metadata"]["name"] += "-twin"
        twins.append(twin)
    objects = {**snapshot.objects, "Pod": [*snapshot.items("Pod"), *twins]}
    return replace(snapshot, usage=usage, objects=objects)


def starting(status: pd.DataFrame) -> pd.DataFrame:
    """Each pod Pending and unready at its first scrape, then Running but unready at its second: what
    kube-state-metrics shows of a slow start (the generator's pods are Ready by their first scrape)."""
    status = status.copy()
    rank = status.groupby(["namespace", "pod"], observed=True).cumcount().to_numpy()
    status.loc[rank == 0, "phase"] = "Pending"
    status.loc[rank <= 1, "ready"] = False
    return status


def container_changes(snapshot: Snapshot, namespace: str = "shop") -> pd.DataFrame:
    """The status of the containers of ``namespace``'s pods as changes, following each pod's readiness
    (waiting while Pending), and one istio-proxy OOM-killed for two scrapes mid-range (terminated OOMKilled, then
    waiting): restarted once, last terminated OOMKilled with 137. One namespace: its series are written at every
    scrape, the backfill's size follows them."""
    containers = {(p["metadata"]["namespace"], p["metadata"]["name"]): [c["name"] for c in p["spec"]["containers"]]
                  for p in snapshot.items("Pod")}  # fmt: skip
    rows = []
    for (ns, pod), status in snapshot.pod_status.groupby(["namespace", "pod"], observed=True, sort=True):
        if str(ns) != namespace:
            continue
        for c in containers[(str(ns), str(pod))]:
            state = (status["phase"] == "Running").map({True: "running", False: "waiting"})
            frame = pd.DataFrame({"timestamp": status["timestamp"].to_numpy(), "namespace": str(ns), "pod": str(pod),
                                  "container": c, "ready": status["ready"].to_numpy(), "restarts": 0,
                                  "state": state.to_numpy(), "last_reason": "", "last_exit_code": -1,
                                  "terminated_reason": ""})  # fmt: skip
            rows.append(frame)
    frame = pd.concat(rows, ignore_index=True)
    victim = frame[frame["container"] == "istio-proxy"]["pod"].iloc[0]
    mine = (frame["pod"] == victim) & (frame["container"] == "istio-proxy")
    times = frame.loc[mine, "timestamp"].to_numpy()
    down, back = times[len(times) // 2], times[len(times) // 2 + 2]
    after = mine & (frame["timestamp"] >= down)
    frame.loc[after, ["restarts", "last_reason", "last_exit_code"]] = [1, "OOMKilled", 137]
    frame.loc[after & (frame["timestamp"] < back), ["ready", "state"]] = [False, "waiting"]
    frame.loc[mine & (frame["timestamp"] == down), ["state", "terminated_reason"]] = ["terminated", "OOMKilled"]
    key = ["namespace", "pod", "container"]
    values = frame[["ready", "restarts", "state", "last_reason", "last_exit_code", "terminated_reason"]].astype(str)
    values = values.agg("|".join, axis=1)
    who = frame[key].agg("/".join, axis=1)
    frame = frame[(who != who.shift()) | (values != values.shift())].reset_index(drop=True)
    for column in CONTAINER_STATUS_LABELS:
        frame[column] = pd.Categorical(frame[column], categories=sorted(set(frame[column])))
    frame["state"] = pd.Categorical(frame["state"], categories=list(CONTAINER_STATES))
    frame = frame.sort_values([*key, "timestamp"], kind="stable", ignore_index=True)
    return frame.astype({"restarts": "int64", "last_exit_code": "int64", "ready": bool})


@pytest.fixture(scope="session")
def prom_data(tmp_path_factory: pytest.TempPathFactory) -> PromData:
    small = generate(workloads=5, days=0.5, step_s=60, seed=5)
    small = replace(small, snapshot=replace(small.snapshot, pod_status=starting(small.snapshot.pod_status)))
    small = replace(small, snapshot=replace(small.snapshot, container_status=container_changes(small.snapshot)))
    big = doubled(small.snapshot)
    return PromData(small, big, _shared_tsdb({"small": small.snapshot, "big": big}, tmp_path_factory))


def _shared_tsdb(snapshots: dict[str, Snapshot], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The backfilled TSDB (promtool takes seconds), built once per run: under pytest-xdist the first worker
    builds it in the run's directory (the workers' common parent) while the others wait on a lock, and each
    gets its own copy (a Prometheus locks the directory it serves)."""
    mine = tmp_path_factory.mktemp("prom") / "tsdb"
    if "PYTEST_XDIST_WORKER" not in os.environ:
        return backfill(snapshots, mine.parent)
    run_dir = tmp_path_factory.getbasetemp().parent
    with (run_dir / "prom-tsdb.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        built = run_dir / "prom-tsdb"
        if not (built / "complete").exists():
            shutil.rmtree(built, ignore_errors=True)
            (built / "complete").parent.mkdir()
            backfill(snapshots, built)
            (built / "complete").touch()
    shutil.copytree(built / "tsdb", mine)
    return mine


@pytest.fixture(scope="session")
def prometheus(prom_data: PromData, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    server = PrometheusServer(prom_data.tsdb, tmp_path_factory.mktemp("prom-run"))
    yield server
    server.stop()
