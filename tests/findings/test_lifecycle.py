"""The sidecar lifecycle against the lifecycle catalogue's truth: Jobs held open by a sidecar (the controls, the
owner rule for Jobs, the fixes through a real kubectl) and apps that start before their proxy."""

from __future__ import annotations

import copy
import json
import shlex
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from analyzer.api import Analysis, analyze, render
from analyzer.findings.jobs_held import FINDING_KIND
from analyzer.model.classify import classify
from analyzer.model.job_holds import pod_holds
from analyzer.model.start_order import hold_application, with_hold
from analyzer.model.stop_order import proxy_exit
from analyzer.model.workloads import pod_owners
from analyzer.prices import HOURS_PER_MONTH
from analyzer.simulate.kube_version import KubeVersion
from analyzer.snapshot.kube import parse_pod_spec
from analyzer.synth.generate import Synthetic, generate
from tests.patching import applied, script_commands

STEP_S = 15.0


@pytest.fixture(scope="module")
def lifecycle() -> Synthetic:
    """The lifecycle catalogue: its start-order Deployments and CronJobs, a day at 15 s."""
    return generate(workloads=3, days=1.0, step_s=STEP_S, catalogue="lifecycle")


@pytest.fixture(scope="module")
def lifecycle_analysis(lifecycle: Synthetic) -> Analysis:
    return analyze(lifecycle.snapshot)


def test_held_pods_hours_and_unfinished_jobs_match_the_truth(
    lifecycle: Synthetic, lifecycle_analysis: Analysis
) -> None:
    """Per CronJob: the held pods and unfinished Jobs exactly, the held pod-hours within a step per held pod (a
    change is read at the step after it: the estimate is the step's middle), the cost at the same tolerance."""
    table = lifecycle_analysis.jobs_held.set_index("workload")
    truth = {j["workload"]: j for j in lifecycle.truth["jobs"]}
    held = {w for w, j in truth.items() if j["held"]}
    assert held == {"report-export", "ledger-reconcile", "secrets-sync"}
    assert set(table.index) == held  # the controls (native sidecar, a sidecar that quits) have no row
    for workload in held:
        row, t = table.loc[workload], truth[workload]
        assert row.pods == t["pods"] and row.pods_held == t["pods_held"]
        assert row.jobs_unfinished == t["jobs_unfinished"] and row.apps_failed == t["apps_failed"]
        tolerance = t["pods_held"] * STEP_S / 3600
        assert row.held_pod_hours == pytest.approx(t["held_pod_hours"], abs=tolerance)
        assert row.cpu_request_cores == pytest.approx(t["pod_cpu_request_cores"])
        assert row.memory_request_bytes == pytest.approx(t["pod_memory_request_bytes"])
        per_hour = t["held_cost"] / t["held_pod_hours"]
        assert row.cost == pytest.approx(t["held_cost"], abs=tolerance * per_hour)
        assert row.cost_month == pytest.approx(row.cost / 24 * HOURS_PER_MONTH, rel=0.01)
    assert truth["ledger-reconcile"]["jobs_unfinished"] == 1 and truth["secrets-sync"]["apps_failed"] > 0


def test_a_held_job_whose_app_failed_is_told_from_one_that_completed(
    lifecycle: Synthetic, lifecycle_analysis: Analysis, tmp_path: Path
) -> None:
    """secrets-sync's app fails (Error) while vault-agent holds its pods: the finding says the Job saw no failure
    meanwhile; report-export's completed. A snapshot written before the termination reason was recorded loads
    (no reason: no failed app), and a reason on a row that is not terminated is refused in one line."""
    found = lifecycle_analysis.findings.set_index("object")
    assert "the app had failed" in found.loc["cronjob/secrets-sync", "message"]
    assert "the app had failed" not in found.loc["cronjob/report-export", "message"]
    from analyzer.api import load_snapshot
    from analyzer.errors import SnapshotError
    from analyzer.snapshot.writing import write_snapshot

    root = tmp_path / "snap"
    write_snapshot(lifecycle.snapshot, root)
    status = pq.read_table(root / "container_status.parquet")
    pq.write_table(status.drop_columns(["terminated_reason"]), root / "container_status.parquet")
    older = analyze(load_snapshot(root)).jobs_held.set_index("workload")
    assert older.loc["secrets-sync", "apps_failed"] == 0
    assert older.loc["secrets-sync", "pods_held"] == lifecycle_analysis.jobs_held.set_index("workload").loc[
        "secrets-sync", "pods_held"]  # fmt: skip
    frame = status.to_pandas()
    row = int((frame["state"] == "running").to_numpy().argmax())
    frame.loc[row, "terminated_reason"] = "Completed"
    pq.write_table(pa.Table.from_pandas(frame, schema=status.schema), root / "container_status.parquet")
    with pytest.raises(SnapshotError) as caught:
        load_snapshot(root)
    message = str(caught.value)
    assert "\n" not in message and f"row {row} has terminated_reason 'Completed' but state 'running'" in message


