"""Shards: a stable, hash-based share of a snapshot's namespaces, so N processes (an Indexed Job's pods)
can each analyse one share and a merge can put the parts back together.

Every object the analysis reads is keyed by namespace (a workload, its pods, HPAs and VPAs live in one),
so a namespace is the unit that can be analysed alone. The share depends only on the namespace's name
and the shard count: a namespace lands in the same shard on every run and on every machine.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass

from analyzer.errors import SidecarImpactError, clip

MAX_SHARDS = 10_000
"""More shards than this is a typo, not a cluster (each shard is a pod)."""

_SHAPE = re.compile(r"(\d{1,5})/(\d{1,5})")


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count`` (0-based, as an Indexed Job's ``JOB_COMPLETION_INDEX``)."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if not 1 <= self.count <= MAX_SHARDS or not 0 <= self.index < self.count:
            raise SidecarImpactError(
                f"--shard: {self.index}/{self.count} is not INDEX/COUNT with 0 <= INDEX < COUNT <= {MAX_SHARDS}"
            )

    @classmethod
    def parse(cls, text: str, environ: dict[str, str] | None = None) -> Shard:
        """``INDEX/COUNT``, or ``/COUNT`` (also ``COUNT`` alone) with the index from ``JOB_COMPLETION_INDEX``."""
        environ = os.environ if environ is None else environ
        spec = text.strip()
        if "/" not in spec:
            spec = "/" + spec
        if spec.startswith("/"):
            index = environ.get("JOB_COMPLETION_INDEX", "")
            if not index.isdigit():
                found = clip(index) if index else "unset"
                raise SidecarImpactError(f"--shard: {clip(text)} has no index and JOB_COMPLETION_INDEX is {found}")
            spec = index + spec
        match = _SHAPE.fullmatch(spec)
        if match is None:
            raise SidecarImpactError(f"--shard: {clip(text)} is not INDEX/COUNT (e.g. 0/4)")
        return cls(int(match.group(1)), int(match.group(2)))

    def holds(self, namespace: str) -> bool:
        """Whether ``namespace`` belongs to this shard."""
        return shard_of(namespace, self.count) == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def shard_of(namespace: str, count: int) -> int:
    """The shard (0 to ``count`` - 1) a namespace belongs to: the first 8 bytes of its SHA-256, modulo ``count``."""
    digest = hashlib.sha256(namespace.encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:8], "big") % count
