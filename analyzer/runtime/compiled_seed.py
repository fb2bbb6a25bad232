"""The compiled HPA controller carried in an image with a read-only root file system.

numba loads compiled code only from a cache directory it can write to, and a container whose root file
system is read-only can write only to its volumes: without help each scheduled run compiles the
controller's loops again (benchmarks/README.md, "The controller compiled"). So the image compiles them once
when it is built, into a seed directory named by ``SIDECAR_IMPACT_NUMBA_SEED``, and each run copies the seed
into ``NUMBA_CACHE_DIR`` (on a volume) before it first needs them: numba then loads them. numba's own keys
decide whether a cached loop fits (the source file and its time stamp, the signature, the CPU:
``NUMBA_CPU_NAME=generic`` makes the seed fit any x86-64 node); a seed that does not fit only costs the
compilation it was meant to save.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Mapping
from pathlib import Path

SEED_VARIABLE = "SIDECAR_IMPACT_NUMBA_SEED"
"""The directory the image's build compiled the loops into (its ``NUMBA_CACHE_DIR`` then)."""

log = logging.getLogger(__name__)


def seed_compiled_cache(environ: Mapping[str, str] | None = None) -> int:
    """Copy each regular file of the seed that ``NUMBA_CACHE_DIR`` lacks into it, in the same layout; the
    number copied (the cache's folder is made when missing, as numba would make it). Nothing happens unless
    both variables are set and the seed is a folder. Links in the seed are skipped,
    and none in the cache is followed (a file or folder already there, of whatever kind, stays as it is). A
    copy that fails stops the seeding quietly: the run compiles what it lacks, as it would without a seed."""
    environ = os.environ if environ is None else environ
    seed, cache = environ.get(SEED_VARIABLE), environ.get("NUMBA_CACHE_DIR")
    if not seed or not cache or os.path.islink(seed) or not os.path.isdir(seed):
        return 0
    copied = 0
    try:
        Path(cache).parent.mkdir(parents=True, exist_ok=True)  # as numba would make it
        if not _made_dir(Path(cache)):
            return 0
        for folder, dirs, files in os.walk(seed):  # does not descend into links to folders
            rel = Path(folder).relative_to(seed)
            target = Path(cache, rel)
            if rel.parts and not _made_dir(target):
                dirs.clear()
                continue
            for name in files:
                if _copied(Path(folder, name), target / name):
                    copied += 1
    except OSError as exc:
        log.debug("seeding the compiled cache stopped: %s", exc)
    return copied


def _made_dir(path: Path) -> bool:
    """``path`` is a real folder now (made here, or one already there that is no link)."""
    try:
        path.mkdir()
        return True
    except FileExistsError:
        return stat.S_ISDIR(os.lstat(path).st_mode)


def _copied(source: Path, target: Path) -> bool:
    """``source``, a regular file, copied to ``target`` where nothing is: written under a temporary name first
    (never through a link), so numba never reads half a file."""
    if not stat.S_ISREG(os.lstat(source).st_mode) or os.path.lexists(target):
        return False
    part = target.with_name(f".{target.name}.{os.getpid()}.part")
    out = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    try:
        with os.fdopen(out, "wb") as sink, open(source, "rb") as data:
            sink.write(data.read())
        os.replace(part, target)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    return True