def test_findings_rank_a_job_that_never_completes_first(lifecycle_analysis: Analysis) -> None:
    found = lifecycle_analysis.findings[lifecycle_analysis.findings["kind"] == FINDING_KIND]
    severity = dict(zip(found["object"], found["severity"], strict=True))
    assert severity == {"cronjob/ledger-reconcile": "high", "cronjob/report-export": "medium",
                        "cronjob/secrets-sync": "medium"}  # fmt: skip
    summary = lifecycle_analysis.summary()
    assert summary["jobs_unfinished"] == 1
    assert summary["jobs_held_cost_month"] == pytest.approx(lifecycle_analysis.jobs_held["cost_month"].sum(), abs=0.01)
    causes = lifecycle_analysis.causes
    held_causes = causes[causes["kind"] == FINDING_KIND]
    assert sorted(m for members in held_causes["members"] for m in members) == [
        "batch/cronjob/ledger-reconcile", "batch/cronjob/report-export", "batch/cronjob/secrets-sync"]  # fmt: skip


def test_the_fixes_apply_to_the_cronjobs_with_the_real_kubectl(
    lifecycle: Synthetic, lifecycle_analysis: Analysis, tmp_path: Path
) -> None:
    """Each CronJob's patch, run by a real kubectl on the CronJob as collected, sets the injector's annotation on
    the Jobs' pod template (spec.jobTemplate.spec.template) and validates; the controls get none."""
    render(lifecycle_analysis, tmp_path, ["fixes"])
    commands = [c for c in script_commands(tmp_path / "fixes" / "apply.sh") if " cronjob " in c]
    expected = {"report-export": ("sidecar.istio.io/nativeSidecar", "true"),
                "ledger-reconcile": ("config.linkerd.io/proxy-enable-native-sidecar", "true"),
                "secrets-sync": ("vault.hashicorp.com/agent-pre-populate-only", "true")}  # fmt: skip
    assert sorted(shlex.split(c)[3] for c in commands) == sorted(expected)
    for command in commands:
        name = shlex.split(command)[3]
        before, after = applied(command, lifecycle.snapshot, tmp_path)
        template = after["spec"]["jobTemplate"]["spec"]["template"]
        key, value = expected[name]
        assert template["metadata"]["annotations"][key] == value
        assert template["spec"] == before["spec"]["jobTemplate"]["spec"]["template"]["spec"]


def test_below_1_29_the_fix_for_a_proxy_is_words(lifecycle: Synthetic) -> None:
    """Native sidecars are on by default from 1.29: before, Istio's quit API and linkerd-await are the fixes
    (no patch); the Vault agent's pre-populate-only annotation does not need native sidecars."""
    table = analyze(lifecycle.snapshot, version=KubeVersion(28)).jobs_held.set_index("workload")
    assert "quitquitquit" in table.loc["report-export", "fix"] and table.loc["report-export", "patch"] == ""
    assert "linkerd-await --shutdown" in table.loc["ledger-reconcile", "fix"]
    assert table.loc["secrets-sync", "patch"] != ""


def test_a_job_pod_is_owned_by_its_cronjob_with_or_without_the_job_object(lifecycle: Synthetic) -> None:
    """A Job resolves to its CronJob by the Job's controller reference; a Job no longer kept (a CronJob keeps
    its last few) by the CronJob controller's naming, <cronjob>-<minutes>, when that CronJob exists."""
    snapshot = lifecycle.snapshot
    kept = {j["metadata"]["name"] for j in snapshot.items("Job")}
    owners = pod_owners(snapshot)
    batch = owners[owners["namespace"] == "batch"]
    assert set(batch["workload_kind"]) == {"CronJob"}
    job_of = {p.name: p.controller.name for p in snapshot.pods if p.namespace == "batch" and p.controller}
    assert any(job not in kept for job in job_of.values()) and any(job in kept for job in job_of.values())
    orphan = copy.deepcopy(snapshot.items("Pod")[0])
    orphan["metadata"].update(name="adhoc-abc12", namespace="batch",
                              ownerReferences=[{"kind": "Job", "name": "adhoc-7", "controller": True}])  # fmt: skip
    alone = type(snapshot)(metadata=snapshot.metadata, usage=snapshot.usage, replicas=snapshot.replicas,
                           objects={**snapshot.objects, "Pod": [orphan]})  # fmt: skip
    assert pod_owners(alone).iloc[0][["workload_kind", "workload"]].tolist() == ["Job", "adhoc-7"]


