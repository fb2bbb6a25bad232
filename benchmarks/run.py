"""Run the benchmarks (all, or those named on the command line) and print their figures."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ALL = sorted(p.stem for p in HERE.glob("*.py") if p.stem != "run")


def main(names: list[str]) -> None:
    sys.path.insert(0, str(HERE))
    for name in names or ALL:
        if name not in ALL:
            raise SystemExit(f"unknown benchmark {name!r}; known: {', '.join(ALL)}")
        importlib.import_module(name).main()


if __name__ == "__main__":
    main(sys.argv[1:])
