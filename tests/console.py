"""``sidecar-impact ARGS`` run to the end in a forked child of the test process: its exit code, stdout and
stderr, as :func:`subprocess.run` gives them.

A fresh interpreter imports the package and loads the compiled controller before the command starts (the
time is in tests/README.md); a fork of the test process has both. The child is the console script in all that a test
reads: file descriptors 1 and 2 are its own (captured whole, whatever writes them), stdin is empty, the
arguments, environment and working directory are as given, ``cli.main`` runs and its exit code is the
process's; anything escaping it prints its traceback and exits 1, as Python does. What a fork cannot show
stays with a real subprocess (``python -m analyzer``): what happens at import and start-up (the allocator
policy, the ``warnings`` printed, environment read at import such as ``NUMBA_*``), a terminal, a signal.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Mapping
from pathlib import Path

_FILTERS = list(warnings.filters)  # before pytest records the warnings of each test
_SHOW = warnings.showwarning


def sidecar_impact(
    *args: str, env: Mapping[str, str] | None = None, cwd: str | Path | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """The command's finished process (``env``: the whole environment, as for :func:`subprocess.run`)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the child: never returns
            _child(list(args), env, cwd, out.fileno(), err.fileno())
        deadline = time.monotonic() + timeout
        while (done := os.waitpid(pid, os.WNOHANG))[0] == 0:
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                raise subprocess.TimeoutExpired(["sidecar-impact", *args], timeout)
            time.sleep(0.01)
        code = os.waitstatus_to_exitcode(done[1])
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess(
            ["sidecar-impact", *args], code, out.read().decode(errors="replace"), err.read().decode(errors="replace")
        )


def _child(args: list[str], env: Mapping[str, str] | None, cwd: str | Path | None, out: int, err: int) -> None:
    code = 1
    try:
        devnull = os.open(os.devnull, os.O_RDONLY)
        for source, fd in ((devnull, 0), (out, 1), (err, 2)):
            os.dup2(source, fd)
        sys.stdin = open(0, closefd=False)  # noqa: SIM115 (the process's own, closed by its exit)
        sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding="utf-8", line_buffering=True)
        sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), encoding="utf-8", line_buffering=True)
        warnings.filters[:] = _FILTERS
        warnings.showwarning = _SHOW
        if env is not None:
            os.environ.clear()
            os.environ.update(env)
        if cwd is not None:
            os.chdir(cwd)
        sys.argv = ["sidecar-impact", *args]
        from analyzer import cli

        try:
            cli.main()
            code = 0
        except SystemExit as exc:
            if isinstance(exc.code, str):
                print(exc.code, file=sys.stderr)
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        traceback.print_exc()
        code = 1
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(BaseException):
                stream.flush()
        os._exit(code)
