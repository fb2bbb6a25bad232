"""The HPA controller's compiled loops: what a run pays without numba's cache, with it, and with the image's
seed; and the replay compiled for this machine's CPU against a generic one (deploy/Dockerfile's choice).

Each figure is a fresh process: compiling every loop into an empty cache (``warm``), loading them from that
cache, and the bundled sample's ``report -o json`` cold, cached and seeded (the run's cache empty, the seed
copied into it, as the image does). Then ``hpa_replay`` once per CPU choice, each with its own cache.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
WARM = "from analyzer.simulate.hpa_controller import warm; warm()"


def _timed(args: list[str], env: dict[str, str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(args, env={**os.environ, **env}, capture_output=True, text=True, check=True)
    return time.perf_counter() - start, done.stdout


def main() -> None:
    python = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        cache = {"NUMBA_CACHE_DIR": str(root / "cache")}
        compile_s, _ = _timed([python, "-c", WARM], cache)
        load_s, _ = _timed([python, "-c", WARM], cache)
        print(
            f"compiled: every loop compiled {compile_s:.1f} s, loaded from the cache {load_s:.1f} s (process included)"
        )
        report = [python, "-m", "analyzer", "report", "-o", "json", "-q"]
        cold, _ = _timed([*report, "--out", str(root / "r1")], {"NUMBA_CACHE_DIR": str(root / "cold")})
        cached, _ = _timed([*report, "--out", str(root / "r2")], cache)
        seeded_env = {
            "NUMBA_CACHE_DIR": str(root / "volume" / "numba"),
            "SIDECAR_IMPACT_NUMBA_SEED": cache["NUMBA_CACHE_DIR"],
            "NUMBA_DEBUG_CACHE": "1",
        }
        seeded, out = _timed([*report, "--out", str(root / "r3")], seeded_env)
        assert "[cache] data saved" not in out, "the seeded run compiled"
        print(f"compiled: report on the sample cold {cold:.1f} s, cached {cached:.1f} s, seeded {seeded:.1f} s")
        for cpu in ("this machine's", "generic"):
            env = {**os.environ, "NUMBA_CACHE_DIR": str(root / cpu.strip("'s"))}
            env.pop("NUMBA_CPU_NAME", None)
            env |= {"NUMBA_CPU_NAME": cpu} if cpu == "generic" else {}
            subprocess.run([python, "-c", WARM], env=env, check=True)
            out = subprocess.run([python, str(HERE / "hpa_replay.py")], env=env, capture_output=True, text=True).stdout
            line = next(s for s in out.splitlines() if " s (" in s)
            print(f"compiled: loops for {cpu} CPU: {line}")


if __name__ == "__main__":
    main()
