"""The HTML report in headless Chromium: sections present, every image renders, no console errors, no network.

Needs Debian's chromium (the README's test command installs it) and Playwright's Python client; it
drives /usr/bin/chromium, not a downloaded browser. The screenshot is kept in reports/test-artifacts/.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from analyzer.api import Analysis, analyze, load_snapshot, render, render_run
from analyzer.snapshot.schema import Snapshot
from analyzer.synth.generate import Synthetic
from tests.patching import patched

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "reports" / "test-artifacts"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]  # fmt: skip
XSS = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def report(small: Synthetic, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small sample's report, with a pod the report names (the one the stalled HPA's condition names,
    quoted in its finding) renamed to an HTML payload."""
    snap = small.snapshot
    objects = {k: [dict(o) for o in v] for k, v in snap.objects.items()}
    ledger = next(h for h in objects["HorizontalPodAutoscaler"] if h["metadata"]["name"] == "ledger")
    messages = " ".join(c.get("message", "") for c in ledger["status"]["conditions"])
    named = re.search(r"of Pod (\S+)", messages)
    assert named, messages
    pod = next(p for p in objects["Pod"] if p["metadata"]["name"] == named.group(1))
    old = pod["metadata"]["name"]
    pod["metadata"] = {**pod["metadata"], "name": XSS}
    usage = snap.usage.copy()
    usage["pod"] = usage["pod"].astype(str).where(usage["pod"].astype(str) != old, XSS)
    out = tmp_path_factory.mktemp("browser")
    (path,) = render(analyze(Snapshot(snap.metadata, usage, snap.replicas, objects)), out, ["html"])
    return path


def test_report_renders_in_chromium_without_errors_or_requests(report: Path, small_analysis: Analysis) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    assert Path(CHROMIUM).exists(), "chromium is missing: the README's test command installs it"
    console_errors, requests, dialogs = [], [], []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: console_errors.append(str(e)))
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.on("request", lambda r: requests.append(r.url) if not r.url.startswith(("file:", "data:")) else None)
        page.goto(report.as_uri())
        page.wait_for_load_state("load")
        sections = page.eval_on_selector_all("section", "els => els.map(e => e.id)")
        anchors = page.eval_on_selector_all(
            "nav a, ol.index a, #summary ol a",
            "els => els.map(a => [a.getAttribute('href'), !!document.querySelector(a.getAttribute('href'))])",
        )
        first_screen = page.evaluate(
            "() => ['Waste', 'Shortfall', 'What to do first']"
            ".map(w => [...document.querySelectorAll('h3')].find(h => h.textContent === w))"
            ".map(h => h ? h.getBoundingClientRect().top : 1e9)"
        )
        hpa_links = page.eval_on_selector_all("ol.index a", "els => els.length")
        images = page.eval_on_selector_all("img", "els => els.map(i => [i.complete, i.naturalWidth, i.naturalHeight])")
        text = page.inner_text("body")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
        browser.close()
    for section in ("summary", "findings", "plots", "hpas", "hpa-skew", "remedies", "workloads", "containers"):
        assert section in sections
    assert len(anchors) >= 10 and all(found for _, found in anchors), anchors  # the contents resolve
    assert hpa_links == len(small_analysis.hpa_skew)  # every HPA reachable from the contents
    assert max(first_screen) < 900  # the headline figures and the action list start on the first screen
    assert len(images) >= 4 and all(done and w > 0 and h > 0 for done, w, h in images)
    assert console_errors == [] and requests == [] and dialogs == []
    assert XSS in text  # shown as text, not run as markup
    assert (ARTIFACTS / "report.png").stat().st_size > 10_000


def test_the_runs_index_shows_fourteen_runs_trends_in_chromium(sample_analysis: Analysis, tmp_path: Path) -> None:
    """Fourteen nightly runs (every fourth one after the fixes were applied, the next one before them again):
    the runs index's figure renders, every run has its row, nothing is fetched from the network."""
    sync_api = pytest.importorskip("playwright.sync_api")
    remedies = sample_analysis.remedies
    fixed = analyze(patched(load_snapshot(), remedies[remedies["recommended"] & (remedies["patch"] != "")]))
    first = pd.Timestamp("2026-11-24T02:00:00Z")
    for day in range(14):
        render_run(fixed if day % 4 == 3 else sample_analysis, tmp_path, ["json"], now=first + pd.Timedelta(days=day))
    index = tmp_path / "synthetic-7" / "index.html"
    errors, requests = [], []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("request", lambda r: requests.append(r.url) if not r.url.startswith(("file:", "data:")) else None)
        page.goto(index.as_uri())
        page.wait_for_load_state("load")
        images = page.eval_on_selector_all("img", "els => els.map(i => [i.complete, i.naturalWidth, i.naturalHeight])")
        rows = page.eval_on_selector_all("tr", "els => els.length")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "runs-index.png"), full_page=True)
        browser.close()
    assert images == [[True, 900, 750]] and rows == 15 and errors == [] and requests == []
