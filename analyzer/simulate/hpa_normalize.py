"""The HPA's replica normalization, vectorised over HPAs, with the controller's per-HPA memory.

Mirrors ``horizontal.go``: the guards of ``reconcileAutoscaler``, ``normalizeDesiredReplicas``
(no ``behavior``: max over the downscale window, then the 2x/4 scale-up limit) and
``normalizeDesiredReplicasWithBehaviors`` (up/down stabilization, then policy rate limits over the
scale-event history). One :meth:`Normalizer.step` is one controller sync of every HPA.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from analyzer.simulate.hpa_behavior import (
    DEFAULT_DOWN,
    DEFAULT_UP,
    ControllerFlags,
    PolicyType,
    Rules,
    Select,
)
from analyzer.simulate.hpa_calculator import IntArray

_BIG = np.int64(2**40)


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
        self.up_select = np.array([c.up.select for c in configs], dtype=np.int64)
        self.down_select = np.array([c.down.select for c in configs], dtype=np.int64)
        self.up_pol = _policy_arrays([c.up for c in configs])
        self.down_pol = _policy_arrays([c.down for c in configs])
        longest = max([flag_window, *self.up_window.tolist(), *self.down_window.tolist()], default=flag_window)
        self.rec_len = math.ceil(longest / flags.sync_period_s) + 2
        self.rec_val = np.zeros((n, self.rec_len), dtype=np.int64)
        self.rec_ts = np.full((n, self.rec_len), np.nan)
        periods = np.concatenate([self.up_pol[2].ravel(), self.down_pol[2].ravel(), [flags.sync_period_s]])
        self.ev_len = math.ceil(float(periods.max()) / flags.sync_period_s) + 2
        self.ev_up = np.zeros((n, self.ev_len), dtype=np.int64)
        self.ev_down = np.zeros((n, self.ev_len), dtype=np.int64)
        self.ev_ts = np.full(self.ev_len, np.nan)
        self.syncs = 0

    def step(self, now: float, current: IntArray, proposal: IntArray) -> IntArray:
        """Desired replicas at time ``now`` (s) from the current replicas and metric proposals (-1: none)."""
        k = self.syncs
        self.syncs += 1
        disabled = (current == 0) & (self.min != 0)
        over = current > self.max
        under = current < self.min
        valid = ~disabled & ~over & ~under & (proposal >= 0)

        ts, vals = self.rec_ts, self.rec_val
        with np.errstate(invalid="ignore"):
            in_flag = ts >= now - self.flags.downscale_stabilization_s
            in_up = ts > now - self.up_window[:, None]
            in_down = ts > now - self.down_window[:, None]
        # Without behavior: the max over the window, then [min, min(max, max(2*current, 4))].
        plain_rec = np.maximum(proposal, np.where(in_flag, vals, -_BIG).max(axis=1))
        scale_up_limit = np.minimum(self.max, np.maximum(2 * current, 4))
        plain = np.clip(plain_rec, self.min, np.maximum(scale_up_limit, self.min))
        # With behavior: clamp the current count into [min of up window, max of down window].
        up_rec = np.minimum(proposal, np.where(in_up, vals, _BIG).min(axis=1))
        down_rec = np.maximum(proposal, np.where(in_down, vals, -_BIG).max(axis=1))
        stabilized = np.minimum(np.maximum(current, up_rec), down_rec)
        behaved = self._rate_limited(now, current, stabilized)

        desired = np.where(self.has_behavior, behaved, plain)
        desired = np.where(valid, desired, current)
        desired = np.where(over, self.max, np.where(under & ~disabled, self.min, desired))
        desired = np.where(disabled, current, desired)

        slot = k % self.rec_len
        self.rec_val[:, slot] = np.where(valid, proposal, 0)
        self.rec_ts[:, slot] = np.where(valid, now, np.nan)
        change = np.where(self.has_behavior, desired - current, 0)
        eslot = k % self.ev_len
        self.ev_up[:, eslot] = np.maximum(change, 0)
        self.ev_down[:, eslot] = np.maximum(-change, 0)
        self.ev_ts[eslot] = now
        return desired.astype(np.int64)

    def _rate_limited(self, now: float, current: IntArray, desired: IntArray) -> IntArray:
        """``convertDesiredReplicasWithBehaviorRate``: per-policy limits from the replicas at period start."""
        up_limit = self._limit(now, current, self.up_pol, self.up_select, up=True)
        down_limit = self._limit(now, current, self.down_pol, self.down_select, up=False)
        max_allowed = np.minimum(self.max, np.maximum(up_limit, current))
        min_allowed = np.maximum(self.min, np.minimum(down_limit, current))
        out = np.where(desired > current, np.minimum(desired, max_allowed), desired)
        return np.where(desired < current, np.maximum(out, min_allowed), out)

    def _limit(
        self, now: float, current: IntArray, pol: tuple[IntArray, IntArray, IntArray], select: IntArray, *, up: bool
    ) -> IntArray:
        kind, value, period = pol
        with np.errstate(invalid="ignore"):
            recent = self.ev_ts[None, None, :] > now - period[:, :, None]
        added = (recent * self.ev_up[:, None, :]).sum(axis=2)
        removed = (recent * self.ev_down[:, None, :]).sum(axis=2)
        start = (current[:, None] - added + removed).astype(np.float64)
        if up:
            proposed = np.where(kind == PolicyType.PODS, start + value, np.ceil(start * (1 + value / 100.0))).astype(
                np.int64
            )
        else:
            proposed = np.where(kind == PolicyType.PODS, start - value, np.trunc(start * (1 - value / 100.0))).astype(
                np.int64
            )
        present = kind != PolicyType.NONE
        # For scale-up, Max picks the largest count; for scale-down, Max change is the smallest count.
        largest = np.where(present, proposed, -_BIG).max(axis=1)
        smallest = np.where(present, proposed, _BIG).min(axis=1)
        if up:
            limit = np.where(select == Select.MIN, smallest, largest)
        else:
            limit = np.where(select == Select.MIN, largest, smallest)
        return np.where(select == Select.DISABLED, current, limit)


def _policy_arrays(rules: Sequence[Rules]) -> tuple[IntArray, IntArray, IntArray]:
    width = max((len(r.policies) for r in rules), default=1) or 1
    kind = np.zeros((len(rules), width), dtype=np.int64)
    value = np.zeros((len(rules), width), dtype=np.int64)
    period = np.ones((len(rules), width), dtype=np.int64)
    for i, r in enumerate(rules):
        for j, p in enumerate(r.policies):
            kind[i, j], value[i, j], period[i, j] = p.type, p.value, p.period_s
    return kind, value, period
