"""The console script end to end: outputs, exit codes, one-line errors. The default report and the terminal
tests run ``python -m analyzer`` in a new interpreter; the others a fork of this one (tests/console.py)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from analyzer.api import SAMPLE_DATA, Analysis
from analyzer.findings.hpa_skew import SERIES_COLUMNS
from analyzer.synth.generate import Synthetic
from tests.console import sidecar_impact


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return sidecar_impact(*args)


def interpreter(*args: str) -> subprocess.CompletedProcess[str]:
    """``python -m analyzer ARGS`` in a new interpreter."""
    return subprocess.run([sys.executable, "-m", "analyzer", *args], capture_output=True, text=True, timeout=300)


@dataclass(frozen=True)
class Run:
    """A finished ``sidecar-impact`` process and the folder it wrote into."""

    process: subprocess.CompletedProcess[str]
    out: Path


@pytest.fixture(scope="module")
def default_report(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """``report`` on the bundled sample with default flags, piped (no terminal): run once, read by several tests."""
    out = tmp_path_factory.mktemp("default-report")
    return Run(interpreter("report", "--out", str(out)), out)


def test_report_on_bundled_sample(default_report: Run) -> None:
    result, out = default_report.process, default_report.out
    assert result.returncode == 0, result.stderr
    workloads = json.loads((SAMPLE_DATA / "metadata.json").read_text())["extra"]["workloads"]
    assert f"{workloads} workloads" in result.stdout and "(1 stalled)" in result.stdout
    assert sorted(p.name for p in out.iterdir()) == ["report.html", "report.json"]
    doc = json.loads((out / "report.json").read_text())
    stalled = [h for h in doc["hpas"] if h["status"] == "stalled"]
    assert [(h["namespace"], h["hpa"]) for h in stalled] == [("payments", "ledger")]
    assert "missing request for cpu in container linkerd-proxy" in stalled[0]["reason"]
    html = (out / "report.html").read_text()
    assert "<section id=hpas>" in html and "ledger" in html


def test_bad_snapshot_is_one_line_exit_2(tmp_path: Path) -> None:
    result = run("report", "--snapshot", str(tmp_path / "missing"), "--out", str(tmp_path / "r"))
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "r").exists()


def test_selector_narrows_the_report_and_an_empty_or_bad_one_is_exit_2(tmp_path: Path) -> None:
    picked = run("report", "-l", "team in (payments)", "-o", "json", "--out", str(tmp_path / "r"))
    assert picked.returncode == 0, picked.stderr
    doc = json.loads((tmp_path / "r" / "report.json").read_text())
    assert {w["namespace"] for w in doc["workloads"]} == {"payments"}
    assert {h["namespace"] for h in doc["hpa_skew"]} == {"payments"}
    for args, message in (
        (["-l", "team=nobody"], "no pod matches the selector 'team=nobody'"),
        (["-n", "nowhere"], "no pods in namespace nowhere"),
        (["-l", "team in (payments"], "'team in (payments' is not a label requirement"),
    ):
        result = run("report", *args, "--out", str(tmp_path / "bad"))
        assert result.returncode == 2 and message in result.stderr, result.stderr
        assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
        assert not (tmp_path / "bad").exists()


def test_unknown_format_and_bad_step_exit_2(tmp_path: Path) -> None:
    bad_format = run("report", "-o", "pdf", "--out", str(tmp_path))
    assert bad_format.returncode == 2 and "unknown report format 'pdf'" in bad_format.stderr
    bad_step = run("sample", "--out", str(tmp_path / "s"), "--step", "50s", "--days", "0.1")
    assert bad_step.returncode == 2 and "multiple of the 15s" in bad_step.stderr
    usage = run("sample", "--workloads", "x", "--out", str(tmp_path / "s"))
    assert usage.returncode == 2 and "Traceback" not in usage.stderr


def test_sample_writes_snapshot_and_ground_truth(tmp_path: Path) -> None:
    out = tmp_path / "snap"
    result = run("sample", "--out", str(out), "--workloads", "3", "--days", "0.05", "--seed", "5")
    assert result.returncode == 0, result.stderr
    assert (out / "ground_truth" / "params.json").is_file() and (out / "metadata.json").is_file()
    again = run("sample", "--out", str(out), "--workloads", "3", "--days", "0.05")
    assert again.returncode == 2 and "already exists" in again.stderr


def test_html_escapes_label_values(small_dir: Path, tmp_path: Path) -> None:
    root = tmp_path / "snap"
    shutil.copytree(small_dir, root)
    hpas = root / "objects" / "hpas.json"
    doc = json.loads(hpas.read_text())
    doc["items"][0]["metadata"]["name"] = "<img src=x onerror=alert(1)>"
    hpas.write_text(json.dumps(doc))
    result = run("report", "--snapshot", str(root), "--out", str(tmp_path / "r"), "-o", "html")
    assert result.returncode == 0, result.stderr
    html = (tmp_path / "r" / "report.html").read_text()
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html


@pytest.mark.parametrize("items", ['{"a": 1}', '"pods"', "null"])
def test_an_object_file_whose_items_is_no_list_is_exit_2(small_dir: Path, tmp_path: Path, items: str) -> None:
    root = tmp_path / "snap"
    shutil.copytree(small_dir, root)
    stray = root / "objects" / "stray.json"
    stray.write_text('{"apiVersion": "v1", "kind": "List", "items": ' + items + "}")
    result = run("report", "--snapshot", str(root), "--out", str(tmp_path / "r"), "-o", "json")
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        f"error: {stray}: items must be a list, got "
        + {'{"a": 1}': "an object", '"pods"': "a string", "null": "null"}[items]
    ]
    assert not (tmp_path / "r").exists()


def test_help_is_useful() -> None:
    for command in ("report", "sample"):
        result = run(command, "--help")
        assert result.returncode == 0 and "--out" in result.stdout


def test_synthetic_fixture_is_consistent(small: Synthetic) -> None:
    assert small.snapshot.metadata.extra["seed"] == 11


def test_a_rule_decides_a_multi_app_pod_and_a_bad_rule_file_is_exit_2(default_report: Run, tmp_path: Path) -> None:
    default = default_report.process
    assert "1 workload with several app containers, all counted as the app" in default.stdout
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - match: {namespace: edge, container: authz}\n    role: sidecar\n")
    resolved = run("report", "--out", str(tmp_path / "b"), "-o", "json", "-o", "pods", "--rules", str(rules))
    assert resolved.returncode == 0, resolved.stderr
    assert "several app containers" not in resolved.stdout
    doc = json.loads((tmp_path / "b" / "report.json").read_text())
    assert "classes" not in doc  # every pod's rows: pods.parquet
    pods = pd.read_parquet(tmp_path / "b" / "pods.parquet")
    authz = pods[pods["container"] == "authz"].to_dict(orient="records")
    assert authz and all(c["evidence"].startswith(f"rule {rules}: rules[0]") and c["role"] == "sidecar" for c in authz)
    assert doc["summary"]["multi_app_workloads"] == 0
    rules.write_text("rules:\n  - match: {namespace: edge}\n    role: sidecar\n    kind: mesh\n")
    bad = run("report", "--out", str(tmp_path / "c"), "--rules", str(rules))
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1
    assert bad.stderr.startswith(f"error: {rules}: rules[0].kind: 'mesh' is not one of")
    assert not (tmp_path / "c").exists()


def test_fail_on_sets_exit_code_1_and_every_format_is_written(default_report: Run, tmp_path: Path) -> None:
    high = run(
        "report", "--out", str(tmp_path / "a"), "-o", "markdown", "-o", "csv", "-o", "series", "--fail-on", "high"
    )
    assert high.returncode == 1, high.stderr
    assert "findings at or above high: exit 1" in high.stderr and "Traceback" not in high.stderr
    md = (tmp_path / "a" / "report.md").read_text()
    assert md.startswith("# Sidecar impact: synthetic-7") and "| high | hpa-stalled | 1 | payments/hpa/ledger |" in md
    tables = {p.name for p in (tmp_path / "a" / "csv").iterdir()}
    assert {"findings.csv", "hpa_skew.csv", "remedies.csv", "vpa_hazards.csv"} <= tables
    assert "hpa_series.csv" not in tables  # millions of rows at scale: Parquet, and only when asked
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["csv", "hpa_series.parquet", "report.md"]
    series = pd.read_parquet(tmp_path / "a" / "hpa_series.parquet")
    assert set(series.columns) == set(SERIES_COLUMNS) and len(series) > 0
    assert set(series["view"]) >= {"as-deployed", "app-only"}
    assert default_report.process.returncode == 0
    doc = json.loads((default_report.out / "report.json").read_text())
    assert doc["summary"]["findings_high"] >= 1  # the findings exist; only --fail-on turns them into exit 1
    bad = run("report", "--out", str(tmp_path / "c"), "--fail-on", "bogus")
    assert bad.returncode == 2 and bad.stderr == "error: --fail-on: 'bogus' is not one of high, medium, low, none\n"


def test_filters_prices_and_output_modes(tmp_path: Path) -> None:
    shop = run("report", "--out", str(tmp_path / "a"), "-o", "markdown", "-n", "shop", "--log-format", "json",
               "--min-severity", "high", "--cpu-price", "0.063222", "--memory-price", "0")  # fmt: skip
    assert shop.returncode == 0, shop.stderr
    line = json.loads(shop.stdout)
    assert line["summary"]["workloads"] == 5  # checkout, inventory, catalog, pricing, cart
    assert line["files"] == [str(tmp_path / "a" / "report.md")]
    # CPU at twice OpenCost's price, memory free: inventory's cloud-sql-proxy (1 CPU per pod) bills 2 × 0.031611.
    md = (tmp_path / "a" / "report.md").read_text()
    assert "| low |" not in md and "| medium |" not in md and "| high | hpa-skew | 1 | shop/hpa/inventory |" in md
    prices = tmp_path / "prices.yaml"
    prices.write_text("cpu_core_hour: 0.063222\nmemory_gib_hour: 0\n")
    from_file = run("report", "--out", str(tmp_path / "b"), "-o", "json", "-n", "shop", "--price-file", str(prices),
                    "--quiet")  # fmt: skip
    assert from_file.returncode == 0 and from_file.stdout == ""
    doc = json.loads((tmp_path / "b" / "report.json").read_text())
    assert doc["summary"]["sidecar_cost_month"] == line["summary"]["sidecar_cost_month"]
    inventory = next(w for w in doc["workloads"] if w["workload"] == "inventory")
    assert inventory["sidecar_cost_month"] == pytest.approx(1.0 * 0.063222 * 730 * inventory["pods_mean"])
    bad = run("report", "--out", str(tmp_path / "c"), "--price-file", str(tmp_path / "missing.yaml"))
    assert bad.returncode == 2 and bad.stderr.startswith("error: ") and "missing.yaml" in bad.stderr


def test_a_terminal_gets_a_summary_table_and_cron_gets_plain_lines(
    default_report: Run, sample_analysis: Analysis, tmp_path: Path
) -> None:
    import os
    import pty

    primary, secondary = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "analyzer", "report", "--out", str(tmp_path), "-o", "json"],
        stdout=secondary, stderr=subprocess.PIPE, env={**os.environ, "COLUMNS": "120"},
    )  # fmt: skip
    os.close(secondary)
    chunks = []
    while True:
        try:
            chunk = os.read(primary, 65536)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    assert proc.wait(timeout=300) == 0
    shown = b"".join(chunks).decode()
    s = sample_analysis.summary()
    cost = f"${s['sidecar_cost_month']:,.2f}"
    assert "sidecar impact: synthetic-7" in shown and "│ sidecar cost" in shown and f"{cost}/month" in shown
    plain = default_report.process
    assert "│" not in plain.stdout
    head = f"{s['workloads']} workloads, {s['containers']} containers ({s['sidecars']} sidecars, {cost}"
    assert plain.stdout.startswith(head)


def test_progress_is_a_bar_on_a_terminal_and_a_line_otherwise(default_report: Run, tmp_path: Path) -> None:
    if shutil.which("script") is None:
        pytest.fail("util-linux 'script' is needed to give the CLI a terminal")
    command = f"{sys.executable} -m analyzer report -O {tmp_path / 'tty'} --top 1"
    tty = subprocess.run(["script", "-qec", command, "/dev/null"], capture_output=True, text=True, timeout=300)
    assert tty.returncode == 0, tty.stdout
    assert "━" in tty.stdout and "5/5" in tty.stdout  # rich's bar and its done/total column
    plain = default_report.process
    assert plain.returncode == 0
    assert "INFO: analysis: 5 of 5 done" in plain.stderr and "━" not in plain.stderr + plain.stdout


def test_a_hostile_object_is_one_line_exit_2_and_nothing_is_written(small_dir: Path, tmp_path: Path) -> None:
    root = tmp_path / "snap"
    shutil.copytree(small_dir, root)
    pods = root / "objects" / "pods.json"
    doc = json.loads(pods.read_text())
    doc["items"][0]["spec"]["containers"][0]["resources"] = {"requests": {"cpu": "-1" + "0" * 30_000}}
    pods.write_text(json.dumps(doc))
    result = run("report", "--snapshot", str(root), "--out", str(tmp_path / "r"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1 and len(result.stderr) < 600
    assert f"{pods}: items[0]: Pod " in result.stderr
    assert "spec.containers[0].resources.requests.cpu: not a Kubernetes quantity (longer than 64" in result.stderr
    assert not (tmp_path / "r").exists()


def test_a_vpa_recommender_config_moves_the_targets_and_a_bad_one_is_exit_2(
    default_report: Run, tmp_path: Path
) -> None:
    config = tmp_path / "vpa.yaml"
    config.write_text("target-cpu-percentile: 0.5\nrecommendation-margin-fraction: 0\n")
    lower = run("report", "--out", str(tmp_path / "a"), "-o", "json", "--vpa-recommender-config", str(config))
    assert lower.returncode == 0, lower.stderr
    before = {(r["namespace"], r["container"]): r["cpu_target_cores"]
              for r in json.loads((default_report.out / "report.json").read_text())["vpa"] if r["tracked"]}  # fmt: skip
    after = {(r["namespace"], r["container"]): r["cpu_target_cores"]
             for r in json.loads((tmp_path / "a" / "report.json").read_text())["vpa"] if r["tracked"]}  # fmt: skip
    assert after.keys() == before.keys() and all(after[k] <= before[k] for k in before)
    assert sum(after.values()) < sum(before.values())  # p50 without margin asks for less than p90 × 1.15
    config.write_text("round-cpu-millicores: 0\n")
    bad = run("report", "--out", str(tmp_path / "b"), "--vpa-recommender-config", str(config))
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1
    assert bad.stderr.startswith(f"error: {config}: ") and "scale must be greater than zero" in bad.stderr
    assert not (tmp_path / "b").exists()
