"""Resource prices used to turn requests into money (default: OpenCost's published rates, domain.md §6)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import yaml

from analyzer.errors import ManifestError

HOURS_PER_MONTH = 730.0
GIB = 2.0**30


@dataclass(frozen=True)
class Prices:
    """Dollars per vCPU-hour and per GiB-hour of requested resources."""

    cpu_core_hour: float = 0.031611
    memory_gib_hour: float = 0.004237
    source: str = "OpenCost default (configs/default.json)"

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
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ManifestError(f"{path}: cannot read price file: {exc}") from exc
    if not isinstance(doc, dict) or set(doc) - {"cpu_core_hour", "memory_gib_hour"}:
        raise ManifestError(f"{path}: expected a mapping with cpu_core_hour and memory_gib_hour")
    values = {}
    for key in ("cpu_core_hour", "memory_gib_hour"):
        value = doc.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ManifestError(f"{path}: {key} must be a non-negative number of dollars")
        values[key] = float(value)
    return Prices(**values, source=str(path))
