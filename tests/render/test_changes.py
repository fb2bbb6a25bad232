"""Run history, part one: each scheduled run compared with the one before (analyzer.findings.changes,
analyzer.render.run_state), checked on the bundled sample before and after its recommended HPA fixes."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import jsonschema
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analyzer.api import Analysis, analyze, diff, load_snapshot, render_run
from analyzer.errors import SidecarImpactError
from analyzer.findings.changes import FIX_COLUMNS, STATE_COLUMNS, Changes, RunState, compare
from analyzer.render import metrics
from analyzer.render.run_state import STATE_FILE, read_state, state_document
from analyzer.synth.generate import generate
from analyzer.synth.scenarios import CATALOGUE
from tests.console import sidecar_impact
from tests.patching import patched
from tests.snapshot.test_hostile_objects import HOSTILE

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "docs" / "report.schema.json").read_text())
DAY_1, DAY_2 = pd.Timestamp("2026-12-06T02:00:00Z"), pd.Timestamp("2026-12-07T02:00:00Z")


@pytest.fixture(scope="module")
def fixed(sample_analysis: Analysis) -> Analysis:
    """The sample again, after the recommended HPA fixes that scale on the app container (ContainerResource:
    ledger, pricing) were applied to its objects: two HPAs change, the rest stay (every fix applied at once is
    the last test's case)."""
    remedies = sample_analysis.remedies
    chosen = remedies[remedies["recommended"] & (remedies["remedy"] == "container-resource")]
    assert set(chosen["hpa"]) == {"ledger", "pricing"}
    return analyze(patched(load_snapshot(), chosen))


def test_the_fixed_hpas_findings_are_resolved_and_nothing_else_moves(
    sample_analysis: Analysis, fixed: Analysis
) -> None:
    changes = compare(sample_analysis.state(), fixed.state())
    moved = changes.findings[changes.findings["status"] != "persisting"]
    assert set(zip(moved["status"], moved["kind"], moved["object"], strict=True)) == {
        ("resolved", "hpa-stalled", "hpa/ledger"),
        ("resolved", "hpa-dilution", "hpa/pricing"),
        # the observed replicas were those of the frozen HPA: the fixed one's replay cannot reproduce them
        ("new", "hpa-uncalibrated", "hpa/ledger"),
    }
    assert changes.counts("resolved") == {"high": 1, "medium": 0, "low": 1}
    assert changes.counts("new") == {"high": 0, "medium": 0, "low": 1}
    vpa = changes.findings[changes.findings["kind"].str.startswith("vpa-")]
    assert set(vpa["status"]) == {"persisting"}  # the VPAs were not touched
    assert changes.figures["stalled_hours"] == pytest.approx(-72.0) and changes.figures["waste_cost_month"] < 0
    assert changes.workloads.empty  # the same workloads and sidecars
    hpas = changes.hpas.set_index("hpa")
    assert set(hpas.index) == {"ledger", "pricing"}  # no other HPA moved
    assert (hpas.loc["ledger", "direction_before"], hpas.loc["ledger", "direction_now"]) == ("stalled", "none")
    assert hpas.loc["pricing", "skew_percent_now"] == pytest.approx(0.0, abs=0.5)
    assert changes.headline().startswith("Since 2026-11-04 23:59 UTC: 1 new low, 2 resolved, waste −$")


def test_a_scheduled_run_compares_itself_with_the_last_one(
    sample_analysis: Analysis, fixed: Analysis, tmp_path: Path
) -> None:
    first = render_run(sample_analysis, tmp_path, ["json"], now=DAY_1)
    assert "changes" not in json.loads(first[0].read_text())  # nothing earlier to compare with
    assert (first[0].parent / STATE_FILE).is_file()
    second = render_run(fixed, tmp_path, ["json", "markdown", "html"], now=DAY_2)
    doc = json.loads(second[0].read_text())
    jsonschema.validate(doc, SCHEMA)
    expected = compare(sample_analysis.state(), fixed.state())
    assert doc["changes"]["headline"] == expected.headline()
    assert doc["changes"]["resolved"] == expected.counts("resolved")
    assert {(f["kind"], f["object"]) for f in doc["changes"]["findings"]} == {
        (r.kind, r.object) for r in expected.findings.itertuples() if r.status != "persisting"
    }
    md = second[1].read_text()
    assert f"- **{expected.headline()}**" in md and "## Since the last run" in md
    page = second[2].read_text()
    assert f"<p class=since><b>{expected.headline()}</b>" in page and "<section id=since>" in page
    assert "<a href=#since>Since the last run</a>" in page
    # the library and the CLI compare any two runs the same way
    assert diff(first[0].parent, second[0].parent).headline() == expected.headline()
    done = sidecar_impact("diff", str(first[0].parent), str(second[0]), "--output", "json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["headline"] == expected.headline()


def test_the_metrics_count_new_and_resolved_findings(sample_analysis: Analysis, fixed: Analysis) -> None:
    compared = replace(fixed, changes=compare(sample_analysis.state(), fixed.state()))
    text = metrics.registry_of(compared, now=0.0)
    from prometheus_client import generate_latest

    lines = generate_latest(text).decode().splitlines()
    resolved = {line for line in lines if line.startswith("sidecar_impact_findings_resolved{")}
    assert any('severity="high"' in line and not line.endswith(" 0.0") for line in resolved)
    new = {line for line in lines if line.startswith("sidecar_impact_findings_new{")}
    assert {line for line in new if not line.endswith(" 0.0")} == {
        'sidecar_impact_findings_new{cluster="synthetic-7",severity="low"} 1.0'
    }
    assert not [line for line in generate_latest(metrics.registry_of(fixed, now=0.0)).decode().splitlines()
                if line.startswith("sidecar_impact_findings_new{")]  # fmt: skip


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[]", "not a report"),
        ('{"snapshot": {"end": "yesterday"}}', "snapshot.end: not an ISO time with a zone"),
        ('{"snapshot": {"end": "2026-12-06T00:00:00Z"}, "summary": {}}', "findings: missing or not a list"),
        ('{"snapshot": {"end": "2026-12-06T00:00:00Z"}, "summary": {}, "findings": [{"kind": "x"}], "hpa_skew": [],'
         ' "containers": []}', "findings[0]: 'severity' is missing"),
        ("{not json", "not JSON"),
    ],
)  # fmt: skip
def test_a_file_that_is_not_a_run_is_named_with_its_field(tmp_path: Path, content: str, message: str) -> None:
    bad = tmp_path / "report.json"
    bad.write_text(content)
    with pytest.raises(Exception) as caught:
        read_state(bad)
    assert str(caught.value) == f"{bad}: {message}" or str(caught.value).startswith(f"{bad}: {message}")
    done = sidecar_impact("diff", str(bad), str(bad))
    assert done.returncode == 2 and done.stderr.startswith(f"error: {bad}: ") and "Traceback" not in done.stderr


