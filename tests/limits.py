"""Run a function in a forked child under limits: another user, a memory cap, a file-size cap, a deadline.

The child inherits every module already imported, so it needs no access to the interpreter's files
(which an unprivileged user may not be able to read). What the function returns (JSON-able) or
raises (its type, message and exit code) comes back as JSON over a pipe.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import resource
import select
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

NOBODY = 65534


@dataclass
class ChildResult:
    value: Any
    error: dict[str, Any] | None
    """``{"type": class name, "message": str(exc), "exit_code": exc.exit_code or None}``"""
    stderr: str
    exit_code: int | None


def in_child(
    fn: Callable[[], Any],
    *,
    as_nobody: bool = False,
    memory_bytes: int | None = None,
    file_bytes: int | None = None,
    timeout_s: float = 60.0,
) -> ChildResult:
    """``fn()`` in a fork: as user ``nobody`` (when root), with RLIMIT_AS above what is mapped now and
    RLIMIT_FSIZE as given; ``SystemExit`` codes and stderr are captured."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        os.close(read)
        out: dict[str, Any] = {"value": None, "error": None, "exit_code": None}
        stderr = io.StringIO()
        try:
            if file_bytes is not None:
                signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the cap fails with EFBIG instead
                resource.setrlimit(resource.RLIMIT_FSIZE, (file_bytes, file_bytes))
            if memory_bytes is not None:
                mapped = _mapped_bytes()
                resource.setrlimit(resource.RLIMIT_AS, (mapped + memory_bytes, mapped + memory_bytes))
            if as_nobody and os.geteuid() == 0:
                os.setgroups([])
                os.setgid(NOBODY)
                os.setuid(NOBODY)
            with contextlib.redirect_stderr(stderr):
                try:
                    out["value"] = fn()
                except SystemExit as exc:
                    out["exit_code"] = exc.code if isinstance(exc.code, int) else 1
        except BaseException as exc:  # everything goes back to the parent
            out["error"] = {
                "type": type(exc).__name__,
                "message": str(exc),
                "exit_code": getattr(exc, "exit_code", None),
            }
        out["stderr"] = stderr.getvalue()
        data = json.dumps(out, default=repr).encode()
        with os.fdopen(write, "wb") as fh:
            fh.write(data)
        os._exit(0)
    os.close(write)
    deadline = time.monotonic() + timeout_s
    chunks = []
    while True:
        ready, _, _ = select.select([read], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            os.close(read)
            raise AssertionError(f"the child took longer than {timeout_s:g} s")
        chunk = os.read(read, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(read)
    _, status = os.waitpid(pid, 0)
    if not chunks:
        raise AssertionError(f"the child died without an answer (wait status {status})")
    out = json.loads(b"".join(chunks))
    return ChildResult(out["value"], out["error"], out["stderr"], out["exit_code"])


def _mapped_bytes() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0
