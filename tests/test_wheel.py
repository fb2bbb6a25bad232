"""Installed = works: the built wheel, installed into a fresh venv outside the checkout, reports on its
bundled sample from any directory, into ./reports of that directory; with the HPA controller compiled the
way deploy/Dockerfile compiles it, the report compiles nothing."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_the_wheel_reports_on_its_bundled_sample_from_any_directory(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dist), str(REPO)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    wheel = next(dist.glob("sidecar_impact-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    assert "analyzer/sample_data/metadata.json" in names and "analyzer/cli.py" in names
    assert not any(n.startswith(("tests/", "reports/", "sample_data/")) for n in names)

    # The package from the wheel; its dependencies from the environment running these tests, a virtualenv or
    # the system's. (``venv --system-site-packages`` would see the *base* interpreter's packages, not those of
    # a virtualenv the tests run in.) The environment's paths go in a .pth file, after the venv's own: its
    # .pth files are not processed, so an editable install of this checkout stays out.
    venv = tmp_path / "venv"
    # Without its own pip (3 s): the environment's pip, seen through the .pth file, installs into the venv.
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python, script = venv / "bin" / "python", venv / "bin" / "sidecar-impact"
    inner = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                           capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    outer = dict.fromkeys(sysconfig.get_paths()[key] for key in ("purelib", "platlib"))
    (Path(inner) / "outer-environment.pth").write_text("".join(f"{p}\n" for p in outer))
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", str(wheel)], check=True, timeout=300)

    work = tmp_path / "anywhere"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    where = subprocess.run([str(python), "-c", "import analyzer; print(analyzer.__file__, analyzer.SAMPLE_DATA)"],
                           cwd=work, env=env, capture_output=True, text=True, check=True)  # fmt: skip
    module, sample = where.stdout.split()
    assert module.startswith(str(venv)) and sample.startswith(str(venv)), where.stdout  # not the checkout
    version = subprocess.run([str(script), "--version"], cwd=work, env=env, capture_output=True, text=True)
    assert version.returncode == 0 and version.stdout.strip() == "sidecar-impact 0.1.0"

    # As the image does: the installed package's loops compiled into the seed at build time, copied by the
    # run into its (missing) cache folder, loaded and not compiled again.
    dockerfile = (REPO / "deploy" / "Dockerfile").read_text()
    image_env = dict(re.findall(r"(NUMBA_CPU_NAME|NUMBA_CACHE_DIR|SIDECAR_IMPACT_NUMBA_SEED)=(\S+)", dockerfile))
    build = re.search(r'NUMBA_CACHE_DIR=(\S+) python -P -c "([^"]+)"', dockerfile)
    assert build and build.group(1) == image_env["SIDECAR_IMPACT_NUMBA_SEED"], "the build compiles into the seed"
    seed, cache = tmp_path / "seed", tmp_path / "volume" / "numba-cache"
    image_env |= {"SIDECAR_IMPACT_NUMBA_SEED": str(seed), "NUMBA_CACHE_DIR": str(cache)}
    warmed = subprocess.run([str(python), "-P", "-c", build.group(2)], cwd=work, capture_output=True, text=True,
                            env={**env, **image_env, "NUMBA_CACHE_DIR": str(seed)}, timeout=300)  # fmt: skip
    assert warmed.returncode == 0, warmed.stderr
    assert sorted(p.suffix for p in seed.rglob("*.nbi")) == [".nbi"] * 5  # every loop, one signature each

    report = subprocess.run([str(script), "report"], cwd=work, env={**env, **image_env, "NUMBA_DEBUG_CACHE": "1"},
                            capture_output=True, text=True, timeout=300)  # fmt: skip
    assert report.returncode == 0, report.stderr
    assert "[cache] data loaded" in report.stdout and "[cache] data saved" not in report.stdout
    assert len(list(cache.rglob("*.nbc"))) == len(list(seed.rglob("*.nbc")))
    assert sorted(p.name for p in (work / "reports").iterdir()) == ["report.html", "report.json"]
    doc = json.loads((work / "reports" / "report.json").read_text())
    workloads = json.loads((REPO / "sample_data" / "metadata.json").read_text())["extra"]["workloads"]
    assert doc["summary"]["workloads"] == workloads and doc["snapshot"]["cluster"] == "synthetic-7"