def test_after_every_recommended_fix_no_hpa_is_skewed_and_no_fix_is_undone(sample_analysis: Analysis) -> None:
    """The retarget fix records the app target its pod-level target stands for (sidecar-impact.io/app-targets):
    the next analysis holds the app alone to 70 %, not to the new 24 %, so the fixed HPA is not taken for a
    new dilution and no remedy moves its target back."""
    remedies = sample_analysis.remedies
    chosen = remedies[remedies["recommended"] & (remedies["patch"] != "")]
    assert "retarget" in set(chosen["remedy"]) and any(o.startswith("scaledobject/") for o in chosen["object"])
    after = analyze(patched(load_snapshot(), chosen))
    changes = compare(sample_analysis.state(), after.state())
    skews = {"hpa-stalled", "hpa-inflation", "hpa-dilution"}
    resolved = changes.findings[changes.findings["status"] == "resolved"]
    assert set(resolved["object"]) == {f"hpa/{h}" for h in chosen["hpa"]} and set(resolved["kind"]) <= skews
    new = changes.findings[changes.findings["status"] == "new"]
    assert set(new["kind"]) <= {"hpa-uncalibrated"}  # the observed replicas are the old configuration's
    assert after.hpa_skew["skew_percent"].abs().max() < 2.0
    assert not after.remedies["recommended"].any()
    inventory = after.hpas.set_index("hpa").loc["inventory", "metrics"]
    assert inventory.startswith("Resource pod cpu at 24%")  # the fix kept, the app's 70 % as its yardstick


