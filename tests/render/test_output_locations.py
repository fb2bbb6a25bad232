"""Output locations: a bad --out or --metrics-file is refused in one line before the analysis runs, a
folder the user cannot write is refused as that user, and a write that fails half-way leaves nothing."""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from analyzer import cli
from analyzer.api import Analysis, render, render_run
from analyzer.errors import SidecarImpactError
from tests.limits import in_child


def run_cli(*args: str) -> tuple[int | None, str]:
    """``sidecar-impact ARGS`` in this process (a forked child runs it), exit code and stderr."""

    def main() -> None:
        sys.argv = ["sidecar-impact", *args]
        cli.main()

    result = in_child(main, as_nobody=True, timeout_s=120)
    assert result.error is None, result.error
    return result.exit_code, result.stderr


@pytest.fixture(scope="module")
def sample_dir(small_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small snapshot, after one refused run here: the modules the CLI imports lazily are loaded
    before a child drops to a user that cannot read the interpreter's files."""
    (tmp_path_factory.mktemp("warm") / "file").write_text("x")
    result = in_child(lambda: None)  # forking works at all
    assert result.error is None
    import contextlib
    import io

    with (
        contextlib.redirect_stderr(io.StringIO()),
        contextlib.redirect_stdout(io.StringIO()),
        pytest.raises(SystemExit),
    ):
        sys.argv = ["sidecar-impact", "report", "--snapshot", str(small_dir), "--out", "/proc/version/x"]
        cli.main()
    return small_dir


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A folder every user can reach (pytest's own temporary folders are private to their owner)."""
    path = Path(tempfile.mkdtemp(prefix="sidecar-impact-test-"))
    path.chmod(0o755)
    yield path
    for sub in path.rglob("*"):
        if sub.is_dir():
            sub.chmod(0o755)
    shutil.rmtree(path)


def one_error_line(stderr: str) -> str:
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in stderr, stderr
    return lines[0]


@pytest.mark.parametrize(
    ("make", "args", "expected"),
    [
        (lambda d: (d / "file").write_text("x"), ["--out", "{d}/file"], "--out {d}/file: is a file"),
        (lambda d: (d / "file").write_text("x"), ["--out", "{d}/file/sub"], "lies under {d}/file, which is not a"),
        (lambda d: None, ["--metrics-file", "{d}/missing/m.prom"], "the folder {d}/missing does not exist"),
        (lambda d: (d / "m").mkdir(), ["--metrics-file", "{d}/m"], "--metrics-file {d}/m: is a directory"),
        (lambda d: d.chmod(0o555), ["--out", "{d}/reports"], "--out {d}/reports: {d} is not writable by this user"),
    ],
)  # fmt: skip
def test_bad_locations_are_refused_before_the_analysis(sample_dir: Path, open_dir: Path, make, args, expected) -> None:  # type: ignore[no-untyped-def]
    where = open_dir / "place"
    where.mkdir()
    where.chmod(0o777)  # the unprivileged child may write here unless the case says otherwise
    make(where)
    before = sorted(p.name for p in where.iterdir())
    started = time.monotonic()
    extra = [a.format(d=where) for a in args]
    code, stderr = run_cli(
        "report", "--snapshot", str(sample_dir), *(["--out", str(where / "r")] * ("--out" not in args)), *extra
    )
    assert code == 2
    assert expected.format(d=where) in one_error_line(stderr)
    assert time.monotonic() - started < 10  # refused up front: the analysis takes longer than this
    where.chmod(0o755)
    assert sorted(p.name for p in where.iterdir()) == before


def test_a_write_that_fails_half_way_leaves_nothing(small_analysis: Analysis, tmp_path: Path) -> None:
    """A full disk (a 500 KB file-size cap: the JSON fits, the HTML does not) fails the HTML write: one
    error, no temporary file, no report."""
    out = tmp_path / "out"

    def write() -> None:
        render(small_analysis, out, ["json", "html"])

    result = in_child(write, file_bytes=500_000)
    assert result.error is not None and result.error["type"] == "SidecarImpactError"
    assert "cannot write the report" in result.error["message"] and "\n" not in result.error["message"]
    assert sorted(p.name for p in out.iterdir()) == ["report.json"]  # written whole before the HTML failed

    def scheduled() -> None:
        render_run(small_analysis, tmp_path / "runs", ["json", "html"])

    result = in_child(scheduled, file_bytes=500_000)
    assert result.error is not None and "cannot write the report" in result.error["message"]
    cluster = next((tmp_path / "runs").iterdir())
    assert sorted(p.name for p in cluster.iterdir()) == [".lock"]  # no run folder, no temporary one, no latest


def test_the_library_refuses_the_same_locations(small_analysis: Analysis, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(SidecarImpactError, match="is a file"):
        render(small_analysis, tmp_path / "file")
    with pytest.raises(SidecarImpactError, match="which is not a directory"):
        render_run(small_analysis, tmp_path / "file" / "sub")
