"""Resource prices used to turn requests into money (default: OpenCost's published rates, its configs/default.json)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from analyzer.documents import read_document
from analyzer.errors import ManifestError, clip

HOURS_PER_MONTH = 730.0
MAX_PRICE = 100.0
"""Dollars per vCPU-hour or GiB-hour beyond which a price is a typo (list prices are cents)."""
GIB = 2.0**30


@dataclass(frozen=True)
class Prices:
    """Dollars per vCPU-hour and per GiB-hour of requested resources."""

    cpu_core_hour: float = 0.031611
    memory_gib_hour: float = 0.004237
    source: str = "OpenCost default (configs/default.json)"

    def __post_init__(self) -> None:
        for name in ("cpu_core_hour", "memory_gib_hour"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= MAX_PRICE:
                raise ManifestError(
                    f"{self.source}: {name} must be a number of dollars from 0 to {MAX_PRICE:g}, got {clip(value, 30)}"
                )

    def overridden(self, cpu_core_hour: float | None = None, memory_gib_hour: float | None = None) -> Prices:
        """These prices with the rates given replaced (None keeps a rate); the source says so."""
        if cpu_core_hour is None and memory_gib_hour is None:
            return self
        return Prices(
            cpu_core_hour=self.cpu_core_hour if cpu_core_hour is None else cpu_core_hour,
            memory_gib_hour=self.memory_gib_hour if memory_gib_hour is None else memory_gib_hour,
            source="command-line prices",
        )


def load_prices(path: str | os.PathLike[str]) -> Prices:
    """A YAML/JSON price file: ``{cpu_core_hour: 0.04, memory_gib_hour: 0.005}``."""
    path = Path(path)
    doc = read_document(path, "price file", ManifestError)
    keys = {"cpu_core_hour", "memory_gib_hour"}
    if not isinstance(doc, dict) or set(doc) != keys:
        raise ManifestError(f"{path}: expected a mapping with cpu_core_hour and memory_gib_hour")
    return Prices(cpu_core_hour=doc["cpu_core_hour"], memory_gib_hour=doc["memory_gib_hour"], source=str(path))
