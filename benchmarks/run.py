"""Run the benchmarks (all, or those named on the command line), each in its own process so that its
peak memory is its own, and print their figures."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ALL = sorted(p.stem for p in HERE.glob("*.py") if p.stem != "run" and not p.stem.startswith("_"))


def main(names: list[str]) -> None:
    for name in names or ALL:
        if name not in ALL:
            raise SystemExit(f"unknown benchmark {name!r}; known: {', '.join(ALL)}")
        subprocess.run([sys.executable, str(HERE / f"{name}.py")], check=True, cwd=HERE)


if __name__ == "__main__":
    main(sys.argv[1:])