@pytest.mark.parametrize("value", ['{"cpu": "70"}', "70", '{"gpu": 70}', '{"cpu": 0}', "{", '{"cpu": true}'])
def test_a_malformed_app_target_annotation_makes_its_hpa_invalid_and_says_why(value: str) -> None:
    snapshot = load_snapshot()
    objects = {
        **snapshot.objects,
        "HorizontalPodAutoscaler": [dict(h) for h in snapshot.items("HorizontalPodAutoscaler")],
    }
    hpa = next(h for h in objects["HorizontalPodAutoscaler"] if h["metadata"]["name"] == "inventory")
    hpa["metadata"] = {**hpa["metadata"], "annotations": {"sidecar-impact.io/app-targets": value}}
    analysis = analyze(replace(snapshot, objects=objects))
    row = analysis.hpas.set_index("hpa").loc["inventory"]
    assert row.status == "invalid"
    assert row.reason == (
        "HorizontalPodAutoscaler shop/inventory: metadata.annotations[sidecar-impact.io/app-targets]: must be a JSON "
        "object from cpu or memory to a percentage (1 to 10000)"
    )
    assert "inventory" not in set(analysis.hpa_skew.dropna(subset=["skew_percent"])["hpa"])


def test_the_runs_index_plots_the_runs_and_counts_what_each_resolved(
    sample_analysis: Analysis, fixed: Analysis, tmp_path: Path
) -> None:
    """One run: no plot, a line saying when it comes. Three (before, fixed, before again): one figure of the
    runs, and each run's findings new and resolved since the one before, as its comparison said."""
    render_run(sample_analysis, tmp_path, ["json"], now=DAY_1)
    index = (tmp_path / "synthetic-7" / "index.html").read_text()
    assert "<img" not in index and "The trends appear from the second run on." in index
    render_run(fixed, tmp_path, ["json"], now=DAY_2)
    render_run(sample_analysis, tmp_path, ["json"], now=DAY_2 + pd.Timedelta(days=1))
    index = (tmp_path / "synthetic-7" / "index.html").read_text()
    assert index.count('<img src="data:image/png;base64,') == 1 and "over 3 runs" in index

    def said(changes: Changes) -> str:
        applied = sum(n for v, n in changes.verdicts().items() if v in ("fix-verified", "fix-underperformed"))
        undone = changes.verdicts().get("fix-reverted", 0)
        fixes = f", {applied} fix{'es' * (applied != 1)} applied" if applied else ""
        fixes += f", {undone} fix{'es' * (undone != 1)} reverted" if undone else ""
        return f"{sum(changes.counts('new').values())} new, {sum(changes.counts('resolved').values())} resolved{fixes}"

    forward = compare(sample_analysis.state(), fixed.state())
    back = compare(fixed.state().carrying(forward), sample_analysis.state())  # the state the second run wrote
    rows = re.findall(r"<tr><td>([^<]*)</td>.*?<td>([^<]*)</td><td><a ", index)
    assert said(forward).endswith(", 2 fixes applied") and said(back).endswith(", 2 fixes reverted")
    assert rows == [
        ("2026-12-08T02:00:00Z", said(back)),
        ("2026-12-07T02:00:00Z", said(forward)),  # the two ContainerResource fixes, seen applied
        ("2026-12-06T02:00:00Z", ""),
    ]


