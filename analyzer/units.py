"""Kubernetes quantities and durations, converted to the units the package computes in.

CPU is in cores, memory in bytes, time in seconds. The HPA controller works in integer
milli-units (``resource.Quantity.MilliValue()``, which rounds up); :func:`milli` reproduces it.
"""

from __future__ import annotations

import math
import re
from decimal import ROUND_CEILING, Decimal

import numpy as np

from analyzer.errors import QuantityError, clip

_SUFFIXES: dict[str, Decimal] = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal(10) ** 3,
    "M": Decimal(10) ** 6,
    "G": Decimal(10) ** 9,
    "T": Decimal(10) ** 12,
    "P": Decimal(10) ** 15,
    "E": Decimal(10) ** 18,
    "Ki": Decimal(2) ** 10,
    "Mi": Decimal(2) ** 20,
    "Gi": Decimal(2) ** 30,
    "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50,
    "Ei": Decimal(2) ** 60,
}
MAX_QUANTITY_LENGTH = 64
"""Longer strings are refused before parsing; real quantities (``"1500m"``, ``"128Mi"``) are a few characters."""
MAX_QUANTITY = Decimal(2**63 - 1) / 1000
"""The largest amount in base units whose milli-value fits Kubernetes' int64 (``Quantity.MilliValue()``)."""
# apimachinery's grammar: <signedNumber> then a binary-SI, decimal-SI or exponent suffix. One digit
# run then an optional fraction: no two adjacent quantifiers over digits, so matching is linear.
_QUANTITY = re.compile(
    r"([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E))?",
)
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)")
_DURATION_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0, "y": 31536000.0}


def parse_quantity(value: str | int | float) -> Decimal:
    """Parse a Kubernetes quantity (``"100m"``, ``"128Mi"``, ``"1.5"``, ``2``) into a Decimal of base units.

    Refused (:class:`QuantityError`, the value clipped in the message): anything but a string or a
    number, strings over :data:`MAX_QUANTITY_LENGTH`, non-finite numbers, and amounts beyond
    :data:`MAX_QUANTITY` either way.
    """
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise QuantityError(f"not a quantity: {clip(value)}")
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            raise QuantityError(f"not a finite quantity: {clip(value)}")
        return _bounded(Decimal(str(value)) if isinstance(value, float) else Decimal(value), value)
    text = value.strip()
    if len(text) > MAX_QUANTITY_LENGTH:
        raise QuantityError(f"not a Kubernetes quantity (longer than {MAX_QUANTITY_LENGTH} characters): {clip(value)}")
    match = _QUANTITY.fullmatch(text)
    if not match or not (match.group(2) or match.group(3)):
        raise QuantityError(f"not a Kubernetes quantity: {clip(value)}")
    sign, whole, fraction, exponent, suffix = match.groups()
    number = Decimal(f"{sign}{whole or '0'}.{fraction or '0'}")
    if exponent is not None:
        if abs(int(exponent)) > 40:
            raise QuantityError(f"quantity out of range (exponent {clip(exponent, 12)}): {clip(value)}")
        number = number.scaleb(int(exponent))
    return _bounded(number * _SUFFIXES[suffix or ""], value)


def _bounded(number: Decimal, value: object) -> Decimal:
    if abs(number) > MAX_QUANTITY:
        raise QuantityError(f"quantity out of range (more than {float(MAX_QUANTITY):.3g}): {clip(value)}")
    return number


def milli_value(value: str | int | float) -> int:
    """``Quantity.MilliValue()``: milli-units, rounded up (``"0.1"`` -> 100, ``"1Mi"`` -> 1048576000)."""
    return milli_of(parse_quantity(value))


def milli_of(amount: Decimal) -> int:
    """The milli-units of a parsed quantity, rounded up (``Quantity.MilliValue()``)."""
    return int((amount * 1000).to_integral_value(rounding=ROUND_CEILING))


def milli(values: np.ndarray | float) -> np.ndarray:
    """Float base units to integer milli-units, rounded up like ``MilliValue()``.

    Values are first rounded to micro-units so that float noise (0.4 * 1000 = 400.00000000000006)
    does not round up a whole milli-unit.
    """
    given = np.asarray(values, dtype=np.float64)
    scaled = given.reshape(-1) * 1e6  # a new array: rounded and scaled in place
    np.round(scaled, out=scaled)
    scaled /= 1e3
    return np.ceil(scaled, out=scaled).astype(np.int64).reshape(given.shape)


def parse_duration(text: str) -> float:
    """Prometheus-style duration (``"90s"``, ``"5m"``, ``"1h30m"``, ``"7d"``) in seconds."""
    stripped = str(text).strip()
    pos = 0
    total = 0.0
    for match in _DURATION.finditer(stripped):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _DURATION_S[match.group(2)]
        pos = match.end()
    if pos != len(stripped) or not stripped or total <= 0:
        raise QuantityError(f"not a duration: {clip(text)} (use e.g. 60s, 5m, 1h, 7d)")
    return total


def format_cpu(cores: float) -> str:
    """Cores as a Kubernetes CPU quantity in millicores (``0.25`` -> ``"250m"``)."""
    return f"{round(cores * 1000)}m"


MIB = 2**20
"""Bytes in a mebibyte (``Mi``)."""


def format_memory(num_bytes: float) -> str:
    """Bytes as a Kubernetes memory quantity, in Mi when whole, else in bytes."""
    mib = num_bytes / MIB
    return f"{int(mib)}Mi" if float(mib).is_integer() else str(round(num_bytes))
