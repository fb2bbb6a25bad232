"""deploy/: the manifests validate against the Kubernetes schemas (the alert rules against promtool); RBAC
is read-only; the image is one kustomize parameter; resources cover the benchmark's peak; the Dockerfile is
non-root; the CronJob's arguments run as the CLI and push to a Pushgateway."""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from analyzer.render import runs
from analyzer.render.run_state import STATE_FILE
from analyzer.units import parse_quantity
from tests.console import sidecar_impact

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
ALL = [doc for path in sorted(DEPLOY.glob("*.yaml")) for doc in yaml.safe_load_all(path.read_text()) if doc]
NOT_CORE = {"Kustomization", "PrometheusRule"}  # kustomize's and prometheus-operator's kinds: checked below
DOCS = [doc for doc in ALL if doc["kind"] not in NOT_CORE]
GIB = 2**30
BENCHMARK_PEAK_GIB_1000_WORKLOAD_WEEK = 2.45
"""benchmarks/scale.py: peak PSS, the replay's workers included, of `report` on a realistic week of 1,000
workloads (70 M samples, 36,590 pods) analysed in partitions of 8 M samples (deploy/README.md)."""
BENCHMARK_COLLECT_PEAK_GIB_1000_WORKLOAD_WEEK = 1.34
"""benchmarks/collection.py: peak RSS of the whole `collect` command for the same week from a real Prometheus
holding cAdvisor's families (its kube-state-metrics tables empty; with them, the pods' status is streamed and
the other tables are kept: the request's headroom)."""
BENCHMARK_COLLECT_PEAK_GIB_3000_WORKLOAD_WEEK = 1.30
"""The same for the 3,000-workload week (objects written as read): the shipped collect needs no more memory."""


def quantity_bytes(text: str) -> float:
    return float(parse_quantity(text))


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
    assert verbs == {"list"}


def test_the_cronjob_runs_the_cli_as_non_root() -> None:
    cron = next(d for d in DOCS if d["kind"] == "CronJob")
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] and pod["serviceAccountName"] == "sidecar-impact"
    args = pod["containers"][0]["args"]
    assert args[0] == "report" and "--runs" in args
    assert not any(a.startswith("--fail-on") for a in args)  # findings are alerts, not failed Jobs
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert "USER 10001" in dockerfile and "FROM python:3.11.11-slim" in dockerfile