def test_the_fixes_of_an_earlier_run_are_judged_applied_held_and_reverted(
    sample_analysis: Analysis, tmp_path: Path
) -> None:
    """Four nights: the sample (fixes recommended); every fix applied (each judged against its prediction);
    the same again (nothing new to judge, the fixes carried on); the fixes undone (each reverted)."""
    remedies = sample_analysis.remedies
    chosen = remedies[remedies["recommended"] & (remedies["patch"] != "")]
    after = analyze(patched(load_snapshot(), chosen))
    judged = set(chosen.loc[chosen["remedy"] != "sidecar-requests", "hpa"])
    docs = []
    for day, analysis in enumerate((sample_analysis, after, after, sample_analysis)):
        (path,) = render_run(analysis, tmp_path, ["json"], now=DAY_1 + pd.Timedelta(days=day))
        docs.append(json.loads(path.read_text()))
    applied = docs[1]["changes"]["fixes"]
    assert {f["hpa"] for f in applied} == judged and {f["verdict"] for f in applied} == {"fix-verified"}
    for f in applied:  # each measured skew within 2 points of what the replay predicted
        assert abs(f["measured_skew_percent"]) < 2.0 or abs(f["measured_skew_percent"]) - abs(
            f["predicted_skew_percent"]) <= 2.0  # fmt: skip
    assert f"{len(judged)} fixes verified" in docs[1]["changes"]["headline"]
    assert docs[2]["changes"]["fixes"] == []
    reverted = docs[3]["changes"]["fixes"]
    assert {f["hpa"] for f in reverted} == judged and {f["verdict"] for f in reverted} == {"fix-reverted"}
    assert f"{len(judged)} fixes reverted" in docs[3]["changes"]["headline"]
    jsonschema.validate(docs[3], SCHEMA)


def test_a_fix_that_falls_short_or_was_changed_otherwise_says_so() -> None:
    """Worked states: a fix applied whose skew lands 8 points past the prediction while the app's load doubled;
    another HPA changed, not as recommended; a sidecar-requests fix, read in the workload's requests."""

    def state(metrics: dict[str, str], skews: dict[str, tuple[float, float]], fixes: list[tuple[str, ...]],
              proxy: tuple[float, float]) -> RunState:  # fmt: skip
        hpas = pd.DataFrame([("shop", h, m) for h, m in metrics.items()], columns=["namespace", "hpa", "metrics"])
        skew = pd.DataFrame(
            [("shop", h, f"Deployment/{h}", "dilution", s, 0.0, 1.0, 0.0, 0.0, load, 0.2)
             for h, (s, load) in skews.items()],
            columns=list(STATE_COLUMNS["hpa_skew"]),
        )  # fmt: skip
        containers = pd.DataFrame(
            [("shop", "Deployment", "checkout", "checkout", "app", "", 0.5, 2.0**29),
             ("shop", "Deployment", "checkout", "istio-proxy", "sidecar", "istio", *proxy)],
            columns=list(STATE_COLUMNS["containers"]),
        )  # fmt: skip
        findings = pd.DataFrame(columns=list(STATE_COLUMNS["findings"]))
        rows = [(*f, 1.0, "recommended", "2026-12-06T00:00:00Z") for f in fixes]
        table = pd.DataFrame(rows, columns=list(FIX_COLUMNS))
        return RunState(DAY_1, {}, findings=findings, hpa_skew=skew, containers=containers, hpas=hpas, fixes=table)

    SEVENTY = "Resource pod cpu at 70%"
    before = state(
        {"cart": SEVENTY, "pricing": SEVENTY, "checkout": SEVENTY},
        {"cart": (-20.0, 100.0), "pricing": (-9.0, 50.0), "checkout": (12.0, 80.0)},
        [("shop", "cart", "retarget", "Resource pod cpu at 70%", "Resource pod cpu at 60%"),
         ("shop", "pricing", "retarget", "Resource pod cpu at 70%", "Resource pod cpu at 66%"),
         ("shop", "checkout", "sidecar-requests", "istio-proxy cpu 100m memory 128Mi",
          "istio-proxy cpu 57m memory 66Mi")],
        proxy=(0.1, 128.0 * 2**20),
    )  # fmt: skip
    now = state(
        {
            "cart": "Resource pod cpu at 60%",
            "pricing": "Resource pod cpu at 50%",
            "checkout": "Resource pod cpu at 70%",
        },
        {"cart": (-9.0, 200.0), "pricing": (5.0, 50.0), "checkout": (0.5, 80.0)},
        [],
        proxy=(0.057, 66.0 * 2**20),
    )
    verdicts = compare(before, now).fixes.set_index("hpa")
    assert verdicts.loc["cart", "verdict"] == "fix-underperformed"
    assert verdicts.loc["cart", "note"] == (
        "+8.0 points beyond the prediction; the app's load changed (app-only replica-hours 100.0 → 200.0)"
    )
    assert verdicts.loc["pricing", "verdict"] == "changed-otherwise"
    assert verdicts.loc["pricing", "note"] == "recommended: Resource pod cpu at 66%"
    assert verdicts.loc["checkout", "verdict"] == "fix-verified"  # the proxy's requests read as recommended
    assert verdicts.loc["checkout", "metrics_now"] == "istio-proxy cpu 57m memory 66Mi"
    untouched = replace(before, fixes=before.fixes.iloc[:0])  # nothing recommended: a change of one's own
    own = compare(untouched, now).fixes.set_index("hpa")
    assert set(own["verdict"]) == {"changed-not-recommended"} and own.loc["pricing", "measured_skew_percent"] == 5.0
    assert own.loc["pricing", "note"] == "was Resource pod cpu at 70%" and "checkout" not in own.index
    carried = compare(before, now).carried
    assert sorted(carried["hpa"]) == ["cart", "checkout"] and set(carried["status"]) == {"applied"}


