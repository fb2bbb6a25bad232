"""ForkedMap: every job's result once, from this process or a forked one; failures raised here."""

from __future__ import annotations

import os
import signal
import time

import pytest

from analyzer.errors import SnapshotError, WorkerFailed
from analyzer.runtime.forked_map import ForkedMap

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")


def test_every_key_gives_its_result_once_from_either_process() -> None:
    main = os.getpid()

    def job(key: int) -> tuple[int, int]:
        return key * key, os.getpid()

    with ForkedMap(job, range(12), processes=2) as pool:
        got = dict(pool)
    assert {k: v[0] for k, v in got.items()} == {k: k * k for k in range(12)}
    where = {pid for _, pid in got.values()}
    assert main in where and len(where) == 2  # this process took some, the forked one the others


def test_one_process_runs_the_jobs_here_in_order() -> None:
    with ForkedMap(lambda key: (key, os.getpid()), [3, 1, 2], processes=1) as pool:
        assert list(pool) == [(3, (3, os.getpid())), (1, (1, os.getpid())), (2, (2, os.getpid()))]


def test_poll_hands_idle_processes_the_next_keys_while_a_long_job_runs_here() -> None:
    main = os.getpid()
    box: list[ForkedMap[int]] = []

    def job(key: int) -> int:
        if os.getpid() == main:
            deadline = time.monotonic() + 20
            while len(box[0]._done) < 4 and time.monotonic() < deadline:
                box[0].poll()  # as the analysis does between the stages of its partition
                time.sleep(0.01)
        return os.getpid()

    with ForkedMap(job, range(5), processes=2) as pool:
        box.append(pool)
        got = dict(pool)
    # This process took one key and, polling, saw the forked one do the other four.
    assert sorted(got.values()).count(main) == 1 and len(got) == 5


def test_a_jobs_exception_is_raised_here_with_its_type() -> None:
    main = os.getpid()

    def job(key: int) -> int:
        if os.getpid() != main:
            raise SnapshotError(f"usage/part-{key}.parquet: not a readable Parquet file")
        return key

    problem = r"usage/part-\d\.parquet: not a readable Parquet file"
    with pytest.raises(SnapshotError, match=problem), ForkedMap(job, range(4), processes=2) as pool:
        list(pool)


def test_an_exception_that_does_not_pickle_still_reports_its_words() -> None:
    class Odd(Exception):
        def __init__(self, a: int, b: int) -> None:
            super().__init__(f"odd {a} {b}")

        def __reduce__(self):  # type: ignore[no-untyped-def]
            raise TypeError("cannot pickle Odd")

    main = os.getpid()

    def job(key: int) -> int:
        if os.getpid() != main:
            raise Odd(key, 2)
        return key

    with pytest.raises(RuntimeError, match=r"Odd: odd \d 2"), ForkedMap(job, range(4), processes=2) as pool:
        list(pool)


def test_a_killed_process_is_a_clear_failure() -> None:
    main = os.getpid()

    def job(key: int) -> int:
        if os.getpid() != main:
            os.kill(os.getpid(), signal.SIGKILL)
        return key

    with pytest.raises(WorkerFailed, match="died \\(exit code -9"), ForkedMap(job, range(4), processes=2) as pool:
        list(pool)
