"""Request rates over time: a diurnal shape, AR(1) noise and bursts, seeded."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


def request_rates(
    times_s: npt.NDArray[np.float64], peaks: npt.NDArray[np.float64], rng: np.random.Generator
) -> npt.NDArray[np.float64]:
    """Requests per second at ``times_s`` (T,) for workloads with ``peaks`` (W,): an array (T, W).

    The day has a trough at 04:00 UTC of about 30 % of peak plus a per-workload phase; noise is AR(1)
    with 5 % spread; bursts of 1.3x-1.8x last 5-30 minutes, about two a day.
    """
    n_t, n_w = len(times_s), len(peaks)
    hours = (times_s / 3600.0) % 24.0
    phase = rng.uniform(-1.5, 1.5, n_w)
    shape = 0.3 + 0.7 * (0.5 - 0.5 * np.cos(2 * np.pi * (hours[:, None] - 4.0 - phase[None, :]) / 24.0))
    shocks = rng.normal(0.0, 0.05, (n_t, n_w))
    noise = np.empty((n_t, n_w))
    noise[0] = shocks[0]
    for i in range(1, n_t):  # AR(1) over time, vectorised across workloads
        noise[i] = 0.9 * noise[i - 1] + np.sqrt(1 - 0.81) * shocks[i]
    bursts = np.ones((n_t, n_w))
    span_days = max((times_s[-1] - times_s[0]) / 86400.0, 1 / 24) if n_t else 0
    for w in range(n_w):
        for _ in range(rng.poisson(2.0 * span_days)):
            start = rng.uniform(times_s[0], times_s[-1])
            length = rng.uniform(300, 1800)
            inside = (times_s >= start) & (times_s < start + length)
            bursts[inside, w] *= rng.uniform(1.3, 1.8)
    return np.maximum(peaks[None, :] * shape * (1.0 + noise) * bursts, 0.0)