def test_a_sidecar_that_restarts_is_not_an_end_and_a_native_one_never_holds(lifecycle: Synthetic) -> None:
    """pod_holds reads a container's end from its last run of 'terminated' rows: a sidecar that terminated and
    ran again ends where it finally stopped; the native control's sidecar stops with the app."""
    snapshot = lifecycle.snapshot
    classes = classify(snapshot, pod_owners(snapshot))
    holds = pod_holds(snapshot, classes)
    assert (holds.loc[holds["workload"] == "invoice-batch", "held_s"] == 0).all()
    cs = snapshot.container_status
    pod = holds.loc[holds["workload"] == "report-export", "pod"].iloc[0]
    rows = cs[(cs["pod"] == pod) & (cs["container"] == "istio-proxy")]
    running = rows[rows["state"] == "running"].iloc[0]
    first_stop = running["timestamp"] + pd.Timedelta(minutes=2)
    restart = pd.DataFrame([{**running.to_dict(), "timestamp": first_stop, "state": "terminated", "ready": False},
                            {**running.to_dict(), "timestamp": first_stop + pd.Timedelta(minutes=1)}])  # fmt: skip
    edited = pd.concat([cs, restart.astype(cs.dtypes.to_dict())], ignore_index=True)
    edited = edited.sort_values(["namespace", "pod", "container", "timestamp"], kind="stable", ignore_index=True)
    again = pod_holds(type(snapshot)(metadata=snapshot.metadata, usage=snapshot.usage, replicas=snapshot.replicas,
                                     objects=snapshot.objects, container_status=edited), classes)  # fmt: skip
    assert again.set_index("pod").loc[pod, "held_s"] == holds.set_index("pod").loc[pod, "held_s"]


def test_a_cronjob_template_is_read_from_its_job_template(lifecycle: Synthetic) -> None:
    cronjob = next(w for w in lifecycle.snapshot.workloads("CronJob") if w.name == "cache-warmer")
    raw = lifecycle.snapshot.items("CronJob")
    spec = next(c for c in raw if c["metadata"]["name"] == "cache-warmer")["spec"]["jobTemplate"]["spec"]["template"]
    assert cronjob.template == parse_pod_spec(spec["spec"])
    assert [c.name for c in cronjob.template.containers] == ["cache-warmer", "fluent-bit"]


def test_without_the_api_a_job_pod_resolves_through_kube_job_owner(lifecycle: Synthetic) -> None:
    """A --no-api collection rebuilds Jobs from kube_job_owner (its CronJob as controller) and stub CronJobs, so
    its Job pods are reported per CronJob as with the API."""
    from analyzer.collect.ksm import SERIES, KsmState
    from analyzer.collect.ksm_objects import ksm_workloads, owned_by
    from analyzer.snapshot.schema import Snapshot

    tables = {name: pd.DataFrame(columns=[*series.by, "value"]) for name, series in SERIES.items()}
    tables["job_owners"] = pd.DataFrame({"namespace": ["batch", "batch"], "job_name": ["nightly-29380000", "adhoc"],
                                         "owner_kind": ["CronJob", "<none>"], "owner_name": ["nightly", "<none>"],
                                         "value": [1.0, 1.0]})  # fmt: skip
    pod = copy.deepcopy(lifecycle.snapshot.items("Pod")[0])
    pods = []
    for name, job in (("nightly-29380000-x1", "nightly-29380000"), ("adhoc-y2", "adhoc")):
        p = copy.deepcopy(pod)
        p["metadata"].update(name=name, namespace="batch", ownerReferences=[{"kind": "Job", "name": job,
                                                                             "controller": True}])  # fmt: skip
        pods.append(p)
    no_replicas = pd.DataFrame(columns=["namespace", "kind", "name", "replicas"])
    objects = ksm_workloads(KsmState(tables, no_replicas), (o for p in pods for o in owned_by(p)))
    assert [o["metadata"]["name"] for o in objects["CronJob"]] == ["nightly"]
    snapshot = Snapshot(metadata=lifecycle.snapshot.metadata, usage=lifecycle.snapshot.usage,
                        replicas=lifecycle.snapshot.replicas, objects={**objects, "Pod": pods})  # fmt: skip
    owners = pod_owners(snapshot).set_index("pod")
    assert owners.loc["nightly-29380000-x1", ["workload_kind", "workload"]].tolist() == ["CronJob", "nightly"]
    assert owners.loc["adhoc-y2", ["workload_kind", "workload"]].tolist() == ["Job", "adhoc"]


