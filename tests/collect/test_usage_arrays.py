"""A request's answers on the client (collect/prometheus_usage.py): raw samples evaluated a block of series at
a time give what one evaluation gives, and CPU and memory are joined as arrays as ``max by`` and an inner
join would."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer.collect.grid import OnGrid
from analyzer.collect.prom_answers import Matrix
from analyzer.collect.prometheus_usage import Labelled, evaluated, joined
from analyzer.collect.timerange import TimeRange

START = pd.Timestamp("2026-11-02T00:00:00Z")
CHUNK = TimeRange(START, START + pd.Timedelta(minutes=30), 60.0)


@settings(max_examples=60, deadline=None)
@given(
    series=st.lists(st.integers(0, 40), min_size=1, max_size=8),
    block=st.integers(1, 50),
    metric=st.sampled_from(["cpu_cores", "memory_bytes"]),
    seed=st.integers(0, 2**16),
)
def test_evaluation_in_blocks_equals_one_evaluation(series: list[int], block: int, metric: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    times, values = [], []
    for count in series:  # scrapes every 60 s with jitter, from 4 minutes before the chunk
        scrapes = np.sort(rng.choice(36, size=min(count, 36), replace=False))
        t = START.timestamp() - 240 + scrapes * 60 + rng.uniform(0, 5)
        times.append(t)
        values.append(np.cumsum(rng.uniform(0, 30, len(t))))  # a counter for CPU, any gauge for memory
    counts = np.array([len(t) for t in times])
    matrix = Matrix([{"pod": f"p{i}"} for i in range(len(series))], counts, np.concatenate(times),
                    np.concatenate(values))  # fmt: skip
    whole = evaluated(matrix, metric, CHUNK, 240.0, 60.0, block=10**9).at
    parts = evaluated(matrix, metric, CHUNK, 240.0, 60.0, block=block).at
    for field in ("series", "step", "value"):
        np.testing.assert_array_equal(getattr(parts, field), getattr(whole, field))


def test_cpu_and_memory_joined_two_jobs_folded_by_max_one_sided_samples_counted() -> None:
    a, b = ("shop", "web-1", "app"), ("shop", "web-1", "istio-proxy")
    # two scrape jobs report ``a``; ``b`` has memory only at step 2 and a negative CPU (a reset) at step 1
    cpu = Labelled([a, b, a], OnGrid(np.array([0, 0, 1, 1, 2, 2]), np.array([0, 1, 0, 1, 0, 1]),
                                     np.array([0.5, 0.6, -1.0, 0.2, np.nan, 0.9])))  # fmt: skip
    memory = Labelled([b, a], OnGrid(np.array([0, 0, 0, 1, 1]), np.array([0, 1, 2, 0, 1]),
                                     np.array([10.0, 11.0, 12.0, 100.0, 101.0])))  # fmt: skip
    usage, lost = joined(cpu, memory, CHUNK)
    got = [(int((r.timestamp - START).total_seconds() // 60), r.container, r.cpu_cores, r.memory_bytes)
           for r in usage.itertuples(index=False)]  # fmt: skip
    # a: max(0.5, NaN) and max(0.6, 0.9); b at step 0 dropped (negative), rows by step, then by name
    assert got == [(0, "app", 0.5, 100.0), (1, "app", 0.9, 101.0), (1, "istio-proxy", 0.2, 11.0)]
    assert lost == 1  # b's memory at step 2 had no CPU; the negative CPU is dropped, not counted as lost
    assert list(usage.columns) == ["timestamp", "namespace", "pod", "container", "cpu_cores", "memory_bytes"]
