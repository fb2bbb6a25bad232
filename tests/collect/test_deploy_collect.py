"""deploy/: the CronJob's collect step runs against a real Prometheus; the ClusterRole covers what is listed."""

from __future__ import annotations

from pathlib import Path

import yaml

from analyzer.collect.kube_api import POD_METRICS, RESOURCES
from tests.collect.conftest import END, START
from tests.collect.promserver import PrometheusServer
from tests.console import sidecar_impact

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def test_the_cronjob_collect_args_work(prometheus: PrometheusServer, tmp_path: Path) -> None:
    docs = [d for d in yaml.safe_load_all((DEPLOY / "cronjob.yaml").read_text()) if d and d["kind"] == "CronJob"]
    cron = docs[0]
    args = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["initContainers"][0]["args"]
    assert args[0] == "collect" and "--in-cluster" in args
    local = {"--in-cluster": "--no-api", "--since=7d": f"--start={START}"}
    mapped = [local.get(a, a) for a in args]
    mapped = [f"--prometheus-url={prometheus.url}" if a.startswith("--prometheus-url=") else a for a in mapped]
    mapped = [a.replace("/snapshot", str(tmp_path)) for a in mapped]
    mapped += [f"--end={END}", "--cluster-label=cluster", "--cluster-value=small"]
    result = sidecar_impact(*mapped)
    assert result.returncode == 0, result.stderr
    report = sidecar_impact("report", "-s", str(tmp_path / "current"), "-O", str(tmp_path / "r"), "-q")
    assert report.returncode == 0, report.stderr
    assert (tmp_path / "r" / "report.html").stat().st_size > 10_000


def test_the_cluster_role_grants_exactly_what_the_collectors_list() -> None:
    """Nothing missing (a 403 in production) and nothing extra (least privilege): the collectors only list."""
    role = next(d for d in yaml.safe_load_all((DEPLOY / "rbac.yaml").read_text()) if d and d["kind"] == "ClusterRole")
    granted = {(g, r, v) for rule in role["rules"] for g in rule["apiGroups"] for r in rule["resources"]
               for v in rule["verbs"]}  # fmt: skip
    needed = {(resource.group, resource.plural, "list") for resource in (*RESOURCES, POD_METRICS)}
    assert granted == needed
    assert not any("resourceNames" in rule or "nonResourceURLs" in rule for rule in role["rules"])