def test_a_generated_pair_before_and_after_the_fixes_gets_the_verdicts_its_truth_says(tmp_path: Path) -> None:
    """The generator's cluster, then the same cluster (same traffic, drawn before any scaling) with the
    first report's HPA and ScaledObject fixes applied and the controllers run on them: every fix verified,
    the replay calibrated on the new replicas (no new finding), also with 60 % more traffic; a fix applied
    otherwise than recommended is said to be."""
    first = generate(workloads=len(CATALOGUE), days=0.25, step_s=60, seed=3)
    before = analyze(first.snapshot)
    r = before.remedies
    chosen = r[r["recommended"] & (r["patch"] != "") & r["object"].str.match(r"^(hpa|scaledobject)/")]
    fixes = {(f.namespace, f.object.split("/", 1)[1]): json.loads(f.patch) for f in chosen.itertuples()}
    assert len(fixes) >= 8 and any(o.startswith("scaledobject/") for o in chosen["object"])
    for load in (1.0, 1.6):
        after = generate(workloads=len(CATALOGUE), days=0.25, step_s=60, seed=3, fixes=fixes, load=load)
        patched_truth = {(w["namespace"], w["workload"]) for w in after.truth["workloads"] if "patch" in w}
        assert patched_truth == set(fixes)
        changes = compare(before.state(), analyze(after.snapshot).state())
        assert set(changes.fixes["hpa"]) == set(chosen["hpa"])
        if load == 1.0:  # as two nightly runs: the second's report says it
            out = tmp_path / "runs"
            render_run(before, out, ["json"], now=DAY_1)
            (report,) = render_run(analyze(after.snapshot), out, ["json"], now=DAY_2)
            verdicts = json.loads(report.read_text())["changes"]["fixes"]
            assert sorted((f["hpa"], f["verdict"]) for f in verdicts) == sorted(
                (h, "fix-verified") for h in chosen["hpa"]
            )
        if load == 1.0:  # the same traffic: each fix does what the replay said, on replicas it ran itself
            assert set(changes.fixes["verdict"]) == {"fix-verified"}, changes.fixes
            assert not (changes.findings["status"] == "new").any()
        else:  # more traffic: a fix may fall short, and then the load is named as the likely reason
            short = changes.fixes[changes.fixes["verdict"] == "fix-underperformed"]
            assert set(changes.fixes["verdict"]) <= {"fix-verified", "fix-underperformed"}
            assert all("the app's load changed" in note for note in short["note"])
    inventory = [dict(op) for op in fixes[("shop", "inventory")]]
    inventory[1] = json.loads(json.dumps(inventory[1]).replace(
        f'"averageUtilization": {inventory[1]["value"]["resource"]["target"]["averageUtilization"]}',
        '"averageUtilization": 50'))  # fmt: skip
    other = generate(workloads=len(CATALOGUE), days=0.25, step_s=60, seed=3, fixes={("shop", "inventory"): inventory})
    verdicts = compare(before.state(), analyze(other.snapshot).state()).fixes.set_index("hpa")
    assert verdicts.loc["inventory", "verdict"] == "changed-otherwise"
    assert verdicts.loc["inventory", "metrics_now"] == "Resource pod cpu at 50%"


