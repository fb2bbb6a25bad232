"""User documents (rule files, price files): bounded, one-line errors for binary, nested, bombed or absurd input."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from analyzer.documents import MAX_DEPTH, check_json_depth, check_shape
from analyzer.errors import ManifestError
from analyzer.model.rules import load_rules
from analyzer.prices import load_prices

BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
    for p, c in zip("abcdefgh", "bcdefghi", strict=True)
)


@pytest.mark.parametrize("load", [load_rules, load_prices], ids=["rules", "prices"])
@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"\x00\x01\xff\xfe", "is not UTF-8 text"),
        (b"rules: " + b"[" * 5000 + b"]" * 5000, "nested deeper than 64 levels"),
        (BOMB.encode(), "expands to more values than its size allows"),
        (b"rules:\n\t- x\n", "not valid YAML (line 2)"),
        (b"a: 1\n---\nb: 2\n", "holds 2 YAML documents, expected one"),
        (b"x" * (1 << 20) + b"x", "is larger than 1,048,576 bytes"),
        (b"2026-01-01: 1\n", "a mapping key is date"),
    ],
)
def test_hostile_user_files_are_one_line_errors(load, content: bytes, expected: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "file.yaml"
    path.write_bytes(content)
    with pytest.raises(ManifestError) as caught:
        load(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and expected in message and "\n" not in message and len(message) < 300


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "cpu_core_hour: .nan\nmemory_gib_hour: 0\n",
            "cpu_core_hour must be a number of dollars from 0 to 100, got nan",
        ),
        ("cpu_core_hour: .inf\nmemory_gib_hour: 0\n", "got inf"),
        ("cpu_core_hour: 0.03\nmemory_gib_hour: 1000.0\n", "memory_gib_hour must be a number of dollars from 0 to 100"),
        ("cpu_core_hour: -0.01\nmemory_gib_hour: 0\n", "got -0.01"),
        ("cpu_core_hour: true\nmemory_gib_hour: 0\n", "got True"),
        ("cpu_core_hour: 0.03\n", "expected a mapping with cpu_core_hour and memory_gib_hour"),
    ],
)
def test_absurd_prices_are_refused(text: str, expected: str, tmp_path: Path) -> None:
    path = tmp_path / "prices.yaml"
    path.write_text(text)
    with pytest.raises(ManifestError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        load_prices(path)


def test_a_good_price_file_loads(tmp_path: Path) -> None:
    path = tmp_path / "prices.yaml"
    path.write_text("cpu_core_hour: 0.05\nmemory_gib_hour: 0.006\n")
    prices = load_prices(path)
    assert (prices.cpu_core_hour, prices.memory_gib_hour, prices.source) == (0.05, 0.006, str(path))


def _nest(depth: int, leaf: Any, as_list: bool) -> Any:
    for _ in range(depth):
        leaf = [leaf] if as_list else {"k": leaf}
    return leaf


@given(
    depth=st.integers(MAX_DEPTH - 4, MAX_DEPTH + 2),
    leaf=st.sampled_from([1, "x", None, [], {}, [1], {"a": 1}]),
    as_list=st.booleans(),
    siblings=st.lists(st.integers() | st.text(max_size=3), max_size=3),
)
def test_the_json_depth_check_refuses_exactly_what_the_shape_check_does(
    depth: int, leaf: Any, as_list: bool, siblings: list[Any]
) -> None:
    """check_json_depth walks containers only; on decoded JSON its verdict is check_shape's, at the limit too."""
    value = json.loads(json.dumps({"items": siblings, "deep": _nest(depth, leaf, as_list)}))

    def verdict(check: Callable[[], None]) -> str | None:
        try:
            check()
        except ManifestError as exc:
            return str(exc)
        return None

    shape = verdict(lambda: check_shape([value], "f", 10**9, ManifestError))
    assert verdict(lambda: check_json_depth(value, "f", ManifestError)) == shape
