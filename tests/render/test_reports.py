"""Report formats: the JSON Schema in docs/ is current and the report obeys it; plots and Markdown hold the numbers."""

from __future__ import annotations

import copy
import html
import json
import re
from dataclasses import replace
from pathlib import Path

import jsonschema
import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

from analyzer.api import Analysis, render
from analyzer.findings.hpa_skew import by_impact
from analyzer.findings.merge import canonical
from analyzer.render import jsonout, markdown, plots
from analyzer.render.drawing import FigureSheet
from analyzer.render.html import SHOWN_ROWS
from analyzer.render.report_schema import report_schema

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "docs" / "report.schema.json"


@pytest.fixture
def analysis(small_analysis: Analysis) -> Analysis:
    """The session's shared analysis (tests/conftest.py)."""
    return small_analysis


def test_the_schema_file_is_generated_from_the_code() -> None:
    assert json.loads(SCHEMA_FILE.read_text()) == json.loads(json.dumps(report_schema()))


def test_report_json_validates_and_the_schema_has_teeth(analysis: Analysis, tmp_path: Path) -> None:
    (path,) = render(analysis, tmp_path, ["json"])
    doc = json.loads(path.read_text())
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA_FILE.read_text()))
    assert list(validator.iter_errors(doc)) == []
    broken = copy.deepcopy(doc)
    del broken["hpa_skew"][0]["skew_replica_hours"]
    broken["report_schema_version"] = 99
    messages = sorted(e.message for e in validator.iter_errors(broken))
    assert any("'skew_replica_hours' is a required property" in m for m in messages)
    assert any(f"{jsonout.REPORT_SCHEMA_VERSION} was expected" in m for m in messages)


def test_figures_plot_the_replayed_numbers(analysis: Analysis) -> None:
    row = analysis.hpa_skew.dropna(subset=["skew_replica_hours"]).iloc[0]
    fig = plots.replicas_figure(analysis, row.namespace, row.hpa)
    ax = fig.axes[0]
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels == ["observed", "as-deployed", "app-only"]
    series = analysis.hpa_series
    deployed = series[(series.hpa == row.hpa) & (series.view == "as-deployed")].replicas.to_numpy()
    assert list(ax.get_lines()[1].get_ydata()) == list(deployed)
    assert ax.get_ylabel() == "replicas" and ax.get_xlabel() == "time (UTC)"
    skew = plots.skew_figure(analysis, top=3)
    assert len(skew.axes[0].patches) == 3
    uri = plots.png_data_uri(skew)
    assert uri.startswith("data:image/png;base64,iVBOR")


def test_html_is_self_contained_with_inline_plots(analysis: Analysis, tmp_path: Path) -> None:
    (path,) = render(analysis, tmp_path, ["html"])
    html = path.read_text()
    assert html.count('<img src="data:image/png;base64,') >= 4
    assert "http://" not in html and "https://" not in html and "<script" not in html
    for section in ("summary", "findings", "plots", "hpa-skew", "remedies", "workloads", "overhead"):
        assert f"<section id={section}>" in html


def test_figures_drawn_on_two_processes_make_the_page_of_one(analysis: Analysis) -> None:
    """Each figure lands at its own marker, the same PNG bytes wherever it is drawn; a caption that spells
    a marker stays text."""
    sheet = FigureSheet()
    page = "".join(sheet.figure(lambda top=top: plots.skew_figure(analysis, top=top), "<!--figure 0-->")
                   for top in (1, 2, 3))  # fmt: skip
    one, two = sheet.fill(page, workers=1), sheet.fill(page, workers=2)
    assert one == two
    images = re.findall(r'<img src="(data:image/png;base64,[^"]+)"', one)
    assert len(images) == 3 and len(set(images)) == 3
    assert images[0] == plots.png_data_uri(plots.skew_figure(analysis, top=1))
    assert one.count("&lt;!--figure 0--&gt;") == 6 and "<!--" not in one  # alt text and caption, escaped


