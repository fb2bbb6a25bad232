"""Shared fixtures, built once per test worker: a small generated snapshot and the analyses tests read."""

from __future__ import annotations

from pathlib import Path

import pytest

from analyzer.api import Analysis, analyze, load_snapshot
from analyzer.simulate import hpa_controller
from analyzer.synth.generate import Synthetic, generate, write_sample
from analyzer.synth.scenarios import CATALOGUE


def pytest_configure(config: pytest.Config) -> None:
    """Compile the HPA loops into numba's on-disk cache once, here in the controlling process, before the test
    workers and the command-line runs start: on a fresh checkout each of them would compile the loops itself
    (about 12 CPU-seconds each) until one had written the cache. Where it is written, this is a load."""
    if hasattr(config, "workerinput"):  # an xdist worker: the controller has done it
        return
    hpa_controller.warm()
    generate(workloads=2, days=0.02)  # the generator's own loops


@pytest.fixture(scope="session")
def small() -> Synthetic:
    """Every catalogue scenario, half a day at 60 s."""
    return generate(workloads=len(CATALOGUE), days=0.5, step_s=60, seed=11)


@pytest.fixture(scope="session")
def small_dir(tmp_path_factory: pytest.TempPathFactory, small: Synthetic) -> Path:
    return write_sample(tmp_path_factory.mktemp("snap") / "small", small)


@pytest.fixture(scope="session")
def small_analysis(small: Synthetic) -> Analysis:
    """:func:`analyze` of :func:`small` with default flags; tests read it, never change it."""
    return analyze(small.snapshot)


@pytest.fixture(scope="session")
def sample_analysis() -> Analysis:
    """:func:`analyze` of the bundled sample (15 workloads, 3 days) with default flags."""
    return analyze(load_snapshot())
