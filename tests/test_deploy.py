"""deploy/: the manifests validate against the Kubernetes schemas; RBAC is read-only; the Dockerfile is non-root."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from analyzer.render import runs

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
DOCS = [doc for path in sorted(DEPLOY.glob("*.yaml")) for doc in yaml.safe_load_all(path.read_text()) if doc]


@pytest.mark.parametrize("doc", DOCS, ids=lambda d: f"{d['kind']}/{d['metadata']['name']}")
def test_manifest_validates_against_the_kubernetes_schema(doc: dict) -> None:
    kubernetes_validate.validate(doc, "1.33", strict=True)


def test_a_broken_manifest_is_caught() -> None:
    cron = next(d for d in DOCS if d["kind"] == "CronJob")
    broken = {**cron, "spec": {**cron["spec"], "schedule": 17}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, "1.33", strict=True)


def test_rbac_is_read_only() -> None:
    role = next(d for d in DOCS if d["kind"] == "ClusterRole")
    verbs = {v for rule in role["rules"] for v in rule["verbs"]}
    assert verbs == {"get", "list"}


def test_the_cronjob_runs_the_cli_as_non_root() -> None:
    cron = next(d for d in DOCS if d["kind"] == "CronJob")
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] and pod["serviceAccountName"] == "sidecar-impact"
    args = pod["containers"][0]["args"]
    assert args[0] == "report" and "--runs" in args and "--fail-on=high" in args
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert "USER 10001" in dockerfile and "FROM python:3.11.11-slim" in dockerfile


def test_the_cronjob_args_work_with_the_cli(tmp_path: Path) -> None:
    cron = next(d for d in DOCS if d["kind"] == "CronJob")
    args = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"]
    sample = Path(__file__).resolve().parents[1] / "sample_data"
    mapped = [a.replace("/snapshot/current", str(sample)).replace("/reports", str(tmp_path)) for a in args]
    result = subprocess.run([sys.executable, "-m", "analyzer", *mapped], capture_output=True, text=True, timeout=300)
    assert result.returncode == 1, result.stderr  # the sample has high findings and the job uses --fail-on=high
    latest = tmp_path / "synthetic-7" / "latest"
    assert {p.name for p in latest.iterdir()} == {"report.html", "report.json", "csv", runs.RUN_RECORD}
    assert (tmp_path / "sidecar_impact.prom").read_text().count("sidecar_impact_findings{") == 3