def test_top_sets_how_many_hpas_and_workloads_are_plotted(analysis: Analysis, tmp_path: Path) -> None:
    """Per plotted HPA (the ``top`` with a finding, in impact order): replicas, utilization, and one pod of
    its target when that has sidecars; then the ``top`` costliest workloads and VPA workloads."""
    flagged = by_impact(analysis.hpa_skew)
    flagged = flagged[flagged["direction"].isin(["stalled", "inflation", "dilution"])]
    has_sidecars = {(w.namespace, w.workload) for w in analysis.workloads.itertuples() if w.sidecars}
    target_sidecars = [(r.namespace, r.target.partition("/")[2]) in has_sidecars for r in flagged.itertuples()]
    vpa_workloads = len(analysis.vpa_hazards[["namespace", "workload"]].drop_duplicates())
    with_sidecars = len(has_sidecars)
    assert len(flagged) > 2 and vpa_workloads >= 1 and with_sidecars > 2
    cluster = 1 + (len(analysis.namespaces) > 0)
    for top in (0, 2, 50):
        (page,) = render(analysis, tmp_path / str(top), ["html"], top=top)
        html = page.read_text()
        figures = html.count("<figure>")
        per_hpa = 2 * min(top, len(flagged)) + sum(target_sidecars[:top])
        want = cluster + per_hpa + min(top, with_sidecars) + min(top, vpa_workloads)
        assert figures == want, top
        assert len(re.findall(r"<(?:details|section) id=hpa-\d+>", html)) == len(analysis.hpa_skew)  # every HPA


def test_usage_figure_stacks_the_containers_of_one_pod_with_request_lines(analysis: Analysis) -> None:
    w = analysis.workloads[analysis.workloads["sidecars"] != ""].iloc[0]
    fig = plots.usage_figure(analysis, w.namespace, w.workload)
    cpu_ax, mem_ax = fig.axes
    mine = analysis.containers[
        (analysis.containers.namespace == w.namespace) & (analysis.containers.workload == w.workload)
    ]
    app, sidecar = mine.container.iloc[0], w.sidecars.split(",")[0]
    pu = analysis.pod_usage
    series = pu[(pu.namespace == w.namespace) & (pu.workload == w.workload)]
    app_cpu = 1000 * series[series.container == app].cpu_cores.to_numpy()
    side_cpu = 1000 * series[series.container == sidecar].cpu_cores.to_numpy()
    # stackplot fills between cumulative sums: the sidecar's band runs from the app's usage (its lower
    # edge, drawn forwards) to app + sidecar (its upper edge, drawn backwards)
    edge = cpu_ax.collections[1].get_paths()[0].vertices[:, 1]
    n = len(side_cpu)
    np.testing.assert_allclose(edge[1 : n + 1], app_cpu, rtol=1e-9)
    np.testing.assert_allclose(edge[n + 2 : 2 * n + 2][::-1], app_cpu + side_cpu, rtol=1e-9)
    lines = {line.get_label(): line.get_ydata()[0] for line in cpu_ax.get_lines()}
    assert lines[f"{app} request"] == pytest.approx(1000 * mine.cpu_request_cores.iloc[0])
    pod_label = next(label for label in lines if label.startswith("pod request"))
    assert lines[pod_label] == pytest.approx(1000 * mine.cpu_request_cores.fillna(0).sum())
    assert cpu_ax.get_ylabel() == "CPU (millicores)" and mem_ax.get_ylabel() == "working set (MiB)"


