"""The overhead fit against known lines and the generator's ground truth; shares and money by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analyzer.api import analyze
from analyzer.model.grouping import GroupIndex, chunked_quantiles
from analyzer.model.overhead import neighbour_mean
from analyzer.model.robust_fit import fit_lines, fit_lines_in_chunks
from analyzer.prices import HOURS_PER_MONTH
from analyzer.synth.generate import Synthetic, generate


def test_group_quantiles_match_numpy() -> None:
    rng = np.random.default_rng(3)
    group = rng.integers(0, 4, 2001)
    values = rng.gamma(2.0, size=2001)
    for q in (0.05, 0.5, 0.95):
        expected = [np.quantile(values[group == g], q) for g in range(4)]
        assert GroupIndex(group, 5).quantiles(values, [q])[0][:4] == pytest.approx(expected)
    assert np.isnan(GroupIndex(group, 5).quantiles(values, [0.5])[0][4])


def test_bursts_do_not_drag_the_robust_line() -> None:
    rng = np.random.default_rng(5)
    x = rng.uniform(0.1, 0.6, 4000)
    y = 0.01 + 0.3 * x + rng.normal(0, 0.002, x.size)
    bursts = rng.random(x.size) < 0.05
    y[bursts] += rng.uniform(0.2, 1.0, bursts.sum())  # restarts and bursts, all upwards
    group = np.zeros(x.size, dtype=np.int64)
    fit = fit_lines(group, x, y, 1)
    assert fit.base[0] == pytest.approx(0.01, abs=0.002)
    assert fit.slope[0] == pytest.approx(0.3, rel=0.02)
    _, ols_base = np.polyfit(x, y, 1)
    assert abs(ols_base - 0.01) > 0.015  # least squares is dragged; the fit above is not


def test_an_instrument_removes_the_attenuation_of_a_noisy_regressor() -> None:
    rng = np.random.default_rng(8)
    t = np.arange(20000)
    truth = 0.3 + 0.02 * np.sin(t / 300)  # narrow load range, as under an HPA
    x = truth + rng.normal(0, 0.01, t.size)  # the app's own measurement noise
    y = 0.008 + 0.28 * truth + rng.normal(0, 0.003, t.size)
    z = neighbour_mean(x[None, :], 5)[0]
    group = np.zeros(t.size, dtype=np.int64)
    plain = fit_lines(group, x, y, 1)
    iv = fit_lines(group, x, y, 1, z=z)
    assert plain.slope[0] < 0.28 * 0.9  # attenuated by var(noise) / var(x)
    assert iv.slope[0] == pytest.approx(0.28, rel=0.05)
    assert abs(iv.slope[0] - 0.28) < 3 * iv.slope_se[0]  # the standard error is honest too


def test_neighbour_mean_skips_the_sample_itself_and_gaps() -> None:
    got = neighbour_mean(np.array([[1.0, 2.0, 3.0, np.nan, 5.0, 6.0]]), 1)
    assert got.tolist() == [[2.0, 2.0, 2.0, 4.0, 6.0, 5.0]]


def _recovery(synthetic: Synthetic) -> list[str]:
    """Every sidecar line and every second app container's line: base and slope each within 10 % of the
    truth or the truth inside its 95 % interval, or else the line itself within 3 % of the truth from half
    to twice the mean app load (dozens of 95 % intervals per run miss one by chance: what the
    counterfactual uses is the line over the load it replays)."""
    fits = analyze(synthetic.snapshot).overhead
    failures = []
    for w in synthetic.truth["workloads"]:
        for side in w["sidecars"] + w["other_app_containers"]:
            for res, base, slope in (
                ("cpu", side["cpu_base_cores"], side["cpu_slope"]),
                ("memory", side["memory_base_bytes"], side["memory_slope_bytes_per_core"]),
            ):
                row = fits[
                    (fits.namespace == w["namespace"])
                    & (fits.workload == w["workload"])
                    & (fits.container == side["container"])
                    & (fits.resource == res)
                ]
                assert len(row) == 1, (w["workload"], side["container"], res)
                r = row.iloc[0]
                base_ok = abs(r.base - base) <= 0.1 * base or r.base_low <= base <= r.base_high
                slope_ok = abs(r.slope - slope) <= 0.1 * abs(slope) or r.slope_low <= slope <= r.slope_high
                if slope == 0:  # a flat truth: the fit must be flat or a negligible line
                    slope_ok = r.method == "flat-median" or abs(r.slope) * r.app_cpu_mean <= 0.02 * base
                x = np.array([0.5, 1.0, 2.0]) * r.app_cpu_mean
                line_ok = np.max(np.abs(r.base + r.slope * x - (base + slope * x)) / (base + slope * x)) <= 0.03
                if not ((base_ok and slope_ok) or line_ok) or not r.trustworthy:
                    failures.append(f"{w['workload']}/{side['container']}/{res}: {r.base:.4g}+{r.slope:.4g}x")
    return failures


def test_the_fit_recovers_the_generators_sidecar_lines(small: Synthetic) -> None:
    assert _recovery(small) == []


@pytest.mark.parametrize(("seed", "workloads", "days"), [(3, 26, 1.0), (19, 13, 1.0)])
def test_the_fit_recovers_the_truth_at_other_seeds_and_sizes(seed: int, workloads: int, days: float) -> None:
    assert _recovery(generate(workloads=workloads, days=days, step_s=60, seed=seed)) == []


def test_flat_sidecars_fall_back_to_the_median_and_say_why(small: Synthetic) -> None:
    fits = analyze(small.snapshot).overhead
    vault = fits[(fits.container == "vault-agent") & (fits.resource == "cpu")].iloc[0]
    assert vault.method == "flat-median" and vault.slope == 0
    assert vault.reason == "usage does not depend on load: flat median"
    assert vault.base == pytest.approx(0.002, rel=0.05)


def test_too_few_samples_is_not_trusted(small: Synthetic) -> None:
    snap = small.snapshot
    first = snap.usage["timestamp"].min()
    few = snap.usage[snap.usage["timestamp"] < first + pd.Timedelta(minutes=10)]
    fits = analyze(type(snap)(snap.metadata, few, snap.replicas, snap.objects)).overhead
    istio = fits[(fits.workload == "search") & (fits.container == "istio-proxy") & (fits.resource == "cpu")].iloc[0]
    assert not istio.trustworthy and istio.method == "flat-median"
    assert istio.reason.startswith("too few samples (")


def test_shares_and_cost_by_hand(small: Synthetic) -> None:
    analysis = analyze(small.snapshot)
    w = analysis.workloads.set_index("workload")
    inv = w.loc["inventory"]
    # cloud-sql-proxy requests 1 CPU / 2Gi beside the app's 500m / 384Mi.
    assert inv.sidecar_cpu_request_share == pytest.approx(1 / 1.5)
    assert inv.sidecar_memory_request_share == pytest.approx(2048 / (2048 + 384))
    per_pod_hour = 1.0 * 0.031611 + 2.0 * 0.004237
    assert inv.sidecar_cost_month == pytest.approx(per_pod_hour * HOURS_PER_MONTH * inv.pods_mean)
    assert w.loc["report-builder"].sidecar_cost_month == 0 and w.loc["report-builder"].sidecars == ""
    # linkerd-proxy has no request: it is billed at its mean usage.
    ledger = analysis.containers.set_index(["workload", "container"]).loc[("ledger", "linkerd-proxy")]
    assert np.isnan(ledger.cpu_request_cores) and w.loc["ledger"].sidecar_cpu_cores == pytest.approx(
        ledger.cpu_mean_cores
    )
    # istio-proxy's CPU share of usage follows its truth: (base + slope·a) / (a + base + slope·a).
    checkout = w.loc["checkout"]
    assert 0.15 < checkout.sidecar_cpu_usage_share_mean < 0.3
    assert checkout.sidecar_cpu_usage_share_p95 >= checkout.sidecar_cpu_usage_share_mean
    cluster = analysis.cluster.iloc[0]
    assert cluster.sidecar_cost_month == pytest.approx(analysis.workloads.sidecar_cost_month.sum())
    assert analysis.namespaces.sidecar_cost_month.sum() == pytest.approx(cluster.sidecar_cost_month)


def test_roll_up_by_a_label(small: Synthetic) -> None:
    analysis = analyze(small.snapshot, group_by=["team"])
    groups = analysis.groups.set_index("label:team")
    assert set(groups.index) == set(analysis.workloads.namespace)  # the generator's team label is the namespace
    assert groups.loc["shop", "workloads"] == (analysis.workloads.namespace == "shop").sum()


def test_chunked_passes_equal_the_whole_pass() -> None:
    rng = np.random.default_rng(12)
    group = rng.integers(0, 40, 20_000)
    x = rng.uniform(0.1, 1.0, group.size)
    y = 0.01 * group + 0.3 * x + rng.normal(0, 0.01, group.size)
    whole = fit_lines(group, x, y, 41)
    chunked = fit_lines_in_chunks(group, x, y, 41, max_rows=3_000)  # about seven chunks
    assert chunked.slope[:40] == pytest.approx(whole.slope[:40]) and chunked.base[:40] == pytest.approx(whole.base[:40])
    assert chunked.n.tolist() == whole.n.tolist()
    (quantiles,) = chunked_quantiles(group, 41, [y], [0.5, 0.9], max_rows=3_000)
    assert quantiles[:, :40] == pytest.approx(GroupIndex(group, 41).quantiles(y, [0.5, 0.9])[:, :40])
    assert np.isnan(quantiles[:, 40]).all()


def test_a_groups_line_does_not_depend_on_the_groups_fitted_with_it() -> None:
    """Each group stops iterating when its own line settles: a shard's fits equal the whole cluster's, bit for bit.
    (Outliers make the groups need different numbers of Huber iterations.)"""
    rng = np.random.default_rng(5)
    group = rng.integers(0, 30, 12_000)
    x = rng.uniform(0.1, 1.0, group.size)
    noise = rng.standard_t(1.5, group.size) * 0.01 * (1 + group % 4)
    y = 0.01 * group + 0.3 * x + noise
    whole = fit_lines(group, x, y, 30)
    chunked = fit_lines_in_chunks(group, x, y, 30, max_rows=2_000)
    for field in ("base", "slope", "scale", "slope_se", "r2"):
        np.testing.assert_array_equal(getattr(chunked, field), getattr(whole, field), err_msg=field)
    for g in (0, 7, 29):
        rows = group == g
        alone = fit_lines(np.zeros(rows.sum(), dtype=np.int64), x[rows], y[rows], 1)
        for field in ("base", "slope", "scale", "base_se", "r2"):
            assert getattr(alone, field)[0] == getattr(whole, field)[g], (g, field)