STATE_PATHS = [
    ("snapshot", "end"), ("summary", "waste_cost_month"), ("findings",), ("hpa_skew",), ("containers",), ("hpas",),
    ("fixes",),
    *(("findings", 0, c) for c in STATE_COLUMNS["findings"]), *(("hpa_skew", 0, c) for c in STATE_COLUMNS["hpa_skew"]),
    *(("containers", 0, c) for c in STATE_COLUMNS["containers"]), *(("hpas", 0, c) for c in STATE_COLUMNS["hpas"]),
    *(("fixes", 0, c) for c in FIX_COLUMNS),
]  # fmt: skip
"""Where a hostile value goes: a whole table, or one field of a row."""


@given(where=st.sampled_from(STATE_PATHS), value=HOSTILE)
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_a_hostile_value_in_a_run_state_is_refused_in_one_line_or_compared(
    sample_analysis: Analysis, tmp_path: Path, where: tuple[Any, ...], value: Any
) -> None:
    """A run's state as written (a row per table kept), with a hostile value put somewhere: either refused with
    one line naming the file, or read and compared like any state."""
    state = sample_analysis.state()
    doc = state_document(
        replace(
            state,
            fixes=pd.DataFrame(
                [("shop", "cart", "retarget", "a", "b", 1.0, "recommended", "2026-12-06T00:00:00Z")],
                columns=list(FIX_COLUMNS),
            ),
        )
    )
    for name in ("findings", "hpa_skew", "containers", "hpas"):
        doc[name] = doc[name][:1]
    node = doc
    for part in where[:-1]:
        node = node[part]
    node[where[-1]] = value
    file = tmp_path / "state.json"
    file.write_text(json.dumps(doc))
    try:
        read = read_state(file)
    except SidecarImpactError as exc:
        message = str(exc)
        assert message.startswith(f"{file}: ") and "\n" not in message and len(message) < 600
        return
    compare(read, state)
    compare(state, read)


def test_workloads_and_sidecars_that_appeared_or_went_are_listed(sample_analysis: Analysis) -> None:
    """A workload renamed between two runs: the old one went, the new one appeared (its sidecars with it, not
    listed again); a sidecar removed from a workload that stays: gone, named."""
    before = sample_analysis.state()
    containers = before.containers.copy()
    renamed = containers["workload"] == "checkout"
    containers.loc[renamed, "workload"] = "checkout-v2"
    dropped = (containers["workload"] == "frontend") & (containers["container"] == "fluent-bit")
    now = replace(before, containers=containers[~dropped].reset_index(drop=True))
    rows = compare(before, now).workloads
    assert list(zip(rows["status"], rows["workload"], rows["container"], strict=True)) == [
        ("appeared", "checkout-v2", ""),
        ("gone", "checkout", ""),
        ("gone", "frontend", "fluent-bit"),
    ]
    assert "1 workloads or sidecars appeared, 2 went" in compare(before, now).headline()


@pytest.mark.parametrize(
    ("workload", "patch", "message"),
    [
        ("inventory", [{"op": "test", "path": "/spec/maxReplicas", "value": -1}], "test failed at /spec/maxReplicas"),
        ("inventory", [{"op": "replace", "path": "/spec/nothing", "value": 1}], "nothing to replace at /spec/nothing"),
        ("inventory", [{"op": "add", "path": "/spec/metrics/9/x", "value": 1}], "list index out of range"),
        ("inventory", [{"op": "move", "path": "/spec", "from": "/x"}], "unsupported operation 'move'"),
        ("search", [{"op": "add", "path": "/metadata/annotations", "value": {}}], "the workload has no HPA"),
    ],
)
def test_a_fix_the_generator_cannot_apply_is_named_before_any_simulation(
    workload: str, patch: list[dict[str, Any]], message: str
) -> None:
    namespace = "shop" if workload == "inventory" else "web"
    with pytest.raises(SidecarImpactError) as caught:
        generate(workloads=len(CATALOGUE), days=0.01, fixes={(namespace, workload): patch})
    assert str(caught.value) == f"fix for {namespace}/{workload}: {message}"
