"""One pod's usage per container over time equals a plain pandas group-by of the samples."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analyzer.model.classify import classify
from analyzer.model.pod_usage import POD_USAGE_COLUMNS, pod_usage
from analyzer.model.usage_index import index_usage
from analyzer.model.workloads import pod_owners
from analyzer.synth.generate import Synthetic


def test_pod_usage_is_the_mean_per_sample_in_five_minute_bins(small: Synthetic) -> None:
    snap = small.snapshot
    classes = classify(snap, pod_owners(snap))
    got = pod_usage(index_usage(snap.usage, classes), snap.usage)
    assert list(got.columns) == list(POD_USAGE_COLUMNS)

    usage = snap.usage.astype({"namespace": object, "pod": object, "container": object})
    steady = classes[classes["role"].isin(["app", "sidecar"])][["namespace", "pod", "container", "workload", "role"]]
    rows = usage.merge(steady, on=["namespace", "pod", "container"])
    start = snap.usage["timestamp"].min()
    rows["timestamp"] = start + ((rows["timestamp"] - start) // pd.Timedelta(minutes=5)) * pd.Timedelta(minutes=5)
    keys = ["timestamp", "namespace", "workload", "container"]
    want = rows.groupby(keys)[["cpu_cores", "memory_bytes"]].mean().reset_index()
    have = got.astype({"namespace": object, "workload": object, "container": object}).set_index(keys)
    have = have.loc[pd.MultiIndex.from_frame(want[keys])]
    assert len(got) == len(want)
    np.testing.assert_allclose(have["cpu_cores"].to_numpy(), want["cpu_cores"].to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(have["memory_bytes"].to_numpy(), want["memory_bytes"].to_numpy(), rtol=1e-12)
    # A sidecar's usage is its own, not the pod's: the app's and the sidecar's series differ.
    sidecars = got[got["role"] == "sidecar"]
    assert len(sidecars) and set(sidecars["container"]) <= set(steady.loc[steady.role == "sidecar", "container"])
