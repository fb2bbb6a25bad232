"""Prometheus matrix answers decoded straight into arrays, without a Python object per point.

A week of a large cluster's usage is hundreds of millions of ``[time, "value"]`` pairs. Parsed as JSON,
each pair becomes a list, a float and a string, and the collection's client spent most of its time and
memory there (benchmarks/README.md, "Collection at cluster scale"). :func:`decode_matrix` reads
Prometheus's own layout of an answer, ``{"status":"success","data":{"resultType":"matrix","result":[...]}}``
with each series as ``{"metric":{...},"values":[...]}``, by byte searches: each series' labels are parsed
as JSON (a few per series), its points are cut out of the text and read as CSV by Arrow. An answer in any
other layout (keys in another order, native histograms, whitespace) is parsed as JSON instead, with the
same result: the fast path is an optimisation, never a second meaning.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv

MAX_UNIX_SECONDS = 1e11
"""Sample times beyond this (year 5138) are not Prometheus's: refused before they become milliseconds."""

_PREFIX = b'{"status":"success","data":{"resultType":"matrix","result":['
_SERIES = b'{"metric":'
_VALUES = b',"values":['
_POINTS_READ = pa_csv.ReadOptions(column_names=["t", "v"], use_threads=False, block_size=1 << 26)
_POINTS_TYPES = pa_csv.ConvertOptions(
    column_types={"t": pa.float64(), "v": pa.float64()}, null_values=[], quoted_strings_can_be_null=False
)  # "NaN" is a value (Arrow's default would read it as null)


class NotAMatrix(ValueError):
    """The answer is not a Prometheus matrix of ``[time, value]`` series."""


@dataclass(frozen=True)
class Matrix:
    """A matrix answer: each series' labels, and every point in series order (``counts`` per series),
    ``times`` in Unix seconds and ``values`` as float64."""

    labels: list[dict[str, str]]
    counts: np.ndarray
    times: np.ndarray
    values: np.ndarray

    @property
    def series(self) -> np.ndarray:
        """The series index of every point."""
        return np.repeat(np.arange(len(self.labels)), self.counts)

    @classmethod
    def empty(cls) -> Matrix:
        none = np.zeros(0)
        return cls([], np.zeros(0, dtype=np.int64), none, none)


def decode_matrix(body: bytes) -> Matrix:
    """An answer's body as a :class:`Matrix`; :class:`NotAMatrix` if it is JSON but not a matrix,
    ``ValueError`` if it is not JSON."""
    fast = _fast(body) if body.startswith(_PREFIX) else None
    matrix = fast if fast is not None else _parsed(body)
    if len(matrix.times) and not (np.abs(matrix.times) < MAX_UNIX_SECONDS).all():
        raise NotAMatrix("a sample time out of range")
    return matrix


def matrix_of(result: Any) -> Matrix:
    """A parsed ``data.result`` list as a :class:`Matrix`; :class:`NotAMatrix` if it is not series of
    ``[time, value]`` pairs."""
    if not isinstance(result, list):
        raise NotAMatrix("the result is not a list")
    labels: list[dict[str, str]] = []
    points: list[np.ndarray] = []
    try:
        for s in result:
            metric, values = s["metric"], s.get("values") or []
            if not isinstance(metric, dict) or not all(isinstance(v, str) for v in metric.values()):
                raise NotAMatrix("a series' labels are not strings")
            if not isinstance(values, list) or not all(isinstance(p, list) and len(p) == 2 for p in values):
                raise NotAMatrix("a series' values are not [time, value] pairs")
            labels.append(metric)
            points.append(np.array([(float(t), float(v)) for t, v in values], dtype=np.float64).reshape(-1, 2))
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise NotAMatrix(str(exc)) from None
    counts = np.array([len(p) for p in points], dtype=np.int64)
    joined = np.concatenate(points) if points else np.zeros((0, 2))
    return Matrix(labels, counts, np.ascontiguousarray(joined[:, 0]), np.ascontiguousarray(joined[:, 1]))


def _parsed(body: bytes) -> Matrix:
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        raise ValueError("not JSON") from None  # a proxy's error page: the client retries it
    if not isinstance(document, dict) or document.get("status") != "success":
        raise NotAMatrix("not a successful answer")
    data = document.get("data")
    if not isinstance(data, dict) or data.get("resultType") != "matrix":
        raise NotAMatrix("not a matrix")
    return matrix_of(data.get("result"))


def _fast(body: bytes) -> Matrix | None:
    """Prometheus's own layout read with byte searches; None at the first thing it does not expect.

    Sound because JSON escapes every quote inside a string: ``,"values":[`` and ``]]`` cannot occur
    inside a label value, and a value's text (a Go float) holds no bracket.
    """
    labels: list[dict[str, str]] = []
    counts: list[int] = []
    pieces: list[bytes] = []
    pos = len(_PREFIX)
    if body.startswith(b"]", pos):
        return _tail(body, pos + 1, labels, counts, pieces)
    while True:
        if not body.startswith(_SERIES, pos):
            return None
        split = body.find(_VALUES, pos)
        if split < 0:
            return None
        try:
            metric = json.loads(body[pos + len(_SERIES) : split])
        except (ValueError, RecursionError):
            return None
        if not isinstance(metric, dict) or not all(isinstance(v, str) for v in metric.values()):
            return None
        start = split + len(_VALUES)
        if body.startswith(b"]}", start):  # no points
            end = start + 2
            counts.append(0)
        else:
            close = body.find(b"]]}", start)
            if close < 0:
                return None
            piece = body[start : close + 1]  # [t,"v"],...,[t,"v"]
            counts.append(piece.count(b"],[") + 1)
            pieces.append(piece.replace(b"],[", b"\n").translate(None, b'[]"'))  # t,v lines
            end = close + 3
        labels.append(metric)
        if body.startswith(b",", end):
            pos = end + 1
            continue
        if body.startswith(b"]", end):
            return _tail(body, end + 1, labels, counts, pieces)
        return None


def _tail(body: bytes, pos: int, labels: list[dict[str, str]], counts: list[int], pieces: list[bytes]) -> Matrix | None:
    """The answer after its result list: ``}}`` or more top-level keys (warnings), then the points read."""
    rest = body[pos:].rstrip()
    if rest != b"}}" and not rest.startswith(b'},"'):
        return None
    if not pieces:
        return Matrix(labels, np.array(counts, dtype=np.int64), np.zeros(0), np.zeros(0))
    lines = b"\n".join(pieces)
    pieces.clear()
    try:
        table = pa_csv.read_csv(io.BytesIO(lines), read_options=_POINTS_READ, convert_options=_POINTS_TYPES)
    except pa.ArrowInvalid:
        return None
    total = int(sum(counts))
    if table.num_rows != total or table["t"].null_count or table["v"].null_count:
        return None
    times = table["t"].to_numpy()
    values = table["v"].to_numpy()
    return Matrix(labels, np.array(counts, dtype=np.int64), times, values)
