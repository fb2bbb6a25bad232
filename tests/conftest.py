"""Shared fixtures, built once per test worker: a small generated snapshot and the analyses tests read."""

from __future__ import annotations

from pathlib import Path

import pytest

from analyzer.api import Analysis, analyze, load_snapshot
from analyzer.synth.generate import Synthetic, generate, write_sample
from analyzer.synth.scenarios import CATALOGUE


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