def test_the_share_figure_shows_the_namespaces_whose_sidecars_cost_most(analysis: Analysis) -> None:
    few = plots.sidecar_share_figure(analysis)
    assert [t.get_text() for t in few.axes[0].get_xticklabels()] == list(analysis.namespaces.namespace)
    assert few.axes[0].get_title().endswith("per namespace")
    rng = np.random.default_rng(5)
    many = pd.DataFrame({
        "namespace": [f"ns-{i:02d}" for i in range(3 * plots.SHARE_NAMESPACES)],
        "sidecar_cost_month": rng.choice([0.0, 1.0, 2.5, 7.0, 30.0], size=3 * plots.SHARE_NAMESPACES),
        "sidecar_cpu_share": rng.uniform(0, 0.5, size=3 * plots.SHARE_NAMESPACES),
        "sidecar_memory_share": rng.uniform(0, 0.5, size=3 * plots.SHARE_NAMESPACES),
    })  # fmt: skip
    fig = plots.sidecar_share_figure(replace(analysis, namespaces=many))
    shown = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    costliest = many.sort_values(["sidecar_cost_month", "namespace"], ascending=[False, True]).head(len(shown))
    assert len(shown) == plots.SHARE_NAMESPACES and shown == list(costliest.namespace)
    assert (
        many.set_index("namespace").sidecar_cost_month[shown].min()
        >= many.sidecar_cost_month.nlargest(plots.SHARE_NAMESPACES).min()
    )
    cpu_bars = [bar.get_height() for bar in fig.axes[0].patches[: len(shown)]]
    np.testing.assert_allclose(cpu_bars, 100 * costliest.sidecar_cpu_share.to_numpy())
    assert f"the {plots.SHARE_NAMESPACES} namespaces whose sidecars cost most" in fig.axes[0].get_title()


def test_summary_request_shares_weigh_each_workload_by_its_pods(analysis: Analysis) -> None:
    pods = analysis.workloads[["namespace", "workload", "pods_mean"]]
    c = analysis.containers.merge(pods, on=["namespace", "workload"])
    for res, col in (("cpu", "cpu_request_cores"), ("memory", "memory_request_bytes")):
        requested = c[col].fillna(0) * c["pods_mean"]
        want = requested[c["role"] == "sidecar"].sum() / requested.sum()
        assert analysis.summary()[f"sidecar_{res}_request_share"] == pytest.approx(want, abs=1e-4)
        assert 0.05 < want < 0.9


def test_html_has_the_vpa_section_with_every_hazard_and_its_fix(analysis: Analysis, tmp_path: Path) -> None:
    (path,) = render(analysis, tmp_path, ["html"])
    page = path.read_text()
    start = page.index("<section id=vpa>")
    vpa = page[start : page.index("<section", start + 1)]
    assert len(analysis.vpa_hazards) >= 1
    for r in analysis.vpa_hazards.itertuples(index=False):
        assert f"{r.workload}: {r.hazard} ({r.severity})" in vpa
    for r in analysis.vpa_hazards.itertuples(index=False):
        assert f"Fix: {r.change}." in html.unescape(vpa)
    with_patch = analysis.vpa_hazards[analysis.vpa_hazards["command"] != ""]
    assert len(with_patch) >= 1 and vpa.count("<pre>") == 2 * len(with_patch)  # the command, the patch
    n = len(analysis.vpa)  # past SHOWN_ROWS the first rows show and every row is in a collapsed part
    assert vpa.count("<tr>") == min(n, SHOWN_ROWS) + 1 + (n + 1 if n > SHOWN_ROWS else 0)


MATH = r"$\frac{1}{$"  # broken mathtext: matplotlib raises on it when it parses it


