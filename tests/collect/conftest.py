"""Session fixtures: one real Prometheus holding two generated clusters, the second with twice the pods."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd
import pytest

from analyzer.snapshot.schema import Snapshot
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


@pytest.fixture(scope="session")
def prom_data(tmp_path_factory: pytest.TempPathFactory) -> PromData:
    small = generate(workloads=5, days=0.5, step_s=60, seed=5)
    small = replace(small, snapshot=replace(small.snapshot, pod_status=starting(small.snapshot.pod_status)))
    big = doubled(small.snapshot)
    tsdb = backfill({"small": small.snapshot, "big": big}, tmp_path_factory.mktemp("prom"))
    return PromData(small, big, tsdb)


@pytest.fixture(scope="session")
def prometheus(prom_data: PromData, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    server = PrometheusServer(prom_data.tsdb, tmp_path_factory.mktemp("prom-run"))
    yield server
    server.stop()
