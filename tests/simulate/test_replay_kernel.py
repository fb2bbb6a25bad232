"""The compiled replay and decision loops give exactly what the vectorised loops give, on any input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analyzer.simulate import replay_kernel
from analyzer.simulate.hpa_behavior import DEFAULT_DOWN, DEFAULT_UP, ControllerFlags, Policy, PolicyType, Rules, Select
from analyzer.simulate.hpa_normalize import ScalingConfig
from analyzer.simulate.hpa_replay import ReplayColumns, ReplayResult, replay
from analyzer.simulate.observed_sync import ObservedSyncs

pytestmark = pytest.mark.skipif(not replay_kernel.available(), reason="numba is not installed")

policy = st.builds(
    Policy,
    st.sampled_from([PolicyType.PODS, PolicyType.PERCENT]),
    st.one_of(st.integers(1, 4), st.integers(5, 60), st.integers(61, 200)),  # small values bind the rate
    st.sampled_from([15, 30, 60, 600]),
)
policies = st.lists(policy, min_size=1, max_size=3).map(tuple)
rules = st.builds(Rules, st.sampled_from([None, 0, 15, 60, 300, 600]), st.sampled_from(list(Select)), policies,
                  st.none())  # fmt: skip


@st.composite
def config(draw: st.DrawFn) -> ScalingConfig:
    low = draw(st.integers(0, 4))
    high = draw(st.integers(max(low, 1), 40))
    if draw(st.booleans()):
        return ScalingConfig(low, high, draw(rules), draw(rules), has_behavior=True)
    return ScalingConfig(low, high, DEFAULT_UP, DEFAULT_DOWN)


@st.composite
def case(draw: st.DrawFn) -> tuple[ReplayColumns, np.ndarray, np.ndarray, float, ControllerFlags, bool]:
    n = draw(st.integers(1, 5))
    rows = draw(st.integers(1, 3))
    shape = (rows, n)

    def grid(elements: st.SearchStrategy, dtype: type) -> np.ndarray:
        return np.array(draw(st.lists(elements, min_size=rows * n, max_size=rows * n)), dtype=dtype).reshape(shape)

    active = grid(st.booleans(), bool)
    active[0] = True
    is_util = grid(st.booleans(), bool)
    target = np.where(is_util, grid(st.integers(10, 150), np.int64), grid(st.integers(1, 2000), np.int64))
    tolerance = st.sampled_from([0.0, 0.05, 0.1, 0.2])
    columns = ReplayColumns(
        configs=[draw(config()) for _ in range(n)],
        tol_up=np.array([draw(tolerance) for _ in range(n)]),
        tol_down=np.array([draw(tolerance) for _ in range(n)]),
        active=active,
        is_cpu=grid(st.booleans(), bool),
        is_util=is_util,
        target=target,
        request_m=grid(st.integers(0, 1000), np.int64),
        missing_request=grid(st.booleans(), bool),
        base_m=grid(st.floats(-50, 500), np.float64),
        slope_m=grid(st.floats(0, 2000), np.float64),
    )
    scrapes = draw(st.integers(2, 30))
    cores = st.one_of(st.floats(0, 30), st.just(float("nan")))
    demand = np.array(draw(st.lists(cores, min_size=scrapes * n, max_size=scrapes * n))).reshape(scrapes, n)
    initial = np.array(draw(st.lists(st.integers(0, 50), min_size=n, max_size=n)), dtype=np.int64)
    step = draw(st.sampled_from([15.0, 30.0, 60.0]))
    flags = ControllerFlags(
        downscale_stabilization_s=draw(st.sampled_from([0.0, 60.0, 300.0])),
        cpu_initialization_period_s=draw(st.sampled_from([30.0, 120.0, 300.0])),
        initial_readiness_delay_s=draw(st.sampled_from([0.0, 30.0])),
    )
    return columns, demand, initial, step, flags, draw(st.booleans())


def assert_same(a: ReplayResult, b: ReplayResult) -> None:
    for name in ("replicas", "value", "failed", "condition_syncs", "last_conditions"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case())
def test_compiled_loop_matches_the_vectorised_loop(args) -> None:
    columns, demand, initial, step, flags, fallback = args
    compiled = replay(columns, demand, initial, step, flags, fallback, compiled=True)
    vectorised = replay(columns, demand, initial, step, flags, fallback, compiled=False)
    assert_same(compiled, vectorised)


def test_compiled_loop_matches_on_a_day_of_churn() -> None:
    # One long run where pods come and go through every lifecycle group: a day of 15 s syncs, load swinging
    # between 1 and 12 cores, columns with and without behavior, two metrics on some.
    rng = np.random.default_rng(3)
    n = 6
    up = Rules(60, Select.MAX, (Policy(PolicyType.PODS, 2, 60), Policy(PolicyType.PERCENT, 50, 30)), None)
    down = Rules(120, Select.MIN, (Policy(PolicyType.PERCENT, 20, 60),), None)
    configs = [ScalingConfig(1, 30), ScalingConfig(2, 25, up, down, True)] * 3
    active = np.array([[True] * n, [False, True, False, True, False, True]])
    columns = ReplayColumns(
        configs=configs, tol_up=np.full(n, 0.1), tol_down=np.full(n, 0.1), active=active,
        is_cpu=np.array([[True] * n, [False] * n]), is_util=np.array([[True] * n, [False] * n]),
        target=np.array([[70] * n, [400_000] * n]), request_m=np.array([[500] * n, [0] * n]),
        missing_request=np.zeros((2, n), dtype=bool), base_m=rng.uniform(0, 200, (2, n)),
        slope_m=rng.uniform(500, 1500, (2, n)),
    )  # fmt: skip
    t = np.arange(24 * 60)
    demand = (6.5 + 5.5 * np.sin(t / 90.0))[:, None] * rng.uniform(0.8, 1.2, (len(t), n))
    demand[rng.random(demand.shape) < 0.02] = np.nan
    initial = np.array([4, 4, 0, 40, 3, 3])
    compiled = replay(columns, demand, initial, 60.0, ControllerFlags(), compiled=True)
    vectorised = replay(columns, demand, initial, 60.0, ControllerFlags(), compiled=False)
    assert_same(compiled, vectorised)
    assert len(np.unique(compiled.replicas[:, 0])) > 5  # the load really moved the replicas


@st.composite
def observed_case(draw: st.DrawFn) -> ObservedSyncs:
    n, scrapes = draw(st.integers(1, 4)), draw(st.integers(1, 40))
    cells = scrapes * n
    observed = draw(st.lists(st.one_of(st.integers(0, 40).map(float), st.just(float("nan"))), min_size=cells,
                             max_size=cells))  # fmt: skip
    proposal = draw(st.lists(st.integers(-1, 60), min_size=cells, max_size=cells))
    has_pods = draw(st.lists(st.booleans(), min_size=cells, max_size=cells))
    return ObservedSyncs(
        tuple(draw(config()) for _ in range(n)),
        np.array(observed).reshape(scrapes, n),
        np.array(proposal, dtype=np.int64).reshape(n, scrapes),
        np.array(has_pods).reshape(n, scrapes),
        draw(st.sampled_from([15.0, 60.0])),
    )


@settings(max_examples=150, deadline=None)
@given(observed_case(), st.sampled_from([0.0, 60.0, 300.0]))
def test_compiled_decisions_on_observed_pods_match_the_vectorised_loop(syncs: ObservedSyncs, window: float) -> None:
    flags = ControllerFlags(downscale_stabilization_s=window)
    np.testing.assert_array_equal(syncs.decide(flags, compiled=True), syncs.decide(flags, compiled=False))