def test_names_that_look_like_mathtext_are_drawn_as_written(analysis: Analysis) -> None:
    def renamed(frame, column: str, old: str):  # type: ignore[no-untyped-def]
        out = frame.copy()
        out[column] = out[column].astype(object).where(out[column].astype(object) != old, MATH)
        return out

    hpa = analysis.hpa_skew.iloc[0]
    workload = analysis.vpa.iloc[0]
    app = analysis.containers.iloc[0]
    hostile = replace(
        analysis,
        namespaces=renamed(analysis.namespaces, "namespace", str(hpa.namespace)),
        hpa_skew=renamed(analysis.hpa_skew, "hpa", str(hpa.hpa)),
        hpa_series=renamed(analysis.hpa_series, "hpa", str(hpa.hpa)),
        vpa=renamed(analysis.vpa, "container", str(workload.container)),
        containers=renamed(analysis.containers, "container", str(app.container)),
        pod_usage=renamed(analysis.pod_usage, "container", str(app.container)),
    )
    figures = [
        plots.replicas_figure(hostile, hpa.namespace, MATH),
        plots.utilization_figure(hostile, hpa.namespace, MATH),
        plots.skew_figure(hostile),
        plots.sidecar_share_figure(hostile),
        plots.vpa_figure(hostile, workload.namespace, workload.workload),
        plots.usage_figure(hostile, app.namespace, app.workload),
    ]
    for figure in figures:
        assert plots.png_data_uri(figure).startswith("data:image/png;base64,")  # drawn: no mathtext error
    texts = [t.get_text() for f in figures for t in f.findobj(lambda a: hasattr(a, "get_text"))]
    assert any(MATH.replace("$", r"\$") in t for t in texts)


def test_markdown_carries_names_as_text_not_markup(analysis: Analysis) -> None:
    names = ["<img src=x onerror=alert(1)>", "[x](javascript:alert(1))", "a|b\nc", "**bold**"]
    findings = analysis.findings.head(len(names)).copy()
    findings["object"] = names[: len(findings)]
    cluster = "<script>alert(2)</script>"
    hostile = canonical(replace(analysis, findings=findings, metadata=replace(analysis.metadata, cluster=cluster)))
    md = markdown.produce(hostile)
    assert "<img" not in md and "<script" not in md and "[x](javascript" not in md and "**bold**" not in md
    assert "&lt;img src=x onerror=alert(1)&gt;" in md and r"\[x\](javascript:alert(1))" in md
    assert md.startswith("# Sidecar impact: &lt;script&gt;alert(2)&lt;/script&gt;\n")
    rows = [line for line in md.splitlines() if line.startswith("| ")]
    assert all(line.count(" | ") == rows[0].count(" | ") for line in rows if "a\\|b" in line)


def _one_string_report(analysis: Analysis) -> str:
    """report.json as one json.dumps of the whole document: what the streamed writer must equal."""

    def rows(frame: pd.DataFrame) -> list[dict[str, object]]:
        return [{k: jsonout._clean(v) for k, v in r.items()} for r in frame.to_dict(orient="records")]

    document = {
        "report_schema_version": jsonout.REPORT_SCHEMA_VERSION,
        "snapshot": analysis.metadata.to_json(),
        "summary": analysis.summary(),
        "prices": {"cpu_core_hour": analysis.prices.cpu_core_hour, "memory_gib_hour": analysis.prices.memory_gib_hour},
        **{name: rows(getattr(analysis, name)) for name in jsonout.TABLES},
    }
    return json.dumps(jsonout._clean(document), indent=2, sort_keys=True, allow_nan=False) + "\n"


