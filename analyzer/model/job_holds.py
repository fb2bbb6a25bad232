"""Job pods a classic sidecar held open after the app finished, from the containers' status changes.

A Job's pod ends when all its containers have: a classic sidecar (a ``spec.containers`` entry) that keeps
running after the app terminated keeps the pod Running, its requests scheduled and its Job active, until
something stops it (the Job's ``activeDeadlineSeconds``, a deletion) or for ever. A native sidecar is stopped
by the kubelet once the app has ended, and does not hold the pod.

Times are read as :mod:`analyzer.model.sidecar_failures` reads them: a change is seen at the first sample after
it, so it happened in the step before (its middle is taken), never before the pod started. A hold shorter
than a step cannot be told from the sidecar stopping with the app (:data:`HELD_MIN_STEPS`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analyzer.model.classify import Role
from analyzer.model.sidecar_failures import StatusRows
from analyzer.snapshot.schema import COMPLETED, Snapshot

JOB_KINDS = ("Job", "CronJob")
"""The workload kinds whose pods run to completion."""
HELD_MIN_STEPS = 1.0
"""A pod counts as held when its sidecar outlived the app by more than this many steps."""

POD_HOLD_COLUMNS: dict[str, str] = {
    "namespace": "pod namespace",
    "pod": "pod name",
    "workload_kind": "Job or CronJob",
    "workload": "the Job, or the CronJob that made it",
    "app_done_s": "when the pod's last app container terminated, seconds since the epoch",
    "run_s": "seconds within the window from the pod's start to then",
    "held_s": "seconds within the window a classic sidecar kept running after that",
    "held_by": "the classic sidecars still running after the app, comma-separated",
    "unfinished": "a sidecar still ran at the window's end and the pod was not deleted: its Job has not completed",
    "app_failed": "an app container terminated for a reason other than Completed (Error, OOMKilled ...): while the "
    "pod is held its Job neither fails nor retries",
}
"""One row per Job pod whose app containers all terminated within the window."""


def pod_holds(snapshot: Snapshot, classes: pd.DataFrame) -> pd.DataFrame:
    """:data:`POD_HOLD_COLUMNS` from ``container_status`` (empty without it) and ``classes``
    (:data:`analyzer.model.classify.CLASS_COLUMNS`)."""
    keys = ["namespace", "pod", "container"]
    jobs = classes[classes["workload_kind"].isin(JOB_KINDS)]
    cs = snapshot.container_status
    if not len(jobs) or not len(cs):
        return pd.DataFrame(columns=list(POD_HOLD_COLUMNS))
    cs = cs[cs["namespace"].astype(str).isin(set(jobs["namespace"])) & cs["pod"].astype(str).isin(set(jobs["pod"]))]
    if not len(cs):
        return pd.DataFrame(columns=list(POD_HOLD_COLUMNS))
    step = snapshot.metadata.step_s
    window_start = snapshot.metadata.start.timestamp()
    window_end = snapshot.metadata.end.timestamp() + step
    rows = StatusRows.of(cs, snapshot.pods)
    t, ids, first, last, start_s, gone_s = rows.t, rows.ids, rows.first, rows.last, rows.start_s, rows.gone_s
    est = np.maximum(t - step / 2, np.nan_to_num(start_s, nan=-np.inf))
    # Each container's final run of 'terminated' rows: where it began (its end), if its last row is one.
    term = cs["state"].astype(str).to_numpy() == "terminated"
    begins = term & (first | ~np.roll(term, 1))
    last_begin = pd.Series(np.where(begins, np.arange(len(t)), -1)).groupby(ids, sort=False).cummax().to_numpy()
    ended = last & term
    stop = np.where(ended, est[np.maximum(last_begin, 0)], np.minimum(window_end, gone_s))
    per = cs.loc[last, keys].astype(str).reset_index(drop=True)
    per["stop_s"], per["ended"] = stop[last], ended[last]
    per["running_at_end"] = ~ended[last] & (gone_s[last] >= window_end)
    reason = cs["terminated_reason"].astype(str).to_numpy()[last]
    per["failed"] = ended[last] & (reason != "") & (reason != COMPLETED)
    per["began_s"] = start_s[last]
    roles = jobs[[*keys, "workload_kind", "workload", "role", "native_sidecar"]].astype(
        dict.fromkeys(keys, str)
    )
    per = per.merge(roles, on=keys)
    pod = ["namespace", "pod"]
    app = per[per["role"] == Role.APP].groupby(pod, sort=True)
    done = app["ended"].all() & app["stop_s"].max().between(window_start, window_end, inclusive="left")
    app_done = app["stop_s"].max()[done].rename("app_done_s")
    app_failed = app["failed"].any().rename("app_failed")
    side = per[(per["role"] == Role.SIDECAR) & ~per["native_sidecar"].astype(bool)]
    side = side.merge(app_done, left_on=pod, right_index=True)
    side = side[side["stop_s"] > side["app_done_s"]]
    side = side.assign(held=np.minimum(side["stop_s"], window_end) - np.maximum(side["app_done_s"], window_start))
    by_pod = side.groupby(pod, sort=True)
    held = pd.DataFrame({
        "held_s": by_pod["held"].max(),
        "held_by": by_pod["container"].agg(lambda names: ", ".join(sorted(names))),
        "unfinished": by_pod["running_at_end"].any(),
    })  # fmt: skip
    owners = per.drop_duplicates(pod).set_index(pod)[["workload_kind", "workload", "began_s"]]
    out = owners.join(app_done, how="inner").join(held, how="left").join(app_failed, how="left").reset_index()
    out["app_failed"] = out["app_failed"].fillna(False).astype(bool)
    out["run_s"] = np.maximum(out["app_done_s"] - np.fmax(out["began_s"], window_start), 0.0)
    out["held_s"] = out["held_s"].fillna(0.0)
    out.loc[out["held_s"] <= HELD_MIN_STEPS * step, ["held_s"]] = 0.0
    out["held_by"] = np.where(out["held_s"] > 0, out["held_by"].fillna(""), "")
    out["unfinished"] = (out["held_s"] > 0) & out["unfinished"].fillna(False).astype(bool)
    return out[list(POD_HOLD_COLUMNS)].sort_values(pod, kind="stable", ignore_index=True)
