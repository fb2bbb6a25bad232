import time
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from analyzer.errors import QuantityError
from analyzer.units import MAX_QUANTITY, MAX_QUANTITY_LENGTH, milli, milli_value, parse_duration, parse_quantity


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("100m", Decimal("0.1")),
        ("1", Decimal(1)),
        ("1.5", Decimal("1.5")),
        ("128Mi", Decimal(134217728)),
        ("2Gi", Decimal(2 * 2**30)),
        ("1k", Decimal(1000)),
        ("500u", Decimal("0.0005")),
        ("1e3", Decimal(1000)),
    ],
)
def test_parse_quantity(text: str, expected: Decimal) -> None:
    assert parse_quantity(text) == expected


@pytest.mark.parametrize("bad", ["abc", "1.2.3", "10 m", "", "5mi"])
def test_parse_quantity_rejects(bad: str) -> None:
    with pytest.raises(QuantityError, match="not a Kubernetes quantity"):
        parse_quantity(bad)


def test_milli_value_rounds_up_like_kubernetes() -> None:
    assert milli_value("100m") == 100
    assert milli_value("0.0001") == 1  # 0.1 milli rounds up
    assert milli_value("1Mi") == 1048576000


def test_milli_ignores_float_noise_but_rounds_real_fractions_up() -> None:
    assert milli(np.array([0.4, 0.1 + 0.2, 0.4001])).tolist() == [400, 300, 401]


@pytest.mark.parametrize(("text", "seconds"), [("60s", 60), ("5m", 300), ("1h30m", 5400), ("7d", 604800)])
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["60", "5x", "m5", "", "0s"])
def test_parse_duration_rejects(bad: str) -> None:
    with pytest.raises(QuantityError):
        parse_duration(bad)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("1" * 30_000, "longer than 64 characters"),
        ("1e999999999", "out of range"),
        ("9" * 60, "out of range"),
        (float("inf"), "not a finite quantity"),
        (1e400, "not a finite quantity"),
        (float("nan"), "not a finite quantity"),
        (None, "not a quantity"),
        ({"a": 1}, "not a quantity"),
        ("1e3Mi", "not a Kubernetes quantity"),  # an exponent and a suffix together: apimachinery refuses it too
    ],
)
def test_hostile_quantities_are_refused_with_a_short_message(bad: object, message: str) -> None:
    with pytest.raises(QuantityError, match=message) as caught:
        parse_quantity(bad)  # type: ignore[arg-type]
    assert len(str(caught.value)) < 200


_SUFFIX = st.sampled_from(["", "n", "u", "m", "k", "M", "G", "T", "Ki", "Mi", "Gi", "Ti"])


@given(st.integers(0, 10**9), st.integers(0, 999_999), _SUFFIX)
@settings(max_examples=300)
def test_valid_quantities_parse_to_their_value(whole: int, fraction: int, suffix: str) -> None:
    text = f"{whole}.{fraction:06d}{suffix}"
    expected = (Decimal(whole) + Decimal(fraction) / 10**6) * (
        Decimal(1024) ** "KMGT".index(suffix[0]) * 1024 if suffix.endswith("i")
        else {"": 1, "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"),
              "k": Decimal(10**3), "M": Decimal(10**6), "G": Decimal(10**9), "T": Decimal(10**12)}[suffix]
    )  # fmt: skip
    assume(expected <= MAX_QUANTITY)  # beyond it, refused: see the hostile cases
    assert parse_quantity(text) == expected


@given(st.text(max_size=5000) | st.text(alphabet="0123456789.eE+-kMGTPiun m", max_size=100_000))
@settings(max_examples=200, deadline=None)
def test_any_text_is_parsed_or_refused_quickly(text: str) -> None:
    """The parser is linear and bounded: a fuzzed string is a number or a short QuantityError, in milliseconds."""
    started = time.perf_counter()
    try:
        value = parse_quantity(text)
    except QuantityError as exc:
        assert len(str(exc)) < 200 and "\n" not in str(exc)
    else:
        assert abs(value) <= MAX_QUANTITY and len(text.strip()) <= MAX_QUANTITY_LENGTH
    assert time.perf_counter() - started < 0.05
