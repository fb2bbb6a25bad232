"""Shared fixtures: a small generated snapshot written once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from analyzer.synth.generate import Synthetic, generate, write_sample


@pytest.fixture(scope="session")
def small() -> Synthetic:
    """Every catalogue scenario, half a day at 60 s."""
    return generate(workloads=13, days=0.5, step_s=60, seed=11)


@pytest.fixture(scope="session")
def small_dir(tmp_path_factory: pytest.TempPathFactory, small: Synthetic) -> Path:
    return write_sample(tmp_path_factory.mktemp("snap") / "small", small)