def test_apps_started_before_their_proxy_match_the_truth(lifecycle: Synthetic, lifecycle_analysis: Analysis) -> None:
    """order-router's app exits while istio-proxy is not up: every new pod and every restart until the app first
    turned ready (the back-off's tail) exactly, the unready time within a step per pod; its control, with
    holdApplicationUntilProxyStarts, and the Deployment without the timeout have no row."""
    table = lifecycle_analysis.start_order.set_index("workload")
    assert list(table.index) == ["order-router"]
    row = table.loc["order-router"]
    truth = next(w for w in lifecycle.truth["workloads"] if w["workload"] == "order-router")["failures"]
    assert truth["pods_app_failed_at_start"] > 3
    assert (row.pods_started, row.pods_failed) == (truth["pods_started"], truth["pods_app_failed_at_start"])
    assert row.app_restarts == truth["app_start_restarts"]
    assert row.ready_lost_pod_hours == pytest.approx(truth["start_order_pod_hours"],
                                                     abs=truth["pods_app_failed_at_start"] * STEP_S / 3600)  # fmt: skip
    assert row.setting.startswith("holdApplicationUntilProxyStarts not set")
    found = lifecycle_analysis.findings
    start = found[found["kind"] == "sidecar-start-order"]
    assert start[["object", "severity"]].values.tolist() == [["deployment/order-router", "medium"]]
    # The failure analysis does not take the app's restarts for the sidecar's, nor the app's late readiness
    # for a sidecar that was late.
    failures = lifecycle_analysis.failures.set_index("workload")
    assert failures.loc["order-router", "restarts"] == 0 and failures.loc["order-router", "pods_held"] == 0


def test_the_start_order_fix_applies_with_the_real_kubectl(
    lifecycle: Synthetic, lifecycle_analysis: Analysis, tmp_path: Path
) -> None:
    render(lifecycle_analysis, tmp_path, ["fixes"])
    (command,) = [c for c in script_commands(tmp_path / "fixes" / "apply.sh") if "deployment order-router" in c]
    _, after = applied(command, lifecycle.snapshot, tmp_path)
    config = after["spec"]["template"]["metadata"]["annotations"]["proxy.istio.io/config"]
    assert hold_application(config) is True
    # its stop-order fix sets the same annotation: the file's last value carries both changes
    assert proxy_exit("istio", {"proxy.istio.io/config": config}, 30)[1] == "EXIT_ON_ZERO_ACTIVE_CONNECTIONS: true"


def test_the_order_setting_is_read_from_the_pod() -> None:
    """holdApplicationUntilProxyStarts in proxy.istio.io/config as YAML or JSON; a malformed value or an alias
    bomb is no setting (never an error, never expanded); the fix merges into what the annotation says."""
    assert hold_application("holdApplicationUntilProxyStarts: true") is True
    assert hold_application('{"holdApplicationUntilProxyStarts": false, "concurrency": 2}') is False
    assert hold_application("holdApplicationUntilProxyStarts: [") is None
    assert hold_application("concurrency: 2") is None
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{n}: &{n} [{', '.join([f'*{p}'] * 9)}]\n" for p, n in zip("abcdefg", "bcdefgh", strict=True)
    )
    assert hold_application(bomb) is None and json.loads(with_hold(bomb)) == {"holdApplicationUntilProxyStarts": True}
    assert json.loads(with_hold("concurrency: 2")) == {"concurrency": 2, "holdApplicationUntilProxyStarts": True}


def test_a_start_order_cause_of_injected_istio_proxies_is_fixed_mesh_wide() -> None:
    """Several workloads' injected istio-proxies starting after their apps are one cause: its change at the source is
    the mesh's default proxy config; a single workload keeps its own fix."""
    from analyzer.findings.causes import Culprit, _source_fix

    proxy = (Culprit("istio-proxy", "istio", "docker.io/istio/proxyv2", "injector"),)
    two = pd.DataFrame({"namespace": ["a", "b"], "object": ["deployment/x", "deployment/y"]})
    fix = _source_fix("sidecar-start-order", proxy, two, 0.0, float("nan"))
    assert "mesh-wide" in fix.change and "holdApplicationUntilProxyStarts: true" in fix.fix
    assert _source_fix("sidecar-start-order", proxy, two.head(1), 0.0, float("nan")).change == ""


