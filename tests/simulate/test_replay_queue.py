"""The replay queue: partitions replayed in a background process, batched or split, give one replay's results,
and each partition the decisions on its observed pods as if decided alone."""

from __future__ import annotations

import multiprocessing as mp
import time
from dataclasses import fields, replace

import numpy as np
import pandas as pd
import pytest

from analyzer.simulate.counterfactual import PendingReplay, Replayed
from analyzer.simulate.hpa_behavior import ControllerFlags
from analyzer.simulate.hpa_replay import ReplayColumns, ReplayResult, replay
from analyzer.simulate.kube_version import KubeVersion
from analyzer.simulate.observed_sync import ObservedSyncs
from analyzer.simulate.replay_queue import ReplayQueue
from tests.simulate.test_hpa_replay import columns

STEPS = 40
WIDTHS = (7, 0, 30, 1, 12)


def pending_of(
    cols: ReplayColumns, demand: np.ndarray, initial: np.ndarray, syncs: ObservedSyncs
) -> list[PendingReplay]:
    """Partitions of ``WIDTHS`` columns each (one without HPAs), as prepare_counterfactual leaves them, with
    an HPA per column whose observed decisions are still to be made."""
    times = pd.date_range("2026-01-01", periods=STEPS, freq="60s")
    out, at = [], 0
    for width in WIDTHS:
        packed = cols.take(at, at + width) if width else None
        out.append(PendingReplay([], list(range(width)), packed, times, 60.0, demand[:, at : at + width],
                                 initial[at : at + width], np.zeros((STEPS, 0)), pd.DataFrame(),
                                 syncs.take(at, at + width)))  # fmt: skip
        at += width
    return out


def observed_syncs(cols: ReplayColumns, rng: np.random.Generator) -> ObservedSyncs:
    """Observed replicas (some scrapes missing) and proposals (some none, some scrapes without pods)."""
    n = cols.n
    observed = rng.integers(1, 12, (STEPS, n)).astype(float)
    observed[rng.random(observed.shape) < 0.1] = np.nan
    proposal = rng.integers(-1, 15, (n, STEPS))
    return ObservedSyncs(tuple(cols.configs), observed, proposal, rng.random((n, STEPS)) < 0.9, 60.0)


@pytest.fixture(scope="module")
def case() -> tuple[list[PendingReplay], Replayed]:
    n = sum(WIDTHS)
    rng = np.random.default_rng(7)
    cols = columns(list(rng.integers(300, 1500, n)), list(rng.uniform(0, 50, n)), list(rng.uniform(800, 1600, n)))
    demand = rng.uniform(1.0, 9.0, (STEPS, n))
    demand[rng.random(demand.shape) < 0.05] = np.nan  # no data: the controller holds
    initial = rng.integers(1, 12, n)
    whole = replay(cols, demand, initial, 60.0, ControllerFlags(), workers=1)
    assert len(np.unique(whole.replicas[-1])) > 5  # the columns really differ
    syncs = observed_syncs(cols, rng)
    pending = pending_of(cols, demand, initial, syncs)
    return pending, Replayed(whole, syncs.decide(ControllerFlags()))


@pytest.mark.parametrize("background", [False, True])
@pytest.mark.parametrize("budget", [1, 20, 10_000])
def test_every_partition_gets_its_columns_of_one_whole_replay(case, background: bool, budget: int) -> None:
    pending, whole = case
    got: dict[int, Replayed] = {}
    with ReplayQueue[int](KubeVersion(), ControllerFlags(), budget, background) as queue:
        for i, p in enumerate(pending):
            for key, result in queue.put(i, p, last=i == len(pending) - 1):
                assert key not in got
                got[key] = result
        for key, result in queue.drain():
            assert key not in got
            got[key] = result
    assert sorted(got) == list(range(len(pending)))
    decided = whole.decided
    assert 0.3 < np.isfinite(decided).mean() < 0.95 and len(np.unique(decided[np.isfinite(decided)])) > 5
    at = 0
    for i, width in enumerate(WIDTHS):
        for f in fields(ReplayResult):
            assert np.array_equal(getattr(got[i].result, f.name), getattr(whole.result, f.name)[:, at : at + width]), (
                i, f.name)  # fmt: skip
        alone = pending[i].syncs.decide(ControllerFlags())
        assert np.array_equal(got[i].decided, alone, equal_nan=True), i
        assert np.array_equal(got[i].decided, decided[:, at : at + width], equal_nan=True), i
        at += width
    assert not mp.active_children()


def test_the_last_batch_is_split_between_the_two_processes(case) -> None:
    """The last partition waits for drain, which gives half its columns to the background process."""
    pending, whole = case
    with ReplayQueue[int](KubeVersion(), ControllerFlags(), 10_000, background=True) as queue:
        assert not [done for i, p in enumerate(pending) for done in queue.put(i, p, last=True)]
        done = dict(queue.drain())
    result = Replayed.concat([done[i] for i in range(len(pending))])
    for f in fields(ReplayResult):
        assert np.array_equal(getattr(result.result, f.name), getattr(whole.result, f.name)), f.name
    assert np.array_equal(result.decided, whole.decided, equal_nan=True)


def test_polls_between_puts_keep_the_background_process_busy(case) -> None:
    """Each poll collects a finished batch and sends the next queued one: after a while of polling, the next
    put returns every partition put before it (without polls, only the one replaying since the first put)."""
    pending, whole = case
    got: dict[int, Replayed] = {}
    with ReplayQueue[int](KubeVersion(), ControllerFlags(), 1, background=True) as queue:
        for i in range(3):
            got |= dict(queue.put(i, pending[i]))
        for _ in range(300):  # about three seconds at most; the three batches take milliseconds
            queue.poll()
            time.sleep(0.01)
        got |= dict(queue.put(3, pending[3]))
        assert sorted(got) == [0, 1, 2]
        got |= dict(queue.put(4, pending[4], last=True))
        queue.poll()  # the last partition stays for drain to split
        got |= dict(queue.drain())
    result = Replayed.concat([got[i] for i in range(len(pending))])
    for f in fields(ReplayResult):
        assert np.array_equal(getattr(result.result, f.name), getattr(whole.result, f.name)), f.name
    assert np.array_equal(result.decided, whole.decided, equal_nan=True)
    assert not mp.active_children()


@pytest.mark.parametrize("background", [False, True])
def test_a_failing_replay_is_raised_and_the_process_ends(case, background: bool) -> None:
    pending, _ = case
    bad = replace(pending[0], step_s=50.0)  # not a multiple of the 15 s sync
    failed = pytest.raises((RuntimeError, ValueError), match=r"step 50.0s must be a multiple of the HPA sync period")
    with failed, ReplayQueue[int](KubeVersion(), ControllerFlags(), 1, background) as queue:
        queue.put(0, bad)
        queue.drain()
    assert not mp.active_children()
