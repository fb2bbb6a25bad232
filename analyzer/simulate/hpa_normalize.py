"""The HPA's replica normalization, vectorised over HPAs, with the controller's per-HPA memory.

Mirrors ``horizontal.go``: the guards of ``reconcileAutoscaler``, ``normalizeDesiredReplicas``
(no ``behavior``: max over the downscale window, then the 2x/4 scale-up limit) and
``normalizeDesiredReplicasWithBehaviors`` (up/down stabilization, then policy rate limits over the
scale-event history). One :meth:`Normalizer.step` is one controller sync of every HPA; it leaves the
sync's status conditions in :attr:`Normalizer.conditions` (:mod:`analyzer.simulate.hpa_conditions`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from analyzer.simulate.hpa_behavior import (
    DEFAULT_DOWN,
    DEFAULT_UP,
    ControllerFlags,
    PolicyType,
    Rules,
    Select,
)
from analyzer.simulate.hpa_calculator import IntArray
from analyzer.simulate.hpa_conditions import Reason

_BIG = np.int64(2**40)
# The reasons as plain ints: an enum member lookup per sync and HPA batch adds up over a week of syncs.
_READY, _UP_STABILIZED, _DOWN_STABILIZED = (int(r) for r in (Reason.READY_FOR_NEW_SCALE, Reason.SCALE_UP_STABILIZED,
                                                             Reason.SCALE_DOWN_STABILIZED))  # fmt: skip
_GOT_SCALE, _RESCALED = int(Reason.SUCCEEDED_GET_SCALE), int(Reason.SUCCEEDED_RESCALE)
_VALID, _FAILED, _DISABLED = int(Reason.VALID_METRIC_FOUND), int(Reason.FAILED_GET_METRIC), int(Reason.SCALING_DISABLED)
_WITHIN = int(Reason.DESIRED_WITHIN_RANGE)
_TOO_MANY, _TOO_FEW = int(Reason.TOO_MANY_REPLICAS), int(Reason.TOO_FEW_REPLICAS)
_UP_LIMIT, _DOWN_LIMIT = int(Reason.SCALE_UP_LIMIT), int(Reason.SCALE_DOWN_LIMIT)


@dataclass(frozen=True)
class ScalingConfig:
    """Scaling limits and behavior of one HPA (``behavior`` None: the pre-behavior algorithm)."""

    min_replicas: int
    max_replicas: int
    up: Rules = DEFAULT_UP
    down: Rules = DEFAULT_DOWN
    has_behavior: bool = False


class Normalizer:
    """State and step of the normalization for ``len(configs)`` HPAs synced together."""

    def __init__(self, configs: Sequence[ScalingConfig], flags: ControllerFlags) -> None:
        n = len(configs)
        self.flags = flags
        self.min = np.array([c.min_replicas for c in configs], dtype=np.int64)
        self.max = np.array([c.max_replicas for c in configs], dtype=np.int64)
        self.has_behavior = np.array([c.has_behavior for c in configs], dtype=bool)
        flag_window = flags.downscale_stabilization_s
        self.up_window = np.array([c.up.window_s or 0 for c in configs], dtype=np.float64)
        self.down_window = np.array(
            [flag_window if c.down.window_s is None else c.down.window_s for c in configs], dtype=np.float64
        )
        self.up_pol = _Policies.of([c.up for c in configs if c.has_behavior])
        self.down_pol = _Policies.of([c.down for c in configs if c.has_behavior])
        longest = max([flag_window, *self.up_window.tolist(), *self.down_window.tolist()], default=flag_window)
        self.rec_len = math.ceil(longest / flags.sync_period_s) + 2
        # Every HPA syncs at the same times, so the record times are shared (-inf: no record yet, in no
        # window); an invalid proposal is stored as -BIG (for window maxima) and +BIG (for minima) so it
        # never wins.
        self.rec_ts = np.full(self.rec_len, -np.inf)
        self.rec_lo = np.full((n, self.rec_len), -_BIG, dtype=np.int64)
        self.rec_hi = np.full((n, self.rec_len), _BIG, dtype=np.int64)
        # Without behavior the window is the flag's for every HPA: keep its running max and how many
        # stored records equal it, so a sync costs O(HPAs) instead of O(HPAs x window).
        self.flag_max = np.full(n, -_BIG, dtype=np.int64)
        self.flag_max_count = np.zeros(n, dtype=np.int64)
        self.in_flag = np.zeros(self.rec_len, dtype=bool)
        self.behaved = np.nonzero(self.has_behavior)[0]
        self.behaved_lo = self.rec_lo[self.behaved]  # contiguous copies of the records of HPAs with behavior
        self.behaved_hi = self.rec_hi[self.behaved]
        self.behaved_up_window = self.up_window[self.behaved, None]
        self.behaved_down_window = self.down_window[self.behaved, None]
        self.all_behaved = len(self.behaved) == n
        self.none_behaved = len(self.behaved) == 0
        self.conditions = np.zeros((3, n), dtype=np.int8)
        """After each step: (AbleToScale, ScalingActive, ScalingLimited) reason codes per HPA."""
        periods = np.concatenate([self.up_pol.period.ravel(), self.down_pol.period.ravel(), [flags.sync_period_s]])
        self.ev_len = math.ceil(float(periods.max()) / flags.sync_period_s) + 2
        # Scale events, kept for the HPAs with behavior only (rows follow self.behaved).
        self.ev_up = np.zeros((len(self.behaved), self.ev_len), dtype=np.int64)
        self.ev_down = np.zeros((len(self.behaved), self.ev_len), dtype=np.int64)
        self.ev_ts = np.full(self.ev_len, -np.inf)
        self.syncs = 0

    def step(self, now: float, current: IntArray, proposal: IntArray) -> IntArray:
        """Desired replicas at time ``now`` (s) from the current replicas and metric proposals (-1: none)."""
        k = self.syncs
        self.syncs += 1
        if k == 0:
            # A new controller seeds each HPA's recommendations with its current replicas (horizontal.go).
            seed = self.rec_len - 1
            self.rec_lo[:, seed], self.rec_hi[:, seed], self.rec_ts[seed] = current, current, now
            self.behaved_lo[:, seed] = self.behaved_hi[:, seed] = current[self.behaved]
            self.flag_max, self.flag_max_count = current.astype(np.int64).copy(), np.ones_like(self.flag_max)
            self.in_flag[seed] = True
        disabled = (current == 0) & (self.min != 0)
        over = current > self.max
        under = current < self.min
        guarded = disabled | over | under
        valid = ~guarded & (proposal >= 0)

        self._expire_flag_window(now)
        desired = np.empty_like(current)
        stabilized_code = np.full(len(current), _READY, dtype=np.int8)
        limited_code = np.full(len(current), _WITHIN, dtype=np.int8)
        if not self.all_behaved:
            # Without behavior: the max over the window, then [min, min(max, max(2*current, 4))].
            plain_rec = np.maximum(proposal, self.flag_max)
            doubled = np.maximum(2 * current, 4)
            scale_up_limit = np.minimum(self.max, doubled)
            np.minimum(np.maximum(plain_rec, self.min), np.maximum(scale_up_limit, self.min), out=desired)
            # convertDesiredReplicasWithRules: below min first, then above the smaller of max and the limit.
            stabilized_code[:] = np.where(plain_rec != proposal, _DOWN_STABILIZED, _READY)
            upper = np.where(self.max > doubled, _UP_LIMIT, _TOO_MANY)
            limited_code[:] = np.where(
                plain_rec < self.min, _TOO_FEW, np.where(plain_rec > scale_up_limit, upper, _WITHIN)
            )
        b = self.behaved
        if len(b):
            desired[b], stabilized_code[b], limited_code[b] = self._behaved(now, current[b], proposal[b])

        desired = np.where(valid, desired, current)
        if guarded.any():
            desired = np.where(over, self.max, np.where(under & ~disabled, self.min, desired))
            desired = np.where(disabled, current, desired)
        self._record_conditions(valid, disabled, guarded, desired != current, stabilized_code, limited_code)

        slot = k % self.rec_len
        stored = np.where(valid, proposal, -_BIG)
        self.rec_lo[:, slot] = stored
        self.rec_hi[:, slot] = np.where(valid, proposal, _BIG)
        self.rec_ts[slot] = now
        self.in_flag[slot] = True
        self.flag_max_count = np.where(stored > self.flag_max, 1, self.flag_max_count + (stored == self.flag_max))
        self.flag_max = np.maximum(self.flag_max, stored)
        if len(b):
            self.behaved_lo[:, slot] = self.rec_lo[b, slot]
            self.behaved_hi[:, slot] = self.rec_hi[b, slot]
            change = desired[b] - current[b]
            eslot = k % self.ev_len
            self.ev_up[:, eslot] = np.maximum(change, 0)
            self.ev_down[:, eslot] = np.maximum(-change, 0)
            self.ev_ts[eslot] = now
        return desired.astype(np.int64)

    def _record_conditions(
        self,
        valid: npt.NDArray[np.bool_],
        disabled: npt.NDArray[np.bool_],
        guarded: npt.NDArray[np.bool_],
        rescaled: npt.NDArray[np.bool_],
        stabilized: npt.NDArray[np.int8],
        limited: npt.NDArray[np.int8],
    ) -> None:
        """The conditions ``reconcileAutoscaler`` leaves: a sync that normalizes sets all three; one whose
        metrics failed or that is guarded keeps the previous ScalingLimited (and a guard its ScalingActive)."""
        able, active, limited_now = self.conditions
        able[:] = _GOT_SCALE
        np.copyto(able, stabilized, where=valid)
        able[rescaled] = _RESCALED
        # valid, failed (not guarded, not valid) and disabled (guarded) never overlap; else active is kept.
        active[valid] = _VALID
        active[~(guarded | valid)] = _FAILED
        active[disabled] = _DISABLED
        np.copyto(limited_now, limited, where=valid)

    def _expire_flag_window(self, now: float) -> None:
        """Drop records older than the flag window from the running max; rescan only HPAs whose max left."""
        in_flag = self.rec_ts >= now - self.flags.downscale_stabilization_s
        leaving = np.nonzero(self.in_flag & ~in_flag)[0]
        self.in_flag = in_flag
        for slot in leaving:
            self.flag_max_count -= self.rec_lo[:, slot] == self.flag_max
        empty = np.nonzero(self.flag_max_count <= 0)[0]
        if len(empty):
            window = self.rec_lo[np.ix_(empty, np.nonzero(in_flag)[0])]
            top = window.max(axis=1) if window.shape[1] else np.full(len(empty), -_BIG)
            self.flag_max[empty] = top
            self.flag_max_count[empty] = (window == top[:, None]).sum(axis=1)

    def _behaved(
        self, now: float, current: IntArray, proposal: IntArray
    ) -> tuple[IntArray, npt.NDArray[np.int8], npt.NDArray[np.int8]]:
        """Stabilization (clamp into [min of the up window, max of the down window]), then the rate limits.

        Arrays are over the HPAs with behavior (``self.behaved``). Returns the desired replicas and the
        AbleToScale and ScalingLimited reasons ``normalizeDesiredReplicasWithBehaviors`` sets.
        """
        b = self.behaved
        in_up = self.rec_ts[None, :] > now - self.behaved_up_window
        in_down = self.rec_ts[None, :] > now - self.behaved_down_window
        up_rec = np.minimum(proposal, np.where(in_up, self.behaved_hi, _BIG).min(axis=1))
        down_rec = np.maximum(proposal, np.where(in_down, self.behaved_lo, -_BIG).max(axis=1))
        stabilized = np.minimum(np.maximum(current, up_rec), down_rec)
        direction = np.where(proposal >= current, _UP_STABILIZED, _DOWN_STABILIZED)
        able = np.where(stabilized != proposal, direction, _READY).astype(np.int8)
        limited = np.full(len(current), _WITHIN, dtype=np.int8)
        # convertDesiredReplicasWithBehaviorRate: a hold is never limited; each direction has its policies.
        up = np.nonzero(stabilized > current)[0]
        if len(up):
            limit = np.maximum(self._limit(now, up, current[up], self.up_pol, up=True), current[up])
            max_allowed = np.minimum(self.max[b[up]], limit)
            reason = np.where(self.max[b[up]] > limit, _UP_LIMIT, _TOO_MANY)
            limited[up] = np.where(stabilized[up] > max_allowed, reason, _WITHIN)
            stabilized[up] = np.minimum(stabilized[up], max_allowed)
        down = np.nonzero(stabilized < current)[0]
        if len(down):
            limit = np.minimum(self._limit(now, down, current[down], self.down_pol, up=False), current[down])
            min_allowed = np.maximum(self.min[b[down]], limit)
            reason = np.where(self.min[b[down]] < limit, _DOWN_LIMIT, _TOO_FEW)
            limited[down] = np.where(stabilized[down] < min_allowed, reason, _WITHIN)
            stabilized[down] = np.maximum(stabilized[down], min_allowed)
        return stabilized, able, limited

    def _limit(self, now: float, rows: IntArray, current: IntArray, pol: _Policies, *, up: bool) -> IntArray:
        """The policy limit for ``rows`` (positions within ``self.behaved``), from the replicas at period start."""
        period, value, pods, present = pol.period[rows], pol.value[rows], pol.pods[rows], pol.present[rows]
        recent = self.ev_ts[None, None, :] > now - period[:, :, None]
        added = (recent * self.ev_up[rows, None, :]).sum(axis=2)
        removed = (recent * self.ev_down[rows, None, :]).sum(axis=2)
        start = (current[:, None] - added + removed).astype(np.float64)
        if up:
            proposed = np.where(pods, start + value, np.ceil(start * (1 + value / 100.0))).astype(np.int64)
        else:
            proposed = np.where(pods, start - value, np.trunc(start * (1 - value / 100.0))).astype(np.int64)
        # For scale-up, Max picks the largest count; for scale-down, Max change is the smallest count.
        largest = np.where(present, proposed, -_BIG).max(axis=1)
        smallest = np.where(present, proposed, _BIG).min(axis=1)
        pick_largest = pol.select_min[rows] != up  # up: Max (largest) unless Min; down: the reverse
        limit = np.where(pick_largest, largest, smallest)
        return np.where(pol.disabled[rows], current, limit)


@dataclass(frozen=True)
class _Policies:
    """One direction's policies of the HPAs with behavior, a row each, padded to the longest list (type
    NONE, period 1 s): period (s) and value, and as masks the PODS type, the present policies, and the
    select policy (Min; Disabled)."""

    period: IntArray
    value: IntArray
    pods: npt.NDArray[np.bool_]
    present: npt.NDArray[np.bool_]
    select_min: npt.NDArray[np.bool_]
    disabled: npt.NDArray[np.bool_]

    @classmethod
    def of(cls, rules: Sequence[Rules]) -> _Policies:
        width = max((len(r.policies) for r in rules), default=1) or 1
        kind = np.zeros((len(rules), width), dtype=np.int64)
        value = np.zeros((len(rules), width), dtype=np.int64)
        period = np.ones((len(rules), width), dtype=np.int64)
        for i, r in enumerate(rules):
            for j, p in enumerate(r.policies):
                kind[i, j], value[i, j], period[i, j] = p.type, p.value, p.period_s
        select = np.array([r.select for r in rules], dtype=np.int64)
        return cls(period, value, kind == PolicyType.PODS, kind != PolicyType.NONE, select == Select.MIN,
                   select == Select.DISABLED)  # fmt: skip