@pytest.mark.parametrize("chunk", [1, 7, 10_000])
def test_report_json_is_written_in_pieces_that_make_the_one_document(
    analysis: Analysis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    monkeypatch.setattr(jsonout, "CHUNK_ROWS", chunk)
    skew = analysis.hpa_skew.copy()
    skew.loc[skew.index[0], "skew_replica_hours"] = np.nan  # written as null
    case = replace(analysis, hpa_skew=skew, vpa=analysis.vpa.iloc[:0])  # an empty table: []
    (path,) = render(case, tmp_path, ["json"])
    assert path.read_text() == _one_string_report(case)
    doc = json.loads(path.read_text())
    assert doc["hpa_skew"][0]["skew_replica_hours"] is None and doc["vpa"] == []
    assert "classes" not in doc and len(doc["containers"]) == len(case.containers) > 7


def test_the_action_list_ranks_causes_and_says_each_change_in_words_with_its_command_one_click_away(
    analysis: Analysis, tmp_path: Path
) -> None:
    (path,) = render(analysis, tmp_path, ["html"])
    page = path.read_text()
    actions = page[page.index("<h3>What to do first</h3>") :]
    actions = actions[: actions.index("</ol>")]
    items = re.findall(r"<li>(.*?)</li>", actions, re.S)
    recommended = analysis.remedies[analysis.remedies["recommended"]]
    words = ("lower the CPU target from", "raise the CPU target from", "raise the memory target from",
             "lower the memory target from", "scale on the", "set each sidecar", "raise the AverageValue")  # fmt: skip
    single = [item for item in items if "<b>Fix:</b> " in item]
    shared = [item for item in items if "<b>Fix:</b> " not in item]
    assert len(single) >= 3 and len(shared) >= 2
    for item in single:  # a cause of one HPA: that HPA's problem and recommended change
        change = item[item.index("<b>Fix:</b> ") :]
        assert change.removeprefix("<b>Fix:</b> ").startswith(words), item
        command = re.search(r"<details class=command><summary>command</summary><pre>(.*?)</pre>", change).group(1)
        assert html.unescape(command) in set(recommended["command"])
    inventory = next(i for i in single if ">shop/inventory</a>" in i)
    assert "lower the CPU target from 70% to 24%" in inventory
    causes = analysis.causes.set_index("summary")
    for item in shared:  # a cause of several: what they share, and its members one click away
        summary = html.unescape(re.match(r"<b>(.*?)</b>", item).group(1))
        cause = causes.loc[summary]
        assert cause.findings == len(re.findall(r"<a href=#hpa-\d+>", item)) or not cause.kind.startswith("hpa-")
        assert f"<summary>{cause.findings} members</summary>" in item or cause.findings == 1
        if cause.fix:  # the change at the source, its setting one click away
            assert f"<b>Fix at the source:</b> {html.escape(cause.change)}" in item
            assert f"<summary>setting</summary><pre>{html.escape(cause.fix)}</pre>" in item
        else:
            assert "<b>Fix each" in item
    assert any("istio-proxy (injected, requests from the injector&#x27;s configuration) skews" in i for i in shared)


def test_the_skew_figures_title_fits_inside_it(analysis: Analysis) -> None:
    fig = plots.skew_figure(analysis)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    box = fig.axes[0].title.get_window_extent(canvas.get_renderer())
    assert box.x0 >= 0 and box.x1 <= fig.bbox.width
    legend = fig.axes[0].get_legend()
    assert legend is not None and {t.get_text() for t in legend.get_texts()} <= {"inflation", "dilution", "stalled"}


def test_the_overhead_table_shows_units_not_raw_floats(analysis: Analysis, tmp_path: Path) -> None:
    (path,) = render(analysis, tmp_path, ["html"])
    page = path.read_text()
    section = page[page.index("<section id=overhead>") :]
    section = section[: section.index("</section>")]
    first_table = section[: section.index("</table>")]
    rows = re.findall(r"<tr>(.*?)</tr>", first_table, re.S)[1:]
    assert rows
    for row in rows:
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        resource, base, slope = cells[3], cells[5], cells[6]
        unit = "m" if resource == "cpu" else " Mi"
        assert re.fullmatch(r"-?[\d,]+\.\d" + unit, base), row
        assert re.fullmatch(r"-?[\d,]+\.\d" + unit + " per app core", slope), row


def test_per_pod_rows_leave_report_json_for_a_parquet_output(analysis: Analysis, tmp_path: Path) -> None:
    """report.json keeps per-workload and per-container figures; every pod's classification rows, which grow
    with the cluster, are ``-o pods``' pods.parquet, and the schema says so."""
    json_path, pods_path = render(analysis, tmp_path, ["json", "pods"])
    assert "classes" not in json.loads(json_path.read_text()) and pods_path.name == "pods.parquet"
    pods = pd.read_parquet(pods_path)
    pd.testing.assert_frame_equal(pods, analysis.classes.reset_index(drop=True), check_dtype=False)
    schema = json.loads(SCHEMA_FILE.read_text())
    assert "classes is in pods.parquet (-o pods)" in schema["description"] and "classes" not in schema["properties"]
