"""The controller evaluated on the observed pods at each scrape (analyzer.simulate.observed_sync)."""

from __future__ import annotations

import dataclasses
import datetime

import numpy as np
import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from analyzer.api import Analysis, analyze
from analyzer.simulate.hpa_spec import ControllerFlags
from analyzer.simulate.observed_sync import _seconds
from analyzer.synth.generate import Synthetic


def test_on_the_sample_the_decisions_from_observed_pods_match_the_next_observed_replicas(
    sample_analysis: Analysis,
) -> None:
    """The generator's controller syncs every 15 s, this evaluates once per 60 s scrape, yet it predicts
    all but at most one of each HPA's 4,319 next counts: the StatefulSet's reused pod names, pods
    metrics-server does not list yet (one scrape only) and the behavior block included."""
    rows = sample_analysis.hpa_skew.dropna(subset=["replica_hours_as_deployed"])
    assert (rows.decisions_compared == 3 * 1440 - 1).all()
    assert (rows.decisions_matched >= 1 - 1.5 / 4319).all(), rows[["hpa", "decisions_matched"]]


def test_pending_pods_are_unready_and_a_pod_without_status_falls_back_to_its_samples(
    small: Synthetic, small_analysis: Analysis
) -> None:
    snap = small.snapshot
    # Without pod_status every pod with samples is Running and Ready: the generator's pods are, at scrapes.
    bare = analyze(dataclasses.replace(snap, pod_status=snap.pod_status.iloc[:0]))
    cols = ["hpa", "decisions_compared", "decisions_matched"]
    pd.testing.assert_frame_equal(bare.hpa_skew[cols], small_analysis.hpa_skew[cols])
    # Every checkout pod Pending: no ready pod, the metric fails, the controller holds its replicas.
    status = snap.pod_status.copy()
    status.loc[status["pod"].astype(str).str.startswith("checkout-"), "phase"] = "Pending"
    held = analyze(dataclasses.replace(snap, pod_status=status)).hpa_skew.set_index("hpa")
    before = small_analysis.hpa_skew.set_index("hpa")
    replicas = snap.replicas[snap.replicas["name"] == "checkout"]["replicas"].to_numpy()
    changes = int((replicas[1:] != replicas[:-1]).sum())
    assert changes > 0
    assert held.decisions_matched["checkout"] == np.float64(1 - changes / (len(replicas) - 1))
    assert before.decisions_matched["checkout"] > held.decisions_matched["checkout"]
    others = held.index != "checkout"
    assert (held.decisions_matched[others] == before.decisions_matched[others]).all()


def test_hpas_in_batches_of_one_decide_as_all_at_once(small: Synthetic, monkeypatch) -> None:
    """Each batch reads only its pods' usage rows and observations: one HPA per batch, the same decisions."""
    from analyzer import api
    from analyzer.simulate import observed_sync

    flags = ControllerFlags()
    together = api._prepare(small.snapshot).replays.syncs.decide(flags)
    monkeypatch.setattr(observed_sync, "BATCH_CELLS", 1)
    alone = api._prepare(small.snapshot).replays.syncs.decide(flags)
    assert together.shape[1] >= 3 and np.isfinite(together).mean() > 0.5
    np.testing.assert_array_equal(alone, together)


@given(
    moment=st.datetimes(min_value=datetime.datetime(1971, 1, 2), max_value=datetime.datetime(2200, 1, 1)),
    fraction=st.text(alphabet="0123456789", max_size=9),
    zone=st.sampled_from(["Z", "+00:00", "+05:30", "-07:00"]),
)
def test_api_times_are_read_as_pandas_reads_them(moment: datetime.datetime, fraction: str, zone: str) -> None:
    """_seconds reads RFC 3339 times with the standard parser, pandas' where it is not exact: same seconds."""
    text = moment.strftime("%Y-%m-%dT%H:%M:%S") + (f".{fraction}" if fraction else "") + zone
    assert _seconds(text) == pd.Timestamp(text).timestamp()
