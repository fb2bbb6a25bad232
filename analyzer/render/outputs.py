"""Where reports go: checked before the analysis runs, so a bad location costs seconds, not the whole run."""

from __future__ import annotations

import os
from pathlib import Path

from analyzer.errors import SidecarImpactError


def _nearest_existing(path: Path) -> Path:
    """``path`` or its closest ancestor that exists (as a link or anything else)."""
    while not os.path.lexists(path) and path != path.parent:
        path = path.parent
    return path


def check_out_dir(out: Path, flag: str = "--out") -> None:
    """Refuse an output folder that is a file, lies under a file, or cannot be written."""
    existing = _nearest_existing(out.absolute())
    if not existing.is_dir():
        what = "is a file" if existing == out.absolute() else f"lies under {existing}, which is not a directory"
        raise SidecarImpactError(f"{flag} {out}: {what}")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise SidecarImpactError(f"{flag} {out}: {existing} is not writable by this user")


def check_file_target(path: Path, flag: str) -> None:
    """Refuse a file to write whose folder is missing or not writable, or which is a directory."""
    if path.is_dir():
        raise SidecarImpactError(f"{flag} {path}: is a directory, expected a file name")
    folder = path.absolute().parent
    if not folder.is_dir():
        raise SidecarImpactError(f"{flag} {path}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise SidecarImpactError(f"{flag} {path}: the folder {folder} is not writable by this user")


def cannot_write(where: Path, exc: OSError) -> SidecarImpactError:
    """An OS error while writing a report, as one line naming the place (disk full, permissions, ...)."""
    return SidecarImpactError(f"{where}: cannot write the report ({exc.strerror or exc})")
