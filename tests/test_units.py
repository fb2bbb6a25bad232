from decimal import Decimal

import numpy as np
import pytest

from analyzer.errors import QuantityError
from analyzer.units import milli, milli_value, parse_duration, parse_quantity


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