def test_the_cronjob_args_work_with_the_cli(tmp_path: Path) -> None:
    cron = next(d for d in DOCS if d["kind"] == "CronJob")
    args = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"]
    received: list[bytes] = []

    class Gateway(BaseHTTPRequestHandler):
        def do_PUT(self) -> None:
            received.append(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    gateway = HTTPServer(("127.0.0.1", 0), Gateway)
    threading.Thread(target=gateway.serve_forever, daemon=True).start()
    sample = Path(__file__).resolve().parents[1] / "sample_data"
    url = f"http://127.0.0.1:{gateway.server_address[1]}"
    mapped = [a.replace("/snapshot/current", str(sample)).replace("/reports", str(tmp_path)) for a in args]
    mapped = [re.sub(r"^--pushgateway=.*", f"--pushgateway={url}", a) for a in mapped]
    try:
        result = sidecar_impact(*mapped)
    finally:
        gateway.shutdown()
        gateway.server_close()
    assert result.returncode == 0, result.stderr  # high findings in the sample, and still a successful Job
    base = tmp_path / "synthetic-7"
    assert {p.name for p in (base / "latest").iterdir()} == {"report.html", "report.json", runs.RUN_RECORD, STATE_FILE}
    assert (base / "index.html").is_file()
    pushed = b"".join(received).decode()
    assert (
        "sidecar_impact_last_success_timestamp_seconds" in pushed and "sidecar_impact_waste_dollars_per_month" in pushed
    )


def test_memory_covers_the_benchmark_peak_and_the_pvc_the_kept_runs() -> None:
    cron = next(d for d in DOCS if d["kind"] == "CronJob")
    report = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    peak = BENCHMARK_PEAK_GIB_1000_WORKLOAD_WEEK * GIB
    assert quantity_bytes(report["resources"]["requests"]["memory"]) >= peak
    assert quantity_bytes(report["resources"]["limits"]["memory"]) >= 1.25 * peak  # headroom above the peak
    collect = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["initContainers"][0]
    collect_gib = max(BENCHMARK_COLLECT_PEAK_GIB_1000_WORKLOAD_WEEK, BENCHMARK_COLLECT_PEAK_GIB_3000_WORKLOAD_WEEK)
    collect_peak = collect_gib * GIB
    assert quantity_bytes(collect["resources"]["requests"]["memory"]) >= 1.4 * collect_peak  # + kube-state-metrics
    assert quantity_bytes(collect["resources"]["limits"]["memory"]) >= 1.25 * collect_peak
    args = report["args"]
    keep_bytes = quantity_bytes(next(a for a in args if a.startswith("--keep-bytes=")).split("=", 1)[1])
    pvc = next(d for d in DOCS if d["kind"] == "PersistentVolumeClaim" and d["metadata"]["name"].endswith("reports"))
    assert quantity_bytes(pvc["spec"]["resources"]["requests"]["storage"]) >= keep_bytes + 2 * 50 * 2**20  # + a run


def test_the_image_is_one_kustomize_parameter() -> None:
    kustomization = next(d for d in ALL if d["kind"] == "Kustomization")
    assert all((DEPLOY / r).is_file() for r in kustomization["resources"])
    named = {i["name"] for i in kustomization["images"]}
    used = {c["image"].rsplit(":", 1)[0] for d in DOCS for c in _containers(d)}
    assert used == named == {"ghcr.io/example/sidecar-impact"}


def test_the_alert_rules_pass_promtool(tmp_path: Path) -> None:
    rule = next(d for d in ALL if d["kind"] == "PrometheusRule")
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}))
    checked = subprocess.run(["promtool", "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    exprs = " ".join(r["expr"] for g in rule["spec"]["groups"] for r in g["rules"])
    assert "sidecar_impact_last_success_timestamp_seconds" in exprs and 'severity="high"' in exprs


def _containers(doc: dict) -> list[dict]:
    spec = doc.get("spec", {})
    pod = spec.get("jobTemplate", {}).get("spec", {}).get("template", {}).get("spec") or spec.get("template", {}).get(
        "spec", {}
    )
    return [*pod.get("initContainers", []), *pod.get("containers", [])]


def test_the_sharded_jobs_args_work_with_the_cli(small_dir: Path, tmp_path: Path) -> None:
    """The Indexed Job's pods (JOB_COMPLETION_INDEX 0 to completions - 1) and then the merge Job, as shipped."""
    jobs = {d["metadata"]["name"]: d for d in DOCS if d["kind"] == "Job"}
    shards, merge = jobs["sidecar-impact-shards"], jobs["sidecar-impact-merge"]
    assert shards["spec"]["completionMode"] == "Indexed"
    count = shards["spec"]["completions"]
    shard_args = shards["spec"]["template"]["spec"]["containers"][0]["args"]
    assert f"--shard=/{count}" in shard_args  # the count in the flag is the Job's
    parts, reports = tmp_path / "parts", tmp_path / "reports"

    def mapped(args: list[str]) -> list[str]:
        paths = [a.replace("/snapshot/current", str(small_dir)).replace("/parts", str(parts)) for a in args]
        return [a.replace("/reports", str(reports)) for a in paths if not a.startswith("--pushgateway")]

    for index in range(count):
        result = sidecar_impact(*mapped(shard_args), env={**os.environ, "JOB_COMPLETION_INDEX": str(index)})
        assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in parts.iterdir()) == [f"shard-{i}-of-{count}" for i in range(count)]
    merge_args = merge["spec"]["template"]["spec"]["containers"][0]["args"]
    result = sidecar_impact(*mapped(merge_args))
    assert result.returncode == 0, result.stderr
    latest = reports / "synthetic-11" / "latest"
    assert {p.name for p in latest.iterdir()} == {"report.html", "report.json", runs.RUN_RECORD, STATE_FILE}
    assert json.loads((latest / "report.json").read_text())["summary"]["workloads"] > 0
