"""What the CLI shows while it works: log lines (text or JSON) and, on a terminal, progress bars.

The library reports progress through callbacks and logs through :mod:`logging`; only this module
(used by the CLI) decides how they look. Cron and pipes get plain lines, never bars.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from analyzer.collect.collector import Progress


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps({"level": record.levelname.lower(), "logger": record.name, "message": record.getMessage()})


def setup_logging(log_format: str, quiet: bool) -> None:
    """Library logs on stderr: warnings only with ``quiet``, else info; one JSON object per line with ``json``."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JsonFormatter() if log_format == "json" else logging.Formatter("%(levelname)s: %(message)s"))
    root = logging.getLogger("analyzer")
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING if quiet else logging.INFO)
    root.propagate = False


@contextmanager
def progress_reporter(quiet: bool) -> Iterator[Progress | None]:
    """A rich progress bar per stage on a terminal; otherwise a log line when a stage is done."""
    if quiet:
        yield None
        return
    if not sys.stderr.isatty():
        log = logging.getLogger("analyzer.progress")

        def plain(stage: str, done: int, total: int) -> None:
            if done == total:
                log.info("%s: %d of %d done", stage, done, total)

        yield plain
        return
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
    from rich.progress import Progress as Bars

    with Bars(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
              transient=False) as bars:  # fmt: skip
        tasks: dict[str, Any] = {}

        def bar(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bars.add_task(stage, total=total)
            bars.update(tasks[stage], completed=done, total=total)

        yield bar
