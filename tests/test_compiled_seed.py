"""The image's compiled seed copied into a run's cache: regular files only, nothing overwritten, no link
followed (tests/test_wheel.py runs it end to end, as deploy/Dockerfile sets it up)."""

from __future__ import annotations

import os
from pathlib import Path

from analyzer.runtime.compiled_seed import SEED_VARIABLE, seed_compiled_cache


def _seed(root: Path) -> Path:
    seed = root / "seed"
    (seed / "simulate_ab12").mkdir(parents=True)
    (seed / "simulate_ab12" / "loop.nbi").write_bytes(b"index")
    (seed / "simulate_ab12" / "loop.1.nbc").write_bytes(b"code")
    (seed / "top.nbi").write_bytes(b"top")
    secret = root / "secret"
    secret.mkdir()
    (secret / "key").write_text("never copied")
    os.symlink(secret / "key", seed / "linked.nbi")
    os.symlink(secret, seed / "linked-folder")
    return seed


def test_the_seed_is_copied_into_a_missing_cache_in_its_layout(tmp_path: Path) -> None:
    seed, cache = _seed(tmp_path), tmp_path / "volume" / "numba-cache"
    env = {SEED_VARIABLE: str(seed), "NUMBA_CACHE_DIR": str(cache)}
    assert seed_compiled_cache(env) == 3
    copied = sorted(str(p.relative_to(cache)) for p in cache.rglob("*") if p.is_file())
    assert copied == ["simulate_ab12/loop.1.nbc", "simulate_ab12/loop.nbi", "top.nbi"]
    assert (cache / "simulate_ab12" / "loop.1.nbc").read_bytes() == b"code"
    assert not list(cache.rglob("*.part"))
    assert seed_compiled_cache(env) == 0  # the second run finds everything in place


def test_what_the_cache_holds_stays_and_no_link_there_is_followed(tmp_path: Path) -> None:
    seed, cache = _seed(tmp_path), tmp_path / "cache"
    (cache / "simulate_ab12").mkdir(parents=True)
    (cache / "simulate_ab12" / "loop.nbi").write_bytes(b"newer index")
    victim = tmp_path / "victim"
    victim.write_bytes(b"untouched")
    os.symlink(victim, cache / "top.nbi")
    assert seed_compiled_cache({SEED_VARIABLE: str(seed), "NUMBA_CACHE_DIR": str(cache)}) == 1
    assert (cache / "simulate_ab12" / "loop.nbi").read_bytes() == b"newer index"
    assert (cache / "simulate_ab12" / "loop.1.nbc").read_bytes() == b"code"
    assert victim.read_bytes() == b"untouched" and (cache / "top.nbi").is_symlink()

    linked = tmp_path / "linked-cache"
    os.symlink(tmp_path / "elsewhere", linked)
    (tmp_path / "elsewhere").mkdir()
    assert seed_compiled_cache({SEED_VARIABLE: str(seed), "NUMBA_CACHE_DIR": str(linked)}) == 0
    assert not list((tmp_path / "elsewhere").iterdir())


def test_without_both_variables_or_a_seed_folder_nothing_happens(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    assert seed_compiled_cache({"NUMBA_CACHE_DIR": str(cache)}) == 0
    assert seed_compiled_cache({SEED_VARIABLE: str(_seed(tmp_path))}) == 0
    assert seed_compiled_cache({SEED_VARIABLE: str(tmp_path / "missing"), "NUMBA_CACHE_DIR": str(cache)}) == 0
    assert not cache.exists()