def test_proxies_that_exit_before_the_app_drains(lifecycle: Synthetic, lifecycle_analysis: Analysis,
                                                 tmp_path: Path) -> None:  # fmt: skip
    """Istio's default proxy exits 5 s into the pod's 30 s grace period: each workload whose scale-downs removed
    pods is exposed for 25 s per pod, the pods counted as the generator's replicas removed them; the control
    with EXIT_ON_ZERO_ACTIVE_CONNECTIONS has no row; the fix, through a real kubectl, keeps what the annotation
    said and adds the setting."""
    table = lifecycle_analysis.stop_order.set_index("workload")
    truth = {w["workload"]: w for w in lifecycle.truth["workloads"]}
    assert set(table.index) == {"checkout", "order-router"}
    for workload, row in table.iterrows():
        assert (row.grace_s, row.proxy_exits_s, row.exposed_s) == (30, 5.0, 25.0)
        assert row.scale_downs == truth[workload]["scale_downs"] > 0
        assert row.pods_removed == truth[workload]["pods_removed_by_scale_downs"]
    assert truth["order-history"]["pods_removed_by_scale_downs"] > 0  # the control scaled down too
    render(lifecycle_analysis, tmp_path, ["fixes"])
    (command,) = [c for c in script_commands(tmp_path / "fixes" / "apply.sh") if "deployment checkout" in c]
    _, after = applied(command, lifecycle.snapshot, tmp_path)
    config = json.loads(after["spec"]["template"]["metadata"]["annotations"]["proxy.istio.io/config"])
    assert config["proxyMetadata"] == {"EXIT_ON_ZERO_ACTIVE_CONNECTIONS": "true"}
    assert proxy_exit("istio", {"proxy.istio.io/config": json.dumps(config)}, 30) == (
        30.0, "EXIT_ON_ZERO_ACTIVE_CONNECTIONS: true")  # fmt: skip
    assert proxy_exit("istio", {"proxy.istio.io/config": "terminationDrainDuration: 1m5s"}, 90)[0] == 65.0
    assert proxy_exit("linkerd", {"config.alpha.linkerd.io/proxy-wait-before-exit-seconds": "40"}, 30)[0] == 40.0


def test_the_migration_table_says_what_the_move_ends(lifecycle_analysis: Analysis) -> None:
    """The native-sidecar migration row of a sidecar with a measured start order, stop order or held Jobs says it
    now and after the move; the control's native sidecar has no row, the others' columns are empty."""
    rows = lifecycle_analysis.native_migration.set_index(["workload", "container"])
    assert "→ started first" in rows.loc[("order-router", "istio-proxy"), "start_order_after"]
    assert "→ stopped after the app" in rows.loc[("checkout", "istio-proxy"), "stop_order_after"]
    assert "the Jobs complete" in rows.loc[("ledger-reconcile", "linkerd-proxy"), "jobs_after"]
    assert "1 Jobs not completed" in rows.loc[("ledger-reconcile", "linkerd-proxy"), "jobs_after"]
    assert rows.loc[("order-history", "istio-proxy"), ["start_order_after", "stop_order_after", "jobs_after"]].eq(
        "").all()  # fmt: skip
    assert ("invoice-batch", "istio-proxy") not in rows.index  # already native


def test_the_metrics_carry_start_and_stop_order(lifecycle: Synthetic, lifecycle_analysis: Analysis) -> None:
    """A series per (workload, classic sidecar) with a row, at the table's figures: order-router's restarts as the
    generator made them, checkout's 25 s exposure on the pods its scale-downs removed."""
    from prometheus_client import generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    from analyzer.render.metrics import registry_of

    text = generate_latest(registry_of(lifecycle_analysis, now=0.0)).decode()
    lifecycle_series = ("sidecar_impact_start_order", "sidecar_impact_stop_order")
    series = {(s.name, s.labels.get("workload")): s.value for family in text_string_to_metric_families(text)
              for s in family.samples if s.name.startswith(lifecycle_series)}  # fmt: skip
    truth = {w["workload"]: w for w in lifecycle.truth["workloads"]}
    router = lifecycle_analysis.start_order.set_index("workload").loc["order-router"]
    assert series[("sidecar_impact_start_order_app_restarts", "order-router")] == truth["order-router"]["failures"][
        "app_start_restarts"]  # fmt: skip
    assert series[("sidecar_impact_start_order_unready_pod_seconds", "order-router")] == pytest.approx(
        router.ready_lost_pod_hours * 3600)  # fmt: skip
    assert series[("sidecar_impact_stop_order_exposed_seconds", "checkout")] == 25.0
    assert series[("sidecar_impact_stop_order_pods_removed", "checkout")] == truth["checkout"][
        "pods_removed_by_scale_downs"]  # fmt: skip
    assert {w for _, w in series} == {"order-router", "checkout"}  # the controls have none
