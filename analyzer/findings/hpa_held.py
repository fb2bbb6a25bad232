"""The controller's conditions over a replay, in words: what held an HPA (pinned at maxReplicas, frozen by
a failing metric, kept up by stabilization) and whether its final conditions agree with the observed ones."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from analyzer.simulate.hpa_conditions import CONDITION_TYPES, MEANING, REASON_TEXT, Reason


def held_text(syncs: npt.NDArray[np.int64], window_h: float, min_share: float = 0.05) -> str:
    """``syncs``: one column's syncs per reason. The reasons that explain a stuck HPA and held it for at
    least ``min_share`` of the window, most hours first: ``pinned at maxReplicas 30.2 h (ScalingLimited
    TooManyReplicas); ...``; empty when none did."""
    total = syncs.sum() / len(CONDITION_TYPES)
    if total <= 0:
        return ""
    hours_per_sync = window_h / total
    held = sorted(((int(syncs[r]) * hours_per_sync, r) for r in MEANING), key=lambda x: (-x[0], x[1]))
    return "; ".join(
        f"{MEANING[r]} {h:,.1f} h ({REASON_TEXT[r][0]} {REASON_TEXT[r][2]})"
        for h, r in held
        if h > 0 and h >= min_share * window_h
    )


def conditions_text(codes: npt.NDArray[np.int8]) -> str:
    """One column's final conditions: ``AbleToScale True ReadyForNewScale; ...`` (unset ones left out)."""
    return "; ".join(" ".join(REASON_TEXT[Reason(int(c))]) for c in codes if int(c) != Reason.NONE)


def observed_text(observed: dict[str, tuple[str, str]]) -> str:
    """The HPA's recorded conditions in the same form (a reason is missing when kube-state-metrics was the
    source: it exports type and status only)."""
    return "; ".join(" ".join(p for p in (t, *observed[t]) if p) for t in sorted(observed))


def agrees(codes: npt.NDArray[np.int8], observed: dict[str, tuple[str, str]]) -> bool | None:
    """Whether every observed condition of the three types has the replay's final status, and its reason
    where one was recorded; None when none was recorded. A failed metric's reason is matched on its prefix
    (``FailedGet...Metric``: the replay keeps one code for every metric type)."""
    replayed = {REASON_TEXT[Reason(int(c))][0]: REASON_TEXT[Reason(int(c))][1:] for c in codes if int(c)}
    checked = [t for t in CONDITION_TYPES if t in observed]
    if not checked:
        return None
    for t in checked:
        status, reason = observed[t]
        mine = replayed.get(t)
        if mine is None or mine[0] != status:
            return False
        if reason and reason != mine[1] and not (reason.startswith("FailedGet") and mine[1].startswith("FailedGet")):
            return False
    return True
