"""A report format: its file (or directory) name and how it is produced and written atomically."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from analyzer.render.outputs import cannot_write
from analyzer.snapshot.writing import atomic_directory

if TYPE_CHECKING:
    from analyzer.findings.analysis import Analysis


DEFAULT_TOP = 5
"""HPAs (largest skew cost first, stalled ones included) and workloads (worst VPA hazard first) plotted."""


Content = str | bytes | Iterator[str] | dict[str, str] | dict[str, str | bytes]
"""What a renderer produces: one file's text (whole or in pieces) or bytes, or a directory's files by name."""


@dataclass(frozen=True)
class Renderer:
    """A report format: its file (or directory) name and a function from the analysis to its text.

    ``produce(analysis, top)`` returns the file's text (or bytes, or an iterator of text pieces written as
    they come), or for a directory format a mapping of file names to texts (or bytes); ``top`` is how many
    HPAs and workloads get plots (formats without plots ignore it).
    """

    name: str
    filename: str
    produce: Callable[[Analysis, int], Content]
    description: str

    def write(self, analysis: Analysis, out: Path, top: int = DEFAULT_TOP) -> Path:
        """Write atomically: a temporary file (or directory) in ``out``, renamed when complete.

        An OS error (no space, no permission) is a one-line :class:`SidecarImpactError`; nothing is left behind.
        """
        content = self.produce(analysis, top)
        try:
            return self._write(content, out)
        except OSError as exc:
            raise cannot_write(out / self.filename, exc) from None

    def _write(self, content: Content, out: Path) -> Path:
        out.mkdir(parents=True, exist_ok=True)
        target = out / self.filename
        if isinstance(content, dict):
            with atomic_directory(target, overwrite=True) as tmp:
                for name, data in content.items():
                    parts = Path(name).parts
                    if Path(name).is_absolute() or ".." in parts or not parts:
                        raise ValueError(f"renderer {self.name} named a file outside its folder: {name!r}")
                    (tmp / name).parent.mkdir(parents=True, exist_ok=True)
                    if isinstance(data, bytes):
                        (tmp / name).write_bytes(data)
                    else:
                        (tmp / name).write_text(data, encoding="utf-8")
                if (tmp / "apply.sh").is_file():
                    (tmp / "apply.sh").chmod(0o755)
            return target
        fd, tmp = tempfile.mkstemp(prefix=f".{self.filename}.", dir=out)
        try:
            with os.fdopen(fd, "wb") as fh:
                pieces = [content] if isinstance(content, str | bytes) else content
                for piece in pieces:
                    fh.write(piece if isinstance(piece, bytes) else piece.encode("utf-8"))
            os.chmod(tmp, 0o644)  # a report is meant to be read by others (mkstemp makes it private)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return target
